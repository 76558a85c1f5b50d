"""What a receipt states of a checked package, built the same way in the server and in a
check worker.

A receipt (:class:`hub.receipts.ReceiptFacts`) states what the check found (sender, kind,
DocumentId, SHA-256, size, warnings), what the server decided before the check (the package
id, the hub, the acceptance time: a :class:`ReceiptDraft`) and the recipients, which routing
decides on the server after the check, from the registry and the lifecycles.

A check worker signs the receipt in the check's own call (:meth:`hub.pipeline.executor.
CheckExecutor.check_and_sign`), with the recipients :func:`predicted_facts` expects: the
addressed codes and the copy rules' (:func:`hub.routing.addressed_codes`). Ingest keeps that
receipt only when the facts it builds after routing (:func:`receipt_facts`) are equal to the
ones signed, field for field; otherwise the accept group signs one (a sub-unit folded into its
representative, recipients a lifecycle added). One function builds both, so equal inputs give
equal facts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from hub.config import RouteRule
from hub.pipeline.checks import Checked
from hub.receipts import ReceiptFacts
from hub.routing import addressed_codes
from hub.warning_codes import (
    ENVELOPE_UNSIGNED,
    LEGACY_ALGORITHM,
    REVOCATION_UNKNOWN,
    pdf_warning,
)


@dataclass(frozen=True, slots=True)
class ReceiptDraft:
    """What a receipt states that the server decides before the check: the package id it
    will store the package under, the hub, the acceptance time. (The copy rules of
    ``routes.toml`` the prediction also needs are fixed for a process's life: the check's
    workers receive them once, when they start, not with every package.)"""

    package_id: str
    hub_id: str
    accepted_at: datetime


@dataclass(frozen=True, slots=True)
class SignedReceipt:
    """A receipt signed in the check's worker call, and the facts it states."""

    facts: ReceiptFacts
    receipt: bytes


def signature_warnings(checked: Checked) -> tuple[str, ...]:
    """``signature.legacy_algorithm`` for a package admitted under the legacy profile, and
    ``signature.revocation_unknown`` when soft-fail let a certificate with no revocation
    status through."""
    return (
        ((LEGACY_ALGORITHM,) if checked.legacy_signature else ())
        + ((ENVELOPE_UNSIGNED,) if checked.unsigned else ())
        + ((REVOCATION_UNKNOWN,) if checked.revocation_notes else ())
    )


def pdf_warnings(checked: Checked) -> tuple[str, ...]:
    """``pdf.<verdict>:<path>`` for every PDF attachment that is not validly signed (under the
    ``warn`` policy; ``require`` refused those already)."""
    return tuple(
        f"{pdf_warning(a.verdict)}:{a.path}" for a in checked.attachments if a.verdict != "valid"
    )


def package_warnings(checked: Checked) -> tuple[str, ...]:
    """Every warning of an accepted package, as stated on its receipt, in its JSON and on its
    trace: the format's leniencies, then the signature's, then the PDF verdicts."""
    return tuple(checked.summary.warnings) + signature_warnings(checked) + pdf_warnings(checked)


def receipt_facts(
    checked: Checked, draft: ReceiptDraft, recipients: tuple[str, ...]
) -> ReceiptFacts:
    """The facts of ``checked``'s receipt, delivered to ``recipients``."""
    pkg = checked.summary
    return ReceiptFacts(
        package_id=draft.package_id,
        hub_id=draft.hub_id,
        sender=pkg.sender,
        recipients=recipients,
        kind=pkg.kind,
        document_id=pkg.reference_id,
        accepted_at=draft.accepted_at,
        sha256=checked.sha256,
        size=checked.size,
        warnings=package_warnings(checked),
    )


def predicted_facts(
    checked: Checked, draft: ReceiptDraft, routes: Sequence[RouteRule]
) -> ReceiptFacts | None:
    """The facts of ``checked``'s receipt if routing delivers it to the codes it is addressed
    to and the copy rules ``routes`` add (see the module); ``None`` when there are none
    (routing refuses it)."""
    pkg = checked.summary
    codes = addressed_codes(
        kind=pkg.kind, sender=pkg.sender, addressed=pkg.recipients, rules=routes
    )
    return receipt_facts(checked, draft, tuple(codes)) if codes else None
