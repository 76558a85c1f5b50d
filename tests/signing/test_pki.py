"""The development PKI helpers used by `hub pki init|issue`."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from signing.pki import (
    create_ca,
    fingerprint_sha256,
    issue_certificate,
    load_certificates,
    load_private_key,
    save_certificate,
    save_private_key,
)


def test_ca_is_ec_p256_with_ca_extensions() -> None:
    key, ca = create_ca("Dev CA", valid_days=10)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert ca.subject == ca.issuer


def test_end_entity_extensions_and_key_types() -> None:
    ca_key, ca = create_ca("Dev CA")
    kinds: list[tuple[Literal["rsa2048", "ec-p256"], type]] = [
        ("rsa2048", rsa.RSAPrivateKey),
        ("ec-p256", ec.EllipticCurvePrivateKey),
    ]
    for key_type, key_class in kinds:
        key, cert = issue_certificate(
            ca_key, ca, "UBND Tỉnh Cao Bằng", key_type=key_type, organizational_unit="000.00.00.H14"
        )
        assert isinstance(key, key_class)
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
        assert not usage.value.key_cert_sign
        assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        assert aki.key_identifier == ski.digest
        assert cert.subject.rfc4514_string() == "OU=000.00.00.H14,CN=UBND Tỉnh Cao Bằng"
        assert cert.not_valid_after_utc <= ca.not_valid_after_utc
    _, short = issue_certificate(ca_key, ca, "x", valid_days=100000)
    assert short.not_valid_after_utc == ca.not_valid_after_utc  # capped at the CA


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    ca_key, ca = create_ca("Dev CA")
    key, cert = issue_certificate(ca_key, ca, "signer")
    key_path, cert_path = tmp_path / "k.pem", tmp_path / "c.pem"
    key_path.write_text("old")
    key_path.chmod(0o644)
    save_private_key(key_path, key)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert b"BEGIN PRIVATE KEY" in key_path.read_bytes()  # PKCS#8, unencrypted
    loaded = load_private_key(key_path)
    assert loaded.public_key().public_numbers() == key.public_key().public_numbers()
    save_certificate(cert_path, cert)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(cert_path.read_bytes() + ca.public_bytes(serialization.Encoding.PEM))
    assert load_certificates(bundle) == [cert, ca]
    der = tmp_path / "c.der"
    der.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    assert load_certificates(der) == [cert]


def test_fingerprint_is_lowercase_sha256_of_der() -> None:
    _, ca = create_ca("Dev CA")
    expected = hashlib.sha256(ca.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert fingerprint_sha256(ca) == expected == expected.lower()
