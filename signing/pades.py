"""PAdES / PDF signature validation with pyHanko, offline, against a :class:`TrustStore`.

:func:`validate_pdf` reads a PDF and validates every embedded signature and document
timestamp with ``pyhanko.sign.validation`` and a ``ValidationContext`` built from the same
anchors, intermediates, CRLs and OCSP responses as the XML signatures (plus the revocation
data the PDF itself carries in its DSS, which is what makes LTA files verifiable offline),
``allow_fetching=False`` always.

Each signature gets one verdict:

``valid``
    intact, cryptographically valid, allowed algorithms, covers the whole file (or its
    revision with at most form filling / LTA updates after it, as pyHanko's difference
    analysis judges), signer chains to an anchor at ``at``, and revocation satisfied the
    policy.
``invalid``
    definitively unacceptable, and no further information could change that: unparsable
    or malformed CMS (e.g. encapsulated content in a detached signature), digest mismatch
    (tampered bytes), bad signature, disallowed algorithm, byte ranges that do not cover the
    file, illegal modifications after signing, signer from an unknown CA (the configured
    anchors are the complete set), a revoked certificate.
``indeterminate``
    could be valid with more information: no revocation data under hard-fail, certificate
    expired (or not yet valid) at the validation moment without proof of existence,
    other trust failures pyHanko reports as indeterminate (``TRY_LATER``…).

A PDF with no signature is ``unsigned``. The caller's policy decides what each verdict means.

Long-term validation (issue 14, docs/signing.md): a signature indeterminate at ``at`` only
for reasons time cures (no fresh revocation data, expired, revoked) is validated again at
the time its trusted time-stamp proves, with revocation data valid then; document
time-stamps give proof of existence as a chain, newest first. Each result carries the ETSI
EN 319 102-1 sub-indication, the moment it was established at and the time-stamp time.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from io import BytesIO
from typing import Any, Literal

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature, async_validate_pdf_timestamp
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.policy_decl import NO_REVOCATION, CertRevTrustPolicy

from .revocation import RevocationMode, StaticRevocationChecker
from .trust import TrustStore, _run

Verdict = Literal["valid", "invalid", "indeterminate"]
PdfVerdict = Literal["valid", "invalid", "indeterminate", "unsigned"]

log = logging.getLogger("signing.pades")

_ALLOWED_AFTER_SIGNING = (
    ModificationLevel.NONE,
    ModificationLevel.LTA_UPDATES,
    ModificationLevel.FORM_FILLING,
)
_EXPIRY = (
    AdESIndeterminate.OUT_OF_BOUNDS_NO_POE,
    AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED,
    AdESIndeterminate.EXPIRED,
    AdESIndeterminate.NOT_YET_VALID,
)
_REVOKED = (AdESIndeterminate.REVOKED_NO_POE, AdESIndeterminate.REVOKED_CA_NO_POE)
_UNTRUSTED = (
    AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND,
    AdESIndeterminate.CHAIN_CONSTRAINTS_FAILURE,
    AdESIndeterminate.CERTIFICATE_CHAIN_GENERAL_FAILURE,
    AdESIndeterminate.NO_SIGNING_CERTIFICATE_FOUND,
)


@dataclass(frozen=True, slots=True)
class PdfSignatureResult:
    """One embedded signature (or document timestamp) and its verdict. Picklable."""

    field: str
    kind: Literal["signature", "timestamp"]
    verdict: Verdict
    reasons: tuple[str, ...]  # stable codes, e.g. "pdf.coverage", "pdf.revocation_unknown"
    detail: str
    intact: bool
    valid: bool
    trusted: bool
    coverage: str  # pyHanko SignatureCoverageLevel name: ENTIRE_FILE, ENTIRE_REVISION, …
    modification_level: str | None  # NONE, LTA_UPDATES, FORM_FILLING, ANNOTATIONS, OTHER
    revocation: str  # "good" | "revoked" | "unknown" | "not-checked" (policy off, untrusted)
    signer_subject: str | None = None
    signer_fingerprint: str | None = None
    signing_time: str | None = None  # as the signer claims it (ISO 8601)
    digest_algorithm: str | None = None
    # ETSI EN 319 102-1 sub-indication of the verdict (None when valid), e.g. TRY_LATER,
    # HASH_FAILURE, OUT_OF_BOUNDS_NO_POE; the verdict itself is the hub's (see module doc).
    subindication: str | None = None
    # The moment the verdict was established at: the validation time, or (long-term
    # validation) the time a trusted time-stamp proves the signature existed.
    validated_at: str | None = None
    timestamp_time: str | None = None  # genTime of the signature or document time-stamp

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly view (the hub puts it on the trace)."""
        return {
            "field": self.field,
            "kind": self.kind,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "detail": self.detail,
            "coverage": self.coverage,
            "modification_level": self.modification_level,
            "trusted": self.trusted,
            "revocation": self.revocation,
            "signer_subject": self.signer_subject,
            "signer_fingerprint": self.signer_fingerprint,
            "signing_time": self.signing_time,
            "subindication": self.subindication,
            "validated_at": self.validated_at,
            "timestamp_time": self.timestamp_time,
        }


