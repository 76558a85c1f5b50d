"""Issue 12's accept path through a running hub: a pull delivery is available when the receipt
comes back and the broker never sees it; a push delivery leaves the outbox through the relay
(one publish, pending → queued) and is delivered."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from hub.broker import QueueEntry
from hub.demo.factory import Signer, document
from hub.edxml import Organ
from tests.api.conftest import RunningHub, start_hub
from tests.api.test_push import Receiver, agencies_with_push, serve
from tests.conftest import WorkdirFactory
from tests.polling import until

G22, H41, G12 = "000.00.00.G22", "000.00.00.H41", "000.00.00.G12"


def record_publishes(hub: RunningHub, monkeypatch: pytest.MonkeyPatch) -> list[QueueEntry]:
    published: list[QueueEntry] = []
    broker = hub.runtime.broker
    original = broker.publish

    async def recording(entries: Sequence[QueueEntry]) -> None:
        published.extend(entries)
        await original(entries)

    monkeypatch.setattr(broker, "publish", recording)
    return published


async def test_pull_delivery_is_available_at_the_receipt_without_the_broker(
    make_workdir: WorkdirFactory,
    signers: Callable[[str], Signer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with start_hub(make_workdir()) as hub:
        published = record_publishes(hub, monkeypatch)
        _, data = document(signers(G22), [Organ(organ_id=H41)], number=1)
        submitted = await (await hub.client(G22)).submit(data)
        # No waiting: the delivery was made available by the commit that preceded the receipt.
        inbox = await (await hub.client(H41)).inbox_page()
        assert [i["id"] for i in inbox["items"]] == [submitted.package_id]
        trace = await (await hub.client(G22)).trace(submitted.package_id)
        kinds = [(e["kind"], e.get("recipient")) for e in trace["events"]]
        assert ("available", H41) in kinds and not any(k == "queued" for k, _ in kinds)
        assert published == []
        assert hub.runtime.relay.published == 0


async def test_push_delivery_leaves_the_outbox_through_the_relay(
    make_workdir: WorkdirFactory,
    signers: Callable[[str], Signer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver = Receiver()
    async with serve(receiver) as server:
        workdir = make_workdir(agencies_with_push(str(server.make_url("/inbox"))))
        receiver.secret = workdir.push_secret(G12)
        async with start_hub(workdir) as hub:
            published = record_publishes(hub, monkeypatch)
            _, data = document(signers(G22), [Organ(organ_id=H41), Organ(organ_id=G12)], number=2)
            submitted = await (await hub.client(G22)).submit(data)
            await until(lambda: submitted.package_id in receiver.received)
            # Only the push recipient went through the broker.
            assert {(e.recipient, e.package_id) for e in published} == {(G12, submitted.package_id)}
            trace = await (await hub.client(G22)).trace(submitted.package_id)
            queued = [e["recipient"] for e in trace["events"] if e["kind"] == "queued"]
            assert queued == [G12]
