"""The outbox relay: deliveries that need a worker reach the broker after their commit.

A push delivery is written ``pending`` in the package's accept transaction — the transactional
outbox: durable with the package, so the receipt may go out at commit. The relay then
publishes the outbox rows to the broker and marks them ``queued``, grouped: whatever was
submitted while the previous group was being published goes in the next one (one publish,
one ``mark_queued`` transaction). If the broker (or the store) fails, the entries stay in the
relay and are tried again after a growing delay; nothing is dropped. Rows a crashed process
left ``pending`` are published again at start-up (:meth:`OutboxRelay.republish_pending`) and
by a periodic :meth:`OutboxRelay.sweep` (rows older than ``min_age`` that this process is
not already relaying). A row published twice (a crash between the broker's confirm and the
``queued`` mark, or a sweep racing another process) is harmless: consumers are idempotent by
(package, recipient).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType

from hub.aio import cancel_and_wait
from hub.broker import Broker, QueueEntry
from hub.store import Store

log = logging.getLogger("hub.relay")

RETRY_DELAYS: tuple[float, ...] = (0.1, 0.5, 1.0, 2.0, 5.0)
"""Seconds before the next attempt after 1, 2, … failures in a row (the last repeats)."""


class OutboxRelay:
    """Publishes ``pending`` deliveries to the broker and marks them ``queued``."""

    def __init__(
        self,
        broker: Broker,
        store: Store,
        *,
        max_batch: int = 2048,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        min_age: timedelta = timedelta(seconds=10),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.broker = broker
        self.store = store
        self.max_batch = max_batch
        self.retry_delays = tuple(retry_delays) or (1.0,)
        self.min_age = min_age
        self.clock = clock
        self._queue: dict[tuple[str, str], QueueEntry] = {}  # insertion-ordered, no duplicates
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        #: for tests, metrics and benchmarks
        self.published = 0
        self.groups = 0
        self.failures = 0

    async def __aenter__(self) -> OutboxRelay:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def start(self) -> None:
        """Start the background publisher (done by ``async with``)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="hub-relay")

    async def stop(self, flush_timeout: float = 5.0) -> None:
        """Stop, after one last attempt (bounded by ``flush_timeout``) to publish what is
        held; what is still not published stays ``pending`` in the store (re-published at
        the next start-up or by another process's sweep)."""
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        if self._queue:
            try:
                async with asyncio.timeout(flush_timeout):
                    await self.publish(list(self._queue.values()))
                self._queue.clear()
            except Exception as exc:  # TimeoutError included
                log.warning("%d queue entries stay pending at shutdown: %s", len(self._queue), exc)

    def submit(self, entries: Sequence[QueueEntry]) -> None:
        """Relay ``entries`` (their deliveries are committed ``pending``); returns at once."""
        for e in entries:
            self._queue.setdefault((e.package_id, e.recipient), e)
        if self._queue:
            self._idle.clear()
            self._wakeup.set()

    def relaying(self, package_id: str, recipient: str) -> bool:
        """Whether this relay holds the entry (submitted, not yet published)."""
        return (package_id, recipient) in self._queue

    async def drain(self) -> None:
        """Return once everything submitted so far is published and marked (tests, bench)."""
        await self._idle.wait()

    async def publish(self, entries: Sequence[QueueEntry]) -> None:
        """Publish and mark ``entries`` now, raising what the broker or the store raised."""
        for start in range(0, len(entries), self.max_batch):
            chunk = entries[start : start + self.max_batch]
            await self.broker.publish(chunk)
            await self.store.mark_queued([(e.package_id, e.recipient) for e in chunk])
            self.published += len(chunk)
            self.groups += 1

    async def _run(self) -> None:
        failures = 0
        while True:
            if not self._queue:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = list(self._queue.values())[: self.max_batch]
            try:
                await self.publish(batch)
            except Exception as exc:
                self.failures += 1
                delay = self.retry_delays[min(failures, len(self.retry_delays) - 1)]
                failures += 1
                log.warning(
                    "relaying %d queue entries failed (%s); retrying in %.1f s",
                    len(batch),
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            failures = 0
            for e in batch:
                self._queue.pop((e.package_id, e.recipient), None)

    async def republish_pending(self) -> int:
        """Publish every ``pending`` delivery now (start-up: what a crash left between commit
        and broker confirm); returns how many. Raises what the broker or store raised."""
        total = 0
        while True:
            pending = await self.store.pending_deliveries(limit=self.max_batch)
            if not pending:
                return total
            await self.publish([QueueEntry(d.recipient, d.package_id) for d in pending])
            total += len(pending)

    async def sweep(self) -> int:
        """Hand the relay the ``pending`` rows older than ``min_age`` that it does not hold
        (left by a crashed process, or by one whose relay gave up at shutdown); returns how
        many."""
        cutoff = self.clock() - self.min_age
        pending = await self.store.pending_deliveries(limit=self.max_batch)
        stale = [
            QueueEntry(d.recipient, d.package_id)
            for d in pending
            if d.updated_at <= cutoff and not self.relaying(d.package_id, d.recipient)
        ]
        self.submit(stale)
        return len(stale)
