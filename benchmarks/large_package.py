"""Large-package benchmark: the memory a real ``hub serve`` needs to accept one big package.

Run: .venv/bin/python benchmarks/large_package.py [--mib 100] [--processes 0] [--json FILE]

A temporary workdir (dev PKI, the eight demo agencies, all pull) with ``[limits]
max_package_bytes`` raised above the package size; ``hub serve`` as a subprocess in its own
session (embedded default: SQLite store, local broker, one check worker per core). One signed
document whose single attachment (a ZIP of random bytes: scanned pages do not compress) makes
the whole package ``--mib`` MiB.

Memory, for every process of the hub's session (the server, its check workers and the
multiprocessing resource tracker), from ``/proc/<pid>/status``:

1. warm-up: a few small packages, so the check workers exist and their caches are built;
2. idle baseline: ``VmRSS`` of each process once the hub is quiet; then each process's peak
   (``VmHWM``) is reset to its current RSS by writing ``5`` to ``/proc/<pid>/clear_refs``;
3. the big package is submitted (``POST /v1/packages``, ``202`` awaited);
4. **sum of peaks**: Σ (``VmHWM`` − idle ``VmRSS``) over the processes. The peaks of different
   processes need not coincide, so this is an upper bound of the hub's peak;
   **peak of the sum**: the largest Σ ``VmRSS`` − Σ idle seen by a sampler reading every
   process's ``/proc/<pid>/status`` every few milliseconds (a lower bound: it can miss a
   short spike). Both are divided by the package size.

The recipient then fetches the package and the SHA-256 of the fetched bytes is compared
(not part of the memory figure).
"""

# ruff: noqa: E402  (imports after the sys.path line, as in ingest.py)

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp

from benchmarks.ingest import free_port, session_stats, start_hub, stop_hub, wait_ready
from hub.demo.factory import Signer, document
from hub.demo.workdir import DEFAULT_AGENCIES, AgencySpec, Workdir, create_workdir
from hub.edxml import Organ
from hub.edxml.schema import SIGNATURE_PARENT
from signing import sign_enveloped
from signing.pki import load_certificates, load_private_key

SENDER = "000.00.00.G22"
RECIPIENT = "000.00.00.H41"
MIB = 1024 * 1024


class BigSigner(Signer):
    """The demo signer with the signing size limit raised (it defaults to 64 MiB)."""

    def sign(self, data: bytes) -> bytes:
        return sign_enveloped(
            data,
            self.key,  # type: ignore[arg-type]
            self.certificate,
            signature_parent=SIGNATURE_PARENT,
            max_bytes=len(data) + MIB,
        )


def signer_for(workdir: Workdir, organ_id: str) -> BigSigner:
    issued = workdir.agencies[organ_id]
    return BigSigner(
        organ_id=organ_id,
        name=organ_id,
        key=load_private_key(issued.key_path),  # type: ignore[arg-type]
        certificate=load_certificates(issued.cert_path)[0],
    )


def big_package(signer: BigSigner, target: int) -> bytes:
    """A signed document with one attachment, ``target`` bytes give or take a few KB."""
    to = [Organ(organ_id=RECIPIENT, organ_name=RECIPIENT)]
    base = len(document(signer, to, number=1, attachment_size=0)[1])
    size = (target - base) * 3 // 4  # base64 is 4/3 of the (incompressible) ZIP
    data = document(signer, to, number=1, attachment_size=size)[1]
    size += (target - len(data)) * 3 // 4  # correct for the ZIP's own overhead once
    return document(signer, to, number=1, attachment_size=size)[1]


# -- /proc --------------------------------------------------------------------------------------


def session_pids(sid: int) -> list[int]:
    """Every live process in session ``sid`` (the server and its children)."""
    return sorted(pid for pid, _ in session_stats(sid))


def status_kib(pid: int, field: str) -> int:
    """A ``kB`` field of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``), 0 if gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


def role_of(pid: int, server: int) -> str:
    """What a process of the hub's session is, from its command line."""
    if pid == server:
        return "server"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            raw = fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"
    if "resource_tracker" in raw:
        return "resource tracker"
    if "spawn_main" in raw:
        return "check worker"
    return raw[:40]


def reset_peak(pid: int) -> None:
    """Reset ``VmHWM`` to the current RSS (Linux ≥ 4.0, own processes)."""
    with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as fh:
        fh.write("5")


class Sampler(threading.Thread):
    """Σ VmRSS over ``pids``, as often as it can: the largest sum seen."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peak_kib = 0
        self.samples = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            total = sum(status_kib(p, "VmRSS") for p in self.pids)
            self.peak_kib = max(self.peak_kib, total)
            self.samples += 1
            self._done.wait(0.002)

    def stop(self) -> None:
        self._done.set()
        self.join()


# -- the run ------------------------------------------------------------------------------------


async def submit(
    session: aiohttp.ClientSession, url: str, token: str, data: bytes
) -> tuple[int, bytes, str]:
    """(HTTP status, body, Hub-Package-Id)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/xml"}
    async with session.post(f"{url}/v1/packages", data=data, headers=headers) as resp:
        return resp.status, await resp.read(), resp.headers.get("Hub-Package-Id", "")


