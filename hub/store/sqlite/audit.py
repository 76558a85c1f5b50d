"""SQL of the audit log on SQLite: chained event inserts and the audit reads.

SQLite serialises every write transaction (``BEGIN IMMEDIATE``), so one chain per process is
enough: the head is read and moved inside the transaction that writes the event, which keeps
the chain correct whatever connection or thread writes next.
"""

# ruff: noqa: S608

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from hub.audit.chain import GENESIS, ChainedEvent, link
from hub.audit.owner import new_chain_id, process_owner
from hub.audit.records import ChainHead, CheckpointRow, SignedAck
from hub.models import Event
from hub.sqlitedb import from_db_time, to_db_time

_chain_by_owner: dict[str, str] = {}

EVENT_COLUMNS = (
    "seq, package_id, kind, at, recipient, attempt, detail, chain_id, chain_seq, prev_hash, hash"
)


def _chain_id() -> str:
    owner = process_owner()
    chain = _chain_by_owner.get(owner)
    if chain is None:
        chain = _chain_by_owner[owner] = new_chain_id()
    return chain


def insert_chained(conn: sqlite3.Connection, event: Event) -> int:
    """Append ``event`` to this process's chain inside the caller's transaction; its seq."""
    chain_id = _chain_id()
    head = conn.execute(
        "SELECT head_seq, head_hash FROM audit_chains WHERE chain_id = ?", (chain_id,)
    ).fetchone()
    if head is None:
        conn.execute(
            "INSERT INTO audit_chains (chain_id, owner, created_at, head_seq, head_hash) "
            "VALUES (?, ?, ?, 0, ?)",
            (chain_id, process_owner(), to_db_time(datetime.now(UTC)), GENESIS),
        )
        head = (0, GENESIS)
    chain_seq, prev = int(head[0]) + 1, str(head[1])
    detail_text = json.dumps(event.detail, ensure_ascii=False, default=str)
    row = conn.execute(
        "INSERT INTO events (package_id, kind, at, recipient, attempt, detail, chain_id, "
        "chain_seq, prev_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
        (
            event.package_id,
            event.kind,
            to_db_time(event.at),
            event.recipient,
            event.attempt,
            detail_text,
            chain_id,
            chain_seq,
            prev,
        ),
    ).fetchone()
    seq = int(row[0])
    # The hash covers seq (so the trace order is sealed too), which SQLite only knows now.
    sealed = link(
        seq=seq,
        package_id=event.package_id,
        kind=event.kind,
        at=event.at,
        recipient=event.recipient,
        attempt=event.attempt,
        detail=json.loads(detail_text),
        chain_id=chain_id,
        chain_seq=chain_seq,
        prev_hash=prev,
    )
    conn.execute("UPDATE events SET hash = ? WHERE seq = ?", (sealed.hash, seq))
    conn.execute(
        "UPDATE audit_chains SET head_seq = ?, head_hash = ? WHERE chain_id = ?",
        (chain_seq, sealed.hash, chain_id),
    )
    return seq


def row_to_event(row: Sequence[Any]) -> ChainedEvent:
    """A stored row (``EVENT_COLUMNS`` order) as a :class:`ChainedEvent`."""
    seq, package_id, kind, at, recipient, attempt, detail, chain_id, chain_seq, prev, hash_ = row
    return ChainedEvent(
        seq=int(seq),
        package_id=package_id,
        kind=kind,
        at=from_db_time(at),
        recipient=recipient,
        attempt=attempt,
        detail=json.loads(detail),
        chain_id=chain_id,
        chain_seq=None if chain_seq is None else int(chain_seq),
        prev_hash=prev,
        hash=hash_,
    )


def all_events(conn: sqlite3.Connection) -> list[ChainedEvent]:
    """Every event, by seq."""
    return [
        row_to_event(r)
        for r in conn.execute(f"SELECT {EVENT_COLUMNS} FROM events ORDER BY seq").fetchall()
    ]


def events_for(conn: sqlite3.Connection, package_id: str) -> list[ChainedEvent]:
    """One package's events, by seq."""
    return [
        row_to_event(r)
        for r in conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE package_id = ? ORDER BY seq", (package_id,)
        ).fetchall()
    ]


def chain_events(conn: sqlite3.Connection, chain_id: str, upto: int) -> list[ChainedEvent]:
    """A chain from its first event to position ``upto``, in chain order."""
    return [
        row_to_event(r)
        for r in conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE chain_id = ? AND chain_seq <= ? "
            "ORDER BY chain_seq, seq",
            (chain_id, upto),
        ).fetchall()
    ]


