"""The lifecycle step of ingest: addressing from the lifecycles, then transition checks.

:class:`Lifecycle` implements :class:`hub.lifecycle.step.LifecycleStep` for
:class:`hub.pipeline.ingest.Ingestor`:

* :meth:`Lifecycle.address` *before* routing: a dossier without ``To`` goes to the handling
  agency of its MaTTHC (procedure catalogue); dossier progress without ``To`` goes to the
  dossier's submitter and handling agency; a revocation, update or replacement
  (BussinessDocType 1/2/3) goes to the recipients of the originals it names
  (:func:`original_ids`) **and** to its own ``To`` (the
  union: the standard sends it to the original recipients, and an update may add some). Copy
  rules of ``routes.toml`` apply afterwards, so the national portal mirror is a plain rule.
* :meth:`Lifecycle.plan` *after* routing and de-duplication: reads the current state from the
  store (the originals once: addressing passes them on) and refuses an illegal move
  (``lifecycle.*`` codes), recording the refusal as a ``refused`` event on the document's
  trace.

The :class:`Plan` becomes, through :meth:`Plan.change`, a compare-and-set keyed by the
package's sha256 that the store applies **in the package's own accept transaction**
(:meth:`hub.store.abc.Store.accept`): of two packages racing from the same state (two hub
workers, or two in one group) exactly one applies and is stored, the other is refused with
nothing of it stored (:meth:`Lifecycle.refused` writes the refusal on the trace); the same
bytes retried find their package stored. :meth:`Plan.links` are the ``revoked``/``updated``/
``replaced`` events on the originals' traces, written in that transaction too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from hub.dossier import DossierPackage, parse_dvc_time
from hub.edxml import EdxmlPackage
from hub.errors import (
    IllegalTransition,
    LifecycleError,
    NotAuthor,
    NotParty,
    OriginalUnknown,
    ProcedureUnknown,
)
from hub.lifecycle.config import LifecycleSettings
from hub.lifecycle.machines import (
    ANSWER_CODES,
    AUTHOR_CODES,
    DOSSIER_ACCEPTED,
    NONE,
    document_step,
    dossier_allowed,
)
from hub.lifecycle.step import Addressed, LifecycleInput, PlanInput
from hub.models import Event, PackageRecord
from hub.store import Store
from hub.store.records import (
    DocMove,
    DocState,
    DossierMove,
    DossierState,
    LifecycleChange,
    Transition,
)
from hub.text import nfc, nfc_or_none  # keys compare in NFC (issue 10)

log = logging.getLogger("hub.lifecycle")

CHANGE_EVENTS = {1: "revoked", 2: "updated", 3: "replaced"}
"""Event kind written on the original's trace when a change document is accepted."""
CHANGE_NAMES = {1: "revocation", 2: "update", 3: "replacement"}
FINISHED = frozenset({"9", "10"})


