"""The outbox relay: pending push deliveries reach the broker after their commit, grouped,
and survive broker failures (retried, never dropped); stale rows are swept."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from hub.audit.chain import AuditChain
from hub.broker import QueueEntry
from hub.broker.memory import InMemoryBroker
from hub.errors import Unavailable
from hub.models import DeliveryState
from hub.pipeline.relay import OutboxRelay
from hub.store.abc import AcceptItem
from hub.store.sqlite import SqliteStore
from tests.contracts.store_contract import G22, H29, new_package


class FlakyBroker(InMemoryBroker):
    """Counts publishes; fails the next ``fail`` ones."""

    def __init__(self) -> None:
        super().__init__()
        self.publishes: list[int] = []
        self.fail = 0

    async def publish(self, entries: Sequence[QueueEntry]) -> None:
        await asyncio.sleep(0.01)  # a confirm takes time: others gather meanwhile
        if self.fail:
            self.fail -= 1
            raise Unavailable("broker down")
        self.publishes.append(len(entries))
        await super().publish(entries)


async def consumed(broker: InMemoryBroker, n: int) -> set[tuple[str, str]]:
    got: set[tuple[str, str]] = set()
    async for message in broker.consume():
        got.add((message.package_id, message.recipient))
        await message.ack()
        if len(got) == n:
            return got
    return got


async def test_push_deliveries_go_pending_to_queued_through_the_relay(tmp_path: Path) -> None:
    broker = FlakyBroker()
    async with SqliteStore(tmp_path / "s.sqlite", chainer=AuditChain()) as store, broker:
        pkgs = [new_package(recipients=(G22, H29)) for _ in range(20)]
        # G22 pulls (available at commit), H29 is pushed: its delivery is the outbox row.
        await store.accept([AcceptItem(package=p, available=frozenset({G22})) for p in pkgs])
        assert len(await store.pending_deliveries()) == 20
        async with OutboxRelay(broker, store) as relay:
            for p in pkgs:
                relay.submit([QueueEntry(H29, p.id)])
            await relay.drain()
        assert await store.pending_deliveries() == []
        for p in pkgs:
            pushed = await store.get_delivery(p.id, H29)
            pulled = await store.get_delivery(p.id, G22)
            assert pushed is not None and pushed.state == DeliveryState.QUEUED
            assert pulled is not None and pulled.state == DeliveryState.AVAILABLE
        assert sum(broker.publishes) == 20 and len(broker.publishes) < 20  # grouped
        assert await consumed(broker, 20) == {(p.id, H29) for p in pkgs}


async def test_relay_retries_after_broker_failure_without_losing_entries(tmp_path: Path) -> None:
    broker = FlakyBroker()
    broker.fail = 3
    async with SqliteStore(tmp_path / "s.sqlite", chainer=AuditChain()) as store, broker:
        pkgs = [new_package(recipients=(H29,)) for _ in range(5)]
        await store.accept([AcceptItem(package=p) for p in pkgs])
        relay = OutboxRelay(broker, store, retry_delays=(0.01,))
        async with relay:
            relay.submit([QueueEntry(H29, p.id) for p in pkgs])
            await relay.drain()
        assert relay.failures == 3
        assert broker.publishes == [5]
        assert await store.pending_deliveries() == []
        assert await consumed(broker, 5) == {(p.id, H29) for p in pkgs}


async def test_sweep_takes_stale_pending_rows_only(tmp_path: Path) -> None:
    broker = FlakyBroker()
    async with SqliteStore(tmp_path / "s.sqlite", chainer=AuditChain()) as store, broker:
        pkg = new_package(recipients=(H29,))
        await store.accept([AcceptItem(package=pkg)])
        # The relay's clock starts at the row's own commit stamp, not at a reading taken before
        # the store opened: how long opening and accepting took must not age the row.
        row = await store.get_delivery(pkg.id, H29)
        assert row is not None and row.state == DeliveryState.PENDING
        now = row.updated_at
        clock = [now]
        relay = OutboxRelay(broker, store, min_age=timedelta(seconds=10), clock=lambda: clock[0])
        async with relay:
            assert await relay.sweep() == 0  # just committed: its own relay may hold it
            clock[0] = now + timedelta(seconds=11)
            assert await relay.sweep() == 1  # left behind (a crashed process's outbox row)
            await relay.drain()
        delivery = await store.get_delivery(pkg.id, H29)
        assert delivery is not None and delivery.state == DeliveryState.QUEUED


async def test_republish_pending_publishes_everything_left(tmp_path: Path) -> None:
    broker = FlakyBroker()
    async with SqliteStore(tmp_path / "s.sqlite", chainer=AuditChain()) as store, broker:
        pkgs = [new_package(recipients=(G22, H29)) for _ in range(7)]
        await store.accept([AcceptItem(package=p) for p in pkgs])
        relay = OutboxRelay(broker, store, max_batch=5)
        assert await relay.republish_pending() == 14
        assert max(broker.publishes) <= 5
        assert await store.pending_deliveries() == []


class StuckBroker(InMemoryBroker):
    """Its first publish never confirms, and once cancelled takes until ``release`` to unwind
    (an aio-pika channel closing); later publishes return at once."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.publishing = asyncio.Event()
        self.unwinding = asyncio.Event()
        self.release = asyncio.Event()

    async def publish(self, entries: Sequence[QueueEntry]) -> None:
        self.calls += 1
        if self.calls > 1:
            return
        self.publishing.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.unwinding.set()
            await self.release.wait()
            raise


async def test_stop_does_not_absorb_the_callers_cancellation(tmp_path: Path) -> None:
    """A shutdown cancelled (or timed out) while the relay task unwinds stops there: it does
    not go on to the final flush as if nothing had happened."""
    broker = StuckBroker()
    async with SqliteStore(tmp_path / "s.sqlite", chainer=AuditChain()) as store, broker:
        relay = OutboxRelay(broker, store)
        relay.start()
        relay_task = relay._task
        assert relay_task is not None
        relay.submit([QueueEntry(H29, "pkg-1")])
        async with asyncio.timeout(10):
            await broker.publishing.wait()
        stopping = asyncio.create_task(relay.stop())
        async with asyncio.timeout(10):
            await broker.unwinding.wait()
        stopping.cancel()
        await asyncio.wait({stopping})
        assert stopping.cancelled()
        assert broker.calls == 1  # no flush after the cancellation
        broker.release.set()
        await asyncio.wait({relay_task})
