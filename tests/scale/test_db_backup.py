"""``hub db backup`` while a hub serves and ``hub db restore`` afterwards, on SQLite (online
backup API, embedded queue included) and on PostgreSQL (pg_dump/pg_restore of the schema)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.client import HubClient
from tests.conftest import WorkdirFactory, require_service, require_tool
from tests.scale.harness import (
    EMBEDDED,
    Backends,
    HubProcess,
    Ledger,
    free_port,
    make_hub_workdir,
    make_traffic,
    outbox_states,
    send_all,
)
from tests.scale.test_db_copy import hub_cli
from tests.store.pg_fixtures import PG_DSN, _host_port, drop_schema, new_schema_name

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgresql"])
def backends(request: pytest.FixtureRequest) -> Iterator[Backends]:
    if request.param == "sqlite":
        yield EMBEDDED
        return
    require_service("PostgreSQL", *_host_port(PG_DSN))
    require_tool("pg_dump", "postgresql-client", "the PostgreSQL backup test skipped")
    schema = new_schema_name()
    try:
        yield Backends(
            "postgresql",
            {"store": "postgresql", "store_url": PG_DSN, "store_schema": schema},
        )
    finally:
        drop_schema(PG_DSN, schema)


async def states(hub: HubProcess, senders: set[str], token: dict[str, str]) -> dict[str, object]:
    view: dict[str, object] = {}
    for s in senders:
        view.update(await outbox_states(hub.url, token[s]))
    return view


async def test_backup_while_serving_then_restore(
    backends: Backends, make_workdir: WorkdirFactory, tmp_path: Path
) -> None:
    port = free_port()
    wd = make_hub_workdir(make_workdir, backends, port, "http://127.0.0.1:9/")
    items = make_traffic(wd, 12)
    senders = {i.sender for i in items}
    tokens = {s: wd.token(s) for s in senders}
    ledger = Ledger()
    hub = HubProcess(wd, port, tmp_path / "hub.log")
    backup_file = tmp_path / "backup.bin"
    try:
        hub.start()
        await hub.wait_ready()
        await send_all(hub.url, wd, items[:24], ledger, duplicates=0)
        # Backup while serving, with submissions going on at the same time.
        sending = asyncio.create_task(send_all(hub.url, wd, items[24:], ledger, duplicates=0))
        out = await asyncio.to_thread(
            hub_cli, "db", "backup", "--config", str(wd.config_dir), "--output", str(backup_file)
        )
        await sending
        assert "backup written" in out, out
        after_all = await states(hub, senders, tokens)
        assert len(after_all) == len(items)
        h14 = "000.00.00.H14"
        async with HubClient(hub.url, wd.token(h14)) as c:
            some = next(ledger.accepted[i.sha256] for i in items[:24] if h14 in i.recipients)
            original = await c.fetch(some)
    finally:
        assert hub.stop() == 0

    # Restoring over data is refused without --force, then replaces it.
    refused = await asyncio.to_thread(
        _cli_fails, "db", "restore", "--config", str(wd.config_dir), "--input", str(backup_file)
    )
    assert "--force" in refused
    out = await asyncio.to_thread(
        hub_cli,
        "db",
        "restore",
        "--config",
        str(wd.config_dir),
        "--input",
        str(backup_file),
        "--force",
    )
    assert "restored" in out, out
    # The restored event log, chain heads and checkpoints agree (hash chains intact).
    assert "OK" in await asyncio.to_thread(
        hub_cli, "audit", "verify", "--config", str(wd.config_dir)
    )
    hub.start()
    try:
        await hub.wait_ready()
        restored = await states(hub, senders, tokens)
        # A consistent snapshot: at least what was receipted before the backup began, never
        # more than everything, and each package with all its deliveries.
        first_ids = {ledger.accepted[i.sha256] for i in items[:24]}
        assert first_ids <= set(restored) <= set(after_all)
        for package_id, deliveries in restored.items():
            assert deliveries, package_id
        async with HubClient(hub.url, wd.token(h14)) as c:
            assert await c.fetch(some) == original
    finally:
        assert hub.stop() == 0
    # The hub served on from the restored store: its chains continue from the restored heads.
    assert "OK" in await asyncio.to_thread(
        hub_cli, "audit", "verify", "--config", str(wd.config_dir)
    )


def _cli_fails(*args: str) -> str:
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0, done.stdout
    return done.stdout + done.stderr
