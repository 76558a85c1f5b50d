"""``hub serve --workers 2``: two hub processes on one port deliver every package exactly once
per recipient — on the embedded default (one host, shared SQLite file) and on RabbitMQ +
PostgreSQL (skipped without the servers, required under ``HUB_REQUIRE_SERVICES=1``).

Senders submit a few hundred signed documents over many connections, some of them three
times at once (identical bytes, likely on different workers); pull agencies poll, fetch and
ack; one agency is pushed to a receiver in this test.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import WorkdirFactory
from tests.scale.harness import (
    PUSH,
    Backends,
    HubProcess,
    Ledger,
    PushReceiver,
    backends_fixture,  # noqa: F401  # the backends fixture
    free_port,
    make_hub_workdir,
    make_traffic,
    outbox_states,
    pull_loop,
    send_all,
    wait_until,
)

pytestmark = pytest.mark.slow

PER_SENDER = 80  # three senders: 240 documents, 560 deliveries
DUPLICATES = 30


async def test_two_workers_deliver_exactly_once(
    backends: Backends, make_workdir: WorkdirFactory, tmp_path: Path
) -> None:
    ledger = Ledger()
    push = PushReceiver(ledger)
    app = web.Application()
    app.router.add_post("/inbox", push.handle)
    receiver = TestServer(app, host="127.0.0.1")
    await receiver.start_server()
    port = free_port()
    workdir = make_hub_workdir(make_workdir, backends, port, str(receiver.make_url("/inbox")))
    push.secret = workdir.push_secret(PUSH)
    items = make_traffic(workdir, PER_SENDER)
    hub = HubProcess(workdir, port, tmp_path / "hub.log", workers=2)
    stop = asyncio.Event()
    pull_agencies = sorted({r for i in items for r in i.recipients} - {PUSH})
    pullers: list[asyncio.Task[None]] = []
    try:
        hub.start()
        await hub.wait_ready()
        pullers = [
            asyncio.create_task(pull_loop(hub.url, a, workdir.token(a), ledger, stop))
            for a in pull_agencies
        ]
        await send_all(hub.url, workdir, items, ledger, duplicates=DUPLICATES)
        expected = {(ledger.accepted[i.sha256], r) for i in items for r in i.recipients}

        def missing() -> set[tuple[str, str]]:
            return {
                (p, r)
                for p, r in expected
                if not (ledger.pushes.get(p) if r == PUSH else ledger.first_acks.get((p, r)))
            }

        drained = await wait_until(lambda: not missing(), 90.0)
        assert drained, f"never delivered: {sorted(missing())[:5]} of {len(missing())}"
        await asyncio.sleep(1.0)  # late duplicates would show up now
        stop.set()
        await asyncio.gather(*pullers)
        hub_view: dict[str, dict[str, str]] = {}
        for sender in {i.sender for i in items}:
            hub_view.update(await outbox_states(hub.url, workdir.token(sender)))
    finally:
        stop.set()
        for task in pullers:
            task.cancel()
        await asyncio.gather(*pullers, return_exceptions=True)
        status = hub.stop()
        await receiver.close()
    log = (tmp_path / "hub.log").read_text()

    # Every distinct package accepted once: one 202, every resubmission answered with the
    # same package id and the same signed receipt.
    assert len(ledger.accepted) == len(items)
    assert all(ledger.created[i.sha256] == 1 for i in items), "bytes accepted twice"
    assert all(len(r) == 1 for r in ledger.receipts.values()), "two receipts for one package"
    # Both workers served submissions.
    assert len(ledger.workers) == 2, dict(ledger.workers)
    assert "?" not in ledger.workers
    # Exactly once per recipient: one first ack per pull delivery; pushes only of receipted
    # packages, repeated only with the same id and bytes.
    by_id = {ledger.accepted[i.sha256]: i for i in items}
    for (package_id, recipient), n in ledger.first_acks.items():
        assert n == 1, (package_id, recipient, n)
        assert set(ledger.fetched[(package_id, recipient)]) == {by_id[package_id].sha256}
    assert set(ledger.pushes) == {p for p, i in by_id.items() if PUSH in i.recipients}
    for package_id, shas in ledger.pushes.items():
        assert set(shas) == {by_id[package_id].sha256}
    assert ledger.bad_push_signatures == 0
    # The store agrees: exactly the receipted packages, every delivery acked.
    assert set(hub_view) == set(by_id)
    for package_id, item in by_id.items():
        assert hub_view[package_id] == dict.fromkeys(item.recipients, "acked"), package_id
    assert status == 0, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    print(
        f"\n{backends.name}: {len(items)} packages, {len(expected)} deliveries, answers per "
        f"worker {dict(ledger.workers)}, duplicate pushes "
        f"{sum(len(v) - 1 for v in ledger.pushes.values())}"
    )
