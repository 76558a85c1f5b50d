"""Crash test: ``kill -9`` the serving hub (and its verification workers) again and again
under load, restart it on the same port, and check that nothing receipted is lost and
nothing is acknowledged twice.

The hub runs as a real ``hub serve`` subprocess (its own process group, so ``killpg`` takes
the process pool down with it). Agencies live in this test process: senders submitting
pre-signed documents and status packages (retrying the same bytes after a connection error or
a 5xx), pull receivers polling their inbox, fetching and acknowledging, and one push agency
whose receiver is an aiohttp server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.client import HubClient, HubProblem
from hub.demo.factory import Signer, document, status
from hub.demo.workdir import DEFAULT_AGENCIES, AgencySpec, Workdir
from hub.edxml import Organ
from hub.receipts import RECEIPT_POLICY, ReceiptFacts, parse_receipt
from hub.webhook_signature import SIGNATURE_HEADER, verify_push_signature
from signing import TrustStore, verify_enveloped
from signing.pki import load_certificates
from tests.conftest import PROJECT_ROOT, WorkdirFactory, signer_for
from tests.ports import free_port

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("HUB_CRASH_SEED", "20151102"))
KILLS = 12
LOAD_SECONDS = 22.0  # submissions are spread over this window (kills happen inside it)
DRAIN_TIMEOUT = 45.0
READY_TIMEOUT = 30.0

G22, H41, H14, H29, G12 = (
    "000.00.00.G22",
    "000.00.00.H41",
    "000.00.00.H14",
    "000.00.00.H29",
    "000.00.00.G12",
)
PUSH = G12
#: sender → (recipients addressed, documents sent)
PLAN: dict[str, tuple[tuple[str, ...], int]] = {
    G22: ((H41, G12), 45),  # routes.toml copies these to 000.00.01.H41 as well
    H14: ((G22, G12), 40),
    H29: ((H14, "000.00.00.H12"), 40),
}
#: agency answering → whose documents it answers (status 01 back to the author)
STATUS_PLAN: dict[str, str] = {H41: G22, G12: H14}
STATUS_EVERY = 2  # every 2nd document of that author is answered


# -- the hub as a subprocess ------------------------------------------------------------------


class HubProcess:
    """``hub serve`` in its own session; ``kill`` takes the whole process group."""

    def __init__(self, workdir: Workdir, port: int, log_path: Path) -> None:
        self.workdir = workdir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        assert self.proc is None
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {self.starts} at {time.time():.3f} =====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "hub.cli",
                    "--log-level",
                    "WARNING",
                    "serve",
                    "--config",
                    str(self.workdir.config_dir),
                    "--port",
                    str(self.port),
                ],
                cwd=PROJECT_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self) -> None:
        """Graceful stop at the end (SIGTERM, then the group is killed in any case)."""
        proc = self.proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        self.kill()

    async def wait_ready(self, session: aiohttp.ClientSession) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT
        while loop.time() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"hub exited with {self.proc.returncode}; see {self.log_path}")
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with session.get(
                    f"{self.url}/readyz", timeout=aiohttp.ClientTimeout(total=2)
                ) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.05)
        raise AssertionError(f"hub not ready after {READY_TIMEOUT}s; see {self.log_path}")


# -- the agencies -----------------------------------------------------------------------------


@dataclass
class Outgoing:
    sender: str
    data: bytes
    sha256: str
    kind: str


@dataclass
class Ledger:
    """Everything the agencies observed."""

    receipts: dict[str, ReceiptFacts] = field(default_factory=dict)  # package id → facts
    receipt_bytes: dict[str, bytes] = field(default_factory=dict)
    sent_sha: dict[str, str] = field(default_factory=dict)  # sha256 → sender
    submit_retries: int = 0
    repeats: int = 0  # 200 (identical bytes already accepted) after a retry
    pushes: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    bad_push_signatures: int = 0
    fetched: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    acks: dict[tuple[str, str], list[bool]] = field(default_factory=lambda: defaultdict(list))
    lost_ack_answers: set[tuple[str, str]] = field(default_factory=set)
    pull_errors: int = 0


class PushReceiver:
    """Records every push; always answers 204."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.secret = b""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        package_id = request.headers.get("Hub-Package-Id", "")
        if not verify_push_signature(
            self.secret, package_id, request.headers.get(SIGNATURE_HEADER, ""), body
        ):
            self.ledger.bad_push_signatures += 1
            return web.Response(status=401)
        self.ledger.pushes[package_id].append(
            (hashlib.sha256(body).hexdigest(), request.headers.get("Hub-Attempt", ""))
        )
        return web.Response(status=204)


