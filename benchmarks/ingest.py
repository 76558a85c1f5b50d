"""Ingest benchmark: signed ~20 KB edXML packages through a real ``hub serve`` over HTTP.

Run: .venv/bin/python benchmarks/ingest.py [--packages N] [--concurrency C] [--processes P]
     [--size BYTES] [--json FILE]

In one run it measures, on the same packages:

* **HTTP**: a temporary workdir, ``hub serve`` as a subprocess (``--processes 0`` = one
  verification worker per core, the default configuration), ``C`` concurrent aiohttp clients
  submitting ``N`` pre-signed packages from several agencies: accepted packages/s and latency
  p50/p95/p99, plus the CPU time of the hub's processes (server and workers, from
  ``/proc/<pid>/stat``) as cores used, and of this load generator (it shares the machine);
* **bare checks**: ``hub.pipeline.checks.check_package`` in a loop in this process (parse,
  XSD, signature and certificate path, models), packages/s and the share of each step.
"""

# ruff: noqa: E402  (imports after the sys.path line, as in verify.py)

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp

from hub.config import load_config
from hub.demo.factory import Signer, document
from hub.demo.workdir import DEFAULT_AGENCIES, AgencySpec, Workdir, create_workdir
from hub.edxml import Organ
from hub.pipeline import checks
from signing.pki import load_certificates, load_private_key

SENDERS = ("000.00.00.G22", "000.00.00.H14", "000.00.00.H29", "000.00.00.G17", "000.00.00.H12")
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


def make_packages(workdir: Workdir, n: int, target: int, seed: int) -> list[tuple[str, bytes]]:
    """``n`` signed documents, round-robin over SENDERS, each to two other agencies."""
    rng = random.Random(seed)
    signers = {s: signer_for(workdir, s) for s in SENDERS}
    payload = attachment_size_for(signers[SENDERS[0]], target)
    others = [a.organ_id for a in DEFAULT_AGENCIES]
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
    start = time.perf_counter()
    for data in packages:
        checks.check_package(data, now, options)
    whole = time.perf_counter() - start

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
        "ms_per_package": 1000 * whole / n,
        "parse_ms": 1000 * t_parse / n,
        "schema_ms": 1000 * t_schema / n,
        "signature_and_models_ms": 1000 * t_sig / n,
    }


# -- the hub as a subprocess --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def session_cpu_seconds(sid: int) -> tuple[float, int]:
    """utime + stime of every live process in session ``sid`` (the server and its workers),
    and how many there are. Reaped children are not counted: read this while they live."""
    total, count = 0.0, 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # after "pid (comm) ": state ppid pgrp session ... utime(14th field overall) stime
        if int(fields[3]) != sid:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        count += 1
    return total, count


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
) -> tuple[list[float], int, float]:
    """Submit everything with ``concurrency`` workers; (latencies, failures, wall seconds)."""
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for item in packages:
        queue.put_nowait(item)
    latencies: list[float] = []
    failures = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            nonlocal failures
            while not queue.empty():
                sender, data = queue.get_nowait()
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
                else:
                    failures += 1
                    print(f"refused: HTTP {r.status} {body[:300]!r}", file=sys.stderr)

        on_start()
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return latencies, failures, wall


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def http_run(
    workdir: Workdir, port: int, packages: list[tuple[str, bytes]], warmup: int, concurrency: int
) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}"
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
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        await wait_ready(url, proc)
        tokens = {s: workdir.token(s) for s in SENDERS}
        # Warm-up (not measured): spawns the verification workers, fills caches.
        await submit_all(url, tokens, packages[:warmup], concurrency)
        measured = packages[warmup:]
        before: dict[str, float] = {}

        def snapshot() -> None:
            before["hub"], before["procs"] = session_cpu_seconds(proc.pid)
            before["self"] = self_cpu_seconds()

        latencies, failures, wall = await submit_all(url, tokens, measured, concurrency, snapshot)
        hub_after, procs = session_cpu_seconds(proc.pid)
        self_after = self_cpu_seconds()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    hub_cpu = hub_after - before["hub"]
    return {
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
        "hub_cpu_ms_per_package": 1000 * hub_cpu / max(1, len(latencies)),
        "loadgen_cores_used": (self_after - before["self"]) / wall,
    }


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
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workdir")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    port = free_port()
    print(f"workdir {tmp} (dev PKI, {len(DEFAULT_AGENCIES)} agencies) …", flush=True)
    agencies = tuple(AgencySpec(a.organ_id, a.name) for a in DEFAULT_AGENCIES)  # all pull
    workdir = create_workdir(tmp, agencies, port=port, ingest_processes=args.processes)
    t0 = time.perf_counter()
    packages = make_packages(workdir, args.packages + args.warmup, args.size, args.seed)
    sizes = [len(d) for _, d in packages]
    assert len({hashlib.sha256(d).digest() for _, d in packages}) == len(packages)
    print(
        f"signed {len(packages)} packages of {min(sizes):,}–{max(sizes):,} bytes "
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
    http = asyncio.run(http_run(workdir, port, packages, args.warmup, args.concurrency))
    cores = os.cpu_count() or 1
    workers = cores if args.processes == 0 else max(0, args.processes)

    result = {
        "machine": {"cores": cores, "python": sys.version.split()[0]},
        "packages": args.packages,
        "package_bytes": {"min": min(sizes), "max": max(sizes), "mean": statistics.fmean(sizes)},
        "concurrency": args.concurrency,
        "processes": args.processes,
        "verification_workers": workers,
        "http": http,
        "bare_checks": bare,
    }
    lat = http["latency_ms"]
    rows = [
        ("packages (measured) × size", f"{args.packages} × ~{statistics.fmean(sizes):,.0f} B"),
        ("clients / verification workers", f"{args.concurrency} / {workers} (cores: {cores})"),
        ("HTTP accepted packages/s", f"{http['accepted_per_s']:,.1f} ({http['failed']} failed)"),
        (
            "HTTP latency p50 / p95 / p99",
            f"{lat['p50']:.1f} / {lat['p95']:.1f} / {lat['p99']:.1f} ms",
        ),
        (
            "hub CPU (server + workers)",
            f"{http['hub_cores_used']:.2f} of {cores} cores, "
            f"{http['hub_cpu_ms_per_package']:.1f} ms CPU/package",
        ),
        ("load generator CPU", f"{http['loadgen_cores_used']:.2f} cores"),
        (
            "bare check_package, 1 process",
            f"{bare['packages_per_s']:,.1f} packages/s ({bare['ms_per_package']:.2f} ms)",
        ),
        (
            "  parse / XSD / signature+models",
            f"{bare['parse_ms']:.2f} / {bare['schema_ms']:.2f} / "
            f"{bare['signature_and_models_ms']:.2f} ms",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    print()
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
