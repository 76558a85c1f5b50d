"""A migration numbered below one already applied still runs (features land in any order)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg

from hub.sqlitedb import Migration, apply_migrations
from hub.store.postgres import migrate as pgmigrate
from tests.store.pg_fixtures import pg_dsn, pg_schema  # noqa: F401 - fixtures

ONE = Migration(1, "one", "CREATE TABLE one (x INTEGER);")
TWO = Migration(2, "two", "CREATE TABLE two (x INTEGER);")
THREE = Migration(3, "three", "CREATE TABLE three (x INTEGER);")


def test_sqlite_applies_a_late_lower_numbered_migration(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.sqlite", isolation_level=None)
    try:
        assert apply_migrations(conn, "schema_version", [ONE, THREE]) == 3
        assert apply_migrations(conn, "schema_version", [ONE, TWO, THREE]) == 3
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert {"one", "two", "three"} <= tables
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
        assert versions == [1, 2, 3]
        # and nothing runs twice
        assert apply_migrations(conn, "schema_version", [ONE, TWO, THREE]) == 3
    finally:
        conn.close()


async def test_postgres_applies_a_late_lower_numbered_migration(
    pg_dsn: str,  # noqa: F811
    pg_schema: str,  # noqa: F811
) -> None:
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        assert await pgmigrate.apply_migrations(conn, pg_schema, [ONE, THREE]) == 3
        assert await pgmigrate.apply_migrations(conn, pg_schema, [ONE, TWO, THREE]) == 3
        cur = await conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (pg_schema,),
        )
        tables = {r[0] for r in await cur.fetchall()}
        assert {"one", "two", "three"} <= tables