TRANSIENT = (aiohttp.ClientError, OSError, TimeoutError)


def check_receipt(receipt: bytes, workdir: Workdir, item: Outgoing) -> ReceiptFacts:
    """The receipt verifies, chains to W/pki/ca.pem, is the hub's, and states these bytes."""
    verified = verify_enveloped(receipt, RECEIPT_POLICY)
    TrustStore(load_certificates(workdir.pki_dir / "ca.pem")).validate(
        verified.certificate, at=datetime.now(UTC)
    )
    (hub_cert,) = load_certificates(workdir.pki_dir / "hub" / "cert.pem")
    assert verified.certificate == hub_cert, "receipt not signed with the hub's key"
    facts = parse_receipt(verified.signed_root)
    assert facts.sha256 == item.sha256
    assert facts.sender == item.sender
    assert facts.size == len(item.data)
    return facts


async def run_sender(
    url: str,
    token: str,
    items: list[Outgoing],
    ledger: Ledger,
    workdir: Workdir,
    t0: float,
    deadline: float,
) -> None:
    """Submit each package at its slot in the load window; retry the same bytes until
    receipted (connection errors and 5xx are expected while the hub is down)."""
    loop = asyncio.get_running_loop()
    spacing = LOAD_SECONDS / max(1, len(items))
    async with HubClient(url, token) as client:
        for i, item in enumerate(items):
            await asyncio.sleep(max(0.0, t0 + i * spacing - loop.time()))
            tries = 0
            while True:
                tries += 1
                assert loop.time() < deadline, f"could not submit {item.sha256} in time"
                assert tries < 2000
                try:
                    submitted = await client.submit(item.data)
                except HubProblem as exc:
                    assert exc.status >= 500, f"refused: {exc}"
                except TRANSIENT:
                    pass
                else:
                    break
                ledger.submit_retries += 1
                await asyncio.sleep(0.1)
            facts = check_receipt(submitted.receipt, workdir, item)
            assert facts.package_id == submitted.package_id
            assert submitted.recipients == facts.recipients
            if not submitted.created:
                ledger.repeats += 1
            previous = ledger.receipt_bytes.get(facts.package_id)
            assert previous is None or previous == submitted.receipt
            ledger.receipts[facts.package_id] = facts
            ledger.receipt_bytes[facts.package_id] = submitted.receipt


async def run_puller(
    url: str, organ_id: str, token: str, ledger: Ledger, stop: asyncio.Event
) -> None:
    """Poll the inbox; fetch, hash and acknowledge whatever is there (even again)."""
    unanswered: set[str] = set()  # acks sent whose answer was lost
    async with HubClient(url, token) as client:
        for _ in range(100_000):
            if stop.is_set():
                return
            try:
                page = await client.inbox_page(limit=50)
                for entry in page["items"]:
                    package_id = entry["id"]
                    data = await client.fetch(package_id)
                    ledger.fetched[(package_id, organ_id)].append(hashlib.sha256(data).hexdigest())
                    unanswered.add(package_id)
                    answer = await client.ack(package_id)
                    unanswered.discard(package_id)
                    ledger.acks[(package_id, organ_id)].append(not answer["already_acked"])
                for package_id in list(unanswered):  # the ack may have landed: ask again
                    ledger.lost_ack_answers.add((package_id, organ_id))
                    answer = await client.ack(package_id)
                    unanswered.discard(package_id)
                    ledger.acks[(package_id, organ_id)].append(not answer["already_acked"])
            except (HubProblem, *TRANSIENT) as exc:
                if isinstance(exc, HubProblem) and exc.status < 500:
                    raise
                ledger.pull_errors += 1
                await asyncio.sleep(0.1)
                continue
            if not page["items"]:
                await asyncio.sleep(0.1)