@dataclass(frozen=True, slots=True)
class Plan:
    """What a checked package will do to the lifecycles (bound to its id by :meth:`change`).

    ``docs``: a document's recipients (new rows); ``move``: a status's move; ``dossier``: the
    dossier record after the package with the state it must still be in (``None``: new).
    """

    subject: str  # document | status | dossier | none
    sender: str
    key: str | None = None
    business_doc_type: int = 0
    original_id: str | None = None
    original_packages: tuple[str, ...] = ()
    docs: tuple[str, ...] = ()
    move: DocMove | None = None
    move_party: str | None = None
    dossier: DossierState | None = None
    dossier_expect: str | None = None
    status_code: str | None = None  # the code a status sent (its move's ``to`` is the state)
    more_moves: tuple[DocMove, ...] = ()  # a representative answering for several sub-units

    def links(self, package_id: str, at: datetime) -> tuple[Event, ...]:
        """A revocation/update/replacement's link on each original's trace (``revoked``,
        ``updated``, ``replaced``), written with the package."""
        if self.subject != "document" or self.business_doc_type not in CHANGE_EVENTS:
            return ()
        return tuple(
            Event(
                package_id=original,
                kind=CHANGE_EVENTS[self.business_doc_type],
                at=at,
                detail={
                    "by_package": package_id,
                    "document_id": self.key,
                    "business_doc_type": self.business_doc_type,
                },
            )
            for original in self.original_packages
        )

    def change(self, package_id: str, sha256: str, at: datetime) -> LifecycleChange:
        """The store change for this plan, once the package has an id and a time."""
        if self.subject == "document" and self.key is not None:
            rows = tuple(
                DocState(
                    author=self.sender,
                    document_id=self.key,
                    recipient=r,
                    package_id=package_id,
                    business_doc_type=self.business_doc_type,
                    original_id=self.original_id,
                    state=NONE,
                    sent_at=at,
                    answered_at=None,
                    updated_at=at,
                )
                for r in self.docs
            )
            trs = tuple(
                Transition("document", self.key, r, "", NONE, package_id, sha256, at, self.sender)
                for r in self.docs
            )
            return LifecycleChange(sha256=sha256, at=at, new_docs=rows, transitions=trs)
        if self.subject == "status" and self.move is not None and self.key is not None:
            tr = Transition(
                "document",
                self.key,
                self.move_party,
                self.move.expect,
                # The history names the code sent; the row holds the state it led to (they
                # differ under ``compatible`` only: a 16 returns to the state before 13).
                self.status_code or self.move.to,
                package_id,
                sha256,
                at,
                self.sender,
            )
            more = tuple(  # issue 10: the other sub-units a representative's status answers for
                Transition(
                    "document",
                    self.key,
                    m.recipient,
                    m.expect,
                    self.status_code or m.to,
                    package_id,
                    sha256,
                    at,
                    self.sender,
                )
                for m in self.more_moves
            )
            return LifecycleChange(
                sha256=sha256,
                at=at,
                doc_moves=(self.move, *self.more_moves),
                transitions=(tr, *more),
            )
        if self.subject == "dossier" and self.dossier is not None:
            d = self.dossier
            record = replace(
                d,
                updated_at=at,
                submitted_at=at if self.dossier_expect is None else d.submitted_at,
                package_id=package_id if self.dossier_expect is None else d.package_id,
                accepted_at=d.accepted_at or (at if d.state in DOSSIER_ACCEPTED else None),
                finished_at=d.finished_at or (at if d.state in FINISHED else None),
            )
            before = self.dossier_expect if self.dossier_expect is not None else NONE
            trs = (
                (
                    Transition(
                        "dossier",
                        d.ma_ho_so,
                        None,
                        before,
                        d.state,
                        package_id,
                        sha256,
                        at,
                        self.sender,
                    ),
                )
                if before != d.state
                else ()
            )
            return LifecycleChange(
                sha256=sha256,
                at=at,
                dossier=DossierMove(record=record, expect=self.dossier_expect),
                transitions=trs,
            )
        return LifecycleChange(sha256=sha256, at=at)


NO_PLAN = Plan(subject="none", sender="")


