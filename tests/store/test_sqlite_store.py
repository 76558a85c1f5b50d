"""SqliteStore: the store contract, plus what is specific to SQLite."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from hub.audit.chain import AuditChain
from hub.errors import Unavailable
from hub.models import NewPackage
from hub.sqlitedb import split_statements
from hub.store.abc import AcceptItem, AddOutcome, Store
from hub.store.batching import GroupCommitter
from hub.store.cursors import decode_cursor, encode_cursor
from hub.store.sql.packages import inbox_sql
from hub.store.sql.settle import inbox_packages_sql
from hub.store.sqlite import SqliteStore
from hub.store.sqlite import migrations as sqlite_migrations
from hub.store.sqlite.dialect import SQLITE
from tests.contracts.store_contract import G22, H41, StoreContract, new_package


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Callable[[], Store]:
        return lambda: SqliteStore(tmp_path / "hub.db", busy_timeout_ms=5000, chainer=AuditChain())


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "hub.db", chainer=AuditChain())
    await store.open()
    yield store  # type: ignore[misc]
    await store.close()


def pragma(path: Path, name: str) -> object:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]


async def test_wal_mode_and_schema_version(sqlite_store: SqliteStore) -> None:
    assert pragma(sqlite_store.path, "journal_mode") == "wal"
    assert sqlite_store.schema_version >= 1
    with sqlite3.connect(sqlite_store.path) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version")]
        # Every migration file's number (features land in any order: numbers may have gaps).
        assert sorted(versions) == [m.version for m in sqlite_migrations()]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"packages", "package_blobs", "deliveries", "events", "agency_overrides"} <= tables


async def test_migrations_idempotent_on_reopen(tmp_path: Path) -> None:
    for _ in range(3):
        async with SqliteStore(tmp_path / "hub.db", chainer=AuditChain()) as store:
            await store.add_packages([new_package()])
    with sqlite3.connect(tmp_path / "hub.db") as conn:
        # one row per migration file, however often the store was opened
        expected = len(sqlite_migrations())
        assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == expected
        assert conn.execute("SELECT COUNT(*) FROM packages").fetchone()[0] == 3


async def test_concurrent_first_open_migrates_once(tmp_path: Path) -> None:
    stores = [SqliteStore(tmp_path / "hub.db", chainer=AuditChain()) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        with sqlite3.connect(tmp_path / "hub.db") as conn:
            expected = len(sqlite_migrations())  # each applied exactly once
            assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == expected
    finally:
        for s in stores:
            await s.close()


async def test_listing_queries_use_indexes(sqlite_store: SqliteStore) -> None:
    """Guard against a silent full scan on the hot listings."""
    with sqlite3.connect(sqlite_store.path) as conn:

        def plan(sql: str, *args: object) -> str:
            return " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, args))

        inbox = plan(inbox_sql(SQLITE, include_acked=False), G22, 0, 10)
        assert "deliveries_open_inbox" in inbox and "TEMP B-TREE" not in inbox
        inbox = plan(inbox_sql(SQLITE, include_acked=True), G22, 0, 10)
        assert "deliveries_all_by_recipient" in inbox and "TEMP B-TREE" not in inbox
        # the batch fetch seeks to its cursor's position in the same index (the sorts are of
        # the at most ``limit`` rows taken, never of the recipient's backlog)
        batch = plan(inbox_packages_sql(SQLITE), G22, 5, 10, G22, 1 << 20)
        assert "deliveries_open_inbox (recipient=? AND seq>?)" in batch
        outbox = plan("SELECT * FROM packages WHERE sender = ? AND seq > 0 ORDER BY seq", G22)
        assert "packages_outbox" in outbox
        pending = plan("SELECT * FROM deliveries WHERE state = 'pending' ORDER BY seq")
        # Either the store's partial index or the dashboard's (state, seq) index serves it;
        # what matters is an index search in order, never a scan or a sort.
        assert pending.startswith("SEARCH deliveries USING INDEX") and "TEMP B-TREE" not in pending


async def test_naive_datetime_refused(sqlite_store: SqliteStore) -> None:
    from datetime import datetime

    pkg = new_package(accepted_at=datetime(2026, 1, 1, 8, 0))
    with pytest.raises(ValueError, match="naive"):
        await sqlite_store.add_packages([pkg])


async def test_closed_store_is_unavailable(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hub.db", chainer=AuditChain())
    await store.open()
    await store.close()
    with pytest.raises(Unavailable):
        await store.ping()
    with pytest.raises(Unavailable):
        await store.add_packages([new_package()])


async def test_locked_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    async with SqliteStore(path, busy_timeout_ms=50, chainer=AuditChain()) as store:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            with pytest.raises(Unavailable):
                await store.add_packages([new_package()])
            assert await store.count_packages() == 0  # reads still work under WAL
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        await store.add_packages([new_package()])
        assert await store.count_packages() == 1


async def test_chained_events_take_the_seqs_autoincrement_would(tmp_path: Path) -> None:
    """Event rows are written with their seq (the hash covers it): one past the highest ever
    used, as ``AUTOINCREMENT`` assigns, consecutive within a transaction; each row's hash and
    the chain's head are what the audit chain computes for it."""
    path = tmp_path / "hub.db"
    chain = AuditChain()
    async with SqliteStore(path, chainer=chain) as store:
        await store.accept([AcceptItem(new_package(recipients=(G22, H41)), frozenset({G22, H41}))])
        # A row written around the hub and removed again: AUTOINCREMENT never reuses its seq.
        with sqlite3.connect(path, isolation_level=None) as raw:
            raw.execute("INSERT INTO events (kind, at) VALUES ('x', '2026-01-01')")
            raw.execute("DELETE FROM events WHERE kind = 'x'")
        await store.accept([AcceptItem(new_package(recipients=(G22,)), frozenset({G22}))])
        events = await store.audit().all_events()
        heads = await store.audit().heads()
    seqs = [e.seq for e in events]
    assert seqs == [1, 2, 3, 5, 6]  # accepted + 2 available, then accepted + 1 available
    assert [e.chain_seq for e in events] == [1, 2, 3, 4, 5]
    for before, event in zip([None, *events], events, strict=False):
        assert event.prev_hash == (chain.genesis if before is None else before.hash)
        assert event.hash == chain.seal(replace(event, hash=None)).hash
    (head,) = heads
    assert (head.head_seq, head.head_hash) == (5, events[-1].hash)
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone() == (
            6,
        )


