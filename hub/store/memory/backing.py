"""The state an in-memory store keeps: :class:`MemoryBacking` (the "database") and
:class:`MemoryConnection` (one store's way into it).

Every :class:`~hub.store.memory.MemoryStore` built over the same backing sees the same data,
as two hub processes see the same SQLite file or PostgreSQL schema: closing a store and
opening another over the backing is a restart that loses nothing, and two open at once are two
processes. Where a real backend opens a transaction, the memory backend takes the backing's
:class:`asyncio.Lock` and does all of its work without awaiting, so a transaction is never
seen half done and concurrent compare-and-sets (acks, lifecycle moves, new DocumentIds) have
exactly one winner. A write that can fail checks everything before it changes anything, so a
refused transaction leaves nothing behind, as a rollback would.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hub.errors import Unavailable
from hub.models import (
    AgencyOverride,
    DeliveryRecord,
    DirectoryRecord,
    PackageRecord,
    VxpSystem,
)
from hub.store.records import (
    AuditEntry,
    ChainedEvent,
    ChainHead,
    CheckpointRow,
    DocState,
    DossierState,
    Operator,
    SignedAck,
    SourceState,
    Transition,
    WalkMark,
)
from signing.online import FetchedItem


def utc(value: datetime) -> datetime:
    """A time as the store keeps it: timezone-aware, in UTC (naive times are refused, as
    every backend refuses them)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: the store only takes timezone-aware times")
    return value.astimezone(UTC)


def stored_detail(detail: dict[str, object]) -> dict[str, object]:
    """An event's (or operator action's) detail as every backend reads it back: a JSON round
    trip (``default=str``), which is also a copy the caller cannot change afterwards."""
    value: dict[str, object] = json.loads(json.dumps(detail, ensure_ascii=False, default=str))
    return value


def utc_or_none(value: datetime | None) -> datetime | None:
    """:func:`utc`, passing ``None`` through."""
    return None if value is None else utc(value)


@dataclass(slots=True)
class PackageRow:
    """A ``packages`` row: the record as read back, plus what only the store sees."""

    seq: int
    record: PackageRecord
    #: the Subject's folded words or their keyed hashes (:mod:`hub.store.textsearch`)
    subject_terms: str | None
    data: bytes  # as stored: sealed when encryption at rest is on
    receipt: bytes
    #: when the bytes (and the Subject with its words) were purged; ``data`` is then empty
    purged_at: datetime | None = None


@dataclass(slots=True)
class DeliveryRow:
    """A ``deliveries`` row; ``seq`` is its package's (acceptance order)."""

    seq: int
    record: DeliveryRecord


@dataclass(slots=True)
class SessionRow:
    """An operator session (the token's hash is the key)."""

    username: str
    csrf: str
    created_at: datetime
    expires_at: datetime


