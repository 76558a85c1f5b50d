-- The hub's initial schema (PostgresStore). Mirrors migrations/sqlite/0001_init.sql.
--
-- Unqualified names on purpose: the migrator runs this with search_path set to the configured
-- schema (default "hub"), so one database can hold several isolated hubs or test runs.
-- Times are timestamptz (UTC instants); JSON columns are jsonb. Identifiers that are listed in
-- order (OrganIds, package ids) use the "C" collation: byte order, exactly as SQLite sorts, and
-- independent of the database's locale.

-- One row per accepted package, without its bytes: listings never read blobs.
-- seq is the acceptance order (inbox and outbox order, cursors). Writers take an advisory lock
-- before inserting, so seq order is also commit order and a cursor never skips a late commit.
CREATE TABLE packages (
    seq                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                 TEXT COLLATE "C" NOT NULL UNIQUE,
    sha256             TEXT COLLATE "C" NOT NULL UNIQUE,
    sender             TEXT COLLATE "C" NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('document', 'status')),
    document_id        TEXT COLLATE "C",  -- DocumentId, or ResponseFor/DocumentId of a status
    business_doc_type  INTEGER,
    status_code        TEXT,
    recipients         JSONB NOT NULL,    -- array of OrganIds, in package order
    accepted_at        TIMESTAMPTZ NOT NULL,
    size               BIGINT NOT NULL,
    signer_fingerprint TEXT NOT NULL,
    signer_subject     TEXT NOT NULL,
    warnings           JSONB NOT NULL DEFAULT '[]'::jsonb
);
CREATE INDEX packages_outbox ON packages (sender, seq);
CREATE INDEX packages_document ON packages (sender, document_id, business_doc_type, seq);
-- related_statuses: statuses answering a DocumentId, joined to deliveries for the author.
CREATE INDEX packages_response_for ON packages (document_id, kind, seq);

-- The exact bytes received and the signed receipt, apart so listings stay small (and so TOAST
-- never has to be touched by a listing).
CREATE TABLE package_blobs (
    package_id TEXT COLLATE "C" PRIMARY KEY REFERENCES packages (id),
    data       BYTEA NOT NULL,
    receipt    BYTEA NOT NULL
);

-- One row per (package, recipient). seq copies the package's seq: the inbox is in acceptance
-- order and pages by it without a join.
CREATE TABLE deliveries (
    package_id TEXT COLLATE "C" NOT NULL REFERENCES packages (id),
    recipient  TEXT COLLATE "C" NOT NULL,
    seq        BIGINT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN
                   ('pending', 'queued', 'available', 'delivered', 'acked', 'failed', 'dead')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL,
    last_error TEXT,
    acked_at   TIMESTAMPTZ,
    PRIMARY KEY (package_id, recipient)
);
-- Per-recipient counts by state and the include_acked inbox.
CREATE INDEX deliveries_by_state ON deliveries (recipient, state, seq);
-- The default inbox: skips the (usually many) acked rows instead of filtering them.
CREATE INDEX deliveries_open_inbox ON deliveries (recipient, seq)
    WHERE state IN ('available', 'delivered');
CREATE INDEX deliveries_all_by_recipient ON deliveries (recipient, seq);
CREATE INDEX deliveries_pending ON deliveries (seq, recipient) WHERE state = 'pending';
-- Dashboard counts over every recipient (SELECT state, count(*) … GROUP BY state).
CREATE INDEX deliveries_state ON deliveries (state);

-- Append-only trace. package_id has no foreign key: refusals are logged for packages that
-- were never stored.
CREATE TABLE events (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    package_id TEXT COLLATE "C",
    kind       TEXT NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    recipient  TEXT COLLATE "C",
    attempt    INTEGER,
    detail     JSONB NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX events_package ON events (package_id, seq);

-- Runtime changes to agencies, one merged row per agency (NULL: not overridden).
CREATE TABLE agency_overrides (
    organ_id     TEXT COLLATE "C" PRIMARY KEY,
    enabled      BOOLEAN,
    token_sha256 JSONB,  -- array of hex digests
    changed_at   TIMESTAMPTZ,
    reason       TEXT
);