class Lifecycle:
    """The lifecycle step over a store; see the module docstring."""

    def __init__(self, settings: LifecycleSettings, store: Store) -> None:
        self.settings = settings
        self.store = store

    # -- addressing (before routing) -------------------------------------------------------------

    async def address(self, subject: LifecycleInput) -> Addressed:
        """Recipients the lifecycles decide (see the module docstring)."""
        pkg = subject.package
        lc = self.store.lifecycle()
        extra: tuple[str, ...] | None = None
        originals: tuple[DocState, ...] | None = None
        if isinstance(pkg, DossierPackage) and not subject.recipients:
            if pkg.ho_so is not None:
                proc = self.settings.catalogue.get(pkg.ho_so.ma_tthc)
                if proc is None:
                    raise ProcedureUnknown(
                        f"the dossier names no handling agency in To and MaTTHC "
                        f"{pkg.ho_so.ma_tthc} is not in the procedure catalogue",
                        ma_tthc=pkg.ho_so.ma_tthc,
                    )
                extra = (proc.agency,)
            else:
                known = await lc.dossier(nfc(pkg.ma_ho_so))
                if known is None:
                    raise OriginalUnknown(
                        f"progress for dossier {pkg.ma_ho_so}, which the hub does not know, "
                        "and no To",
                        ma_ho_so=pkg.ma_ho_so,
                    )
                extra = tuple(a for a in (known.submitter, known.agency) if a != subject.sender)
        elif isinstance(pkg, EdxmlPackage) and subject.business_doc_type in (1, 2, 3):
            originals = tuple(await self._original(subject))
            extra = tuple(dict.fromkeys(r.recipient for r in originals))
        if extra is None:
            return Addressed(recipients=subject.recipients)
        # The package's own To first (the order it names), then what the lifecycle adds.
        recipients = tuple(dict.fromkeys((*subject.recipients, *extra)))
        return Addressed(recipients=recipients, originals=originals)

    async def _original(self, subject: LifecycleInput) -> list[DocState]:
        """The original's rows for a BussinessDocType 1/2/3 document, or a refusal.

        The originals are named, first found wins (docs/lifecycle.md): ``Bussiness/DocumentId``;
        else every ``Bussiness/ReplacementInfoList/ReplacementInfo/DocumentId`` (a replacement
        may replace several documents); else every ``ResponseFor/DocumentId`` (the SDK writes
        a revocation with one ResponseFor per recipient, all naming the same document). Every
        document named must be known to the hub and sent by the package's sender.
        """
        pkg, sender = subject.package, subject.sender
        assert isinstance(pkg, EdxmlPackage)
        kind = CHANGE_NAMES[subject.business_doc_type or 0]
        # Keys compare in NFC (hub.text): a DocumentId sent in NFD names the same document.
        named = tuple(dict.fromkeys(n for n in map(nfc_or_none, original_ids(pkg)) if n))
        if not named:
            raise OriginalUnknown(
                f"a {kind} (BussinessDocType {subject.business_doc_type}) must name the "
                "original in Bussiness/DocumentId, Bussiness/ReplacementInfoList/ReplacementInfo/"
                "DocumentId or ResponseFor/DocumentId"
            )
        out: list[DocState] = []
        for original_id in named:
            rows = list(await self.store.lifecycle().documents(original_id))
            if not rows:
                raise OriginalUnknown(
                    f"the original document {original_id} is unknown to the hub",
                    original_id=original_id,
                )
            mine = [r for r in rows if r.author == sender]
            if not mine:
                raise NotAuthor(
                    f"{sender} is not the author of {original_id} ({rows[0].author} is)",
                    original_id=original_id,
                    author=rows[0].author,
                )
            out.extend(mine)
        return out

    # -- checking (after routing) ----------------------------------------------------------------

    async def plan(self, request: PlanInput) -> Plan:
        """Check the move the package makes; ``request.record`` writes refusals on the trace."""
        subject = request.subject
        try:
            return await self._plan(request)
        except LifecycleError as exc:
            if isinstance(exc, IllegalTransition) and await self.store.lifecycle().transitions(
                sha256=subject.sha256
            ):
                # The same bytes retried after their move was applied but before the package
                # was committed (possible with releases that applied the move in a
                # transaction of its own): the move is theirs, not a conflict.
                return NO_PLAN
            if request.record:
                await self.refused(exc, subject, request.at)
            raise

    async def refused(self, exc: LifecycleError, subject: LifecycleInput, at: datetime) -> None:
        """A ``refused`` event on the trace of the document concerned (if known)."""
        detail: dict[str, Any] = {
            "code": exc.code,
            "detail": exc.detail,
            "sender": subject.sender,
            "kind": subject.kind,
            "reference_id": subject.reference_id,
            "status_code": subject.status_code,
            "sha256": subject.sha256,
        }
        detail.update({k: v for k, v in exc.extra.items() if isinstance(v, str | int | bool)})
        package_id = exc.extra.get("package_id")
        try:
            await self.store.append_event(
                Event(
                    package_id=package_id if isinstance(package_id, str) else None,
                    kind="refused",
                    at=at,
                    detail=detail,
                )
            )
        except Exception as err:  # the refusal stands even if the trace cannot be written
            log.warning("could not record the lifecycle refusal: %s", err)

    async def _plan(self, request: PlanInput) -> Plan:
        s, recipients = request.subject, request.parties
        pkg = s.package
        if isinstance(pkg, EdxmlPackage) and s.kind == "document" and s.reference_id:
            bdt = s.business_doc_type or 0
            original: Sequence[DocState] = ()
            if bdt in (1, 2, 3):
                known = request.addressed.originals
                original = known if known is not None else await self._original(s)
            return Plan(
                subject="document",
                sender=s.sender,
                key=s.reference_id,
                business_doc_type=bdt,
                original_id=original[0].document_id if original else None,
                original_packages=tuple(dict.fromkeys(r.package_id for r in original)),
                docs=recipients,
            )
        if isinstance(pkg, EdxmlPackage) and s.kind == "status" and s.reference_id:
            return await self._plan_status(s)
        if isinstance(pkg, DossierPackage):
            return await self._plan_dossier(pkg, s.sender, recipients, request.at)
        return NO_PLAN

    async def _plan_status(self, s: LifecycleInput) -> Plan:
        code, document_id = s.status_code or "", s.reference_id or ""
        other = s.recipients[0] if s.recipients else ""
        author, party = (s.sender, other) if code in AUTHOR_CODES else (other, s.sender)
        rows = list(await self.store.lifecycle().documents(document_id))
        if not rows:
            # Documents exchanged before the hub (or around it) are not tracked: their
            # statuses pass as before, unchecked. Everything sent through the hub is.
            return NO_PLAN
        mine = [r for r in rows if r.author == author]
        if not mine:
            err = NotAuthor if code in AUTHOR_CODES else NotParty
            raise err(
                f"{document_id} is not a document of {author} ({rows[0].author} sent it)",
                package_id=rows[0].package_id,
            )
        parties = await answers_for(self.store, party, mine)  # issue 10: sub-units
        if not parties:
            raise NotParty(
                f"{party} did not receive {document_id}; it cannot answer it",
                package_id=mine[-1].package_id,
            )
        # The policy of the agency that sends the status (hub.toml, agencies.toml override).
        policy = self.settings.policy_for(s.sender)
        moves: list[DocMove] = []
        for party in parties:
            # The latest package with this DocumentId sent to this recipient.
            row = [r for r in mine if r.recipient == party][-1]
            step = document_step(
                policy,
                row.state,
                code,
                business_doc_type=row.business_doc_type,
                prior=row.prior_state,
                sent=frozenset(row.codes),
            )
            if step is None:
                repeat = code in row.codes and row.state != "15"
                raise IllegalTransition(
                    f"status {code} is not allowed for {document_id} at {party}, whose state "
                    f"is {row.state}"
                    + (f" ({code} was already sent)" if repeat and policy == "compatible" else "")
                    + f" (lifecycle policy {policy})",
                    package_id=row.package_id,
                    state=row.state,
                    status_code=code,
                    policy=policy,
                )
            moves.append(
                DocMove(
                    package_id=row.package_id,
                    recipient=party,
                    expect=row.state,
                    to=step.state,
                    answered=code in ANSWER_CODES,
                    prior=step.prior,
                    expect_codes=row.codes,
                    codes=row.codes if code in row.codes else (*row.codes, code),
                )
            )
        return Plan(
            subject="status",
            sender=s.sender,
            key=document_id,
            move=moves[0],
            move_party=moves[0].recipient,
            status_code=code,
            more_moves=tuple(moves[1:]),
        )

    async def _plan_dossier(
        self, pkg: DossierPackage, sender: str, recipients: tuple[str, ...], at: datetime
    ) -> Plan:
        ma = nfc(pkg.ma_ho_so)  # the key, as the summary's (hub.pipeline.checks)
        new_state = pkg.trang_thai_ho_so
        current = await self.store.lifecycle().dossier(ma)
        due_text = pkg.ho_so.ngay_hen_tra if pkg.ho_so else pkg.tien_do and pkg.tien_do.ngay_hen_tra
        due = parse_dvc_time(due_text) if due_text else None
        if current is None:
            if pkg.ho_so is None:
                raise OriginalUnknown(
                    f"progress for dossier {ma}, which the hub has never seen", ma_ho_so=ma
                )
            # A first record may come in any state: dossiers registered before the hub are
            # synchronised late (DongBoHoSoMC); their history starts here.
            proc = self.settings.catalogue.get(pkg.ho_so.ma_tthc)
            agency = proc.agency if proc and proc.agency in recipients else recipients[0]
            record = DossierState(
                ma_ho_so=ma,
                ma_tthc=pkg.ho_so.ma_tthc,
                agency=agency,
                submitter=sender,
                online=pkg.ho_so.hinh_thuc == "1",
                level=proc.level if proc else None,
                state=new_state,
                submitted_at=_EPOCH,  # replaced by the acceptance time in Plan.change
                accepted_at=None,
                due_at=due,
                finished_at=None,
                updated_at=_EPOCH,
                package_id="",
            )
            if due is None and proc is not None:
                # Without NgayHenTra, due after the procedure's legal time limit from the
                # acceptance time (the time the plan's change will carry).
                due = self.settings.calendar.add_working_days(at, proc.time_limit_days)
                record = replace(record, due_at=due)
            return Plan(subject="dossier", sender=sender, key=ma, dossier=record)
        if sender not in (current.submitter, current.agency):
            raise NotParty(
                f"{sender} is neither the submitter ({current.submitter}) nor the handling "
                f"agency ({current.agency}) of dossier {ma}",
                package_id=current.package_id,
            )
        if not dossier_allowed(current.state, new_state):
            raise IllegalTransition(
                f"dossier {ma} cannot go from TrangThaiHoSo {current.state} to {new_state}",
                package_id=current.package_id,
                state=current.state,
                trang_thai_ho_so=new_state,
            )
        record = replace(current, state=new_state, due_at=due or current.due_at)
        if new_state in FINISHED and current.finished_at is None and pkg.tien_do is not None:
            # On time is judged in the agency's own record: when it says it processed the
            # dossier (NgayXuLy, else NgayTra), against NgayHenTra; the hub's acceptance time
            # only stands in when the step carries no time (a late sync is not a late dossier).
            stated = pkg.tien_do.ngay_xu_ly or pkg.tien_do.ngay_tra or ""
            record = replace(record, finished_at=parse_dvc_time(stated))
        return Plan(
            subject="dossier",
            sender=sender,
            key=ma,
            dossier=record,
            dossier_expect=current.state,
        )


