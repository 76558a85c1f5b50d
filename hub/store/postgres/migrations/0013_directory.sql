-- Agency directory (issue 11, docs/directory.md): agencies known by code, name and parent
-- but not connected (no system, no credentials), loaded by `hub agency import`. Connected
-- agencies stay in agencies.toml; a row here never connects anything or changes routing.
-- revision: the import that last changed the row (max(revision) tells every hub process
-- whether its cached copy is current, without reading the table).
CREATE TABLE directory_entries (
    code       TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT NOT NULL,
    parent     TEXT COLLATE "C",
    code102    TEXT,
    old_code   TEXT,
    revision   BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX directory_entries_revision ON directory_entries (revision);
