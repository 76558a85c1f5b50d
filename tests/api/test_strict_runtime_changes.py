"""Operators' changes apply at once (issue 13): once ``hub agency rotate-token``, ``disable``
or ``set-profile`` has returned, every following request — on every worker of
``hub serve --workers 2`` — sees the change. No timing: the CLI runs to completion, then
many requests in a row (each on a new connection, so both workers answer) must all see it.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from hub.demo.factory import Signer, document
from hub.edxml import Organ
from tests.api.test_signature_profiles import h41_legacy
from tests.conftest import PROJECT_ROOT, WorkdirFactory
from tests.scale.harness import (
    WORKER_HEADER,
    Backends,
    HubProcess,
    backends_fixture,  # noqa: F401  # the backends fixture
    free_port,
)

pytestmark = pytest.mark.slow

G22, H41, H14 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H14"
#: requests in a row that must all see a change (and at least this many per worker)
IN_A_ROW = 40
PER_WORKER = 5


def hub_cli(config_dir: Path, *args: str) -> str:
    """Run ``hub <args> --config DIR`` to completion (another process, as an operator does)."""
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", *args, "--config", str(config_dir)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def answers(
    url: str, method: str, path: str, token: str, data: bytes | None = None
) -> tuple[Counter[int | str], Counter[str]]:
    """``IN_A_ROW`` requests, then more until both workers answered ``PER_WORKER`` times, each
    on a new connection: (status or problem code → count, worker pid → count)."""
    outcomes: Counter[int | str] = Counter()
    workers: Counter[str] = Counter()
    headers = {"Authorization": f"Bearer {token}"}
    if data is not None:
        headers["Content-Type"] = "application/xml"
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        n = 0
        while n < IN_A_ROW or (len(workers) < 2 or min(workers.values()) < PER_WORKER):
            n += 1
            assert n < 2000, f"one worker answered everything: {dict(workers)}"
            async with session.request(method, url + path, headers=headers, data=data) as resp:
                workers[resp.headers[WORKER_HEADER]] += 1
                if resp.status >= 400:
                    outcomes[(await resp.json(content_type=None))["code"]] += 1
                else:
                    outcomes[resp.status] += 1
    return outcomes, workers


async def test_changes_apply_to_the_next_request_on_every_worker(
    backends: Backends,
    make_workdir: WorkdirFactory,
    tmp_path: Path,
    signers: Callable[[str], Signer],
) -> None:
    port = free_port()
    workdir = make_workdir(port=port, **backends.options)
    hub = HubProcess(workdir, port, tmp_path / "hub.log", workers=2)
    _, to_h14 = document(signers(G22), [Organ(organ_id=H14)], number=1)
    legacy = h41_legacy(signers)
    try:
        hub.start()
        await hub.wait_ready()
        old = workdir.token(G22)
        # Before: G22's token works on both workers; H14 is a recipient; H41 strict.
        ok, workers = await answers(hub.url, "GET", "/v1/inbox", old)
        assert ok == {200: sum(workers.values())} and len(workers) == 2

        token_file = tmp_path / "g22.token"
        hub_cli(workdir.config_dir, "agency", "rotate-token", G22, "--token-file", str(token_file))
        new = token_file.read_text(encoding="utf-8").strip()
        refused, workers = await answers(hub.url, "GET", "/v1/inbox", old)
        assert refused == {"auth.required": sum(workers.values())}, refused
        ok, _ = await answers(hub.url, "GET", "/v1/inbox", new)
        assert set(ok) == {200}, ok

        hub_cli(workdir.config_dir, "agency", "disable", H14, "--reason", "test")
        refused, _ = await answers(hub.url, "GET", "/v1/inbox", workdir.token(H14))
        assert set(refused) == {"auth.forbidden"}, refused
        refused, _ = await answers(hub.url, "POST", "/v1/validate", new, to_h14)
        assert set(refused) == {"route.unknown_recipient"}, refused

        h41 = workdir.token(H41)
        refused, _ = await answers(hub.url, "POST", "/v1/validate", h41, legacy)
        assert set(refused) == {"signature.algorithm_forbidden"}, refused
        hub_cli(workdir.config_dir, "agency", "set-profile", H41, "legacy")
        ok, _ = await answers(hub.url, "POST", "/v1/validate", h41, legacy)
        assert set(ok) == {200}, ok
    finally:
        status = hub.stop()
    log = (tmp_path / "hub.log").read_text()
    assert status == 0, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
