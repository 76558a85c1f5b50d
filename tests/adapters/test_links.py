"""Expiring, HMAC-signed file links served by the connector's small endpoint (injected clock)."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from hub.adapter import (
    AiohttpTransport,
    FileLinkServer,
    HttpRequest,
    LinkRefused,
    LinkSigner,
    load_link_key,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def server(tmp_path: Path, clock: Clock) -> AsyncIterator[FileLinkServer]:
    signer = LinkSigner(load_link_key(tmp_path / "link.key"), clock=clock)
    srv = FileLinkServer(tmp_path / "files", signer, ttl=3600)
    await srv.start()
    yield srv
    await srv.stop()


async def get(url: str) -> tuple[int, bytes, str]:
    transport = AiohttpTransport(timeout=5)
    try:
        answer = await transport.send(HttpRequest("GET", url))
        return answer.status, answer.body, answer.headers.get("content-type", "")
    finally:
        await transport.aclose()


async def test_valid_link_serves_the_exact_bytes(server: FileLinkServer) -> None:
    data = b"%PDF-1.4\n\xe1\xba\xbf"
    url = server.put(data, "Giấy chứng sinh.pdf", "application/pdf")
    assert url.startswith(server.public_url + "/files/")
    status, body, ctype = await get(url)
    assert (status, body, ctype) == (200, data, "application/pdf")


@pytest.mark.parametrize("name", ["a%41 b.pdf", "tờ khai/bản sao?.pdf", "50%.txt", ""])
async def test_names_that_need_encoding(server: FileLinkServer, name: str) -> None:
    url = server.put(name.encode() or b"-", name, "text/plain; charset=utf-8")
    status, body, ctype = await get(url)
    assert (status, body) == (200, name.encode() or b"-")
    assert ctype == "text/plain; charset=utf-8"


async def test_expired_link_is_refused(server: FileLinkServer, clock: Clock) -> None:
    url = server.put(b"abc", "a.txt", "text/plain")
    clock.now += 3599
    assert (await get(url))[0] == 200
    clock.now += 1
    status, body, _ = await get(url)
    assert status == 410 and b"link.expired" in body


@pytest.mark.parametrize(
    "tamper",
    [
        lambda u: u.replace("exp=", "exp=9"),  # a later expiry
        lambda u: u[:-1] + ("0" if u[-1] != "0" else "1"),  # the signature
        lambda u: u.replace("/a.txt?", "/b.txt?"),  # another name
    ],
)
async def test_tampered_link_is_refused(server: FileLinkServer, tamper: object) -> None:
    url = server.put(b"abc", "a.txt", "text/plain")
    other = server.put(b"other file", "b.txt", "text/plain")
    bad = tamper(url)  # type: ignore[operator]
    assert bad != url
    status, body, _ = await get(bad)
    assert status == 403 and b"link.bad_signature" in body
    # a valid signature for one file does not open another file's content
    digest_a = urlsplit(url).path.split("/")[2]
    digest_b = urlsplit(other).path.split("/")[2]
    assert (await get(url.replace(digest_a, digest_b)))[0] == 403


def test_signer_checks_signature_before_expiry(clock: Clock) -> None:
    signer = LinkSigner(b"k" * 32, clock=clock)
    link = signer.sign("/files/x/y", ttl=10)
    path, query = link.split("?")
    params = dict(p.split("=") for p in query.split("&"))
    signer.check(path, params["exp"], params["sig"])
    clock.now += 10
    with pytest.raises(LinkRefused) as info:
        signer.check(path, params["exp"], params["sig"])
    assert info.value.code == "link.expired"
    with pytest.raises(LinkRefused) as info:
        signer.check(path, str(int(params["exp"]) + 100), params["sig"])
    assert info.value.code == "link.bad_signature"
    other = LinkSigner(b"j" * 32, clock=clock)
    with pytest.raises(LinkRefused):
        other.check(path, params["exp"], params["sig"])


def test_key_is_created_private_and_kept(tmp_path: Path) -> None:
    key = load_link_key(tmp_path / "k" / "link.key")
    assert len(key) == 32
    assert stat.S_IMODE(os.stat(tmp_path / "k" / "link.key").st_mode) == 0o600
    assert load_link_key(tmp_path / "k" / "link.key") == key
