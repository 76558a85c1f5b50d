"""The :class:`Store` contract.

The store owns all durable state. Backends: SQLite in WAL (the embedded default,
:mod:`hub.store.sqlite`), PostgreSQL (:mod:`hub.store.postgres`) and the in-memory fake
(:mod:`hub.store.memory`); all pass the same contract suites (``tests/contracts/``). The
contract is this module, its facets (:mod:`hub.store.facets`: dashboard, lifecycle, audit,
revocation cache) and the records they store and return (:mod:`hub.store.records`); none of
them imports a layer above the store.

Every event a backend writes joins the audit hash chain in the same transaction, through the
:class:`~hub.store.facets.EventChainer` its constructor requires: the hashing belongs to the
audit package, which hands it down to the store instead of the store reaching up.

Every method is a coroutine; implementations do their blocking I/O off the event loop.
A store is an async context manager: ``async with store:`` opens (and migrates) and closes it.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING

from hub.errors import IllegalTransition
from hub.models import (
    AgencyOverride,
    DeliveryChange,
    DeliveryRecord,
    DeliveryState,
    DirectoryRecord,
    Event,
    FetchedBatch,
    FetchedPackage,
    InboxItem,
    NewPackage,
    PackageRecord,
    Page,
    Settled,
    VxpSystem,
)
from hub.store.facets import AuditStore, DashboardStore, LifecycleStore, RevocationCacheStore
from hub.store.records import LifecycleChange

if TYPE_CHECKING:
    from hub.storage_crypto import BlobCipher


class AddOutcome(enum.StrEnum):
    """What :meth:`Store.add_packages` did with one package of the batch."""

    #: stored, with its deliveries and events.
    INSERTED = "inserted"
    #: not stored: the same bytes (sha256) are stored already, maybe earlier in this batch
    #: (the caller answers with that package's receipt).
    SAME_BYTES = "same_bytes"
    #: not stored: another new document (BussinessDocType 0) of the same sender with the same
    #: DocumentId (in NFC) is stored already, with other bytes (the caller answers ``409
    #: package.conflict``). Enforced by the unique index of migration 0014.
    CONFLICT = "conflict"
    #: not stored (:meth:`Store.accept` only): its lifecycle compare-and-set found the state
    #: moved by another package (the caller answers with ``AcceptResult.refusal``).
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class AcceptItem:
    """One package of a group accepted by :meth:`Store.accept`, with everything written with it.

    ``available``: the recipients that pull; their deliveries are ``available`` at commit
    (with an ``available`` event), the others ``pending`` (the transactional outbox a relay
    publishes to the broker after commit). ``lifecycle``: the compare-and-set the lifecycle
    step planned (``None``: none). ``events``: further events written after the ``accepted``
    and ``represented`` ones, in order (PDF verdicts, links on the originals' traces).
    """

    package: NewPackage
    available: frozenset[str] = frozenset()
    lifecycle: LifecycleChange | None = None
    events: tuple[Event, ...] = ()


@dataclass(frozen=True, slots=True)
class AcceptResult:
    """What :meth:`Store.accept` did with one item; ``refusal`` is set when ``REFUSED``."""

    outcome: AddOutcome
    refusal: IllegalTransition | None = None


class Store(abc.ABC):
    """Durable state of the hub."""

    #: encryption at rest of package bytes (:mod:`hub.storage_crypto`); ``None``: off.
    #: Set by :func:`hub.runtime.make_store` from ``[storage] encryption_key_file``; every
    #: implementation seals bytes where it writes them and unseals where it reads them.
    blob_cipher: BlobCipher | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    @abc.abstractmethod
    async def open(self) -> None:
        """Open connections and apply migrations."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Flush and close; idempotent."""

    async def __aenter__(self) -> Store:
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
        """Raise if the store cannot serve (used by ``/readyz``)."""

    # -- accepting ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def accept(self, items: Sequence[AcceptItem]) -> list[AcceptResult]:
        """Accept a group of packages in **one** transaction (one commit, one writer).

        For each item, in order: the package row (skipped as :meth:`add_packages` skips:
        same sha256, or a new document whose DocumentId its sender used); then its
        lifecycle change (:meth:`hub.store.facets.LifecycleStore.apply`'s semantics); a
        lost compare-and-set undoes that item alone (a savepoint) and gives ``REFUSED`` with
        the ``IllegalTransition`` — the rest of the group commits. Then for every stored item:
        bytes and receipt, one delivery per recipient (``available`` for ``item.available``,
        else ``pending``), and its events chained into the audit log: ``accepted``,
        ``represented`` (sub-units), ``item.events``, ``available`` per pull delivery.
        Returns only once committed, one :class:`AcceptResult` per item in the order given.
        """

    async def add_packages(self, packages: Sequence[NewPackage]) -> list[AddOutcome]:
        """Durably commit packages, one ``pending`` delivery per recipient, and an ``accepted``
        event each, in one transaction (group commit). Returns only once committed.

        A recipient listed in ``NewPackage.stands_for`` gets those sub-unit codes on its
        delivery (``DeliveryRecord.stands_for``, kept by every read) and a ``represented``
        event (``hub.store.subunits``) in the same transaction; later events of that delivery
        carry ``"for"`` in their detail.

        A package whose ``sha256`` is already stored is skipped (the caller checked before,
        but two concurrent submissions of the same bytes may race: first one wins), and so is
        a new document (kind ``document``, BussinessDocType 0, a non-empty DocumentId) whose
        sender already has a stored new document with that DocumentId in NFC (the store's
        unique constraint; packages marked ``duplicate_of`` by migration 0014 do not count).
        A skipped package leaves nothing behind and does not fail the rest of the batch.

        Returns one :class:`AddOutcome` per package, in the order given.
        """
        results = await self.accept([AcceptItem(package=p) for p in packages])
        return [r.outcome for r in results]

    @abc.abstractmethod
    async def find_by_sha256(self, sha256: str) -> PackageRecord | None:
        """The package stored with exactly these bytes, if any."""

    @abc.abstractmethod
    async def find_document(
        self, sender: str, document_id: str, business_doc_type: int | None
    ) -> PackageRecord | None:
        """The first stored document from ``sender`` with this DocumentId and doc type; the
        DocumentId compares in NFC (a DocumentId sent in NFD finds the one sent in NFC)."""

    @abc.abstractmethod
    async def duplicate_documents(self) -> Sequence[tuple[PackageRecord, str]]:
        """New documents stored before the unique constraint (migration 0014) that reused
        their sender's DocumentId, each with the id of the first such package (the one
        kept; nothing was deleted), in acceptance order: ``hub db check-duplicates``."""

    @abc.abstractmethod
    async def get_package(self, package_id: str) -> PackageRecord | None:
        """Look up a package's record."""

    @abc.abstractmethod
    async def get_bytes(self, package_id: str) -> bytes | None:
        """The exact bytes received."""

    @abc.abstractmethod
    async def get_receipt(self, package_id: str) -> bytes | None:
        """The signed receipt issued for the package."""

    # -- deliveries ------------------------------------------------------------------------------

    @abc.abstractmethod
    async def pending_deliveries(self, limit: int = 1000) -> Sequence[DeliveryRecord]:
        """Deliveries still ``pending`` (committed but queue entry not confirmed), oldest first.

        Used at start-up to re-publish what a crash left between commit and broker confirm.
        """

    @abc.abstractmethod
    async def set_delivery_state(
        self,
        package_id: str,
        recipient: str,
        state: DeliveryState,
        *,
        attempts: int | None = None,
        error: str | None = None,
        event_detail: dict[str, object] | None = None,
    ) -> DeliveryRecord:
        """Move a delivery to ``state`` and append the matching event, atomically.

        Never moves a delivery out of ``acked`` (acked is terminal): in that case the current
        record is returned unchanged and no event is written.
        """

    @abc.abstractmethod
    async def mark_queued(self, keys: Sequence[tuple[str, str]]) -> None:
        """Mark ``pending`` deliveries ``queued`` (after the broker confirmed them), in one
        transaction; deliveries already past ``queued`` are left alone."""

    @abc.abstractmethod
    async def get_delivery(self, package_id: str, recipient: str) -> DeliveryRecord | None:
        """One delivery."""

    @abc.abstractmethod
    async def deliveries_for(self, package_id: str) -> Sequence[DeliveryRecord]:
        """Every delivery of a package, by recipient."""

    @abc.abstractmethod
    async def ack(
        self, package_id: str, recipient: str, at: datetime
    ) -> tuple[DeliveryRecord, bool]:
        """Acknowledge a delivery. Returns the record and ``True`` if this call acked it,
        ``False`` if it was acked before (acks are idempotent and counted once).

        Raises ``KeyError`` when there is no such delivery.
        """

    # -- recipients' side in groups ---------------------------------------------------------------

    async def settle(self, changes: Sequence[DeliveryChange]) -> list[Settled]:
        """Apply ``changes`` (acks, fetches, push outcomes, …) and write their events; one
        :class:`~hub.models.Settled` per change, in the order given.

        The SQLite and PostgreSQL stores commit the group in **one** transaction (PostgreSQL:
        but for the deliveries another transaction holds at that moment, settled right after,
        one transaction per delivery). The changes of one delivery are always in the same
        transaction, in the order given (a push's ``delivered`` then its ``acked``).
        Every rule of :meth:`ack` and :meth:`set_delivery_state` holds per change: acked is
        terminal, an ack is counted once (``changed`` is its ``first``) however many
        processes ack at once, and a change that moves nothing writes no event. A change for
        a delivery that does not exist does not fail the others: its ``record`` is ``None``.
        A change that moved nothing reports the delivery as the group left it.

        This default applies the changes one by one through :meth:`ack`,
        :meth:`get_delivery` and :meth:`set_delivery_state` (not atomically: enough for a
        store without transactions of its own, such as an in-memory fake).
        """
        now = datetime.now(UTC)
        outcomes: list[Settled] = []
        for change in changes:
            key = (change.package_id, change.recipient)
            try:
                if change.state is DeliveryState.ACKED and change.only_from is None:
                    record, first = await self.ack(*key, change.at or now)
                    outcomes.append(Settled(record, first))
                    continue
                current = await self.get_delivery(*key)
                if current is None or current.state is DeliveryState.ACKED:
                    outcomes.append(Settled(current, False))
                    continue
                if change.only_from is not None and current.state not in change.only_from:
                    outcomes.append(Settled(current, False))
                    continue
                if change.state is DeliveryState.ACKED:
                    record, first = await self.ack(*key, change.at or now)
                    outcomes.append(Settled(record, first))
                    continue
                record = await self.set_delivery_state(
                    *key,
                    change.state,
                    attempts=change.attempts,
                    error=change.error,
                    event_detail=dict(change.detail),
                )
                outcomes.append(Settled(record, record.state is not DeliveryState.ACKED))
            except KeyError:
                outcomes.append(Settled(None, False))
        return outcomes

    async def fetch_package(self, package_id: str, recipient: str | None) -> FetchedPackage | None:
        """The package's record, its exact bytes and ``recipient``'s delivery of it (``None``
        if ``recipient`` is not one), or ``None`` if there is no such package.

        The SQLite and PostgreSQL stores answer in one read; this default makes three.
        """
        record = await self.get_package(package_id)
        if record is None:
            return None
        data = await self.get_bytes(package_id)
        delivery = None if recipient is None else await self.get_delivery(package_id, recipient)
        return FetchedPackage(record, data, delivery)

    @abc.abstractmethod
    async def inbox_packages(
        self, recipient: str, *, limit: int, max_bytes: int, cursor: str | None = None
    ) -> FetchedBatch:
        """``recipient``'s oldest waiting packages, each with its record, its exact bytes and
        ``recipient``'s delivery (never ``None`` here), in one read: the deliveries in
        ``available`` or ``delivered`` state, in the inbox's order (acceptance order, as
        :meth:`inbox` lists them), at most ``limit`` of them.

        ``cursor``: only the packages strictly after that position — the ``next`` of an
        earlier batch, or of an :meth:`inbox` page (both are "after this ``seq``", see
        :mod:`hub.store.cursors`); ``None`` starts at the oldest. The batch's ``next`` is
        the position of its last package, whatever comes after it: a caller that leaves
        packages unacknowledged walks past them instead of being handed them again.

        Of those, only the first ones whose sizes (``PackageRecord.size``) add up to at most
        ``max_bytes`` are returned, and always the first: a package larger than the budget
        comes alone. Nothing is written (the caller marks what it hands out ``delivered``
        through :meth:`settle`). ``ValueError`` for a ``limit`` below 1 or a cursor the store
        did not hand out.
        """

    # -- listings ------------------------------------------------------------------------------

    @abc.abstractmethod
    async def inbox(
        self,
        recipient: str,
        *,
        cursor: str | None = None,
        limit: int = 100,
        include_acked: bool = False,
        q: str | None = None,
    ) -> Page[InboxItem]:
        """The recipient's packages in ``available``/``delivered`` state (and ``acked`` if asked),
        in acceptance order; stable paging by opaque cursor. ``q``: only packages whose Subject
        holds every word of ``q`` as a whole word, compared folded (:func:`hub.text.fold`:
        without diacritics or case); ``ValueError`` for too many words
        (:data:`hub.store.textsearch.MAX_QUERY_WORDS`)."""

    @abc.abstractmethod
    async def outbox(
        self, sender: str, *, cursor: str | None = None, limit: int = 100, q: str | None = None
    ) -> Page[tuple[PackageRecord, tuple[DeliveryRecord, ...]]]:
        """The sender's packages with the state of each delivery, in acceptance order; ``q`` as
        for :meth:`inbox`."""

    @abc.abstractmethod
    async def count_packages(self) -> int:
        """Number of stored packages."""

    # -- events --------------------------------------------------------------------------------

    @abc.abstractmethod
    async def append_event(self, event: Event) -> None:
        """Append to the event log (refusals, status links, operator actions)."""

    @abc.abstractmethod
    async def events_for(self, package_id: str) -> Sequence[Event]:
        """The trace of one package, in order."""

    @abc.abstractmethod
    async def related_statuses(self, sender: str, document_id: str) -> Sequence[PackageRecord]:
        """Status packages that answer the document (``ResponseFor``) ``document_id`` of
        ``sender``, in acceptance order."""

    # -- runtime agency changes -------------------------------------------------------------------

    @abc.abstractmethod
    async def set_agency_override(self, override: AgencyOverride) -> None:
        """Record a runtime change (disable/enable, token rotation); last write wins per field."""

    @abc.abstractmethod
    async def agency_overrides(self) -> Sequence[AgencyOverride]:
        """All recorded runtime changes, one merged record per agency."""

    # -- agency directory (issue 11, ``docs/directory.md``) -------------------------------------

    @abc.abstractmethod
    async def directory_records(self) -> Sequence[DirectoryRecord]:
        """Every stored directory entry (agencies known but not connected), by code."""

    @abc.abstractmethod
    async def directory_revision(self) -> int:
        """The revision of the last import that changed an entry; 0 when there is none.
        One indexed look-up: callers compare it with the revision of what they cached."""

    @abc.abstractmethod
    async def put_directory_records(
        self, records: Sequence[DirectoryRecord], at: datetime
    ) -> tuple[int, int]:
        """Insert or update ``records`` (``revision`` and ``updated_at`` ignored) in one
        transaction; nothing is ever deleted. An entry whose name, parent, code102 and
        old_code are already stored as given is left alone, so importing the same file again
        changes nothing. The changed rows get revision = the highest stored + 1 and
        ``updated_at = at``. Returns ``(revision after, number of rows changed)``."""

    # -- stored bytes as stored: re-encryption (issue 14, ``hub storage rekey``) ----------------

    @abc.abstractmethod
    async def count_blobs(self) -> int:
        """Number of stored package blobs (purged ones included)."""

    @abc.abstractmethod
    async def blob_headers(
        self, after_id: str, limit: int, head: int
    ) -> Sequence[tuple[str, bytes, int]]:
        """``(package_id, first head bytes as stored, stored length)`` of the blobs whose id
        sorts after ``after_id``, by id, at most ``limit`` (keyset pagination): enough to
        read the key id of an encrypted blob without fetching it."""

    @abc.abstractmethod
    async def stored_blobs(self, package_ids: Sequence[str]) -> dict[str, bytes]:
        """The blobs exactly as stored (sealed, not decrypted), by package id."""

    @abc.abstractmethod
    async def replace_blobs(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        """Compare-and-set ``(package_id, old, new)`` in one short transaction: each blob is
        replaced only if it still holds exactly ``old`` and is not purged. Returns how many
        were replaced (the others changed meanwhile and are left alone)."""

    # -- VXP facade systems (issue 11) ------------------------------------------------------------

    @abc.abstractmethod
    async def create_vxp_system(self, system: VxpSystem) -> VxpSystem | None:
        """Create a VXP system's record (``version`` 1; ``changed_at`` ``None``: now) and
        return it, or ``None`` when a system with this id exists (left as it is).

        Atomic: of any number of concurrent creations of one id, by any processes, exactly
        one returns the record; the store's key decides, not a look-up made before."""

    @abc.abstractmethod
    async def set_vxp_secret(
        self,
        system_id: str,
        *,
        secret: bytes | None,
        secret_file: str | None,
        changed_at: datetime,
        reason: str | None,
    ) -> VxpSystem | None:
        """Replace where the system's secret is kept (sealed ``secret`` or ``secret_file``)
        and its ``changed_at``/``reason``, ``version`` plus one, in one write; the record as
        stored, or ``None`` when there is no such system. ``enabled`` and ``agencies`` are
        not written, so a concurrent :meth:`set_vxp_enabled` is never undone."""

    @abc.abstractmethod
    async def set_vxp_enabled(
        self, system_id: str, enabled: bool, *, changed_at: datetime, reason: str | None
    ) -> VxpSystem | None:
        """Set ``enabled`` (and ``changed_at``/``reason``, ``version`` plus one) in one
        write; the record as stored, or ``None`` when there is no such system. The secret's
        columns are not written, so a concurrent :meth:`set_vxp_secret` is never undone."""

    @abc.abstractmethod
    async def get_vxp_system(self, system_id: str) -> VxpSystem | None:
        """One VXP system, read from the store on every call (no cache), so a disable or a
        rotation recorded by any process takes effect on the next request everywhere."""

    @abc.abstractmethod
    async def vxp_systems(self) -> Sequence[VxpSystem]:
        """Every VXP system, by ``system_id``."""

    # -- dashboard (issue 6) ----------------------------------------------------------------------

    @abc.abstractmethod
    def dashboard(self) -> DashboardStore:
        """The operators' dashboard queries and tables (operators, sessions, audit, discards)
        over this store's connections; see :class:`hub.store.facets.DashboardStore`."""

    # -- lifecycle (issue 5) ----------------------------------------------------------------------

    @abc.abstractmethod
    def lifecycle(self) -> LifecycleStore:
        """Document and dossier lifecycles, history, notified alarms, over this store's
        connections; see :class:`hub.store.facets.LifecycleStore`."""

    # -- audit log (issue 7) ---------------------------------------------------------------------

    @abc.abstractmethod
    def audit(self) -> AuditStore:
        """The event log as an audit trail (chained rows, heads, checkpoints, signed acks,
        purges) over this store's connections; see :class:`hub.store.facets.AuditStore`."""

    # -- online revocation cache (issue 14) -------------------------------------------------------

    @abc.abstractmethod
    def revocation_cache(self) -> RevocationCacheStore:
        """The shared cache of CRLs/OCSP answers fetched online and the sources' health
        (migration 0010); see :class:`hub.store.facets.RevocationCacheStore`."""
