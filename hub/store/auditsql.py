"""SQL text and row mappers of the audit log, shared by :mod:`hub.store.sqlite.audit` and
:mod:`hub.store.postgres.audit` (tables of migration 0005 and later).

Statements are written once with ``?`` placeholders; the PostgreSQL backend runs them through
:func:`hub.store.sql.dialect.pg`. Mappers take the backend's time conversion. What stays per
backend is how an event joins a chain (one chain per process under SQLite's single writer,
free lanes locked with ``SKIP LOCKED`` on PostgreSQL) and the advisory lock that orders
PostgreSQL checkpoints.
"""

# SQL text is module constants only; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from hub.models import Event
from hub.store.records import (
    OPEN_STATES,
    ChainedEvent,
    ChainHead,
    CheckpointRow,
    PurgeCandidate,
    SignedAck,
)

#: The columns of an event row, in :func:`chained_event`'s order.
EVENT_COLUMNS = (
    "seq, package_id, kind, at, recipient, attempt, detail, chain_id, chain_seq, prev_hash, hash"
)
_EVENTS = f"SELECT {EVENT_COLUMNS} FROM events"

# -- chains ---------------------------------------------------------------------------------------

#: A new chain (parameters: chain id, owner, created at, genesis hash).
CHAIN_INSERT = (
    "INSERT INTO audit_chains (chain_id, owner, created_at, head_seq, head_hash) "
    "VALUES (?, ?, ?, 0, ?)"
)
#: Move a chain's head (parameters: head seq, head hash, chain id).
CHAIN_MOVE = "UPDATE audit_chains SET head_seq = ?, head_hash = ? WHERE chain_id = ?"
_HEAD_COLUMNS = "SELECT chain_id, owner, head_seq, head_hash FROM audit_chains"
HEADS = f"{_HEAD_COLUMNS} ORDER BY chain_id"
HEAD = f"{_HEAD_COLUMNS} WHERE chain_id = ?"
ORPHAN_CHAINS = (
    "SELECT DISTINCT e.chain_id FROM events e WHERE e.chain_id IS NOT NULL AND NOT "
    "EXISTS (SELECT 1 FROM audit_chains c WHERE c.chain_id = e.chain_id) ORDER BY e.chain_id"
)

# -- events ---------------------------------------------------------------------------------------

ALL_EVENTS = f"{_EVENTS} ORDER BY seq"
EVENTS_FOR = f"{_EVENTS} WHERE package_id = ? ORDER BY seq"
CHAIN_EVENTS = f"{_EVENTS} WHERE chain_id = ? AND chain_seq <= ? ORDER BY chain_seq, seq"
LEGACY_MAX_SEQ = "SELECT value FROM audit_meta WHERE key = 'legacy_max_seq'"
EVENT_COUNT = "SELECT COUNT(*) FROM events"
LEGACY_COUNT = "SELECT COUNT(*) FROM events WHERE chain_id IS NULL AND seq <= ? AND hash IS NULL"
#: Unchained events that are *not* legacy (parameters: legacy max, after seq, limit).
UNCHAINED_PAGE = (
    f"{_EVENTS} WHERE chain_id IS NULL AND NOT (seq <= ? AND hash IS NULL) AND seq > ? "
    "ORDER BY seq LIMIT ?"
)
_CHAIN_PAGE_FIRST = (
    f"{_EVENTS} WHERE chain_id = ? AND chain_seq IS NOT NULL ORDER BY chain_seq, seq LIMIT ?"
)
_CHAIN_PAGE_AFTER = (
    f"{_EVENTS} WHERE chain_id = ? AND chain_seq >= ? AND (chain_seq > ? OR seq > ?) "
    "ORDER BY chain_seq, seq LIMIT ?"
)


def chain_page(
    chain_id: str, after: tuple[int, int] | None, limit: int
) -> tuple[str, tuple[object, ...]]:
    """The statement and parameters of the next ``limit`` events of a chain in ``(chain_seq,
    seq)`` order after ``after`` (keyset pagination on the ``events_chain`` index; rows
    without a position are not walked)."""
    if after is None:
        return _CHAIN_PAGE_FIRST, (chain_id, limit)
    return _CHAIN_PAGE_AFTER, (chain_id, after[0], after[0], after[1], limit)


def chain_at(chain_id: str, positions: Sequence[int]) -> tuple[str, tuple[object, ...]]:
    """The statement and parameters of a chain's events at the given positions (at least
    one), in chain order."""
    marks = ", ".join("?" for _ in positions)
    text = f"{_EVENTS} WHERE chain_id = ? AND chain_seq IN ({marks}) ORDER BY chain_seq, seq"
    return text, (chain_id, *positions)


