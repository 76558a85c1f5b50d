-- The hub's initial schema (SqliteStore). Timestamps are ISO-8601 UTC text with microseconds
-- ("2026-01-31T08:00:00.000000+00:00"): fixed width, so text order is time order.

-- One row per accepted package, without its bytes: listings never read blobs.
-- seq is the acceptance order (inbox and outbox order, cursors); AUTOINCREMENT so a seq is
-- never reused even if rows are ever deleted.
CREATE TABLE packages (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,
    id                 TEXT    NOT NULL UNIQUE,
    sha256             TEXT    NOT NULL UNIQUE,
    sender             TEXT    NOT NULL,
    kind               TEXT    NOT NULL CHECK (kind IN ('document', 'status')),
    document_id        TEXT,              -- DocumentId, or ResponseFor/DocumentId of a status
    business_doc_type  INTEGER,
    status_code        TEXT,
    recipients         TEXT    NOT NULL,  -- JSON array of OrganIds, in package order
    accepted_at        TEXT    NOT NULL,
    size               INTEGER NOT NULL,
    signer_fingerprint TEXT    NOT NULL,
    signer_subject     TEXT    NOT NULL,
    warnings           TEXT    NOT NULL DEFAULT '[]'  -- JSON array
);
CREATE INDEX packages_outbox ON packages (sender, seq);
CREATE INDEX packages_document ON packages (sender, document_id, business_doc_type, seq);
-- related_statuses: statuses answering a DocumentId, joined to deliveries for the author.
CREATE INDEX packages_response_for ON packages (document_id, kind, seq);

-- The exact bytes received and the signed receipt, apart so listings stay small.
CREATE TABLE package_blobs (
    package_id TEXT PRIMARY KEY REFERENCES packages (id),
    data       BLOB NOT NULL,
    receipt    BLOB NOT NULL
);

-- One row per (package, recipient). seq copies the package's seq: the inbox is in
-- acceptance order and pages by it without a join.
CREATE TABLE deliveries (
    package_id TEXT    NOT NULL REFERENCES packages (id),
    recipient  TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    state      TEXT    NOT NULL CHECK (state IN
                   ('pending', 'queued', 'available', 'delivered', 'acked', 'failed', 'dead')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT    NOT NULL,
    last_error TEXT,
    acked_at   TEXT,
    PRIMARY KEY (package_id, recipient)
);
CREATE INDEX deliveries_by_state ON deliveries (recipient, state, seq);
-- The default inbox query repeats this WHERE literally so the planner can use the index.
CREATE INDEX deliveries_open_inbox ON deliveries (recipient, seq)
    WHERE state IN ('available', 'delivered');
CREATE INDEX deliveries_all_by_recipient ON deliveries (recipient, seq);
CREATE INDEX deliveries_pending ON deliveries (seq) WHERE state = 'pending';

-- Append-only trace. package_id has no foreign key: refusals are logged for packages that
-- were never stored.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    package_id TEXT,
    kind       TEXT    NOT NULL,
    at         TEXT    NOT NULL,
    recipient  TEXT,
    attempt    INTEGER,
    detail     TEXT    NOT NULL DEFAULT '{}'  -- JSON object
);
CREATE INDEX events_package ON events (package_id, seq);

-- Runtime changes to agencies, one merged row per agency (NULL: not overridden).
CREATE TABLE agency_overrides (
    organ_id     TEXT PRIMARY KEY,
    enabled      INTEGER,
    token_sha256 TEXT,  -- JSON array of hex digests
    changed_at   TEXT,
    reason       TEXT
);
