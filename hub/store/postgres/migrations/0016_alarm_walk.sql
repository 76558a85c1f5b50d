-- Where the alarm evaluation's walk over late documents stopped (issue 12: the first evaluation
-- after every start walked every late row again, seconds at 190,000 late rows). One row per
-- walk, its position in sending order (the keyset of lc_documents' unanswered rows: sent_at,
-- package_id, recipient) and a fingerprint of the settings it walked under; written in the
-- transaction that claims the notifications of the rows it passed (lc_notified), and only
-- forward (hub/store/sql/lifecycle.py Q_ADVANCE_WALK). Mirrors
-- sqlite/migrations/0016_alarm_walk.sql; package_id and recipient compare bytewise
-- (COLLATE "C", as in lc_documents), so "later" is the order the walk reads rows in.
CREATE TABLE lc_walks (
    name       text        COLLATE "C" PRIMARY KEY,
    settings   text        NOT NULL,
    sent_at    timestamptz NOT NULL,
    package_id text        COLLATE "C" NOT NULL,
    recipient  text        COLLATE "C" NOT NULL,
    walked_at  timestamptz NOT NULL
);
