"""Group settling: the recipients' and the dispatcher's delivery writes, many per transaction.

Every fetch (``available`` → ``delivered``), ack, VXP status update and push outcome is a
one-row write that must be durable before its caller answers. One transaction each queues
them behind the accept path's group commits on the store's single writer; a
:class:`GroupSettler` gathers those arriving while the previous group commits and settles them
in one :meth:`hub.store.Store.settle` call, as :class:`hub.store.batching.GroupCommitter` does
for packages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from hub.errors import Unavailable
from hub.models import DeliveryChange, Settled
from hub.store.abc import Store
from hub.store.batching import GroupBatcher, GroupStats

log = logging.getLogger("hub.settle")


def _log_failure(future: asyncio.Future[list[Settled]]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.warning("a change settled without waiting failed: %s", exc)


@dataclass(slots=True)
class SettleStats(GroupStats):
    """:class:`GroupSettler`'s counters (an item is one :meth:`GroupSettler.settle` call)."""

    #: groups that failed as a whole and were settled call by call instead
    split_batches: int = 0


class GroupSettler(GroupBatcher[Sequence[DeliveryChange], list[Settled]]):
    """Batches concurrent :meth:`settle` calls into one ``Store.settle`` transaction each.

    The changes of one call are settled in the same group, in order; those of one delivery
    in the same transaction (a push's ``delivered`` and its ``acked``, see ``Store.settle``).
    ``max_delay`` defaults to 0: a group is whatever arrived during the previous commit, so
    a lone settle costs one commit and no wait.

    If a group's transaction fails with anything but :class:`~hub.errors.Unavailable`,
    nothing of it was committed (the transaction rolled back): each call is then settled
    alone, so one bad call fails only its own caller. ``Unavailable`` (the store is
    unreachable, or a commit's outcome is unknown) fails the whole group: settling again
    could count an ack that was committed as a repeat.
    """

    closed_message = "the store is not settling deliveries (settler closed)"

    def __init__(self, store: Store, *, max_batch: int = 256, max_delay: float = 0.0) -> None:
        super().__init__(max_batch=max_batch, max_delay=max_delay, name="group-settler")
        self.store = store
        self.stats: SettleStats = SettleStats()

    async def settle(self, *changes: DeliveryChange) -> list[Settled]:
        """Return once ``changes`` are durably settled, with one outcome each, in order."""
        if not changes:
            return []
        return await self._submit(changes)

    def settle_soon(self, *changes: DeliveryChange) -> None:
        """Queue ``changes`` without waiting for their commit: for a write nobody waits on.

        They keep their place in line: a later :meth:`settle` call from this process (an
        ack following a fetch) is settled in the same group or a later one, never before.
        A failure is logged; a closed settler drops them with a log line. Whoever uses this
        accepts that a crash may lose the change (see ``GET /v1/packages/{id}``)."""
        if not changes:
            return
        try:
            future = self._enqueue(changes)
        except Unavailable:
            log.info("not settled, the settler is closed: %s", changes)
            return
        future.add_done_callback(_log_failure)

    async def _flush(
        self, items: list[Sequence[DeliveryChange]]
    ) -> list[list[Settled] | Exception]:
        try:
            outcomes = await self.store.settle([c for changes in items for c in changes])
        except Unavailable:
            raise
        except Exception:
            if len(items) == 1:
                raise
            self.stats.split_batches += 1
            return [await self._alone(changes) for changes in items]
        results: list[list[Settled] | Exception] = []
        start = 0
        for changes in items:
            results.append(outcomes[start : start + len(changes)])
            start += len(changes)
        return results

    async def _alone(self, changes: Sequence[DeliveryChange]) -> list[Settled] | Exception:
        try:
            return await self.store.settle(changes)
        except Exception as exc:
            return exc