@dataclass(frozen=True, slots=True)
class PdfReport:
    """All signatures of one PDF and the overall verdict (the worst of them)."""

    verdict: PdfVerdict
    signatures: tuple[PdfSignatureResult, ...]
    detail: str = ""


def _worst(verdicts: Sequence[Verdict]) -> PdfVerdict:
    if not verdicts:
        return "unsigned"
    if "invalid" in verdicts:
        return "invalid"
    if "indeterminate" in verdicts:
        return "indeterminate"
    return "valid"


def _asn1(certs: Sequence[Any]) -> list[asn1_x509.Certificate]:
    return [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in certs]


def validate_pdf(
    data: bytes,
    trust: TrustStore,
    *,
    at: datetime | None = None,
    revocation: RevocationMode | None = None,
) -> PdfReport:
    """Validate every signature of the PDF ``data`` at ``at`` (default: now), offline.

    ``revocation`` defaults to the trust store's checker mode (``"off"`` without one); its
    CRLs and OCSP responses (and online sources, for an
    :class:`~signing.online.OnlineRevocationChecker`) are used together with the PDF's DSS.
    """
    moment = at or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    configured = trust.revocation
    mode: RevocationMode = "off"
    if isinstance(configured, StaticRevocationChecker):
        mode = configured.mode
    if revocation is not None:
        mode = revocation
    try:
        reader = PdfFileReader(BytesIO(data), strict=False)
        embedded = list(reader.embedded_signatures)
    except (PdfError, ValueError, TypeError, KeyError, IndexError) as exc:
        return PdfReport(
            verdict="invalid",
            signatures=(
                _failed("?", "signature", ("pdf.unparsable",), f"cannot read the PDF: {exc}"),
            ),
            detail=f"cannot read the PDF or its signatures: {exc}",
        )
    if not embedded:
        return PdfReport(verdict="unsigned", signatures=(), detail="no signature")
    try:
        dss: DocumentSecurityStore | None = DocumentSecurityStore.read_dss(reader)
    except Exception:
        dss = None
    dss_crls, dss_ocsps = _dss_revinfo(dss)
    # One checker per PDF: the configured sources plus the revocation data the PDF carries.
    checker = (
        configured.extended(dss_crls, dss_ocsps, mode)
        if isinstance(configured, StaticRevocationChecker)
        else StaticRevocationChecker(dss_crls, dss_ocsps, mode=mode)
    )
    kwargs: dict[str, Any] = {
        "trust_roots": _asn1(trust.anchors),
        "other_certs": _asn1(trust.intermediates),
        "moment": moment,
        "allow_fetching": False,
    }
    results = _run(_validate_all(embedded, kwargs, dss, checker))
    return PdfReport(verdict=_worst([r.verdict for r in results]), signatures=results)