def chain_row(
    event: Event, seq: int, chain_id: str, chain_seq: int, prev_hash: str
) -> ChainedEvent:
    """``event`` as row ``seq``, at position ``chain_seq`` of chain ``chain_id`` after
    ``prev_hash``: what :meth:`~hub.store.facets.EventChainer.seal` seals."""
    return ChainedEvent(
        seq=seq,
        package_id=event.package_id,
        kind=event.kind,
        at=event.at,
        recipient=event.recipient,
        attempt=event.attempt,
        detail=dict(event.detail),
        chain_id=chain_id,
        chain_seq=chain_seq,
        prev_hash=prev_hash,
    )


def chained_event(row: Any, time_out: Callable[[Any], datetime]) -> ChainedEvent:
    """A row of :data:`EVENT_COLUMNS`; ``detail`` is JSON text (SQLite) or already decoded
    (PostgreSQL ``jsonb``)."""
    seq, package_id, kind, at, recipient, attempt, detail, chain_id, chain_seq, prev, hash_ = row
    return ChainedEvent(
        seq=int(seq),
        package_id=package_id,
        kind=kind,
        at=time_out(at),
        recipient=recipient,
        attempt=attempt,
        detail=detail if isinstance(detail, dict) else json.loads(detail),
        chain_id=chain_id,
        chain_seq=None if chain_seq is None else int(chain_seq),
        prev_hash=prev,
        hash=hash_,
    )


def chain_head(row: Any) -> ChainHead:
    """A row of :data:`HEADS` or :data:`HEAD`."""
    chain_id, owner, head_seq, head_hash = row
    return ChainHead(str(chain_id), str(owner), int(head_seq), str(head_hash))


# -- checkpoints ----------------------------------------------------------------------------------

LAST_CHECKPOINT = "SELECT id, document FROM audit_checkpoints ORDER BY id DESC LIMIT 1"
LAST_CHECKPOINT_ID = "SELECT COALESCE(MAX(id), 0) FROM audit_checkpoints"
CHECKPOINT_INSERT = "INSERT INTO audit_checkpoints (id, at, document) VALUES (?, ?, ?)"
CHECKPOINT_TST = "UPDATE audit_checkpoints SET tst = ? WHERE id = ?"
_CHECKPOINTS = "SELECT id, at, document, tst FROM audit_checkpoints"
CHECKPOINTS = f"{_CHECKPOINTS} ORDER BY id"
CHECKPOINTS_PAGE = f"{_CHECKPOINTS} WHERE id > ? AND id <= ? ORDER BY id LIMIT ?"


def next_checkpoint(last: Any) -> tuple[int, bytes | None]:
    """The id of the next checkpoint and the previous document, from the row of
    :data:`LAST_CHECKPOINT` (``None``: there is none yet)."""
    return (1, None) if last is None else (int(last[0]) + 1, bytes(last[1]))


def checkpoint_row(row: Any, time_out: Callable[[Any], datetime]) -> CheckpointRow:
    """A row of :data:`CHECKPOINTS` or :data:`CHECKPOINTS_PAGE`."""
    id_, at, document, tst = row
    return CheckpointRow(
        id=int(id_),
        at=time_out(at),
        document=bytes(document),
        tst=None if tst is None else bytes(tst),
    )


# -- signed acknowledgements ----------------------------------------------------------------------

#: The first acknowledgement of a delivery wins (parameters: package id, recipient, received
#: at, data).
SIGNED_ACK_INSERT = (
    "INSERT INTO audit_signed_acks (package_id, recipient, received_at, data) "
    "VALUES (?, ?, ?, ?) ON CONFLICT (package_id, recipient) DO NOTHING"
)
SIGNED_ACKS = (
    "SELECT package_id, recipient, received_at, data FROM audit_signed_acks "
    "WHERE package_id = ? ORDER BY recipient"
)


def signed_ack(row: Any, time_out: Callable[[Any], datetime]) -> SignedAck:
    """A row of :data:`SIGNED_ACKS`."""
    package_id, recipient, received_at, data = row
    return SignedAck(package_id, recipient, time_out(received_at), bytes(data))


# -- purges ---------------------------------------------------------------------------------------

#: The delivery states that keep a package's bytes unless ``purge_unacked``: neither acked nor
#: dead, spelled out literally (constants, never input) so the planner matches them with the
#: ``(state, …)`` indexes.
_OPEN = "(" + ", ".join(f"'{state}'" for state in OPEN_STATES) + ")"

