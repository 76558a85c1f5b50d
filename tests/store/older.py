"""What an upgrade-in-place test starts from: a store as an older release left it — only that
release's migrations applied — holding rows written the way it wrote them."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import psycopg

from hub.sqlitedb import Migration, apply_migrations
from hub.store.postgres.migrate import apply_migrations as pg_apply_migrations

#: (statement, its parameter rows), inserted in order
Rows = Sequence[tuple[str, Sequence[Sequence[object]]]]


def sqlite_at(path: Path, migrations: Sequence[Migration], rows: Rows) -> None:
    """Create the SQLite store file ``path`` with only ``migrations`` applied, then insert
    ``rows`` (statements with ``?`` placeholders)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        apply_migrations(conn, "schema_version", migrations)
        for statement, params in rows:
            conn.executemany(statement, params)
    finally:
        conn.close()


async def pg_schema_at(
    dsn: str,
    schema: str,
    migrations: Sequence[Migration],
    rows: Rows,
) -> None:
    """Create the PostgreSQL schema ``schema`` with only ``migrations`` applied, then insert
    ``rows`` (statements with ``%s`` placeholders) in one transaction."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await pg_apply_migrations(conn, schema, migrations)
        async with conn.transaction():
            await conn.execute(
                psycopg.sql.SQL("SET LOCAL search_path = {}").format(psycopg.sql.Identifier(schema))
            )
            cur = conn.cursor()
            for statement, params in rows:
                await cur.executemany(statement, params)