def legacy_max_seq(conn: sqlite3.Connection) -> int:
    """Events up to this seq predate the audit chain (migration 0005)."""
    row = conn.execute("SELECT value FROM audit_meta WHERE key = 'legacy_max_seq'").fetchone()
    return int(row[0]) if row is not None else 0


def heads(conn: sqlite3.Connection) -> list[ChainHead]:
    """Every chain's head, by chain id."""
    return [
        ChainHead(chain_id=c, owner=o, head_seq=int(s), head_hash=h)
        for c, o, s, h in conn.execute(
            "SELECT chain_id, owner, head_seq, head_hash FROM audit_chains ORDER BY chain_id"
        ).fetchall()
    ]


def add_checkpoint(
    conn: sqlite3.Connection,
    build: Callable[[int, bytes | None, list[ChainHead]], bytes],
    at: datetime,
) -> CheckpointRow:
    """Write the next checkpoint; ``build(id, previous document, heads)`` signs it. Runs in
    the writer's transaction, so ids and the previous-checkpoint link are serialised."""
    last = conn.execute(
        "SELECT id, document FROM audit_checkpoints ORDER BY id DESC LIMIT 1"
    ).fetchone()
    next_id = 1 if last is None else int(last[0]) + 1
    document = build(next_id, None if last is None else bytes(last[1]), heads(conn))
    conn.execute(
        "INSERT INTO audit_checkpoints (id, at, document) VALUES (?, ?, ?)",
        (next_id, to_db_time(at), document),
    )
    return CheckpointRow(id=next_id, at=at, document=document, tst=None)


def set_checkpoint_tst(conn: sqlite3.Connection, checkpoint_id: int, tst: bytes) -> None:
    """Attach an RFC 3161 token to a checkpoint."""
    conn.execute("UPDATE audit_checkpoints SET tst = ? WHERE id = ?", (tst, checkpoint_id))


def checkpoints(conn: sqlite3.Connection) -> list[CheckpointRow]:
    """Every checkpoint, by id."""
    return [
        CheckpointRow(
            id=int(i), at=from_db_time(a), document=bytes(d), tst=None if t is None else bytes(t)
        )
        for i, a, d, t in conn.execute(
            "SELECT id, at, document, tst FROM audit_checkpoints ORDER BY id"
        ).fetchall()
    ]


def add_signed_ack(conn: sqlite3.Connection, ack: SignedAck) -> None:
    """Keep a recipient's signed acknowledgement (the first one wins)."""
    conn.execute(
        "INSERT INTO audit_signed_acks (package_id, recipient, received_at, data) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (package_id, recipient) DO NOTHING",
        (ack.package_id, ack.recipient, to_db_time(ack.received_at), ack.data),
    )


def signed_acks(conn: sqlite3.Connection, package_id: str) -> list[SignedAck]:
    """A package's signed acknowledgements, by recipient."""
    return [
        SignedAck(package_id=p, recipient=r, received_at=from_db_time(t), data=bytes(d))
        for p, r, t, d in conn.execute(
            "SELECT package_id, recipient, received_at, data FROM audit_signed_acks "
            "WHERE package_id = ? ORDER BY recipient",
            (package_id,),
        ).fetchall()
    ]


def purge_candidates(conn: sqlite3.Connection, before: datetime, limit: int) -> list[str]:
    """Packages accepted before ``before`` whose bytes are still stored."""
    return [
        str(r[0])
        for r in conn.execute(
            "SELECT p.id FROM packages p JOIN package_blobs b ON b.package_id = p.id "
            "WHERE p.accepted_at < ? AND b.purged_at IS NULL ORDER BY p.seq LIMIT ?",
            (to_db_time(before), limit),
        ).fetchall()
    ]


def purge_package(conn: sqlite3.Connection, package_id: str, event: Event) -> bool:
    """Drop a package's bytes (keep its row, receipt and events) and chain ``event``."""
    row = conn.execute(
        "UPDATE package_blobs SET data = X'', purged_at = ? "
        "WHERE package_id = ? AND purged_at IS NULL RETURNING package_id",
        (to_db_time(event.at), package_id),
    ).fetchone()
    if row is None:
        return False
    # The Subject and its search words are content too (issue 10): they go with the bytes.
    conn.execute(
        "UPDATE packages SET subject = NULL, subject_terms = NULL WHERE id = ?", (package_id,)
    )
    insert_chained(conn, event)
    return True


