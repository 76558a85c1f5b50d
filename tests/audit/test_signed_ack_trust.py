"""Signed acknowledgements get the packages' path and revocation checks (issue 14): a
fingerprint binding alone no longer suffices. Revocation from files and online (the local
CRL server and ``openssl ocsp`` of tests/signing/revocation_servers.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from hub.audit.acks import AckFacts, sign_ack, verify_ack
from hub.errors import HubError
from signing import StaticRevocationChecker, TrustStore
from signing.online import OnlineRevocationChecker
from tests.signing.ltv_pki import LtvPki, Party, build_pki
from tests.signing.revocation_servers import (
    NEEDS_OPENSSL,
    Servers,
    online_pki,
    servers_fixture,  # noqa: F401  # the servers fixture
)

H41 = "000.00.00.H41"
PACKAGE, SHA = "pkg-1", "ab" * 32


@pytest.fixture(scope="module")
def pki(servers: Servers) -> LtvPki:
    return online_pki(servers)


def _ack(who: Party) -> bytes:
    return sign_ack(AckFacts(PACKAGE, H41, SHA, "2026-03-02T08:30:00Z"), who.key, who.cert)


def _verify(data: bytes, trust: TrustStore | None, at: datetime) -> AckFacts:
    return verify_ack(
        data,
        package_id=PACKAGE,
        recipient=H41,
        sha256=SHA,
        signer_bound=lambda _organ, _fp: True,  # bound: only the path decides here
        trust=trust,
        at=at,
    )


def _files(pki: LtvPki, mode: str, crl: bool = True) -> TrustStore:
    crls = [pki.fresh_crl(pki.t0)] if crl else []
    return TrustStore(
        [pki.root.cert],
        revocation=StaticRevocationChecker(crls, mode=mode),  # type: ignore[arg-type]
    )


def test_good_signer_accepted(pki: LtvPki) -> None:
    facts = _verify(_ack(pki.signer), _files(pki, "hard-fail"), pki.t0)
    assert facts.package_id == PACKAGE and facts.revocation_notes == ()


def test_bound_but_unknown_ca_refused(pki: LtvPki) -> None:
    stranger = build_pki(pki.t0)
    with pytest.raises(HubError) as info:
        _verify(_ack(stranger.signer), _files(pki, "hard-fail"), pki.t0)
    assert info.value.code == "signature.untrusted"
    # Without a trust store (the old behaviour) the fingerprint binding alone passed.
    assert _verify(_ack(stranger.signer), None, pki.t0).package_id == PACKAGE


def test_revoked_signer_refused(pki: LtvPki) -> None:
    for mode in ("hard-fail", "soft-fail"):
        with pytest.raises(HubError) as info:
            _verify(_ack(pki.revoked), _files(pki, mode), pki.t0)
        assert info.value.code == "signature.revoked"


def test_no_revocation_data(pki: LtvPki) -> None:
    with pytest.raises(HubError) as info:
        _verify(_ack(pki.signer), _files(pki, "hard-fail", crl=False), pki.t0)
    assert info.value.code == "signature.revocation_unknown"
    facts = _verify(_ack(pki.signer), _files(pki, "soft-fail", crl=False), pki.t0)
    assert len(facts.revocation_notes) == 1


def test_expired_at_the_moment_refused(pki: LtvPki) -> None:
    later = pki.signer.cert.not_valid_after_utc + timedelta(days=1)
    with pytest.raises(HubError) as info:
        _verify(_ack(pki.signer), TrustStore([pki.root.cert]), later)
    assert info.value.code == "signature.untrusted"


@NEEDS_OPENSSL
def test_online_revocation_for_acks(pki: LtvPki, servers: Servers) -> None:
    servers.answer_for(pki)
    servers.down.clear()

    def online(mode: str) -> TrustStore:
        checker = OnlineRevocationChecker(mode=mode, clock=lambda: pki.t0)  # type: ignore[arg-type]
        return TrustStore([pki.root.cert], revocation=checker)

    assert _verify(_ack(pki.signer), online("hard-fail"), pki.t0).revocation_notes == ()
    servers.down.add("/crl")  # the OCSP responder answers
    with pytest.raises(HubError) as info:
        _verify(_ack(pki.revoked), online("hard-fail"), pki.t0)
    assert info.value.code == "signature.revoked"
    servers.down.add("/ocsp")
    with pytest.raises(HubError) as info:
        _verify(_ack(pki.signer), online("hard-fail"), pki.t0)
    assert info.value.code == "signature.revocation_unknown"
    facts = _verify(_ack(pki.signer), online("soft-fail"), pki.t0)
    assert len(facts.revocation_notes) == 1
    servers.down.clear()