async def _validate_all(
    embedded: Sequence[EmbeddedPdfSignature],
    kwargs: dict[str, Any],
    dss: DocumentSecurityStore | None,
    checker: StaticRevocationChecker,
) -> tuple[PdfSignatureResult, ...]:
    """Every signature at the validation time, then long-term validation (see
    :func:`_long_term`) of the ones a time-stamp can rescue, newest first."""
    first = [await _validate_one(sig, kwargs, dss, checker) for sig in embedded]
    moment: datetime = kwargs["moment"]
    out: list[PdfSignatureResult] = [r for r, _ in first]
    # POE given by the accepted document time-stamps after position i: the earliest genTime
    # among them (document time-stamps are appended in time order, so the nearest one).
    poe = moment
    for i in range(len(embedded) - 1, -1, -1):
        result, status = first[i]
        result = await _long_term(embedded[i], result, status, poe, kwargs, dss, checker)
        out[i] = result
        if result.kind == "timestamp" and result.verdict == "valid" and status is not None:
            poe = min(poe, _aware(status.timestamp))
    return tuple(out)


def _dss_revinfo(
    dss: DocumentSecurityStore | None,
) -> tuple[tuple[x509.CertificateRevocationList, ...], tuple[ocsp.OCSPResponse, ...]]:
    """CRLs and OCSP responses of the PDF's DSS (unparsable entries are skipped)."""
    if dss is None:
        return (), ()
    crls: list[x509.CertificateRevocationList] = []
    responses: list[ocsp.OCSPResponse] = []
    for ref in dss.crls:
        try:
            crls.append(x509.load_der_x509_crl(ref.get_object().data))
        except (ValueError, TypeError, AttributeError):
            continue
    for ref in dss.ocsps:
        try:
            responses.append(ocsp.load_der_ocsp_response(ref.get_object().data))
        except (ValueError, TypeError, AttributeError):
            continue
    return tuple(crls), tuple(responses)


def _context(kwargs: dict[str, Any], dss: DocumentSecurityStore | None, mode: str) -> Any:
    """pyHanko's context: path building and validity at ``moment`` only.

    Revocation is not pyhanko-certvalidator's to decide here: given CRLs that are stale at
    ``moment`` for certificates that declare distribution points, even its soft-fail mode
    reports the path as indeterminate — which is how every B-LT/B-LTA file became
    "indeterminate" a week after signing, even with revocation off (issue 14). Our checker
    (:func:`_path_revocation`, with the same CRLs/OCSP responses plus the DSS) decides it,
    at the moment long-term validation chooses. The DSS still contributes certificates.
    """
    del mode  # kept for the call sites' readability; the policy is NO_REVOCATION
    full = dict(kwargs)
    if dss is not None:
        full["other_certs"] = list(full.get("other_certs", [])) + list(dss.load_certs())
    return ValidationContext(**full, revinfo_policy=CertRevTrustPolicy(NO_REVOCATION))


def _failed(field: str, kind: Any, reasons: tuple[str, ...], detail: str) -> PdfSignatureResult:
    return PdfSignatureResult(
        subindication="FORMAT_FAILURE",
        field=field,
        kind=kind,
        verdict="invalid",
        reasons=reasons,
        detail=detail,
        intact=False,
        valid=False,
        trusted=False,
        coverage="UNKNOWN",
        modification_level=None,
        revocation="not-checked",
    )


async def _status(sig: EmbeddedPdfSignature, context: Any, timestamp: bool) -> Any:
    if timestamp:
        return await async_validate_pdf_timestamp(sig, validation_context=context)
    return await async_validate_pdf_signature(sig, signer_validation_context=context)


