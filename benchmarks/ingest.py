"""Ingest benchmark: signed ~20 KB edXML packages through a real ``hub serve`` over HTTP.

Run: .venv/bin/python benchmarks/ingest.py [--packages N] [--concurrency C] [--processes P]
     [--size BYTES] [--store sqlite|postgresql] [--broker local|rabbitmq] [--workers N]
     [--compare] [--bare-processes P] [--single N] [--backlog N] [--rate R]
     [--pull-mode batch|single] [--json FILE]

``--compare`` runs, on the same signed packages, the embedded default (SQLite + local broker,
one worker), RabbitMQ + PostgreSQL with one worker and with two (``hub serve --workers 2``);
each on fresh storage (a new schema, a new vhost). Pull agencies fetch and ack during the run:
**delivered/s** is the measured packages' deliveries over the time from the first submission
to the last first ack, **whole packages delivered/s** the packages all of whose deliveries
were acked, over the same time. ``--pull-mode batch`` (the default): each agency takes up to
100 waiting packages with their bytes in one request (``GET /v1/inbox/packages``) and acks
them in one (``POST /v1/inbox/acks``); ``single``: an inbox page, then a fetch and an ack
per package (the API before batches), so both compare in one tree.

In one run it measures, on the same packages:

* **HTTP**: a temporary workdir, ``hub serve`` as a subprocess (``--processes 0`` = one
  verification worker per core, the default configuration), ``C`` concurrent aiohttp clients
  submitting ``N`` pre-signed packages from several agencies: accepted packages/s and latency
  p50/p95/p99, plus the CPU time of the hub's processes (server and workers, from
  ``/proc/<pid>/stat``) as cores used, the server processes' own share of it per package (the
  event loop and the store's threads, without the verification workers), both again up to
  the last ack of the measured packages (CPU per package accepted *and delivered*), and the
  CPU time of this load generator (it shares the machine);
* **bare checks**: ``hub.pipeline.checks.check_package`` in a loop in this process (parse,
  XSD, signature and certificate path, models), packages/s and the share of each step, and
  its CPU time per package (the ``(…)`` beside the hub's CPU per package: both are CPU time,
  so a busy machine, which stretches a loop's wall time, does not flatter the ratio);
* **bare pool** (issue 12's yardstick): a pool of ``--bare-processes`` (2) processes running
  only the hub's safe parse (``hub.xmlsafe.parse_xml``), XSD validation
  (``hub.edxml.schema.validate``) and ``signing.verify_enveloped`` under the strict policy —
  no trust path, no models, no store — over the same packages: packages/s, and the hub's
  accepted/s as a share of it;
* ``--rate R``: the measured packages are submitted **open-loop**, one every ``1/R`` seconds
  whatever the answers, instead of by ``C`` clients: every tree then sees the same arrivals,
  so the CPU per package of two versions compares (in a closed loop a faster hub accepts at a
  higher rate, groups more packages per commit and spends less per package for that alone);
* **one client alone**: after the concurrent run, ``--single`` further packages submitted one
  at a time: submit→receipt p50/p99 — the first half while the pull agencies keep polling,
  fetching and acking each of them, the second half after they stopped;
* **backlog** (``--backlog N``): before the hub starts, ``N`` small packages are seeded through
  the store into the inbox of :data:`BACKLOG_AGENCY` (deliveries ``available``, nobody fetches
  them during the run: that agency is left out of the pullers and of the measured packages'
  recipients), so every figure above is taken with ``N`` packages waiting.

For PostgreSQL + RabbitMQ the table also gives **accepted/s per core used by the hub's
processes** (the issue's yardstick for comparing the two deployments on one box).
"""

# ruff: noqa: E402  (imports after the sys.path line, as in verify.py)

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import multiprocessing
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp
from lxml import etree

from hub.config import load_config
from hub.demo.factory import Signer, document
from hub.demo.workdir import DEFAULT_AGENCIES, AgencySpec, Workdir, create_workdir
from hub.edxml import Organ
from hub.edxml.schema import SIGNATURE_PARENT
from hub.edxml.schema import validate as validate_schema
from hub.pipeline import checks
from hub.receipts import ReceiptFacts, ReceiptSigner, parse_receipt
from hub.xmlsafe import parse_xml
from signing import SignaturePolicy, verify_enveloped
from signing.pki import load_certificates, load_private_key

