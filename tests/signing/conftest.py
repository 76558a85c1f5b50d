"""Shared fixtures for the signing tests: a dev PKI, the real edXML sample, xmlsec1."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from signing.pki import PrivateKey, create_ca, issue_certificate

TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
E = "{" + EDXML_NS + "}"
EDXML_PARENT = (E + "edXML", E + "edXMLEnvelope", E + "edXMLHeader")


@dataclass(frozen=True)
class Signer:
    key: PrivateKey
    cert: x509.Certificate


@dataclass(frozen=True)
class DevPki:
    ca_key: PrivateKey
    ca: x509.Certificate
    rsa: Signer
    ec256: Signer
    ec384: Signer
    rsa_other: Signer  # same CA, different key (key substitution)
    other_ca: x509.Certificate
    foreign: Signer  # issued by other_ca


def _issue_p384(ca_key: PrivateKey, ca: x509.Certificate) -> Signer:
    """issue_certificate only offers P-256; build a P-384 leaf by hand for the round trips."""
    key = ec.generate_private_key(ec.SECP384R1())
    now = datetime.now(UTC) - timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "P-384 signer")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return Signer(key, cert)


@pytest.fixture(scope="session")
def pki() -> DevPki:
    ca_key, ca = create_ca("Hub Dev CA")
    rsa_key, rsa_cert = issue_certificate(
        ca_key, ca, "Văn phòng Chính phủ", organizational_unit="000.00.00.G22"
    )
    ec_key, ec_cert = issue_certificate(ca_key, ca, "UBND Tỉnh Nghệ An", key_type="ec-p256")
    other_key, other_cert = issue_certificate(ca_key, ca, "Someone else")
    other_ca_key, other_ca = create_ca("Other CA")
    f_key, f_cert = issue_certificate(other_ca_key, other_ca, "Văn phòng Chính phủ")
    return DevPki(
        ca_key=ca_key,
        ca=ca,
        rsa=Signer(rsa_key, rsa_cert),
        ec256=Signer(ec_key, ec_cert),
        ec384=_issue_p384(ca_key, ca),
        rsa_other=Signer(other_key, other_cert),
        other_ca=other_ca,
        foreign=Signer(f_key, f_cert),
    )


def strip_placeholder(data: bytes) -> bytes:
    """Remove the kit's placeholder <Signature> (edXML namespace) and its indentation line."""
    start = data.index(b"<Signature>")
    end = data.index(b"</Signature>") + len(b"</Signature>")
    while data[start - 1 : start] in (b" ", b"\t"):
        start -= 1
    if data[start - 2 : start] == b"\r\n":
        start -= 2
    elif data[start - 1 : start] == b"\n":
        start -= 1
    return data[:start] + data[end:]


@pytest.fixture(scope="session")
def edoc_sample() -> bytes:
    """The real sample exactly as published (placeholder Signature included)."""
    return (TESTDATA / "edxml" / "edoc_update.edxml").read_bytes()


@pytest.fixture(scope="session")
def edoc_unsigned(edoc_sample: bytes) -> bytes:
    """The real sample without its placeholder: a package ready to be signed for real."""
    return strip_placeholder(edoc_sample)
