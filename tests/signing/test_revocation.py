"""Revocation (CRL/OCSP from files, offline), rotation, expiry alarms, trust directories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from signing import (
    CertificateRevoked,
    CertificateUntrusted,
    RevocationUnknown,
    StaticRevocationChecker,
    TrustStore,
    expiring_certificates,
)
from signing.pki import (
    PrivateKey,
    create_ca,
    create_crl,
    fingerprint_sha256,
    issue_certificate,
    save_certificate,
    save_crl,
)

# Every certificate, CRL and OCSP answer here is built around this fixed moment, never the
# clock: a test must not fail because the suite took long to reach it.
NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
START = NOW - timedelta(minutes=5)  # as the pki helpers backdate by default
CRL_FROM = NOW - timedelta(hours=1)
CA = tuple[PrivateKey, x509.Certificate]


@pytest.fixture(scope="module")
def ca() -> CA:
    return create_ca("Revocation Test CA", not_before=START)


@pytest.fixture(scope="module")
def leaf(ca: CA) -> x509.Certificate:
    return issue_certificate(ca[0], ca[1], "Agency signer", key_type="ec-p256", not_before=START)[1]


def _store(ca_cert: x509.Certificate, checker: StaticRevocationChecker | None) -> TrustStore:
    return TrustStore([ca_cert], revocation=checker)


def test_revoked_certificate_is_refused(ca: CA, leaf: x509.Certificate) -> None:
    crl = create_crl(
        ca[0], ca[1], [leaf.serial_number], NOW + timedelta(days=7), last_update=CRL_FROM
    )
    store = _store(ca[1], StaticRevocationChecker([crl], mode="hard-fail"))
    with pytest.raises(CertificateRevoked) as info:
        store.validate(leaf, at=NOW)
    assert info.value.code == "signature.revoked"
    assert isinstance(info.value, CertificateUntrusted)  # old callers still refuse


def test_revocation_dated_after_the_moment_does_not_count(ca: CA, leaf: x509.Certificate) -> None:
    crl = create_crl(
        ca[0], ca[1], [(leaf.serial_number, NOW)], NOW + timedelta(days=7), last_update=CRL_FROM
    )
    store = _store(ca[1], StaticRevocationChecker([crl], mode="hard-fail"))
    store.validate(leaf, at=NOW - timedelta(minutes=1))
    with pytest.raises(CertificateRevoked):
        store.validate(leaf, at=NOW + timedelta(minutes=1))


def test_good_crl_accepts_and_cache_still_rechecks(ca: CA, leaf: x509.Certificate) -> None:
    good = StaticRevocationChecker(
        [create_crl(ca[0], ca[1], [], NOW + timedelta(days=7), last_update=CRL_FROM)],
        mode="hard-fail",
    )
    store = _store(ca[1], good)
    store.validate(leaf, at=NOW)
    store.validate(leaf, at=NOW)  # cached path, revocation checked again
    with pytest.raises(RevocationUnknown, match="expired"):
        store.validate(leaf, at=NOW + timedelta(days=8))  # CRL past nextUpdate


def test_hard_fail_without_information_refuses(ca: CA, leaf: x509.Certificate) -> None:
    store = _store(ca[1], StaticRevocationChecker([], mode="hard-fail"))
    with pytest.raises(RevocationUnknown) as info:
        store.validate(leaf, at=NOW)
    assert info.value.code == "signature.revocation_unknown"


def test_soft_fail_and_off(ca: CA, leaf: x509.Certificate) -> None:
    _store(ca[1], StaticRevocationChecker([], mode="soft-fail")).validate(leaf, at=NOW)
    crl = create_crl(
        ca[0], ca[1], [leaf.serial_number], NOW + timedelta(days=7), last_update=CRL_FROM
    )
    with pytest.raises(CertificateRevoked):
        _store(ca[1], StaticRevocationChecker([crl], mode="soft-fail")).validate(leaf, at=NOW)
    _store(ca[1], StaticRevocationChecker([crl], mode="off")).validate(leaf, at=NOW)


def test_crl_signed_by_another_ca_is_ignored(ca: CA, leaf: x509.Certificate) -> None:
    other_key, _ = create_ca(
        "Revocation Test CA", not_before=START
    )  # same name, other key: a forged CRL
    forged = create_crl(
        other_key, ca[1], [leaf.serial_number], NOW + timedelta(days=7), last_update=CRL_FROM
    )
    with pytest.raises(RevocationUnknown, match="not signed"):
        _store(ca[1], StaticRevocationChecker([forged], mode="hard-fail")).validate(leaf, at=NOW)
    _store(ca[1], StaticRevocationChecker([forged], mode="soft-fail")).validate(leaf, at=NOW)


def _ocsp(ca: CA, cert: x509.Certificate, revoked: bool) -> ocsp.OCSPResponse:
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=cert,
        issuer=ca[1],
        algorithm=hashes.SHA256(),
        cert_status=ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
        this_update=NOW - timedelta(hours=1),
        next_update=NOW + timedelta(days=1),
        revocation_time=NOW - timedelta(hours=2) if revoked else None,
        revocation_reason=None,
    )
    builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, ca[1])
    der = builder.sign(ca[0], hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    return ocsp.load_der_ocsp_response(der)


def test_ocsp_responses_from_files(ca: CA, leaf: x509.Certificate, tmp_path: Path) -> None:
    good = tmp_path / "good.ocsp"
    good.write_bytes(_ocsp(ca, leaf, False).public_bytes(serialization.Encoding.DER))
    store = _store(ca[1], StaticRevocationChecker.from_files([], [good], mode="hard-fail"))
    store.validate(leaf, at=NOW)
    bad = StaticRevocationChecker([], [_ocsp(ca, leaf, True)], mode="hard-fail")
    with pytest.raises(CertificateRevoked, match="ocsp"):
        _store(ca[1], bad).validate(leaf, at=NOW)


def test_unknown_ca_and_expired_certificate(ca: CA) -> None:
    other_key, other = create_ca("Unknown CA", not_before=START)
    stranger = issue_certificate(other_key, other, "Stranger", not_before=START)[1]
    with pytest.raises(CertificateUntrusted, match="no path"):
        _store(ca[1], None).validate(stranger, at=NOW)
    old = issue_certificate(ca[0], ca[1], "Old", valid_days=10, not_before=NOW - timedelta(days=40))
    with pytest.raises(CertificateUntrusted, match="expired"):
        _store(ca[1], None).validate(old[1], at=NOW)


def test_rotation_with_overlapping_validity(ca: CA) -> None:
    """An agency's old and new certificates are both valid during the overlap; after the old
    one expires (or is revoked) only the new one is accepted — no downtime."""
    old = issue_certificate(
        ca[0], ca[1], "Agency", valid_days=30, not_before=NOW - timedelta(days=25)
    )[1]
    new = issue_certificate(ca[0], ca[1], "Agency", valid_days=365, not_before=START)[1]
    crl = create_crl(ca[0], ca[1], [], NOW + timedelta(days=60), last_update=CRL_FROM)
    store = _store(ca[1], StaticRevocationChecker([crl], mode="hard-fail"))
    store.validate(old, at=NOW)
    store.validate(new, at=NOW)
    assert fingerprint_sha256(old) != fingerprint_sha256(new)
    with pytest.raises(CertificateUntrusted, match="expired"):
        store.validate(old, at=NOW + timedelta(days=6))
    store.validate(new, at=NOW + timedelta(days=6))
    alarms = expiring_certificates([("000.00.00.H41", old), ("000.00.00.H41", new)], NOW)
    assert [a.fingerprint_sha256 for a in alarms] == [fingerprint_sha256(old)]
    assert 0 <= alarms[0].days_left <= 5


def test_expiring_certificates_includes_expired_and_sorts(ca: CA) -> None:
    soon = issue_certificate(ca[0], ca[1], "Soon", valid_days=20, not_before=START)[1]
    gone = issue_certificate(
        ca[0], ca[1], "Gone", valid_days=1, not_before=NOW - timedelta(days=3)
    )[1]
    later = issue_certificate(ca[0], ca[1], "Later", valid_days=90, not_before=START)[1]
    alarms = expiring_certificates([("a", soon), ("b", gone), ("c", later)], NOW, days=30)
    assert [a.owner for a in alarms] == ["b", "a"]
    assert alarms[0].days_left < 0


def test_trust_directory_anchors_intermediates_crls(tmp_path: Path) -> None:
    root_key, root = create_ca("Dir Root", not_before=START)
    leaf = issue_certificate(root_key, root, "Dir Leaf", not_before=START)[1]
    save_certificate(tmp_path / "root.pem", root)
    save_crl(
        tmp_path / "root.crl",
        create_crl(
            root_key, root, [leaf.serial_number], NOW + timedelta(days=1), last_update=CRL_FROM
        ),
    )
    store = TrustStore.from_directory(tmp_path, revocation_mode="hard-fail")
    assert store.anchors == (root,)
    with pytest.raises(CertificateRevoked):
        store.validate(leaf, at=NOW)
    TrustStore.from_directory(tmp_path, revocation_mode="off").validate(leaf, at=NOW)
