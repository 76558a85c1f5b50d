-- Lifecycles (issue 5): documents per (package, recipient), dossiers per MaHoSo, the history
-- of every applied transition, and which alarms were notified (once, across hub processes).
-- Mirrors migrations/postgresql/0003_lifecycle.sql. Times: ISO-8601 UTC text as in 0001.

-- One row per (document package, recipient): state 'none' until the recipient answers.
CREATE TABLE lc_documents (
    package_id        TEXT    NOT NULL,
    recipient         TEXT    NOT NULL,
    author            TEXT    NOT NULL,
    document_id       TEXT    NOT NULL,
    business_doc_type INTEGER NOT NULL,
    original_id       TEXT,              -- Bussiness/DocumentId of a revocation/update/replacement
    state             TEXT    NOT NULL,
    sent_at           TEXT    NOT NULL,
    answered_at       TEXT,              -- first 01/02/03/15/16 from the recipient
    updated_at        TEXT    NOT NULL,
    PRIMARY KEY (package_id, recipient)
);
CREATE INDEX lc_documents_by_id ON lc_documents (document_id, author, sent_at);
CREATE INDEX lc_documents_by_sent ON lc_documents (sent_at);
CREATE INDEX lc_documents_unanswered ON lc_documents (sent_at) WHERE answered_at IS NULL;

-- One row per dossier (MaHoSo).
CREATE TABLE lc_dossiers (
    ma_ho_so     TEXT    PRIMARY KEY,
    ma_tthc      TEXT,
    agency       TEXT    NOT NULL,      -- handling agency
    submitter    TEXT    NOT NULL,      -- the agency that sent the dossier record
    online       INTEGER NOT NULL,      -- 1: HinhThuc = 1 (submitted online)
    level        INTEGER,               -- online service level of the procedure (catalogue)
    state        TEXT    NOT NULL,      -- TrangThaiHoSo
    submitted_at TEXT    NOT NULL,
    accepted_at  TEXT,
    due_at       TEXT,                  -- NgayHenTra
    finished_at  TEXT,                  -- first 9/10
    updated_at   TEXT    NOT NULL,
    package_id   TEXT    NOT NULL
);
CREATE INDEX lc_dossiers_by_submitted ON lc_dossiers (submitted_at);
CREATE INDEX lc_dossiers_open ON lc_dossiers (state, submitted_at);

-- Every applied transition, append-only (the lifecycle part of traces).
CREATE TABLE lc_transitions (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    subject    TEXT NOT NULL CHECK (subject IN ('document', 'dossier')),
    key        TEXT NOT NULL,           -- DocumentId or MaHoSo
    party      TEXT,                    -- the recipient (documents)
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    package_id TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL
);
CREATE INDEX lc_transitions_by_key ON lc_transitions (key, seq);
CREATE INDEX lc_transitions_by_sha ON lc_transitions (sha256);

-- Alarms notified: the primary key makes "notify once" hold across hub processes.
CREATE TABLE lc_notified (
    alarm_key   TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    notified_at TEXT NOT NULL
);

-- Silent agencies: the last package each agency sent.
CREATE INDEX packages_sender_time ON packages (sender, accepted_at);
