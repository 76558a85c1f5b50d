-- Vietnamese text (issue 10): keys compare in NFC, and Subject is kept and searchable.
-- Mirrors migrations/sqlite/0006_nfc_subject.sql (which uses the nfc() function the SQLite
-- runner registers; here normalize(…, NFC) is built in, UTF-8 databases only).

-- Subject as sent (display; NULL with encryption at rest on) and its search index: the folded
-- words, or their keyed hashes when encrypted, space-separated with a space at both ends
-- (hub/store/textsearch.py). Packages stored before this migration have neither: their
-- Subject is only in their bytes.
ALTER TABLE packages ADD COLUMN subject TEXT;
ALTER TABLE packages ADD COLUMN subject_terms TEXT COLLATE "C";

-- Keys written before this migration in the sender's form (NFD from some tool chains) move
-- to NFC, the form every new key is written in. Only keys: the package bytes and the
-- hash-chained events keep what was sent and recorded. A dossier whose NFC key already
-- exists (the same MaHoSo stored twice, once per form) is left as it is, not merged.
UPDATE packages SET document_id = normalize(document_id, NFC)
    WHERE document_id IS NOT NULL AND document_id IS NOT NFC NORMALIZED;
UPDATE lc_documents SET document_id = normalize(document_id, NFC)
    WHERE document_id IS NOT NFC NORMALIZED;
UPDATE lc_documents SET original_id = normalize(original_id, NFC)
    WHERE original_id IS NOT NULL AND original_id IS NOT NFC NORMALIZED;
UPDATE lc_dossiers d SET ma_ho_so = normalize(d.ma_ho_so, NFC)
    WHERE d.ma_ho_so IS NOT NFC NORMALIZED
      AND NOT EXISTS (SELECT 1 FROM lc_dossiers o WHERE o.ma_ho_so = normalize(d.ma_ho_so, NFC));
UPDATE lc_transitions SET key = normalize(key, NFC) WHERE key IS NOT NFC NORMALIZED;
-- Alarms already notified for such a dossier keep counting as notified under the NFC key.
UPDATE lc_notified n SET alarm_key = normalize(n.alarm_key, NFC)
    WHERE n.alarm_key IS NOT NFC NORMALIZED
      AND NOT EXISTS (SELECT 1 FROM lc_notified o WHERE o.alarm_key = normalize(n.alarm_key, NFC));
