-- The embedded broker's queue (LocalBroker). Times are Unix seconds (REAL, wall clock, shared by
-- every process using the file). Version rows live in broker_schema_version, so the broker can
-- share the store's file or use its own.

-- One row per published entry. Duplicates of (recipient, package_id) are allowed: a re-publish
-- after a crash between broker confirm and store mark is harmless, consumers are idempotent.
CREATE TABLE broker_queue (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient    TEXT    NOT NULL,
    package_id   TEXT    NOT NULL,
    attempt      INTEGER NOT NULL DEFAULT 1,
    available_at REAL    NOT NULL,       -- not handed out before this time (retry delay)
    lease_until  REAL,                   -- NULL: not handed out since publish/retry/release
    consumer     TEXT,                   -- token of the claim holding the lease
    redelivered  INTEGER NOT NULL DEFAULT 0,
    last_reason  TEXT,                   -- reason given by the last retry
    published_at REAL    NOT NULL
);
CREATE INDEX broker_queue_due ON broker_queue (available_at, id);
CREATE INDEX broker_queue_recipient ON broker_queue (recipient, available_at, id);
CREATE INDEX broker_queue_consumer ON broker_queue (consumer) WHERE consumer IS NOT NULL;

-- Dead-lettered entries: kept for forensics; operators list dead deliveries from the store.
CREATE TABLE broker_dead (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient  TEXT    NOT NULL,
    package_id TEXT    NOT NULL,
    attempt    INTEGER NOT NULL,
    reason     TEXT    NOT NULL,
    at         REAL    NOT NULL
);
CREATE INDEX broker_dead_entry ON broker_dead (recipient, package_id);
