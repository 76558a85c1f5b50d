"""Migration 0012 (issue 11): packages.signer_fingerprint becomes nullable on SQLite without
a table rebuild, so columns and indexes other migrations add to ``packages`` survive it, and
the connection that migrated (and every other one) stores an unsigned package at once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hub.sqlitedb import Migration, apply_migrations
from hub.store.sqlite import migrations as sqlite_migrations

#: what another feature's migration could do to packages before 0012 runs (0006 adds the
#: Subject columns the same way)
OTHER = Migration(
    11,
    "other_feature",
    "ALTER TABLE packages ADD COLUMN other_note TEXT;\n"
    "CREATE INDEX packages_other_note ON packages (other_note);\n",
)


def test_0012_keeps_other_columns_and_allows_null_fingerprints(tmp_path: Path) -> None:
    migrations = sorted(
        (*(m for m in sqlite_migrations() if m.version < 12), OTHER),
        key=lambda m: m.version,
    )
    conn = sqlite3.connect(tmp_path / "hub.sqlite", isolation_level=None)
    other = sqlite3.connect(tmp_path / "hub.sqlite", isolation_level=None)
    try:
        apply_migrations(conn, "schema_version", migrations)
        insert = (
            "INSERT INTO packages (id, sha256, sender, kind, recipients, accepted_at, size, "
            "signer_fingerprint, signer_subject, other_note) "
            "VALUES (?, ?, '000.00.00.G22', 'document', '[]', 't', 1, ?, '', 'Công văn')"
        )
        conn.execute(insert, ("signed", "a" * 64, "f" * 64))
        other.execute("SELECT count(*) FROM packages").fetchall()  # its schema is now cached
        apply_migrations(conn, "schema_version", [*migrations, *sqlite_migrations()])
        conn.execute(insert, ("unsigned", "b" * 64, None))  # the migrating connection
        other.execute(insert, ("unsigned2", "c" * 64, None))  # another, opened before
        rows = conn.execute(
            "SELECT id, signer_fingerprint, other_note FROM packages ORDER BY seq"
        ).fetchall()
        assert rows == [
            ("signed", "f" * 64, "Công văn"),
            ("unsigned", None, "Công văn"),
            ("unsigned2", None, "Công văn"),
        ]
        indexes = {r[1] for r in conn.execute("PRAGMA index_list('packages')")}
        assert {"packages_other_note", "packages_outbox", "packages_document"} <= indexes
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master")} >= {"vxp_systems"}
    finally:
        conn.close()
        other.close()
