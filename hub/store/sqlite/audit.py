"""The audit log on SQLite: chained event inserts and :class:`SqliteAudit`
(:class:`~hub.store.facets.AuditStore`); the SQL is :mod:`hub.store.auditsql`.

SQLite serialises every write transaction (``BEGIN IMMEDIATE``), so one chain per process is
enough: the head is read and moved inside the transaction that writes the event, which keeps
the chain correct whatever connection or thread writes next.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

from hub.models import Event
from hub.sqlitedb import SqliteConnection, from_db_time, to_db_time
from hub.store import auditsql as q
from hub.store.facets import AuditStore, CheckpointBuilder, EventChainer
from hub.store.records import ChainedEvent, ChainHead, CheckpointRow, PurgeCandidate, SignedAck

#: This process's chain, by writer identity (a forked child gets a new identity, so a new
#: chain); shared by every SqliteStore of the process, as the writes are serialised anyway.
_chain_by_owner: dict[str, str] = {}


def _chain_id(chainer: EventChainer) -> str:
    owner = chainer.owner()
    chain = _chain_by_owner.get(owner)
    if chain is None:
        chain = _chain_by_owner[owner] = chainer.new_chain_id()
    return chain


#: The seq the next event row is given: ``events.seq`` is ``AUTOINCREMENT``, so one past the
#: highest ever used (``sqlite_sequence``) or present, whichever is larger.
_NEXT_SEQ = (
    "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0), "
    "COALESCE((SELECT MAX(seq) FROM events), 0)) + 1"
)
_INSERT_EVENT = (
    "INSERT INTO events (seq, package_id, kind, at, recipient, attempt, detail, chain_id, "
    "chain_seq, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def insert_chained(
    conn: sqlite3.Connection, chainer: EventChainer, events: Sequence[Event]
) -> list[int]:
    """Append ``events`` (in order) to this process's chain inside the caller's write
    transaction; returns their seqs.

    The hash covers ``seq``. The caller's ``BEGIN IMMEDIATE`` holds SQLite's write lock, so
    the seqs ``AUTOINCREMENT`` would assign are known before the insert: each row is written
    whole (hash included) in one statement, and the chain's head is read and moved once for
    all of them — where an insert, then an update of its hash, then a move of the head per
    event cost four statements each.
    """
    if not events:
        return []
    chain_id = _chain_id(chainer)
    head = conn.execute(
        "SELECT head_seq, head_hash FROM audit_chains WHERE chain_id = ?", (chain_id,)
    ).fetchone()
    if head is None:
        conn.execute(
            q.CHAIN_INSERT,
            (chain_id, chainer.owner(), to_db_time(datetime.now(UTC)), chainer.genesis),
        )
        head = (0, chainer.genesis)
    chain_seq, prev = int(head[0]), str(head[1])
    first = int(conn.execute(_NEXT_SEQ).fetchone()[0])
    rows: list[tuple[object, ...]] = []
    for seq, event in enumerate(events, start=first):
        chain_seq += 1
        sealed = chainer.seal(q.chain_row(event, seq, chain_id, chain_seq, prev))
        rows.append(
            (
                seq,
                event.package_id,
                event.kind,
                to_db_time(event.at),
                event.recipient,
                event.attempt,
                json.dumps(event.detail, ensure_ascii=False, default=str),
                chain_id,
                chain_seq,
                prev,
                sealed.hash,
            )
        )
        prev = str(sealed.hash)
    conn.executemany(_INSERT_EVENT, rows)
    conn.execute(q.CHAIN_MOVE, (chain_seq, prev, chain_id))
    return list(range(first, first + len(events)))


def _events(conn: sqlite3.Connection, text: str, params: Sequence[object]) -> list[ChainedEvent]:
    return [q.chained_event(r, from_db_time) for r in conn.execute(text, tuple(params))]


def _scalar(conn: sqlite3.Connection, text: str, params: Sequence[object] = ()) -> int:
    row = conn.execute(text, tuple(params)).fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


def _add_checkpoint(
    conn: sqlite3.Connection, build: CheckpointBuilder, at: datetime
) -> CheckpointRow:
    # Runs in the writer's transaction, so ids and the previous-checkpoint link are serialised.
    next_id, previous = q.next_checkpoint(conn.execute(q.LAST_CHECKPOINT).fetchone())
    heads = [q.chain_head(r) for r in conn.execute(q.HEADS)]
    document = build(next_id, previous, heads)
    conn.execute(q.CHECKPOINT_INSERT, (next_id, to_db_time(at), document))
    return CheckpointRow(id=next_id, at=at, document=document, tst=None)


def _purge_package(
    conn: sqlite3.Connection, chainer: EventChainer, package_id: str, event: Event, unacked: bool
) -> bool:
    params = (q.PURGED_DATA, to_db_time(event.at), package_id)
    if conn.execute(q.purge_blob(unacked), params).fetchone() is None:
        return False
    conn.execute(q.PURGE_SUBJECT, (package_id,))
    insert_chained(conn, chainer, [event])
    return True


class SqliteAudit(AuditStore):
    """:class:`~hub.store.facets.AuditStore` on a SqliteStore's reader and writer threads."""

    def __init__(
        self, reader: SqliteConnection, writer: SqliteConnection, chainer: EventChainer
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._chainer = chainer

    async def all_events(self) -> list[ChainedEvent]:
        """See :meth:`AuditStore.all_events`."""
        return await self._reader.run(lambda c: _events(c, q.ALL_EVENTS, ()))

    async def events_for(self, package_id: str) -> list[ChainedEvent]:
        """See :meth:`AuditStore.events_for`."""
        return await self._reader.run(lambda c: _events(c, q.EVENTS_FOR, (package_id,)))

    async def chain_events(self, chain_id: str, upto: int) -> list[ChainedEvent]:
        """See :meth:`AuditStore.chain_events`."""
        return await self._reader.run(lambda c: _events(c, q.CHAIN_EVENTS, (chain_id, upto)))

    async def legacy_max_seq(self) -> int:
        """See :meth:`AuditStore.legacy_max_seq`."""
        return await self._reader.run(lambda c: _scalar(c, q.LEGACY_MAX_SEQ))

    async def heads(self) -> list[ChainHead]:
        """See :meth:`AuditStore.heads`."""
        return await self._reader.run(lambda c: [q.chain_head(r) for r in c.execute(q.HEADS)])

    async def add_checkpoint(self, build: CheckpointBuilder, at: datetime) -> CheckpointRow:
        """See :meth:`AuditStore.add_checkpoint`."""
        return await self._writer.write(lambda c: _add_checkpoint(c, build, at))

    async def set_checkpoint_tst(self, checkpoint_id: int, tst: bytes) -> None:
        """See :meth:`AuditStore.set_checkpoint_tst`."""
        await self._writer.write(lambda c: c.execute(q.CHECKPOINT_TST, (tst, checkpoint_id)))

    async def checkpoints(self) -> list[CheckpointRow]:
        """See :meth:`AuditStore.checkpoints`."""
        return await self._reader.run(
            lambda c: [q.checkpoint_row(r, from_db_time) for r in c.execute(q.CHECKPOINTS)]
        )

    async def add_signed_ack(self, ack: SignedAck) -> None:
        """See :meth:`AuditStore.add_signed_ack`."""
        params = (ack.package_id, ack.recipient, to_db_time(ack.received_at), ack.data)
        await self._writer.write(lambda c: c.execute(q.SIGNED_ACK_INSERT, params))

    async def signed_acks(self, package_id: str) -> list[SignedAck]:
        """See :meth:`AuditStore.signed_acks`."""
        return await self._reader.run(
            lambda c: [
                q.signed_ack(r, from_db_time) for r in c.execute(q.SIGNED_ACKS, (package_id,))
            ]
        )

    async def purge_candidates(
        self, before: datetime, after_seq: int, limit: int, *, unacked: bool = False
    ) -> list[PurgeCandidate]:
        """See :meth:`AuditStore.purge_candidates`."""
        text, params = q.purge_candidates(after_seq, to_db_time(before), limit, unacked=unacked)
        return await self._reader.run(
            lambda c: [q.purge_candidate(r) for r in c.execute(text, params)]
        )

    async def purge_kept(self, before: datetime) -> int:
        """See :meth:`AuditStore.purge_kept`."""
        params = (to_db_time(before),)
        return await self._reader.run(lambda c: _scalar(c, q.PURGE_KEPT, params))

    async def purge_package(self, package_id: str, event: Event, *, unacked: bool) -> bool:
        """See :meth:`AuditStore.purge_package`."""
        return await self._writer.write(
            lambda c: _purge_package(c, self._chainer, package_id, event, unacked)
        )

    async def purged_at(self, package_id: str) -> datetime | None:
        """See :meth:`AuditStore.purged_at`."""
        row = await self._reader.run(lambda c: c.execute(q.PURGED_AT, (package_id,)).fetchone())
        return None if row is None or row[0] is None else from_db_time(row[0])

    async def event_count(self) -> int:
        """See :meth:`AuditStore.event_count`."""
        return await self._reader.run(lambda c: _scalar(c, q.EVENT_COUNT))

    async def legacy_count(self, legacy_max: int) -> int:
        """See :meth:`AuditStore.legacy_count`."""
        return await self._reader.run(lambda c: _scalar(c, q.LEGACY_COUNT, (legacy_max,)))

    async def unchained_page(
        self, legacy_max: int, after_seq: int, limit: int
    ) -> list[ChainedEvent]:
        """See :meth:`AuditStore.unchained_page`."""
        params = (legacy_max, after_seq, limit)
        return await self._reader.run(lambda c: _events(c, q.UNCHAINED_PAGE, params))

    async def orphan_chains(self) -> list[str]:
        """See :meth:`AuditStore.orphan_chains`."""
        return await self._reader.run(lambda c: [str(r[0]) for r in c.execute(q.ORPHAN_CHAINS)])

    async def head(self, chain_id: str) -> ChainHead | None:
        """See :meth:`AuditStore.head`."""
        row = await self._reader.run(lambda c: c.execute(q.HEAD, (chain_id,)).fetchone())
        return None if row is None else q.chain_head(row)

    async def chain_page(
        self, chain_id: str, after: tuple[int, int] | None, limit: int
    ) -> list[ChainedEvent]:
        """See :meth:`AuditStore.chain_page`."""
        text, params = q.chain_page(chain_id, after, limit)
        return await self._reader.run(lambda c: _events(c, text, params))

    async def chain_at(self, chain_id: str, positions: Sequence[int]) -> list[ChainedEvent]:
        """See :meth:`AuditStore.chain_at`."""
        if not positions:
            return []
        text, params = q.chain_at(chain_id, positions)
        return await self._reader.run(lambda c: _events(c, text, params))

    async def last_checkpoint_id(self) -> int:
        """See :meth:`AuditStore.last_checkpoint_id`."""
        return await self._reader.run(lambda c: _scalar(c, q.LAST_CHECKPOINT_ID))

    async def checkpoints_page(
        self, after_id: int, upto_id: int, limit: int
    ) -> list[CheckpointRow]:
        """See :meth:`AuditStore.checkpoints_page`."""
        params = (after_id, upto_id, limit)
        return await self._reader.run(
            lambda c: [
                q.checkpoint_row(r, from_db_time) for r in c.execute(q.CHECKPOINTS_PAGE, params)
            ]
        )
