"""A real hub (runtime + aiohttp server on a loopback port) and agency clients."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from hub.api.app import build_app
from hub.client import HubClient, HubProblem
from hub.config import load_config
from hub.demo.workdir import Workdir
from hub.runtime import Runtime


@dataclass
class RunningHub:
    """A started hub and helpers to act as its agencies."""

    workdir: Workdir
    runtime: Runtime
    server: TestServer
    _clients: dict[str, HubClient] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def client(self, organ_id: str) -> HubClient:
        """A client authenticated as ``organ_id``."""
        if organ_id not in self._clients:
            client = HubClient(self.url, self.workdir.token(organ_id))
            await client.__aenter__()
            self._clients[organ_id] = client
        return self._clients[organ_id]

    async def close_clients(self) -> None:
        for client in self._clients.values():
            await client.__aexit__(None, None, None)


@contextlib.asynccontextmanager
async def start_hub(workdir: Workdir) -> AsyncIterator[RunningHub]:
    config = load_config(workdir.config_dir)
    async with Runtime(config, republish_interval=0.5) as runtime:
        server = TestServer(build_app(runtime), host="127.0.0.1")
        await server.start_server()
        running = RunningHub(workdir=workdir, runtime=runtime, server=server)
        try:
            yield running
        finally:
            await running.close_clients()
            await server.close()


@pytest.fixture
async def hub(workdir: Workdir) -> AsyncIterator[RunningHub]:
    """A hub over the default working directory."""
    async with start_hub(workdir) as running:
        yield running


def xmlsec1_verify(xmlsec1: str, ca: Path, signed: bytes, path: Path) -> CompletedProcess[str]:
    """``xmlsec1 --verify --trusted-pem CA`` (an independent XMLDSig verifier) on ``signed``,
    written to ``path`` first; the caller asserts on the return code."""
    path.write_bytes(signed)
    return subprocess.run(
        [xmlsec1, "--verify", "--trusted-pem", str(ca), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


async def submit_refused(hub: RunningHub, caller: str, data: bytes) -> HubProblem:
    """Submit ``data`` as ``caller`` and return the hub's refusal (an acceptance fails the
    test)."""
    with pytest.raises(HubProblem) as info:
        await (await hub.client(caller)).submit(data)
    return info.value


async def inbox_with(hub: RunningHub, organ_id: str, n: int) -> list[dict[str, Any]]:
    """The recipient's inbox once it holds ``n`` items (the dispatcher makes queued deliveries
    available asynchronously)."""
    client = await hub.client(organ_id)
    for _ in range(500):
        items = [i async for i in client.inbox_items()]
        if len(items) >= n:
            return items
        await asyncio.sleep(0.02)
    raise AssertionError(f"{organ_id} inbox never reached {n} items")
