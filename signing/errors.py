"""Error tree of the standalone signing package.

Every refusal raised by :mod:`signing` is a :class:`SigningError` carrying a stable
machine-readable ``code`` (callers map it onto their own error bodies) and a
human-readable ``detail``. The package never imports ``hub``: the hub translates these
codes itself.
"""

from __future__ import annotations

from typing import ClassVar


class SigningError(Exception):
    """Root of every error raised by the signing package.

    ``code`` is stable and safe to expose to clients; ``detail`` explains the refusal
    in words for logs and operators.
    """

    code: ClassVar[str] = "signature.error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, detail={self.detail!r})"


class SignatureMissing(SigningError):
    """The document carries no XMLDSig ``Signature`` element at all."""

    code: ClassVar[str] = "signature.missing"


class SignatureProfileViolation(SigningError):
    """The signature lies outside the strict enveloped profile (structure, place, transforms)."""

    code: ClassVar[str] = "signature.profile"


class AlgorithmForbidden(SigningError):
    """An algorithm is unknown, forbidden (HMAC, DSA, MD5…) or legacy-only without the flag."""

    code: ClassVar[str] = "signature.algorithm_forbidden"


class SignatureInvalid(SigningError):
    """Cryptographic failure: digest mismatch, bad SignatureValue, unparsable certificate."""

    code: ClassVar[str] = "signature.invalid"


class CertificateUntrusted(SigningError):
    """No valid path to a trust anchor at the given moment, or unsuitable key usage."""

    code: ClassVar[str] = "signature.untrusted"


class UnsafeXml(SigningError):
    """Bytes refused by the package's own safe parser (DTD, entities, encoding, syntax)."""

    code: ClassVar[str] = "signature.unsafe_xml"


class CertificateRevoked(CertificateUntrusted):
    """A certificate of the path is revoked at the validation moment (CRL or OCSP says so).

    A subclass of :class:`CertificateUntrusted` so that callers which only know "untrusted"
    still refuse; the code is more specific.
    """

    code: ClassVar[str] = "signature.revoked"


class RevocationUnknown(CertificateUntrusted):
    """Hard-fail policy: no usable revocation information for a certificate of the path.

    Missing information never means "not revoked" under hard-fail.
    """

    code: ClassVar[str] = "signature.revocation_unknown"


class UnsafeArchive(SigningError):
    """An attachment archive was refused: bomb ratios, sizes, counts, depth, traversal,
    encryption or a corrupt archive. ``detail`` names the member."""

    code: ClassVar[str] = "attachment.unsafe_archive"


__all__ = [
    "AlgorithmForbidden",
    "CertificateRevoked",
    "CertificateUntrusted",
    "RevocationUnknown",
    "SignatureInvalid",
    "SignatureMissing",
    "SignatureProfileViolation",
    "SigningError",
    "UnsafeArchive",
    "UnsafeXml",
]
