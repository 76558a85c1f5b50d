"""Revocation checking from CRLs and OCSP responses held in files — offline, always.

:class:`StaticRevocationChecker` implements the :class:`signing.trust.RevocationChecker`
seam. It never fetches anything: CRLs (from ``config/trust/`` or configured files, possibly
refreshed there by an operator's job from the distribution points) and OCSP responses saved
to files are loaded once and indexed, so a check is a dictionary lookup per certificate of
the path plus a signature verification that is cached per (CRL, issuer).

Why cryptography rather than a second pyhanko-certvalidator pass: the path is already
built and cached by :class:`signing.trust.TrustStore`; revocation must be re-checked on every
call (status changes over time) and rebuilding the path with certvalidator for that costs
milliseconds per package. The same CRL/OCSP objects are handed to pyhanko for PAdES (see
:mod:`signing.pades`), so both checks read the same sources.

Policy (:data:`RevocationMode`):

* ``hard-fail`` — every certificate of the path except the anchor needs usable revocation
  information (a fresh CRL signed by its issuer, or a good OCSP response). None →
  :class:`~signing.errors.RevocationUnknown`. Missing information never means "trusted".
* ``soft-fail`` — a certificate found revoked is refused; no information is tolerated.
* ``off`` — nothing is checked.

The anchor itself is never checked: anchors are trusted by configuration, and removing a
compromised anchor from the trust directory is how it is "revoked".
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from .errors import CertificateRevoked, RevocationUnknown
from .pki import fingerprint_sha256, load_crls

if TYPE_CHECKING:  # trust imports this module
    from .trust import ValidatedPath

RevocationMode = Literal["hard-fail", "soft-fail", "off"]
REVOCATION_MODES: tuple[RevocationMode, ...] = ("hard-fail", "soft-fail", "off")

Status = Literal["good", "revoked", "unknown"]


@dataclass(frozen=True, slots=True)
class RevocationStatus:
    """What the sources say about one certificate at one moment, and from where."""

    status: Status
    source: str  # "crl", "ocsp" or "none"
    detail: str = ""


def _name_key(name: x509.Name) -> bytes:
    return name.public_bytes()


def _key_usage_allows_crl_sign(cert: x509.Certificate) -> bool:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True  # RFC 5280 only restricts issuers that carry keyUsage
    return bool(usage.crl_sign)


def _verify(
    key: object, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None
) -> bool:
    """Verify a raw signature made with a certificate's public key (RSA PKCS#1 v1.5, ECDSA,
    EdDSA); False on any mismatch or unsupported key."""
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


class StaticRevocationChecker:
    """CRLs and OCSP responses loaded once; checks a validated path at a moment.

    Implements :class:`signing.trust.RevocationChecker`.
    """

    def __init__(
        self,
        crls: Sequence[x509.CertificateRevocationList] = (),
        ocsp_responses: Sequence[ocsp.OCSPResponse] = (),
        *,
        mode: RevocationMode = "hard-fail",
    ) -> None:
        if mode not in REVOCATION_MODES:
            raise ValueError(f"revocation mode must be one of {REVOCATION_MODES}, not {mode!r}")
        self.mode: RevocationMode = mode
        self.crls = tuple(crls)
        self.ocsp_responses = tuple(
            r for r in ocsp_responses if r.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
        )
        self._by_issuer: dict[bytes, list[int]] = {}
        for i, crl in enumerate(self.crls):
            self._by_issuer.setdefault(_name_key(crl.issuer), []).append(i)
        self._verified: dict[tuple[str, int, str], bool] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_files(
        cls,
        crl_files: Iterable[Path] = (),
        ocsp_files: Iterable[Path] = (),
        *,
        mode: RevocationMode = "hard-fail",
    ) -> StaticRevocationChecker:
        """Load CRLs (PEM or DER, several PEM blocks per file) and DER OCSP responses."""
        crls = [crl for path in crl_files for crl in load_crls(path)]
        responses = [ocsp.load_der_ocsp_response(p.read_bytes()) for p in ocsp_files]
        return cls(crls, responses, mode=mode)

    def crls_der(self) -> tuple[bytes, ...]:
        """The CRLs, DER-encoded (for pyhanko's ValidationContext)."""
        return tuple(c.public_bytes(serialization.Encoding.DER) for c in self.crls)

    def ocsp_der(self) -> tuple[bytes, ...]:
        """The OCSP responses, DER-encoded (for pyhanko's ValidationContext)."""
        return tuple(r.public_bytes(serialization.Encoding.DER) for r in self.ocsp_responses)

    def extended(
        self,
        crls: Sequence[x509.CertificateRevocationList],
        ocsp_responses: Sequence[ocsp.OCSPResponse],
        mode: RevocationMode,
    ) -> StaticRevocationChecker:
        """A checker with these sources added (a PDF's DSS) and ``mode``."""
        return StaticRevocationChecker(
            self.crls + tuple(crls), self.ocsp_responses + tuple(ocsp_responses), mode=mode
        )

    def check(self, path: ValidatedPath, *, at: datetime) -> tuple[str, ...]:
        """Refuse the path if a certificate is revoked, or (hard-fail) has no information.

        ``path`` is a :class:`signing.trust.ValidatedPath` (leaf first, anchor last). Under
        soft-fail, returns one note per certificate whose status could not be had (the
        caller turns them into warnings); otherwise ``()``.
        """
        notes: list[str] = []
        if self.mode == "off":
            return ()
        for cert, issuer in itertools.pairwise(path.chain):
            # The path validated to an anchor: online sources (if any) may be consulted.
            result = self.status(cert, issuer, at=at, fetch=True)
            subject = cert.subject.rfc4514_string()
            if result.status == "revoked":
                raise CertificateRevoked(
                    f"certificate {subject!r} (serial {cert.serial_number:x}) is revoked "
                    f"at {at.isoformat()} ({result.source}: {result.detail})"
                )
            if result.status == "unknown" and self.mode == "hard-fail":
                raise RevocationUnknown(
                    f"no usable revocation information for {subject!r} "
                    f"(serial {cert.serial_number:x}) at {at.isoformat()}: {result.detail}"
                )
            if result.status == "unknown":
                notes.append(f"{subject}: {result.detail}")
        return tuple(notes)

    def status(
        self,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        *,
        at: datetime,
        fetch: bool = False,
    ) -> RevocationStatus:
        """The revocation status of ``cert`` (issued by ``issuer``) at ``at``.

        CRLs are consulted first; a revoked entry wins over any other source. OCSP responses
        answer when no usable CRL covers the certificate. ``fetch`` (the caller validated
        the path to an anchor) lets subclasses consult online sources; ignored here.
        """
        reasons: list[str] = []
        good_from_crl = False
        for i in self._by_issuer.get(_name_key(cert.issuer), []):
            crl = self.crls[i]
            if not self._crl_signed_by(i, crl, issuer):
                reasons.append("a CRL names the issuer but is not signed by it")
                continue
            next_update = crl.next_update_utc
            if next_update is not None and at > next_update:
                reasons.append(f"CRL expired (nextUpdate {next_update.isoformat()})")
                continue
            entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if entry is not None and entry.revocation_date_utc <= at:
                return RevocationStatus(
                    "revoked", "crl", f"revoked on {entry.revocation_date_utc.isoformat()}"
                )
            good_from_crl = True
        if good_from_crl:
            return RevocationStatus("good", "crl")
        ocsp_result = self._ocsp_status(cert, issuer, at)
        if ocsp_result is not None:
            return ocsp_result
        reasons.append("no CRL or OCSP response covers it")
        return RevocationStatus("unknown", "none", "; ".join(reasons))

    def _crl_signed_by(
        self, index: int, crl: x509.CertificateRevocationList, issuer: x509.Certificate
    ) -> bool:
        key = (fingerprint_sha256(issuer), index, "crl")
        with self._lock:
            cached = self._verified.get(key)
        if cached is None:
            public_key = issuer.public_key()
            cached = _key_usage_allows_crl_sign(issuer) and isinstance(
                public_key,
                rsa.RSAPublicKey
                | ec.EllipticCurvePublicKey
                | ed25519.Ed25519PublicKey
                | ed448.Ed448PublicKey,
            )
            if cached:
                try:
                    cached = crl.is_signature_valid(public_key)  # type: ignore[arg-type]
                except (TypeError, ValueError):
                    cached = False
            with self._lock:
                self._verified[key] = cached
        return cached

    def _ocsp_status(
        self, cert: x509.Certificate, issuer: x509.Certificate, at: datetime
    ) -> RevocationStatus | None:
        issuer_key_der = issuer.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        for resp in self.ocsp_responses:
            for single in resp.responses:
                if single.serial_number != cert.serial_number:
                    continue
                digest = hashes.Hash(single.hash_algorithm)
                digest.update(_subject_public_key_bits(issuer_key_der))
                if digest.finalize() != single.issuer_key_hash:
                    continue
                if not self._ocsp_signed_for(resp, issuer):
                    continue
                next_update = single.next_update_utc
                if next_update is not None and at > next_update:
                    continue
                if single.certificate_status == ocsp.OCSPCertStatus.REVOKED:
                    revoked_at = single.revocation_time_utc
                    if revoked_at is not None and revoked_at <= at:
                        return RevocationStatus(
                            "revoked", "ocsp", f"revoked on {revoked_at.isoformat()}"
                        )
                    return RevocationStatus("good", "ocsp")
                if single.certificate_status == ocsp.OCSPCertStatus.GOOD:
                    if single.this_update_utc > at:
                        # "good" said after ``at`` still covers ``at`` (it was not revoked
                        # then either); RFC 6960 responses are cumulative in that sense.
                        return RevocationStatus("good", "ocsp", "response newer than moment")
                    return RevocationStatus("good", "ocsp")
        return None

    def _ocsp_signed_for(self, resp: ocsp.OCSPResponse, issuer: x509.Certificate) -> bool:
        """The response is signed by the issuer itself, or by a delegated responder that the
        issuer certified for OCSP signing (RFC 6960 §4.2.2.2)."""
        candidates: list[x509.Certificate] = [issuer]
        for extra in resp.certificates:
            if extra.issuer != issuer.subject:
                continue
            try:
                eku = extra.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            except x509.ExtensionNotFound:
                continue
            if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
                continue
            if not _verify(
                issuer.public_key(),
                extra.signature,
                extra.tbs_certificate_bytes,
                extra.signature_hash_algorithm,
            ):
                continue
            candidates.append(extra)
        for responder in candidates:
            if _verify(
                responder.public_key(),
                resp.signature,
                resp.tbs_response_bytes,
                resp.signature_hash_algorithm,
            ):
                return True
        return False


def _subject_public_key_bits(spki_der: bytes) -> bytes:
    """The BIT STRING contents of a SubjectPublicKeyInfo (what OCSP's issuerKeyHash hashes)."""
    from asn1crypto import keys  # local: only OCSP needs it

    info = keys.PublicKeyInfo.load(spki_der)
    bits: bytes = info["public_key"].contents[1:]  # drop the unused-bits octet
    return bits
