-- hub: foreign_keys off
-- VXP facade (issue 11). Mirrors migrations/postgresql/0012_vxp.sql.
--
-- 1. packages.signer_fingerprint becomes nullable: a package an agency with
--    envelope_signature = "optional" sent without an edXML signature has no signer. SQLite
--    cannot drop a NOT NULL, so the table is rebuilt (as in 0002) with every index created on
--    it since (0001, 0003, 0004).
CREATE TABLE packages_new (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,
    id                 TEXT    NOT NULL UNIQUE,
    sha256             TEXT    NOT NULL UNIQUE,
    sender             TEXT    NOT NULL,
    kind               TEXT    NOT NULL
                       CHECK (kind IN ('document', 'status', 'dossier', 'dossier_progress')),
    document_id        TEXT,              -- DocumentId / ResponseFor DocumentId / MaHoSo
    business_doc_type  INTEGER,
    status_code        TEXT,              -- StatusCode, or TrangThaiHoSo of a dossier package
    recipients         TEXT    NOT NULL,
    accepted_at        TEXT    NOT NULL,
    size               INTEGER NOT NULL,
    signer_fingerprint TEXT,              -- NULL: accepted unsigned (envelope_signature optional)
    signer_subject     TEXT    NOT NULL,
    warnings           TEXT    NOT NULL DEFAULT '[]'
);
INSERT INTO packages_new (seq, id, sha256, sender, kind, document_id, business_doc_type,
                          status_code, recipients, accepted_at, size, signer_fingerprint,
                          signer_subject, warnings)
    SELECT seq, id, sha256, sender, kind, document_id, business_doc_type, status_code,
           recipients, accepted_at, size, signer_fingerprint, signer_subject, warnings
    FROM packages;
DROP TABLE packages;
ALTER TABLE packages_new RENAME TO packages;
CREATE INDEX packages_outbox ON packages (sender, seq);
CREATE INDEX packages_document ON packages (sender, document_id, business_doc_type, seq);
CREATE INDEX packages_response_for ON packages (document_id, kind, seq);
CREATE INDEX packages_sender_time ON packages (sender, accepted_at);
CREATE INDEX dash_packages_accepted ON packages (accepted_at);
CREATE INDEX dash_packages_kind ON packages (kind, status_code, seq);

-- 2. The systems connected through the VXP facade: HMAC credentials and the agencies each
--    system may act for. The HMAC needs the secret itself, so it cannot be hashed: it is kept
--    sealed with the storage key (secret) when one is configured, otherwise in a file only the
--    hub's user can read (secret_file, an absolute path). version grows on every change, so
--    every worker sees a disable or a rotation on its next request (no cache).
CREATE TABLE vxp_systems (
    system_id   TEXT    PRIMARY KEY,
    agencies    TEXT    NOT NULL,             -- JSON array of OrganIds
    enabled     INTEGER NOT NULL DEFAULT 1,
    secret      BLOB,                         -- sealed (hub.storage_crypto), or NULL
    secret_file TEXT,                         -- or the file holding it
    version     INTEGER NOT NULL DEFAULT 1,
    changed_at  TEXT    NOT NULL,
    reason      TEXT
);
