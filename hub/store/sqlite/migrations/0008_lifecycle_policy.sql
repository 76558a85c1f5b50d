-- Lifecycle policy `compatible` (issue 10): per (document package, recipient), the state a 16
-- returns to while a 13 is pending, and every code recorded (a code may not be sent twice,
-- except 05). Mirrors migrations/postgresql/0008_lifecycle_policy.sql.

ALTER TABLE lc_documents ADD COLUMN prior_state TEXT;   -- the state before a pending 13
ALTER TABLE lc_documents ADD COLUMN codes TEXT NOT NULL DEFAULT '';  -- '01,03,…' first-sent order

-- Rows moved before this migration: their codes from the history (every transition of the
-- DocumentId to this recipient; order by seq), and the state before a 13 still pending.
UPDATE lc_documents SET codes = COALESCE((
    SELECT group_concat(to_state, ',') FROM (
        SELECT t.to_state AS to_state, MIN(t.seq) AS first_seq FROM lc_transitions t
        WHERE t.subject = 'document' AND t.key = lc_documents.document_id
          AND t.party = lc_documents.recipient AND t.to_state <> 'none'
        GROUP BY t.to_state ORDER BY first_seq
    )
), '');
UPDATE lc_documents SET prior_state = (
    SELECT t.from_state FROM lc_transitions t
    WHERE t.subject = 'document' AND t.key = lc_documents.document_id
      AND t.party = lc_documents.recipient AND t.to_state = '13'
    ORDER BY t.seq DESC LIMIT 1
) WHERE state = '13';
