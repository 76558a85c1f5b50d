"""Issue 12 across processes: ``hub serve --workers 2`` on the embedded default (one SQLite file,
embedded broker) and on PostgreSQL + RabbitMQ. Pairs of different packages with the same
DocumentId are posted at the same moment on separate connections (so often to different
workers): exactly one of each pair is accepted, the other is refused ``409 package.conflict``
naming it, and the store holds exactly the accepted ones. The guarantee is the store's unique
index (migration 0014): ``step_deduplicate`` reads in one process and cannot see the other's
uncommitted package."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from hub.demo.factory import document, vn_now
from hub.edxml import Organ
from tests.conftest import WorkdirFactory, signer_for
from tests.scale.harness import (
    EMBEDDED,
    G22,
    H41,
    WORKER_HEADER,
    Backends,
    HubProcess,
    free_port,
    make_hub_workdir,
    outbox_states,
    rabbit_pg_backends,
)

pytestmark = pytest.mark.slow

PAIRS = 20


@pytest.fixture(params=["embedded", "rabbitmq+postgresql"])
def backends(request: pytest.FixtureRequest) -> Iterator[Backends]:
    if request.param == "embedded":
        yield EMBEDDED
        return
    with rabbit_pg_backends() as b:
        yield b


async def post(
    session: aiohttp.ClientSession, url: str, token: str, data: bytes, workers: Counter[str]
) -> tuple[int, str | None, str | None]:
    """POST until answered by a hub that is up (5xx and connection errors are retried with the
    same bytes, which is safe); returns (status, package id, the 409's ``existing``)."""
    for _ in range(200):
        try:
            async with session.post(
                f"{url}/v1/packages",
                data=data,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"},
            ) as resp:
                if resp.status >= 500:
                    await asyncio.sleep(0.1)
                    continue
                workers[f"{url} {resp.headers.get(WORKER_HEADER, '-')}"] += 1
                if resp.status == 409:
                    body = await resp.json(content_type=None)
                    assert body["code"] == "package.conflict", body
                    return resp.status, None, str(body["existing"])
                assert resp.status in (200, 202), (resp.status, (await resp.read())[:300])
                return resp.status, resp.headers["Hub-Package-Id"], None
        except (aiohttp.ClientError, OSError, TimeoutError):
            await asyncio.sleep(0.1)
    raise AssertionError("could not submit")


@pytest.mark.parametrize("layout", ["workers", "two-hubs"])
async def test_two_processes_accept_one_of_each_pair(
    backends: Backends, layout: str, make_workdir: WorkdirFactory, tmp_path: Path
) -> None:
    """``workers``: one ``hub serve --workers 2``, both sides of every pair to its port (the
    kernel picks the worker). ``two-hubs``: two ``hub serve`` processes on one store and
    broker, each pair split between them, so every pair races across processes."""
    port = free_port()
    workdir = make_hub_workdir(make_workdir, backends, port, "http://127.0.0.1:9/unused")
    signer = signer_for(workdir, G22)
    when = vn_now()
    pairs: list[tuple[bytes, bytes]] = []
    for n in range(PAIRS):
        _, a = document(signer, [Organ(organ_id=H41)], number=7000 + n, when=when, attachments=1)
        _, b = document(signer, [Organ(organ_id=H41)], number=7000 + n, when=when, attachments=2)
        assert a != b
        pairs.append((a, b))
    token = workdir.token(G22)
    workers: Counter[str] = Counter()
    if layout == "workers":
        hubs = [HubProcess(workdir, port, tmp_path / "hub.log", workers=2)]
    else:
        hubs = [
            HubProcess(workdir, port, tmp_path / "hub.log"),
            HubProcess(workdir, free_port(), tmp_path / "hub2.log"),
        ]
    urls = [hubs[0].url, hubs[-1].url]
    # A new connection per request (force_close): with --workers 2 the kernel hands each to
    # either worker, so the two sides of a pair often race in two processes.
    sessions = [
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True))
        for _ in range(2)
    ]
    try:
        for hub in hubs:
            hub.start()
        for hub in hubs:
            await hub.wait_ready()
        answers = await asyncio.gather(
            *(
                asyncio.gather(
                    post(sessions[0], urls[0], token, a, workers),
                    post(sessions[1], urls[1], token, b, workers),
                )
                for a, b in pairs
            )
        )
        stored = await outbox_states(urls[0], token)
    finally:
        for s in sessions:
            await s.close()
        statuses = [hub.stop() for hub in hubs]
    logs = "".join(p.read_text() for p in tmp_path.glob("hub*.log"))

    winners: set[str] = set()
    for pair in answers:
        accepted = [pid for code, pid, _ in pair if code in (200, 202)]
        refused = [existing for code, _, existing in pair if code == 409]
        assert len(accepted) == 1 and len(refused) == 1, pair
        assert refused[0] == accepted[0]  # the 409 names the package that won
        winners.add(str(accepted[0]))
    assert set(stored) == winners  # exactly the accepted packages, nothing of the losers
    assert statuses == [0] * len(hubs), logs[-3000:]
    assert "Traceback" not in logs, logs[-3000:]
    print(f"\n{backends.name} {layout}: {PAIRS} pairs, answers per process {dict(workers)}")
