"""A running hub with operator accounts, and helpers to use the dashboard over HTTP."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.demo.workdir import DEFAULT_AGENCIES, AgencySpec
from hub.operators import add_operator
from tests.api.conftest import RunningHub, start_hub
from tests.conftest import WorkdirFactory

G12 = "000.00.00.G12"  # push agency: its receiver fails while ``Receiver.failing``
G22 = "000.00.00.G22"
H41 = "000.00.00.H41"

PASSWORDS = {"ops": "mật-khẩu-vận-hành-1", "viewer": "chỉ-xem-thôi-2"}


@dataclass
class Receiver:
    """G12's push endpoint: answers 500 while ``failing``, else 200."""

    failing: bool = True
    received: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        if self.failing:
            return web.Response(status=500, text="kho lưu trữ đang bảo trì")
        self.received.append(request.headers.get("Hub-Package-Id", ""))
        return web.Response(status=200)


@dataclass
class Dashboard:
    """A hub with an ``ops`` (operator) and a ``viewer`` account; G12 pushes to ``receiver``."""

    hub: RunningHub
    receiver: Receiver

    @property
    def url(self) -> str:
        return self.hub.url + "/dashboard"

    async def login(self, username: str) -> aiohttp.ClientSession:
        """A client session logged in as ``username`` (the caller closes it)."""
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with session.get(self.url + "/login") as resp:
            csrf = csrf_of(await resp.text())
        async with session.post(
            self.url + "/login",
            data={"username": username, "password": PASSWORDS[username], "csrf": csrf},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303, await resp.text()
        return session


def csrf_of(page: str) -> str:
    """The CSRF token in a page's forms."""
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


@pytest.fixture
async def dash(make_workdir: WorkdirFactory) -> AsyncIterator[Dashboard]:
    """A running hub with both accounts; pushes to G12 fail until told otherwise."""
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/inbox", receiver.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    agencies = tuple(
        AgencySpec(a.organ_id, a.name, delivery="push", push_url=str(server.make_url("/inbox")))
        if a.organ_id == G12
        else a
        for a in DEFAULT_AGENCIES
    )
    workdir = make_workdir(agencies, retry_delays=(0.05,), max_attempts=2)
    try:
        async with start_hub(workdir) as running:
            store = running.runtime.store.dashboard()
            await add_operator(store, "ops", PASSWORDS["ops"], "operator")
            await add_operator(store, "viewer", PASSWORDS["viewer"], "viewer")
            yield Dashboard(running, receiver)
    finally:
        await server.close()