async def run(workdir: Workdir, port: int, big: bytes, small: list[bytes]) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}"
    proc, log = start_hub(workdir, port)
    timeout = aiohttp.ClientTimeout(total=600)
    try:
        await wait_ready(url, proc)
        token = workdir.token(SENDER)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            # Warm-up: concurrent small packages spawn every check worker.
            for status, body, _ in await asyncio.gather(
                *(submit(session, url, token, d) for d in small)
            ):
                if status != 202:
                    raise SystemExit(f"warm-up refused: HTTP {status} {body[:300]!r}")
            await asyncio.sleep(2.0)  # let the hub settle (dispatcher, group commit)
            pids = session_pids(proc.pid)
            roles = {p: role_of(p, proc.pid) for p in pids}
            idle = {p: status_kib(p, "VmRSS") for p in pids}
            for p in pids:
                reset_peak(p)
            sampler = Sampler(pids)
            sampler.start()
            t0 = time.perf_counter()
            status, body, package_id = await submit(session, url, token, big)
            elapsed = time.perf_counter() - t0
            sampler.stop()
            if status != 202:
                raise SystemExit(f"refused: HTTP {status} {body[:500]!r}")
            peaks = {p: status_kib(p, "VmHWM") for p in pids}
            # The recipient fetches identical bytes (not part of the memory figure).
            headers = {"Authorization": f"Bearer {workdir.token(RECIPIENT)}"}
            async with session.get(f"{url}/v1/packages/{package_id}", headers=headers) as resp:
                fetched = await resp.read()
            identical = hashlib.sha256(fetched).digest() == hashlib.sha256(big).digest()
    finally:
        stop_hub(proc, log, timeout=60)
    size = len(big)
    processes = [
        {
            "pid": p,
            "role": roles[p],
            "idle_rss_mib": idle[p] / 1024,
            "peak_rss_mib": peaks[p] / 1024,
            "above_idle_mib": max(0, peaks[p] - idle[p]) / 1024,
        }
        for p in pids
    ]
    sum_of_peaks = sum(max(0, peaks[p] - idle[p]) for p in pids) * 1024
    peak_of_sum = max(0, sampler.peak_kib - sum(idle.values())) * 1024
    return {
        "package_bytes": size,
        "accept_seconds": elapsed,
        "processes": processes,
        "sum_of_peaks_bytes": sum_of_peaks,
        "sum_of_peaks_x": sum_of_peaks / size,
        "peak_of_sum_bytes": peak_of_sum,
        "peak_of_sum_x": peak_of_sum / size,
        "sampler_samples": sampler.samples,
        "fetched_identical": identical,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=float, default=100.0, help="package size in MiB")
    parser.add_argument(
        "--processes", type=int, default=0, help="[ingest] processes (0: one per core)"
    )
    parser.add_argument("--port", type=int, default=0, help="hub port (default: a free one)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workdir")
    args = parser.parse_args()

    target = int(args.mib * MIB)
    tmp = Path(tempfile.mkdtemp(prefix="hub-bench-large-"))
    port = args.port or free_port()
    agencies = tuple(AgencySpec(a.organ_id, a.name) for a in DEFAULT_AGENCIES)  # all pull
    workdir = create_workdir(
        tmp,
        agencies,
        port=port,
        ingest_processes=args.processes,
        max_package_bytes=target + 4 * MIB,
    )
    signer = signer_for(workdir, SENDER)
    t0 = time.perf_counter()
    big = big_package(signer, target)
    to = [Organ(organ_id=RECIPIENT, organ_name=RECIPIENT)]
    small = [document(signer, to, number=100 + i)[1] for i in range(6)]
    print(
        f"workdir {tmp}; signed {len(big):,} bytes in {time.perf_counter() - t0:.1f}s", flush=True
    )
    try:
        result = asyncio.run(run(workdir, port, big, small))
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    result["machine"] = {"cores": os.cpu_count(), "python": sys.version.split()[0]}
    mib = result["package_bytes"] / MIB
    print(
        f"\none package of {result['package_bytes']:,} bytes ({mib:.1f} MiB), accepted in "
        f"{result['accept_seconds']:.1f}s; fetched bytes identical: {result['fetched_identical']}"
    )
    for p in result["processes"]:
        print(
            f"  {p['role']:<16} pid {p['pid']:<8} idle {p['idle_rss_mib']:8.1f} MiB  "
            f"peak {p['peak_rss_mib']:8.1f} MiB  (+{p['above_idle_mib']:.1f})"
        )
    print(
        f"sum of per-process peaks above idle: {result['sum_of_peaks_bytes'] / MIB:,.1f} MiB "
        f"= {result['sum_of_peaks_x']:.2f}× the package"
    )
    print(
        f"peak of the summed RSS above idle (sampled, {result['sampler_samples']} samples): "
        f"{result['peak_of_sum_bytes'] / MIB:,.1f} MiB = {result['peak_of_sum_x']:.2f}× the package"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
