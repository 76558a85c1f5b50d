-- Uniqueness of a new document's DocumentId by constraint (issue 12, docs/store-and-broker.md
-- "Uniqueness"). The same script for SQLite and PostgreSQL.
--
-- The 409 package.conflict rule (a new document, BussinessDocType 0, may not reuse its
-- sender's DocumentId with other bytes) was a read before the insert, so two submissions
-- racing each other could both be stored. Those already stored are kept, never deleted: every
-- one after the first (by seq) is marked with the id of the first in duplicate_of, which takes
-- it out of the unique index below and lists it in `hub db check-duplicates` for the operator.
-- No event is written: events are hash-chained by the process that writes them (0005).
ALTER TABLE packages ADD COLUMN duplicate_of TEXT;

UPDATE packages SET duplicate_of = (
        SELECT f.id FROM packages f
        WHERE f.sender = packages.sender AND f.document_id = packages.document_id
          AND f.kind = 'document' AND f.business_doc_type = 0
        ORDER BY f.seq LIMIT 1)
    WHERE kind = 'document' AND business_doc_type = 0
      AND document_id IS NOT NULL AND document_id <> ''
      AND EXISTS (
        SELECT 1 FROM packages e
        WHERE e.sender = packages.sender AND e.document_id = packages.document_id
          AND e.kind = 'document' AND e.business_doc_type = 0 AND e.seq < packages.seq);

-- The guarantee: one unmarked new document per (sender, DocumentId in NFC). The insert uses
-- ON CONFLICT DO NOTHING, so a package that loses the race is simply not inserted and the
-- store reports it as a conflict (hub.store.abc.AddOutcome).
CREATE UNIQUE INDEX packages_new_document ON packages (sender, document_id)
    WHERE kind = 'document' AND business_doc_type = 0 AND document_id <> ''
      AND duplicate_of IS NULL;
CREATE INDEX packages_duplicate_of ON packages (duplicate_of) WHERE duplicate_of IS NOT NULL;
