"""The :class:`Broker` contract.

The broker only carries work: one entry per (package, recipient). It does not list or peek:
all state is in the :class:`hub.store.Store`. Implementations: the embedded SQLite broker
(:mod:`hub.broker.local`); RabbitMQ arrives with the scale-out issue and passes the same
contract suite (``tests/contracts/broker_contract.py``).

Semantics every implementation keeps:

* ``publish`` returns only when every entry is durable (publisher confirm).
* ``consume`` hands out each entry to one consumer at a time, with a lease: an entry that is
  neither acked, retried nor dead-lettered before its lease expires (the consumer died) is
  handed out again, with the same package id and ``redelivered=True``.
* ``retry`` re-queues after the delay of the entry's tier (``retry_delays[attempt - 1]``, the
  last tier repeating, with jitter where the implementation can) with ``attempt + 1`` (the same
  ``attempt`` with ``same_attempt=True``); ``dead_letter`` parks the entry with its reason and
  attempt count; both end the lease.
* A hand-out holds one of its consumer's ``prefetch`` slots until it is settled or its lease
  expires, whichever comes first.
* No listing and no peeking: dead letters are *listed* from the store (delivery state
  ``dead``); an operator's re-send is a fresh ``publish``.
* Redeliveries are normal; consumers are idempotent by (package id, recipient).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from types import TracebackType


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """What is published: deliver ``package_id`` to ``recipient``."""

    recipient: str
    package_id: str


class QueueMessage(abc.ABC):
    """One handed-out entry; exactly one of ``ack``/``retry``/``dead_letter`` settles it."""

    recipient: str
    package_id: str
    attempt: int  # 1 on first delivery
    redelivered: bool  # handed out before (lease expired or consumer reconnected)

    @abc.abstractmethod
    async def ack(self) -> None:
        """Done: remove the entry."""

    @abc.abstractmethod
    async def retry(self, reason: str, *, same_attempt: bool = False) -> None:
        """Hand the entry out again after this attempt's delay tier, with ``attempt + 1``.

        ``same_attempt=True`` keeps ``attempt``: the failure was the consumer's own (its
        database, its files), not the recipient's, and must not count toward giving up.
        """

    @abc.abstractmethod
    async def dead_letter(self, reason: str) -> None:
        """Park the entry with ``reason``; it is not handed out again until re-sent."""


class Broker(abc.ABC):
    """Carries (recipient, package id) work with confirms, leases, delayed retry and DLQ."""

    #: Delay in seconds before attempt n+1 is handed out, for n = 1, 2, …; the last repeats.
    retry_delays: Sequence[float] = (1.0, 5.0, 30.0, 120.0, 600.0)

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and declare topology."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop consumers (in-flight entries return to their queue) and disconnect."""

    async def __aenter__(self) -> Broker:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise if the broker cannot take work (``/readyz``, ``503`` at submission)."""

    @abc.abstractmethod
    async def publish(self, entries: Sequence[QueueEntry]) -> None:
        """Durably enqueue every entry; return only when all are confirmed.

        Raises :class:`hub.errors.Unavailable` when the broker cannot confirm.
        """

    @abc.abstractmethod
    def consume(
        self, recipients: Collection[str] | None = None, *, prefetch: int = 16
    ) -> AsyncIterator[QueueMessage]:
        """Yield entries for these recipients (all when ``None``) until the broker is closed.

        At most ``prefetch`` unsettled entries are handed to this consumer at a time.
        """
