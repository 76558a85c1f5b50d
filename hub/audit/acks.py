"""Signed acknowledgements of receipt (non-repudiation of receipt, as AS4 receipts).

A recipient may send, as the body of ``POST /v1/packages/{id}/ack``, an XML document
(``schemas/ack/v1/ack.xsd``) signed with its own key::

    <Ack xmlns="urn:vnhub:ack:1" version="1">
      <Header>
        <PackageId>…</PackageId><Recipient>000.00.00.H41</Recipient>
        <Sha256>sha256 of the exact bytes received</Sha256>
        <ReceivedAt>2026-03-02T08:30:00Z</ReceivedAt>
        <ds:Signature>…</ds:Signature>
      </Header>
    </Ack>

The hub checks it with the packages' strict profile (:func:`signing.verify_enveloped`),
requires the signing certificate to be one the registry binds to the recipient (the same
fingerprint binding as a package's ``From``) and, like a package's, to chain to a configured
anchor and pass the revocation policy (issue 14), and requires it to name this package and
the SHA-256 of its bytes — so the recipient cannot later deny having received *these* bytes.
An unsigned ack (empty body) stays allowed: signing is the recipient's choice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree

from hub.errors import HubError, SignatureError, SignerMismatch
from signing import (
    SignaturePolicy,
    SigningError,
    TrustStore,
    sign_enveloped,
    verify_enveloped,
)

ACK_NS = "urn:vnhub:ack:1"
SIGNATURE_PARENT: tuple[str, ...] = (f"{{{ACK_NS}}}Ack", f"{{{ACK_NS}}}Header")
ACK_POLICY = SignaturePolicy(signature_parent=SIGNATURE_PARENT)
#: a signed ack is a few kilobytes (one certificate); anything much larger is not one
MAX_ACK_BYTES = 64 * 1024
SCHEMA_PATH = Path(__file__).resolve().parent.parent.parent / "schemas" / "ack" / "v1" / "ack.xsd"


class AckInvalid(HubError):
    """The signed acknowledgement verifies but does not acknowledge this package."""

    code = "ack.invalid"
    status = 422
    title = "The signed acknowledgement does not match the package"


def _q(name: str) -> str:
    return f"{{{ACK_NS}}}{name}"


@dataclass(frozen=True, slots=True)
class AckFacts:
    """What a signed acknowledgement states."""

    package_id: str
    recipient: str
    sha256: str
    received_at: str  # xs:dateTime as written by the recipient
    # Soft-fail revocation: the signer's path had certificates of unknown status (warning
    # signature.revocation_unknown); empty when checked or not asked.
    revocation_notes: tuple[str, ...] = ()


def build_ack(facts: AckFacts) -> bytes:
    """The unsigned acknowledgement document."""
    root = etree.Element(_q("Ack"), nsmap={None: ACK_NS}, version="1")  # type: ignore[dict-item]  # lxml-stubs: None is the default namespace
    header = etree.SubElement(root, _q("Header"))
    etree.SubElement(header, _q("PackageId")).text = facts.package_id
    etree.SubElement(header, _q("Recipient")).text = facts.recipient
    etree.SubElement(header, _q("Sha256")).text = facts.sha256
    etree.SubElement(header, _q("ReceivedAt")).text = facts.received_at
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def sign_ack(
    facts: AckFacts,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    certificate: x509.Certificate,
) -> bytes:
    """Build and sign an acknowledgement (what a recipient's connector does)."""
    return sign_enveloped(build_ack(facts), key, certificate, signature_parent=SIGNATURE_PARENT)


_schema_local = threading.local()


def ack_schema() -> etree.XMLSchema:
    """The ack XSD (one compiled copy per thread: lxml schemas are not thread-safe)."""
    schema: etree.XMLSchema | None = getattr(_schema_local, "schema", None)
    if schema is None:
        schema = etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))
        _schema_local.schema = schema
    return schema


def verify_ack(
    data: bytes,
    *,
    package_id: str,
    recipient: str,
    sha256: str,
    signer_bound: Callable[[str, str], bool],
    trust: TrustStore | None = None,
    at: datetime | None = None,
) -> AckFacts:
    """Check ``data`` as ``recipient``'s signed acknowledgement of ``package_id`` whose bytes
    hash to ``sha256``. ``signer_bound(organ_id, fingerprint)`` is the registry's binding.

    Raises :class:`SignatureError` (signature outside the profile or invalid),
    :class:`SignerMismatch` (certificate not registered for the recipient) or
    :class:`AckInvalid` (schema, or it names another package, recipient or digest).

    With ``trust`` (the hub passes the packages' trust store), the signing certificate gets
    the same checks as a package's: a path to a configured anchor at ``at`` and the
    revocation policy (``signature.untrusted``, ``signature.revoked``,
    ``signature.revocation_unknown``); a fingerprint binding alone is not enough."""
    if len(data) > MAX_ACK_BYTES:
        raise AckInvalid(f"a signed acknowledgement is at most {MAX_ACK_BYTES} bytes")
    try:
        verified = verify_enveloped(data, ACK_POLICY)
    except SigningError as exc:
        raise SignatureError(f"signed acknowledgement: {exc.detail}", code=exc.code) from exc
    notes: tuple[str, ...] = ()
    if trust is not None:
        if at is None:
            raise ValueError("verify_ack: a trust check needs the moment 'at'")
        try:
            path = trust.validate(verified.certificate, at=at, intermediates=verified.intermediates)
        except SigningError as exc:
            raise SignatureError(f"signed acknowledgement: {exc.detail}", code=exc.code) from exc
        notes = path.revocation_notes
    if not signer_bound(recipient, verified.fingerprint_sha256):
        raise SignerMismatch(
            f"the acknowledgement is signed by a certificate not registered for {recipient}",
            fingerprint=verified.fingerprint_sha256,
        )
    # Facts come from the signed, comment-free tree only (see docs/signing.md).
    root = verified.signed_root
    schema = ack_schema()
    if not schema.validate(root):
        log: Any = schema.error_log  # lxml-stubs do not describe _ErrorLog
        errors = list(log)
        reason = errors[-1].message if errors else ""
        raise AckInvalid(f"not an acknowledgement (ack/v1 schema): {reason}")
    header = root.find(_q("Header"))
    assert header is not None  # the schema requires it

    def text(name: str) -> str:
        el = header.find(_q(name))
        return (el.text or "").strip() if el is not None else ""

    facts = AckFacts(
        package_id=text("PackageId"),
        recipient=text("Recipient"),
        sha256=text("Sha256"),
        received_at=text("ReceivedAt"),
        revocation_notes=notes,
    )
    if facts.package_id != package_id:
        raise AckInvalid(f"the acknowledgement names package {facts.package_id!r}")
    if facts.recipient != recipient:
        raise AckInvalid(f"the acknowledgement names recipient {facts.recipient!r}")
    if facts.sha256 != sha256:
        raise AckInvalid("the acknowledgement's Sha256 is not the digest of this package's bytes")
    return facts
