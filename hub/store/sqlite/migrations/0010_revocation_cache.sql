-- Revocation data fetched online (issue 14, docs/signing.md "Online revocation"), shared by
-- every worker and hub process: one row per CRL (key = its URL) or OCSP answer (key =
-- ocsp:<url>#<issuer key hash>:<serial>), replaced when a newer one is fetched.
CREATE TABLE revocation_cache (
    key         TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('crl', 'ocsp')),
    url         TEXT NOT NULL,
    der         BLOB NOT NULL,
    this_update TEXT NOT NULL,
    next_update TEXT,
    fetched_at  TEXT NOT NULL
);
CREATE INDEX revocation_cache_next ON revocation_cache (next_update);

-- Health of each source (URL): consecutive failures since failing_since, for the alarm
-- "a revocation source stays unreachable" and the metrics.
CREATE TABLE revocation_sources (
    url           TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('crl', 'ocsp')),
    failures      INTEGER NOT NULL DEFAULT 0,
    failing_since TEXT,
    last_error    TEXT,
    last_ok       TEXT,
    last_attempt  TEXT NOT NULL
);