async def _validate_one(
    sig: EmbeddedPdfSignature,
    kwargs: dict[str, Any],
    dss: DocumentSecurityStore | None,
    checker: StaticRevocationChecker,
) -> tuple[PdfSignatureResult, Any]:
    """The verdict at ``kwargs["moment"]`` and pyHanko's status (None if it failed)."""
    field = str(sig.field_name)
    timestamp = sig.sig_object.get("/Type") == "/DocTimeStamp"
    kind: Literal["signature", "timestamp"] = "timestamp" if timestamp else "signature"
    try:
        # pyhanko-certvalidator's soft-fail only consults the sources a certificate declares
        # (CRL distribution points, AIA); our policy covers every certificate of the path,
        # so revocation is decided below by the same checker as XML signatures.
        status = await _status(sig, _context(kwargs, dss, "soft-fail"), timestamp)
    except SignatureValidationError as exc:
        indication = getattr(exc, "ades_subindication", None)
        code = "pdf.format" if indication == AdESFailure.FORMAT_FAILURE else "pdf.invalid"
        return _failed(field, kind, (code,), f"signature not acceptable: {exc}"), None
    except (PdfError, ValueError, TypeError, KeyError) as exc:
        return (
            _failed(field, kind, ("pdf.unparsable",), f"signature cannot be processed: {exc}"),
            None,
        )
    moment: datetime = kwargs["moment"]
    # A document time-stamp's TSA is checked for revocation at the time it attests.
    revocation_at = _aware(status.timestamp) if timestamp else moment
    revocation, why = _path_revocation(status, checker, revocation_at)
    result = _judge(field, kind, status, revocation, why, checker.mode)
    expired = _tsa_expired(status, moment) if timestamp else None
    if expired is not None and result.verdict == "valid":
        # The POE rule needs the TSA certificate valid when the token's existence is
        # proven (``moment``); pyHanko checks it too, this keeps the rule explicit.
        result = replace(
            result,
            verdict="indeterminate",
            reasons=("pdf.expired",),
            trusted=False,
            detail=f"the TSA certificate expired on {expired} and no later time-stamp "
            "proves the token existed before",
        )
    return _stamp(result, status, moment), status


def _tsa_expired(status: Any, moment: datetime) -> str | None:
    """The TSA certificate's notAfter (ISO 8601) if it lies before ``moment``."""
    cert = getattr(status, "signing_cert", None)
    if cert is None:
        return None
    not_after: datetime = cert["tbs_certificate"]["validity"]["not_after"].native
    return not_after.isoformat() if not_after < moment else None


# Reasons a proof of existence (a trusted time-stamp) can cure: the verdict depends on the
# moment (ETSI EN 319 102-1 §5.6.2.4 "past signature validation"). Everything else — bytes,
# cryptography, coverage, modifications, unknown CA, disallowed algorithm — is final.
_TIME_CURABLE = frozenset({"pdf.revocation_unknown", "pdf.expired", "pdf.revoked"})


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _stamp(result: PdfSignatureResult, status: Any, validated_at: datetime) -> PdfSignatureResult:
    """Add the ETSI sub-indication, the validation moment and the time-stamp time."""
    stamp = None
    if result.kind == "timestamp":
        stamp = getattr(status, "timestamp", None)
    else:
        tst = getattr(status, "timestamp_validity", None)
        stamp = getattr(tst, "timestamp", None) if tst is not None else None
    return replace(
        result,
        subindication=_subindication(result),
        validated_at=validated_at.isoformat(),
        timestamp_time=_aware(stamp).isoformat() if stamp is not None else None,
    )


_SUBINDICATIONS: tuple[tuple[str, str], ...] = (
    ("pdf.unparsable", "FORMAT_FAILURE"),
    ("pdf.format", "FORMAT_FAILURE"),
    ("pdf.invalid", "FORMAT_FAILURE"),
    ("pdf.not_intact", "HASH_FAILURE"),
    ("pdf.signature_invalid", "SIG_CRYPTO_FAILURE"),
    ("pdf.coverage", "FORMAT_FAILURE"),
    ("pdf.modified", "FORMAT_FAILURE"),
    ("pdf.algorithm_disallowed", "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"),
    ("pdf.untrusted", "NO_CERTIFICATE_CHAIN_FOUND"),
    ("pdf.revoked", "REVOKED"),
    ("pdf.expired", "OUT_OF_BOUNDS_NO_POE"),
    ("pdf.revocation_unknown", "TRY_LATER"),
    ("pdf.trust_indeterminate", "CERTIFICATE_CHAIN_GENERAL_FAILURE"),
)


def _subindication(result: PdfSignatureResult) -> str | None:
    """The ETSI sub-indication of the most severe reason (table order)."""
    if result.verdict == "valid":
        return None
    for reason, sub in _SUBINDICATIONS:
        if reason in result.reasons:
            return sub
    return None


