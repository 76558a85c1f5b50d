-- Revocation data fetched online (issue 14). Mirrors migrations/sqlite/0010_revocation_cache.sql.
CREATE TABLE revocation_cache (
    key         TEXT COLLATE "C" PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('crl', 'ocsp')),
    url         TEXT NOT NULL,
    der         BYTEA NOT NULL,
    this_update TIMESTAMPTZ NOT NULL,
    next_update TIMESTAMPTZ,
    fetched_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX revocation_cache_next ON revocation_cache (next_update);

CREATE TABLE revocation_sources (
    url           TEXT COLLATE "C" PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('crl', 'ocsp')),
    failures      INTEGER NOT NULL DEFAULT 0,
    failing_since TIMESTAMPTZ,
    last_error    TEXT,
    last_ok       TIMESTAMPTZ,
    last_attempt  TIMESTAMPTZ NOT NULL
);