async def killer(
    hub: HubProcess, session: aiohttp.ClientSession, rng: random.Random, kills: list[float]
) -> None:
    """Kill -9 the hub at random moments, restart it on the same port."""
    for _ in range(KILLS):
        await asyncio.sleep(rng.uniform(0.2, 1.4))
        hub.kill()
        kills.append(time.time())
        await asyncio.sleep(rng.uniform(0.0, 0.3))
        hub.start()
        await hub.wait_ready(session)


# -- the test ---------------------------------------------------------------------------------


def prepare(workdir: Workdir) -> dict[str, list[Outgoing]]:
    """Sign every package before the load (documents, then status packages answering them)."""
    rng = random.Random(SEED)
    signers: dict[str, Signer] = {}

    def signer(organ_id: str) -> Signer:
        if organ_id not in signers:
            signers[organ_id] = signer_for(workdir, organ_id)
        return signers[organ_id]

    outgoing: dict[str, list[Outgoing]] = defaultdict(list)
    doc_ids: dict[str, list[str]] = defaultdict(list)
    for sender, (to, count) in PLAN.items():
        for n in range(count):
            doc_id, data = document(
                signer(sender),
                [Organ(organ_id=r, organ_name=r) for r in to],
                number=1000 + n,
                rng=rng,
                attachment_size=rng.randrange(500, 6000),
            )
            doc_ids[sender].append(doc_id)
            outgoing[sender].append(
                Outgoing(sender, data, hashlib.sha256(data).hexdigest(), "document")
            )
    for answering, author in STATUS_PLAN.items():
        for doc_id in doc_ids[author][::STATUS_EVERY]:
            data = status(signer(answering), document_author=author, document_id=doc_id, code="01")
            outgoing[answering].append(
                Outgoing(answering, data, hashlib.sha256(data).hexdigest(), "status")
            )
    for items in outgoing.values():
        rng.shuffle(items)
    return outgoing


async def outbox_of(client: HubClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        page = await client.outbox_page(cursor, limit=200)
        items.extend(page["items"])
        cursor = page["next"]
        if not cursor:
            break
    return items


async def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.1)
    return predicate()