async def _long_term(
    sig: EmbeddedPdfSignature,
    result: PdfSignatureResult,
    status: Any,
    poe: datetime,
    kwargs: dict[str, Any],
    dss: DocumentSecurityStore | None,
    checker: StaticRevocationChecker,
) -> PdfSignatureResult:
    """Long-term validation of one signature or document time-stamp (see docs/signing.md).

    ``poe`` is the time up to which the signature's existence is proven by the accepted
    document time-stamps after it (the validation time when there are none). A time-stamp
    is validated at ``poe`` with its TSA's revocation status taken at its own genTime. A
    signature that is indeterminate at the validation time for a reason time can cure, and
    that carries a signature time-stamp, is validated at the time-stamp's genTime ``g``
    (the best signature time): path at ``g``, revocation data valid at ``g``; the
    time-stamp itself must be acceptable (its TSA valid at ``poe``, not revoked at ``g``).
    """
    if status is None or result.verdict == "valid":
        return result
    if not set(result.reasons) <= _TIME_CURABLE:
        return result
    field, kind = result.field, result.kind
    at_poe = dict(kwargs, moment=poe)
    if kind == "timestamp":
        if poe == kwargs["moment"]:
            return result
        again, again_status = await _validate_one(sig, at_poe, dss, checker)
        return again if again_status is not None else result
    tst = getattr(status, "timestamp_validity", None)
    if tst is None and poe == kwargs["moment"]:
        return replace(
            result, detail=result.detail + "; no time-stamp proves an earlier existence (no POE)"
        )
    # The best signature time: the signature time-stamp, else the first document time-stamp.
    stamp_time = _aware(tst.timestamp) if tst is not None else poe
    try:
        later = await async_validate_pdf_signature(
            sig,
            signer_validation_context=_context(dict(kwargs, moment=stamp_time), dss, "soft-fail"),
            ts_validation_context=_context(at_poe, dss, "soft-fail"),
        )
    except (SignatureValidationError, PdfError, ValueError, TypeError, KeyError) as exc:
        return replace(result, detail=f"{result.detail}; long-term validation failed: {exc}")
    stamp = later.timestamp_validity
    problem = ""
    if tst is None:
        pass  # the POE is a document time-stamp, already accepted
    elif stamp is None or not (stamp.intact and stamp.valid):
        problem = "the signature time-stamp does not verify"
    elif not stamp.trusted:
        problem = "the signature time-stamp's TSA does not chain to an anchor at the POE"
    elif (expired := _tsa_expired(stamp, poe)) is not None:
        problem = f"the signature time-stamp's TSA certificate expired on {expired} (no POE)"
    else:
        ts_revocation, ts_why = _path_revocation(stamp, checker, stamp_time)
        if ts_revocation == "revoked" or (
            ts_revocation == "unknown" and checker.mode == "hard-fail"
        ):
            problem = f"the signature time-stamp's TSA revocation status: {ts_why}"
    if problem:
        return replace(result, detail=f"{result.detail}; {problem}")
    revocation, why = _path_revocation(later, checker, stamp_time)
    judged = _judge(field, kind, later, revocation, why, checker.mode)
    if judged.verdict != "valid":
        # Keep the finding at the validation time, say why the time-stamp did not help.
        if judged.verdict == "invalid":
            return _stamp(judged, later, stamp_time)
        return replace(result, detail=f"{result.detail}; at the time-stamp: {judged.detail}")
    return _stamp(
        replace(
            judged,
            detail=(
                f"valid at the time-stamp {stamp_time.isoformat()} (long-term "
                f"validation; at {kwargs['moment'].isoformat()}: {result.detail})"
            ),
        ),
        later,
        stamp_time,
    )


