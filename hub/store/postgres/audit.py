"""The audit log on PostgreSQL: chained event inserts and :class:`PostgresAudit`
(:class:`~hub.store.facets.AuditStore`); the SQL is :mod:`hub.store.auditsql`.

Each process owns any number of chains ("lanes"). A transaction that writes events locks one
of its process's chains with ``FOR UPDATE SKIP LOCKED``, creating a new one when all are busy,
so concurrent transactions — in this process or in other workers — never wait for one another
on the audit log; the number of chains a process creates is bounded by its pool size.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import UTC, datetime

from psycopg.rows import TupleRow

from hub.models import Event
from hub.store import auditsql as q
from hub.store.facets import AuditStore, CheckpointBuilder, EventChainer
from hub.store.postgres.dialect import Conn, Runner
from hub.store.records import ChainedEvent, ChainHead, CheckpointRow, PurgeCandidate, SignedAck
from hub.store.sql.dialect import aware as _in
from hub.store.sql.dialect import pg as _pg
from hub.store.sql.dialect import utc as _out

_dumps = functools.partial(json.dumps, ensure_ascii=False)

_INSERT = (
    "INSERT INTO events (seq, package_id, kind, at, recipient, attempt, detail, chain_id, "
    "chain_seq, prev_hash, hash) OVERRIDING SYSTEM VALUE "
    "SELECT seq, package_id, kind, at, recipient, attempt, detail::jsonb, %s, chain_seq, "
    "prev_hash, hash FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::timestamptz[], "
    "%s::text[], %s::int[], %s::text[], %s::bigint[], %s::text[], %s::text[]) "
    "AS t(seq, package_id, kind, at, recipient, attempt, detail, chain_seq, prev_hash, hash)"
)


async def insert_chained(conn: Conn, chainer: EventChainer, events: Sequence[Event]) -> list[int]:
    """Append ``events`` (in order) to one of this process's chains, inside the caller's
    transaction; returns their seqs."""
    if not events:
        return []
    owner = chainer.owner()
    cur = await conn.execute(
        "SELECT chain_id, head_seq, head_hash FROM audit_chains WHERE owner = %s "
        "ORDER BY chain_id LIMIT 1 FOR UPDATE SKIP LOCKED",
        (owner,),
    )
    head = await cur.fetchone()
    if head is None:
        chain_id, chain_seq, prev = chainer.new_chain_id(), 0, chainer.genesis
        # The new row stays invisible (and locked) until this transaction commits.
        await conn.execute(
            _pg(q.CHAIN_INSERT), (chain_id, owner, datetime.now(UTC), chainer.genesis)
        )
    else:
        chain_id, chain_seq, prev = str(head[0]), int(head[1]), str(head[2])
    cur = await conn.execute(
        "SELECT nextval(pg_get_serial_sequence('events', 'seq')) FROM generate_series(1, %s)",
        (len(events),),
    )
    seqs = sorted(int(r[0]) for r in await cur.fetchall())
    sealed: list[ChainedEvent] = []
    for seq, event in zip(seqs, events, strict=True):
        chain_seq += 1
        ev = chainer.seal(q.chain_row(event, seq, chain_id, chain_seq, prev))
        assert ev.hash is not None
        prev = ev.hash
        sealed.append(ev)
    await conn.execute(
        _INSERT,
        (
            chain_id,
            [e.seq for e in sealed],
            [e.package_id for e in sealed],
            [e.kind for e in sealed],
            [e.at for e in sealed],
            [e.recipient for e in sealed],
            [e.attempt for e in sealed],
            [_dumps(e.detail) for e in sealed],
            [e.chain_seq for e in sealed],
            [e.prev_hash for e in sealed],
            [e.hash for e in sealed],
        ),
    )
    await conn.execute(_pg(q.CHAIN_MOVE), (chain_seq, prev, chain_id))
    return seqs


async def _all(conn: Conn, text: str, params: Sequence[object] = ()) -> list[TupleRow]:
    cur = await conn.execute(_pg(text), tuple(params))
    return await cur.fetchall()


async def _one(conn: Conn, text: str, params: Sequence[object] = ()) -> TupleRow | None:
    cur = await conn.execute(_pg(text), tuple(params))
    return await cur.fetchone()


async def _events(conn: Conn, text: str, params: Sequence[object]) -> list[ChainedEvent]:
    return [q.chained_event(r, _out) for r in await _all(conn, text, params)]


async def _scalar(conn: Conn, text: str, params: Sequence[object] = ()) -> int:
    row = await _one(conn, text, params)
    return int(row[0]) if row is not None and row[0] is not None else 0


async def _add_checkpoint(
    conn: Conn, lock_key: int, build: CheckpointBuilder, at: datetime
) -> CheckpointRow:
    # An advisory lock orders checkpoints between workers (they are rare), never event writes.
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key,))
    next_id, previous = q.next_checkpoint(await _one(conn, q.LAST_CHECKPOINT))
    heads = [q.chain_head(r) for r in await _all(conn, q.HEADS)]
    document = build(next_id, previous, heads)
    await conn.execute(_pg(q.CHECKPOINT_INSERT), (next_id, _in(at), document))
    return CheckpointRow(id=next_id, at=at, document=document, tst=None)


async def _purge_package(
    conn: Conn, chainer: EventChainer, package_id: str, event: Event, unacked: bool
) -> bool:
    params = (q.PURGED_DATA, _in(event.at), package_id)
    if await _one(conn, q.purge_blob(unacked), params) is None:
        return False
    await conn.execute(_pg(q.PURGE_SUBJECT), (package_id,))
    await insert_chained(conn, chainer, [event])
    return True


class PostgresAudit(AuditStore):
    """:class:`~hub.store.facets.AuditStore` through a PostgresStore's runners (pool, failure
    mapping to ``Unavailable``); ``checkpoint_lock`` is the advisory lock key of its schema."""

    def __init__(
        self, read: Runner, write: Runner, chainer: EventChainer, checkpoint_lock: int
    ) -> None:
        self._read = read
        self._write = write
        self._chainer = chainer
        self._checkpoint_lock = checkpoint_lock

    async def all_events(self) -> list[ChainedEvent]:
        """See :meth:`AuditStore.all_events`."""
        out: list[ChainedEvent] = await self._read(
            "audit events", lambda c: _events(c, q.ALL_EVENTS, ())
        )
        return out

    async def events_for(self, package_id: str) -> list[ChainedEvent]:
        """See :meth:`AuditStore.events_for`."""
        out: list[ChainedEvent] = await self._read(
            "audit events", lambda c: _events(c, q.EVENTS_FOR, (package_id,))
        )
        return out

    async def chain_events(self, chain_id: str, upto: int) -> list[ChainedEvent]:
        """See :meth:`AuditStore.chain_events`."""
        out: list[ChainedEvent] = await self._read(
            "audit chain", lambda c: _events(c, q.CHAIN_EVENTS, (chain_id, upto))
        )
        return out

    async def legacy_max_seq(self) -> int:
        """See :meth:`AuditStore.legacy_max_seq`."""
        return int(await self._read("audit meta", lambda c: _scalar(c, q.LEGACY_MAX_SEQ)))

    async def heads(self) -> list[ChainHead]:
        """See :meth:`AuditStore.heads`."""
        rows = await self._read("audit heads", lambda c: _all(c, q.HEADS))
        return [q.chain_head(r) for r in rows]

    async def add_checkpoint(self, build: CheckpointBuilder, at: datetime) -> CheckpointRow:
        """See :meth:`AuditStore.add_checkpoint`."""
        key = self._checkpoint_lock
        out: CheckpointRow = await self._write(
            "audit checkpoint", lambda c: _add_checkpoint(c, key, build, at)
        )
        return out

    async def set_checkpoint_tst(self, checkpoint_id: int, tst: bytes) -> None:
        """See :meth:`AuditStore.set_checkpoint_tst`."""
        params = (tst, checkpoint_id)
        await self._write("audit tst", lambda c: c.execute(_pg(q.CHECKPOINT_TST), params))

    async def checkpoints(self) -> list[CheckpointRow]:
        """See :meth:`AuditStore.checkpoints`."""
        rows = await self._read("audit checkpoints", lambda c: _all(c, q.CHECKPOINTS))
        return [q.checkpoint_row(r, _out) for r in rows]

    async def add_signed_ack(self, ack: SignedAck) -> None:
        """See :meth:`AuditStore.add_signed_ack`."""
        params = (ack.package_id, ack.recipient, _in(ack.received_at), ack.data)
        await self._write("signed ack", lambda c: c.execute(_pg(q.SIGNED_ACK_INSERT), params))

    async def signed_acks(self, package_id: str) -> list[SignedAck]:
        """See :meth:`AuditStore.signed_acks`."""
        rows = await self._read("signed acks", lambda c: _all(c, q.SIGNED_ACKS, (package_id,)))
        return [q.signed_ack(r, _out) for r in rows]

    async def purge_candidates(
        self, before: datetime, after_seq: int, limit: int, *, unacked: bool = False
    ) -> list[PurgeCandidate]:
        """See :meth:`AuditStore.purge_candidates`."""
        text, params = q.purge_candidates(after_seq, _in(before), limit, unacked=unacked)
        rows = await self._read("purge candidates", lambda c: _all(c, text, params))
        return [q.purge_candidate(r) for r in rows]

    async def purge_kept(self, before: datetime) -> int:
        """See :meth:`AuditStore.purge_kept`."""
        params = (_in(before),)
        return int(await self._read("purge kept", lambda c: _scalar(c, q.PURGE_KEPT, params)))

    async def purge_package(self, package_id: str, event: Event, *, unacked: bool) -> bool:
        """See :meth:`AuditStore.purge_package`."""
        return bool(
            await self._write(
                "purge", lambda c: _purge_package(c, self._chainer, package_id, event, unacked)
            )
        )

    async def purged_at(self, package_id: str) -> datetime | None:
        """See :meth:`AuditStore.purged_at`."""
        row = await self._read("purged", lambda c: _one(c, q.PURGED_AT, (package_id,)))
        return None if row is None or row[0] is None else _out(row[0])

    async def event_count(self) -> int:
        """See :meth:`AuditStore.event_count`."""
        return int(await self._read("audit count", lambda c: _scalar(c, q.EVENT_COUNT)))

    async def legacy_count(self, legacy_max: int) -> int:
        """See :meth:`AuditStore.legacy_count`."""
        return int(
            await self._read("audit legacy", lambda c: _scalar(c, q.LEGACY_COUNT, (legacy_max,)))
        )

    async def unchained_page(
        self, legacy_max: int, after_seq: int, limit: int
    ) -> list[ChainedEvent]:
        """See :meth:`AuditStore.unchained_page`."""
        params = (legacy_max, after_seq, limit)
        out: list[ChainedEvent] = await self._read(
            "audit unchained", lambda c: _events(c, q.UNCHAINED_PAGE, params)
        )
        return out

    async def orphan_chains(self) -> list[str]:
        """See :meth:`AuditStore.orphan_chains`."""
        rows = await self._read("audit orphans", lambda c: _all(c, q.ORPHAN_CHAINS))
        return [str(r[0]) for r in rows]

    async def head(self, chain_id: str) -> ChainHead | None:
        """See :meth:`AuditStore.head`."""
        row = await self._read("audit head", lambda c: _one(c, q.HEAD, (chain_id,)))
        return None if row is None else q.chain_head(row)

    async def chain_page(
        self, chain_id: str, after: tuple[int, int] | None, limit: int
    ) -> list[ChainedEvent]:
        """See :meth:`AuditStore.chain_page`."""
        text, params = q.chain_page(chain_id, after, limit)
        out: list[ChainedEvent] = await self._read(
            "audit chain page", lambda c: _events(c, text, params)
        )
        return out

    async def chain_at(self, chain_id: str, positions: Sequence[int]) -> list[ChainedEvent]:
        """See :meth:`AuditStore.chain_at`."""
        if not positions:
            return []
        text, params = q.chain_at(chain_id, positions)
        out: list[ChainedEvent] = await self._read(
            "audit chain at", lambda c: _events(c, text, params)
        )
        return out

    async def last_checkpoint_id(self) -> int:
        """See :meth:`AuditStore.last_checkpoint_id`."""
        return int(
            await self._read("audit last checkpoint", lambda c: _scalar(c, q.LAST_CHECKPOINT_ID))
        )

    async def checkpoints_page(
        self, after_id: int, upto_id: int, limit: int
    ) -> list[CheckpointRow]:
        """See :meth:`AuditStore.checkpoints_page`."""
        params = (after_id, upto_id, limit)
        rows = await self._read(
            "audit checkpoints page", lambda c: _all(c, q.CHECKPOINTS_PAGE, params)
        )
        return [q.checkpoint_row(r, _out) for r in rows]
