-- The operators' dashboard (issue 6): operator accounts, their sessions, their audit trail,
-- discarded dead letters, and the indexes the dashboard's listings and counters need.
-- Mirrors migrations/postgresql/0004_dashboard.sql (version numbers stay aligned).

-- Operator accounts, separate from agency credentials. password_hash is an Argon2id PHC string.
CREATE TABLE operators (
    username      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator')),
    created_at    TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0
);

-- Sessions: only the SHA-256 of the cookie value is stored, so a copy of the database does
-- not hand out live sessions. csrf is the per-session token every state-changing form carries.
CREATE TABLE operator_sessions (
    token_sha256 TEXT PRIMARY KEY,
    username     TEXT NOT NULL REFERENCES operators (username),
    csrf         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX operator_sessions_expiry ON operator_sessions (expires_at);

-- Who did what on the dashboard, when (append-only; logins, failed logins, re-sends, discards,
-- agency changes).
CREATE TABLE operator_audit (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT NOT NULL,
    username TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT,
    detail   TEXT NOT NULL DEFAULT '{}'  -- JSON object
);

-- Dead letters an operator discarded: the delivery stays 'dead' (its history is the truth),
-- it only leaves the dead-letter list.
CREATE TABLE dead_letter_discards (
    package_id TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    at         TEXT NOT NULL,
    username   TEXT NOT NULL,
    PRIMARY KEY (package_id, recipient)
);

-- Oldest-first lists of deliveries in one state (dead letters, unacknowledged documents).
CREATE INDEX dash_deliveries_state_seq ON deliveries (state, seq);
-- Backlog per agency: counts of the open states only, never walking the (many) acked rows.
CREATE INDEX dash_deliveries_state_recipient ON deliveries (state, recipient);
-- Throughput per minute and period searches.
CREATE INDEX dash_packages_accepted ON packages (accepted_at);
-- Searches by kind, and unaccepted dossiers (kind = 'dossier' AND status_code = '1').
CREATE INDEX dash_packages_kind ON packages (kind, status_code, seq);
-- Refusal rate per minute.
CREATE INDEX dash_events_kind_at ON events (kind, at);
