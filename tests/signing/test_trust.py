"""Trust validation: dev CA, foreign and self-signed certificates, time, cache, real test CA."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from signing import CertificateUntrusted, TrustStore, ValidatedPath
from signing.pki import create_ca, issue_certificate, save_certificate

from .conftest import TESTDATA, DevPki


@pytest.fixture
def now(pki: DevPki) -> datetime:
    """The moment the dev PKI was built (its certificates start five minutes before it): the
    tests validate around it, never around the clock of the moment they happen to run."""
    return pki.ca.not_valid_before_utc + timedelta(minutes=5)


TEST_CA = TESTDATA / "pdf" / "testing-ca"


def test_certificate_from_the_dev_ca_validates(pki: DevPki, now: datetime) -> None:
    store = TrustStore([pki.ca])
    path = store.validate(pki.rsa.cert, at=now)
    assert path.chain == (pki.rsa.cert, pki.ca)
    assert path.anchor_subject == "CN=Hub Dev CA"


def test_other_ca_and_self_signed_are_untrusted(pki: DevPki, now: datetime) -> None:
    store = TrustStore([pki.ca])
    with pytest.raises(CertificateUntrusted, match="no path"):
        store.validate(pki.foreign.cert, at=now)
    with pytest.raises(CertificateUntrusted):
        store.validate(pki.other_ca, at=now)  # a self-signed CA that is not an anchor


def test_expired_and_not_yet_valid_are_untrusted(pki: DevPki, now: datetime) -> None:
    store = TrustStore([pki.ca])
    _, old = issue_certificate(
        pki.ca_key, pki.ca, "old", not_before=now - timedelta(days=10), valid_days=2
    )
    with pytest.raises(CertificateUntrusted, match="expired"):
        store.validate(old, at=now)
    # Inside the leaf's window but before the (fresh) CA existed: the anchor's own validity
    # counts too.
    with pytest.raises(CertificateUntrusted, match="Hub Dev CA"):
        store.validate(old, at=now - timedelta(days=9))
    _, future = issue_certificate(pki.ca_key, pki.ca, "future", not_before=now + timedelta(days=1))
    with pytest.raises(CertificateUntrusted, match="not yet valid"):
        store.validate(future, at=now)


def test_key_usage_must_allow_signing(pki: DevPki, now: datetime) -> None:
    store = TrustStore([pki.ca])
    with pytest.raises(CertificateUntrusted, match="keyUsage"):
        store.validate(pki.ec384.cert, at=now)  # built without a keyUsage extension


def test_cache_skips_path_building_but_not_the_time_check(
    pki: DevPki, monkeypatch: pytest.MonkeyPatch, now: datetime
) -> None:
    store = TrustStore([pki.ca])
    calls: list[x509.Certificate] = []
    original = store._build

    def counting(cert: x509.Certificate, at: datetime, inter: object) -> ValidatedPath:
        calls.append(cert)
        return original(cert, at, inter)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_build", counting)
    first = store.validate(pki.ec256.cert, at=now)
    second = store.validate(pki.ec256.cert, at=now + timedelta(seconds=1))
    assert second is first and len(calls) == 1
    # Past notAfter the cached path is refused, without rebuilding it.
    with pytest.raises(CertificateUntrusted, match="expired"):
        store.validate(pki.ec256.cert, at=pki.ec256.cert.not_valid_after_utc + timedelta(seconds=1))
    with pytest.raises(CertificateUntrusted, match="not yet valid"):
        store.validate(pki.ec256.cert, at=pki.ec256.cert.not_valid_before_utc - timedelta(days=1))
    assert len(calls) == 1


def test_failures_are_not_cached(pki: DevPki, now: datetime) -> None:
    store = TrustStore([pki.ca])
    with pytest.raises(CertificateUntrusted):
        store.validate(pki.foreign.cert, at=now)
    assert store._cache == {}


def test_revocation_seam_runs_on_every_call(pki: DevPki, now: datetime) -> None:
    seen: list[datetime] = []

    class Revoker:
        def check(self, path: ValidatedPath, *, at: datetime) -> None:
            seen.append(at)
            if at > now + timedelta(hours=1):
                raise CertificateUntrusted("revoked")

    store = TrustStore([pki.ca], revocation=Revoker())
    store.validate(pki.rsa.cert, at=now)
    with pytest.raises(CertificateUntrusted, match="revoked"):
        store.validate(pki.rsa.cert, at=now + timedelta(hours=2))  # cache hit, still checked
    assert len(seen) == 2


def test_validate_works_from_inside_an_event_loop(pki: DevPki, now: datetime) -> None:
    store = TrustStore([pki.ca])

    async def main() -> ValidatedPath:
        return store.validate(pki.rsa.cert, at=now)

    assert asyncio.run(main()).chain[0] == pki.rsa.cert


def test_naive_moment_is_a_programming_error(pki: DevPki) -> None:
    with pytest.raises(ValueError):
        TrustStore([pki.ca]).validate(pki.rsa.cert, at=datetime(2024, 1, 1))


def test_real_test_ca_with_intermediate() -> None:
    """pyHanko's test PKI: root -> intermediate -> signer1 (valid 2020-2022)."""
    store = TrustStore.from_pem_files([TEST_CA / "root" / "root.cert.pem"])
    (interm,) = x509.load_pem_x509_certificates((TEST_CA / "root" / "interm.cert.pem").read_bytes())
    (signer,) = x509.load_pem_x509_certificates(
        (TEST_CA / "interm" / "signer1.cert.pem").read_bytes()
    )
    at = datetime(2020, 11, 1, tzinfo=UTC)
    path = store.validate(signer, at=at, intermediates=[interm])
    assert [c.subject.rfc4514_string().split(",")[0] for c in path.chain] == [
        "1.2.840.113549.1.9.1=alice@example.com",
        "CN=Intermediate CA",
        "CN=Root CA",
    ]
    assert "CN=Root CA" in path.anchor_subject
    with pytest.raises(CertificateUntrusted, match="expired"):
        store.validate(signer, at=datetime(2023, 1, 1, tzinfo=UTC), intermediates=[interm])
    # Without the intermediate there is no path.
    with pytest.raises(CertificateUntrusted):
        TrustStore.from_pem_files([TEST_CA / "root" / "root.cert.pem"]).validate(signer, at=at)


def test_from_pem_files_reads_several_certificates_per_file(
    pki: DevPki, tmp_path: Path, now: datetime
) -> None:
    bundle = tmp_path / "anchors.pem"
    save_certificate(tmp_path / "a.pem", pki.ca)
    save_certificate(tmp_path / "b.pem", pki.other_ca)
    bundle.write_bytes((tmp_path / "a.pem").read_bytes() + (tmp_path / "b.pem").read_bytes())
    store = TrustStore.from_pem_files([bundle])
    assert store.anchors == (pki.ca, pki.other_ca)
    store.validate(pki.foreign.cert, at=now)


def test_intermediate_chain_from_the_dev_pki(now: datetime) -> None:
    _, root = create_ca("root only")
    with pytest.raises(CertificateUntrusted):
        TrustStore([root]).validate(root, at=now)  # a CA cert has no signing keyUsage
