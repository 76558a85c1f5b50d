"""Grouped enqueue: concurrent submissions share publishes; failures reach every caller."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from hub.audit.chain import AuditChain
from hub.broker import QueueEntry
from hub.broker.memory import InMemoryBroker
from hub.errors import Unavailable
from hub.pipeline.enqueue import GroupEnqueuer
from hub.store.sqlite import SqliteStore


class CountingBroker(InMemoryBroker):
    def __init__(self) -> None:
        super().__init__()
        self.publishes: list[int] = []
        self.fail = False

    async def publish(self, entries: Sequence[QueueEntry]) -> None:
        await asyncio.sleep(0.01)  # a confirm takes time: others gather meanwhile
        if self.fail:
            raise Unavailable("broker down")
        self.publishes.append(len(entries))
        await super().publish(entries)


async def test_concurrent_enqueues_are_grouped_and_all_delivered(tmp_path: Path) -> None:
    broker = CountingBroker()
    async with SqliteStore(tmp_path / "s.sqlite", chainer=AuditChain()) as store, broker:
        enqueuer = GroupEnqueuer(broker, store)
        await asyncio.gather(
            *(enqueuer.enqueue([QueueEntry("000.00.00.H41", f"p{i}")]) for i in range(50))
        )
        assert sum(broker.publishes) == 50
        assert len(broker.publishes) < 50  # grouped
        got = set()
        async for message in broker.consume():
            got.add(message.package_id)
            await message.ack()
            if len(got) == 50:
                break
        assert got == {f"p{i}" for i in range(50)}


async def test_a_failed_group_fails_every_caller(tmp_path: Path) -> None:
    broker = CountingBroker()
    broker.fail = True
    async with SqliteStore(tmp_path / "s.sqlite", chainer=AuditChain()) as store, broker:
        enqueuer = GroupEnqueuer(broker, store)
        results = await asyncio.gather(
            *(enqueuer.enqueue([QueueEntry("000.00.00.H41", f"p{i}")]) for i in range(5)),
            return_exceptions=True,
        )
        assert all(isinstance(r, Unavailable) for r in results)
        broker.fail = False
        await enqueuer.enqueue([QueueEntry("000.00.00.H41", "later")])  # recovers
        assert broker.publishes == [1]


async def test_max_batch_is_respected(tmp_path: Path) -> None:
    broker = CountingBroker()
    async with SqliteStore(tmp_path / "s.sqlite", chainer=AuditChain()) as store, broker:
        enqueuer = GroupEnqueuer(broker, store, max_batch=3)
        await asyncio.gather(
            *(enqueuer.enqueue([QueueEntry("000.00.00.H41", f"p{i}")]) for i in range(10))
        )
        assert sum(broker.publishes) == 10
        assert max(broker.publishes) <= 3