@dataclass(slots=True, eq=False, repr=False)
class MemoryBacking:
    """Every table of the hub's state, in memory; share one between stores to share data.

    ``now`` is the clock the stores read where a real backend reads the system time
    (delivery ``updated_at``, a VXP system's ``changed_at``); inject one to make tests that
    look at those times exact.
    """

    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    # -- packages, deliveries, events ---------------------------------------------------------
    packages: dict[str, PackageRow] = field(default_factory=dict)  # by id, in seq order
    by_sha256: dict[str, str] = field(default_factory=dict)
    #: (sender, DocumentId in NFC) of stored new documents → package id (migration 0014)
    new_documents: dict[tuple[str, str], str] = field(default_factory=dict)
    #: DocumentId in NFC → package ids, in seq order (documents and statuses alike)
    by_document: dict[str, list[str]] = field(default_factory=dict)
    by_sender: dict[str, list[str]] = field(default_factory=dict)  # in seq order
    deliveries: dict[tuple[str, str], DeliveryRow] = field(default_factory=dict)
    by_recipient: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # seq order
    #: the event log with its chain fields, by seq (:meth:`add_event`, :meth:`rewrite_events`)
    events: list[ChainedEvent] = field(default_factory=list)
    #: package id → positions in ``events`` (a package's trace without a scan of the log)
    events_by_package: dict[str | None, list[int]] = field(default_factory=dict)
    package_seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    #: the highest event seq ever handed out or stored (the sequence behind ``events.seq``)
    last_event_seq: int = 0

    # -- runtime changes, directory, VXP systems ----------------------------------------------
    overrides: dict[str, AgencyOverride] = field(default_factory=dict)
    directory: dict[str, DirectoryRecord] = field(default_factory=dict)
    vxp: dict[str, VxpSystem] = field(default_factory=dict)

    # -- dashboard ------------------------------------------------------------------------------
    operators: dict[str, Operator] = field(default_factory=dict)
    sessions: dict[str, SessionRow] = field(default_factory=dict)
    operator_audit: list[AuditEntry] = field(default_factory=list)  # by seq
    audit_seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    #: (package id, recipient) → (at, username)
    discards: dict[tuple[str, str], tuple[datetime, str]] = field(default_factory=dict)

    # -- lifecycle ------------------------------------------------------------------------------
    documents: dict[tuple[str, str], DocState] = field(default_factory=dict)
    dossiers: dict[str, DossierState] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)  # by seq
    applied: set[str] = field(default_factory=set)  # sha256 of the changes in transitions
    transition_seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    notified: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    #: walk name → (its mark, when it was stored) (``lc_walks``, migration 0016)
    walks: dict[str, tuple[WalkMark, datetime]] = field(default_factory=dict)

    # -- revocation cache ---------------------------------------------------------------------
    revocation_items: dict[str, FetchedItem] = field(default_factory=dict)
    revocation_sources: dict[str, SourceState] = field(default_factory=dict)

    # -- audit log (migration 0005 and later) -----------------------------------------------
    #: the ``audit_chains`` table: every chain's head, by chain id
    chains: dict[str, ChainHead] = field(default_factory=dict)
    #: writer identity → its chain (the SQLite rule: one chain per process, the writes being
    #: serialised by the lock anyway)
    chain_by_owner: dict[str, str] = field(default_factory=dict)
    #: events up to this seq predate the chain; none can in a memory store, which starts
    #: chained (a test may raise it to stand for a migrated log)
    legacy_max_seq: int = 0
    checkpoints: dict[int, CheckpointRow] = field(default_factory=dict)  # by id
    signed_acks: dict[tuple[str, str], SignedAck] = field(default_factory=dict)

    def next_event_seq(self) -> int:
        """The seq of the next event written by the store."""
        self.last_event_seq += 1
        return self.last_event_seq

    def add_event(self, row: ChainedEvent) -> None:
        """Append ``row`` to the log (its seq above every stored one: :meth:`next_event_seq`)."""
        self.events_by_package.setdefault(row.package_id, []).append(len(self.events))
        self.events.append(row)
        self.last_event_seq = max(self.last_event_seq, row.seq)

    def rewrite_events(self, rows: Iterable[ChainedEvent]) -> None:
        """Replace the whole log with ``rows`` (re-sorted by seq, index rebuilt): what an
        attacker with access to the database does in the audit tests, and nothing the store
        itself ever does — the log is append-only."""
        self.events = []
        self.events_by_package = {}
        for row in sorted(rows, key=lambda r: r.seq):
            self.add_event(row)


class MemoryConnection:
    """One store's way into a :class:`MemoryBacking`: open or closed, like a connection."""

    def __init__(self, backing: MemoryBacking) -> None:
        self.backing = backing
        self.is_open = False

    def check(self) -> MemoryBacking:
        """The backing; :class:`~hub.errors.Unavailable` once the store is closed."""
        if not self.is_open:
            raise Unavailable("memory store: the store is closed")
        return self.backing

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[MemoryBacking]:
        """A transaction: the backing under its lock. Yields to the event loop first, as real
        I/O would, so concurrent callers really interleave."""
        self.check()
        await asyncio.sleep(0)
        async with self.backing.lock:
            yield self.check()