class NoLifecycle:
    """The lifecycle step when lifecycles are not enforced: addresses and plans nothing."""

    async def address(self, subject: LifecycleInput) -> Addressed:
        """The package's own recipients."""
        return Addressed(recipients=subject.recipients)

    async def plan(self, request: PlanInput) -> Plan:
        """No move."""
        return NO_PLAN

    async def refused(self, exc: LifecycleError, subject: LifecycleInput, at: datetime) -> None:
        """Nothing to record: without lifecycles nothing is refused for them."""


def original_ids(pkg: EdxmlPackage) -> tuple[str, ...]:
    """The DocumentIds a revocation, update or replacement names as its originals, in the order
    of :meth:`Lifecycle._original`: ``Bussiness/DocumentId``, else every ReplacementInfo's
    DocumentId, else every ResponseFor's DocumentId (each de-duplicated, in document order)."""
    business = pkg.business
    if business is not None and business.document_id:
        return (business.document_id,)
    if business is not None:
        replaced = tuple(dict.fromkeys(r.document_id for r in business.replacement_info_list))
        if replaced:
            return replaced
    return tuple(dict.fromkeys(rf.document_id for rf in pkg.header.response_fors if rf.document_id))


_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


async def answers_for(store: Store, party: str, rows: Sequence[DocState]) -> tuple[str, ...]:
    """The recipients of a document (``rows``: its rows by one author) that a status naming
    ``party`` concerns (issue 10, sub-units): the recipient answering, or the one an author's
    ``13`` is addressed to.

    ``party``'s own row if it has one (it was addressed directly, or the status names the
    sub-unit, sent by its representative); otherwise every original code that the document's
    delivery to ``party`` stood for (``deliveries.stands_for``): a province answering in its
    own name answers for all the sub-units it received the document for. ``()``: ``party``
    is no party to the document.
    """
    if any(r.recipient == party for r in rows):
        return (party,)
    recipients = {r.recipient for r in rows}
    found: list[str] = []
    for package_id in dict.fromkeys(r.package_id for r in rows):
        delivery = await store.get_delivery(package_id, party)
        if delivery is not None:
            found.extend(c for c in delivery.stands_for if c in recipients)
    return tuple(dict.fromkeys(found))


