"""Retention purge runs as the CLI and the Runtime's schedule drive them: ``hub audit purge``
says what a run did, what it kept back for unacknowledged deliveries and whether it stopped
at its per-run limit; the schedule comes back within a minute after a run that stopped there.
The purge itself is in the audit contract (``tests/contracts/audit_contract.py``)."""

from __future__ import annotations

import asyncio
import types
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from hub import runtime
from hub.audit import service
from hub.audit.service import PurgeRun
from hub.audit.settings import AuditSettings
from hub.cli import main
from hub.config import load_config
from hub.demo.workdir import Workdir
from hub.models import DeliveryChange, DeliveryState
from hub.runtime import make_store
from hub.store import Store
from tests.contracts.store_contract import G22, new_package


async def _populate(workdir: Workdir) -> None:
    """3 packages still owed to G22, then 5 it acknowledged, accepted a month ago (old enough
    for ``--days 1`` whatever today is)."""
    month_ago = datetime.now(UTC) - timedelta(days=30)
    owed = [new_package(accepted_at=month_ago) for _ in range(3)]
    done = [new_package(accepted_at=month_ago) for _ in range(5)]
    async with make_store(load_config(workdir.config_dir)) as store:
        await store.add_packages([*owed, *done])
        await store.settle([DeliveryChange(p.id, G22, DeliveryState.AVAILABLE) for p in owed])
        await store.settle([DeliveryChange(p.id, G22, DeliveryState.ACKED) for p in done])


def test_purge_says_what_it_purged_kept_and_left(
    workdir: Workdir, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(_populate(workdir))
    real = service.purge

    async def small_runs(store: Store, **options: object) -> PurgeRun:
        # A run stops after two full pages of two.
        return await real(store, batch=2, max_batches=2, **options)

    monkeypatch.setattr(service, "purge", small_runs)

    def purge_cli() -> list[str]:
        """What the command prints, its log lines apart (the warning is checked there)."""
        args = ["audit", "purge", "--config", str(workdir.config_dir), "--days", "1"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        logged = [line for line in lines if " WARNING hub.audit " in line]
        assert len(logged) == 1 and "3 package(s) past the 1-day policy keep" in logged[0]
        return [line for line in lines if line not in logged]

    assert purge_cli() == [
        "purged 4 package(s)",
        "kept 3 package(s) for deliveries neither acknowledged nor dead",
        "stopped at the per-run limit: more may be due, run it again",
    ]
    assert purge_cli() == [
        "purged 1 package(s)",
        "kept 3 package(s) for deliveries neither acknowledged nor dead",
    ]


class _Stop(Exception):
    """Ends the schedule's loop from its sleep."""


async def test_the_schedule_comes_back_soon_after_a_run_that_stopped_at_its_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs = [PurgeRun(("p1",), 0, capped=True), PurgeRun(("p2",), 0, capped=True)]
    runs.append(PurgeRun(("p3",), 2, capped=False))
    delays: list[float] = []

    async def purge(store: Store, **options: object) -> PurgeRun:
        return runs.pop(0)

    async def sleep(delay: float) -> None:
        delays.append(delay)
        if not runs:
            raise _Stop

    monkeypatch.setattr(runtime, "purge", purge)
    monkeypatch.setattr(runtime, "asyncio", types.SimpleNamespace(sleep=sleep))
    settings = AuditSettings(package_days=30, purge_interval=86400.0)
    hub = types.SimpleNamespace(audit_settings=settings, store=None, clock=lambda: None)
    with pytest.raises(_Stop):
        await runtime.Runtime._purge_loop(hub)  # a stand-in with what the loop reads
    # the first run within a minute; two capped runs, each followed within a minute; then daily
    assert delays == [60.0, 60.0, 60.0, 86400.0]
