"""SQL of the audit log on PostgreSQL: chained event inserts and the audit reads.

Each process owns any number of chains ("lanes"). A transaction that writes events locks one
of its process's chains with ``FOR UPDATE SKIP LOCKED``, creating a new one when all are busy,
so concurrent transactions — in this process or in other workers — never wait for one another
on the audit log; the number of chains a process creates is bounded by its pool size.
"""

# ruff: noqa: S608

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from hub.audit.chain import GENESIS, ChainedEvent, link, normalise_detail
from hub.audit.owner import new_chain_id, process_owner
from hub.audit.records import ChainHead, CheckpointRow, SignedAck
from hub.models import Event

Conn = psycopg.AsyncConnection[TupleRow]

EVENT_COLUMNS = (
    "seq, package_id, kind, at, recipient, attempt, detail, chain_id, chain_seq, prev_hash, hash"
)
_dumps = functools.partial(json.dumps, ensure_ascii=False)

_INSERT = (
    "INSERT INTO events (seq, package_id, kind, at, recipient, attempt, detail, chain_id, "
    "chain_seq, prev_hash, hash) OVERRIDING SYSTEM VALUE "
    "SELECT seq, package_id, kind, at, recipient, attempt, detail::jsonb, %s, chain_seq, "
    "prev_hash, hash FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::timestamptz[], "
    "%s::text[], %s::int[], %s::text[], %s::bigint[], %s::text[], %s::text[]) "
    "AS t(seq, package_id, kind, at, recipient, attempt, detail, chain_seq, prev_hash, hash)"
)


