"""The CPU-bound checks of the pipeline, one function per step.

limits → safe parse (no DTD, no entities, no network) → schema → signature and certificate
path → models built from the verified tree only.

Two package formats pass through the same steps, told apart by the document element: edXML
(QCVN 102:2016) and dossier packages (``urn:vnhub:dossier:1``). A :class:`PackageFormat`
gives each step what differs — the XSD, where the signature sits, how to build the models and
the :class:`Summary` that ingest routes and stores by — so ingest never looks at a format.

These run in worker processes (see :mod:`hub.pipeline.executor`) so that ingest uses every
core; everything they take and return is picklable, and refusals are :class:`HubError`\\ s
with stable codes (they pickle across the process boundary).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from cryptography import x509
from lxml import etree

from hub import dossier
from hub.dossier import DossierPackage
from hub.edxml import EdxmlPackage, parse_package
from hub.edxml.schema import SIGNATURE_PARENT
from hub.edxml.schema import validate as validate_schema
from hub.errors import AttachmentError, SignatureError
from hub.xmlsafe import check_size, parse_xml
from signing import (
    RevocationMode,
    SignaturePolicy,
    SigningError,
    TrustStore,
    UnsafeArchive,
    find_pdfs,
    validate_pdf,
    verify_enveloped,
)
from signing.pki import load_certificates


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """What the checks need; picklable, identical in every worker process."""

    max_size: int
    trust_anchors: tuple[Path, ...]
    allow_legacy: bool = False
    trust_dir: Path | None = None
    crl_files: tuple[Path, ...] = ()
    ocsp_files: tuple[Path, ...] = ()
    revocation: str = "off"  # hard-fail | soft-fail | off (resolved by hub.config)
    pdf_policy: tuple[tuple[str, str], ...] = ()  # (DocumentType/Type code, policy)
    pdf_default: str = "warn"  # require | warn | ignore

    def pdf_policy_for(self, document_type: str | None) -> str:
        """The PDF policy for a DocumentType/Type code (the default when not listed)."""
        return dict(self.pdf_policy).get(document_type or "", self.pdf_default)


@dataclass(frozen=True, slots=True)
class AttachmentCheck:
    """The PDF signature verdict of one PDF found in an attachment (picklable).

    ``verdict``: valid | invalid | indeterminate | unsigned | unsafe (archive refused).
    ``signatures`` are :meth:`signing.PdfSignatureResult.as_dict` views.
    """

    content_id: str
    path: str
    verdict: str
    policy: str
    detail: str
    signatures: tuple[dict[str, object], ...] = ()

    def as_dict(self) -> dict[str, object]:
        """JSON view for the trace."""
        return {
            "content_id": self.content_id,
            "path": self.path,
            "verdict": self.verdict,
            "policy": self.policy,
            "detail": self.detail,
            "signatures": list(self.signatures),
        }


@dataclass(frozen=True, slots=True)
class Summary:
    """What ingest needs of any package, whatever its format.

    ``reference_id``: a document's DocumentId, the DocumentId a status answers, a dossier's
    MaHoSo. ``status_code``: a status package's StatusCode, a dossier package's TrangThaiHoSo.
    ``business_doc_type``: edXML documents only.
    """

    kind: str
    sender: str
    recipients: tuple[str, ...]
    reference_id: str | None
    business_doc_type: int | None
    status_code: str | None
    warnings: tuple[str, ...]


def _edxml_summary(pkg: EdxmlPackage) -> Summary:
    return Summary(
        kind=pkg.kind,
        sender=pkg.sender,
        recipients=pkg.recipients,
        reference_id=pkg.reference_document_id,
        business_doc_type=pkg.business_doc_type if pkg.kind == "document" else None,
        status_code=str(pkg.header.status_code) if pkg.header.status_code else None,
        warnings=tuple(pkg.warnings),
    )


def _dossier_summary(pkg: DossierPackage) -> Summary:
    return Summary(
        kind=pkg.kind,
        sender=pkg.sender,
        recipients=pkg.recipients,
        reference_id=pkg.ma_ho_so,
        business_doc_type=None,
        status_code=pkg.trang_thai_ho_so,
        warnings=pkg.warnings,
    )


def _edxml_models(root: etree._Element) -> tuple[EdxmlPackage, Summary]:
    pkg = parse_package(root)
    return pkg, _edxml_summary(pkg)


def _dossier_models(root: etree._Element) -> tuple[DossierPackage, Summary]:
    pkg = dossier.parse_dossier(root)
    return pkg, _dossier_summary(pkg)


@dataclass(frozen=True, slots=True)
class PackageFormat:
    """One package format: how to validate it, where its signature sits, how to read it."""

    name: str
    root_tag: str
    signature_parent: tuple[str, ...]
    validate: Callable[[etree._Element], None]
    models: Callable[[etree._Element], tuple[EdxmlPackage | DossierPackage, Summary]]


EDXML_FORMAT = PackageFormat(
    "edxml", SIGNATURE_PARENT[0], SIGNATURE_PARENT, validate_schema, _edxml_models
)
DOSSIER_FORMAT = PackageFormat(
    "dossier", dossier.ROOT_TAG, dossier.SIGNATURE_PARENT, dossier.validate, _dossier_models
)
FORMATS: dict[str, PackageFormat] = {f.root_tag: f for f in (EDXML_FORMAT, DOSSIER_FORMAT)}
"""Formats by the Clark name of their document element."""


def format_of(root: etree._Element) -> PackageFormat:
    """The format of a parsed package; anything else is judged by the edXML schema (the
    historical default), which refuses it with ``schema.invalid`` naming the element."""
    return FORMATS.get(str(root.tag), EDXML_FORMAT)


@dataclass(frozen=True, slots=True)
class Raw:
    """Input of the pipeline: the exact bytes and when they were received."""

    data: bytes
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Parsed:
    """A well-formed, safely parsed, schema-valid tree (not yet trusted)."""

    raw: Raw
    root: etree._Element
    format: PackageFormat = EDXML_FORMAT


@dataclass(frozen=True, slots=True)
class Checked:
    """A package whose signature verified and whose signer chains to a trust anchor.

    ``package`` is built only from the verified, comment-free tree.
    """

    sha256: str
    size: int
    package: EdxmlPackage | DossierPackage
    summary: Summary
    signer_fingerprint: str
    signer_subject: str
    signer_not_after: datetime
    signature_method: str
    legacy_signature: bool
    attachments: tuple[AttachmentCheck, ...] = ()  # PDF verdicts (see step_pdf)
    #: No ds:Signature at all (absent, or only the SDK's edXML-namespace placeholder): the
    #: models come from the received tree and there is no signer (empty fingerprint/subject).
    #: Ingest refuses it (``signature.missing``) unless the authenticated sender's
    #: ``envelope_signature`` is ``optional`` (issue 11).
    unsigned: bool = False
    #: For an unsigned package: the refusal under envelope_signature = "required", the code
    #: the strict verifier gives (``signature.missing``, or ``signature.profile`` for the
    #: SDK's edXML-namespace placeholder) and its detail.
    unsigned_refusal: tuple[str, str] = ("", "")


class _Context:
    """Per-process state that is expensive to build: the trust store and the policy."""

    def __init__(self, options: CheckOptions) -> None:
        anchors = [c for p in options.trust_anchors for c in load_certificates(p)]
        self.options = options
        self.trust = _trust_store(options, anchors)
        self.policy = SignaturePolicy(
            signature_parent=SIGNATURE_PARENT, allow_legacy=options.allow_legacy
        )
        self.policies = {
            tag: SignaturePolicy(
                signature_parent=fmt.signature_parent, allow_legacy=options.allow_legacy
            )
            for tag, fmt in FORMATS.items()
        }


_contexts: dict[CheckOptions, _Context] = {}


def _context(options: CheckOptions) -> _Context:
    ctx = _contexts.get(options)
    if ctx is None:
        ctx = _contexts[options] = _Context(options)
    return ctx


def warm_up(options: CheckOptions) -> None:
    """Build the per-process context ahead of the first package (pool initializer)."""
    _context(options)


def step_limits(raw: Raw, max_size: int) -> Raw:
    """Refuse a package over the size limit (the API also checks Content-Length first)."""
    check_size(len(raw.data), max_size)
    return raw


def step_parse(raw: Raw) -> Parsed:
    """Safe parse: DTDs and entities refused before the parser sees the bytes."""
    return Parsed(raw=raw, root=parse_xml(raw.data, max_size=len(raw.data)))


def step_schema(parsed: Parsed) -> Parsed:
    """Validate against the XSD of the package's format (edXML or dossier)."""
    fmt = format_of(parsed.root)
    fmt.validate(parsed.root)
    return Parsed(raw=parsed.raw, root=parsed.root, format=fmt)


