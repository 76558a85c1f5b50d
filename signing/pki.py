"""A small development PKI: a CA, end-entity signing certificates, PEM files.

This backs the ``hub pki init|issue`` commands for development and tests. Production
trust anchors come from configuration (the government root and public CAs), never from here.

Decisions:

* The CA key is EC P-256 with ECDSA-SHA256 certificate signatures: key generation is
  instantaneous (tests create many CAs), certificates stay small, and every verifier we
  interoperate with (cryptography, pyhanko-certvalidator, xmlsec1) handles it.
* End-entity certificates carry keyUsage digitalSignature + nonRepudiation (critical),
  basicConstraints CA=false (critical), SKI and AKI, and never outlive their CA.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

# Issued certificates start a little in the past so that a peer whose clock lags a few
# minutes does not see them as "not yet valid".
_BACKDATE = timedelta(minutes=5)


def _name(common_name: str, organizational_unit: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organizational_unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, organizational_unit))
    return x509.Name(attrs)


def key_usage(*, ca: bool = False, non_repudiation: bool = True) -> x509.KeyUsage:
    """The KeyUsage of the certificates (and requests) made here: a CA signs certificates
    and CRLs only; an end entity signs (digitalSignature) and, unless ``non_repudiation`` is
    off (a responder whose ExtendedKeyUsage says what it is for), commits to what it signs."""
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=not ca and non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def create_ca(
    common_name: str, *, valid_days: int = 3650, not_before: datetime | None = None
) -> tuple[ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, x509.Certificate]:
    """Create a self-signed development CA (EC P-256 key, ECDSA-SHA256 signature).

    The CA may issue end-entity certificates only (pathLenConstraint 0). ``not_before``
    (timezone-aware) defaults to five minutes ago; tests pass the moment their data is built
    around, so that nothing depends on how long the suite ran before them.
    """
    if valid_days <= 0:
        raise ValueError("valid_days must be positive")
    if not_before is not None and not_before.tzinfo is None:
        raise ValueError("not_before must be timezone-aware")
    key = ec.generate_private_key(ec.SECP256R1())
    now = not_before if not_before is not None else datetime.now(UTC) - _BACKDATE
    name = _name(common_name)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            key_usage(ca=True),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_certificate(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    common_name: str,
    *,
    key_type: Literal["rsa2048", "ec-p256"] = "rsa2048",
    organizational_unit: str | None = None,
    valid_days: int = 825,
    not_before: datetime | None = None,
) -> tuple[PrivateKey, x509.Certificate]:
    """Issue an end-entity signing certificate under ``ca_cert``.

    ``not_before`` (timezone-aware) lets tests make certificates that are expired or not
    yet valid; by default the certificate starts five minutes ago. ``notAfter`` is capped
    at the CA's own ``notAfter``.
    """
    if valid_days <= 0:
        raise ValueError("valid_days must be positive")
    key: PrivateKey
    if key_type == "rsa2048":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif key_type == "ec-p256":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(f"unsupported key_type {key_type!r}")
    if not_before is None:
        start = datetime.now(UTC) - _BACKDATE
    else:
        if not_before.tzinfo is None:
            raise ValueError("not_before must be timezone-aware")
        start = not_before
    end = min(start + timedelta(days=valid_days), ca_cert.not_valid_after_utc)
    try:
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organizational_unit))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            key_usage(),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(aki, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def save_private_key(path: Path, key: PrivateKey) -> None:
    """Write ``key`` as unencrypted PKCS#8 PEM readable by the owner only (mode 0600)."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Create with 0600 from the start (no window where the key is world-readable) and
    # force the mode in case the file already existed with a wider one.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
    finally:
        os.close(fd)


def save_certificate(path: Path, cert: x509.Certificate) -> None:
    """Write ``cert`` as PEM."""
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def load_private_key(path: Path) -> PrivateKey:
    """Load an unencrypted PEM private key; only RSA and EC keys are accepted."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: only RSA and EC private keys are supported")
    return key


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Load every certificate of a PEM file (several may be concatenated) or one DER file."""
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


def fingerprint_sha256(cert: x509.Certificate) -> str:
    """Lowercase hex SHA-256 of the certificate's DER encoding."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def create_crl(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    revoked_serials: Iterable[int | tuple[int, datetime]],
    next_update: datetime,
    *,
    last_update: datetime | None = None,
) -> x509.CertificateRevocationList:
    """Issue a CRL signed by ``ca_key`` listing ``revoked_serials``.

    Each entry is a serial number (revoked five minutes before ``last_update``) or a
    ``(serial, revocation_date)`` pair. ``last_update`` defaults to now (backdated like
    certificates); the CRL is usable for validation moments up to ``next_update``.
    """
    if next_update.tzinfo is None:
        raise ValueError("next_update must be timezone-aware")
    this_update = last_update or (datetime.now(UTC) - _BACKDATE)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(this_update)
        .next_update(next_update)
    )
    try:
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
    except x509.ExtensionNotFound:
        pass
    builder = builder.add_extension(x509.CRLNumber(int(this_update.timestamp())), critical=False)
    for item in revoked_serials:
        serial, when = item if isinstance(item, tuple) else (item, this_update - _BACKDATE)
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    return builder.sign(ca_key, hashes.SHA256())


def save_crl(path: Path, crl: x509.CertificateRevocationList) -> None:
    """Write ``crl`` as PEM."""
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))


def load_crls(path: Path) -> list[x509.CertificateRevocationList]:
    """Load the CRLs of a file: one DER CRL, or one or more PEM ``X509 CRL`` blocks."""
    data = path.read_bytes()
    if b"-----BEGIN X509 CRL-----" not in data:
        return [x509.load_der_x509_crl(data)]
    out: list[x509.CertificateRevocationList] = []
    for chunk in data.split(b"-----END X509 CRL-----")[:-1]:
        start = chunk.find(b"-----BEGIN X509 CRL-----")
        if start >= 0:
            out.append(x509.load_pem_x509_crl(chunk[start:] + b"-----END X509 CRL-----\n"))
    return out
