"""Moving up: ``hub db copy`` from a serving embedded hub to PostgreSQL (+ RabbitMQ), then the
hub on the new backends has everything (counts, inboxes, exact bytes, receipts) and finishes
the deliveries that were still due; ``hub db backup``/``restore`` round trips on both stores.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.client import HubClient
from hub.demo.workdir import Workdir
from tests.conftest import PROJECT_ROOT, WorkdirFactory
from tests.scale.harness import (
    PUSH,
    Backends,
    HubProcess,
    Ledger,
    Outgoing,
    PushReceiver,
    free_port,
    make_hub_workdir,
    make_traffic,
    outbox_states,
    pull_loop,
    rabbit_pg_backends,
    send_all,
    wait_until,
)
from tests.store.pg_fixtures import PG_DSN

pytestmark = pytest.mark.slow


def hub_cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "--log-level", "WARNING", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def config_variant(workdir: Workdir, name: str, backends: Backends) -> Path:
    """A copy of the workdir's configuration on other backends (same PKI, tokens, agencies)."""
    target = workdir.root / name
    shutil.copytree(workdir.config_dir, target)
    o = backends.options
    section = f'[store]\nkind = "{o["store"]}"\nurl = "{o["store_url"]}"\n'
    section += f'schema = "{o.get("store_schema", "hub")}"\n\n[broker]\nkind = "{o["broker"]}"\n'
    if o.get("broker_url"):
        section += f'url = "{o["broker_url"]}"\n'
    hub_toml = target / "hub.toml"
    text = re.sub(r"\[store\].*?(?=\[http\])", section + "\n", hub_toml.read_text(), flags=re.S)
    hub_toml.write_text(text)
    return target


@pytest.fixture
def rabbit_pg() -> Iterator[Backends]:
    with rabbit_pg_backends() as b:
        yield b


class FlakyPush(PushReceiver):
    """Answers 503 until ``accept`` is set: push deliveries stay due (failed, retrying)."""

    accept = False

    async def handle(self, request: web.Request) -> web.Response:
        if not self.accept:
            await request.read()
            return web.Response(status=503)
        return await super().handle(request)


async def inbox_ids(url: str, token: str) -> list[str]:
    ids: list[str] = []
    async with HubClient(url, token) as client:
        async for item in client.inbox_items(limit=100):
            ids.append(item["id"])
    return ids