async def insert_chained(conn: Conn, events: Sequence[Event]) -> list[int]:
    """Append ``events`` (in order) to one of this process's chains, inside the caller's
    transaction; returns their seqs."""
    if not events:
        return []
    owner = process_owner()
    cur = await conn.execute(
        "SELECT chain_id, head_seq, head_hash FROM audit_chains WHERE owner = %s "
        "ORDER BY chain_id LIMIT 1 FOR UPDATE SKIP LOCKED",
        (owner,),
    )
    head = await cur.fetchone()
    if head is None:
        chain_id, chain_seq, prev = new_chain_id(), 0, GENESIS
        # The new row stays invisible (and locked) until this transaction commits.
        await conn.execute(
            "INSERT INTO audit_chains (chain_id, owner, created_at, head_seq, head_hash) "
            "VALUES (%s, %s, %s, 0, %s)",
            (chain_id, owner, datetime.now(UTC), GENESIS),
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
        ev = link(
            seq=seq,
            package_id=event.package_id,
            kind=event.kind,
            at=event.at,
            recipient=event.recipient,
            attempt=event.attempt,
            detail=normalise_detail(event.detail),
            chain_id=chain_id,
            chain_seq=chain_seq,
            prev_hash=prev,
        )
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
    await conn.execute(
        "UPDATE audit_chains SET head_seq = %s, head_hash = %s WHERE chain_id = %s",
        (chain_seq, prev, chain_id),
    )
    return seqs


def row_to_event(row: Sequence[Any]) -> ChainedEvent:
    """A stored row (``EVENT_COLUMNS`` order) as a :class:`ChainedEvent`."""
    seq, package_id, kind, at, recipient, attempt, detail, chain_id, chain_seq, prev, hash_ = row
    return ChainedEvent(
        seq=int(seq),
        package_id=package_id,
        kind=kind,
        at=at,
        recipient=recipient,
        attempt=attempt,
        detail=detail if isinstance(detail, dict) else json.loads(detail),
        chain_id=chain_id,
        chain_seq=None if chain_seq is None else int(chain_seq),
        prev_hash=prev,
        hash=hash_,
    )


async def _events(conn: Conn, where: str, params: Sequence[Any], order: str) -> list[ChainedEvent]:
    cur = await conn.execute(
        f"SELECT {EVENT_COLUMNS} FROM events {where} ORDER BY {order}", tuple(params)
    )
    return [row_to_event(r) for r in await cur.fetchall()]


async def all_events(conn: Conn) -> list[ChainedEvent]:
    """Every event, by seq."""
    return await _events(conn, "", (), "seq")


async def events_for(conn: Conn, package_id: str) -> list[ChainedEvent]:
    """One package's events, by seq."""
    return await _events(conn, "WHERE package_id = %s", (package_id,), "seq")


async def chain_events(conn: Conn, chain_id: str, upto: int) -> list[ChainedEvent]:
    """A chain from its first event to position ``upto``, in chain order."""
    return await _events(
        conn, "WHERE chain_id = %s AND chain_seq <= %s", (chain_id, upto), "chain_seq, seq"
    )


async def legacy_max_seq(conn: Conn) -> int:
    """Events up to this seq predate the audit chain (migration 0005)."""
    cur = await conn.execute("SELECT value FROM audit_meta WHERE key = 'legacy_max_seq'")
    row = await cur.fetchone()
    return int(row[0]) if row is not None else 0


async def heads(conn: Conn) -> list[ChainHead]:
    """Every chain's head, by chain id."""
    cur = await conn.execute(
        "SELECT chain_id, owner, head_seq, head_hash FROM audit_chains ORDER BY chain_id"
    )
    return [
        ChainHead(chain_id=c, owner=o, head_seq=int(s), head_hash=h)
        for c, o, s, h in await cur.fetchall()
    ]


async def add_checkpoint(
    conn: Conn,
    lock_key: int,
    build: Callable[[int, bytes | None, list[ChainHead]], bytes],
    at: datetime,
) -> CheckpointRow:
    """Write the next checkpoint under an advisory lock (checkpoints are rare; the lock only
    orders checkpoints between workers, never event writes)."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key,))
    cur = await conn.execute("SELECT id, document FROM audit_checkpoints ORDER BY id DESC LIMIT 1")
    last = await cur.fetchone()
    next_id = 1 if last is None else int(last[0]) + 1
    document = build(next_id, None if last is None else bytes(last[1]), await heads(conn))
    await conn.execute(
        "INSERT INTO audit_checkpoints (id, at, document) VALUES (%s, %s, %b)",
        (next_id, at, document),
    )
    return CheckpointRow(id=next_id, at=at, document=document, tst=None)


async def set_checkpoint_tst(conn: Conn, checkpoint_id: int, tst: bytes) -> None:
    """Attach an RFC 3161 token to a checkpoint."""
    await conn.execute("UPDATE audit_checkpoints SET tst = %b WHERE id = %s", (tst, checkpoint_id))


async def checkpoints(conn: Conn) -> list[CheckpointRow]:
    """Every checkpoint, by id."""
    cur = await conn.execute("SELECT id, at, document, tst FROM audit_checkpoints ORDER BY id")
    return [
        CheckpointRow(id=int(i), at=a, document=bytes(d), tst=None if t is None else bytes(t))
        for i, a, d, t in await cur.fetchall()
    ]


async def add_signed_ack(conn: Conn, ack: SignedAck) -> None:
    """Keep a recipient's signed acknowledgement (the first one wins)."""
    await conn.execute(
        "INSERT INTO audit_signed_acks (package_id, recipient, received_at, data) "
        "VALUES (%s, %s, %s, %b) ON CONFLICT (package_id, recipient) DO NOTHING",
        (ack.package_id, ack.recipient, ack.received_at, ack.data),
    )


async def signed_acks(conn: Conn, package_id: str) -> list[SignedAck]:
    """A package's signed acknowledgements, by recipient."""
    cur = await conn.execute(
        "SELECT package_id, recipient, received_at, data FROM audit_signed_acks "
        "WHERE package_id = %s ORDER BY recipient",
        (package_id,),
    )
    return [
        SignedAck(package_id=p, recipient=r, received_at=t, data=bytes(d))
        for p, r, t, d in await cur.fetchall()
    ]


async def purge_candidates(conn: Conn, before: datetime, limit: int) -> list[str]:
    """Packages accepted before ``before`` whose bytes are still stored."""
    cur = await conn.execute(
        "SELECT p.id FROM packages p JOIN package_blobs b ON b.package_id = p.id "
        "WHERE p.accepted_at < %s AND b.purged_at IS NULL ORDER BY p.seq LIMIT %s",
        (before, limit),
    )
    return [str(r[0]) for r in await cur.fetchall()]


async def purge_package(conn: Conn, package_id: str, event: Event) -> bool:
    """Drop a package's bytes (keep its row, receipt and events) and chain ``event``."""
    cur = await conn.execute(
        "UPDATE package_blobs SET data = ''::bytea, purged_at = %s "
        "WHERE package_id = %s AND purged_at IS NULL RETURNING package_id",
        (event.at, package_id),
    )
    if await cur.fetchone() is None:
        return False
    # The Subject and its search words are content too (issue 10): they go with the bytes.
    await conn.execute(
        "UPDATE packages SET subject = NULL, subject_terms = NULL WHERE id = %s", (package_id,)
    )
    await insert_chained(conn, [event])
    return True


async def purged_at(conn: Conn, package_id: str) -> datetime | None:
    """When the package's bytes were purged, if they were."""
    cur = await conn.execute(
        "SELECT purged_at FROM package_blobs WHERE package_id = %s", (package_id,)
    )
    row = await cur.fetchone()
    return None if row is None or row[0] is None else row[0]


# -- streamed verification (``hub audit verify`` in constant memory) ----------------------------


async def _scalar(conn: Conn, query: str, params: Sequence[Any] = ()) -> int:
    cur = await conn.execute(query, tuple(params))
    row = await cur.fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


async def event_count(conn: Conn) -> int:
    """How many event rows there are (the progress bar's total and the report's count)."""
    return await _scalar(conn, "SELECT COUNT(*) FROM events")


async def legacy_count(conn: Conn, legacy_max: int) -> int:
    """Unchained events written before the audit chain existed."""
    return await _scalar(
        conn,
        "SELECT COUNT(*) FROM events WHERE chain_id IS NULL AND seq <= %s AND hash IS NULL",
        (legacy_max,),
    )


async def unchained_page(
    conn: Conn, legacy_max: int, after_seq: int, limit: int
) -> list[ChainedEvent]:
    """Unchained events that are *not* legacy (written around the hub), by seq."""
    return await _events(
        conn,
        "WHERE chain_id IS NULL AND NOT (seq <= %s AND hash IS NULL) AND seq > %s",
        (legacy_max, after_seq),
        f"seq LIMIT {int(limit)}",
    )


async def orphan_chains(conn: Conn) -> list[str]:
    """Chain ids carried by events but never registered in ``audit_chains``."""
    cur = await conn.execute(
        "SELECT DISTINCT e.chain_id FROM events e WHERE e.chain_id IS NOT NULL AND NOT "
        "EXISTS (SELECT 1 FROM audit_chains c WHERE c.chain_id = e.chain_id) ORDER BY e.chain_id"
    )
    return [str(r[0]) for r in await cur.fetchall()]


async def head(conn: Conn, chain_id: str) -> ChainHead | None:
    """One chain's recorded head, read now."""
    cur = await conn.execute(
        "SELECT chain_id, owner, head_seq, head_hash FROM audit_chains WHERE chain_id = %s",
        (chain_id,),
    )
    row = await cur.fetchone()
    return None if row is None else ChainHead(str(row[0]), str(row[1]), int(row[2]), str(row[3]))


async def chain_page(
    conn: Conn, chain_id: str, after: tuple[int, int] | None, limit: int
) -> list[ChainedEvent]:
    """The next ``limit`` events of a chain in (chain_seq, seq) order after ``after`` (keyset
    pagination on the ``events_chain`` index; rows without a position are not walked)."""
    if after is None:
        return await _events(
            conn,
            "WHERE chain_id = %s AND chain_seq IS NOT NULL",
            (chain_id,),
            f"chain_seq, seq LIMIT {int(limit)}",
        )
    return await _events(
        conn,
        "WHERE chain_id = %s AND chain_seq >= %s AND (chain_seq > %s OR seq > %s)",
        (chain_id, after[0], after[0], after[1]),
        f"chain_seq, seq LIMIT {int(limit)}",
    )


async def chain_at(conn: Conn, chain_id: str, positions: Sequence[int]) -> list[ChainedEvent]:
    """The events of a chain at the given positions (checkpoint heads), in chain order."""
    if not positions:
        return []
    return await _events(
        conn,
        "WHERE chain_id = %s AND chain_seq = ANY(%s)",
        (chain_id, list(positions)),
        "chain_seq, seq",
    )


async def last_checkpoint_id(conn: Conn) -> int:
    """The newest checkpoint's id (0: none)."""
    return await _scalar(conn, "SELECT COALESCE(MAX(id), 0) FROM audit_checkpoints")


async def checkpoints_page(
    conn: Conn, after_id: int, upto_id: int, limit: int
) -> list[CheckpointRow]:
    """Checkpoints with ``after_id < id <= upto_id``, by id, at most ``limit``."""
    cur = await conn.execute(
        "SELECT id, at, document, tst FROM audit_checkpoints WHERE id > %s AND id <= %s "
        "ORDER BY id LIMIT %s",
        (after_id, upto_id, limit),
    )
    return [
        CheckpointRow(id=int(i), at=a, document=bytes(d), tst=None if t is None else bytes(t))
        for i, a, d, t in await cur.fetchall()
    ]
