"""Certificate path validation against configured trust anchors.

Path building and RFC 5280 validation are delegated to pyhanko-certvalidator, with
fetching disabled: no network access ever happens here. pyhanko-certvalidator 0.33 only
offers an asynchronous validator API, so :meth:`TrustStore.validate` runs it on a private
event loop (in a helper thread when the calling thread already runs a loop) and is a plain
synchronous function for the hub's worker threads and processes.

Successful paths are cached per leaf fingerprint, because path building is far more
expensive than signature verification and the same agencies sign every package. The
validity window of every certificate in the cached path (anchor included) is re-checked
against ``at`` on each call, and the revocation hook, when configured, runs on every call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    ExpiredError,
    NotYetValidError,
    PathBuildingError,
    PathValidationError,
    ValidationError,
)

from .errors import CertificateUntrusted
from .pki import fingerprint_sha256, load_certificates
from .revocation import RevocationMode, StaticRevocationChecker


@dataclass(frozen=True)
class ValidatedPath:
    """A certificate path that validated: ``chain`` is leaf first, ending with the anchor."""

    chain: tuple[x509.Certificate, ...]
    anchor_subject: str
    # Soft-fail: certificates whose revocation status could not be had (one note each).
    revocation_notes: tuple[str, ...] = ()


class RevocationChecker(Protocol):
    """Seam for revocation checking; see :class:`signing.revocation.StaticRevocationChecker`.

    Called on every :meth:`TrustStore.validate`, including cache hits, because
    revocation status changes over time. Raise :class:`CertificateUntrusted` to refuse.
    """

    def check(self, path: ValidatedPath, *, at: datetime) -> Sequence[str] | None:
        """Refuse ``path`` if a certificate in it is revoked at ``at``; may return notes
        (soft-fail: statuses that could not be had) that become warnings."""


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(_der(cert))


def _run(coro: Any) -> Any:
    """Run a coroutine to completion from synchronous code."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Called from inside an event loop (e.g. by mistake from async code): asyncio.run
    # would refuse, so run the private loop in a helper thread instead.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class TrustStore:
    """Trust anchors (and known intermediates) that signer certificates must chain to.

    Anchors are configuration (the government root, public CAs), never code.
    """

    def __init__(
        self,
        anchors: Sequence[x509.Certificate],
        intermediates: Sequence[x509.Certificate] = (),
        *,
        revocation: RevocationChecker | None = None,
        cache_size: int = 4096,
    ) -> None:
        if not anchors:
            raise ValueError("a TrustStore needs at least one anchor")
        self._anchors = tuple(anchors)
        self._intermediates = tuple(intermediates)
        self._asn1_anchors = [_to_asn1(c) for c in self._anchors]
        self._asn1_intermediates = [_to_asn1(c) for c in self._intermediates]
        self._revocation = revocation
        self._cache_size = cache_size
        self._cache: OrderedDict[str, ValidatedPath] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_pem_files(cls, paths: Sequence[Path]) -> TrustStore:
        """Build a store whose anchors are every certificate in ``paths`` (PEM, several each)."""
        anchors: list[x509.Certificate] = []
        for path in paths:
            anchors.extend(load_certificates(path))
        return cls(anchors)

    @classmethod
    def from_directory(
        cls,
        directory: Path,
        *,
        extra_anchor_files: Sequence[Path] = (),
        crl_files: Sequence[Path] = (),
        ocsp_files: Sequence[Path] = (),
        revocation_mode: RevocationMode = "off",
    ) -> TrustStore:
        """Build a store from a trust directory (see ``config/trust/README.md``).

        Every certificate file (``*.pem``, ``*.crt``, ``*.cer``, ``*.der``; several PEM
        certificates per file allowed) is read: self-issued, self-signed certificates become
        anchors, all others intermediates (path building picks what it needs). ``*.crl``
        files, plus ``crl_files`` and ``ocsp_files``, feed a
        :class:`~signing.revocation.StaticRevocationChecker` with ``revocation_mode`` (none
        when ``"off"``). Subdirectories are read too; files are taken in sorted order.
        """
        anchors: list[x509.Certificate] = []
        intermediates: list[x509.Certificate] = []
        for path in extra_anchor_files:
            anchors.extend(load_certificates(path))
        crls = list(crl_files)
        if directory.is_dir():
            for path in sorted(directory.rglob("*")):
                suffix = path.suffix.lower()
                if not path.is_file():
                    continue
                if suffix == ".crl":
                    crls.append(path)
                elif suffix in _CERT_SUFFIXES:
                    for cert in load_certificates(path):
                        (anchors if _self_signed(cert) else intermediates).append(cert)
        revocation = (
            None
            if revocation_mode == "off"
            else StaticRevocationChecker.from_files(crls, ocsp_files, mode=revocation_mode)
        )
        return cls(anchors, intermediates, revocation=revocation)

    @property
    def anchors(self) -> tuple[x509.Certificate, ...]:
        """The configured trust anchors."""
        return self._anchors

    @property
    def intermediates(self) -> tuple[x509.Certificate, ...]:
        """Known intermediate CA certificates (offered to path building, never anchors)."""
        return self._intermediates

    @property
    def revocation(self) -> RevocationChecker | None:
        """The revocation checker run on every validation, if any."""
        return self._revocation

    def validate(
        self,
        certificate: x509.Certificate,
        *,
        at: datetime,
        intermediates: Sequence[x509.Certificate] = (),
    ) -> ValidatedPath:
        """Validate ``certificate`` for signing at the moment ``at`` (timezone-aware).

        Requires a path to an anchor valid at ``at`` and a leaf keyUsage with
        digitalSignature or nonRepudiation. Raises :class:`CertificateUntrusted` with the
        reason otherwise. ``intermediates`` typically come from the signature's KeyInfo.
        """
        if at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        fingerprint = fingerprint_sha256(certificate)
        with self._lock:
            cached = self._cache.get(fingerprint)
            if cached is not None:
                self._cache.move_to_end(fingerprint)
        if cached is None:
            path = self._build(certificate, at, intermediates)
            with self._lock:
                self._cache[fingerprint] = path
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        else:
            path = cached
        # Holds for fresh and cached paths alike: the cache saves path building, never
        # the time check against this call's moment.
        _check_validity(path.chain, at)
        if self._revocation is not None:
            notes = self._revocation.check(path, at=at)
            if notes:
                path = replace(path, revocation_notes=tuple(notes))
        return path

    def _build(
        self,
        certificate: x509.Certificate,
        at: datetime,
        intermediates: Sequence[x509.Certificate],
    ) -> ValidatedPath:
        _check_key_usage(certificate)
        context = ValidationContext(
            trust_roots=self._asn1_anchors,
            other_certs=self._asn1_intermediates + [_to_asn1(c) for c in intermediates],
            moment=at,
            allow_fetching=False,
            # Revocation is not checked here yet (see RevocationChecker); soft-fail keeps
            # pyhanko from demanding revocation data we never fetch.
            revocation_mode="soft-fail",
        )
        validator = CertificateValidator(_to_asn1(certificate), validation_context=context)
        try:
            vpath = _run(validator.async_validate_path())
        except ExpiredError as exc:
            raise CertificateUntrusted(f"certificate expired at {at.isoformat()}: {exc}") from exc
        except NotYetValidError as exc:
            raise CertificateUntrusted(
                f"certificate not yet valid at {at.isoformat()}: {exc}"
            ) from exc
        except PathBuildingError as exc:
            raise CertificateUntrusted(f"no path to a trust anchor: {exc}") from exc
        except (PathValidationError, ValidationError) as exc:
            raise CertificateUntrusted(f"path validation failed: {exc}") from exc
        except (ValueError, TypeError) as exc:  # malformed certificates inside pyhanko
            raise CertificateUntrusted(f"certificate could not be processed: {exc}") from exc
        asn1_chain = list(vpath.iter_certs(include_root=True))
        by_der = {_der(c): c for c in (*self._anchors, *self._intermediates, *intermediates)}
        by_der[_der(certificate)] = certificate
        chain = tuple(
            by_der.get(c.dump()) or x509.load_der_x509_certificate(c.dump())
            for c in reversed(asn1_chain)
        )
        anchor = chain[-1]
        return ValidatedPath(chain=chain, anchor_subject=anchor.subject.rfc4514_string())