async def test_copy_running_embedded_hub_to_postgresql(
    rabbit_pg: Backends, make_workdir: WorkdirFactory, tmp_path: Path
) -> None:
    ledger = Ledger()
    push = FlakyPush(ledger)
    app = web.Application()
    app.router.add_post("/inbox", push.handle)
    receiver = TestServer(app, host="127.0.0.1")
    await receiver.start_server()
    port = free_port()
    # The pushes fail for the whole old-hub phase, however long a busy machine makes it: with
    # the default 50 attempts (~25 s of 0.5 s tiers) they could go dead before the cut-over,
    # and a dead delivery is not requeued by the copy.
    wd = make_hub_workdir(
        make_workdir,
        Backends("embedded", {}),
        port,
        str(receiver.make_url("/inbox")),
        max_attempts=1_000_000,
    )
    push.secret = wd.push_secret(PUSH)
    target = config_variant(wd, "config-pg", rabbit_pg)
    items = make_traffic(wd, 30)
    first, second = items[:60], items[60:]
    by_sha: dict[str, Outgoing] = {i.sha256: i for i in items}
    old = HubProcess(wd, port, tmp_path / "old.log")
    stop = asyncio.Event()
    try:
        old.start()
        await old.wait_ready()
        await send_all(old.url, wd, first, ledger, duplicates=5)
        # H41 pulls and acks what it has so far; the others leave theirs in the inbox.
        puller = asyncio.create_task(
            pull_loop(old.url, "000.00.00.H41", wd.token("000.00.00.H41"), ledger, stop)
        )
        acked_some = await wait_until(
            lambda: any(r == "000.00.00.H41" for _, r in ledger.first_acks), 30.0
        )
        assert acked_some, "H41 acked nothing from the old hub"
        stop.set()
        await puller
        out1 = hub_cli(
            "db", "copy", "--from-config", str(wd.config_dir), "--to-config", str(target)
        )
        assert "60 new packages" in out1, out1
        await send_all(old.url, wd, second, ledger, duplicates=0)  # still serving meanwhile
        receipts = {}
        async with HubClient(old.url, wd.token("000.00.00.G22")) as c:
            for sha, pid in ledger.accepted.items():
                if by_sha[sha].sender == "000.00.00.G22":
                    receipts[pid] = await c.receipt(pid)
        old_states: dict[str, dict[str, str]] = {}

        async def settled() -> bool:
            # The old hub's dispatcher has made every pull delivery available.
            old_states.clear()
            for s in {i.sender for i in items}:
                old_states.update(await outbox_states(old.url, wd.token(s)))
            return not any(
                st in ("pending", "queued")
                for d in old_states.values()
                for r, st in d.items()
                if r != PUSH
            )

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30.0
        while not await settled():
            assert loop.time() < deadline, f"old hub not settled: {old_states}"
            await asyncio.sleep(0.2)
        assert not any(st == "dead" for d in old_states.values() for st in d.values())
        old_inboxes = {
            a: await inbox_ids(old.url, wd.token(a)) for a in ("000.00.00.H14", "000.00.00.H12")
        }
    finally:
        assert old.stop() == 0
    # Cut-over: the final copy (only the rest), with the due deliveries queued in RabbitMQ.
    out2 = hub_cli(
        "db", "copy", "--from-config", str(wd.config_dir), "--to-config", str(target), "--requeue"
    )
    assert f"{len(second)} new packages" in out2, out2
    out3 = hub_cli("db", "copy", "--from-config", str(wd.config_dir), "--to-config", str(target))
    assert "0 new packages, 0 deliveries written, 0 events" in out3, out3
    # The event log came verbatim with its hash chains: the audit verdict is the source's.
    verdict = hub_cli("audit", "verify", "--config", str(wd.config_dir))
    assert "OK" in verdict and hub_cli("audit", "verify", "--config", str(target)) == verdict
    assert any(s in ("failed", "queued") for d in old_states.values() for s in d.values())

    new = HubProcess(
        Workdir(wd.root, target, wd.pki_dir, wd.data_dir, wd.agencies), port, tmp_path / "new.log"
    )
    stop = asyncio.Event()
    try:
        new.start()
        await new.wait_ready()
        # Everything is there: states, inboxes in order, exact bytes, receipts.
        new_states = {}
        for s in {i.sender for i in items}:
            new_states.update(await outbox_states(new.url, wd.token(s)))
        assert set(new_states) == set(old_states) == set(ledger.accepted.values())
        for a, ids in old_inboxes.items():
            assert await inbox_ids(new.url, wd.token(a)) == ids
        async with HubClient(new.url, wd.token("000.00.00.G22")) as c:
            for pid, receipt in receipts.items():
                assert await c.receipt(pid) == receipt
        async with HubClient(new.url, wd.token("000.00.00.H14")) as c:
            for sha, pid in ledger.accepted.items():
                if "000.00.00.H14" in by_sha[sha].recipients:
                    assert await c.fetch(pid) == by_sha[sha].data
        # Due deliveries complete on the new installation: pushes now succeed, pulls drain.
        push.accept = True
        pullers = [
            asyncio.create_task(pull_loop(new.url, a, wd.token(a), ledger, stop))
            for a in {r for i in items for r in i.recipients} - {PUSH}
        ]
        expected = {(ledger.accepted[i.sha256], r) for i in items for r in i.recipients}

        def missing() -> set[tuple[str, str]]:
            return {
                (p, r)
                for p, r in expected
                if not (ledger.pushes.get(p) if r == PUSH else ledger.first_acks.get((p, r)))
            }

        assert await wait_until(lambda: not missing(), 60.0), sorted(missing())[:5]
        stop.set()
        await asyncio.gather(*pullers)
        final = {}
        for s in {i.sender for i in items}:
            final.update(await outbox_states(new.url, wd.token(s)))
        assert all(set(d.values()) == {"acked"} for d in final.values())
        assert all(n == 1 for n in ledger.first_acks.values())
    finally:
        stop.set()
        assert new.stop() == 0
        await receiver.close()
    # The hub on the copy continued the chains (new events, its shutdown checkpoint).
    assert "OK" in hub_cli("audit", "verify", "--config", str(target))
    with psycopg.connect(PG_DSN) as conn:
        n = conn.execute(
            psycopg.sql.SQL("SELECT count(*) FROM {}.packages").format(
                psycopg.sql.Identifier(rabbit_pg.options["store_schema"])
            )
        ).fetchone()
    assert n is not None and n[0] == len(items)
