"""Migration 0015 (issue 12) on both backends: a store at version 14 holding delivered and
acknowledged deliveries gets the ``deliveries_received`` index in place, and ``last_activity``
answers from it what the old scan answered (an acknowledgement counted at its ``acked_at``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from hub.audit.chain import AuditChain
from hub.sqlitedb import Migration, to_db_time
from hub.store.abc import Store
from hub.store.postgres import PostgresStore
from hub.store.postgres.migrate import migrations as pg_migrations
from hub.store.sqlite import SqliteStore
from hub.store.sqlite import migrations as sqlite_migrations
from tests.contracts.store_contract import G22, H29, H41
from tests.store.older import pg_schema_at, sqlite_at
from tests.store.pg_fixtures import pg_dsn, pg_schema  # noqa: F401  (fixtures)

T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
PACKAGE = (
    "INSERT INTO packages (id, sha256, sender, kind, document_id, business_doc_type, "
    "recipients, accepted_at, size, signer_fingerprint, signer_subject) "
    "VALUES ({p}, {p}, {p}, 'document', {p}, 0, '[]', {p}, 10, 'f', 'CN=x')"
)
DELIVERY = (
    "INSERT INTO deliveries (package_id, recipient, seq, state, updated_at, acked_at) "
    "VALUES ({p}, {p}, {p}, {p}, {p}, {p})"
)


def _older(scripts: Sequence[Migration]) -> list[Migration]:
    return [m for m in scripts if m.version < 15]


def _rows(time: Callable[[datetime], object]) -> tuple[list[tuple[object, ...]], ...]:
    """H41 sent two packages; G22 acknowledged one an hour after (the row updated later
    still), H29 had one delivered, then one only queued."""
    packages = [
        (f"p{i}", f"{i:064x}", H41, f"{H41},doc/{i}", time(T0 + timedelta(minutes=i)))
        for i in (1, 2)
    ]
    deliveries = [
        ("p1", G22, 1, "acked", time(T0 + timedelta(hours=2)), time(T0 + timedelta(hours=1))),
        ("p1", H29, 1, "delivered", time(T0 + timedelta(minutes=30)), None),
        ("p2", H29, 2, "queued", time(T0 + timedelta(hours=3)), None),
    ]
    return packages, deliveries


EXPECTED = {
    H41: T0 + timedelta(minutes=2),
    G22: T0 + timedelta(hours=1),  # at the acknowledgement
    H29: T0 + timedelta(minutes=30),  # delivered; the later queued one is not activity
}


async def _check(store: Store) -> None:
    assert store.schema_version >= 15  # type: ignore[attr-defined]
    assert await store.lifecycle().last_activity() == EXPECTED


async def test_sqlite_store_at_14_migrates(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite"
    packages, deliveries = _rows(to_db_time)
    sqlite_at(
        path,
        _older(sqlite_migrations()),
        [(PACKAGE.format(p="?"), packages), (DELIVERY.format(p="?"), deliveries)],
    )
    async with SqliteStore(path, chainer=AuditChain()) as store:
        await _check(store)
    conn = sqlite3.connect(path)
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    finally:
        conn.close()
    assert "deliveries_received" in names


async def test_postgres_store_at_14_migrates(
    pg_dsn: str,  # noqa: F811
    pg_schema: str,  # noqa: F811
) -> None:
    packages, deliveries = _rows(lambda t: t)
    await pg_schema_at(
        pg_dsn,
        pg_schema,
        _older(pg_migrations()),
        [(PACKAGE.format(p="%s"), packages), (DELIVERY.format(p="%s"), deliveries)],
    )
    store = PostgresStore(pg_dsn, schema=pg_schema, min_size=1, max_size=2, chainer=AuditChain())
    async with store:
        await _check(store)
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
            (pg_schema, "deliveries_received"),
        )
        row = await cur.fetchone()
    assert row is not None and "COALESCE(acked_at, updated_at)" in row[0]
