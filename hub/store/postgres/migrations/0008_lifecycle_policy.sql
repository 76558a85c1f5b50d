-- Lifecycle policy `compatible` (issue 10): per (document package, recipient), the state a 16
-- returns to while a 13 is pending, and every code recorded (a code may not be sent twice,
-- except 05). Mirrors migrations/sqlite/0008_lifecycle_policy.sql (version numbers aligned).

ALTER TABLE lc_documents ADD COLUMN prior_state text;
ALTER TABLE lc_documents ADD COLUMN codes text NOT NULL DEFAULT '';

UPDATE lc_documents d SET codes = COALESCE((
    SELECT string_agg(x.to_state, ',' ORDER BY x.first_seq) FROM (
        SELECT t.to_state, MIN(t.seq) AS first_seq FROM lc_transitions t
        WHERE t.subject = 'document' AND t.key = d.document_id
          AND t.party = d.recipient AND t.to_state <> 'none'
        GROUP BY t.to_state
    ) x
), '');
UPDATE lc_documents d SET prior_state = (
    SELECT t.from_state FROM lc_transitions t
    WHERE t.subject = 'document' AND t.key = d.document_id
      AND t.party = d.recipient AND t.to_state = '13'
    ORDER BY t.seq DESC LIMIT 1
) WHERE d.state = '13';
