"""Group commit: many concurrent submissions, one durable transaction.

A durable commit costs one or two ``fsync`` calls whatever its size, so committing packages one
by one caps intake at the disk's sync rate. :class:`GroupCommitter` lets every submission await
its own durability while a single flusher task commits whatever has accumulated in one
``Store.add_packages`` call. :class:`GroupBatcher` is the batching itself, for any store call
that takes a group (:class:`hub.store.settling.GroupSettler` settles deliveries with it, and
:class:`hub.pipeline.accept.AcceptGroups` signs receipts and runs ``Store.accept`` with it).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, Self, TypeVar

from hub.aio import wait_event
from hub.errors import Unavailable
from hub.models import NewPackage
from hub.store.abc import AddOutcome, Store

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass(slots=True)
class GroupStats:
    """Counters for measurement and metrics."""

    batches: int = 0
    items: int = 0
    failed_batches: int = 0
    largest_batch: int = 0


@dataclass(slots=True)
class GroupCommitStats(GroupStats):
    """:class:`GroupCommitter`'s counters; its items are packages."""

    @property
    def packages(self) -> int:
        """Packages committed."""
        return self.items


class GroupBatcher(abc.ABC, Generic[In, Out]):
    """Batches concurrent submissions into one :meth:`_flush` call (one transaction) each.

    Only one flush runs at a time. The next batch opens as soon as the previous flush
    finished and closes when it holds ``max_batch`` items or ``max_delay`` seconds after it
    opened, whichever is first. Without load the window has long closed when an item
    arrives, so its latency is one flush; under load, items that arrived during a flush are
    joined by those arriving in the next ``max_delay`` (``max_delay=0``: pure "natural"
    batching, whatever accumulated during the previous flush). No timer runs when idle.

    ``announced=True``: callers announce an item while they prepare it (:meth:`coming`, around
    the work before :meth:`_submit`), and a batch window waits only while some announced item
    is still on its way — a lone item is flushed at once even right after a flush, and a
    window closes as soon as every announced item has arrived.

    If a flush raises, every caller of that batch gets the exception; a flush may instead
    answer one caller with an exception of its own (an item of the result that is an
    :class:`Exception`). A caller cancelled before its batch is taken is left out; one
    cancelled after may still be flushed.
    """

    #: what :meth:`_submit` raises once closed, and what callers of a stopped batcher get
    closed_message = "the batcher is closed"

    def __init__(
        self, *, max_batch: int, max_delay: float, name: str, announced: bool = False
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.name = name
        self.announced = announced
        self._coming = 0  # items announced and not submitted yet (see coming())
        self.stats = GroupStats()
        self._queue: list[tuple[In, asyncio.Future[Out]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @abc.abstractmethod
    async def _flush(self, items: list[In]) -> Sequence[Out | Exception]:
        """Commit ``items`` (one transaction); one result per item, in order."""

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def start(self) -> None:
        """Start the flusher task (done by ``async with``)."""
        if self._task is None:
            self._closing = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def close(self) -> None:
        """Flush what is queued, then stop. Later submissions raise ``Unavailable``."""
        self._closing = True
        self._wakeup.set()
        task, self._task = self._task, None
        if task is not None:
            await task

    @contextlib.contextmanager
    def coming(self) -> Iterator[None]:
        """Announce an item while it is prepared: ``with batcher.coming(): <prepare>`` then
        submit it, outside the block (``announced=True``, see the class)."""
        self._coming += 1
        try:
            yield
        finally:
            self._coming -= 1
            if not self._coming:
                self._wakeup.set()  # a window waiting for it closes now

    async def _submit(self, item: In) -> Out:
        """Return once ``item``'s batch is flushed, with its result."""
        return await self._enqueue(item)

    def _enqueue(self, item: In) -> asyncio.Future[Out]:
        """Queue ``item`` now (in order with every other item); the future is its result."""
        if self._closing or self._task is None:
            raise Unavailable(self.closed_message)
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._wakeup.set()
        return future

    async def _run(self) -> None:
        try:
            await self._loop()
        finally:
            # Only reached with work left if the task was cancelled: never leave callers hanging.
            queued, self._queue = self._queue, []
            for _, future in queued:
                if not future.done():
                    future.set_exception(Unavailable(f"{self.name} stopped"))

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        free_since = float("-inf")
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            # The batch window opened when the previous flush finished: items that waited
            # through a flush go at once, and without load (window long closed) a lone item
            # costs exactly one flush.
            deadline = free_since + self.max_delay
            while len(self._queue) < self.max_batch and not self._closing:
                if self.announced and not self._coming:
                    break  # nothing else on its way: waiting would only delay this batch
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._wakeup.clear()
                await wait_event(self._wakeup, remaining)
            if self.max_delay <= 0:
                await asyncio.sleep(0)  # let callers already scheduled join this batch
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            batch = [item for item in batch if not item[1].done()]  # drop cancelled callers
            if not batch:
                continue
            await self._commit(batch)
            free_since = loop.time()

    async def _commit(self, batch: list[tuple[In, asyncio.Future[Out]]]) -> None:
        try:
            results = await self._flush([item for item, _ in batch])
        except Exception as exc:
            self.stats.failed_batches += 1
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:
            # The batcher itself is being cancelled mid-flush: the outcome is unknown, so
            # callers get Unavailable.
            for _, future in batch:
                if not future.done():
                    future.set_exception(Unavailable(f"{self.name} stopped mid-commit"))
            raise
        self.stats.batches += 1
        self.stats.items += len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


class GroupCommitter(GroupBatcher[NewPackage, AddOutcome]):
    """Batches concurrent :meth:`add` calls into one ``add_packages`` transaction each
    (:class:`GroupBatcher`'s windows).

    If a commit fails, every caller of that batch gets the exception: nothing is half-accepted.
    A caller cancelled after its batch was taken may still be committed (the store's sha256
    de-duplication makes a retry safe).
    """

    closed_message = "the store is not accepting packages (committer closed)"

    def __init__(self, store: Store, *, max_batch: int = 256, max_delay: float = 0.002) -> None:
        super().__init__(max_batch=max_batch, max_delay=max_delay, name="group-committer")
        self.store = store
        self.stats: GroupCommitStats = GroupCommitStats()

    async def add(self, package: NewPackage) -> AddOutcome:
        """Return once ``package``'s batch is durably committed, with what the store did with
        it: inserted, or skipped for the same bytes or a taken DocumentId (the unique
        constraint of migration 0014; a skipped package does not fail its batch)."""
        return await self._submit(package)

    async def _flush(self, items: list[NewPackage]) -> list[AddOutcome]:
        return await self.store.add_packages(items)
