"""Frozen records of the lifecycles, as the store keeps and returns them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


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