def purged_at(conn: sqlite3.Connection, package_id: str) -> datetime | None:
    """When the package's bytes were purged, if they were."""
    row = conn.execute(
        "SELECT purged_at FROM package_blobs WHERE package_id = ?", (package_id,)
    ).fetchone()
    return None if row is None or row[0] is None else from_db_time(row[0])


# -- streamed verification (``hub audit verify`` in constant memory) ----------------------------


def event_count(conn: sqlite3.Connection) -> int:
    """How many event rows there are (the progress bar's total and the report's count)."""
    return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])


def legacy_count(conn: sqlite3.Connection, legacy_max: int) -> int:
    """Unchained events written before the audit chain existed."""
    row = conn.execute(
        "SELECT COUNT(*) FROM events WHERE chain_id IS NULL AND seq <= ? AND hash IS NULL",
        (legacy_max,),
    ).fetchone()
    return int(row[0])


def unchained_page(
    conn: sqlite3.Connection, legacy_max: int, after_seq: int, limit: int
) -> list[ChainedEvent]:
    """Unchained events that are *not* legacy (written around the hub), by seq."""
    return [
        row_to_event(r)
        for r in conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE chain_id IS NULL "
            "AND NOT (seq <= ? AND hash IS NULL) AND seq > ? ORDER BY seq LIMIT ?",
            (legacy_max, after_seq, limit),
        ).fetchall()
    ]


def orphan_chains(conn: sqlite3.Connection) -> list[str]:
    """Chain ids carried by events but never registered in ``audit_chains``."""
    return [
        str(r[0])
        for r in conn.execute(
            "SELECT DISTINCT e.chain_id FROM events e WHERE e.chain_id IS NOT NULL AND NOT "
            "EXISTS (SELECT 1 FROM audit_chains c WHERE c.chain_id = e.chain_id) "
            "ORDER BY e.chain_id"
        ).fetchall()
    ]


def head(conn: sqlite3.Connection, chain_id: str) -> ChainHead | None:
    """One chain's recorded head, read now."""
    row = conn.execute(
        "SELECT chain_id, owner, head_seq, head_hash FROM audit_chains WHERE chain_id = ?",
        (chain_id,),
    ).fetchone()
    return None if row is None else ChainHead(str(row[0]), str(row[1]), int(row[2]), str(row[3]))


def chain_page(
    conn: sqlite3.Connection, chain_id: str, after: tuple[int, int] | None, limit: int
) -> list[ChainedEvent]:
    """The next ``limit`` events of a chain in (chain_seq, seq) order after ``after`` (keyset
    pagination on the ``events_chain`` index; rows without a position are not walked)."""
    if after is None:
        sql = (
            f"SELECT {EVENT_COLUMNS} FROM events WHERE chain_id = ? AND chain_seq IS NOT NULL "
            "ORDER BY chain_seq, seq LIMIT ?"
        )
        params: tuple[object, ...] = (chain_id, limit)
    else:
        sql = (
            f"SELECT {EVENT_COLUMNS} FROM events WHERE chain_id = ? AND chain_seq >= ? "
            "AND (chain_seq > ? OR seq > ?) ORDER BY chain_seq, seq LIMIT ?"
        )
        params = (chain_id, after[0], after[0], after[1], limit)
    return [row_to_event(r) for r in conn.execute(sql, params).fetchall()]


def chain_at(
    conn: sqlite3.Connection, chain_id: str, positions: Sequence[int]
) -> list[ChainedEvent]:
    """The events of a chain at the given positions (checkpoint heads), in chain order."""
    if not positions:
        return []
    marks = ", ".join("?" for _ in positions)
    return [
        row_to_event(r)
        for r in conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE chain_id = ? AND chain_seq IN ({marks}) "
            "ORDER BY chain_seq, seq",
            (chain_id, *positions),
        ).fetchall()
    ]


def last_checkpoint_id(conn: sqlite3.Connection) -> int:
    """The newest checkpoint's id (0: none)."""
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM audit_checkpoints").fetchone()[0])


def checkpoints_page(
    conn: sqlite3.Connection, after_id: int, upto_id: int, limit: int
) -> list[CheckpointRow]:
    """Checkpoints with ``after_id < id <= upto_id``, by id, at most ``limit``."""
    return [
        CheckpointRow(
            id=int(i), at=from_db_time(a), document=bytes(d), tst=None if t is None else bytes(t)
        )
        for i, a, d, t in conn.execute(
            "SELECT id, at, document, tst FROM audit_checkpoints WHERE id > ? AND id <= ? "
            "ORDER BY id LIMIT ?",
            (after_id, upto_id, limit),
        ).fetchall()
    ]