_DS_SIGNATURE = "{http://www.w3.org/2000/09/xmldsig#}Signature"


def step_unsigned(parsed: Parsed) -> Checked | None:
    """A package with no ``ds:Signature`` anywhere (none, or only the edXML-namespace
    placeholder the VXP SDK writes): reported ``unsigned`` with models built from the received,
    schema-valid tree, for ingest to refuse or accept by the sender's policy. ``None`` when a
    ds:Signature is present: it is then verified strictly, whatever the policy."""
    if next(parsed.root.iter(_DS_SIGNATURE), None) is not None:
        return None
    try:  # the strict verifier's refusal, kept for agencies whose envelope must be signed
        verify_enveloped(
            parsed.root, SignaturePolicy(signature_parent=parsed.format.signature_parent)
        )
        refusal = ("signature.missing", "the document carries no XMLDSig Signature")
    except SigningError as exc:
        refusal = (exc.code, exc.detail)
    package, summary = parsed.format.models(parsed.root)
    return Checked(
        sha256=hashlib.sha256(parsed.raw.data).hexdigest(),
        size=len(parsed.raw.data),
        package=package,
        summary=summary,
        signer_fingerprint="",
        signer_subject="",
        signer_not_after=parsed.raw.received_at,
        signature_method="",
        legacy_signature=False,
        unsigned=True,
        unsigned_refusal=refusal,
    )


