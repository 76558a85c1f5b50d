"""Signed receipts: the hub's proof that it accepted a package.

A receipt names the package id, the sender, the recipients, when it was accepted and the
SHA-256 of the exact bytes, and every warning the hub noted on the package (``Warnings``,
optional: receipts of packages without warnings, and receipts issued before warnings were
stated, have none). It is signed with the hub's receipt key (ECDSA P-256, because a
receipt is signed for every accepted package, on the hot path) under the same enveloped
profile as packages, so any XMLDSig implementation (xmlsec1 included) can verify it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from lxml import etree

from hub.warning_codes import warning_code
from signing import SignaturePolicy, sign_enveloped
from signing.pki import load_certificates, load_private_key

RECEIPT_NS = "urn:vnhub:receipt:1"
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "receipt" / "v1" / "receipt.xsd"
SIGNATURE_PARENT: tuple[str, ...] = (f"{{{RECEIPT_NS}}}Receipt", f"{{{RECEIPT_NS}}}Header")
RECEIPT_POLICY = SignaturePolicy(signature_parent=SIGNATURE_PARENT)


@dataclass(frozen=True, slots=True)
class ReceiptFacts:
    """What a receipt states."""

    package_id: str
    hub_id: str
    sender: str
    recipients: tuple[str, ...]
    kind: str
    document_id: str | None
    accepted_at: datetime
    sha256: str
    size: int
    #: Warnings the hub noted on the package (``"<code>"`` or ``"<code>:<path>[:<detail>]"``,
    #: codes from :data:`hub.warning_codes.WARNINGS`), in the order they were found.
    warnings: tuple[str, ...] = ()


def _q(name: str) -> str:
    return f"{{{RECEIPT_NS}}}{name}"


def format_instant(at: datetime) -> str:
    """UTC ``xs:dateTime`` with microseconds and a ``Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_receipt(facts: ReceiptFacts) -> bytes:
    """The unsigned receipt document."""
    root = etree.Element(_q("Receipt"), nsmap={None: RECEIPT_NS}, version="1")  # type: ignore[dict-item]  # lxml-stubs: None is the default namespace
    header = etree.SubElement(root, _q("Header"))

    def add(parent: etree._Element, name: str, text: str) -> None:
        etree.SubElement(parent, _q(name)).text = text

    add(header, "PackageId", facts.package_id)
    add(header, "Hub", facts.hub_id)
    add(header, "From", facts.sender)
    recipients = etree.SubElement(header, _q("Recipients"))
    for organ_id in facts.recipients:
        add(recipients, "OrganId", organ_id)
    add(header, "Kind", facts.kind)
    if facts.document_id is not None:
        add(header, "DocumentId", facts.document_id)
    add(header, "AcceptedAt", format_instant(facts.accepted_at))
    add(header, "Sha256", facts.sha256)
    add(header, "Size", str(facts.size))
    if facts.warnings:
        # Omitted when empty, so a receipt without warnings is exactly what it was before.
        warnings = etree.SubElement(header, _q("Warnings"))
        for warning in facts.warnings:
            el = etree.SubElement(warnings, _q("Warning"), code=warning_code(warning))
            el.text = warning
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


class ReceiptSigner:
    """Signs receipts (and audit checkpoints) with the hub's key; safe to share between threads.

    Several key pairs may be configured with overlapping validity so the key can rotate
    without a gap: each signature uses the *newest* certificate valid at that moment
    (latest ``notBefore``), and every configured certificate stays published
    (:attr:`certificates`) so older receipts keep verifying.
    """

    def __init__(
        self,
        key: RSAPrivateKey | EllipticCurvePrivateKey,
        certificate: x509.Certificate,
        *,
        others: Sequence[tuple[RSAPrivateKey | EllipticCurvePrivateKey, x509.Certificate]] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._pairs = [(key, certificate), *others]
        self._clock = clock
        self._lock = threading.Lock()

    @classmethod
    def from_files(
        cls,
        key_path: Path,
        cert_path: Path,
        others: Sequence[tuple[Path, Path]] = (),
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> ReceiptSigner:
        """Load the receipt key and certificate (PEM), and any further (rotation) pairs."""

        def load(
            kp: Path, cp: Path
        ) -> tuple[RSAPrivateKey | EllipticCurvePrivateKey, x509.Certificate]:
            key = load_private_key(kp)
            if not isinstance(key, RSAPrivateKey | EllipticCurvePrivateKey):
                raise TypeError("the receipt key must be RSA or EC")
            return key, load_certificates(cp)[0]

        first = load(key_path, cert_path)
        return cls(*first, others=[load(k, c) for k, c in others], clock=clock)

    def current(
        self, now: datetime | None = None
    ) -> tuple[RSAPrivateKey | EllipticCurvePrivateKey, x509.Certificate]:
        """The pair to sign with: the newest certificate valid ``now``; if none is valid, the
        first configured pair (``/readyz`` then reports the certificate as not valid)."""
        at = self._clock() if now is None else now
        valid = [
            pair
            for pair in self._pairs
            if pair[1].not_valid_before_utc <= at <= pair[1].not_valid_after_utc
        ]
        if not valid:
            return self._pairs[0]
        return max(valid, key=lambda pair: pair[1].not_valid_before_utc)

    @property
    def certificate(self) -> x509.Certificate:
        """The certificate signing now."""
        return self.current()[1]

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        """Every configured receipt certificate (the published verification material)."""
        return tuple(cert for _, cert in self._pairs)

    def sign_xml(
        self, document: bytes, signature_parent: tuple[str, ...], *, at: datetime | None = None
    ) -> bytes:
        """Sign any hub document (receipts, audit checkpoints) with the key current ``at``
        (``None``: now, by the signer's clock)."""
        key, cert = self.current(at)
        return sign_enveloped(document, key, cert, signature_parent=signature_parent)

    def sign(self, facts: ReceiptFacts, *, at: datetime | None = None) -> bytes:
        """Build and sign a receipt (with the key current ``at``, see :meth:`sign_xml`)."""
        return self.sign_xml(build_receipt(facts), SIGNATURE_PARENT, at=at)


_schema_local = threading.local()


def receipt_schema() -> etree.XMLSchema:
    """The receipt XSD (one compiled copy per thread: lxml schemas are not thread-safe)."""
    schema: etree.XMLSchema | None = getattr(_schema_local, "schema", None)
    if schema is None:
        schema = etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))
        _schema_local.schema = schema
    return schema


def parse_receipt(root: etree._Element) -> ReceiptFacts:
    """Read the facts back from a (verified) receipt tree."""
    header = root.find(_q("Header"))
    if header is None:
        raise ValueError("not a receipt")

    def text(name: str) -> str:
        el = header.find(_q(name))
        return (el.text or "") if el is not None else ""

    doc_el = header.find(_q("DocumentId"))
    return ReceiptFacts(
        package_id=text("PackageId"),
        hub_id=text("Hub"),
        sender=text("From"),
        recipients=tuple(
            el.text or "" for el in header.iterfind(f"{_q('Recipients')}/{_q('OrganId')}")
        ),
        kind=text("Kind"),
        document_id=(doc_el.text or "") if doc_el is not None else None,
        accepted_at=datetime.strptime(text("AcceptedAt"), "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=UTC
        ),
        sha256=text("Sha256"),
        size=int(text("Size")),
        warnings=tuple(
            el.text or "" for el in header.iterfind(f"{_q('Warnings')}/{_q('Warning')}")
        ),
    )
