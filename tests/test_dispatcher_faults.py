"""The dispatcher survives the hub's own faults: a delivery that fails unexpectedly is put
back in the queue (same attempt), and its prefetch slot is free for the next one."""

from __future__ import annotations

import asyncio

from hub.audit.chain import AuditChain
from hub.broker import QueueEntry, QueueMessage
from hub.broker.memory import InMemoryBroker, ManualClock
from hub.config import DeliverySettings
from hub.delivery import Dispatcher
from hub.errors import Unavailable
from hub.models import DeliveryState
from hub.registry import Registry
from hub.store.memory import MemoryStore
from hub.store.records import DeliveryRecord
from hub.store.settling import GroupSettler
from tests.contracts.store_contract import G22, new_package
from tests.polling import until

RETRY_DELAY = 60.0


class RecordingDispatcher(Dispatcher):
    """Notes every hand-out it is given: (package id, attempt)."""

    seen: list[tuple[str, int]]

    async def handle(self, message: QueueMessage) -> None:
        self.seen.append((message.package_id, message.attempt))
        await super().handle(message)


async def test_unexpected_failures_neither_stop_deliveries_nor_count_as_attempts() -> None:
    settings = DeliverySettings(concurrency=16, retry_delays=(RETRY_DELAY,), max_attempts=2)
    failures = 20  # more than the dispatcher's prefetch
    clock = ManualClock()
    async with (
        MemoryStore(chainer=AuditChain()) as store,
        InMemoryBroker(now=clock, retry_delays=(RETRY_DELAY,), lease_seconds=3600.0) as broker,
        GroupSettler(store) as settler,
    ):
        pkgs = [new_package(recipients=(G22,)) for _ in range(failures + 1)]
        await store.add_packages(pkgs)
        await store.mark_queued([(p.id, G22) for p in pkgs])

        # A database blip: every read of a delivery fails while it lasts.
        get_delivery = store.get_delivery
        blip = {"on": True, "failed": 0}

        async def flaky(package_id: str, recipient: str) -> DeliveryRecord | None:
            if blip["on"]:
                blip["failed"] += 1
                raise Unavailable("the database is failing over")
            return await get_delivery(package_id, recipient)

        store.get_delivery = flaky  # type: ignore[method-assign]
        dispatcher = RecordingDispatcher(
            store=store, broker=broker, registry=Registry({}), settings=settings, settler=settler
        )
        dispatcher.seen = []
        async with dispatcher:
            await broker.publish([QueueEntry(G22, p.id) for p in pkgs[:failures]])
            # Every one of them fails, not only the first ``concurrency``.
            await until(lambda: blip["failed"] == failures)
            blip["on"] = False
            # Later work is still delivered, without waiting for any lease.
            await broker.publish([QueueEntry(G22, pkgs[-1].id)])

            async def states() -> list[DeliveryState]:
                records = [await store.get_delivery(p.id, G22) for p in pkgs]
                return [r.state for r in records if r is not None]

            async with asyncio.timeout(10):
                while (await states())[-1] is not DeliveryState.AVAILABLE:
                    await asyncio.sleep(0.01)
            # The failed ones were put back, not lost: they come at their retry tier...
            clock.advance(RETRY_DELAY)
            broker.wake()
            async with asyncio.timeout(10):
                while await states() != [DeliveryState.AVAILABLE] * len(pkgs):
                    await asyncio.sleep(0.01)
        # ...with their attempt unchanged: the hub's fault does not count toward max_attempts.
        assert sorted(dispatcher.seen) == sorted(
            [(p.id, 1) for p in pkgs[:failures]] * 2 + [(pkgs[-1].id, 1)]
        )
        assert broker.dead_letters == ()
