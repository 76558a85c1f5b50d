"""Verification policy: where the signature must sit and which limits apply."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SignaturePolicy:
    """What :func:`signing.verify_enveloped` accepts.

    ``signature_parent`` is the Clark-notation path from the document element down to the
    element whose *last element child* must be the single ``ds:Signature``; each step must
    match exactly one child, so a duplicated (wrapped) header is refused rather than
    resolved to "the first one".

    ``allow_legacy`` admits what old partners still send: the RSA-SHA1 signature method,
    the SHA-1 digest, and inclusive C14N 1.0 (without comments) as CanonicalizationMethod
    or as the Reference's canonicalisation transform (or the ``enveloped-signature``
    transform alone, whose implied canonicalisation is C14N 1.0).

    The limits bound the work done on hostile input before any cryptography runs.
    """

    signature_parent: tuple[str, ...]
    allow_legacy: bool = False
    #: Upper bound for a document handed over as bytes.
    max_document_bytes: int = 64 * 1024 * 1024
    #: Upper bound for the total text inside the Signature element (certificates dominate).
    max_signature_bytes: int = 64 * 1024
    #: Upper bound for X509Certificate elements in KeyInfo (signer + intermediates).
    max_certificates: int = 8
    #: Smallest RSA modulus accepted, in bits.
    min_rsa_bits: int = 2048

    def __post_init__(self) -> None:
        if not self.signature_parent:
            raise ValueError("signature_parent must name at least the document element")
        for step in self.signature_parent:
            if not isinstance(step, str) or not step or step.startswith("{}"):
                raise ValueError(f"invalid Clark-notation step in signature_parent: {step!r}")
        if self.max_document_bytes <= 0 or self.max_signature_bytes <= 0:
            raise ValueError("limits must be positive")
        if self.max_certificates < 1:
            raise ValueError("max_certificates must be at least 1")
