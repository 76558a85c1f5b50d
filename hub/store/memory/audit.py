"""The audit log over a :class:`~hub.store.memory.MemoryStore`'s backing: chained event
inserts (:func:`insert_chained`) and :class:`MemoryAudit`
(:class:`~hub.store.facets.AuditStore`), with the SQL backends' rules and orders.

Every event joins a hash chain inside the transaction that writes it, as on SQLite: the
backing's lock serialises every write, so one chain per writer identity is enough (stores of
one process over one backing share it, as the stores of one process over one SQLite file do).
The row is sealed by the :class:`~hub.store.facets.EventChainer` the store was given, so the
hashes are the ones a SQL backend would store and ``hub audit verify`` checks them the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from hub.models import DeliveryState, Event
from hub.store.facets import AuditStore, CheckpointBuilder, EventChainer
from hub.store.memory.backing import (
    MemoryBacking,
    MemoryConnection,
    PackageRow,
    stored_detail,
    utc,
)
from hub.store.records import (
    OPEN_STATES,
    ChainedEvent,
    ChainHead,
    CheckpointRow,
    PurgeCandidate,
    SignedAck,
)

#: What a purged blob holds (as in the SQL backends).
PURGED_DATA = b""
#: Delivery states that keep a package's bytes unless ``purge_unacked`` (neither acked nor dead).
OPEN = frozenset(DeliveryState(s) for s in OPEN_STATES)


def _chain(db: MemoryBacking, chainer: EventChainer) -> ChainHead:
    """This writer's chain, created (at the genesis hash) the first time it writes."""
    owner = chainer.owner()
    chain_id = db.chain_by_owner.get(owner)
    if chain_id is None:
        chain_id = db.chain_by_owner[owner] = chainer.new_chain_id()
    head = db.chains.get(chain_id)
    if head is None:
        head = db.chains[chain_id] = ChainHead(chain_id, owner, 0, chainer.genesis)
    return head


def _owed(db: MemoryBacking, row: PackageRow) -> bool:
    """A delivery of the package is neither acked nor dead (it keeps the package's bytes)."""
    return any(
        (d := db.deliveries.get((row.record.id, r))) is not None and d.record.state in OPEN
        for r in row.record.recipients
    )


def insert_chained(db: MemoryBacking, chainer: EventChainer, event: Event) -> int:
    """Append ``event`` to this writer's chain inside the caller's transaction (the store
    assigns ``seq``); its seq."""
    # What can be refused is checked before anything changes, as a rollback would leave it.
    at, detail = utc(event.at), stored_detail(event.detail)  # a copy the caller cannot change
    head = _chain(db, chainer)
    seq, chain_seq = db.next_event_seq(), head.head_seq + 1
    row = ChainedEvent(
        seq=seq,
        package_id=event.package_id,
        kind=event.kind,
        at=at,
        recipient=event.recipient,
        attempt=event.attempt,
        detail=detail,
        chain_id=head.chain_id,
        chain_seq=chain_seq,
        prev_hash=head.head_hash,
    )
    sealed = chainer.seal(row)
    if sealed.hash is None:
        raise ValueError("the event chainer returned an unsealed row")
    db.add_event(sealed)
    db.chains[head.chain_id] = replace(head, head_seq=chain_seq, head_hash=sealed.hash)
    return seq


def _in_chain(db: MemoryBacking, chain_id: str) -> Iterable[tuple[int, ChainedEvent]]:
    """The chain's events that have a position, each with it: a row without one is never
    walked, as a NULL ``chain_seq`` matches no comparison in SQL."""
    return (
        (e.chain_seq, e) for e in db.events if e.chain_id == chain_id and e.chain_seq is not None
    )


def _by_chain_order(rows: Iterable[tuple[int, ChainedEvent]]) -> list[ChainedEvent]:
    """``ORDER BY chain_seq, seq``."""
    return [e for _, e in sorted(rows, key=lambda r: (r[0], r[1].seq))]


def _is_legacy(event: ChainedEvent, legacy_max: int) -> bool:
    return event.chain_id is None and event.seq <= legacy_max and event.hash is None


