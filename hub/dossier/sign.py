"""Sender-side signing of a dossier package (the connector's job, never the hub's)."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from hub.dossier.schema import SIGNATURE_PARENT
from signing import sign_enveloped
from signing.pki import PrivateKey

__all__ = ["sign_dossier"]


def sign_dossier(data: bytes, key: PrivateKey, certificate: x509.Certificate) -> bytes:
    """Sign a dossier package: one ``ds:Signature``, the last child of ``Header``."""
    if not isinstance(key, RSAPrivateKey | EllipticCurvePrivateKey):
        raise ValueError("agency keys are RSA or EC")
    return sign_enveloped(data, key, certificate, signature_parent=SIGNATURE_PARENT)
