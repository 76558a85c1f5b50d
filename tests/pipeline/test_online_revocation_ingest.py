"""Ingest's signature step with ``fetch_online``: packages signed by agency certificates whose
CRL is served over HTTP and whose OCSP responder is ``openssl ocsp`` (real local servers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.errors import HubError
from hub.packaging import sign_package
from hub.pipeline import checks
from hub.pipeline.checks import CheckOptions, check_package
from signing.pki import save_certificate
from tests.conftest import TESTDATA
from tests.signing.ltv_pki import LtvPki, Party
from tests.signing.revocation_servers import (
    NEEDS_OPENSSL,
    Servers,
    online_pki,
    servers_fixture,  # noqa: F401  # the servers fixture
)

pytestmark = NEEDS_OPENSSL
SAMPLE = TESTDATA / "edxml" / "edoc_update.edxml"


@pytest.fixture(scope="module")
def pki(servers: Servers) -> LtvPki:
    return online_pki(servers)


@pytest.fixture(scope="module")
def anchor(pki: LtvPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("anchor") / "root.pem"
    save_certificate(path, pki.root.cert)
    return path


@pytest.fixture
def live(servers: Servers, pki: LtvPki) -> Iterator[Servers]:
    # Each test starts with fresh worker state: the per-process context memoises fetches.
    checks._contexts.clear()
    servers.down.clear()
    servers.requests.clear()
    servers.answer_for(pki)
    yield servers
    checks._contexts.clear()


def _options(anchor: Path, mode: str) -> CheckOptions:
    return CheckOptions(
        max_size=10_000_000,
        trust_anchors=(anchor,),
        revocation=mode,
        fetch_online=True,
        # A bound against a hang only: the test OCSP responder spawns `openssl ocsp` for every
        # request; "down" sources answer 503.
        fetch_timeout=30.0,
    )


def _package(who: Party) -> bytes:
    return sign_package(SAMPLE.read_bytes(), who.key, who.cert, replace_placeholder=True)


def test_good_agency_accepted_and_fetch_returned(pki: LtvPki, anchor: Path, live: Servers) -> None:
    checked = check_package(_package(pki.signer), pki.t0, _options(anchor, "hard-fail"))
    assert checked.revocation_notes == ()
    assert [i.kind for i in checked.revocation_fetched] == ["crl"]
    assert [(e.kind, e.ok) for e in checked.revocation_events] == [("crl", True)]
    assert live.requests == ["GET /crl"]


@pytest.mark.parametrize("mode", ["hard-fail", "soft-fail"])
def test_revoked_agency_refused(mode: str, pki: LtvPki, anchor: Path, live: Servers) -> None:
    with pytest.raises(HubError) as info:
        check_package(_package(pki.revoked), pki.t0, _options(anchor, mode))
    assert info.value.code == "signature.revoked"


def test_revoked_agency_refused_by_ocsp(pki: LtvPki, anchor: Path, live: Servers) -> None:
    live.down.add("/crl")
    with pytest.raises(HubError) as info:
        check_package(_package(pki.revoked), pki.t0, _options(anchor, "hard-fail"))
    assert info.value.code == "signature.revoked"
    assert live.requests == ["GET /crl", "POST /ocsp"]


def test_unreachable_hard_fail_refused(pki: LtvPki, anchor: Path, live: Servers) -> None:
    live.down.update({"/crl", "/ocsp"})
    with pytest.raises(HubError) as info:
        check_package(_package(pki.signer), pki.t0, _options(anchor, "hard-fail"))
    assert info.value.code == "signature.revocation_unknown"


def test_unreachable_soft_fail_accepted_with_note(pki: LtvPki, anchor: Path, live: Servers) -> None:
    live.down.update({"/crl", "/ocsp"})
    checked = check_package(_package(pki.signer), pki.t0, _options(anchor, "soft-fail"))
    assert len(checked.revocation_notes) == 1
    assert [(e.kind, e.ok) for e in checked.revocation_events] == [
        ("crl", False),
        ("ocsp", False),
    ]


def test_fetching_off_by_default_nothing_requested(
    pki: LtvPki, anchor: Path, live: Servers
) -> None:
    options = CheckOptions(max_size=10_000_000, trust_anchors=(anchor,), revocation="soft-fail")
    checked = check_package(_package(pki.signer), pki.t0, options)
    assert live.requests == [] and checked.revocation_fetched == ()
