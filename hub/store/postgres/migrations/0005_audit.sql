-- Tamper-evident audit log (issue 7). Mirrors migrations/sqlite/0005_audit.sql; see there
-- and docs/audit-and-evidence.md.
ALTER TABLE events ADD COLUMN chain_id TEXT COLLATE "C";
ALTER TABLE events ADD COLUMN chain_seq BIGINT;
ALTER TABLE events ADD COLUMN prev_hash TEXT;
ALTER TABLE events ADD COLUMN hash TEXT;
-- Not UNIQUE on purpose: verification must be able to see and name a duplicated position.
CREATE INDEX events_chain ON events (chain_id, chain_seq);

CREATE TABLE audit_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO audit_meta (key, value)
    SELECT 'legacy_max_seq', COALESCE(MAX(seq), 0)::text FROM events;

-- One row per chain. A writer locks one of its own chains with FOR UPDATE SKIP LOCKED, so
-- concurrent transactions (other lanes of the same process, other processes) never wait.
CREATE TABLE audit_chains (
    chain_id   TEXT COLLATE "C" PRIMARY KEY,
    owner      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    head_seq   BIGINT NOT NULL DEFAULT 0,
    head_hash  TEXT NOT NULL DEFAULT '0000000000000000000000000000000000000000000000000000000000000000'
);
CREATE INDEX audit_chains_owner ON audit_chains (owner);

CREATE TABLE audit_checkpoints (
    id       BIGINT PRIMARY KEY,  -- assigned under an advisory lock: previous + 1
    at       TIMESTAMPTZ NOT NULL,
    document BYTEA NOT NULL,
    tst      BYTEA
);

CREATE TABLE audit_signed_acks (
    package_id  TEXT COLLATE "C" NOT NULL,
    recipient   TEXT COLLATE "C" NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    data        BYTEA NOT NULL,
    PRIMARY KEY (package_id, recipient)
);

ALTER TABLE package_blobs ADD COLUMN purged_at TIMESTAMPTZ;
