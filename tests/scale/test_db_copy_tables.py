"""``hub db copy`` covers every table: a migration that adds a table to either backend without
a line in :data:`hub.dbtools.COPY_TABLES` fails here (so the next feature cannot be left
behind on the embedded installation), and every line names a real table."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import psycopg

from hub.audit.chain import AuditChain
from hub.broker.local import LocalBroker
from hub.dbtools import COPY_TABLES, Policy
from hub.store.postgres.migrate import migrate
from hub.store.sqlite import SqliteStore
from tests.store.pg_fixtures import pg_dsn, pg_schema  # noqa: F401  (fixtures)


async def _fresh_store_file(path: Path) -> None:
    # The store and the embedded broker share one file, as in a default installation.
    async with SqliteStore(path, chainer=AuditChain()), LocalBroker(path):
        pass


def sqlite_tables(path: Path) -> set[str]:
    asyncio.run(_fresh_store_file(path))
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    finally:
        conn.close()
    return {name for (name,) in rows}


def test_every_sqlite_table_is_in_the_copy_list(tmp_path: Path) -> None:
    listed = {t.name for t in COPY_TABLES}
    tables = sqlite_tables(tmp_path / "hub.sqlite3")
    assert tables - listed == set(), "add these tables to hub.dbtools.COPY_TABLES"
    assert listed - tables == set(), "COPY_TABLES names tables no migration creates"


def test_copy_list_is_consistent() -> None:
    names = [t.name for t in COPY_TABLES]
    assert len(names) == len(set(names))
    for i, t in enumerate(COPY_TABLES):
        assert t.key, t.name
        if t.policy is Policy.SKIP:
            assert t.why, f"{t.name}: say why it is not copied"
        if t.policy is Policy.APPEND:
            assert len(t.key) == 1, t.name
        if t.policy is Policy.FOLLOW:
            assert t.parent is not None
            parent = next(p for p in COPY_TABLES if p.name == t.parent[0])
            assert parent.policy is Policy.APPEND
            assert names.index(parent.name) < i, f"{t.name} is copied before its parent"


async def test_every_postgresql_table_is_in_the_copy_list(
    pg_dsn: str,  # noqa: F811
    pg_schema: str,  # noqa: F811
) -> None:
    await migrate(pg_dsn, pg_schema)
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (pg_schema,),
        ).fetchall()
    tables = {name for (name,) in rows}
    copied = {t.name for t in COPY_TABLES if t.policy is not Policy.SKIP}
    # Left empty on purpose: the target's migration bookkeeping, and sessions (operators log
    # in again after the cut-over).
    assert tables - copied == {"schema_version", "operator_sessions"}
    assert copied - tables == set()
