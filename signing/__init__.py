"""Standalone signing package: strict enveloped XMLDSig, trust validation, a dev PKI.

This package never imports ``hub``; its errors carry stable codes (see
:mod:`signing.errors`) that the hub maps onto its own error bodies.
"""

from .errors import (
    AlgorithmForbidden,
    CertificateUntrusted,
    SignatureInvalid,
    SignatureMissing,
    SignatureProfileViolation,
    SigningError,
    UnsafeXml,
)
from .policy import SignaturePolicy
from .trust import RevocationChecker, TrustStore, ValidatedPath
from .xmldsig import VerifiedSignature, sign_enveloped, verify_enveloped

__all__ = [
    "AlgorithmForbidden",
    "CertificateUntrusted",
    "RevocationChecker",
    "SignatureInvalid",
    "SignatureMissing",
    "SignaturePolicy",
    "SignatureProfileViolation",
    "SigningError",
    "TrustStore",
    "UnsafeXml",
    "ValidatedPath",
    "VerifiedSignature",
    "sign_enveloped",
    "verify_enveloped",
]
