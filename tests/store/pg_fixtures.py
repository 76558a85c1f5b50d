"""PostgreSQL for tests: the server from ``HUB_TEST_POSTGRES_DSN`` and a throw-away schema each.

Every test gets its own schema (``t_<random>``), dropped with everything in it afterwards, so
tests never see each other's rows and may run against a database other people use.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence

import psycopg
import pytest

from hub.sqlitedb import Migration
from hub.store.postgres.migrate import apply_migrations
from tests.conftest import require_service

PG_DSN = os.environ.get("HUB_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def _host_port(dsn: str) -> tuple[str, int]:
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    return str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)


def new_schema_name() -> str:
    """A schema name no other test run uses."""
    return f"t_{uuid.uuid4().hex[:16]}"


def drop_schema(dsn: str, schema: str) -> None:
    """Drop ``schema`` and everything in it (no error if it does not exist)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                psycopg.sql.Identifier(schema)
            )
        )


@pytest.fixture
def pg_dsn() -> str:
    """The test server's DSN; skips (or fails under HUB_REQUIRE_SERVICES=1) without it."""
    host, port = _host_port(PG_DSN)
    require_service("PostgreSQL", host, port)
    return PG_DSN


@pytest.fixture
def pg_schema(pg_dsn: str) -> Iterator[str]:
    """A fresh schema name, dropped after the test."""
    schema = new_schema_name()
    try:
        yield schema
    finally:
        drop_schema(pg_dsn, schema)


async def pg_schema_at(
    dsn: str,
    schema: str,
    migrations: Sequence[Migration],
    rows: Sequence[tuple[str, Sequence[Sequence[object]]]],
) -> None:
    """Create ``schema`` as an older release left it: only ``migrations`` applied, then
    ``rows`` inserted — (statement with ``%s`` placeholders, its parameter rows) each — in one
    transaction. What an upgrade-in-place test starts from."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await apply_migrations(conn, schema, migrations)
        async with conn.transaction():
            await conn.execute(
                psycopg.sql.SQL("SET LOCAL search_path = {}").format(psycopg.sql.Identifier(schema))
            )
            cur = conn.cursor()
            for statement, params in rows:
                await cur.executemany(statement, params)
