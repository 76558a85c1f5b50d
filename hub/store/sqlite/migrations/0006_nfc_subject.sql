-- Vietnamese text (issue 10): keys compare in NFC, and Subject is kept and searchable.
-- Mirrors migrations/postgresql/0006_nfc_subject.sql. nfc() is the Python function the
-- runner registers on the migrating connection (hub.store.sqlitedb.apply_migrations): SQLite
-- has no Unicode normalisation of its own.

-- Subject as sent (display; NULL with encryption at rest on) and its search index: the folded
-- words, or their keyed hashes when encrypted, space-separated with a space at both ends
-- (hub/store/textsearch.py). Packages stored before this migration have neither: their
-- Subject is only in their bytes.
ALTER TABLE packages ADD COLUMN subject TEXT;
ALTER TABLE packages ADD COLUMN subject_terms TEXT;

-- Keys written before this migration in the sender's form (NFD from some tool chains) move
-- to NFC, the form every new key is written in. Only keys: the package bytes and the
-- hash-chained events keep what was sent and recorded. A dossier whose NFC key already
-- exists (the same MaHoSo stored twice, once per form) is left as it is, not merged.
UPDATE packages SET document_id = nfc(document_id)
    WHERE document_id IS NOT NULL AND document_id <> nfc(document_id);
UPDATE lc_documents SET document_id = nfc(document_id) WHERE document_id <> nfc(document_id);
UPDATE lc_documents SET original_id = nfc(original_id)
    WHERE original_id IS NOT NULL AND original_id <> nfc(original_id);
UPDATE lc_dossiers SET ma_ho_so = nfc(ma_ho_so)
    WHERE ma_ho_so <> nfc(ma_ho_so)
      AND NOT EXISTS (SELECT 1 FROM lc_dossiers o WHERE o.ma_ho_so = nfc(lc_dossiers.ma_ho_so));
UPDATE lc_transitions SET key = nfc(key) WHERE key <> nfc(key);
-- Alarms already notified for such a dossier keep counting as notified under the NFC key.
UPDATE lc_notified SET alarm_key = nfc(alarm_key)
    WHERE alarm_key <> nfc(alarm_key)
      AND NOT EXISTS (SELECT 1 FROM lc_notified o WHERE o.alarm_key = nfc(lc_notified.alarm_key));
