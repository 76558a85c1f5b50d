"""Upgrade in place: a data directory (SQLite) and a PostgreSQL schema written by the previous
release start under this code with nothing lost.

The fixtures (``fixtures/``, made by ``make_fixtures.py`` with the release named in their
README) hold a working directory after a demo run and traffic that left deliveries in every
state, and the manifest the *release* observed over its own API before it stopped. Here the
new hub starts on the restored data exactly as ``hub serve`` assembles it (configuration →
:class:`hub.runtime.Runtime` → the API), which migrates the store; then it must answer every
question of the manifest as the release did (:func:`observe.differences`), finish the work the
release left (pending and queued deliveries reach the inbox), accept a new submission, keep an
audit log that verifies, and report the latest schema version. Only stable entry points are
used: the configuration, the runtime, the HTTP API and the ``hub`` command.
"""

from __future__ import annotations

import asyncio
import json
import lzma
import os
import re
import shutil
import tarfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import aiohttp
import click
import psycopg
import pytest
from aiohttp.test_utils import TestServer
from click.testing import CliRunner

from hub.api.app import build_app
from hub.config import load_config
from hub.runtime import Runtime
from tests.store.pg_fixtures import drop_schema, new_schema_name, pg_dsn, pg_schema  # noqa: F401
from tests.upgrade.observe import Credentials, differences, observe

FIXTURES = Path(__file__).resolve().parent / "fixtures"
G22, H41 = "000.00.00.G22", "000.00.00.H41"
#: how long the new hub may take to finish what the old one left queued (a stall, not a speed)
SETTLE_SECONDS = 60.0
_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")


def fixture_clock(observed: dict[str, Any]) -> Callable[[], datetime]:
    """The new hub's clock: an hour after the last moment the release recorded, running on
    from there. The fixtures' dev certificates are checked at reception, so the test must
    not depend on today's date (they expire; the data does not)."""
    last = max(
        datetime.fromisoformat(m.replace("Z", "+00:00"))
        for m in _INSTANT.findall(json.dumps(observed))
    )
    start, origin = last + timedelta(hours=1), time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - origin)


def manifest(backend: str) -> dict[str, Any]:
    """What the release observed before it stopped."""
    data = lzma.decompress((FIXTURES / f"{backend}-manifest.json.xz").read_bytes())
    loaded: dict[str, Any] = json.loads(data)
    return loaded


def restore(tmp_path: Path, backend: str) -> Path:
    """The release's working directory, unpacked into ``tmp_path``."""
    with tarfile.open(FIXTURES / f"{backend}-workdir.tar.xz") as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path / "workdir"


def hub_command() -> click.Command:
    """The ``hub`` console script's command, wherever the package defines it."""
    (script,) = entry_points(group="console_scripts", name="hub")
    command: click.Command = script.load()
    return command


def hub(*args: str | Path) -> str:
    """Run ``hub ARGS`` in this process; its output (a failure fails the test)."""
    result = CliRunner().invoke(
        hub_command(), [str(a) for a in args], env={"COLUMNS": "300"}, catch_exceptions=False
    )
    assert result.exit_code == 0, f"hub {args}: {result.exit_code}\n{result.output}"
    return result.output


def migrated_version(config_dir: Path) -> int:
    """The store's schema version after ``hub db migrate`` (which only reports it when the
    store is already up to date)."""
    found = re.search(r"version (\d+)", hub("db", "migrate", "--config", config_dir))
    assert found, "hub db migrate printed no version"
    return int(found.group(1))


AUDIT_FIGURES = re.compile(r"events: (\d+) .*chains: (\d+), checkpoints: (\d+)")


def audit_figures(line: str) -> tuple[int, int, int]:
    """(events, chains, checkpoints) of ``hub audit verify``'s first line."""
    found = AUDIT_FIGURES.search(line)
    assert found, line
    events, chains, checkpoints = found.groups()
    return int(events), int(chains), int(checkpoints)


