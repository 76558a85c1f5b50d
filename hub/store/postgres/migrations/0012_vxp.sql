-- VXP facade (issue 11). Mirrors migrations/sqlite/0012_vxp.sql.

-- 1. A package an agency with envelope_signature = "optional" sent without an edXML signature
--    has no signer.
ALTER TABLE packages ALTER COLUMN signer_fingerprint DROP NOT NULL;

-- 2. The systems connected through the VXP facade (see the SQLite migration for the secret).
CREATE TABLE vxp_systems (
    system_id   TEXT COLLATE "C" PRIMARY KEY,
    agencies    TEXT NOT NULL,                -- JSON array of OrganIds (text: shared SQL)
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    secret      BYTEA,
    secret_file TEXT,
    version     BIGINT NOT NULL DEFAULT 1,
    changed_at  TIMESTAMPTZ NOT NULL,
    reason      TEXT
);