def test_cursor_roundtrip() -> None:
    for seq in (0, 1, 99, 2**40):
        assert decode_cursor(encode_cursor(seq)) == seq
    assert decode_cursor(None) == 0
    for bad in ("!!", "czEy=x", encode_cursor(5)[:-1] + "*"):
        with pytest.raises(ValueError):
            decode_cursor(bad)


def test_split_statements_keeps_triggers_whole() -> None:
    script = """
    -- comment
    CREATE TABLE a (x TEXT DEFAULT ';');
    CREATE TRIGGER t AFTER INSERT ON a BEGIN
        INSERT INTO a VALUES ('y;');
    END;
    """
    statements = split_statements(script)
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")


# -- group commit -------------------------------------------------------------------------------


class CountingStore(SqliteStore):
    """Counts add_packages transactions; can be told to fail."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, chainer=AuditChain())
        self.batches: list[int] = []
        self.fail_next = False

    async def add_packages(self, packages: Sequence[NewPackage]) -> list[AddOutcome]:
        self.batches.append(len(packages))
        if self.fail_next:
            self.fail_next = False
            raise Unavailable("disk full (simulated)")
        return await super().add_packages(packages)


async def test_group_commit_groups_concurrent_adds(tmp_path: Path) -> None:
    async with CountingStore(tmp_path / "hub.db") as store:
        assert isinstance(store, CountingStore)
        async with GroupCommitter(store, max_batch=64, max_delay=0.002) as committer:
            pkgs = [new_package() for _ in range(200)]
            await asyncio.gather(*(committer.add(p) for p in pkgs))
            assert committer.stats.packages == 200
        assert sum(store.batches) == 200
        assert len(store.batches) < 20  # 200 concurrent adds, at most 64 per transaction
        assert max(store.batches) <= 64
        assert await store.count_packages() == 200
        # Returned means committed: visible through another connection.
        async with SqliteStore(tmp_path / "hub.db", chainer=AuditChain()) as other:
            assert await other.count_packages() == 200


async def test_group_commit_single_add_is_prompt(tmp_path: Path) -> None:
    async with (
        SqliteStore(tmp_path / "hub.db", chainer=AuditChain()) as store,
        GroupCommitter(store, max_delay=0.002) as committer,
    ):
        loop = asyncio.get_running_loop()
        start = loop.time()
        pkg = new_package()
        await committer.add(pkg)
        assert loop.time() - start < 0.5
        assert await store.get_package(pkg.id) is not None


async def test_group_commit_failure_reaches_every_caller(tmp_path: Path) -> None:
    async with CountingStore(tmp_path / "hub.db") as store:
        assert isinstance(store, CountingStore)
        async with GroupCommitter(store, max_batch=256, max_delay=0.01) as committer:
            store.fail_next = True
            pkgs = [new_package() for _ in range(10)]
            results = await asyncio.gather(
                *(committer.add(p) for p in pkgs), return_exceptions=True
            )
            assert store.batches[0] == 10  # one batch…
            assert all(isinstance(r, Unavailable) for r in results)  # …every caller told
            assert await store.count_packages() == 0  # nothing half-accepted
            await committer.add(pkgs[0])  # the committer keeps working afterwards
            assert await store.count_packages() == 1


async def test_group_commit_duplicate_in_batch_is_not_an_error(tmp_path: Path) -> None:
    async with (
        SqliteStore(tmp_path / "hub.db", chainer=AuditChain()) as store,
        GroupCommitter(store) as committer,
    ):
        pkg = new_package()
        twin = new_package(data=pkg.data)
        await asyncio.gather(committer.add(pkg), committer.add(twin))
        assert await store.count_packages() == 1


async def test_group_commit_closed_refuses(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "hub.db", chainer=AuditChain()) as store:
        committer = GroupCommitter(store)
        async with committer:
            pass
        with pytest.raises(Unavailable):
            await committer.add(new_package())


async def test_group_commit_cancelled_committer_fails_waiting_callers(tmp_path: Path) -> None:
    class SlowStore(SqliteStore):
        async def add_packages(self, packages: Sequence[NewPackage]) -> None:
            await asyncio.sleep(10)

    async with SlowStore(tmp_path / "hub.db", chainer=AuditChain()) as store:
        committer = GroupCommitter(store)
        committer.start()
        adds = [asyncio.create_task(committer.add(new_package())) for _ in range(3)]
        await asyncio.sleep(0.05)  # the first batch is in its (slow) commit
        adds.append(asyncio.create_task(committer.add(new_package())))  # still queued
        await asyncio.sleep(0)
        assert committer._task is not None
        committer._task.cancel()
        results = await asyncio.wait_for(asyncio.gather(*adds, return_exceptions=True), 2)
        assert all(isinstance(r, Unavailable) for r in results)
