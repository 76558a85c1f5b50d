-- Dossier packages (issue 4): packages.kind also takes 'dossier' and 'dossier_progress'
-- (mirrors migrations/sqlite/0002_dossier_kinds.sql; version numbers stay aligned).
-- The constraint only widens, so it is added NOT VALID (no scan under the exclusive lock)
-- and validated afterwards under a lock that lets reads and writes go on.
ALTER TABLE packages DROP CONSTRAINT packages_kind_check;
ALTER TABLE packages ADD CONSTRAINT packages_kind_check
    CHECK (kind IN ('document', 'status', 'dossier', 'dossier_progress')) NOT VALID;
ALTER TABLE packages VALIDATE CONSTRAINT packages_kind_check;