def step_signature(parsed: Parsed, ctx: _Context) -> Checked:
    """Verify the enveloped signature and the certificate path at reception time, then build
    the models from what was signed — never from the received tree."""
    unsigned = step_unsigned(parsed)
    if unsigned is not None:
        return unsigned
    try:
        policy = ctx.policies.get(parsed.format.root_tag, ctx.policy)
        verified = verify_enveloped(parsed.root, policy)
        ctx.trust.validate(
            verified.certificate,
            at=parsed.raw.received_at,
            intermediates=verified.intermediates,
        )
    except SigningError as exc:
        raise SignatureError(exc.detail, code=exc.code) from None
    if verified.signed_root.tag != parsed.format.root_tag:  # pragma: no cover - c14n keeps it
        raise SignatureError(
            "the signed document is not the validated one", code="signature.invalid"
        )
    package, summary = parsed.format.models(verified.signed_root)
    cert: x509.Certificate = verified.certificate
    return Checked(
        sha256=hashlib.sha256(parsed.raw.data).hexdigest(),
        size=len(parsed.raw.data),
        package=package,
        summary=summary,
        signer_fingerprint=verified.fingerprint_sha256,
        signer_subject=cert.subject.rfc4514_string(),
        signer_not_after=cert.not_valid_after_utc,
        signature_method=verified.signature_method,
        legacy_signature=verified.legacy,
    )


def _trust_store(options: CheckOptions, anchors: list[x509.Certificate]) -> TrustStore:
    """Anchors from ``trust_anchors`` plus ``trust_dir``, with the configured revocation."""
    mode: RevocationMode = options.revocation  # type: ignore[assignment]  # checked by config
    if mode == "off" and options.trust_dir is None:
        return TrustStore(anchors)
    return TrustStore.from_directory(
        options.trust_dir or Path("/nonexistent"),
        extra_anchor_files=options.trust_anchors,
        crl_files=options.crl_files,
        ocsp_files=options.ocsp_files,
        revocation_mode=mode,
    )


def step_pdf(checked: Checked, ctx: _Context, at: datetime) -> Checked:
    """Signed PDF attachments: unpack safely, validate every PDF, apply the policy of the
    package's DocumentType/Type. ``require`` refuses a package without a valid signed PDF
    (``pdf.required``) or with any PDF not valid (``pdf.invalid`` / ``pdf.indeterminate``);
    ``warn`` accepts and reports; ``ignore`` skips the work entirely."""
    pkg = checked.package
    header = getattr(pkg, "header", None)
    doc_type = getattr(getattr(header, "document_type", None), "type", None)
    policy = ctx.options.pdf_policy_for(doc_type)
    attachments = getattr(pkg, "attachments", ())
    if policy == "ignore" or not attachments:
        if policy == "require" and getattr(pkg, "kind", "") == "document":
            raise AttachmentError("no attachment holds a signed PDF", code="pdf.required")
        return checked
    results: list[AttachmentCheck] = []
    for att in attachments:
        try:
            pdfs = find_pdfs(att.decode(), att.attachment_name or att.content_id)
        except UnsafeArchive as exc:
            results.append(
                AttachmentCheck(att.content_id, att.attachment_name, "unsafe", policy, exc.detail)
            )
            continue
        except ValueError as exc:  # not base64: the schema lets it through only if lenient
            results.append(
                AttachmentCheck(att.content_id, att.attachment_name, "unsafe", policy, str(exc))
            )
            continue
        for found in pdfs:
            report = validate_pdf(found.data, ctx.trust, at=at)
            results.append(
                AttachmentCheck(
                    content_id=att.content_id,
                    path=found.path,
                    verdict=report.verdict,
                    policy=policy,
                    detail=report.detail or "; ".join(s.detail for s in report.signatures),
                    signatures=tuple(s.as_dict() for s in report.signatures),
                )
            )
    if policy == "require":
        bad = [r for r in results if r.verdict not in ("valid", "unsigned")]
        if bad:
            worst = (
                "pdf.invalid"
                if any(r.verdict in ("invalid", "unsafe") for r in bad)
                else "pdf.indeterminate"
            )
            if any(r.verdict == "unsafe" for r in bad):
                worst = "attachment.unsafe_archive"
            raise AttachmentError(
                "; ".join(f"{r.path}: {r.verdict} ({r.detail})" for r in bad),
                code=worst,
                attachments=[r.as_dict() for r in results],
            )
        if not any(r.verdict == "valid" for r in results):
            raise AttachmentError(
                "no attachment holds a validly signed PDF",
                code="pdf.required",
                attachments=[r.as_dict() for r in results],
            )
    return replace(checked, attachments=tuple(results))


def check_package(data: bytes, received_at: datetime, options: CheckOptions) -> Checked:
    """Run every CPU-bound step on one package. Raises :class:`hub.errors.HubError`."""
    ctx = _context(options)
    raw = step_limits(Raw(data=data, received_at=received_at), options.max_size)
    checked = step_signature(step_schema(step_parse(raw)), ctx)
    return step_pdf(checked, ctx, received_at)
