-- hub: foreign_keys off
-- Dossier packages (issue 4): packages.kind also takes 'dossier' and 'dossier_progress'.
-- SQLite cannot alter a CHECK constraint, so the table is rebuilt (the documented 12-step
-- procedure; the runner turns foreign keys off around it and runs foreign_key_check before
-- committing). deliveries and package_blobs reference packages by name and stay valid.
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
    signer_fingerprint TEXT    NOT NULL,
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