async def lifecycle_trace(store: Store, record: PackageRecord) -> dict[str, Any]:
    """The lifecycle part of a package's trace (``GET /v1/packages/{id}/trace``): for a
    document, its state per recipient and the history of its DocumentId; for a status or a
    dossier package, the transitions it caused; for a dossier, its current state."""
    lc = store.lifecycle()
    out: dict[str, Any] = {}
    if record.kind == "document" and record.document_id:
        rows = [r for r in await lc.documents(record.document_id) if r.package_id == record.id]
        out["states"] = [
            {
                "recipient": r.recipient,
                "state": r.state,
                "answered_at": r.answered_at.isoformat() if r.answered_at else None,
                "original_id": r.original_id,
                "codes": list(r.codes),  # every code recorded, in the order first sent
                "prior_state": r.prior_state,  # while a 13 is pending: where a 16 returns
            }
            for r in rows
        ]
        history = await lc.transitions(key=record.document_id)
    elif record.kind in ("dossier", "dossier_progress") and record.document_id:
        d = await lc.dossier(record.document_id)
        if d is not None:
            out["dossier"] = {
                "ma_ho_so": d.ma_ho_so,
                "state": d.state,
                "agency": d.agency,
                "due_at": d.due_at.isoformat() if d.due_at else None,
            }
        history = await lc.transitions(key=record.document_id)
    else:
        history = await lc.transitions(sha256=record.sha256)
    out["history"] = [
        {
            "subject": t.subject,
            "key": t.key,
            "party": t.party,
            "from": t.from_state,
            "to": t.to_state,
            "package_id": t.package_id,
            "actor": t.actor,
            "at": t.at.isoformat(),
        }
        for t in history
    ]
    return out