def _copies(rows: Iterable[ChainedEvent], limit: int | None = None) -> list[ChainedEvent]:
    """Rows as read back: copies whose detail the caller cannot change in the log."""
    picked = list(rows) if limit is None else list(rows)[: max(limit, 0)]
    return [replace(e, detail=stored_detail(e.detail)) for e in picked]


class MemoryAudit(AuditStore):
    """:class:`~hub.store.facets.AuditStore` on a memory store's backing."""

    def __init__(self, conn: MemoryConnection, chainer: EventChainer) -> None:
        self._conn = conn
        self._chainer = chainer

    async def _events(
        self, keep: Callable[[ChainedEvent], bool] = lambda _: True, limit: int | None = None
    ) -> list[ChainedEvent]:
        async with self._conn.tx() as db:
            return _copies((e for e in db.events if keep(e)), limit)

    async def all_events(self) -> list[ChainedEvent]:
        """See :meth:`AuditStore.all_events`."""
        return await self._events()

    async def events_for(self, package_id: str) -> list[ChainedEvent]:
        """See :meth:`AuditStore.events_for`."""
        async with self._conn.tx() as db:
            return _copies(db.events[i] for i in db.events_by_package.get(package_id, ()))

    async def chain_events(self, chain_id: str, upto: int) -> list[ChainedEvent]:
        """See :meth:`AuditStore.chain_events`."""
        async with self._conn.tx() as db:
            return _copies(_by_chain_order(r for r in _in_chain(db, chain_id) if r[0] <= upto))

    async def legacy_max_seq(self) -> int:
        """See :meth:`AuditStore.legacy_max_seq`."""
        async with self._conn.tx() as db:
            return db.legacy_max_seq

    async def heads(self) -> list[ChainHead]:
        """See :meth:`AuditStore.heads`."""
        async with self._conn.tx() as db:
            return [db.chains[c] for c in sorted(db.chains)]

    async def add_checkpoint(self, build: CheckpointBuilder, at: datetime) -> CheckpointRow:
        """See :meth:`AuditStore.add_checkpoint`: under the lock, so ids and the link to the
        previous checkpoint are serialised; nothing is stored if ``build`` raises."""
        when = utc(at)
        async with self._conn.tx() as db:
            last = max(db.checkpoints, default=None)
            previous = None if last is None else db.checkpoints[last].document
            next_id = 1 if last is None else last + 1
            heads = [db.chains[c] for c in sorted(db.chains)]
            row = CheckpointRow(
                id=next_id, at=when, document=build(next_id, previous, heads), tst=None
            )
            db.checkpoints[next_id] = row
            return row

    async def set_checkpoint_tst(self, checkpoint_id: int, tst: bytes) -> None:
        """See :meth:`AuditStore.set_checkpoint_tst` (an unknown id changes nothing)."""
        async with self._conn.tx() as db:
            row = db.checkpoints.get(checkpoint_id)
            if row is not None:
                db.checkpoints[checkpoint_id] = replace(row, tst=bytes(tst))

    async def checkpoints(self) -> list[CheckpointRow]:
        """See :meth:`AuditStore.checkpoints`."""
        async with self._conn.tx() as db:
            return [db.checkpoints[i] for i in sorted(db.checkpoints)]

    async def add_signed_ack(self, ack: SignedAck) -> None:
        """See :meth:`AuditStore.add_signed_ack`."""
        stored = replace(ack, received_at=utc(ack.received_at), data=bytes(ack.data))
        async with self._conn.tx() as db:
            db.signed_acks.setdefault((ack.package_id, ack.recipient), stored)

    async def signed_acks(self, package_id: str) -> list[SignedAck]:
        """See :meth:`AuditStore.signed_acks`."""
        async with self._conn.tx() as db:
            return sorted(
                (a for (p, _), a in db.signed_acks.items() if p == package_id),
                key=lambda a: a.recipient,
            )

    async def purge_candidates(
        self, before: datetime, after_seq: int, limit: int, *, unacked: bool = False
    ) -> list[PurgeCandidate]:
        """See :meth:`AuditStore.purge_candidates`: the SQL backends' page, bound included."""
        until = utc(before)
        async with self._conn.tx() as db:
            old = [row for row in db.packages.values() if row.record.accepted_at < until]
            if not old:
                return []
            # the last package accepted before the cutoff (ties: the highest seq) ends the walk
            bound = max(old, key=lambda row: (row.record.accepted_at, row.seq)).seq
            page = [
                PurgeCandidate(row.seq, row.record.id, row.record.sha256)
                for row in old  # in seq order
                if after_seq < row.seq <= bound
                and row.purged_at is None
                and (unacked or not _owed(db, row))
            ]
            return page[: max(limit, 0)]

    async def purge_kept(self, before: datetime) -> int:
        """See :meth:`AuditStore.purge_kept`."""
        until = utc(before)
        async with self._conn.tx() as db:
            return sum(
                1
                for row in db.packages.values()
                if row.record.accepted_at < until and row.purged_at is None and _owed(db, row)
            )

    async def purge_package(self, package_id: str, event: Event, *, unacked: bool) -> bool:
        """See :meth:`AuditStore.purge_package`: the bytes, the Subject and its words go,
        the ``purged`` event is chained, in one transaction."""
        when = utc(event.at)
        async with self._conn.tx() as db:
            row = db.packages.get(package_id)
            if row is None or row.purged_at is not None or (not unacked and _owed(db, row)):
                return False
            row.data, row.purged_at = PURGED_DATA, when
            row.record = replace(row.record, subject=None)
            row.subject_terms = None
            insert_chained(db, self._chainer, event)
            return True

    async def purged_at(self, package_id: str) -> datetime | None:
        """See :meth:`AuditStore.purged_at`."""
        async with self._conn.tx() as db:
            row = db.packages.get(package_id)
            return None if row is None else row.purged_at

    async def event_count(self) -> int:
        """See :meth:`AuditStore.event_count`."""
        async with self._conn.tx() as db:
            return len(db.events)

    async def legacy_count(self, legacy_max: int) -> int:
        """See :meth:`AuditStore.legacy_count`."""
        async with self._conn.tx() as db:
            return sum(1 for e in db.events if _is_legacy(e, legacy_max))

    async def unchained_page(
        self, legacy_max: int, after_seq: int, limit: int
    ) -> list[ChainedEvent]:
        """See :meth:`AuditStore.unchained_page`."""
        return await self._events(
            lambda e: e.chain_id is None and not _is_legacy(e, legacy_max) and e.seq > after_seq,
            limit,
        )

    async def orphan_chains(self) -> list[str]:
        """See :meth:`AuditStore.orphan_chains`."""
        async with self._conn.tx() as db:
            return sorted(
                {e.chain_id for e in db.events if e.chain_id is not None} - db.chains.keys()
            )

    async def head(self, chain_id: str) -> ChainHead | None:
        """See :meth:`AuditStore.head`."""
        async with self._conn.tx() as db:
            return db.chains.get(chain_id)

    async def chain_page(
        self, chain_id: str, after: tuple[int, int] | None, limit: int
    ) -> list[ChainedEvent]:
        """See :meth:`AuditStore.chain_page`."""
        async with self._conn.tx() as db:
            rows = _by_chain_order(
                r for r in _in_chain(db, chain_id) if after is None or (r[0], r[1].seq) > after
            )
            return _copies(rows, limit)

    async def chain_at(self, chain_id: str, positions: Sequence[int]) -> list[ChainedEvent]:
        """See :meth:`AuditStore.chain_at`."""
        wanted = set(positions)
        async with self._conn.tx() as db:
            return _copies(_by_chain_order(r for r in _in_chain(db, chain_id) if r[0] in wanted))

    async def last_checkpoint_id(self) -> int:
        """See :meth:`AuditStore.last_checkpoint_id`."""
        async with self._conn.tx() as db:
            return max(db.checkpoints, default=0)

    async def checkpoints_page(
        self, after_id: int, upto_id: int, limit: int
    ) -> list[CheckpointRow]:
        """See :meth:`AuditStore.checkpoints_page`."""
        async with self._conn.tx() as db:
            ids = sorted(i for i in db.checkpoints if after_id < i <= upto_id)
            return [db.checkpoints[i] for i in ids[: max(limit, 0)]]
