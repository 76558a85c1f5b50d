"""Standalone signing package: strict enveloped XMLDSig, trust validation, a dev PKI.

This package never imports ``hub``; its errors carry stable codes (see
:mod:`signing.errors`) that the hub maps onto its own error bodies.
"""

from .errors import (
    AlgorithmForbidden,
    CertificateRevoked,
    CertificateUntrusted,
    RevocationUnknown,
    SignatureInvalid,
    SignatureMissing,
    SignatureProfileViolation,
    SigningError,
    UnsafeArchive,
    UnsafeXml,
)
from .pades import PdfReport, PdfSignatureResult, validate_pdf
from .policy import SignaturePolicy
from .revocation import RevocationMode, StaticRevocationChecker
from .trust import (
    ExpiringCertificate,
    RevocationChecker,
    TrustStore,
    ValidatedPath,
    expiring_certificates,
)
from .unpack import UnpackLimits, find_pdfs
from .xmldsig import VerifiedSignature, sign_enveloped, verify_enveloped

__all__ = [
    "AlgorithmForbidden",
    "CertificateRevoked",
    "CertificateUntrusted",
    "ExpiringCertificate",
    "PdfReport",
    "PdfSignatureResult",
    "RevocationChecker",
    "RevocationMode",
    "RevocationUnknown",
    "SignatureInvalid",
    "SignatureMissing",
    "SignaturePolicy",
    "SignatureProfileViolation",
    "SigningError",
    "StaticRevocationChecker",
    "TrustStore",
    "UnpackLimits",
    "UnsafeArchive",
    "UnsafeXml",
    "ValidatedPath",
    "VerifiedSignature",
    "expiring_certificates",
    "find_pdfs",
    "sign_enveloped",
    "validate_pdf",
    "verify_enveloped",
]
