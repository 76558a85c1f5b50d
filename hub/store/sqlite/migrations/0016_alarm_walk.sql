-- Where the alarm evaluation's walk over late documents stopped (issue 12: the first evaluation
-- after every start walked every late row again, seconds at 190,000 late rows). One row per
-- walk, its position in sending order (the keyset of lc_documents' unanswered rows: sent_at,
-- package_id, recipient) and a fingerprint of the settings it walked under; written in the
-- transaction that claims the notifications of the rows it passed (lc_notified), and only
-- forward (hub/store/sql/lifecycle.py Q_ADVANCE_WALK). Mirrors
-- postgres/migrations/0016_alarm_walk.sql (the times are ISO text here, as everywhere).
CREATE TABLE lc_walks (
    name       TEXT PRIMARY KEY,
    settings   TEXT NOT NULL,
    sent_at    TEXT NOT NULL,
    package_id TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    walked_at  TEXT NOT NULL
);
