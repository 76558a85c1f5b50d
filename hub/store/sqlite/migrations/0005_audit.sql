-- Tamper-evident audit log (issue 7, docs/audit-and-evidence.md).
-- Every event row joins a hash chain: chain_id names the writer's chain, chain_seq its
-- position (1, 2, …), prev_hash the previous event's hash (64 zeros for the first), hash the
-- SHA-256 of the row's canonical line (hub/audit/chain.py). Events written before this
-- migration stay unchained; audit_meta remembers where they end so verification can tell
-- them from rows inserted later.
ALTER TABLE events ADD COLUMN chain_id TEXT;
ALTER TABLE events ADD COLUMN chain_seq INTEGER;
ALTER TABLE events ADD COLUMN prev_hash TEXT;
ALTER TABLE events ADD COLUMN hash TEXT;
-- Not UNIQUE on purpose: verification is the guard and must be able to see (and name) a
-- duplicated position rather than the database refusing to hold one.
CREATE INDEX events_chain ON events (chain_id, chain_seq);

CREATE TABLE audit_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO audit_meta (key, value)
    SELECT 'legacy_max_seq', CAST(COALESCE(MAX(seq), 0) AS TEXT) FROM events;

-- One row per chain; the head moves in the same transaction as the event it points at.
CREATE TABLE audit_chains (
    chain_id   TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,     -- the writer (process) that owns the chain
    created_at TEXT NOT NULL,
    head_seq   INTEGER NOT NULL DEFAULT 0,
    head_hash  TEXT NOT NULL DEFAULT '0000000000000000000000000000000000000000000000000000000000000000'
);

-- Signed checkpoints: the heads of every chain at one instant, XMLDSig-signed with the
-- hub's receipt key, optionally with an RFC 3161 time-stamp token over the signed bytes.
CREATE TABLE audit_checkpoints (
    id         INTEGER PRIMARY KEY,  -- assigned under the writer lock: previous + 1
    at         TEXT NOT NULL,
    document   BLOB NOT NULL,     -- the signed checkpoint XML, exact bytes
    tst        BLOB               -- RFC 3161 TimeStampToken (DER), when a TSA is configured
);

-- Acknowledgements signed by recipients (non-repudiation of receipt), exact bytes.
CREATE TABLE audit_signed_acks (
    package_id  TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    received_at TEXT NOT NULL,
    data        BLOB NOT NULL,
    PRIMARY KEY (package_id, recipient)
);

-- Retention: a purged package keeps its row, receipt and events; only the bytes go.
ALTER TABLE package_blobs ADD COLUMN purged_at TEXT;
