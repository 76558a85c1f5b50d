"""Online revocation against real local servers: a CRL over HTTP and ``openssl ocsp`` as the
responder (see revocation_servers.py). The moments derive from one fixture clock reading;
the checker's clock is injected."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from signing import (
    CertificateRevoked,
    CertificateUntrusted,
    RevocationUnknown,
    TrustStore,
    validate_pdf,
)
from signing.online import (
    RETRY_AFTER_FAILURE,
    DirectoryRevocationCache,
    FetchedItem,
    FetchError,
    FetchEvent,
    OnlineRevocationChecker,
    crl_urls,
    fetch_crl,
    ocsp_urls,
)

from .ltv_pki import LtvPki, build_pki, sign_pdf
from .revocation_servers import (
    NEEDS_OPENSSL,
    Servers,
    online_pki,
    servers_fixture,  # noqa: F401  # the servers fixture
)

pytestmark = NEEDS_OPENSSL


@pytest.fixture(scope="module")
def pki(servers: Servers) -> LtvPki:
    pki = online_pki(servers)
    return pki


@pytest.fixture
def at(pki: LtvPki) -> datetime:
    return pki.t0 + timedelta(hours=1)


@pytest.fixture
def live(servers: Servers, pki: LtvPki, at: datetime) -> Iterator[Servers]:
    """Both sources up: the CRL (issued at ``at``) and the OCSP responder."""
    servers.down.clear()
    servers.requests.clear()
    servers.answer_for(pki, crl_at=at, also_good=(pki.tsa,))
    yield servers
    servers.down.clear()


def _store(
    pki: LtvPki, at: datetime, mode: str = "hard-fail", events: list[FetchEvent] | None = None
) -> TrustStore:
    checker = OnlineRevocationChecker(
        mode=mode,  # type: ignore[arg-type]
        # A bound against a hang only: the test OCSP responder spawns `openssl ocsp` for every
        # request; "down" sources answer 503 (the timeout path has its own test).
        fetch_timeout=30.0,
        reporter=events.append if events is not None else None,
        clock=lambda: at,
    )
    return TrustStore([pki.root.cert], revocation=checker)


def test_urls_come_from_the_certificate(pki: LtvPki, servers: Servers) -> None:
    assert crl_urls(pki.signer.cert) == [servers.crl_url]
    assert ocsp_urls(pki.signer.cert) == [servers.ocsp_url]
    assert crl_urls(pki.root.cert) == [] and ocsp_urls(pki.responder.cert) == []


def test_good_from_the_crl_server(pki: LtvPki, live: Servers, at: datetime) -> None:
    events: list[FetchEvent] = []
    store = _store(pki, at, events=events)
    path = store.validate(pki.signer.cert, at=at)
    assert path.revocation_notes == ()
    assert live.requests == ["GET /crl"]
    assert [(e.kind, e.ok) for e in events] == [("crl", True)]
    # Memoised until its nextUpdate: the second validation does not fetch again.
    store.validate(pki.signer.cert, at=at)
    assert live.requests == ["GET /crl"]
    checker = store.revocation
    assert isinstance(checker, OnlineRevocationChecker)
    (item,) = checker.take_fetched()
    assert item.kind == "crl" and item.url == live.crl_url
    assert item.next_update == at + timedelta(days=1)


def test_revoked_by_the_crl_server(pki: LtvPki, live: Servers, at: datetime) -> None:
    with pytest.raises(CertificateRevoked) as info:
        _store(pki, at).validate(pki.revoked.cert, at=at)
    assert info.value.code == "signature.revoked"


def test_crl_down_ocsp_answers(pki: LtvPki, live: Servers, at: datetime) -> None:
    live.down.add("/crl")
    events: list[FetchEvent] = []
    store = _store(pki, at, events=events)
    store.validate(pki.signer.cert, at=at)
    assert live.requests == ["GET /crl", "POST /ocsp"]
    assert [(e.kind, e.ok) for e in events] == [("crl", False), ("ocsp", True)]
    with pytest.raises(CertificateRevoked):
        store.validate(pki.revoked.cert, at=at)


def test_both_down_hard_fail_refuses(pki: LtvPki, live: Servers, at: datetime) -> None:
    live.down.update({"/crl", "/ocsp"})
    events: list[FetchEvent] = []
    with pytest.raises(RevocationUnknown) as info:
        _store(pki, at, events=events).validate(pki.signer.cert, at=at)
    assert info.value.code == "signature.revocation_unknown"
    assert "unreachable" in info.value.detail
    assert [(e.kind, e.ok) for e in events] == [("crl", False), ("ocsp", False)]


def test_both_down_soft_fail_accepts_with_a_note(pki: LtvPki, live: Servers, at: datetime) -> None:
    live.down.update({"/crl", "/ocsp"})
    path = _store(pki, at, mode="soft-fail").validate(pki.signer.cert, at=at)
    (note,) = path.revocation_notes
    assert "unreachable" in note


def test_soft_fail_still_refuses_a_revoked_certificate(
    pki: LtvPki, live: Servers, at: datetime
) -> None:
    live.down.add("/crl")
    with pytest.raises(CertificateRevoked):
        _store(pki, at, mode="soft-fail").validate(pki.revoked.cert, at=at)


def test_untrusted_certificate_is_never_fetched(live: Servers, at: datetime) -> None:
    """A certificate from another CA (its URLs point at our servers) fails path building
    first: nothing is fetched for a path that does not reach an anchor."""
    other = build_pki(at, crl_url=live.crl_url, ocsp_url=live.ocsp_url)
    mine = build_pki(at)
    with pytest.raises(CertificateUntrusted):
        _store(mine, at).validate(other.signer.cert, at=at)
    assert live.requests == []


def test_forged_crl_is_ignored(pki: LtvPki, live: Servers, at: datetime) -> None:
    """A CRL under the root's name but signed by another key does not count."""
    impostor = build_pki(at)
    forged = impostor.fresh_crl(at)
    live.serve_crl(forged)
    live.down.add("/ocsp")
    with pytest.raises(RevocationUnknown):
        _store(pki, at).validate(pki.signer.cert, at=at)


