"""PostgreSQL for tests: the server from ``HUB_TEST_POSTGRES_DSN`` and a throw-away schema each.

Every test gets its own schema (``t_<random>``), dropped with everything in it afterwards, so
tests never see each other's rows and may run against a database other people use.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

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
