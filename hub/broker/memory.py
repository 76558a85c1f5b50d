"""An in-memory :class:`~hub.broker.abc.Broker` for tests, shipped beside the real ones.

Same semantics as :class:`hub.broker.local.LocalBroker` (and it passes the same contract suite),
built on asyncio primitives, with an injectable clock so that tests of the dispatcher can make
leases expire and retry delays pass without sleeping::

    clock = ManualClock()
    broker = InMemoryBroker(now=clock, retry_delays=(10.0,))
    ...
    clock.advance(10.0)
    broker.wake()  # consumers re-check at once instead of at their next poll

:meth:`InMemoryBroker.sibling` gives a second broker over the same queue, as a second process
connected to the same RabbitMQ or SQLite file would be. Nothing is durable: a "publish" is
confirmed when it returns.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass

from hub.aio import wait_event
from hub.broker.abc import Broker, QueueEntry, QueueMessage
from hub.errors import Unavailable


class ManualClock:
    """A clock that only moves when told to; pass it as ``now=``."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        """Move the clock forward (then call :meth:`InMemoryBroker.wake`)."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self.value += seconds


@dataclass(slots=True)
class _Entry:
    id: int
    recipient: str
    package_id: str
    attempt: int
    available_at: float
    lease_until: float | None = None
    token: str | None = None
    redelivered: bool = False
    last_reason: str | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead-lettered entry, kept for inspection in tests."""

    recipient: str
    package_id: str
    attempt: int
    reason: str
    at: float


class MemoryQueue:
    """The state shared by an :class:`InMemoryBroker` and its siblings."""

    def __init__(self) -> None:
        self.entries: dict[int, _Entry] = {}  # insertion-ordered: publish order
        self.dead: list[DeadLetter] = []
        self.ids = itertools.count(1)
        self.wakeups: set[asyncio.Event] = set()

    def wake_all(self) -> None:
        """Wake every consumer of every broker on this queue."""
        for event in self.wakeups:
            event.set()


class _MemoryMessage(QueueMessage):
    def __init__(
        self, broker: InMemoryBroker, consumer: _Consumer, entry: _Entry, token: str
    ) -> None:
        self.recipient = entry.recipient
        self.package_id = entry.package_id
        self.attempt = entry.attempt
        self.redelivered = entry.redelivered
        self._broker = broker
        self._consumer = consumer
        self._id = entry.id
        self._token = token
        self._settled = False

    def __repr__(self) -> str:
        return (
            f"<MemoryMessage {self.recipient}/{self.package_id} attempt={self.attempt} "
            f"redelivered={self.redelivered}>"
        )

    def _take(self) -> _Entry | None:
        """Mark settled; the entry if this claim still holds it."""
        if self._settled:
            raise RuntimeError(f"{self!r} is already settled")
        self._settled = True
        self._consumer.settled(self._id, self._token)
        entry = self._broker._queue.entries.get(self._id)
        if entry is None or entry.token != self._token:
            return None  # lease lost to another consumer: leave its claim alone
        return entry

    async def ack(self) -> None:
        """Done: remove the entry."""
        entry = self._take()
        if entry is not None:
            del self._broker._queue.entries[entry.id]

    async def retry(self, reason: str, *, same_attempt: bool = False) -> None:
        """Re-queue after this attempt's delay tier, with ``attempt + 1`` (or the same)."""
        entry = self._take()
        if entry is not None:
            entry.available_at = self._broker._clock() + self._broker._delay(entry.attempt)
            if not same_attempt:
                entry.attempt += 1
            entry.lease_until = None
            entry.token = None
            entry.redelivered = False
            entry.last_reason = reason
            self._broker._queue.wake_all()

    async def dead_letter(self, reason: str) -> None:
        """Park the entry in :attr:`InMemoryBroker.dead_letters`."""
        entry = self._take()
        if entry is not None:
            del self._broker._queue.entries[entry.id]
            self._broker._queue.dead.append(
                DeadLetter(
                    entry.recipient, entry.package_id, entry.attempt, reason, self._broker._clock()
                )
            )


class _Consumer:
    def __init__(self) -> None:
        #: (entry id, claim token) -> lease end. Keyed by claim: the same entry claimed
        #: again after its lease ran out is another slot, which a late settle of the old
        #: claim must not free.
        self.unsettled: dict[tuple[int, str], float] = {}
        self.wakeup = asyncio.Event()

    def settled(self, entry_id: int, token: str) -> None:
        self.unsettled.pop((entry_id, token), None)
        self.wakeup.set()

    def expire(self, now: float) -> None:
        """Free the slots whose lease has run out: the entry is back in the queue, and a
        handler that never settles it (it failed unexpectedly) must not hold the slot for
        good — after ``prefetch`` of those the consumer would take nothing more."""
        for key in [k for k, until in self.unsettled.items() if until <= now]:
            del self.unsettled[key]


