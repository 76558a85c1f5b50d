"""LocalBroker: the broker contract, plus SQLite specifics (shared file, separate file)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.audit.chain import AuditChain
from hub.broker.abc import Broker, QueueEntry
from hub.broker.local import LocalBroker
from hub.broker.memory import ManualClock
from hub.errors import Unavailable
from hub.store.sqlite import SqliteStore
from tests.contracts.broker_contract import (
    G22,
    Advance,
    BrokerContract,
    Collector,
    Parked,
    entries,
)
from tests.contracts.store_contract import new_package


def make_local(path: Path, **kwargs: object) -> LocalBroker:
    options: dict[str, object] = {
        "retry_delays": BrokerContract.RETRY_DELAYS,
        "lease_seconds": BrokerContract.LEASE_SECONDS,
        "poll_interval": 0.02,
        "jitter": 0.0,
    }
    options.update(kwargs)
    return LocalBroker(path, **options)  # type: ignore[arg-type]


class TestLocalBroker(BrokerContract):
    """On a manual clock shared by every instance (as processes share the wall clock): retry
    tiers and leases pass only when the test says so, never because the machine was slow."""

    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock()

    @pytest.fixture
    def made(self) -> list[LocalBroker]:
        return []

    @pytest.fixture
    def broker_factory(
        self, tmp_path: Path, clock: ManualClock, made: list[LocalBroker]
    ) -> Callable[[], Broker]:
        def make() -> Broker:
            broker = make_local(tmp_path / "hub.db", clock=clock)
            made.append(broker)
            return broker

        return make

    @pytest.fixture
    def parked(self, tmp_path: Path) -> Parked:
        async def _parked(recipient: str) -> list[tuple[str, int, str]]:
            with sqlite3.connect(tmp_path / "hub.db") as conn:
                rows = conn.execute(
                    "SELECT package_id, attempt, reason FROM broker_dead WHERE recipient = ? "
                    "ORDER BY id",
                    (recipient,),
                ).fetchall()
            return [(str(p), int(a), str(r)) for p, a, r in rows]

        return _parked

    @pytest.fixture
    def advance(self, clock: ManualClock, made: list[LocalBroker]) -> Advance:
        async def _advance(seconds: float) -> None:
            clock.advance(seconds)
            for broker in made:
                broker._wake_all()  # consumers recompute what is due at once, not next poll
            await asyncio.sleep(0)

        return _advance


async def test_two_instances_on_one_file_deliver_each_entry_once(tmp_path: Path) -> None:
    """As two worker processes sharing the file would: 500 entries, each delivered once."""
    path = tmp_path / "hub.db"
    async with make_local(path) as one, make_local(path) as two:
        await one.publish(entries(250, G22, "a"))
        await two.publish(entries(250, G22, "b"))
        seen: list[str] = []

        async def work(broker: Broker) -> None:
            async def run() -> None:
                async for message in broker.consume(prefetch=16):
                    seen.append(message.package_id)
                    await message.ack()

            task = asyncio.create_task(run())
            while len(seen) < 500:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)  # a duplicate would show up now
            task.cancel()

        await asyncio.wait_for(asyncio.gather(work(one), work(two)), 20)
    expected = sorted(e.package_id for e in [*entries(250, G22, "a"), *entries(250, G22, "b")])
    assert sorted(seen) == expected
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM broker_queue").fetchone()[0] == 0


async def test_shares_the_store_file(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    async with SqliteStore(path, chainer=AuditChain()) as store, make_local(path) as broker:
        pkg = new_package()
        await store.add_packages([pkg])
        await broker.publish([QueueEntry(G22, pkg.id)])
        await store.mark_queued([(pkg.id, G22)])
        collector = Collector(broker)
        message = await collector.get()
        assert message.package_id == pkg.id
        await message.ack()
        await collector.stop()
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"packages", "broker_queue", "broker_dead", "broker_schema_version"} <= tables


async def test_works_in_a_separate_file(tmp_path: Path) -> None:
    async with make_local(tmp_path / "queue.db") as broker:
        await broker.publish(entries(1))
        collector = Collector(broker)
        await (await collector.get()).dead_letter("gone")
        await collector.stop()
    with sqlite3.connect(tmp_path / "queue.db") as conn:
        row = conn.execute(
            "SELECT recipient, package_id, attempt, reason FROM broker_dead"
        ).fetchone()
        assert row == (G22, "pkg-0000", 1, "gone")


async def test_retry_jitter_stays_within_bounds(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    async with make_local(path, retry_delays=(100.0,), jitter=0.1) as broker:
        await broker.publish(entries(20))
        collector = Collector(broker, prefetch=20)
        for message in await collector.get_many(20):
            await message.retry("later")
        await collector.stop()
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT available_at - published_at, attempt, last_reason FROM broker_queue"
        ).fetchall()
    delays = [r[0] for r in rows]
    assert all(89.0 < d < 111.0 for d in delays)
    assert len({round(d, 3) for d in delays}) > 1  # jittered, not all equal
    assert {(r[1], r[2]) for r in rows} == {(2, "later")}


async def test_read_only_file_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    async with make_local(path, busy_timeout_ms=50) as broker:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            with pytest.raises(Unavailable):
                await broker.publish(entries(1))
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        await broker.publish(entries(1))