SENDERS = ("000.00.00.G22", "000.00.00.H14", "000.00.00.H29", "000.00.00.G17", "000.00.00.H12")
BACKLOG_AGENCY = "000.00.00.H41"  # not a sender, not a copy target of the demo's routes
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- packages ---------------------------------------------------------------------------------


def signer_for(workdir: Workdir, organ_id: str) -> Signer:
    issued = workdir.agencies[organ_id]
    names = {a.organ_id: a.name for a in DEFAULT_AGENCIES}
    return Signer(
        organ_id=organ_id,
        name=names.get(organ_id, organ_id),
        key=load_private_key(issued.key_path),  # type: ignore[arg-type]
        certificate=load_certificates(issued.cert_path)[0],
    )


def attachment_size_for(signer: Signer, target: int) -> int:
    """The random payload size that makes a whole signed package about ``target`` bytes
    (the attachment is zipped, then base64-encoded: about 4/3 of the payload)."""
    to = [Organ(organ_id="000.00.00.H41", organ_name="000.00.00.H41")]
    base = len(document(signer, to, number=1, attachment_size=0)[1])
    size = max(0, (target - base) * 3 // 4)
    for _ in range(3):  # correct for the zip overhead
        got = len(document(signer, to, number=1, attachment_size=size)[1])
        size = max(0, size + (target - got) * 3 // 4)
    return size


def make_packages(
    workdir: Workdir, n: int, target: int, seed: int, exclude: tuple[str, ...] = ()
) -> list[tuple[str, bytes]]:
    """``n`` signed documents, round-robin over SENDERS, each to two other agencies (never
    to one in ``exclude``)."""
    rng = random.Random(seed)
    signers = {s: signer_for(workdir, s) for s in SENDERS}
    payload = attachment_size_for(signers[SENDERS[0]], target)
    others = [a.organ_id for a in DEFAULT_AGENCIES if a.organ_id not in exclude]
    out: list[tuple[str, bytes]] = []
    for i in range(n):
        sender = SENDERS[i % len(SENDERS)]
        to = rng.sample([o for o in others if o != sender], 2)
        _, data = document(
            signers[sender],
            [Organ(organ_id=r, organ_name=r) for r in to],
            number=10_000 + i,
            rng=rng,
            attachment_size=payload,
        )
        out.append((sender, data))
    return out


# -- bare checks in this process --------------------------------------------------------------


def bare_checks(packages: list[bytes], options: checks.CheckOptions) -> dict[str, float]:
    """check_package in a loop, then each step on its own (same packages)."""
    now = datetime.now(UTC)
    checks.warm_up(options)
    for data in packages[:5]:
        checks.check_package(data, now, options)
    # CPU time as well as wall time: the hub's CPU per package (from /proc) is compared with
    # this, and on a busy machine the wall time of a loop grows with what else runs.
    start, cpu = time.perf_counter(), time.thread_time()
    for data in packages:
        checks.check_package(data, now, options)
    whole, cpu = time.perf_counter() - start, time.thread_time() - cpu

    ctx = checks._context(options)
    t_parse = t_schema = t_sig = 0.0
    for data in packages:
        raw = checks.Raw(data=data, received_at=now)
        t0 = time.perf_counter()
        parsed = checks.step_parse(checks.step_limits(raw, options.max_size))
        t1 = time.perf_counter()
        checks.step_schema(parsed)
        t2 = time.perf_counter()
        checks.step_signature(parsed, ctx)
        t3 = time.perf_counter()
        t_parse, t_schema, t_sig = t_parse + t1 - t0, t_schema + t2 - t1, t_sig + t3 - t2
    n = len(packages)
    return {
        "packages_per_s": n / whole,
        "ms_per_package": 1000 * cpu / n,  # CPU
        "wall_ms_per_package": 1000 * whole / n,
        "parse_ms": 1000 * t_parse / n,
        "schema_ms": 1000 * t_schema / n,
        "signature_and_models_ms": 1000 * t_sig / n,
    }


def bare_receipts(workdir: Workdir, n: int) -> dict[str, float]:
    """One receipt built and signed per package with the hub's own key, in a loop: the other
    piece of work every accepted package must cost (a receipt is signed per package). With
    :func:`bare_checks` it gives the floor of the hub's CPU per package, hence the most
    accepted/s the machine's cores could give whatever the rest of the hub costs."""
    signer = ReceiptSigner.from_files(
        workdir.pki_dir / "hub" / "key.pem", workdir.pki_dir / "hub" / "cert.pem"
    )
    now = datetime.now(UTC)
    facts = [
        ReceiptFacts(
            package_id=f"{i:032x}",
            hub_id="hub",
            sender=DEFAULT_AGENCIES[0].organ_id,
            recipients=(DEFAULT_AGENCIES[1].organ_id, DEFAULT_AGENCIES[2].organ_id),
            kind="document",
            document_id=f"{i}/QD-UBND",
            accepted_at=now,
            sha256=hashlib.sha256(str(i).encode()).hexdigest(),
            size=20_000,
        )
        for i in range(n)
    ]
    for f in facts[:5]:
        signer.sign(f, at=now)
    start = time.thread_time()  # CPU, as bare_checks
    for f in facts:
        signer.sign(f, at=now)
    return {"ms_per_receipt": 1000 * (time.thread_time() - start) / n}


# -- bare parse + XSD + signature on a process pool ----------------------------------------------

_STRICT = SignaturePolicy(signature_parent=SIGNATURE_PARENT)  # allow_legacy=False: strict


def _bare_one(data: bytes) -> int:
    """Only what every package must cost: safe parse, XSD, strict signature verification."""
    root = parse_xml(data, max_size=len(data))
    validate_schema(root)
    verify_enveloped(root, _STRICT)
    return len(data)


def bare_pool(packages: list[bytes], processes: int) -> dict[str, float]:
    """:func:`_bare_one` over ``packages`` on a ``processes``-process pool (forked, warmed up
    first so the XSD load and the imports are not measured). The bytes reach the workers
    through the pool's pipe, as the hub's own check workers receive them."""
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        pool.map(_bare_one, packages[: 4 * processes], chunksize=1)  # warm-up
        start = time.perf_counter()
        pool.map(_bare_one, packages, chunksize=8)
        wall = time.perf_counter() - start
    return {
        "processes": processes,
        "packages_per_s": len(packages) / wall,
        "ms_per_package_per_process": 1000 * wall * processes / len(packages),
    }


# -- a backlog seeded through the store ---------------------------------------------------------


async def seed_backlog(workdir: Workdir, n: int, recipient: str, batch: int = 1000) -> float:
    """``n`` small packages waiting (``available``) in ``recipient``'s inbox, written through
    the store before the hub starts; returns the seconds it took. With ``Store.accept`` the
    deliveries are available at commit; a store without it (the code before issue 12) gets
    ``add_packages`` and then one UPDATE of the seeded rows in its SQLite file."""
    from hub.models import NewPackage, PackageKind
    from hub.runtime import make_store

    t0 = time.perf_counter()
    config = load_config(workdir.config_dir)
    store = make_store(config)
    accept = getattr(store, "accept", None)
    async with store:
        for start in range(0, n, batch):
            packages = []
            for i in range(start, min(n, start + batch)):
                data = f"<backlog n='{i}'/>".encode()
                packages.append(
                    NewPackage(
                        id=f"backlog{i:08d}",
                        sha256=hashlib.sha256(data).hexdigest(),
                        sender=SENDERS[i % len(SENDERS)],
                        kind=PackageKind.DOCUMENT,
                        document_id=f"backlog/{i}",
                        business_doc_type=0,
                        status_code=None,
                        recipients=(recipient,),
                        accepted_at=datetime.now(UTC),
                        signer_fingerprint=None,
                        signer_subject="",
                        data=data,
                        receipt=b"<Receipt/>",
                    )
                )
            if accept is not None:
                from hub.store.abc import AcceptItem

                await accept([AcceptItem(p, available=frozenset({recipient})) for p in packages])
            else:
                await store.add_packages(packages)
    if accept is None:
        import sqlite3

        with sqlite3.connect(config.settings.sqlite_path) as conn:
            conn.execute(
                "UPDATE deliveries SET state = 'available' WHERE recipient = ? "
                "AND state = 'pending' AND package_id LIKE 'backlog%'",
                (recipient,),
            )
    return time.perf_counter() - t0


# -- the hub as a subprocess --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def session_stats(sid: int) -> Iterator[tuple[int, list[str]]]:
    """(pid, ``/proc/PID/stat`` fields after "pid (comm) ") of every live process in session
    ``sid`` (the server and its workers): state ppid pgrp session … utime stime …"""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == sid:
            yield int(entry), fields


def is_check_worker(pid: int) -> bool:
    """Whether ``pid`` is one of the hub's verification workers (a multiprocessing child)
    rather than a server process (``hub serve`` or one of its ``--workers``, forked)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"multiprocessing" in fh.read()
    except OSError:
        return False


def session_cpu_seconds(sid: int) -> tuple[float, int, float]:
    """utime + stime of every live process in session ``sid`` (the server and its workers),
    how many there are, and the part of the server processes alone (the event loop and the
    store's threads, without the verification workers). Reaped children are not counted:
    read this while they live."""
    total, count, server = 0.0, 0, 0.0
    for pid, fields in session_stats(sid):
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (14th, 15th)
        total += cpu
        count += 1
        if not is_check_worker(pid):
            server += cpu
    return total, count, server


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as session:
        while loop.time() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"hub serve exited with {proc.returncode}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(f"{url}/readyz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise SystemExit("hub serve did not become ready")


async def submit_all(
    url: str,
    tokens: dict[str, str],
    packages: list[tuple[str, bytes]],
    concurrency: int,
    on_start: Callable[[], None] = lambda: None,
    expect: set[tuple[str, str]] | None = None,
    rate: float | None = None,
) -> tuple[list[float], int, float]:
    """Submit everything with ``concurrency`` workers (closed loop), or — ``rate`` given — one
    package every ``1/rate`` seconds whatever the answers (open loop, as many in flight as it
    takes); (latencies, failures, wall seconds)."""
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for item in packages:
        queue.put_nowait(item)
    latencies: list[float] = []
    failures = 0
    connector = aiohttp.TCPConnector(limit=concurrency if rate is None else 0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def send(sender: str, data: bytes) -> None:
            nonlocal failures
            headers = {
                "Authorization": f"Bearer {tokens[sender]}",
                "Content-Type": "application/xml",
            }
            t0 = time.perf_counter()
            async with session.post(f"{url}/v1/packages", data=data, headers=headers) as r:
                body = await r.read()
                ok = r.status == 202
            latency = time.perf_counter() - t0
            if ok:
                latencies.append(latency)
                if expect is not None:
                    # The receipt names the recipients after routing (copies included).
                    facts = parse_receipt(etree.fromstring(body))
                    for recipient in facts.recipients:
                        expect.add((facts.package_id, recipient))
            else:
                failures += 1
                print(f"refused: HTTP {r.status} {body[:300]!r}", file=sys.stderr)

        async def worker() -> None:
            while not queue.empty():
                await send(*queue.get_nowait())

        async def paced(per_second: float) -> None:
            sent: list[asyncio.Task[None]] = []
            for i, (sender, data) in enumerate(packages):
                delay = start + i / per_second - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent.append(asyncio.create_task(send(sender, data)))
            await asyncio.gather(*sent)

        on_start()
        start = time.perf_counter()
        if rate is None:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        else:
            await paced(rate)
        wall = time.perf_counter() - start
    return latencies, failures, wall


#: How the pull agencies take their packages: ``batch`` (``GET /v1/inbox/packages`` with the
#: bytes of up to 100 waiting packages, then one ``POST /v1/inbox/acks``) or ``single`` (an
#: inbox page, then ``GET /v1/packages/{id}`` and ``POST …/ack`` per package).
PULL_MODES = ("batch", "single")
#: The batch pullers' ``limit``, and their pause after a batch that was not full.
BATCH_LIMIT = 100
BATCH_PAUSE = float(os.environ.get("BENCH_BATCH_PAUSE", "0.05"))


async def pull_all(
    url: str,
    organ_id: str,
    token: str,
    acked: dict[tuple[str, str], float],
    stop: asyncio.Event,
    parallel: int = 1,
    mode: str = "batch",
) -> None:
    """One pull agency: take every waiting package, ack it; record when.

    ``mode`` ``single``: poll the inbox, fetch each package, ack it; ``parallel``: packages
    of an inbox page fetched and acked at once (an agency system with that many workers; 1:
    one after the other). ``batch``: fetch a batch with the bytes, ack it in one request,
    again (``parallel`` is not used: every batch starts at the oldest unacknowledged)."""
    headers = {"Authorization": f"Bearer {token}"}
    gate = asyncio.Semaphore(parallel)
    async with aiohttp.ClientSession(headers=headers) as session:
        if mode == "batch":
            while not stop.is_set():
                ids = await _fetch_batch(session, url)
                if ids:
                    async with session.post(f"{url}/v1/inbox/acks", json={"ids": ids}) as r:
                        answer = await r.json() if r.status == 200 else {"items": []}
                    now = time.perf_counter()
                    for item in answer["items"]:
                        if "code" not in item:
                            acked.setdefault((item["id"], organ_id), now)
                if len(ids) < BATCH_LIMIT:
                    # Nothing more waited when this batch was taken: poll again in a while,
                    # as an agency system would, rather than at once for one package.
                    await asyncio.sleep(BATCH_PAUSE)
            return

        async def take(package_id: str) -> None:
            async with gate:
                async with session.get(f"{url}/v1/packages/{package_id}") as r:
                    await r.read()
                async with session.post(f"{url}/v1/packages/{package_id}/ack") as r:
                    if r.status == 200:
                        acked.setdefault((package_id, organ_id), time.perf_counter())

        while not stop.is_set():
            async with session.get(f"{url}/v1/inbox", params={"limit": "100"}) as r:
                items = (await r.json())["items"] if r.status == 200 else []
            await asyncio.gather(*(take(item["id"]) for item in items))
            if not items:
                await asyncio.sleep(0.05)


async def _fetch_batch(session: aiohttp.ClientSession, url: str) -> list[str]:
    """The ids of one ``GET /v1/inbox/packages`` answer, every part read in full."""
    async with session.get(f"{url}/v1/inbox/packages", params={"limit": str(BATCH_LIMIT)}) as r:
        if r.status != 200:
            return []
        ids = []
        reader = aiohttp.MultipartReader.from_response(r)
        while (part := await reader.next()) is not None:
            assert isinstance(part, aiohttp.BodyPartReader)
            await part.read()
            ids.append(part.headers["Hub-Package-Id"])
        return ids


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def lone_summary(latencies: list[float]) -> dict[str, float] | None:
    """A lone client's latencies (seconds) as n, p50 and p99 in ms; None without any."""
    if not latencies:
        return None
    return {
        "n": len(latencies),
        "p50": 1000 * percentile(latencies, 0.50),
        "p99": 1000 * percentile(latencies, 0.99),
    }


def start_hub(
    workdir: Workdir, port: int, *extra: str
) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """``hub serve`` on ``port`` in its own process group, logging to ``hub.log`` in the
    workdir; stop it with :func:`stop_hub`."""
    log = (workdir.root / "hub.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hub.cli",
            "--log-level",
            "WARNING",
            "serve",
            "--config",
            str(workdir.config_dir),
            "--port",
            str(port),
            *extra,
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    return proc, log


def stop_hub(proc: subprocess.Popen[bytes], log: IO[bytes], *, timeout: float) -> None:
    """SIGTERM to the hub's process group, SIGKILL after ``timeout`` seconds; close its log."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()


async def http_run(
    workdir: Workdir,
    port: int,
    packages: list[tuple[str, bytes]],
    warmup: int,
    concurrency: int,
    workers: int = 1,
    single: list[tuple[str, bytes]] | None = None,
    backlog: int = 0,
    rate: float | None = None,
    pull_mode: str = "batch",
) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}"
    seeded_s = await seed_backlog(workdir, backlog, BACKLOG_AGENCY) if backlog else 0.0
    proc, log = start_hub(workdir, port, "--workers", str(workers))
    try:
        await wait_ready(url, proc)
        tokens = {s: workdir.token(s) for s in SENDERS}
        # Warm-up (not measured): spawns the verification workers, fills caches.
        await submit_all(url, tokens, packages[:warmup], concurrency)
        measured = packages[warmup:]
        single_latencies: list[float] = []
        before: dict[str, float] = {}

        def snapshot() -> None:
            before["hub"], before["procs"], before["server"] = session_cpu_seconds(proc.pid)
            before["self"] = self_cpu_seconds()

        # Pull agencies fetch and ack everything, warm-up included; delivered/s counts the
        # measured packages' deliveries, from the first submission to the last first ack.
        acked: dict[tuple[str, str], float] = {}
        stop = asyncio.Event()
        pullers = [
            asyncio.create_task(
                pull_all(url, a.organ_id, workdir.token(a.organ_id), acked, stop, mode=pull_mode)
            )
            for a in DEFAULT_AGENCIES
            if not (backlog and a.organ_id == BACKLOG_AGENCY)  # its backlog stays waiting
        ]
        expect: set[tuple[str, str]] = set()
        t_start = time.perf_counter()
        latencies, failures, wall = await submit_all(
            url, tokens, measured, concurrency, snapshot, expect, rate
        )
        hub_after, procs, server_after = session_cpu_seconds(proc.pid)
        self_after = self_cpu_seconds()
        deadline = time.perf_counter() + 300
        while not expect <= acked.keys() and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        # The same, up to the last ack: every measured package accepted *and delivered*
        # (issue 12's "per accepted and delivered package"), whatever the accept rate left
        # for the pullers to do after the last submission.
        hub_delivered, _, server_delivered = session_cpu_seconds(proc.pid)
        half = len(single or []) // 2
        if single:
            # One client alone (the concurrent run delivered): first half while the pullers
            # keep polling, fetching and acking its packages ...
            single_latencies, _, _ = await submit_all(url, tokens, single[:half], 1)
        stop.set()
        await asyncio.gather(*pullers, return_exceptions=True)
        quiet_latencies: list[float] = []
        if single:
            # ... second half with nothing else going on (the pullers stopped).
            quiet_latencies, _, _ = await submit_all(url, tokens, single[half:], 1)
        done = [acked[k] for k in expect if k in acked]
        delivered_wall = (max(done) - t_start) if done else float("nan")
        # Whole packages: one counts once every one of its deliveries is acked.
        measured_ids = {package_id for package_id, _ in expect}
        unfinished = {
            package_id for package_id, organ in expect if (package_id, organ) not in acked
        }
        whole = len(measured_ids - unfinished)
    finally:
        stop_hub(proc, log, timeout=30)
    hub_cpu = hub_after - before["hub"]
    server_cpu = server_after - before["server"]
    return {
        "workers": workers,
        "offered_rate": rate,
        "backlog": backlog,
        "backlog_seed_s": seeded_s,
        "deliveries": len(expect),
        "delivered": len(done),
        "delivered_per_s": len(done) / delivered_wall,
        "pull_mode": pull_mode,
        "packages_delivered": whole,
        "delivered_packages_per_s": whole / delivered_wall,
        "accepted": len(latencies),
        "failed": failures,
        "wall_s": wall,
        "accepted_per_s": len(latencies) / wall,
        "latency_ms": {
            "p50": 1000 * percentile(latencies, 0.50),
            "p95": 1000 * percentile(latencies, 0.95),
            "p99": 1000 * percentile(latencies, 0.99),
            "mean": 1000 * statistics.fmean(latencies),
        },
        "hub_processes": procs,
        "hub_cpu_s": hub_cpu,
        "hub_cores_used": hub_cpu / wall,
        "accepted_per_s_per_core": len(latencies) / hub_cpu if hub_cpu else float("nan"),
        "hub_cpu_ms_per_package": 1000 * hub_cpu / max(1, len(latencies)),
        "server_cpu_s": server_cpu,
        "server_cpu_ms_per_package": 1000 * server_cpu / max(1, len(latencies)),
        "hub_cpu_ms_per_delivered_package": 1000
        * (hub_delivered - before["hub"])
        / max(1, len(latencies)),
        "server_cpu_ms_per_delivered_package": 1000
        * (server_delivered - before["server"])
        / max(1, len(latencies)),
        "loadgen_cores_used": (self_after - before["self"]) / wall,
        "single_client_latency_ms": lone_summary(single_latencies),
        "single_client_quiet_latency_ms": lone_summary(quiet_latencies),
    }


# -- configurations ---------------------------------------------------------------------------

PG_URL = os.environ.get("HUB_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def prepare(
    label: str, store: str, broker: str, store_url: str | None, broker_url: str | None
) -> dict[str, str]:
    """``create_workdir`` options for a run on fresh storage: a new PostgreSQL schema, a new
    RabbitMQ vhost (through ``rabbitmqctl``, when no --broker-url is given)."""
    options = {"store": store, "broker": broker}
    tag = f"bench_{label}_{os.getpid()}"
    if store == "postgresql":
        options |= {"store_url": store_url or PG_URL, "store_schema": tag}
    if broker == "rabbitmq":
        if broker_url:
            options["broker_url"] = broker_url
        else:
            vhost = tag.replace("_", "-")
            for cmd in (
                ["add_vhost", vhost],
                ["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
            ):
                subprocess.run(["rabbitmqctl", "-q", *cmd], check=True, capture_output=True)
            options["broker_url"] = AMQP_URL + vhost
    return options


def cleanup(options: dict[str, str]) -> None:
    """Drop the run's schema and vhost."""
    if "store_schema" in options:
        import psycopg
        from psycopg import sql

        with psycopg.connect(options["store_url"], autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(options["store_schema"])
                )
            )
    url = options.get("broker_url", "")
    if url.startswith(AMQP_URL) and url != AMQP_URL:
        vhost = url.removeprefix(AMQP_URL)
        subprocess.run(
            ["rabbitmqctl", "-q", "delete_vhost", vhost], check=False, capture_output=True
        )


# -- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", type=int, default=600, help="measured packages")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument(
        "--processes", type=int, default=0, help="[ingest] processes (0: one per core)"
    )
    parser.add_argument("--size", type=int, default=20_000, help="package size in bytes")
    parser.add_argument("--warmup", type=int, default=40, help="unmeasured packages first")
    parser.add_argument("--seed", type=int, default=2015)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--broker", choices=("local", "rabbitmq"), default="local")
    parser.add_argument("--store-url", default=None, help=f"PostgreSQL (default {PG_URL})")
    parser.add_argument("--broker-url", default=None, help="AMQP URL (default: a new vhost)")
    parser.add_argument("--workers", type=int, default=1, help="hub serve --workers N")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="run embedded (1 worker), RabbitMQ+PostgreSQL with 1 and with 2 workers, in turn",
    )
    parser.add_argument(
        "--bare-processes", type=int, default=2, help="processes of the bare-checks pool"
    )
    parser.add_argument(
        "--single",
        type=int,
        default=200,
        help="packages then submitted by one client alone (half with the pullers on)",
    )
    parser.add_argument(
        "--backlog",
        type=int,
        default=0,
        help=f"packages seeded through the store into {BACKLOG_AGENCY}'s inbox first",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="submit one package every 1/RATE s (open loop) instead of --concurrency clients",
    )
    parser.add_argument(
        "--pull-mode",
        choices=PULL_MODES,
        default="batch",
        help="how the pull agencies take packages: batch fetch + batch ack, or one by one",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workdir")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    port = free_port()
    print(f"workdir {tmp} (dev PKI, {len(DEFAULT_AGENCIES)} agencies) …", flush=True)
    agencies = tuple(AgencySpec(a.organ_id, a.name) for a in DEFAULT_AGENCIES)  # all pull
    workdir = create_workdir(tmp, agencies, port=port, ingest_processes=args.processes)
    t0 = time.perf_counter()
    everything = make_packages(
        workdir,
        args.packages + args.warmup + args.single,
        args.size,
        args.seed,
        exclude=(BACKLOG_AGENCY,) if args.backlog else (),
    )
    packages, single = (
        everything[: len(everything) - args.single],
        everything[len(everything) - args.single :],
    )
    sizes = [len(d) for _, d in packages]
    assert len({hashlib.sha256(d).digest() for _, d in everything}) == len(everything)
    print(
        f"signed {len(everything)} packages of {min(sizes):,}–{max(sizes):,} bytes "
        f"in {time.perf_counter() - t0:.1f}s",
        flush=True,
    )

    config = load_config(workdir.config_dir)
    options = checks.CheckOptions(
        max_size=config.settings.max_package_bytes,
        trust_anchors=config.settings.trust_anchors,
        allow_legacy=config.settings.allow_legacy_signatures,
    )
    bare = bare_checks([d for _, d in packages[args.warmup :]], options)
    receipts = bare_receipts(workdir, min(500, args.packages))
    pool = bare_pool([d for _, d in packages[args.warmup :]], args.bare_processes)
    if args.compare:
        runs = [
            ("embedded", "sqlite", "local", 1),
            ("rmq_pg_1", "postgresql", "rabbitmq", 1),
            ("rmq_pg_2", "postgresql", "rabbitmq", 2),
        ]
    else:
        runs = [("run", args.store, args.broker, args.workers)]
    results: dict[str, dict[str, Any]] = {}
    for label, store, broker, n_workers in runs:
        backend = prepare(label, store, broker, args.store_url, args.broker_url)
        shutil.rmtree(workdir.data_dir, ignore_errors=True)
        wd = create_workdir(
            tmp,
            agencies,
            port=port,
            ingest_processes=args.processes,
            **backend,  # type: ignore[arg-type]
        )
        print(f"{label}: {store} + {broker}, {n_workers} worker(s) …", flush=True)
        try:
            results[label] = asyncio.run(
                http_run(
                    wd,
                    port,
                    packages,
                    args.warmup,
                    args.concurrency,
                    n_workers,
                    single,
                    args.backlog,
                    args.rate,
                    args.pull_mode,
                )
            )
        finally:
            cleanup(backend)
    cores = os.cpu_count() or 1
    per_worker = cores if args.processes == 0 else max(0, args.processes)

    result = {
        "machine": {"cores": cores, "python": sys.version.split()[0]},
        "packages": args.packages,
        "package_bytes": {"min": min(sizes), "max": max(sizes), "mean": statistics.fmean(sizes)},
        "concurrency": args.concurrency,
        "processes": args.processes,
        "verification_workers": per_worker,
        "http": results if args.compare else results["run"],
        "bare_checks": bare,
        "bare_pool": pool,
        "bare_receipts": receipts,
        "backlog": args.backlog,
    }
    print(
        f"\n{args.packages} packages × ~{statistics.fmean(sizes):,.0f} B, "
        + (f"{args.rate:g}/s offered" if args.rate else f"{args.concurrency} clients")
        + f", {cores} cores; bare check_package {bare['packages_per_s']:,.0f}/s "
        f"({bare['ms_per_package']:.2f} ms CPU); bare parse+XSD+signature on "
        f"{pool['processes']} processes {pool['packages_per_s']:,.0f}/s"
        + (
            f"; backlog {args.backlog:,} waiting in {BACKLOG_AGENCY}'s inbox"
            if args.backlog
            else ""
        )
    )
    # The floor: a check and a receipt signature per package, on every core, nothing else.
    floor_ms = bare["ms_per_package"] + receipts["ms_per_receipt"]
    ceiling = 1000 * cores / floor_ms
    print(
        f"floor: check_package {bare['ms_per_package']:.2f} + receipt signature "
        f"{receipts['ms_per_receipt']:.2f} = {floor_ms:.2f} ms/package → at most "
        f"{ceiling:,.0f} accepted/s on {cores} cores if the hub cost nothing else "
        f"({100 * ceiling / pool['packages_per_s']:.0f} % of the bare pool)"
    )
    rows = [("", *results)]
    for key, fmt in (
        ("accepted/s", lambda h: f"{h['accepted_per_s']:,.1f} ({h['failed']} failed)"),
        (
            "accepted/s ÷ bare pool",
            lambda h: f"{100 * h['accepted_per_s'] / pool['packages_per_s']:.1f} %",
        ),
        ("delivered/s (pulled+acked)", lambda h: f"{h['delivered_per_s']:,.1f}"),
        ("deliveries", lambda h: f"{h['delivered']}/{h['deliveries']}"),
        (
            f"whole packages delivered/s ({args.pull_mode} pull) ÷ accepted/s",
            lambda h: (
                f"{h['delivered_packages_per_s']:,.1f} "
                f"({h['delivered_packages_per_s'] / h['accepted_per_s']:.2f})"
            ),
        ),
        (
            "latency p50/p95/p99 ms",
            lambda h: "{p50:.0f} / {p95:.0f} / {p99:.0f}".format(**h["latency_ms"]),
        ),
        ("hub CPU, cores", lambda h: f"{h['hub_cores_used']:.2f}"),
        ("accepted/s per hub core", lambda h: f"{h['accepted_per_s_per_core']:,.1f}"),
        (
            "hub CPU ms/package (check_package)",
            lambda h: f"{h['hub_cpu_ms_per_package']:.1f} ({bare['ms_per_package']:.1f})",
        ),
        (
            "server process(es) CPU ms/package",
            lambda h: f"{h['server_cpu_ms_per_package']:.2f}",
        ),
        (
            "to the last ack: hub / server ms/package",
            lambda h: (
                f"{h['hub_cpu_ms_per_delivered_package']:.2f} / "
                f"{h['server_cpu_ms_per_delivered_package']:.2f}"
            ),
        ),
        (
            "one client p50/p99 ms, pullers on",
            lambda h: (
                "{p50:.1f} / {p99:.1f} (n={n})".format(**h["single_client_latency_ms"])
                if h["single_client_latency_ms"]
                else "-"
            ),
        ),
        (
            "one client p50/p99 ms, nothing else",
            lambda h: (
                "{p50:.1f} / {p99:.1f} (n={n})".format(**h["single_client_quiet_latency_ms"])
                if h.get("single_client_quiet_latency_ms")
                else "-"
            ),
        ),
        ("load generator, cores", lambda h: f"{h['loadgen_cores_used']:.2f}"),
    ):
        rows.append((key, *(fmt(h) for h in results.values())))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(f"{c!s:<{w}}" for c, w in zip(row, widths, strict=True)))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
