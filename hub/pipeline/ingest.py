"""Ingest: the steps after the CPU-bound checks, one function each, then one accept group.

signature profile → signer binding → authorisation → lifecycle addressing → routing →
lifecycle plan → the accept group (:mod:`hub.pipeline.accept`): **one** transaction for the
group (:meth:`hub.store.abc.Store.accept`: package bytes, receipt, lifecycle compare-and-set,
deliveries, every event; the store's unique constraints refuse the same bytes and a reused
DocumentId there) → receipt (which states the package's warnings). A dry run
(``POST /v1/validate``) reads for a reused DocumentId after routing instead
(:func:`step_deduplicate`).

The check's worker call signs the receipt as well, for the recipients the package is
addressed to (:mod:`hub.pipeline.facts`): a lone submission makes one worker round trip and
one commit. A package whose routing or lifecycle changes its recipients has its receipt
signed by its accept group instead (one worker call for the group's receipts).

A receipt is returned only after that commit. A delivery to an agency that pulls is
``available`` in it (nothing goes through the broker); a push delivery is committed
``pending`` — the transactional outbox — and the relay (:mod:`hub.pipeline.relay`) publishes
it to the broker after the commit, retrying until the broker confirms. So a receipt never
precedes a durable outbox row, and a broker outage no longer refuses submissions.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from hub.broker import QueueEntry
from hub.config import HubConfig
from hub.dossier import DOSSIER_KINDS
from hub.errors import (
    AuthForbidden,
    HubError,
    PackageConflict,
    SignatureError,
    SignerMismatch,
    Unavailable,
    UnknownRecipient,
)
from hub.lifecycle.engine import NO_PLAN, NoLifecycle, Plan
from hub.lifecycle.step import Addressed, LifecycleInput, LifecycleStep, PlanInput
from hub.logs import PACKAGE_ID
from hub.metrics import DELIVERIES, LEGACY_SIGNED, UNSIGNED_ENVELOPES
from hub.models import DeliveryState, Event, NewPackage, PackageKind, PackageRecord
from hub.pipeline.accept import AcceptGroups, Submission
from hub.pipeline.checks import Checked
from hub.pipeline.executor import CheckExecutor
from hub.pipeline.facts import ReceiptDraft, SignedReceipt, receipt_facts
from hub.pipeline.relay import OutboxRelay
from hub.registry import Registry
from hub.revinfo import RevocationService
from hub.routing import resolve
from hub.store import Store
from hub.store.abc import AcceptItem, AddOutcome

log = logging.getLogger("hub.ingest")


@dataclass(frozen=True, slots=True)
class Accepted:
    """The outcome of a submission the hub accepted (now or before)."""

    package_id: str
    receipt: bytes
    created: bool  # False when identical bytes had been accepted before
    sender: str
    recipients: tuple[str, ...]
    kind: str
    document_id: str | None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Routed:
    """A checked package, its authorised sender and its recipients."""

    checked: Checked
    recipients: tuple[str, ...]
    lifecycle: Plan = NO_PLAN  # the lifecycle move it makes (issue 5), once checked
    #: recipient → the sub-unit codes its delivery stands for (issue 10, hub/routing.py)
    stands_for: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: the agencies the package is for (recipients in their own name and the sub-units they
    #: stand for): what the lifecycle keeps one state each for; ``()``: the recipients
    parties: tuple[str, ...] = ()


def step_signature_profile(checked: Checked, registry: Registry) -> Checked:
    """A legacy signature (C14N 1.0, RSA-SHA1) only from an agency whose signature profile is
    ``legacy``; a ``strict`` sender gets the refusal the strict check gives (same code, same
    detail). Runs on the verified From, before the signer binding — as the strict check ran
    before it."""
    if checked.legacy_signature and not registry.legacy_allowed(checked.summary.sender):
        raise SignatureError(
            checked.legacy_refusal or "the legacy signing profile is not allowed",
            code="signature.algorithm_forbidden",
        )
    return checked


def step_bind_signer(checked: Checked, registry: Registry) -> Checked:
    """The signing certificate must be registered (by SHA-256) for the ``From`` agency, or —
    when ``From`` is an unregistered sub-unit — for the agency that represents it (a commune
    sends through its province's system, signed by that system).

    An unsigned package (no ds:Signature, see :func:`hub.pipeline.checks.step_unsigned`) is
    refused ``signature.missing`` unless the ``envelope_signature`` of the ``From`` agency (or
    of the agency representing it) is ``optional`` (issue 11: systems on the VXP SDK);
    ``step_authorise`` then still requires the authenticated caller to speak for ``From``."""
    sender = checked.summary.sender
    if checked.unsigned:
        agency = registry.get(sender) or registry.get(registry.representative(sender) or "")
        if agency is None or agency.envelope_signature != "optional":
            code, detail = checked.unsigned_refusal
            raise SignatureError(detail, code=code or "signature.missing")
        return checked
    if not registry.signer_bound_for(sender, checked.signer_fingerprint):
        raise SignerMismatch(
            f"the signing certificate is not registered for {sender}",
            fingerprint=checked.signer_fingerprint,
        )
    return checked


def step_authorise(checked: Checked, caller: str, registry: Registry) -> Checked:
    """The caller must be the package's ``From`` — or represent it, when ``From`` is an
    unregistered sub-unit of the caller (:meth:`Registry.speaks_for`; never a sibling or a
    parent) — enabled, and allowed to send this kind (the caller's own ``may_send``)."""
    sender = checked.summary.sender
    if not registry.speaks_for(caller, sender):
        raise AuthForbidden(f"the caller {caller} is not the package's From ({sender})")
    agency = registry.get(caller)
    if agency is None or not agency.enabled:
        raise AuthForbidden(f"{caller} is disabled")
    if checked.summary.kind not in agency.may_send:
        raise AuthForbidden(f"{caller} may not send {checked.summary.kind} packages")
    return checked


def step_route(checked: Checked, config: HubConfig, registry: Registry) -> Routed:
    """Recipients from the package and ``routes.toml``; unknown or disabled ones refused."""
    pkg = checked.summary
    if pkg.kind in DOSSIER_KINDS and not pkg.recipients:
        # A dossier package may leave its handling agency to the procedure catalogue, which
        # arrives with the dossier-lifecycle issue; until then it must name it in To.
        raise UnknownRecipient(
            "the dossier package names no handling agency in To, and the procedure catalogue "
            "that would choose one by MaTTHC is not configured (dossier lifecycle issue)",
            recipients=[],
        )
    found = resolve(
        kind=pkg.kind,
        sender=pkg.sender,
        addressed=pkg.recipients,
        registry=registry,
        rules=config.routes,
    )
    return Routed(
        checked=checked,
        recipients=found.recipients,
        stands_for=found.stands_for,
        parties=found.parties(),
    )


def unique_document(kind: str, business_doc_type: int | None, document_id: str | None) -> bool:
    """A new document (BussinessDocType 0) with a DocumentId: one per sender and DocumentId
    (in NFC). The store's unique index (migration 0014) has the same predicate."""
    return kind == "document" and business_doc_type == 0 and bool(document_id)


def conflict_error(document_id: str, existing: str) -> PackageConflict:
    """``409 package.conflict``: the DocumentId was already sent with other content."""
    return PackageConflict(
        f"DocumentId {document_id} was already sent as package {existing} with other content",
        existing=existing,
    )


async def step_deduplicate(routed: Routed, store: Store) -> Routed:
    """A new document (BussinessDocType 0) may not reuse a DocumentId with other bytes.

    A read, for ``POST /v1/validate`` (a dry run: no commit to refuse the package). A
    submission skips it: the store's unique constraint refuses the package at commit
    (``AddOutcome.CONFLICT``, handled in :meth:`Ingestor._accept`), with the same answer, and
    the read would only have cost every new document a store round trip. Nothing between the
    two can refuse such a package first: the lifecycle plan of a new document reads and
    refuses nothing."""
    pkg = routed.checked.summary
    if pkg.reference_id and unique_document(pkg.kind, pkg.business_doc_type, pkg.reference_id):
        existing = await store.find_document(pkg.sender, pkg.reference_id, 0)
        if existing is not None and existing.sha256 != routed.checked.sha256:
            raise conflict_error(pkg.reference_id, existing.id)
    return routed


def new_package_id(at: datetime) -> str:
    """URL-safe, unguessable package ids (they appear in URLs agencies share), ordered by
    acceptance: a UUIDv7 (RFC 9562) as 32 hex digits — the acceptance instant's Unix
    milliseconds, then 74 random bits.

    Why ordered: four indexes are keyed by the package id (the packages' id, the blobs', the
    deliveries' and the events'). With random ids every insert dirties its own leaf page of
    each, all over the file; in acceptance order a group's inserts share the pages at the
    right end. Measured with ``benchmarks/wal_frames.py`` (docs/performance.md): 23.9 → 18.4
    WAL frames per package at 100,000 packages. The instant it shows is the one the
    package's receipt states."""
    millis = int(at.timestamp() * 1000) & 0xFFFF_FFFF_FFFF
    rand = int.from_bytes(secrets.token_bytes(10), "big")  # 80 bits; 74 are kept
    value = (
        millis << 80
        | 0x7 << 76  # version 7
        | (rand >> 68 & 0xFFF) << 64  # rand_a: 12 bits
        | 0b10 << 62  # the RFC 9562 variant
        | rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b: 62 bits
    )
    return f"{value:032x}"


def lifecycle_input(checked: Checked) -> LifecycleInput:
    """What the lifecycle step needs of a checked package."""
    s = checked.summary
    return LifecycleInput(
        package=checked.package,
        sha256=checked.sha256,
        kind=s.kind,
        sender=s.sender,
        recipients=s.recipients,
        reference_id=s.reference_id,
        business_doc_type=s.business_doc_type,
        status_code=s.status_code,
    )


class Ingestor:
    """Runs the whole pipeline for one submission."""

    def __init__(
        self,
        *,
        config: HubConfig,
        registry: Registry,
        store: Store,
        groups: AcceptGroups,
        relay: OutboxRelay,
        executor: CheckExecutor,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lifecycle: LifecycleStep | None = None,
        revocation: RevocationService | None = None,
    ) -> None:
        self.config = config
        # Online revocation (issue 14): what the check workers fetched goes to the shared cache.
        self.revocation = revocation
        # Document/dossier lifecycles (issue 5); NoLifecycle: not enforced.
        self.lifecycle: LifecycleStep = lifecycle if lifecycle is not None else NoLifecycle()
        self.registry = registry
        self.store = store
        self.groups = groups
        self.relay = relay
        self.executor = executor
        self.clock = clock
        # Identical bytes submitted concurrently in this process share one acceptance.
        self._in_flight: dict[str, asyncio.Future[Accepted]] = {}

    async def check(
        self,
        data: bytes,
        caller: str,
        *,
        record_refusals: bool = False,
        at: datetime | None = None,
    ) -> Routed:
        """Every check of a submission, nothing stored (``POST /v1/validate``).

        ``record_refusals``: lifecycle refusals are written on the trace (real submissions,
        not dry runs); ``at``: the acceptance time the lifecycle move will carry."""
        routed, _ = await self._check(data, caller, record_refusals=record_refusals, at=at)
        return routed

    async def _check(
        self,
        data: bytes,
        caller: str,
        *,
        record_refusals: bool = False,
        at: datetime | None = None,
        draft: ReceiptDraft | None = None,
    ) -> tuple[Routed, SignedReceipt | None]:
        """:meth:`check`; with a ``draft``, also the receipt the check's worker call signed
        for the recipients it predicted (:mod:`hub.pipeline.facts`), if it signed one."""
        signed: SignedReceipt | None = None
        if draft is None:
            checked = await self.executor.check(
                data, self.clock(), admit_legacy=self.registry.any_legacy()
            )
        else:
            checked, signed = await self.executor.check_and_sign(
                data, self.clock(), draft, admit_legacy=self.registry.any_legacy()
            )
        if self.revocation is not None and (
            checked.revocation_fetched or checked.revocation_events
        ):
            await self.revocation.record(checked.revocation_fetched, checked.revocation_events)
        step_signature_profile(checked, self.registry)
        step_bind_signer(checked, self.registry)
        step_authorise(checked, caller, self.registry)
        # Recipients the lifecycles decide, before routing.
        subject = lifecycle_input(checked)
        addressed: Addressed = await self.lifecycle.address(subject)
        if addressed.recipients != checked.summary.recipients:
            checked = replace(
                checked, summary=replace(checked.summary, recipients=addressed.recipients)
            )
            subject = replace(subject, recipients=addressed.recipients)
        routed = step_route(checked, self.config, self.registry)
        if draft is None:  # a dry run; a submission's conflict is the commit's (see the step)
            routed = await step_deduplicate(routed, self.store)
        # The move it makes must be allowed from the state. One lifecycle state per party: a
        # sub-unit's own code, not its representative.
        plan = await self.lifecycle.plan(
            PlanInput(
                subject=subject,
                addressed=addressed,
                parties=routed.parties or routed.recipients,
                at=at if at is not None else self.clock(),
                record=record_refusals,
            )
        )
        return replace(routed, lifecycle=plan), signed

    async def submit(self, data: bytes, caller: str) -> Accepted:
        """Accept a package; returns once it is durable and queued, with its receipt."""
        sha256 = hashlib.sha256(data).hexdigest()
        previous = await self.store.find_by_sha256(sha256)
        if previous is not None:
            return await self._again(previous, caller)
        pending = self._in_flight.get(sha256)
        if pending is not None:
            accepted = await asyncio.shield(pending)
            if not self.registry.speaks_for(caller, accepted.sender):
                raise AuthForbidden("the caller is not the package's From")
            return replace(accepted, created=False)
        future: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        self._in_flight[sha256] = future
        try:
            accepted = await self._accept(data, caller)
        except BaseException as exc:
            if not future.done():
                # Cancelled (client gone, shutdown): nothing was refused and the hub did not
                # fail, so the waiters for the same bytes are told to try again (503).
                shared = (
                    exc
                    if isinstance(exc, Exception)
                    else Unavailable("the identical submission in progress was interrupted; retry")
                )
                future.set_exception(shared)
                future.exception()  # mark retrieved: waiters may not exist
            raise
        else:
            future.set_result(accepted)
            return accepted
        finally:
            del self._in_flight[sha256]

    async def _accept(self, data: bytes, caller: str) -> Accepted:
        accepted_at = self.clock()
        # The id and the instant are chosen before the check, so that its worker call can
        # sign the receipt too (one round trip); kept only if it states what routing decided.
        package_id = new_package_id(accepted_at)
        draft = ReceiptDraft(
            package_id=package_id,
            hub_id=self.config.settings.hub_id,
            accepted_at=accepted_at,
        )
        with self.groups.coming():  # its group may wait for it (and only for such)
            routed, signed = await self._check(
                data, caller, record_refusals=True, at=accepted_at, draft=draft
            )
        checked, pkg = routed.checked, routed.checked.summary
        PACKAGE_ID.set(package_id)  # the request's later log lines carry the package id
        facts = receipt_facts(checked, draft, routed.recipients)
        warnings = facts.warnings
        receipt = signed.receipt if signed is not None and signed.facts == facts else None
        new = NewPackage(
            id=package_id,
            sha256=checked.sha256,
            sender=pkg.sender,
            kind=PackageKind(pkg.kind),
            document_id=pkg.reference_id,
            business_doc_type=pkg.business_doc_type,
            status_code=pkg.status_code,
            recipients=routed.recipients,
            accepted_at=accepted_at,
            signer_fingerprint=None if checked.unsigned else checked.signer_fingerprint,
            signer_subject=checked.signer_subject,
            data=data,
            receipt=b"",  # signed with the group (hub.pipeline.accept)
            warnings=warnings,
            stands_for=routed.stands_for,
            subject=pkg.subject,
        )
        plan = routed.lifecycle
        change = plan.change(package_id, checked.sha256, accepted_at)
        pulls = frozenset(r for r in routed.recipients if self.registry.pulls(r))
        events = plan.links(package_id, accepted_at)
        if checked.attachments:
            # Per-attachment PDF verdicts on the trace.
            events += (
                Event(
                    package_id=package_id,
                    kind="attachments_checked",
                    at=accepted_at,
                    detail={"attachments": [a.as_dict() for a in checked.attachments]},
                ),
            )
        item = AcceptItem(
            package=new,
            available=pulls,
            lifecycle=None if change.empty else change,
            events=events,
        )
        committed = await self.groups.add(Submission(item=item, facts=facts, receipt=receipt))
        outcome = committed.result.outcome
        if outcome is AddOutcome.REFUSED:
            # Another package moved the lifecycle first (compare-and-set lost at commit):
            # refused as a plan refusal is, and written on the trace the same way.
            refusal = committed.result.refusal
            assert refusal is not None
            await self.lifecycle.refused(refusal, lifecycle_input(checked), accepted_at)
            raise refusal
        if outcome is AddOutcome.CONFLICT:
            # A new document with this DocumentId is stored already (by this process or
            # another, before or in this very group): the unique constraint decides.
            raise await self._conflict(pkg.sender, pkg.reference_id)
        if outcome is AddOutcome.SAME_BYTES:
            # Another hub process committed the same bytes in the meantime: that package is
            # the one accepted, and this caller gets its receipt, never one for a package id
            # that was not stored. (Our own id: a commit retried after an unknown outcome.)
            stored = await self.store.find_by_sha256(checked.sha256)
            if stored is not None and stored.id != package_id:
                return await self._again(stored, caller)
        if checked.legacy_signature:
            LEGACY_SIGNED.labels(sender=pkg.sender).inc()
        if checked.unsigned:
            UNSIGNED_ENVELOPES.labels(agency=pkg.sender).inc()
        if pulls:
            DELIVERIES.labels(outcome="available").inc(len(pulls))
        pushes = [r for r in routed.recipients if r not in pulls]
        if pushes:  # committed pending (the outbox): the relay takes them to the broker
            self.relay.submit([QueueEntry(recipient=r, package_id=package_id) for r in pushes])
        return Accepted(
            package_id=package_id,
            receipt=committed.receipt,
            created=True,
            sender=pkg.sender,
            recipients=routed.recipients,
            kind=pkg.kind,
            document_id=pkg.reference_id,
            warnings=warnings,
        )

    async def enqueue(self, package_id: str, recipients: Sequence[str]) -> None:
        """Publish one queue entry per recipient now and mark the deliveries queued (an
        operator's re-send); raises ``Unavailable`` when the broker does not confirm."""
        entries = [QueueEntry(recipient=r, package_id=package_id) for r in recipients]
        try:
            await self.relay.publish(entries)
        except Unavailable:
            raise
        except Exception as exc:  # any broker failure is "not confirmed"
            log.warning("enqueue failed for %s: %s", package_id, exc)
            raise Unavailable("the broker did not confirm the queue entries; retry") from exc

    async def _again(self, previous: PackageRecord, caller: str) -> Accepted:
        """Identical bytes again: the same receipt (push deliveries still in the outbox are
        handed to the relay again)."""
        if not self.registry.speaks_for(caller, previous.sender):
            raise AuthForbidden("the caller is not the package's From")
        deliveries = await self.store.deliveries_for(previous.id)
        unqueued = [d.recipient for d in deliveries if d.state == DeliveryState.PENDING]
        if unqueued:  # still in the outbox (a relay gave up, or a crash): relay them now
            self.relay.submit([QueueEntry(recipient=r, package_id=previous.id) for r in unqueued])
        receipt = await self.store.get_receipt(previous.id)
        if receipt is None:  # pragma: no cover - a stored package always has its receipt
            raise HubError(f"package {previous.id} has no receipt")
        return Accepted(
            package_id=previous.id,
            receipt=receipt,
            created=False,
            sender=previous.sender,
            recipients=previous.recipients,
            kind=str(previous.kind),
            document_id=previous.document_id,
            warnings=previous.warnings,
        )

    async def _conflict(self, sender: str, document_id: str | None) -> HubError:
        """The error for a package the store refused for a taken DocumentId."""
        existing = await self.store.find_document(sender, document_id, 0) if document_id else None
        if existing is None:  # pragma: no cover - the index names a stored row
            return HubError(f"DocumentId {document_id} is taken but its package was not found")
        return conflict_error(document_id or "", existing.id)

    async def republish_pending(self) -> int:
        """Re-publish deliveries a crash left between commit and broker confirm."""
        return await self.relay.republish_pending()
