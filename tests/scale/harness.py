"""Shared pieces of the scale-out tests: a ``hub serve`` subprocess (any number of workers),
the backends (embedded, or RabbitMQ + PostgreSQL in a throw-away vhost and schema), signed
traffic, senders, pull receivers and a push receiver that record everything they see.
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
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from hub.client import HubClient, HubProblem
from hub.demo.factory import Signer, document
from hub.demo.workdir import DEFAULT_AGENCIES, AgencySpec, Workdir
from hub.edxml import Organ
from hub.webhook_signature import SIGNATURE_HEADER, verify_push_signature
from tests.broker.rabbit_fixtures import amqp_url, rabbitmqctl, require_rabbitmq
from tests.conftest import PROJECT_ROOT, WorkdirFactory, require_service, signer_for
from tests.ports import free_port  # noqa: F401  (the scale tests import it from here)
from tests.store.pg_fixtures import PG_DSN, _host_port, drop_schema, new_schema_name

G22, H41, H14, H29, G12, H12 = (
    "000.00.00.G22",
    "000.00.00.H41",
    "000.00.00.H14",
    "000.00.00.H29",
    "000.00.00.G12",
    "000.00.00.H12",
)
PUSH = G12
WORKER_HEADER = "Hub-Worker"


@dataclass(frozen=True)
class Backends:
    """Store and broker choice for a workdir (``create_workdir`` keyword arguments)."""

    name: str
    options: dict[str, str]


EMBEDDED = Backends("embedded", {})


@contextlib.contextmanager
def rabbit_pg_backends() -> Iterator[Backends]:
    """RabbitMQ in a fresh vhost and PostgreSQL in a fresh schema, removed afterwards; skips
    (or fails under HUB_REQUIRE_SERVICES=1) without the servers."""
    require_service("PostgreSQL", *_host_port(PG_DSN))
    require_rabbitmq()
    vhost, schema = f"hub-scale-{uuid.uuid4().hex[:10]}", new_schema_name()
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield Backends(
            "rabbitmq+postgresql",
            {
                "store": "postgresql",
                "store_url": PG_DSN,
                "store_schema": schema,
                "broker": "rabbitmq",
                "broker_url": amqp_url(vhost),
            },
        )
    finally:
        # Each cleanup on its own: a failed vhost deletion must not leave the schema behind.
        try:
            rabbitmqctl("delete_vhost", vhost)
        finally:
            drop_schema(PG_DSN, schema)


@pytest.fixture(params=["embedded", "rabbitmq+postgresql"], name="backends")
def backends_fixture(request: pytest.FixtureRequest) -> Iterator[Backends]:
    """The ``backends`` fixture: each test once embedded (SQLite, local broker) and once on
    RabbitMQ + PostgreSQL (import it where it is needed)."""
    if request.param == "embedded":
        yield EMBEDDED
        return
    with rabbit_pg_backends() as b:
        yield b


class HubProcess:
    """``hub serve [--workers N]`` in its own session (``stop`` takes the whole group)."""

    def __init__(self, workdir: Workdir, port: int, log_path: Path, workers: int = 1) -> None:
        self.workdir, self.port, self.workers = workdir, port, workers
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.proc is None
        with self.log_path.open("ab") as log:
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
                    "--workers",
                    str(self.workers),
                ],
                cwd=PROJECT_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM to the supervisor (it stops its workers); the group is killed after
        ``timeout``. Returns the exit status (``None`` if it had to be killed)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            return None

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Until every worker has answered ``/readyz`` (one worker being up says nothing about
        the others, which may still be starting: traffic sent now would all go to the first)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        ready: set[str] = set()
        # A new connection per probe: the listening socket hands each to whichever worker
        # accepts first, so the probes reach every worker once they all accept.
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            while loop.time() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"hub exited with {self.proc.returncode}: {self.log_path.read_text()}"
                    )
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    async with session.get(
                        f"{self.url}/readyz", timeout=aiohttp.ClientTimeout(total=10)
                    ) as resp:
                        if resp.status == 200:
                            ready.add(resp.headers.get(WORKER_HEADER, "single"))
                            if len(ready) >= self.workers:
                                return
                            continue  # probe again at once: a worker answered, others may
                await asyncio.sleep(0.1)
        raise AssertionError(
            f"{len(ready)} of {self.workers} workers ready after {timeout}s: "
            f"{self.log_path.read_text()}"
        )


@dataclass
class Outgoing:
    sender: str
    data: bytes
    sha256: str
    recipients: tuple[str, ...]


@dataclass
class Ledger:
    """What the agencies observed."""

    accepted: dict[str, str] = field(default_factory=dict)  # sha256 → package id
    created: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # sha256 → 202s
    receipts: dict[str, set[bytes]] = field(default_factory=lambda: defaultdict(set))
    workers: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # pid → answers
    pushes: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    bad_push_signatures: int = 0
    fetched: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    first_acks: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))


class PushReceiver:
    """Records every push (package id → sha256 of the body); answers 204."""

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
        self.ledger.pushes[package_id].append(hashlib.sha256(body).hexdigest())
        return web.Response(status=204)


def agencies_with_push(push_url: str) -> tuple[AgencySpec, ...]:
    """The default agencies, G12 pushed to ``push_url``."""
    return tuple(
        AgencySpec(a.organ_id, a.name, delivery="push", push_url=push_url)
        if a.organ_id == PUSH
        else a
        for a in DEFAULT_AGENCIES
    )


def make_traffic(workdir: Workdir, per_sender: int, seed: int = 3) -> list[Outgoing]:
    """Signed documents from three senders to two recipients each (one of them pushed)."""
    rng = random.Random(seed)
    plan = {G22: (H41, G12), H14: (G22, H12), H29: (H14, G12)}
    items: list[Outgoing] = []
    for sender, to in plan.items():
        signer: Signer = signer_for(workdir, sender)
        for n in range(per_sender):
            _, data = document(
                signer,
                [Organ(organ_id=r, organ_name=r) for r in to],
                number=5000 + n,
                rng=rng,
                attachment_size=rng.randrange(300, 3000),
            )
            recipients = (*to, "000.00.01.H41") if sender == G22 and H41 in to else to
            items.append(Outgoing(sender, data, hashlib.sha256(data).hexdigest(), recipients))
    rng.shuffle(items)
    return items


async def submit_one(
    session: aiohttp.ClientSession, url: str, token: str, item: Outgoing, ledger: Ledger
) -> None:
    """POST the bytes until receipted (5xx and connection errors are retried)."""
    for _ in range(200):
        try:
            async with session.post(
                f"{url}/v1/packages",
                data=item.data,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"},
            ) as resp:
                body = await resp.read()
                if resp.status >= 500:
                    await asyncio.sleep(0.1)
                    continue
                assert resp.status in (200, 202), (resp.status, body[:300])
                ledger.workers[resp.headers.get(WORKER_HEADER, "?")] += 1
                package_id = resp.headers["Hub-Package-Id"]
                previous = ledger.accepted.setdefault(item.sha256, package_id)
                assert previous == package_id, "the same bytes got two package ids"
                ledger.receipts[package_id].add(body)
                if resp.status == 202:
                    ledger.created[item.sha256] += 1
                return
        except (aiohttp.ClientError, OSError, TimeoutError):
            await asyncio.sleep(0.1)
    raise AssertionError(f"could not submit {item.sha256}")


async def send_all(
    url: str, workdir: Workdir, items: list[Outgoing], ledger: Ledger, *, duplicates: int
) -> None:
    """Submit every item with many concurrent connections; the first ``duplicates`` items are
    submitted three times at once on separate connections (identical resubmissions)."""
    sem = asyncio.Semaphore(24)
    tokens = {s: workdir.token(s) for s in {i.sender for i in items}}
    # Many small connection pools: requests spread over the workers' accept calls. Half of them
    # open a new connection per request, so that kept-alive connections accepted by one worker
    # while the other was busy do not carry the whole run.
    sessions = [
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=4, force_close=n % 2 == 1))
        for n in range(8)
    ]
    try:

        async def one(n: int, item: Outgoing) -> None:
            async with sem:
                await submit_one(
                    sessions[n % len(sessions)], url, tokens[item.sender], item, ledger
                )

        jobs = [one(n, item) for n, item in enumerate(items)]
        for n, item in enumerate(items[:duplicates]):
            jobs += [one(n + 1, item), one(n + 2, item)]
        await asyncio.gather(*jobs)
    finally:
        for s in sessions:
            await s.close()


async def pull_loop(
    url: str, organ_id: str, token: str, ledger: Ledger, stop: asyncio.Event
) -> None:
    """Poll the inbox; fetch and ack whatever is listed; count first acks."""
    async with HubClient(url, token) as client:
        while not stop.is_set():
            try:
                page = await client.inbox_page(limit=100)
                for entry in page["items"]:
                    package_id = entry["id"]
                    data = await client.fetch(package_id)
                    ledger.fetched[(package_id, organ_id)].append(hashlib.sha256(data).hexdigest())
                    answer = await client.ack(package_id)
                    if not answer["already_acked"]:
                        ledger.first_acks[(package_id, organ_id)] += 1
            except HubProblem as exc:
                assert exc.status >= 500, exc
                await asyncio.sleep(0.1)
                continue
            except (aiohttp.ClientError, OSError, TimeoutError):
                await asyncio.sleep(0.1)
                continue
            if not page["items"]:
                await asyncio.sleep(0.1)


async def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.1)
    return predicate()


async def outbox_states(url: str, token: str) -> dict[str, dict[str, str]]:
    """The sender's outbox as the hub reports it: package id → recipient → state."""
    states: dict[str, dict[str, str]] = {}
    async with HubClient(url, token) as client:
        cursor: str | None = None
        for _ in range(1000):
            page: dict[str, Any] = await client.outbox_page(cursor, limit=200)
            for entry in page["items"]:
                states[entry["id"]] = {d["organ_id"]: d["state"] for d in entry["recipients"]}
            cursor = page["next"]
            if not cursor:
                break
    return states


def make_hub_workdir(
    make_workdir: WorkdirFactory, backends: Backends, port: int, push_url: str, **kw: Any
) -> Workdir:
    """A workdir on ``backends`` with G12 pushed to ``push_url``; ``kw`` overrides the
    defaults below (or adds ``create_workdir`` options)."""
    options: dict[str, Any] = {
        "port": port,
        "ingest_processes": 1,
        "retry_delays": (0.2, 0.5),
        "max_attempts": 50,
        "lease_seconds": 5.0,
        **backends.options,
        **kw,
    }
    return make_workdir(agencies_with_push(push_url), **options)