async def settle(base: str, root: Path, old: dict[str, Any]) -> None:
    """Wait until every delivery the release left pending or queued has moved on."""
    creds = Credentials.from_workdir(root)
    waiting = {
        (pid, trace["from"], d["organ_id"])
        for pid, trace in old["packages"].items()
        for d in trace["recipients"]
        if d["state"] in ("pending", "queued")
    }
    assert waiting, "the fixture should hold pending and queued deliveries"
    deadline = time.monotonic() + SETTLE_SECONDS
    async with aiohttp.ClientSession() as http:
        while waiting:
            for pid, sender, recipient in sorted(waiting):
                headers = {"Authorization": f"Bearer {creds.token(sender)}"}
                async with http.get(f"{base}/v1/packages/{pid}/trace", headers=headers) as r:
                    trace = await r.json()
                state = next(d["state"] for d in trace["recipients"] if d["organ_id"] == recipient)
                if state not in ("pending", "queued"):
                    waiting.discard((pid, sender, recipient))
            assert time.monotonic() < deadline, f"still pending or queued: {sorted(waiting)}"
            await asyncio.sleep(0.05)


async def submit_new(base: str, root: Path, tmp_path: Path) -> str:
    """The example document signed now with ``hub sign``, submitted, fetched and acked by
    its recipient; its package id."""
    agency = root / "pki" / "agencies" / G22
    signed = tmp_path / "new.edxml"
    await asyncio.to_thread(
        hub, "sign", root / "examples" / "document.edxml", "--key", agency / "key.pem",
        "--cert", agency / "cert.pem", "-o", signed,
    )  # fmt: skip
    data = signed.read_bytes()
    creds = Credentials.from_workdir(root)
    sender = {"Authorization": f"Bearer {creds.token(G22)}"}
    recipient = {"Authorization": f"Bearer {creds.token(H41)}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/v1/packages",
            data=data,
            headers={**sender, "Content-Type": "application/xml"},
        ) as r:
            assert r.status == 202, await r.text()
            package_id = r.headers["Location"].rsplit("/", 1)[-1]
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            async with http.get(f"{base}/v1/inbox", headers=recipient) as r:
                listed = [i["id"] for i in (await r.json())["items"]]
            if package_id in listed:
                break
            assert time.monotonic() < deadline, "the new package never reached the inbox"
            await asyncio.sleep(0.05)
        async with http.get(f"{base}/v1/packages/{package_id}", headers=recipient) as r:
            assert r.status == 200
            assert await r.read() == data
        async with http.post(f"{base}/v1/packages/{package_id}/ack", headers=recipient) as r:
            assert r.status == 200
    return package_id