class InMemoryBroker(Broker):
    """In-memory broker with leases, delayed retries and dead letters on an injectable clock."""

    def __init__(
        self,
        *,
        retry_delays: Sequence[float] = (1.0, 5.0, 30.0, 120.0, 600.0),
        lease_seconds: float = 30.0,
        poll_interval: float = 0.05,
        jitter: float = 0.0,
        now: Callable[[], float] = time.monotonic,
        queue: MemoryQueue | None = None,
    ) -> None:
        if not retry_delays:
            raise ValueError("retry_delays must not be empty")
        self.retry_delays = tuple(retry_delays)
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.jitter = jitter
        self._clock = now
        self._queue = queue if queue is not None else MemoryQueue()
        self._instance = uuid.uuid4().hex
        self._claims = itertools.count(1)
        self._consumers: set[_Consumer] = set()
        self._open = False
        self._closed = False

    def sibling(self) -> InMemoryBroker:
        """Another broker over the same queue and clock (like a second process)."""
        return InMemoryBroker(
            retry_delays=self.retry_delays,
            lease_seconds=self.lease_seconds,
            poll_interval=self.poll_interval,
            jitter=self.jitter,
            now=self._clock,
            queue=self._queue,
        )

    @property
    def dead_letters(self) -> tuple[DeadLetter, ...]:
        """Every dead-lettered entry so far (shared with siblings)."""
        return tuple(self._queue.dead)

    def wake(self) -> None:
        """Make every consumer on the queue re-check now (after moving a manual clock)."""
        self._queue.wake_all()

    def _delay(self, attempt: int) -> float:
        delay = self.retry_delays[min(max(attempt, 1) - 1, len(self.retry_delays) - 1)]
        if self.jitter:
            delay *= 1 + random.uniform(-self.jitter, self.jitter)
        return delay

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        """Nothing to connect to."""
        self._open = True
        self._closed = False

    async def close(self) -> None:
        """Stop consumers; entries this broker had handed out are released at once."""
        if self._closed:
            return
        self._closed = True
        prefix = self._instance + ":"
        for entry in self._queue.entries.values():
            if entry.token is not None and entry.token.startswith(prefix):
                entry.lease_until = None
                entry.token = None
                entry.redelivered = True
        for consumer in self._consumers:
            consumer.wakeup.set()
        self._queue.wake_all()

    async def ping(self) -> None:
        """Raise ``Unavailable`` unless open."""
        if not self._open or self._closed:
            raise Unavailable("broker is closed")

    # -- publishing ------------------------------------------------------------------------------

    async def publish(self, entries: Sequence[QueueEntry]) -> None:
        """Enqueue every entry (duplicates kept, as the local broker does)."""
        await self.ping()
        now = self._clock()
        for e in entries:
            entry_id = next(self._queue.ids)
            self._queue.entries[entry_id] = _Entry(entry_id, e.recipient, e.package_id, 1, now)
        if entries:
            self._queue.wake_all()

    # -- consuming -------------------------------------------------------------------------------

    def consume(
        self, recipients: Collection[str] | None = None, *, prefetch: int = 16
    ) -> AsyncIterator[QueueMessage]:
        """Yield due entries for ``recipients`` (all if ``None``) until the broker closes."""
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        return self._consume(None if recipients is None else frozenset(recipients), prefetch)

    def _claim_one(self, recipients: frozenset[str] | None, token: str) -> _Entry | None:
        now = self._clock()
        best: _Entry | None = None
        for entry in self._queue.entries.values():
            if recipients is not None and entry.recipient not in recipients:
                continue
            if entry.available_at > now:
                continue
            if entry.lease_until is not None and entry.lease_until > now:
                continue
            if best is None or entry.available_at < best.available_at:
                best = entry
        if best is not None:
            if best.lease_until is not None:
                best.redelivered = True  # the previous holder's lease expired
            best.lease_until = now + self.lease_seconds
            best.token = token
        return best

    def _next_due(self, recipients: frozenset[str] | None) -> float | None:
        now = self._clock()
        times = [
            e.available_at
            for e in self._queue.entries.values()
            if e.available_at > now and (recipients is None or e.recipient in recipients)
        ]
        return min(times) if times else None

    async def _consume(
        self, recipients: frozenset[str] | None, prefetch: int
    ) -> AsyncIterator[QueueMessage]:
        if recipients is not None and not recipients:
            return
        consumer = _Consumer()
        self._consumers.add(consumer)
        self._queue.wakeups.add(consumer.wakeup)
        try:
            while not self._closed:
                consumer.wakeup.clear()
                consumer.expire(self._clock())
                if len(consumer.unsettled) < prefetch:
                    token = f"{self._instance}:{next(self._claims)}"
                    entry = self._claim_one(recipients, token)
                    if entry is not None:
                        assert entry.lease_until is not None  # set by the claim
                        consumer.unsettled[(entry.id, token)] = entry.lease_until
                        yield _MemoryMessage(self, consumer, entry, token)
                        continue
                timeout = self.poll_interval
                next_due = self._next_due(recipients)
                if next_due is not None:
                    timeout = max(0.0, min(timeout, next_due - self._clock()))
                await wait_event(consumer.wakeup, timeout)
        finally:
            self._consumers.discard(consumer)
            self._queue.wakeups.discard(consumer.wakeup)
