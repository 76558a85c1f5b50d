"""The agency-side client takes nothing unbounded or unsafe from whatever answers at the hub's
URL: receipts go through the safe XML parser, every body is read with a cap, and what it
refuses is a coded error (``client.answer_refused``, ``client.answer_too_large``)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import MultipartWriter, web
from aiohttp.test_utils import TestServer
from click.testing import CliRunner

from hub.api.packages import BATCH_MAX_BYTES
from hub.cli import main
from hub.client import (
    HUB_BATCH_BYTES,
    RECEIPT_MAX_BYTES,
    AnswerRefused,
    AnswerTooLarge,
    HubClient,
    HubProblem,
)
from hub.errors import HubError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

RECEIPT = (
    b'<Receipt xmlns="urn:vnhub:receipt:1"><Header><Recipients>'
    b"<OrganId>000.00.00.H41</OrganId></Recipients></Header></Receipt>"
)
#: internal entities: lxml's default parser expands them (the quadratic blow-up's shape)
ENTITIES = (
    b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY a "000.00.00.H41">]>\n'
    b'<Receipt xmlns="urn:vnhub:receipt:1"><Header><Recipients>'
    b"<OrganId>&a;</OrganId></Recipients></Header></Receipt>"
)


class FakeHub:
    """Whatever answers at the hub's URL: one handler per path, set by each test."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._route)

    async def _route(self, request: web.Request) -> web.StreamResponse:
        return await self.handlers[request.path](request)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeHub, str]]:
    hub = FakeHub()
    server = TestServer(hub.app, host="127.0.0.1")
    await server.start_server()
    try:
        yield hub, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def _receipt_answer(body: bytes) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        return web.Response(
            status=202, body=body, headers={"Hub-Package-Id": "p1"}, content_type="application/xml"
        )

    return handler