async def test_kill9_under_load_loses_nothing_and_acks_once(
    make_workdir: WorkdirFactory, tmp_path: Path
) -> None:
    ledger = Ledger()
    push = PushReceiver(ledger)
    app = web.Application()
    app.router.add_post("/inbox", push.handle)
    receiver = TestServer(app, host="127.0.0.1")
    await receiver.start_server()

    agencies = tuple(
        AgencySpec(a.organ_id, a.name, delivery="push", push_url=str(receiver.make_url("/inbox")))
        if a.organ_id == PUSH
        else a
        for a in DEFAULT_AGENCIES
    )
    port = free_port()
    workdir = make_workdir(
        agencies,
        port=port,
        ingest_processes=1,
        retry_delays=(0.2, 0.5),
        max_attempts=50,
        lease_seconds=2.0,
    )
    push.secret = workdir.push_secret(PUSH)
    pull_agencies = [a.organ_id for a in agencies if a.delivery == "pull"]
    outgoing = prepare(workdir)
    for items in outgoing.values():
        for item in items:
            ledger.sent_sha[item.sha256] = item.sender
    total = sum(len(v) for v in outgoing.values())

    hub = HubProcess(workdir, port, tmp_path / "hub.log")
    rng = random.Random(SEED)
    kills: list[float] = []
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    async with aiohttp.ClientSession() as session:
        try:
            hub.start()
            await hub.wait_ready(session)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            deadline = t0 + LOAD_SECONDS + KILLS * READY_TIMEOUT
            pullers = [
                asyncio.create_task(
                    run_puller(hub.url, organ_id, workdir.token(organ_id), ledger, stop)
                )
                for organ_id in pull_agencies
            ]
            tasks.extend(pullers)
            senders = [
                asyncio.create_task(
                    run_sender(hub.url, workdir.token(s), items, ledger, workdir, t0, deadline)
                )
                for s, items in outgoing.items()
            ]
            tasks.extend(senders)
            kill_task = asyncio.create_task(killer(hub, session, rng, kills))
            tasks.append(kill_task)
            await asyncio.gather(*senders, kill_task)
            assert len(ledger.receipts) == total, "a submission was never receipted"

            # Drain: every receipted (package, recipient) reaches its recipient.
            expected = {(p, r) for p, f in ledger.receipts.items() for r in f.recipients}

            def missing() -> set[tuple[str, str]]:
                return {
                    (p, r)
                    for p, r in expected
                    if not (ledger.pushes.get(p) if r == PUSH else ledger.acks.get((p, r)))
                }

            drained = await wait_until(lambda: not missing(), DRAIN_TIMEOUT)
            for task in pullers:  # let a last round of already-listed items finish
                assert not task.done() or task.exception() is None
            stop.set()
            await asyncio.gather(*pullers)
            assert drained, f"never delivered: {sorted(missing())[:10]} of {len(missing())}"

            # The hub's own view: every delivery of every receipted package is acked, and it
            # stored nothing the senders were not receipted for. A push that reached the
            # receiver just before the last kill is still leased in the hub: it is pushed
            # again once its lease runs out, and only then marked acked, so the view is read
            # until it settles (at least once means the receiver saw it first).
            async def read_hub_view() -> dict[str, dict[str, str]]:
                view: dict[str, dict[str, str]] = {}
                for sender in outgoing:
                    async with HubClient(hub.url, workdir.token(sender)) as client:
                        for entry in await outbox_of(client):
                            view[entry["id"]] = {
                                d["organ_id"]: d["state"] for d in entry["recipients"]
                            }
                return view

            def all_acked(view: dict[str, dict[str, str]]) -> bool:
                return all(
                    state == "acked" for states in view.values() for state in states.values()
                )

            hub_view = await read_hub_view()
            settle_deadline = loop.time() + DRAIN_TIMEOUT
            while not all_acked(hub_view) and loop.time() < settle_deadline:
                await asyncio.sleep(0.2)
                hub_view = await read_hub_view()
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            hub.stop()
            await receiver.close()

    # -- assertions ----------------------------------------------------------------------------
    assert len(kills) >= 10
    assert set(hub_view) == set(ledger.receipts), "hub stored packages nobody was receipted for"
    for package_id, facts in ledger.receipts.items():
        assert hub_view[package_id] == dict.fromkeys(facts.recipients, "acked"), package_id
        for recipient in facts.recipients:
            key = (package_id, recipient)
            if recipient == PUSH:
                pushes = ledger.pushes[package_id]
                assert pushes, key
                assert {sha for sha, _ in pushes} == {facts.sha256}, f"push bytes differ {key}"
            else:
                assert ledger.fetched[key], key
                assert set(ledger.fetched[key]) == {facts.sha256}, f"fetched bytes differ {key}"
                firsts = ledger.acks[key].count(True)
                assert firsts <= 1, f"acknowledged as first {firsts} times: {key}"
                if firsts == 0:  # only if the first ack's answer was lost to a kill
                    assert key in ledger.lost_ack_answers, f"never a first ack: {key}"
    assert not set(ledger.pushes) - set(ledger.receipts), "pushed a package never receipted"
    assert ledger.bad_push_signatures == 0

    push_dups = sum(len(v) - 1 for v in ledger.pushes.values())
    refetches = sum(len(v) - 1 for v in ledger.fetched.values())
    already = sum(v.count(False) for v in ledger.acks.values())
    kinds = Counter(f.kind for f in ledger.receipts.values())
    print(
        f"\nkill -9: {len(kills)} kills, {hub.starts} starts; receipted {len(ledger.receipts)} "
        f"packages ({dict(kinds)}), {sum(len(f.recipients) for f in ledger.receipts.values())} "
        f"deliveries; submission retries {ledger.submit_retries} ({ledger.repeats} answered "
        f"200 'already accepted'); redeliveries seen: {push_dups} duplicate pushes, "
        f"{refetches} re-fetches, {already} acks answered already_acked, "
        f"{len(ledger.lost_ack_answers)} ack answers lost; pull errors {ledger.pull_errors}"
    )
