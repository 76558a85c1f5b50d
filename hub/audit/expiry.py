"""Certificate expiry alarms: the ``hub_certificates_expiring{organ_id}`` gauge and the
``/readyz`` check."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from cryptography import x509
from prometheus_client import Gauge

from signing import ExpiringCertificate, expiring_certificates
from signing.pki import load_certificates

CERTIFICATES_EXPIRING = Gauge(
    "hub_certificates_expiring",
    "Certificates expiring within the warning window (or expired), by owner",
    ["organ_id"],
)


def watched_certificates(
    hub_id: str, receipt_certs: Iterable[x509.Certificate], anchors: Iterable[Path]
) -> list[tuple[str, x509.Certificate]]:
    """The hub's receipt certificates (owner = hub id) and the trust anchors (owner =
    ``anchor``): what the hub itself must renew in time."""
    pairs = [(hub_id, c) for c in receipt_certs]
    for path in anchors:
        try:
            pairs.extend(("anchor", c) for c in load_certificates(path))
        except (OSError, ValueError):
            continue  # an unreadable anchor is reported by the trust checks, not here
    return pairs


def update_alarms(
    pairs: Iterable[tuple[str, x509.Certificate]], now: datetime, days: int
) -> tuple[ExpiringCertificate, ...]:
    """Recompute the gauge (one series per owner, 0 when nothing expires) and return the
    expiring certificates, most urgent first."""
    pairs = list(pairs)
    expiring = expiring_certificates(pairs, now, days)
    for owner in {o for o, _ in pairs}:
        CERTIFICATES_EXPIRING.labels(organ_id=owner).set(
            sum(1 for e in expiring if e.owner == owner)
        )
    return expiring