_CERT_SUFFIXES = frozenset({".pem", ".crt", ".cer", ".der"})


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


@dataclass(frozen=True, slots=True)
class ExpiringCertificate:
    """A certificate that expires within the warning window (or already has)."""

    owner: str
    subject: str
    fingerprint_sha256: str
    not_after: datetime
    days_left: int


def expiring_certificates(
    certificates: Iterable[tuple[str, x509.Certificate]],
    now: datetime,
    days: int = 30,
) -> tuple[ExpiringCertificate, ...]:
    """The ``(owner, certificate)`` pairs whose notAfter is within ``days`` of ``now``.

    Already expired ones are included (``days_left`` negative) — an alarm, not a filter.
    Sorted by notAfter so the most urgent comes first.
    """
    out = [
        ExpiringCertificate(
            owner=owner,
            subject=cert.subject.rfc4514_string(),
            fingerprint_sha256=fingerprint_sha256(cert),
            not_after=cert.not_valid_after_utc,
            days_left=(cert.not_valid_after_utc - now).days,
        )
        for owner, cert in certificates
        if cert.not_valid_after_utc - now <= timedelta(days=days)
    ]
    return tuple(sorted(out, key=lambda e: e.not_after))


def _check_key_usage(certificate: x509.Certificate) -> None:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound as exc:
        raise CertificateUntrusted("signer certificate has no keyUsage extension") from exc
    if not (usage.digital_signature or usage.content_commitment):
        raise CertificateUntrusted(
            "signer certificate keyUsage allows neither digitalSignature nor nonRepudiation"
        )


def _check_validity(chain: Sequence[x509.Certificate], at: datetime) -> None:
    for cert in chain:
        if at < cert.not_valid_before_utc:
            raise CertificateUntrusted(
                f"certificate {cert.subject.rfc4514_string()!r} not yet valid at "
                f"{at.isoformat()} (notBefore {cert.not_valid_before_utc.isoformat()})"
            )
        if at > cert.not_valid_after_utc:
            raise CertificateUntrusted(
                f"certificate {cert.subject.rfc4514_string()!r} expired at "
                f"{at.isoformat()} (notAfter {cert.not_valid_after_utc.isoformat()})"
            )
