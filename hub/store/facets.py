"""The facets of the store contract: what :class:`hub.store.abc.Store` hands out besides its
own methods, each over the store's own connections, so a facet's writes share the store's
transactions, retries and failure mapping.

* :class:`DashboardStore` (``Store.dashboard()``): the operators' dashboard queries and its own
  tables (operators, sessions, operator actions, discards);
* :class:`LifecycleStore` (``Store.lifecycle()``): document and dossier lifecycles, history,
  notified alarms;
* :class:`AuditStore` (``Store.audit()``): the hash-chained event log read back, checkpoints,
  signed acknowledgements, purges;
* :class:`RevocationCacheStore` (``Store.revocation_cache()``): the shared CRL/OCSP cache;
* :class:`EventChainer`: the other way round, what a backend is *given* to chain every event
  it writes (implemented by ``AuditChain`` in ``hub/audit/chain.py``).

Records are in :mod:`hub.store.records`. Nothing here imports a layer above the store.
Implementations: :mod:`hub.store.sqlite`, :mod:`hub.store.postgres` and the in-memory fake
:mod:`hub.store.memory`; every facet passes its suite in ``tests/contracts/`` on each.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from hub.models import Event
from hub.store.records import (
    AgencyActivity,
    AuditEntry,
    ChainedEvent,
    ChainHead,
    CheckpointRow,
    DocKey,
    DocState,
    DossierState,
    LifecycleChange,
    Listing,
    Operator,
    Overview,
    PackageQuery,
    PurgeCandidate,
    Session,
    SignedAck,
    SourceState,
    Transition,
    WalkMark,
)
from signing.online import FetchedItem

#: ``build(id, previous checkpoint document or None, every chain's head)``: the signed
#: document of the next checkpoint (:meth:`AuditStore.add_checkpoint`).
CheckpointBuilder = Callable[[int, bytes | None, list[ChainHead]], bytes]


class DashboardStore(abc.ABC):
    """The dashboard's queries and its own tables (operators, sessions, audit, discards).

    Every listing is paged by ``seq`` with a keyset (``before``/``after``), never by OFFSET,
    so a page costs the same at 100 or 100,000 packages."""

    # -- operators and sessions -----------------------------------------------------------------

    @abc.abstractmethod
    async def add_operator(self, operator: Operator, *, replace: bool = False) -> bool:
        """Create the account; ``replace`` updates password and role of an existing one.
        Returns ``False`` when it exists and ``replace`` is false."""

    @abc.abstractmethod
    async def get_operator(self, username: str) -> Operator | None:
        """One account."""

    @abc.abstractmethod
    async def replace_password_hash(self, username: str, old_hash: str, new_hash: str) -> bool:
        """Set the account's password hash to ``new_hash`` if it is still ``old_hash``
        (compare-and-set; role, disabled flag and creation time untouched): a rehash at login
        never undoes a change committed since the account was read. ``False`` when the
        account is gone or its hash changed meanwhile."""

    @abc.abstractmethod
    async def list_operators(self) -> tuple[Operator, ...]:
        """Every account, by username."""

    @abc.abstractmethod
    async def create_session(
        self, token_sha256: str, username: str, csrf: str, now: datetime, expires_at: datetime
    ) -> None:
        """Record a session (and drop expired ones)."""

    @abc.abstractmethod
    async def get_session(self, token_sha256: str, now: datetime) -> Session | None:
        """The live session with this token hash, if any (expired or disabled: ``None``)."""

    @abc.abstractmethod
    async def delete_session(self, token_sha256: str) -> None:
        """Log out."""

    # -- audit -----------------------------------------------------------------------------------

    @abc.abstractmethod
    async def add_audit(self, entry: AuditEntry) -> None:
        """Append one operator action."""

    @abc.abstractmethod
    async def audit(self, *, before: int | None = None, limit: int = 50) -> Listing:
        """Operator actions, newest first."""

    # -- counters --------------------------------------------------------------------------------

    @abc.abstractmethod
    async def overview(self, now: datetime, minutes: int = 60) -> Overview:
        """Totals and per-minute throughput/refusals over the last ``minutes``. Called every
        couple of seconds: its cost must not grow with the packages and deliveries stored
        (the deliveries are counted in their open states only)."""

    @abc.abstractmethod
    async def agency_activity(self) -> tuple[AgencyActivity, ...]:
        """Every agency that sends or receives, with its backlog and ages."""

    # -- listings --------------------------------------------------------------------------------

    @abc.abstractmethod
    async def search_packages(
        self, query: PackageQuery, *, before: int | None = None, limit: int = 50
    ) -> Listing:
        """Packages matching ``query``, newest first, with their deliveries."""

    @abc.abstractmethod
    async def deliveries_in(
        self,
        states: tuple[str, ...],
        *,
        after: int | None = None,
        limit: int = 50,
        include_discarded: bool = False,
    ) -> Listing:
        """Deliveries in one of ``states``, oldest package first (dead letters: without the
        discarded ones unless asked)."""

    @abc.abstractmethod
    async def unaccepted_dossiers(self, *, after: int | None = None, limit: int = 50) -> Listing:
        """Dossier packages still at TrangThaiHoSo 1 (newly registered) with no later
        dossier or progress package for the same MaHoSo, oldest first."""

    @abc.abstractmethod
    async def discard_dead(
        self, package_id: str, recipient: str, username: str, at: datetime
    ) -> bool:
        """Take a dead letter off the list (the delivery stays ``dead``). ``False`` if it is
        not a dead delivery or was discarded before."""

    @abc.abstractmethod
    async def reached_since(
        self, after: int | None, limit: int = 5000
    ) -> tuple[int, tuple[float, ...]]:
        """Delivery latencies (seconds from acceptance) of the ``available``/``delivered``
        events after event ``seq`` ``after``, and the last seq read. ``after=None`` starts at
        the end of the log (returns it and no latencies)."""

    @abc.abstractmethod
    async def undiscard(self, package_id: str, recipient: str) -> None:
        """Forget a discard (a re-sent delivery that dies again shows up again)."""


class LifecycleStore(abc.ABC):
    """Durable lifecycle state: documents per recipient, dossiers, history, notified alarms."""

    @abc.abstractmethod
    async def apply(self, change: LifecycleChange) -> bool:
        """Apply ``change`` in one transaction: insert documents, compare-and-set moves,
        history rows. Returns ``False`` (nothing written) when a change with the same
        ``sha256`` was applied before. Raises :class:`hub.errors.IllegalTransition` when a
        move's expected state no longer holds (another package moved it first)."""

    @abc.abstractmethod
    async def documents(self, document_id: str) -> Sequence[DocState]:
        """Every (document package, recipient) row with this DocumentId, oldest first."""

    @abc.abstractmethod
    async def dossier(self, ma_ho_so: str) -> DossierState | None:
        """The dossier's current record."""

    @abc.abstractmethod
    async def transitions(
        self, *, key: str | None = None, sha256: str | None = None
    ) -> Sequence[Transition]:
        """History by DocumentId/MaHoSo (``key``) or by the causing package's ``sha256``."""

    @abc.abstractmethod
    async def document_rows(self, start: datetime, end: datetime) -> Sequence[DocState]:
        """Rows of documents the hub accepted in ``[start, end)`` (reports)."""

    @abc.abstractmethod
    async def unanswered(
        self, sent_before: datetime, *, after: DocKey | None = None, limit: int | None = None
    ) -> Sequence[DocState]:
        """Rows whose recipient has not answered, sent before ``sent_before`` (alarms), in
        sending order (:attr:`DocState.key`): every one, or at most ``limit`` of those after
        the row ``after`` (exclusive), so a caller can read them a page at a time."""

    @abc.abstractmethod
    async def dossier_rows(self, start: datetime, end: datetime) -> Sequence[DossierState]:
        """Dossiers submitted in ``[start, end)`` (reports)."""

    @abc.abstractmethod
    async def open_dossiers(self) -> Sequence[DossierState]:
        """Dossiers not in a final state (3, 8, 9, 10) (alarms, reports)."""

    @abc.abstractmethod
    async def last_activity(self) -> Mapping[str, datetime]:
        """Per agency, its last activity (silent agencies): the hub accepted a package from it
        (document, status, dossier), or delivered one to it, or it acknowledged one."""

    @abc.abstractmethod
    async def claim_notifications(
        self, keys: Sequence[tuple[str, str]], at: datetime, *, walk: WalkMark | None = None
    ) -> Sequence[str]:
        """Record ``(alarm key, kind)`` pairs as notified; returns the keys recorded by this
        call, so exactly one hub process notifies each alarm.

        With ``walk`` (``keys`` may then be empty), the same transaction stores it as the mark
        of its walk, at ``at``: a walk claims the rows of a page and moves past them at once,
        so a crash leaves both or neither and the walk at worst reads the page again, never
        passes a row it did not claim. The mark replaces a stored one with the same
        ``settings`` only when its position is later (two processes walking at once never
        move it back), and one with other ``settings`` always (the walk started over under
        new settings)."""

    @abc.abstractmethod
    async def walk_mark(self, name: str) -> WalkMark | None:
        """The stored mark of the walk ``name`` (:meth:`claim_notifications`), if any."""


