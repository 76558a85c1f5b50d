"""Group commit: many concurrent submissions, one durable transaction.

A durable commit costs one or two ``fsync`` calls whatever its size, so committing packages one
by one caps intake at the disk's sync rate. :class:`Grouped` lets every caller await its own
item's outcome while a single flusher task commits whatever has accumulated in one call of its
``commit`` function; :class:`GroupCommitter` is that over ``Store.add_packages`` (the pipeline
groups ``Store.accept`` the same way, :mod:`hub.pipeline.accept`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, TypeVar

from hub.aio import wait_event
from hub.errors import Unavailable
from hub.models import NewPackage
from hub.store.abc import AddOutcome, Store

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)
class GroupCommitStats:
    """Counters for measurement and metrics."""

    batches: int = 0
    packages: int = 0
    failed_batches: int = 0
    largest_batch: int = 0


class Grouped(Generic[T, R]):
    """Batches concurrent :meth:`add` calls into one ``commit`` call each (one transaction).

    Only one commit runs at a time. The next batch opens as soon as the previous commit
    finished and closes when it holds ``max_batch`` packages or ``max_delay`` seconds after it
    opened, whichever is first. Without load the window has long closed when a package
    arrives, so its latency is one commit; under load, packages that arrived during a commit
    are joined by those arriving in the next ``max_delay`` (``max_delay=0``: pure "natural"
    batching, whatever accumulated during the previous commit).

    If a commit fails, every caller of that batch gets the exception: nothing is half-accepted.
    A caller cancelled before its batch is taken is left out; one cancelled after may still be
    committed (the store's sha256 de-duplication makes a retry safe).
    """

    def __init__(
        self,
        commit: Callable[[list[T]], Awaitable[list[R]]],
        *,
        max_batch: int = 256,
        max_delay: float = 0.002,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._commit_fn = commit
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.stats = GroupCommitStats()
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def __aenter__(self) -> Grouped[T, R]:
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
            self._task = asyncio.get_running_loop().create_task(self._run(), name="group-committer")

    async def close(self) -> None:
        """Commit what is queued, then stop. Later :meth:`add` calls raise ``Unavailable``."""
        self._closing = True
        self._wakeup.set()
        task, self._task = self._task, None
        if task is not None:
            await task

    async def add(self, item: T) -> R:
        """Return once ``item``'s batch is durably committed, with its outcome (for
        :class:`GroupCommitter`: inserted, or skipped for the same bytes or a taken DocumentId
        — the unique constraint of migration 0014; a skipped package does not fail its
        batch)."""
        if self._closing or self._task is None:
            raise Unavailable("the store is not accepting packages (committer closed)")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, future))
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        try:
            await self._loop()
        finally:
            # Only reached with work left if the task was cancelled: never leave callers hanging.
            queued, self._queue = self._queue, []
            for _, future in queued:
                if not future.done():
                    future.set_exception(Unavailable("the group committer stopped"))

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
            # The batch window opened when the previous commit finished: packages that waited
            # through a commit go at once, and without load (window long closed) a lone
            # package costs exactly one commit.
            deadline = free_since + self.max_delay
            while len(self._queue) < self.max_batch and not self._closing:
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

    async def _commit(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            outcomes = await self._commit_fn([item for item, _ in batch])
        except Exception as exc:
            self.stats.failed_batches += 1
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:
            # The committer itself is being cancelled mid-commit: the outcome is unknown, so
            # callers get Unavailable (a retry is safe: sha256 de-duplication).
            for _, future in batch:
                if not future.done():
                    future.set_exception(Unavailable("the group committer stopped mid-commit"))
            raise
        self.stats.batches += 1
        self.stats.packages += len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)


class GroupCommitter(Grouped[NewPackage, AddOutcome]):
    """:class:`Grouped` over ``Store.add_packages``: :meth:`add` a package, get its outcome."""

    def __init__(self, store: Store, *, max_batch: int = 256, max_delay: float = 0.002) -> None:
        super().__init__(store.add_packages, max_batch=max_batch, max_delay=max_delay)
        self.store = store
