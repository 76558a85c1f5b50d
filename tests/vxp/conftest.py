"""The real VXP SDK (../shared/vxp-sdk/lib) driving a running hub through the facade.

``VxpScenario.java`` is compiled once per session with ``javac`` into a temporary directory
(never into the project). Without a JDK the SDK tests skip with the reason printed, or fail
under ``HUB_REQUIRE_SERVICES=1`` (CI), where they must run.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from hub.demo.vxp import register_systems
from hub.demo.workdir import DEFAULT_AGENCIES, AgencySpec
from hub.models import DeliveryState
from tests.api.conftest import RunningHub, start_hub
from tests.conftest import PROJECT_ROOT, WorkdirFactory, installed, skip_or_fail
from tests.store.pg_fixtures import pg_dsn, pg_schema  # noqa: F401  # fixtures

SDK_LIB = PROJECT_ROOT.parent / "shared" / "vxp-sdk" / "lib"
G22, H41, H14, H29 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H14", "000.00.00.H29"

#: G22 and H41 run the SDK and send unsigned packages (envelope_signature = "optional").
VXP_AGENCIES: tuple[AgencySpec, ...] = tuple(
    replace(a, envelope_signature="optional") if a.organ_id in (G22, H41) else a
    for a in DEFAULT_AGENCIES
)


@pytest.fixture(scope="session")
def sdk_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The compiled scenario client (skips, or fails under HUB_REQUIRE_SERVICES=1, without
    a JDK or the SDK jars)."""
    # Installed as the edXML SDK tests do (tests/conftest.py ``installed``), so that these
    # run on a fresh machine whether or not the edXML tests ran first.
    javac, java = installed("javac", "default-jdk-headless"), shutil.which("java")
    if javac is None or java is None:
        skip_or_fail("javac/java are not installed and could not be installed: VXP SDK tests")
    if not SDK_LIB.is_dir():
        skip_or_fail(f"the VXP SDK jars are missing ({SDK_LIB})")
    out = tmp_path_factory.mktemp("vxp-sdk-client")
    source = Path(__file__).with_name("VxpScenario.java")
    subprocess.run(
        [str(javac), "-d", str(out), "-cp", f"{SDK_LIB}/*", str(source)],
        check=True,
        capture_output=True,
    )
    return out


@dataclass
class Sdk:
    """Runs one scenario (many SDK calls, several identities) in one JVM."""

    classes: Path
    endpoint: str
    workdir: Path

    async def run(self, *steps: str) -> list[dict[str, Any]]:
        """The JSON result line of every step, in order."""
        out = self.workdir / "sdk-results.jsonl"
        cmd = [
            "java",
            "-cp",
            f"{self.classes}:{SDK_LIB}/*",
            "VxpScenario",
            self.endpoint,
            str(out),
            *steps,
        ]
        proc = await asyncio.to_thread(
            subprocess.run, cmd, capture_output=True, text=True, cwd=self.workdir
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
        return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def step(op: str, args: dict[str, str] | None = None, *extra: str) -> str:
    """One scenario step: ``op|json[|extra…]``."""
    return "|".join((op, json.dumps(args or {}, ensure_ascii=False), *extra))


def secret(hub: RunningHub, organ_id: str) -> str:
    """The demo system's secret for ``organ_id`` (from ``pki/agencies/<id>/vxp.toml``)."""
    text = (hub.workdir.pki_dir / "agencies" / organ_id / "vxp.toml").read_text()
    return next(
        line.split("=", 1)[1].strip().strip('"')
        for line in text.splitlines()
        if line.startswith("secret")
    )


async def register_demo_systems(hub: RunningHub, pki_dir: Path, *, now: datetime) -> None:
    """One VXP system per agency of ``hub`` (``vxp.<OrganId>``), as ``hub demo`` registers
    them."""
    rt = hub.runtime
    await register_systems(
        rt.store,
        pki_dir,
        known_agencies=frozenset(rt.config.agencies),
        data_dir=rt.config.settings.data_dir,
        now=now,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
async def vxp_hub(
    request: pytest.FixtureRequest, make_workdir: WorkdirFactory
) -> AsyncIterator[RunningHub]:
    """A running hub with one VXP system per agency (``vxp.<OrganId>``), as ``hub demo``, on
    each store backend (PostgreSQL: a fresh schema; skips without the server unless
    HUB_REQUIRE_SERVICES=1)."""
    if request.param == "postgresql":
        dsn = request.getfixturevalue("pg_dsn")
        schema = request.getfixturevalue("pg_schema")
        wd = make_workdir(VXP_AGENCIES, store="postgresql", store_url=dsn, store_schema=schema)
    else:
        wd = make_workdir(VXP_AGENCIES)
    async with start_hub(wd) as hub:
        await register_demo_systems(hub, wd.pki_dir, now=hub.runtime.clock())
        yield hub


async def available(hub: RunningHub, package_id: str, timeout: float = 20.0) -> None:
    """Wait until every pull delivery of the package reached the recipient's inbox (the
    dispatcher moves queued deliveries to available asynchronously)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    waiting = {DeliveryState.PENDING, DeliveryState.QUEUED}
    while any(d.state in waiting for d in await hub.runtime.store.deliveries_for(package_id)):
        if loop.time() > deadline:
            raise AssertionError(f"{package_id} not delivered in {timeout} s")
        await asyncio.sleep(0.05)