class RevocationCacheStore(abc.ABC):
    """The store's revocation tables (migration 0010)."""

    @abc.abstractmethod
    async def put(self, items: Sequence[FetchedItem]) -> None:
        """Insert or replace each item unless the stored one has a later thisUpdate."""

    @abc.abstractmethod
    async def items(self) -> Sequence[FetchedItem]:
        """Every cached item."""

    @abc.abstractmethod
    async def record_attempt(
        self, url: str, kind: str, ok: bool, error: str | None, at: datetime
    ) -> None:
        """Count a fetch attempt for the source's health (reset on success)."""

    @abc.abstractmethod
    async def sources(self) -> Sequence[SourceState]:
        """Every source's health."""


class EventChainer(Protocol):
    """How a backend chains the events it writes, given to the store by whoever builds it
    (:func:`hub.runtime.make_store`, the CLI, tests and benchmarks pass
    ``AuditChain`` of ``hub/audit/chain.py``).

    Every event row joins a hash chain inside the transaction that writes it: the backend
    picks the chain (its own rule: one per process on SQLite, free lanes on PostgreSQL),
    fills in ``chain_id``, ``chain_seq`` and ``prev_hash`` (:attr:`genesis` for a chain's
    first row) and asks :meth:`seal` for the row as stored. The store knows no hashing.
    """

    @property
    def genesis(self) -> str:
        """``prev_hash`` of the first event of every chain (and a new chain's head hash)."""

    def owner(self) -> str:
        """This process's writer identity, recorded with each chain it creates; renewed
        after ``fork`` so a forked worker never continues its parent's chain."""

    def new_chain_id(self) -> str:
        """A fresh chain id, unique across processes and hosts."""

    def seal(self, row: ChainedEvent) -> ChainedEvent:
        """``row`` as it is stored: its detail as it reads back from the store (JSON round
        trip) and its ``hash`` computed over every other field."""


