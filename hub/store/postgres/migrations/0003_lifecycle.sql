-- Lifecycles (issue 5): documents per (package, recipient), dossiers per MaHoSo, the history
-- of every applied transition, and which alarms were notified (once, across hub processes).
-- Mirrors migrations/sqlite/0003_lifecycle.sql (version numbers stay aligned).

CREATE TABLE lc_documents (
    package_id        text        COLLATE "C" NOT NULL,
    recipient         text        COLLATE "C" NOT NULL,
    author            text        COLLATE "C" NOT NULL,
    document_id       text        COLLATE "C" NOT NULL,
    business_doc_type integer     NOT NULL,
    original_id       text        COLLATE "C",
    state             text        NOT NULL,
    sent_at           timestamptz NOT NULL,
    answered_at       timestamptz,
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (package_id, recipient)
);
CREATE INDEX lc_documents_by_id ON lc_documents (document_id, author, sent_at);
CREATE INDEX lc_documents_by_sent ON lc_documents (sent_at);
CREATE INDEX lc_documents_unanswered ON lc_documents (sent_at) WHERE answered_at IS NULL;

CREATE TABLE lc_dossiers (
    ma_ho_so     text        COLLATE "C" PRIMARY KEY,
    ma_tthc      text        COLLATE "C",
    agency       text        COLLATE "C" NOT NULL,
    submitter    text        COLLATE "C" NOT NULL,
    online       boolean     NOT NULL,
    level        integer,
    state        text        NOT NULL,
    submitted_at timestamptz NOT NULL,
    accepted_at  timestamptz,
    due_at       timestamptz,
    finished_at  timestamptz,
    updated_at   timestamptz NOT NULL,
    package_id   text        COLLATE "C" NOT NULL
);
CREATE INDEX lc_dossiers_by_submitted ON lc_dossiers (submitted_at);
CREATE INDEX lc_dossiers_open ON lc_dossiers (state, submitted_at);

CREATE TABLE lc_transitions (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject    text        NOT NULL CHECK (subject IN ('document', 'dossier')),
    key        text        COLLATE "C" NOT NULL,
    party      text        COLLATE "C",
    from_state text        NOT NULL,
    to_state   text        NOT NULL,
    package_id text        COLLATE "C" NOT NULL,
    sha256     text        NOT NULL,
    at         timestamptz NOT NULL,
    actor      text        COLLATE "C" NOT NULL
);
CREATE INDEX lc_transitions_by_key ON lc_transitions (key, seq);
CREATE INDEX lc_transitions_by_sha ON lc_transitions (sha256);

CREATE TABLE lc_notified (
    alarm_key   text        COLLATE "C" PRIMARY KEY,
    kind        text        NOT NULL,
    notified_at timestamptz NOT NULL
);

CREATE INDEX packages_sender_time ON packages (sender, accepted_at);