def test_cached_items_are_used_without_fetching(
    pki: LtvPki, live: Servers, at: datetime, tmp_path: Path
) -> None:
    first = _store(pki, at)
    first.validate(pki.signer.cert, at=at)
    checker = first.revocation
    assert isinstance(checker, OnlineRevocationChecker)
    shared = checker.take_fetched()
    live.requests.clear()
    live.down.update({"/crl", "/ocsp"})
    second = OnlineRevocationChecker(mode="hard-fail", cached=shared, clock=lambda: at)
    TrustStore([pki.root.cert], revocation=second).validate(pki.signer.cert, at=at)
    assert live.requests == []
    # Once past the cached CRL's nextUpdate it is fetched again (and the source is down).
    later = at + timedelta(days=2)
    third = OnlineRevocationChecker(mode="hard-fail", cached=shared, clock=lambda: later)
    with pytest.raises(RevocationUnknown):
        TrustStore([pki.root.cert], revocation=third).validate(pki.signer.cert, at=later)
    assert live.requests == ["GET /crl", "POST /ocsp"]


def test_ltv_b_t_valid_from_the_cache_a_week_later(pki: LtvPki, live: Servers) -> None:
    """B-T: "valid when such revocation data is at hand … in the hub's cache": the CRL the
    hub fetched at signing time (stale now) answers for the time-stamp; sources are down."""
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    data = sign_pdf(pki, "B-T")
    item = FetchedItem.of_crl(live.crl_url, pki.crl, pki.t0)
    live.down.update({"/crl", "/ocsp"})
    week = pki.week_later

    def store(cached: tuple[FetchedItem, ...]) -> TrustStore:
        checker = OnlineRevocationChecker(mode="hard-fail", cached=cached, clock=lambda: week)
        return TrustStore([pki.root.cert], revocation=checker)

    report = validate_pdf(data, store((item,)), at=week)
    assert report.verdict == "valid", report
    assert report.signatures[0].validated_at == pki.t0.isoformat()
    report = validate_pdf(data, store(()), at=week)
    assert report.verdict == "indeterminate"
    assert report.signatures[0].subindication == "TRY_LATER"


def test_a_silent_server_is_a_fetch_error_after_the_timeout(pki: LtvPki) -> None:
    """A source that accepts the connection and never answers: the timeout applies (the
    listening socket never accepts; the kernel completes the handshake)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        with pytest.raises(FetchError):
            fetch_crl(f"http://127.0.0.1:{port}/crl", timeout=0.2)


def test_only_http_urls_are_fetched() -> None:
    for url in ("file:///etc/passwd", "https://example.invalid/x.crl", "ldap://x/y"):
        with pytest.raises(FetchError):
            fetch_crl(url, timeout=0.2)


def test_directory_cache_keeps_the_newest_and_drains_events(pki: LtvPki, tmp_path: Path) -> None:
    cache = DirectoryRevocationCache(tmp_path / "cache")
    assert cache.get("http://x/crl") is None and cache.drain_events() == []

    def item(issued: datetime) -> FetchedItem:
        return FetchedItem.of_crl("http://x/crl", pki.fresh_crl(issued), issued)

    old, new = item(pki.t0), item(pki.t0 + timedelta(hours=3))
    cache.put(new)
    cache.put(old)  # never moves backwards
    assert cache.get("http://x/crl") == new
    assert cache.items() == [new]
    (tmp_path / "cache" / "junk.json").write_text("{not json")
    assert cache.items() == [new]  # unreadable files are skipped
    events = [
        FetchEvent("crl", "http://x/crl", False, "503", 0.01),
        FetchEvent("ocsp", "http://x/ocsp", True, "", 0.02, pki.t0),
    ]
    cache.log_events(events)
    assert cache.drain_events() == events
    assert cache.drain_events() == []


def test_a_dead_source_is_not_asked_again_at_once(pki: LtvPki, live: Servers, at: datetime) -> None:
    """One timeout per dead source, not one per package: after a failure the source rests
    for RETRY_AFTER_FAILURE seconds (by the injected clock), then is asked again."""
    live.down.update({"/crl", "/ocsp"})
    now = [at]
    checker = OnlineRevocationChecker(mode="soft-fail", clock=lambda: now[0])
    store = TrustStore([pki.root.cert], revocation=checker)
    store.validate(pki.signer.cert, at=at)
    store.validate(pki.signer.cert, at=at)
    assert live.requests == ["GET /crl", "POST /ocsp"]
    now[0] = at + timedelta(seconds=RETRY_AFTER_FAILURE + 1)
    store.validate(pki.signer.cert, at=at)
    assert live.requests == ["GET /crl", "POST /ocsp"] * 2