def _path_revocation(
    status: Any, checker: StaticRevocationChecker, at: datetime
) -> tuple[str, str]:
    """("good" | "revoked" | "unknown" | "not-checked", detail) for the validated path."""
    vpath = getattr(status, "validation_path", None)
    if checker.mode == "off" or vpath is None or not status.trusted:
        return "not-checked", ""
    chain = [
        x509.load_der_x509_certificate(c.dump())
        for c in reversed(list(vpath.iter_certs(include_root=True)))
    ]
    unknown: list[str] = []
    for cert, issuer in itertools.pairwise(chain):
        # Trusted path (checked above): online sources, if configured, may be asked.
        result = checker.status(cert, issuer, at=at, fetch=True)
        if result.status == "revoked":
            return "revoked", f"{cert.subject.rfc4514_string()}: {result.detail}"
        if result.status == "unknown":
            unknown.append(f"{cert.subject.rfc4514_string()}: {result.detail}")
    return ("unknown", "; ".join(unknown)) if unknown else ("good", "")


def _judge(
    field: str, kind: Any, status: Any, revocation: str, why: str, mode: RevocationMode
) -> PdfSignatureResult:
    invalid: list[str] = []
    indeterminate: list[str] = []
    words: list[str] = []
    coverage: SignatureCoverageLevel = status.coverage
    modification = getattr(status, "modification_level", None)
    if not status.intact:
        invalid.append("pdf.not_intact")
        words.append("the signed bytes do not match the digest (tampered)")
    elif not status.valid:
        invalid.append("pdf.signature_invalid")
        words.append("the signature value does not verify")
    if coverage not in (SignatureCoverageLevel.ENTIRE_FILE, SignatureCoverageLevel.ENTIRE_REVISION):
        invalid.append("pdf.coverage")
        words.append(f"byte ranges do not cover the file ({coverage.name})")
    elif modification is not None and modification not in _ALLOWED_AFTER_SIGNING:
        invalid.append("pdf.modified")
        words.append(f"modified after signing beyond what is allowed ({modification.name})")
    elif getattr(status, "docmdp_ok", True) is False:
        invalid.append("pdf.modified")
        words.append("changes after signing exceed the certification (DocMDP) permissions")
    indication = getattr(status, "trust_problem_indic", None)
    if not status.trusted:
        if indication == AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE:
            invalid.append("pdf.algorithm_disallowed")
            words.append("an algorithm is disallowed (e.g. a digest that does not fit the key)")
        elif indication in _REVOKED or indication == AdESFailure.REVOKED:
            invalid.append("pdf.revoked")
            words.append("a certificate of the signer's path is revoked")
            revocation = "revoked"
        elif indication in _EXPIRY:
            indeterminate.append("pdf.expired")
            words.append(
                "signer certificate not valid at the validation moment, no proof of existence"
            )
        elif indication in _UNTRUSTED or indication is None:
            invalid.append("pdf.untrusted")
            words.append("the signer does not chain to a configured trust anchor")
        else:
            indeterminate.append("pdf.trust_indeterminate")
            words.append(f"trust could not be established ({indication})")
    if revocation == "revoked":
        invalid.append("pdf.revoked")
        words.append(f"revoked: {why}")
    elif revocation == "unknown" and mode == "hard-fail":
        indeterminate.append("pdf.revocation_unknown")
        words.append(f"no revocation information (hard-fail policy): {why}")
    verdict: Verdict = "invalid" if invalid else "indeterminate" if indeterminate else "valid"
    cert = getattr(status, "signing_cert", None)
    reported = getattr(status, "signer_reported_dt", None)
    digest = getattr(status, "md_algorithm", None)
    return PdfSignatureResult(
        field=field,
        kind=kind,
        verdict=verdict,
        reasons=tuple(invalid + indeterminate),
        detail="; ".join(words) or "valid",
        intact=bool(status.intact),
        valid=bool(status.valid),
        trusted=not invalid and not indeterminate and bool(status.trusted),
        coverage=coverage.name,
        modification_level=modification.name if modification is not None else None,
        revocation=revocation,
        signer_subject=cert.subject.human_friendly if cert is not None else None,
        signer_fingerprint=cert.sha256.hex() if cert is not None else None,
        signing_time=reported.isoformat() if reported is not None else None,
        digest_algorithm=str(digest) if digest else None,
    )
