"""What the dashboard reads and writes in the store: records and the :class:`DashboardStore`
contract, implemented per backend in :mod:`hub.store.sqlite.dashboard` and
:mod:`hub.store.postgres.dashboard` and reached through ``Store.dashboard()``.

Kept free of aiohttp and of the store modules so that the store can import it without cycles.
Every listing is paged by ``seq`` with a keyset (``before``/``after``), never by OFFSET, so a
page costs the same at 100 or 100,000 packages.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime

from hub.models import DeliveryRecord, PackageRecord

#: delivery states that still wait for something (not acked, not dead)
OPEN_STATES = ("pending", "queued", "available", "delivered", "failed")
#: states where the recipient has the package and has not acknowledged it
UNACKED_STATES = ("available", "delivered")
#: states where the package has not reached the recipient yet
UNDELIVERED_STATES = ("pending", "queued", "failed")

ROLES = ("viewer", "operator")


@dataclass(frozen=True, slots=True)
class Operator:
    """An operator account (never an agency)."""

    username: str
    password_hash: str
    role: str  # viewer | operator
    created_at: datetime
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in operator's session (the cookie carries the token, the store its hash)."""

    username: str
    role: str
    csrf: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One operator action: who, what, on what, when."""

    at: datetime
    username: str
    action: str
    target: str | None = None
    detail: dict[str, object] = field(default_factory=dict)
    seq: int = 0  # assigned by the store


@dataclass(frozen=True, slots=True)
class Overview:
    """Counters for the overview page and the live stream."""

    packages: int
    deliveries_by_state: dict[str, int]
    accepted_per_minute: tuple[int, ...]  # oldest first, one per minute, ending now
    refused_per_minute: tuple[int, ...]
    dead_letters: int  # dead and not discarded


@dataclass(frozen=True, slots=True)
class AgencyActivity:
    """One agency as the store sees it (configuration is merged in by the web layer)."""

    organ_id: str
    by_state: dict[str, int]
    oldest_undelivered_at: datetime | None
    oldest_undelivered_id: str | None
    oldest_unacked_at: datetime | None
    last_sent_at: datetime | None
    last_sent_id: str | None
    last_ack_at: datetime | None

    @property
    def backlog(self) -> int:
        """Deliveries to this agency not yet in its hands (pending, queued, failed)."""
        return sum(self.by_state.get(s, 0) for s in ("pending", "queued", "failed"))

    @property
    def unacked(self) -> int:
        """Deliveries it has (available or delivered) but has not acknowledged."""
        return sum(self.by_state.get(s, 0) for s in UNACKED_STATES)


@dataclass(frozen=True, slots=True)
class PackageQuery:
    """Search filters; every field optional. ``organ_id`` matches the sender or a recipient
    (``role`` narrows it to ``from`` or ``to``); ``state`` matches any delivery's state."""

    document_id: str | None = None
    organ_id: str | None = None
    role: str = "any"  # any | from | to
    since: datetime | None = None
    until: datetime | None = None
    kind: str | None = None
    state: str | None = None
    subject: str | None = None  # Subject words, folded (hub.store.textsearch)


@dataclass(frozen=True, slots=True)
class PackageRow:
    """One search result: the package and its deliveries."""

    seq: int
    package: PackageRecord
    deliveries: tuple[DeliveryRecord, ...]


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """A delivery with its package (dead letters, unacknowledged documents)."""

    seq: int
    package: PackageRecord
    delivery: DeliveryRecord


@dataclass(frozen=True, slots=True)
class Listing:
    """A page of rows, newest or oldest first; ``next`` is the seq to continue from."""

    rows: tuple[PackageRow, ...] | tuple[DeliveryRow, ...] | tuple[AuditEntry, ...]
    next: int | None = None


class DashboardStore(abc.ABC):
    """The dashboard's queries and its own tables (operators, sessions, audit, discards)."""

    # -- operators and sessions -----------------------------------------------------------------

    @abc.abstractmethod
    async def add_operator(self, operator: Operator, *, replace: bool = False) -> bool:
        """Create the account; ``replace`` updates password and role of an existing one.
        Returns ``False`` when it exists and ``replace`` is false."""

    @abc.abstractmethod
    async def get_operator(self, username: str) -> Operator | None:
        """One account."""

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
        """Totals and per-minute throughput/refusals over the last ``minutes``."""

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