def _streamed(body: bytes, *, gzipped: bool = False) -> Handler:
    """``body`` chunked (no Content-Length): only counting while reading can stop it."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(status=202, headers={"Hub-Package-Id": "p1"})
        resp.content_type = "application/xml"
        if gzipped:
            resp.headers["Content-Encoding"] = "gzip"
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        data = gzip.compress(body) if gzipped else body
        for i in range(0, len(data), 64 * 1024):
            await resp.write(data[i : i + 64 * 1024])
        await resp.write_eof()
        return resp

    return handler


async def test_a_good_receipt_is_still_taken(fake: tuple[FakeHub, str]) -> None:
    hub, url = fake
    hub.handlers["/v1/packages"] = _receipt_answer(RECEIPT)
    async with HubClient(url, "t") as client:
        submitted = await client.submit(b"<x/>")
    assert submitted.recipients == ("000.00.00.H41",) and submitted.receipt == RECEIPT


async def test_a_receipt_with_a_dtd_is_refused_by_code_not_parsed(
    fake: tuple[FakeHub, str],
) -> None:
    hub, url = fake
    hub.handlers["/v1/packages"] = _receipt_answer(ENTITIES)
    async with HubClient(url, "t") as client:
        with pytest.raises(AnswerRefused) as info:
            await client.submit(b"<x/>")
    assert info.value.code == "client.answer_refused"
    assert info.value.extra["cause"] == "xml.dtd_forbidden"
    assert isinstance(info.value, HubError)


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip-bomb"])
async def test_an_oversized_receipt_is_refused_while_reading(
    fake: tuple[FakeHub, str], gzipped: bool
) -> None:
    hub, url = fake
    # Well-formed, so only the size can refuse it; gzip: 64 KiB on the wire, 4 MiB unpacked.
    padding = b"<!--" + b"x" * (4 * RECEIPT_MAX_BYTES) + b"-->"
    hub.handlers["/v1/packages"] = _streamed(RECEIPT + padding, gzipped=gzipped)
    async with HubClient(url, "t") as client:
        with pytest.raises(AnswerTooLarge) as info:
            await client.submit(b"<x/>")
    assert info.value.code == "client.answer_too_large"


async def test_a_stored_receipt_announced_too_large_is_not_read(
    fake: tuple[FakeHub, str],
) -> None:
    hub, url = fake

    async def big(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"<r/>" + b" " * RECEIPT_MAX_BYTES)

    hub.handlers["/v1/packages/p1/receipt"] = big
    async with HubClient(url, "t") as client:
        with pytest.raises(AnswerTooLarge, match="announced"):
            await client.receipt("p1")


async def test_a_package_over_the_clients_limit_is_refused(fake: tuple[FakeHub, str]) -> None:
    hub, url = fake
    hub.handlers["/v1/packages/p1"] = _streamed(b"<p>" + b"x" * 5000 + b"</p>")
    async with HubClient(url, "t", max_package_bytes=4096) as client:
        with pytest.raises(AnswerTooLarge):
            await client.fetch("p1")
    async with HubClient(url, "t", max_package_bytes=8192) as client:
        assert len(await client.fetch("p1")) == 5007


async def test_a_batch_part_over_the_clients_limit_is_refused(fake: tuple[FakeHub, str]) -> None:
    hub, url = fake

    async def batch(request: web.Request) -> web.StreamResponse:
        writer = MultipartWriter("mixed")
        for i, size in enumerate((100, 5000)):
            writer.append(
                b"x" * size,
                {
                    "Hub-Package-Id": f"p{i}",
                    "Hub-Sender": "000.00.00.G22",
                    "Hub-Kind": "document",
                    "ETag": '"00"',
                },
            )
        return web.Response(body=writer, headers={"Hub-Next-Cursor": "c"})

    hub.handlers["/v1/inbox/packages"] = batch
    async with HubClient(url, "t", max_package_bytes=4096) as client:
        with pytest.raises(AnswerTooLarge, match="part 2"):
            await client.fetch_batch()
    async with HubClient(url, "t") as client:
        got = await client.fetch_batch()
    assert [len(p.data) for p in got.items] == [100, 5000]
    with pytest.raises(AnswerRefused, match="more than 1 parts"):
        async with HubClient(url, "t") as client:
            await client.fetch_batch(limit=1)


async def test_json_answers_are_capped_and_must_parse(
    fake: tuple[FakeHub, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub, url = fake

    async def huge(request: web.Request) -> web.StreamResponse:
        return web.json_response({"items": ["x" * 2000], "next": None})

    async def not_json(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html>proxy</html>")

    hub.handlers["/v1/packages/p1/trace"] = huge
    hub.handlers["/v1/packages/p2/trace"] = not_json
    monkeypatch.setattr("hub.client.JSON_MAX_BYTES", 1000)
    async with HubClient(url, "t") as client:
        with pytest.raises(AnswerTooLarge):
            await client.trace("p1")
        with pytest.raises(AnswerRefused, match="not JSON"):
            await client.trace("p2")


async def test_a_huge_error_body_keeps_its_status(fake: tuple[FakeHub, str]) -> None:
    """Callers act on the status (retry a 5xx): a body too large to read does not hide it."""
    hub, url = fake

    async def bad_gateway(request: web.Request) -> web.StreamResponse:
        return web.Response(status=502, body=b"x" * 200_000)

    hub.handlers["/v1/packages/p1"] = bad_gateway
    async with HubClient(url, "t") as client:
        with pytest.raises(HubProblem) as info:
            await client.fetch("p1")
    assert (info.value.status, info.value.code) == (502, "http.502")


async def test_hub_send_reports_a_refused_receipt_as_one_coded_line(
    fake: tuple[FakeHub, str], tmp_path: Path
) -> None:
    hub, url = fake
    hub.handlers["/v1/packages"] = _receipt_answer(ENTITIES)
    package, token = tmp_path / "p.edxml", tmp_path / "token"
    package.write_bytes(b"<x/>")
    token.write_text("t\n")
    args = ["send", str(package), "--url", url, "--token-file", str(token)]
    done = await asyncio.to_thread(CliRunner().invoke, main, args)
    assert done.exit_code == 2, done.output
    assert "client.answer_refused" in done.output and "Traceback" not in done.output
    assert isinstance(done.exception, SystemExit)


def test_the_batch_budget_is_the_hubs() -> None:
    """The client's bound on a batch answer is derived from the hub's byte budget."""
    assert HUB_BATCH_BYTES == BATCH_MAX_BYTES
