"""Connections are not held forever (issue 13): a half-sent request head and an idle keep-alive
connection are closed after ``[http] keepalive_timeout``, a body that does not arrive within
``[http] body_timeout`` is refused with ``408``. Small values here; raw sockets, since an
HTTP client would always finish its requests."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

from aiohttp.test_utils import TestServer

from hub.api.app import build_app, runner_options
from hub.config import HttpSettings, load_config, load_settings
from hub.demo.workdir import Workdir
from hub.runtime import Runtime

#: a bound on each wait so that a regression fails instead of hanging (not a measurement)
GUARD = 30.0


@contextlib.asynccontextmanager
async def short_timeouts_hub(workdir: Workdir) -> AsyncIterator[tuple[str, int]]:
    config = load_config(workdir.config_dir)
    http = replace(config.settings.http, keepalive_timeout=0.3, body_timeout=0.3)
    config = replace(config, settings=replace(config.settings, http=http))
    async with Runtime(config) as runtime:
        server = TestServer(build_app(runtime), host="127.0.0.1")
        await server.start_server(**runner_options(http))  # (TestServer() drops them)
        try:
            assert server.port is not None
            yield "127.0.0.1", server.port
        finally:
            await server.close()


async def _until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    async with asyncio.timeout(GUARD):
        return await reader.read()


async def test_a_half_sent_request_head_is_closed(workdir: Workdir) -> None:
    async with short_timeouts_hub(workdir) as (host, port):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Slow: ")  # never finished
        await writer.drain()
        assert await _until_closed(reader) == b""  # closed without an answer
        writer.close()


async def test_an_idle_keep_alive_connection_is_closed(workdir: Workdir) -> None:
    async with short_timeouts_hub(workdir) as (host, port):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
        await writer.drain()
        async with asyncio.timeout(GUARD):
            head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        length = int(
            next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")).split(
                b":"
            )[1]
        )
        async with asyncio.timeout(GUARD):
            await reader.readexactly(length)
        # The connection is kept alive for the next request … and closed when none comes.
        assert await _until_closed(reader) == b""
        writer.close()


async def test_a_slow_body_is_refused_with_408(workdir: Workdir) -> None:
    token = workdir.token("000.00.00.G22")
    async with short_timeouts_hub(workdir) as (host, port):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            b"POST /v1/packages HTTP/1.1\r\nHost: hub\r\nContent-Type: application/xml\r\n"
            + f"Authorization: Bearer {token}\r\n".encode()
            + b"Content-Length: 5000\r\n\r\n<?xml version='1.0'?>"  # and nothing more
        )
        await writer.drain()
        answer = await _until_closed(reader)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"application/problem+json" in head
        assert json.loads(body)["code"] == "request.body_timeout"
        writer.close()


def test_timeouts_are_read_from_hub_toml(tmp_path: Path) -> None:
    assert HttpSettings().keepalive_timeout == 60.0 and HttpSettings().body_timeout == 300.0
    (tmp_path / "hub.toml").write_text(
        "[http]\nkeepalive_timeout = 15\nbody_timeout = 45.5\n", encoding="utf-8"
    )
    http = load_settings(tmp_path, env={}).http
    assert (http.keepalive_timeout, http.body_timeout) == (15.0, 45.5)
    assert runner_options(http) == {"keepalive_timeout": 15.0}
