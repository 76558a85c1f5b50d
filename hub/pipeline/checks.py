"""The CPU-bound checks of the pipeline, one function per step.

limits → safe parse (no DTD, no entities, no network) → schema → signature and certificate
path → models built from the verified tree only.

These run in worker processes (see :mod:`hub.pipeline.executor`) so that ingest uses every
core; everything they take and return is picklable, and refusals are :class:`HubError`\\ s
with stable codes (they pickle across the process boundary).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from lxml import etree

from hub.edxml import EdxmlPackage, parse_package
from hub.edxml.schema import SIGNATURE_PARENT
from hub.edxml.schema import validate as validate_schema
from hub.errors import SignatureError
from hub.xmlsafe import check_size, parse_xml
from signing import SignaturePolicy, SigningError, TrustStore, verify_enveloped
from signing.pki import load_certificates


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """What the checks need; picklable, identical in every worker process."""

    max_size: int
    trust_anchors: tuple[Path, ...]
    allow_legacy: bool = False


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


@dataclass(frozen=True, slots=True)
class Checked:
    """A package whose signature verified and whose signer chains to a trust anchor.

    ``package`` is built only from the verified, comment-free tree.
    """

    sha256: str
    size: int
    package: EdxmlPackage
    signer_fingerprint: str
    signer_subject: str
    signer_not_after: datetime
    signature_method: str
    legacy_signature: bool


class _Context:
    """Per-process state that is expensive to build: the trust store and the policy."""

    def __init__(self, options: CheckOptions) -> None:
        anchors = [c for p in options.trust_anchors for c in load_certificates(p)]
        self.options = options
        self.trust = TrustStore(anchors)
        self.policy = SignaturePolicy(
            signature_parent=SIGNATURE_PARENT, allow_legacy=options.allow_legacy
        )


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
    """Validate against the project's edXML XSD."""
    validate_schema(parsed.root)
    return parsed


def step_signature(parsed: Parsed, ctx: _Context) -> Checked:
    """Verify the enveloped signature and the certificate path at reception time, then build
    the models from what was signed — never from the received tree."""
    try:
        verified = verify_enveloped(parsed.root, ctx.policy)
        ctx.trust.validate(
            verified.certificate,
            at=parsed.raw.received_at,
            intermediates=verified.intermediates,
        )
    except SigningError as exc:
        raise SignatureError(exc.detail, code=exc.code) from None
    package = parse_package(verified.signed_root)
    cert: x509.Certificate = verified.certificate
    return Checked(
        sha256=hashlib.sha256(parsed.raw.data).hexdigest(),
        size=len(parsed.raw.data),
        package=package,
        signer_fingerprint=verified.fingerprint_sha256,
        signer_subject=cert.subject.rfc4514_string(),
        signer_not_after=cert.not_valid_after_utc,
        signature_method=verified.signature_method,
        legacy_signature=verified.legacy,
    )


def check_package(data: bytes, received_at: datetime, options: CheckOptions) -> Checked:
    """Run every CPU-bound step on one package. Raises :class:`hub.errors.HubError`."""
    ctx = _context(options)
    raw = step_limits(Raw(data=data, received_at=received_at), options.max_size)
    return step_signature(step_schema(step_parse(raw)), ctx)