async def run_upgraded(root: Path, old: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """Start the new hub on the release's data (as ``hub serve`` does: the configuration, a
    Runtime, the API), check it against the manifest, submit; the last observation."""
    env = {**os.environ, "HUB_INGEST_PROCESSES": "-1"}  # verify inline: no pool to start
    async with Runtime(load_config(root / "config", env), clock=fixture_clock(old)) as runtime:
        server = TestServer(build_app(runtime), host="127.0.0.1")
        await server.start_server()
        try:
            base = str(server.make_url("")).rstrip("/")
            await settle(base, root, old)
            now = await observe(base, root)
            lost = differences(old, now)
            assert not lost, "\n".join(lost[:40])
            for pid, trace in old["packages"].items():
                for d in trace["recipients"]:
                    if d["state"] in ("pending", "queued"):
                        moved = {r["organ_id"]: r for r in now["packages"][pid]["recipients"]}
                        assert moved[d["organ_id"]]["state"] == "available", (pid, d)
            new_id = await submit_new(base, root, tmp_path)
            after = await observe(base, root)
        finally:
            await server.close()
    assert set(after["packages"]) == set(old["packages"]) | {new_id}
    lost = differences(old, after)
    assert not lost, "\n".join(lost[:40])
    for pid, trace in old["packages"].items():
        assert after["packages"][pid]["bytes_sha256"] == trace["sha256"]
    return after


def check_upgrade(root: Path, fixture: dict[str, Any], tmp_path: Path, fresh: Path) -> None:
    """The whole check on a restored working directory; ``fresh``: a configuration of the
    same backend over an empty store (for the latest schema version)."""
    after = asyncio.run(run_upgraded(root, fixture["observed"], tmp_path))
    assert len(after["packages"]) == fixture["rows"]["packages"] + 1
    # The audit log the release wrote still verifies, with what the new hub added.
    line = hub("audit", "verify", "--config", root / "config", "--no-progress")
    assert "OK: every chain recomputes and every checkpoint verifies" in line, line
    events, chains, checkpoints = audit_figures(line)
    old_events, old_chains, old_checkpoints = audit_figures(fixture["audit"])
    assert events > old_events and chains >= old_chains and checkpoints > old_checkpoints
    # Migrated on start to the version an empty store gets.
    latest = migrated_version(fresh)
    assert migrated_version(root / "config") == latest >= fixture["schema_version"]


def fresh_config(root: Path, tmp_path: Path) -> Path:
    """A copy of the configuration whose data directory is empty (a new installation)."""
    fresh = tmp_path / "fresh"
    shutil.copytree(root / "config", fresh / "config")
    shutil.copytree(root / "pki", fresh / "pki")
    return fresh / "config"


def test_sqlite_data_directory_upgrades_in_place(tmp_path: Path) -> None:
    fixture = manifest("sqlite")
    root = restore(tmp_path, "sqlite")
    check_upgrade(root, fixture, tmp_path, fresh_config(root, tmp_path))


@pytest.fixture
def other_schema(pg_dsn: str) -> Iterator[str]:  # noqa: F811
    """A second fresh schema, dropped after the test."""
    schema = new_schema_name()
    try:
        yield schema
    finally:
        drop_schema(pg_dsn, schema)


def point_at(config_dir: Path, dsn: str, schema: str) -> None:
    """hub.toml's [store] on ``dsn`` and ``schema``."""
    path = config_dir / "hub.toml"
    text = re.sub(r'(?m)^url = "postgresql://[^"]*"$', f'url = "{dsn}"', path.read_text("utf-8"))
    text, n = re.subn(r'(?m)^schema = "[^"]*"$', f'schema = "{schema}"', text)
    assert n == 1, "the fixture's hub.toml names no [store] schema"
    path.write_text(text, encoding="utf-8")


def test_postgresql_schema_upgrades_in_place(
    tmp_path: Path,
    pg_dsn: str,  # noqa: F811
    pg_schema: str,  # noqa: F811
    other_schema: str,
) -> None:
    fixture = manifest("postgresql")
    root = restore(tmp_path, "postgresql")
    # The release's schema as pg_dump wrote it, under a name of this test's own.
    dump = lzma.decompress((FIXTURES / "postgresql-schema.sql.xz").read_bytes()).decode()
    with psycopg.connect(pg_dsn) as conn:
        conn.execute(dump.replace(fixture["schema"], pg_schema))  # type: ignore[arg-type]
    point_at(root / "config", pg_dsn, pg_schema)
    fresh = fresh_config(root, tmp_path)
    point_at(fresh, pg_dsn, other_schema)
    check_upgrade(root, fixture, tmp_path, fresh)


def test_the_fixtures_were_made_by_the_release_their_readme_names() -> None:
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    for backend in ("sqlite", "postgresql"):
        commit = manifest(backend)["release"]["commit"]
        assert not commit.endswith("-dirty")
        assert commit in readme, f"{backend}: {commit} is not the README's release"
    sizes = sum(p.stat().st_size for p in FIXTURES.iterdir())
    assert sizes < 1_000_000, f"fixtures take {sizes} bytes"
