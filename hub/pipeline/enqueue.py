"""Grouped enqueue: the queue entries of concurrent submissions are published together.

Every accepted package needs its queue entries confirmed by the broker and its deliveries
marked ``queued`` before the receipt goes out. Done one package at a time, those are two
durable writes per package on the hot path; grouped, concurrent submissions share them. There is
no timer: while one group is being published, the next one gathers, so an idle hub adds no
latency and a busy one batches naturally (the same idea as the store's group commit).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from hub.broker import Broker, QueueEntry
from hub.store import Store


class GroupEnqueuer:
    """``await enqueue(entries)`` returns once they are confirmed and marked queued."""

    def __init__(self, broker: Broker, store: Store, *, max_batch: int = 2048) -> None:
        self.broker = broker
        self.store = store
        self.max_batch = max_batch
        self._pending: list[tuple[Sequence[QueueEntry], asyncio.Future[None]]] = []
        self._lock = asyncio.Lock()
        self.batches = 0  # for tests and benchmarks

    async def enqueue(self, entries: Sequence[QueueEntry]) -> None:
        """Publish ``entries`` (with whatever else is waiting) and mark them queued.

        Raises whatever the broker or the store raised for the group this call was part of.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((entries, future))
        async with self._lock:
            if not future.done():
                await self._flush()
        await future

    async def _flush(self) -> None:
        batch: list[tuple[Sequence[QueueEntry], asyncio.Future[None]]] = []
        size = 0
        while self._pending and (not batch or size + len(self._pending[0][0]) <= self.max_batch):
            item = self._pending.pop(0)
            batch.append(item)
            size += len(item[0])
        flat = [entry for entries, _ in batch for entry in entries]
        try:
            await self.broker.publish(flat)
            await self.store.mark_queued([(e.package_id, e.recipient) for e in flat])
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            self.batches += 1
            for _, future in batch:
                if not future.done():
                    future.set_result(None)
