"""Migration 0016 on both backends: a store at version 15 — late unanswered documents, alarms
already notified, no walk position — gets ``lc_walks`` in place; the first walk then stores
its position with its claims, and a store opened again finds it. ``hub db copy`` carries it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from hub.audit.chain import AuditChain
from hub.dbtools import copy_sqlite_to_postgres
from hub.sqlitedb import Migration, to_db_time
from hub.store.abc import Store
from hub.store.postgres import PostgresStore
from hub.store.postgres.migrate import migrations as pg_migrations
from hub.store.records import WalkMark
from hub.store.sqlite import SqliteStore
from hub.store.sqlite import migrations as sqlite_migrations
from tests.contracts.store_contract import G22, H29, H41
from tests.store.older import pg_schema_at, sqlite_at
from tests.store.pg_fixtures import pg_dsn, pg_schema  # noqa: F401  (fixtures)

T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
DOCUMENT = (
    "INSERT INTO lc_documents (package_id, recipient, author, document_id, business_doc_type, "
    "state, sent_at, updated_at) VALUES ({p}, {p}, {p}, {p}, 0, 'none', {p}, {p})"
)
NOTIFIED = "INSERT INTO lc_notified (alarm_key, kind, notified_at) VALUES ({p}, {p}, {p})"


def _older(scripts: Sequence[Migration]) -> list[Migration]:
    return [m for m in scripts if m.version < 16]


def _rows(
    time: Callable[[datetime], object],
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Two documents G22 sent to H41 and H29, none answered; the first one's alarms were
    notified by the release."""
    documents: list[tuple[object, ...]] = [
        (f"p{i}", r, G22, f"{G22},doc/{i}", time(T0 + timedelta(minutes=i)), time(T0))
        for i in (1, 2)
        for r in (H41, H29)
    ]
    notified: list[tuple[object, ...]] = [
        (f"document_unanswered:p1:{r}", "document_unanswered", time(T0 + timedelta(days=2)))
        for r in (H41, H29)
    ]
    return documents, notified


async def _check(open_store: Callable[[], Store]) -> None:
    async with open_store() as store:
        assert store.schema_version >= 16  # type: ignore[attr-defined]
        lc = store.lifecycle()
        assert await lc.walk_mark("document_unanswered") is None
        rows = await lc.unanswered(T0 + timedelta(days=1))
        keys = [(f"document_unanswered:{r.package_id}:{r.recipient}", "x") for r in rows]
        mark = WalkMark("document_unanswered", "s", rows[-1].key)
        claimed = await lc.claim_notifications(keys, T0 + timedelta(days=3), walk=mark)
        assert sorted(claimed) == [f"document_unanswered:p2:{r}" for r in (H29, H41)]
    async with open_store() as store:
        assert await store.lifecycle().walk_mark("document_unanswered") == mark


async def test_sqlite_store_at_15_migrates(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite"
    documents, notified = _rows(to_db_time)
    sqlite_at(
        path,
        _older(sqlite_migrations()),
        [(DOCUMENT.format(p="?"), documents), (NOTIFIED.format(p="?"), notified)],
    )
    await _check(lambda: SqliteStore(path, chainer=AuditChain()))


async def test_postgres_store_at_15_migrates(
    pg_dsn: str,  # noqa: F811
    pg_schema: str,  # noqa: F811
) -> None:
    documents, notified = _rows(lambda t: t)
    await pg_schema_at(
        pg_dsn,
        pg_schema,
        _older(pg_migrations()),
        [(DOCUMENT.format(p="%s"), documents), (NOTIFIED.format(p="%s"), notified)],
    )
    await _check(
        lambda: PostgresStore(
            pg_dsn, schema=pg_schema, min_size=1, max_size=2, chainer=AuditChain()
        )
    )
    # The position's text columns compare bytewise, as lc_documents' do (the keyset the walk
    # reads in), whatever collation the database was created with.
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT column_name, collation_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'lc_walks' AND data_type = 'text'",
            (pg_schema,),
        )
        collations: dict[str, str] = {str(c): str(n) for c, n in await cur.fetchall()}
    assert collations["package_id"] == collations["recipient"] == "C"


async def test_hub_db_copy_carries_the_walk_with_its_claims(
    tmp_path: Path,
    pg_dsn: str,  # noqa: F811
    pg_schema: str,  # noqa: F811
) -> None:
    """``hub db copy`` takes the position from the snapshot its claims come from, so a hub on
    the copy goes on from there; a later walk on the source is carried by the next copy."""
    path = tmp_path / "hub.sqlite"
    first = WalkMark("document_unanswered", "s", (T0 + timedelta(microseconds=7), "p1", H41))
    later = WalkMark("document_unanswered", "s", (T0 + timedelta(hours=1), "p2", H29))
    async with SqliteStore(path, chainer=AuditChain()) as store:
        await store.lifecycle().claim_notifications([("k1", "document_unanswered")], T0, walk=first)
    report = await asyncio.to_thread(copy_sqlite_to_postgres, path, pg_dsn, pg_schema)
    assert report.tables.get("lc_walks") == 1

    def pg() -> PostgresStore:
        return PostgresStore(pg_dsn, schema=pg_schema, max_size=2, chainer=AuditChain())

    async with pg() as target:
        assert await target.lifecycle().walk_mark("document_unanswered") == first
    async with SqliteStore(path, chainer=AuditChain()) as store:
        await store.lifecycle().claim_notifications([("k2", "document_unanswered")], T0, walk=later)
    await asyncio.to_thread(copy_sqlite_to_postgres, path, pg_dsn, pg_schema)
    async with pg() as target:
        lc = target.lifecycle()
        assert await lc.walk_mark("document_unanswered") == later
        assert await lc.claim_notifications([("k1", "x"), ("k2", "x")], T0) == []
