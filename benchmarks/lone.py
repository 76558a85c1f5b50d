"""One client alone, two trees side by side: a lone submission's latency and CPU, paired.

Run: .venv/bin/python benchmarks/lone.py --base /path/to/other/tree [--packages N]

A lone client's figures swing with whatever else the machine does (issue 12's targets are
milliseconds; on a shared two-core box the load average moves them by more than a change
does). This starts two ``hub serve`` — this tree and ``--base`` (another checkout with its own
``.venv``), each on its own working directory, both embedded (SQLite, local broker) with the
default verification workers — and submits signed ~20 KB packages **one at a time,
alternating** between them (this tree first on even rounds, ``--base`` first on odd ones), so
both see the same moments of the machine. Nobody fetches: the lone client alone.

It prints, per tree, submit→receipt p50/p90/p99 and mean, the CPU per package of the hub's
processes (the server, and the verification workers) over the measured submissions, and the
median of the paired differences (this tree − base) with the share of pairs this tree won.
"""

# ruff: noqa: E402  (imports after the sys.path line, as in ingest.py)

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import aiohttp
from ingest import SENDERS, free_port, make_packages, session_cpu_seconds, wait_ready

from hub.demo.workdir import DEFAULT_AGENCIES, AgencySpec, Workdir, create_workdir

WARM = 60  # unmeasured: 40 at once (both workers start), then 20 one at a time


@dataclass
class Hub:
    """One tree's ``hub serve`` and what was measured on it."""

    tree: Path
    workdir: Workdir
    packages: list[tuple[str, bytes]]
    proc: subprocess.Popen[bytes]
    log: IO[bytes]
    url: str
    latencies: list[float] = field(default_factory=list)
    cpu: list[tuple[float, int, float]] = field(default_factory=list)


def start(tree: Path, n: int, seed: int) -> Hub:
    """A fresh working directory, ``n`` signed packages, and ``tree``'s ``hub serve`` on it."""
    tmp = Path(tempfile.mkdtemp(prefix="hub-lone-"))
    port = free_port()
    agencies = tuple(AgencySpec(a.organ_id, a.name) for a in DEFAULT_AGENCIES)
    workdir = create_workdir(tmp, agencies, port=port, ingest_processes=0)
    packages = make_packages(workdir, n + WARM, 20_000, seed)
    log = (workdir.root / "hub.log").open("wb")
    proc = subprocess.Popen(
        [
            *(str(tree / ".venv" / "bin" / "python"), "-m", "hub.cli", "--log-level", "WARNING"),
            *("serve", "--config", str(workdir.config_dir), "--port", str(port)),
        ],
        cwd=tree,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    return Hub(tree, workdir, packages, proc, log, f"http://127.0.0.1:{port}")


def stop(hub: Hub) -> None:
    os.killpg(hub.proc.pid, signal.SIGTERM)
    try:
        hub.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(hub.proc.pid, signal.SIGKILL)
        hub.proc.wait()
    hub.log.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(hubs: list[Hub], n: int) -> tuple[float, float]:
    """Warm both hubs up, then ``n`` rounds of one submission to each; the load average's
    range over the rounds."""
    tokens = {h.url: {s: h.workdir.token(s) for s in SENDERS} for h in hubs}
    async with aiohttp.ClientSession() as session:

        async def send(hub: Hub, sender: str, data: bytes) -> float:
            headers = {
                "Authorization": f"Bearer {tokens[hub.url][sender]}",
                "Content-Type": "application/xml",
            }
            t0 = time.perf_counter()
            async with session.post(f"{hub.url}/v1/packages", data=data, headers=headers) as r:
                await r.read()
                if r.status != 202:
                    raise SystemExit(f"{hub.tree}: HTTP {r.status}")
            return time.perf_counter() - t0

        for hub in hubs:
            await asyncio.gather(*(send(hub, s, d) for s, d in hub.packages[:40]))
            for s, d in hub.packages[40:WARM]:
                await send(hub, s, d)
        loads = [os.getloadavg()[0]]
        for hub in hubs:
            hub.cpu.append(session_cpu_seconds(hub.proc.pid))
        for i in range(n):
            for hub in hubs if i % 2 == 0 else hubs[::-1]:
                hub.latencies.append(await send(hub, *hub.packages[WARM + i]))
            if i % 100 == 0:
                loads.append(os.getloadavg()[0])
        for hub in hubs:
            hub.cpu.append(session_cpu_seconds(hub.proc.pid))
        loads.append(os.getloadavg()[0])
    return min(loads), max(loads)


async def run(args: argparse.Namespace) -> None:
    hubs = [
        start(ROOT, args.packages, args.seed),
        start(args.base.resolve(), args.packages, args.seed),
    ]
    try:
        for hub in hubs:
            await wait_ready(hub.url, hub.proc)
        low, high = await measure(hubs, args.packages)
    finally:
        for hub in hubs:
            stop(hub)
            shutil.rmtree(hub.workdir.root, ignore_errors=True)
    for label, hub in zip(("this tree", "base"), hubs, strict=True):
        (total0, _, server0), (total1, _, server1) = hub.cpu
        lat = hub.latencies
        print(
            f"{label:9s} {hub.tree!s:28s} n={len(lat)}  p50 {1000 * percentile(lat, 0.5):5.2f}"
            f" / p90 {1000 * percentile(lat, 0.9):5.2f} / p99 {1000 * percentile(lat, 0.99):5.2f}"
            f" ms, mean {1000 * statistics.fmean(lat):5.2f} ms;  CPU ms/package: server"
            f" {1000 * (server1 - server0) / len(lat):.2f}, workers"
            f" {1000 * ((total1 - server1) - (total0 - server0)) / len(lat):.2f}"
        )
    diffs = [a - b for a, b in zip(hubs[0].latencies, hubs[1].latencies, strict=True)]
    print(
        f"paired (this tree − base): median {1000 * statistics.median(diffs):+.2f} ms, this tree"
        f" faster in {100 * sum(d < 0 for d in diffs) / len(diffs):.0f} % of the pairs;"
        f" load average {low:.2f}–{high:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="the other tree (with .venv)")
    parser.add_argument("--packages", type=int, default=1000, help="measured rounds")
    parser.add_argument("--seed", type=int, default=2015)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
