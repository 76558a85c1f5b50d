"""The records the store keeps and returns: plain frozen dataclasses, part of the store
contract (:mod:`hub.store.abc`, :mod:`hub.store.facets`).

Every layer above the store (pipeline, lifecycle, audit, dashboard, CLI) builds and reads these;
the store and its backends import nothing from those layers. Grouped by facet: the operators'
dashboard, document and dossier lifecycles, the audit log, the revocation cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.models import DeliveryRecord, PackageRecord

# -- dashboard (Store.dashboard()) ------------------------------------------------------------

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
    #: Deliveries not yet acknowledged, by state (``acked`` is left out: counting every
    #: delivery ever acknowledged, every two seconds, would grow with all history).
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


# -- lifecycles (Store.lifecycle()) ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DocState:
    """The state of one document for one recipient (``state`` ``none`` or a status code)."""

    author: str
    document_id: str
    recipient: str
    package_id: str  # the document package
    business_doc_type: int
    original_id: str | None  # the DocumentId a revocation/update/replacement refers to
    state: str
    sent_at: datetime  # when the hub accepted the document
    answered_at: datetime | None  # the recipient's first code (acknowledgement)
    updated_at: datetime
    prior_state: str | None = None  # the state before a pending 13 (a 16 returns to it)
    codes: tuple[str, ...] = ()  # every code recorded for this row, in the order first sent

    @property
    def key(self) -> DocKey:
        """Where the row stands in the order the unanswered rows are read in."""
        return (self.sent_at, self.package_id, self.recipient)


#: A document row's place in sending order: (sent_at, package id, recipient).
DocKey = tuple[datetime, str, str]


@dataclass(frozen=True, slots=True)
class WalkMark:
    """Where a walk over the document rows in sending order stopped (table ``lc_walks``,
    migration 0016): ``name`` the walk, ``settings`` a fingerprint of the rule it walked
    under (a mark under other settings is not continued, see
    :class:`hub.lifecycle.alarms.AlarmEvaluator`), ``position`` the last row walked. Every
    row at or before ``position`` was dealt with before the mark was stored."""

    name: str
    settings: str
    position: DocKey


@dataclass(frozen=True, slots=True)
class DossierState:
    """The state of one dossier (MaHoSo) and the facts alarms and reports need."""

    ma_ho_so: str
    ma_tthc: str | None
    agency: str  # the handling agency
    submitter: str  # the agency (one-stop system) that sent the dossier record
    online: bool  # HinhThuc = 1 (submitted online)
    level: int | None  # the procedure's online service level from the catalogue
    state: str  # TrangThaiHoSo
    submitted_at: datetime  # NgayTiepNhan, else the hub's acceptance time
    accepted_at: datetime | None  # first time it reached 2 (accepted) or beyond
    due_at: datetime | None  # NgayHenTra
    finished_at: datetime | None  # first time it reached 9/10 (or NgayTra)
    updated_at: datetime
    package_id: str  # the package that created the record


@dataclass(frozen=True, slots=True)
class Transition:
    """One applied move of a lifecycle, kept forever (the history shown in traces).

    ``subject`` is ``document`` (key = DocumentId, ``party`` = the recipient) or ``dossier``
    (key = MaHoSo, ``party`` = None).
    """

    subject: str
    key: str
    party: str | None
    from_state: str
    to_state: str
    package_id: str
    sha256: str
    at: datetime
    actor: str  # the agency that sent the package
    seq: int = 0


@dataclass(frozen=True, slots=True)
class DocMove:
    """Move the document package ``package_id`` for ``recipient`` from ``expect`` to ``to``
    (compare-and-set on the state *and* the codes recorded, ``expect_codes``). ``answered``
    sets ``answered_at`` when not yet set; ``prior`` is stored as the state a 16 returns to;
    ``codes`` replaces the recorded codes (``None``: ``expect_codes`` plus the new state)."""

    package_id: str
    recipient: str
    expect: str
    to: str
    answered: bool = False
    prior: str | None = None
    expect_codes: tuple[str, ...] = ()
    codes: tuple[str, ...] | None = None

    @property
    def new_codes(self) -> tuple[str, ...]:
        """The codes recorded after the move."""
        if self.codes is not None:
            return self.codes
        return self.expect_codes if self.to in self.expect_codes else (*self.expect_codes, self.to)


@dataclass(frozen=True, slots=True)
class DossierMove:
    """Create (``expect`` is ``None``: must not exist) or move (compare-and-set) a dossier."""

    record: DossierState
    expect: str | None


@dataclass(frozen=True, slots=True)
class LifecycleChange:
    """What one package does to the lifecycles, applied atomically by the store.

    ``new_docs``: rows to insert (a document accepted: one per recipient, state ``none``);
    ``doc_moves`` and ``dossier``: compare-and-set moves; ``transitions``: history rows.
    ``sha256`` makes the change idempotent: when the history already holds a transition with
    this sha256 the whole change was applied before (the same bytes retried) and is skipped.
    """

    sha256: str
    at: datetime  # the package's acceptance time
    new_docs: tuple[DocState, ...] = ()
    doc_moves: tuple[DocMove, ...] = ()
    dossier: DossierMove | None = None
    transitions: tuple[Transition, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        """Nothing to apply."""
        return not (self.new_docs or self.doc_moves or self.dossier or self.transitions)


# -- audit log (Store.audit()) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last event of one chain, as the chain table records it."""

    chain_id: str
    owner: str
    head_seq: int
    head_hash: str


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    """One stored checkpoint: the signed XML and, if any, its RFC 3161 token."""

    id: int
    at: datetime
    document: bytes
    tst: bytes | None


@dataclass(frozen=True, slots=True)
class SignedAck:
    """An acknowledgement signed by the recipient, exact bytes."""

    package_id: str
    recipient: str
    received_at: datetime
    data: bytes


@dataclass(frozen=True, slots=True)
class PurgeCandidate:
    """A package the retention purge may drop the bytes of (``seq`` is the page's key)."""

    seq: int
    package_id: str
    sha256: str


@dataclass(frozen=True, slots=True)
class ChainedEvent:
    """One event row with its chain fields, exactly as stored.

    ``hash`` seals the row and ``prev_hash`` links it to the previous row of chain
    ``chain_id``; how they are computed and checked is the audit package's business
    (``hub/audit/chain.py``), which the store reaches only through
    :class:`hub.store.facets.EventChainer`.
    """

    seq: int
    package_id: str | None
    kind: str
    at: datetime
    recipient: str | None
    attempt: int | None
    detail: dict[str, Any] = field(default_factory=dict)
    chain_id: str | None = None
    chain_seq: int | None = None
    prev_hash: str | None = None
    hash: str | None = None


# -- online revocation cache (Store.revocation_cache()) ---------------------------------------


@dataclass(frozen=True, slots=True)
class SourceState:
    """Health of one revocation source (a CRL or OCSP URL)."""

    url: str
    kind: str
    failures: int  # consecutive failed attempts (0: the last attempt succeeded)
    failing_since: datetime | None
    last_error: str | None
    last_ok: datetime | None
    last_attempt: datetime
