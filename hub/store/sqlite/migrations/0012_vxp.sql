-- VXP facade (issue 11). Mirrors migrations/postgresql/0012_vxp.sql.
--
-- 1. packages.signer_fingerprint becomes nullable: a package an agency with
--    envelope_signature = "optional" sent without an edXML signature has no signer.
--    SQLite cannot ALTER a NOT NULL away. A table rebuild would have to name every column and
--    index of packages, and other migrations add columns to it (e.g. 0006), so a rebuild
--    written here would silently drop theirs. Instead the column's definition is edited in
--    the schema, the procedure SQLite documents for removing a NOT NULL constraint ("Making
--    other kinds of table schema changes", https://sqlite.org/lang_altertable.html#otheralter):
--    the stored rows and their format are unchanged. writable_schema = RESET reloads this
--    connection's schema; the CREATE TABLE below bumps the schema cookie, so every other
--    connection reloads it too.
PRAGMA writable_schema = ON;
UPDATE sqlite_master
   SET sql = replace(replace(sql, 'signer_fingerprint TEXT    NOT NULL', 'signer_fingerprint TEXT'),
                     'signer_fingerprint TEXT NOT NULL', 'signer_fingerprint TEXT')
 WHERE type = 'table' AND name = 'packages';
PRAGMA writable_schema = RESET;
-- The edit must have happened: fail the migration (json() of a non-JSON text raises) rather
-- than leave a schema where an unsigned package cannot be stored.
SELECT json('packages.signer_fingerprint is still NOT NULL: migration 0012 cannot edit it')
  FROM pragma_table_info('packages') WHERE name = 'signer_fingerprint' AND "notnull" = 1;

-- 2. The systems connected through the VXP facade: HMAC credentials and the agencies each
--    system may act for. The HMAC needs the secret itself, so it cannot be hashed: it is kept
--    sealed with the storage key (secret) when one is configured, otherwise in a file only the
--    hub's user can read (secret_file, an absolute path). version grows on every change; every
--    worker reads the record on each request (no cache), so a disable or a rotation applies
--    everywhere at once.
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
