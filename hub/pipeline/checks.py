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

import base64
import binascii
import contextlib
import dataclasses
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from lxml import etree

from hub import dossier
from hub.dossier import DossierPackage
from hub.edxml import EdxmlPackage, parse_package
from hub.edxml.schema import SIGNATURE_PARENT
from hub.edxml.schema import validate as validate_schema
from hub.errors import AttachmentError, SignatureError
from hub.text import nfc_or_none
from hub.xmlsafe import DEFAULT_MAX_DEPTH, check_size, parse_xml, parse_xml_stream
from signing import (
    AlgorithmForbidden,
    RevocationMode,
    SignaturePolicy,
    SigningError,
    TrustStore,
    UnsafeArchive,
    find_pdfs,
    validate_pdf,
    verify_enveloped,
)
from signing.online import (
    DirectoryRevocationCache,
    FetchedItem,
    FetchEvent,
    OnlineRevocationChecker,
)
from signing.pki import load_certificates
from signing.revocation import StaticRevocationChecker


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
    fetch_online: bool = False  # CRL/OCSP from the certificates' URLs (signing.online)
    fetch_timeout: float = 2.0
    revocation_cache_dir: Path | None = None  # shared by the workers (hub.revinfo)
    pdf_policy: tuple[tuple[str, str], ...] = ()  # (DocumentType/Type code, policy)
    pdf_default: str = "warn"  # require | warn | ignore
    max_depth: int = DEFAULT_MAX_DEPTH  # element nesting ([limits] max_xml_depth)

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
    MaHoSo — in NFC: it is the key the hub compares and indexes by (de-duplication, statuses
    answering a document, lifecycles), and a DocumentId sent in NFD must meet the same key
    sent in NFC. The signed bytes keep the form the sender used. ``status_code``: a status
    package's StatusCode, a dossier package's TrangThaiHoSo. ``business_doc_type``: edXML
    documents only. ``subject``: a document's Subject as sent (display and search).
    """

    kind: str
    sender: str
    recipients: tuple[str, ...]
    reference_id: str | None
    business_doc_type: int | None
    status_code: str | None
    warnings: tuple[str, ...]
    subject: str | None = None


def _edxml_summary(pkg: EdxmlPackage) -> Summary:
    return Summary(
        kind=pkg.kind,
        sender=pkg.sender,
        recipients=pkg.recipients,
        reference_id=nfc_or_none(pkg.reference_document_id),
        business_doc_type=pkg.business_doc_type if pkg.kind == "document" else None,
        status_code=str(pkg.header.status_code) if pkg.header.status_code else None,
        warnings=tuple(pkg.warnings),
        subject=pkg.header.subject if pkg.kind == "document" else None,
    )


def _dossier_summary(pkg: DossierPackage) -> Summary:
    return Summary(
        kind=pkg.kind,
        sender=pkg.sender,
        recipients=pkg.recipients,
        reference_id=nfc_or_none(pkg.ma_ho_so),
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


LARGE_PACKAGE = 1024 * 1024
"""Packages at least this large are checked with memory in mind (issue 10): handed to a
worker as a file, parsed from it in chunks, verified consuming their tree."""


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
    #: A legacy signature admitted by the check: the detail the strict profile refuses it with
    #: (``signature.algorithm_forbidden``), for ingest to use when the sender is strict.
    legacy_refusal: str | None = None
    # Soft-fail: certificates of the signer's path whose revocation status could not be had
    # (warning signature.revocation_unknown); revocation data fetched online meanwhile, for
    # the shared cache.
    revocation_notes: tuple[str, ...] = ()
    revocation_fetched: tuple[FetchedItem, ...] = ()
    revocation_events: tuple[FetchEvent, ...] = ()  # fetch attempts, for the hub's metrics
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
    """Per-process state that is expensive to build: the trust store and the policies.

    Both profiles are kept per format: ``strict`` (the default) and ``legacy`` (C14N 1.0,
    RSA-SHA1). Which one a package is checked with is decided per call (:func:`check_package`),
    because the agencies allowed the legacy profile change at runtime while the worker
    processes keep running.
    """

    def __init__(self, options: CheckOptions) -> None:
        self.options = options
        self.trust = trust_store_for(options)
        self.strict = {
            tag: SignaturePolicy(signature_parent=fmt.signature_parent, allow_legacy=False)
            for tag, fmt in FORMATS.items()
        }
        self.legacy = {
            tag: SignaturePolicy(signature_parent=fmt.signature_parent, allow_legacy=True)
            for tag, fmt in FORMATS.items()
        }

    def policy(self, root_tag: str, admit_legacy: bool) -> SignaturePolicy:
        """The signature policy for a format (unknown roots: edXML's, refused by its schema)."""
        policies = self.legacy if admit_legacy else self.strict
        return policies.get(root_tag, policies[SIGNATURE_PARENT[0]])


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


def step_parse(raw: Raw, max_depth: int = DEFAULT_MAX_DEPTH) -> Parsed:
    """Safe parse: DTDs and entities refused before the parser sees the bytes, nesting
    deeper than ``max_depth`` refused while parsing."""
    return Parsed(raw=raw, root=parse_xml(raw.data, max_size=len(raw.data), max_depth=max_depth))


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


def step_signature(parsed: Parsed, ctx: _Context, admit_legacy: bool = False) -> Checked:
    """Verify the enveloped signature and the certificate path at reception time, then build
    the models from what was signed — never from the received tree.

    ``admit_legacy``: the legacy algorithms pass this step (some agency may use them); the
    result then says what the strict profile would have refused (``legacy_refusal``) and
    ingest refuses it with exactly that once it knows the sender's profile.

    A large package's tree is consumed (see :func:`signing.verify_enveloped`): its large
    texts are not held twice, nor as two trees. ``raw.data`` is empty only for a package
    parsed from its file (:func:`check_package_file`), which is large by construction; the
    scan for large texts is not worth its ~0.1 ms on a small one."""
    unsigned = step_unsigned(parsed)
    if unsigned is not None:
        return unsigned
    legacy_refusal: str | None = None
    large = not parsed.raw.data or len(parsed.raw.data) >= LARGE_PACKAGE
    try:
        verified = verify_enveloped(
            parsed.root, ctx.policy(parsed.format.root_tag, admit_legacy), consume=large
        )
        if verified.legacy:
            legacy_refusal = _strict_refusal(parsed, ctx)
        path = ctx.trust.validate(
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
        legacy_refusal=legacy_refusal,
        revocation_notes=path.revocation_notes,
    )


def _strict_refusal(parsed: Parsed, ctx: _Context) -> str:
    """The ``signature.algorithm_forbidden`` detail the strict profile gives this (legacy,
    verified) signature. The strict check stops at the algorithm declarations, before any
    cryptography, so this costs a walk of the Signature element."""
    try:
        verify_enveloped(parsed.root, ctx.policy(parsed.format.root_tag, False))
    except AlgorithmForbidden as exc:
        return exc.detail
    except SigningError as exc:  # pragma: no cover - the legacy check passed the rest
        return exc.detail
    return "the legacy signing profile is not allowed"  # pragma: no cover - it was legacy


def _spill_events(trust: TrustStore, events: tuple[FetchEvent, ...]) -> None:
    checker = trust.revocation
    if (
        events
        and isinstance(checker, OnlineRevocationChecker)
        and isinstance(checker.cache, DirectoryRevocationCache)
    ):
        # Metrics only: a full disk must not change the refusal itself.
        with contextlib.suppress(OSError):
            checker.cache.log_events(events)


def _take_fetched(trust: TrustStore) -> tuple[FetchedItem, ...]:
    """Revocation data fetched online during this check (empty when fetching is off)."""
    checker = trust.revocation
    return checker.take_fetched() if isinstance(checker, OnlineRevocationChecker) else ()


def trust_store_for(
    options: CheckOptions, reporter: Callable[[FetchEvent], None] | None = None
) -> TrustStore:
    """The trust store ingest builds for ``options`` (also ``hub pdf verify``'s and the
    signed acknowledgements'). ``reporter`` receives online fetch attempts (default: they
    travel back with the check's result)."""
    anchors = [c for p in options.trust_anchors for c in load_certificates(p)]
    return _trust_store(options, anchors, reporter or _revocation_reporter)


def _trust_store(
    options: CheckOptions,
    anchors: list[x509.Certificate],
    reporter: Callable[[FetchEvent], None] | None = None,
) -> TrustStore:
    """Anchors from ``trust_anchors`` plus ``trust_dir``, with the configured revocation."""
    mode: RevocationMode = options.revocation  # type: ignore[assignment]  # checked by config
    if mode == "off" and options.trust_dir is None:
        return TrustStore(anchors)
    store = TrustStore.from_directory(
        options.trust_dir or Path("/nonexistent"),
        extra_anchor_files=options.trust_anchors,
        crl_files=options.crl_files,
        ocsp_files=options.ocsp_files,
        revocation_mode=mode,
    )
    static = store.revocation
    if not options.fetch_online or not isinstance(static, StaticRevocationChecker):
        return store
    online = OnlineRevocationChecker(
        static.crls,
        static.ocsp_responses,
        mode=mode,
        fetch_timeout=options.fetch_timeout,
        reporter=reporter or _revocation_reporter,
        cache=(
            DirectoryRevocationCache(options.revocation_cache_dir)
            if options.revocation_cache_dir is not None
            else None
        ),
    )
    return TrustStore(store.anchors, store.intermediates, revocation=online)


# Fetch attempts of the current check; a worker process runs one check at a time, and the
# events travel back in Checked so the hub process (which serves /metrics) counts them.
_fetch_events: list[FetchEvent] = []


def _revocation_reporter(event: FetchEvent) -> None:
    _fetch_events.append(event)


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
            pdfs = find_pdfs(
                _decode_base64(att.content_b64, att.content_id),
                att.attachment_name or att.content_id,
            )
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


_B64_PIECE = 1 << 20  # characters of base64 text decoded at a time


def _decode_base64(text: str, content_id: str) -> bytes:
    """What :meth:`hub.edxml.Attachment.decode` returns (whitespace ignored, anything else
    strict, the same refusals), decoded piece by piece.

    ``Attachment.decode`` makes the whole text whitespace-free, then ASCII bytes, then
    decodes: two whole-size temporaries besides the result, for a large attachment more
    than the package itself. Here only the result is whole (a ``BytesIO`` handed out
    without a copy). Complete quads are decoded as they come, always keeping the last eight
    characters or more back: the tail, where padding may legitimately be, is decoded with
    exactly the whole-string call, and a ``=`` before it is refused as the whole-string
    check would.
    """
    out = io.BytesIO()
    pending = ""
    try:
        for start in range(0, len(text), _B64_PIECE):
            pending += "".join(text[start : start + _B64_PIECE].split())
            cut = max(0, len(pending) - 8) // 4 * 4
            if cut:
                block, pending = pending[:cut], pending[cut:]
                if "=" in block:  # padding followed by 8 or more characters
                    raise binascii.Error("Non-base64 digit found")
                out.write(base64.b64decode(block, validate=True))
        out.write(base64.b64decode(pending, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"attachment {content_id!r} is not valid base64: {exc}") from exc
    return out.getvalue()


def check_package(
    data: bytes, received_at: datetime, options: CheckOptions, admit_legacy: bool | None = None
) -> Checked:
    """Run every CPU-bound step on one package. Raises :class:`hub.errors.HubError`.

    ``admit_legacy``: let legacy signatures through this step (``None``: as
    ``options.allow_legacy``); whose they may be is decided by ingest."""
    ctx = _context(options)
    admit = options.allow_legacy if admit_legacy is None else admit_legacy
    raw = step_limits(Raw(data=data, received_at=received_at), options.max_size)
    return _with_revocation_data(
        ctx,
        lambda: step_pdf(
            step_signature(step_schema(step_parse(raw, options.max_depth)), ctx, admit),
            ctx,
            received_at,
        ),
    )


def _with_revocation_data(ctx: _Context, run: Callable[[], Checked]) -> Checked:
    """``run()``, with the revocation data fetched online meanwhile (signer path, PDF
    signatures) attached for the hub process's shared cache and metrics. On a refusal the
    data is already in the host's cache directory, and the attempts go to its event log,
    which the hub's revocation service drains (failures must reach the alarm)."""
    done = False
    try:
        checked = run()
        done = True
    finally:
        fetched, events = _take_fetched(ctx.trust), tuple(_fetch_events)
        _fetch_events.clear()
        if not done:
            _spill_events(ctx.trust, events)
    if not fetched and not events:
        return checked
    return replace(checked, revocation_fetched=fetched, revocation_events=events)


# Model fields that hold an attachment's whole content (edXML Attachment, dossier TaiLieu and
# GiayToKetQua): by far the largest values of a package.
_CONTENT_FIELDS = frozenset({"content_b64", "noi_dung_b64"})


# Values with nothing inside to empty: returned as they are without a look at their type.
_LEAVES = frozenset({str, int, float, bool, bytes, type(None), datetime})
# Per class: its field names (a dataclass), or None (anything else: returned as it is).
_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}


def _field_names(cls: type) -> tuple[str, ...] | None:
    try:
        return _FIELD_NAMES[cls]
    except KeyError:
        names = (
            tuple(f.name for f in dataclasses.fields(cls))
            if dataclasses.is_dataclass(cls)
            else None
        )
        _FIELD_NAMES[cls] = names
        return names


def _drop_contents(value: Any) -> Any:
    cls = type(value)
    if cls in _LEAVES:
        return value
    if isinstance(value, tuple):
        items = tuple(_drop_contents(v) for v in value)
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    names = _field_names(cls)
    if names is None:
        return value
    changes: dict[str, Any] = {}
    for name in names:
        current = getattr(value, name)
        if name in _CONTENT_FIELDS:
            if current:
                changes[name] = ""
        elif type(current) not in _LEAVES:
            new = _drop_contents(current)
            if new is not current:
                changes[name] = new
    return replace(value, **changes) if changes else value


def without_contents(checked: Checked) -> Checked:
    """``checked`` with every attachment's content emptied (``""``) in its package model.

    The contents are only needed by the checks themselves (:func:`step_pdf`); after them the
    hub stores and forwards the exact bytes and reads nothing else of an attachment. Leaving
    them out keeps a large package from crossing the process boundary a second time (as
    pickled base64 text, ~1× its size, plus the pickle) on its way back from a worker.
    """
    package = _drop_contents(checked.package)
    return checked if package is checked.package else replace(checked, package=package)


def check_package_file(
    path: Path, received_at: datetime, options: CheckOptions, admit_legacy: bool | None = None
) -> Checked:
    """:func:`check_package` for a package in a file, never holding its bytes whole.

    The file is digested and parsed in chunks (:func:`hub.xmlsafe.parse_xml_stream`), so a
    large package is in this process as its tree only, not also as bytes (issue 10). The
    steps after parsing get a :class:`Raw` without data; the sha256 and size of the result
    are the file's.
    """
    ctx = _context(options)
    admit = options.allow_legacy if admit_legacy is None else admit_legacy
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:

        def read(n: int) -> bytes:
            nonlocal size
            chunk = fh.read(n)
            digest.update(chunk)
            size += len(chunk)
            return chunk

        # Reads to the end of the file (anything after the document is refused): all digested.
        root = parse_xml_stream(read, max_size=options.max_size, max_depth=options.max_depth)
    parsed = step_schema(Parsed(raw=Raw(data=b"", received_at=received_at), root=root))
    del root  # step_signature consumes the tree; keep no reference to it here

    def run() -> Checked:
        checked = step_signature(parsed, ctx, admit)
        checked = replace(checked, sha256=digest.hexdigest(), size=size)
        return step_pdf(checked, ctx, received_at)

    return _with_revocation_data(ctx, run)


def check_package_for_ingest(
    data: bytes | Path,
    received_at: datetime,
    options: CheckOptions,
    admit_legacy: bool | None = None,
) -> Checked:
    """:func:`check_package` as the ingest executor runs it: from the bytes or from a file
    holding them (large packages reach the worker process through a file rather than a
    pickle), returning :func:`without_contents` of the result."""
    if isinstance(data, Path):
        return without_contents(check_package_file(data, received_at, options, admit_legacy))
    return without_contents(check_package(data, received_at, options, admit_legacy))
