"""Push delivery: HMAC-authenticated POSTs, retries with backoff, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.client import HubClient
from hub.demo.factory import Signer, document
from hub.demo.workdir import DEFAULT_AGENCIES, AgencySpec
from hub.edxml import Organ
from hub.models import DeliveryChange, DeliveryState, Settled
from hub.webhook_signature import SIGNATURE_HEADER, verify_push_signature
from tests.api.conftest import start_hub
from tests.conftest import WorkdirFactory
from tests.polling import until

G22, G12 = "000.00.00.G22", "000.00.00.G12"


@dataclass
class Receiver:
    """A push receiver that fails its first ``fail_first`` calls (or always)."""

    fail_first: int = 0
    always_fail: bool = False
    secret: bytes = b""
    calls: int = 0
    received: dict[str, list[bytes]] = field(default_factory=dict)
    bad_signatures: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        body = await request.read()
        package_id = request.headers["Hub-Package-Id"]
        if not verify_push_signature(
            self.secret, package_id, request.headers.get(SIGNATURE_HEADER, ""), body
        ):
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.always_fail or self.calls <= self.fail_first:
            return web.Response(status=503)
        self.received.setdefault(package_id, []).append(body)
        return web.Response(status=204)


@contextlib.asynccontextmanager
async def serve(receiver: Receiver) -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_post("/inbox", receiver.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


def agencies_with_push(url: str) -> tuple[AgencySpec, ...]:
    return tuple(
        AgencySpec(a.organ_id, a.name, delivery="push", push_url=url) if a.organ_id == G12 else a
        for a in DEFAULT_AGENCIES
    )


async def test_push_retries_then_delivers_once(
    make_workdir: WorkdirFactory, signers: Callable[[str], Signer]
) -> None:
    receiver = Receiver(fail_first=2)
    async with serve(receiver) as server:
        workdir = make_workdir(
            agencies_with_push(str(server.make_url("/inbox"))),
            retry_delays=(0.05, 0.1),
            max_attempts=5,
        )
        receiver.secret = workdir.push_secret(G12)
        async with start_hub(workdir) as hub:
            _, data = document(signers(G22), [Organ(organ_id=G12)], number=1)
            submitted = await (await hub.client(G22)).submit(data)
            package_id = submitted.package_id
            await until(lambda: package_id in receiver.received)
            assert receiver.received[submitted.package_id] == [data]
            assert receiver.bad_signatures == 0
            sender = await hub.client(G22)
            # The hub records the 2xx after the receiver answered it: wait for that write.
            for _ in range(500):
                trace = await sender.trace(submitted.package_id)
                (delivery,) = trace["recipients"]
                if delivery["state"] == "acked":
                    break
                await asyncio.sleep(0.02)
            assert delivery["state"] == "acked"
            assert delivery["attempts"] == 3
            failed = [e for e in trace["events"] if e["kind"] == "failed"]
            assert len(failed) == 2


async def test_push_dead_letters_after_max_attempts(
    make_workdir: WorkdirFactory, signers: Callable[[str], Signer]
) -> None:
    receiver = Receiver(always_fail=True)
    async with serve(receiver) as server:
        workdir = make_workdir(
            agencies_with_push(str(server.make_url("/inbox"))), retry_delays=(0.02,), max_attempts=3
        )
        receiver.secret = workdir.push_secret(G12)
        async with start_hub(workdir) as hub:
            _, data = document(signers(G22), [Organ(organ_id=G12)], number=2)
            sender = await hub.client(G22)
            submitted = await sender.submit(data)

            async def state(
                sender: HubClient = sender, package_id: str = submitted.package_id
            ) -> str:
                trace = await sender.trace(package_id)
                return str(trace["recipients"][0]["state"])

            for _ in range(500):
                if await state() == "dead":
                    break
                await asyncio.sleep(0.02)
            assert await state() == "dead"
            assert receiver.calls == 3
            outbox = await sender.outbox_page()
            (entry,) = outbox["items"]
            assert entry["recipients"][0]["state"] == "dead"
            assert entry["recipients"][0]["last_error"] == "HTTP 503"
            await asyncio.sleep(0.2)
            assert receiver.calls == 3  # parked: no more attempts


async def test_push_success_settles_delivered_and_acked_in_one_grouped_write(
    make_workdir: WorkdirFactory, signers: Callable[[str], Signer]
) -> None:
    receiver = Receiver()
    async with serve(receiver) as server:
        workdir = make_workdir(agencies_with_push(str(server.make_url("/inbox"))))
        receiver.secret = workdir.push_secret(G12)
        async with start_hub(workdir) as hub:
            store = hub.runtime.store
            groups: list[list[DeliveryChange]] = []
            settle = store.settle

            async def recording(changes: Sequence[DeliveryChange]) -> list[Settled]:
                groups.append(list(changes))
                return await settle(changes)

            store.settle = recording  # type: ignore[method-assign]
            _, data = document(signers(G22), [Organ(organ_id=G12)], number=3)
            submitted = await (await hub.client(G22)).submit(data)
            package_id = submitted.package_id

            def moves() -> list[list[DeliveryState]]:
                return [
                    [c.state for c in g if (c.package_id, c.recipient) == (package_id, G12)]
                    for g in groups
                ]

            await until(lambda: any(DeliveryState.ACKED in m for m in moves()))
            # One store call (one transaction) holds the push's delivered and its ack.
            assert [m for m in moves() if m] == [[DeliveryState.DELIVERED, DeliveryState.ACKED]]
            trace = await (await hub.client(G22)).trace(package_id)
            (delivery,) = trace["recipients"]
            assert delivery["state"] == "acked" and delivery["attempts"] == 1
            kinds = [e["kind"] for e in trace["events"] if e["recipient"] == G12]
            assert kinds[-2:] == ["delivered", "acked"]
            assert receiver.received[package_id] == [data]


async def test_a_rotated_push_secret_is_used_without_a_restart(
    make_workdir: WorkdirFactory, signers: Callable[[str], Signer]
) -> None:
    receiver = Receiver()
    async with serve(receiver) as server:
        workdir = make_workdir(agencies_with_push(str(server.make_url("/inbox"))))
        receiver.secret = workdir.push_secret(G12)
        async with start_hub(workdir) as hub:
            sender = await hub.client(G22)
            first = await sender.submit(document(signers(G22), [Organ(organ_id=G12)], number=7)[1])
            await until(lambda: first.package_id in receiver.received)
            # The operator and the agency rotate the shared secret; the hub keeps running.
            rotated = b"rotated-" + receiver.secret
            (workdir.pki_dir / "agencies" / G12 / "push_secret").write_bytes(rotated + b"\n")
            receiver.secret = rotated
            second = await sender.submit(document(signers(G22), [Organ(organ_id=G12)], number=8)[1])
            await until(lambda: second.package_id in receiver.received)
            assert receiver.bad_signatures == 0