class AuditStore(abc.ABC):
    """The event log as an audit trail: chained rows, chain heads, checkpoints, signed
    acknowledgements and purges (tables of migration 0005 and later)."""

    @abc.abstractmethod
    async def all_events(self) -> list[ChainedEvent]:
        """Every event with its chain fields, by seq."""

    @abc.abstractmethod
    async def events_for(self, package_id: str) -> list[ChainedEvent]:
        """One package's events with their chain fields, by seq."""

    @abc.abstractmethod
    async def chain_events(self, chain_id: str, upto: int) -> list[ChainedEvent]:
        """One chain from its first event to position ``upto``, in chain order."""

    @abc.abstractmethod
    async def legacy_max_seq(self) -> int:
        """Events up to this seq predate the audit chain (migration 0005)."""

    @abc.abstractmethod
    async def heads(self) -> list[ChainHead]:
        """Every chain's recorded head, by chain id."""

    @abc.abstractmethod
    async def add_checkpoint(self, build: CheckpointBuilder, at: datetime) -> CheckpointRow:
        """Write the next checkpoint, ``build`` signing it, in one write transaction: ids and
        the link to the previous checkpoint are serialised between writers."""

    @abc.abstractmethod
    async def set_checkpoint_tst(self, checkpoint_id: int, tst: bytes) -> None:
        """Attach an RFC 3161 time-stamp token to a checkpoint."""

    @abc.abstractmethod
    async def checkpoints(self) -> list[CheckpointRow]:
        """Every checkpoint, by id."""

    @abc.abstractmethod
    async def add_signed_ack(self, ack: SignedAck) -> None:
        """Keep a recipient's signed acknowledgement (the first one per delivery wins)."""

    @abc.abstractmethod
    async def signed_acks(self, package_id: str) -> list[SignedAck]:
        """A package's signed acknowledgements, by recipient."""

    @abc.abstractmethod
    async def purge_candidates(
        self, before: datetime, after_seq: int, limit: int, *, unacked: bool = False
    ) -> list[PurgeCandidate]:
        """The next page of packages accepted before ``before`` whose bytes are still stored
        and, unless ``unacked``, whose deliveries are all acked or dead: ``seq`` after
        ``after_seq``, by seq, at most ``limit`` (keyset pagination). The walk stops at the
        last package accepted before ``before``: one numbered after it though accepted a
        moment earlier is left to the next run."""

    @abc.abstractmethod
    async def purge_kept(self, before: datetime) -> int:
        """How many packages accepted before ``before`` still have their bytes and a
        delivery neither acked nor dead: what the purge keeps unless ``purge_unacked``."""

    @abc.abstractmethod
    async def purge_package(self, package_id: str, event: Event, *, unacked: bool) -> bool:
        """Drop the package's bytes and Subject (its row, receipt and events stay) and chain
        ``event``, in one transaction. ``False``: already purged, unknown, or — unless
        ``unacked`` — a delivery of it is neither acked nor dead, checked in that same
        transaction."""

    @abc.abstractmethod
    async def purged_at(self, package_id: str) -> datetime | None:
        """When the package's bytes were purged, if they were."""

    # -- streamed verification: short reads, keyset pages (no transaction held open) ----------

    @abc.abstractmethod
    async def event_count(self) -> int:
        """How many event rows there are."""

    @abc.abstractmethod
    async def legacy_count(self, legacy_max: int) -> int:
        """Unchained events written before the audit chain existed."""

    @abc.abstractmethod
    async def unchained_page(
        self, legacy_max: int, after_seq: int, limit: int
    ) -> list[ChainedEvent]:
        """Unchained events that are *not* legacy (written around the hub) after
        ``after_seq``, by seq, at most ``limit``."""

    @abc.abstractmethod
    async def orphan_chains(self) -> list[str]:
        """Chain ids carried by events but never registered as chains."""

    @abc.abstractmethod
    async def head(self, chain_id: str) -> ChainHead | None:
        """One chain's recorded head, read now."""

    @abc.abstractmethod
    async def chain_page(
        self, chain_id: str, after: tuple[int, int] | None, limit: int
    ) -> list[ChainedEvent]:
        """The next ``limit`` events of a chain in ``(chain_seq, seq)`` order after ``after``
        (keyset pagination; rows without a position are not walked)."""

    @abc.abstractmethod
    async def chain_at(self, chain_id: str, positions: Sequence[int]) -> list[ChainedEvent]:
        """A chain's events at the given positions (checkpoint heads), in chain order."""

    @abc.abstractmethod
    async def last_checkpoint_id(self) -> int:
        """The newest checkpoint's id (0: none)."""

    @abc.abstractmethod
    async def checkpoints_page(
        self, after_id: int, upto_id: int, limit: int
    ) -> list[CheckpointRow]:
        """Checkpoints with ``after_id < id <= upto_id``, by id, at most ``limit``."""