# The candidate query walks ``packages`` by its primary key ``seq``, between the page's key and
# the last package accepted before the cutoff, found by one seek on ``dash_packages_accepted
# (accepted_at)`` (migration 0004). Without that upper bound the last, short page of every run
# would walk every package still inside the retention period (the bulk of the table) only to
# filter them out on ``accepted_at``. ``seq`` follows acceptance order but acceptance times
# are taken before the insert: a package accepted a moment before the bound's but numbered
# after it waits for the next run (``accepted_at < ?`` is still what decides, so nothing is
# ever purged early). Packages purged by earlier runs are still walked (one blob seek each):
# nothing indexes ``purged_at``.
_PURGE_WALK = (
    "SELECT p.seq, p.id, p.sha256 FROM packages p JOIN package_blobs b ON b.package_id = p.id "
    "WHERE p.seq > ? AND p.seq <= (SELECT l.seq FROM packages l WHERE l.accepted_at < ? "
    "ORDER BY l.accepted_at DESC, l.seq DESC LIMIT 1) "
    "AND p.accepted_at < ? AND b.purged_at IS NULL"
)
# A delivery that still owes the package to its recipient. ``deliveries``' primary key
# ``(package_id, recipient)`` serves it: one seek to the package's own few rows (one per
# recipient), never a scan of the deliveries table or of another package's rows.
_OPEN_DELIVERY = f"SELECT 1 FROM deliveries d WHERE d.package_id = p.id AND d.state IN {_OPEN}"
#: The next page of packages the purge may drop the bytes of: accepted before a time, bytes
#: still stored, every delivery acked or dead (keyset pagination on ``seq``; parameters: after
#: seq, before, before, limit). Filtering in SQL is what keeps old unacknowledged
#: packages from filling every page and starving the purge of the rest.
PURGE_CANDIDATES = f"{_PURGE_WALK} AND NOT EXISTS ({_OPEN_DELIVERY}) ORDER BY p.seq LIMIT ?"
#: :data:`PURGE_CANDIDATES` under ``purge_unacked``: whatever the deliveries.
PURGE_CANDIDATES_UNACKED = f"{_PURGE_WALK} ORDER BY p.seq LIMIT ?"
#: How many packages accepted before a time keep their bytes for a delivery neither acked nor
#: dead (parameter: before). Driven from the open deliveries through a ``(state, …)`` index
#: (``deliveries_state`` on PostgreSQL, ``dash_deliveries_state_*`` on SQLite, migrations
#: 0001 and 0004): in a healthy hub a small share of the table, as acked rows dominate; each
#: is joined to its package and blob by primary key. Run once per purge run.
PURGE_KEPT = (
    "SELECT COUNT(DISTINCT d.package_id) FROM deliveries d "
    "JOIN packages p ON p.id = d.package_id JOIN package_blobs b ON b.package_id = d.package_id "
    f"WHERE d.state IN {_OPEN} AND p.accepted_at < ? AND b.purged_at IS NULL"
)
#: Drop a package's bytes (parameters: purged at, package id); returns the id if it did.
_PURGE_BLOB = (
    "UPDATE package_blobs SET data = ?, purged_at = ? WHERE package_id = ? AND purged_at IS NULL"
)
PURGE_BLOB = f"{_PURGE_BLOB} RETURNING package_id"
#: :data:`PURGE_BLOB` unless a delivery owes the package to its recipient again: the condition
#: the candidates were chosen by, checked once more in the purge's own write, so a delivery
#: re-opened in between (an operator's re-send of a dead one) keeps the bytes it needs.
PURGE_BLOB_SETTLED = (
    f"{_PURGE_BLOB} AND NOT EXISTS (SELECT 1 FROM deliveries d "
    f"WHERE d.package_id = package_blobs.package_id AND d.state IN {_OPEN}) RETURNING package_id"
)


def purge_blob(unacked: bool) -> str:
    """The statement that drops a package's bytes (parameters: data, purged at, package id),
    whatever its deliveries under ``purge_unacked``, else only when none is owed."""
    return PURGE_BLOB if unacked else PURGE_BLOB_SETTLED


#: The Subject and its search words are content too (issue 10): they go with the bytes.
PURGE_SUBJECT = "UPDATE packages SET subject = NULL, subject_terms = NULL WHERE id = ?"
PURGED_AT = "SELECT purged_at FROM package_blobs WHERE package_id = ?"


def purge_candidates(
    after_seq: int, before: Any, limit: int, *, unacked: bool
) -> tuple[str, tuple[object, ...]]:
    """The statement and parameters of the next page of purge candidates after ``after_seq``
    (``before`` as the backend binds a time)."""
    text = PURGE_CANDIDATES_UNACKED if unacked else PURGE_CANDIDATES
    return text, (after_seq, before, before, limit)


def purge_candidate(row: Any) -> PurgeCandidate:
    """A row of :data:`PURGE_CANDIDATES`."""
    seq, package_id, sha256 = row
    return PurgeCandidate(int(seq), str(package_id), str(sha256))


#: What a purged blob holds.
PURGED_DATA = b""
