"""``hub pki init|issue``: the development PKI laid out on disk.

Layout (``DIR`` is usually ``WORKDIR/pki``)::

    DIR/ca.pem, DIR/ca-key.pem              the development CA (a trust anchor)
    DIR/hub/key.pem, DIR/hub/cert.pem       the hub's receipt key: ECDSA P-256
    DIR/agencies/<OrganId>/key.pem          an agency's signing key: RSA-2048, unencrypted PEM
    DIR/agencies/<OrganId>/cert.pem         its certificate, issued by the CA
    DIR/agencies/<OrganId>/token            its bearer token for the API (the hub keeps only
                                            the SHA-256)

Private keys and tokens are written with mode 0600. This is for development and tests only:
production anchors are the government and public CAs, configured, never generated.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hub.edxml.organ_id import OrganId
from hub.registry import new_token, token_digest
from signing.pki import (
    create_ca,
    fingerprint_sha256,
    issue_certificate,
    load_certificates,
    load_private_key,
    save_certificate,
    save_private_key,
)


@dataclass(frozen=True, slots=True)
class IssuedAgency:
    """Files and registry values of an issued agency identity."""

    organ_id: str
    key_path: Path
    cert_path: Path
    token_path: Path
    cert_sha256: str
    token_sha256: str


def init_pki(directory: Path, *, ca_name: str = "Hub development CA") -> dict[str, Path]:
    """Create the CA and the hub's receipt key; an existing CA is kept (idempotent)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_pem, ca_key_pem = directory / "ca.pem", directory / "ca-key.pem"
    if not ca_pem.exists():
        ca_key, ca_cert = create_ca(ca_name)
        save_private_key(ca_key_pem, ca_key)
        save_certificate(ca_pem, ca_cert)
    ca_key = load_private_key(ca_key_pem)
    ca_cert = load_certificates(ca_pem)[0]
    hub_dir = directory / "hub"
    hub_dir.mkdir(exist_ok=True)
    hub_key, hub_cert = hub_dir / "key.pem", hub_dir / "cert.pem"
    if not hub_cert.exists():
        key, cert = issue_certificate(
            ca_key, ca_cert, "Hub receipt signer", key_type="ec-p256", organizational_unit="hub"
        )
        save_private_key(hub_key, key)
        save_certificate(hub_cert, cert)
    return {
        "CA certificate": ca_pem,
        "CA key": ca_key_pem,
        "hub key": hub_key,
        "hub certificate": hub_cert,
    }


def issue_agency(directory: Path, organ_id: str, *, name: str | None = None) -> IssuedAgency:
    """Issue (or re-use) an agency's key, certificate and token under ``DIR/agencies``."""
    OrganId.parse(organ_id)  # ValueError for a malformed code
    ca_key = load_private_key(directory / "ca-key.pem")
    ca_cert = load_certificates(directory / "ca.pem")[0]
    agency_dir = directory / "agencies" / organ_id
    agency_dir.mkdir(parents=True, exist_ok=True)
    key_path, cert_path, token_path = (
        agency_dir / "key.pem",
        agency_dir / "cert.pem",
        agency_dir / "token",
    )
    if not cert_path.exists():
        key, cert = issue_certificate(
            ca_key, ca_cert, name or organ_id, key_type="rsa2048", organizational_unit=organ_id
        )
        save_private_key(key_path, key)
        save_certificate(cert_path, cert)
    if not token_path.exists():
        fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(new_token() + "\n")
    cert = load_certificates(cert_path)[0]
    return IssuedAgency(
        organ_id=organ_id,
        key_path=key_path,
        cert_path=cert_path,
        token_path=token_path,
        cert_sha256=fingerprint_sha256(cert),
        token_sha256=token_digest(token_path.read_text().strip()),
    )
