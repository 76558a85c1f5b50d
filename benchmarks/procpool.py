"""The verification workers' round trip: ``concurrent.futures.ProcessPoolExecutor`` against
:class:`hub.procpool.ProcessPool`, on the hub's real check of signed ~20 KB packages.

Run: .venv/bin/python benchmarks/procpool.py [--packages N] [--processes P] [--rounds R]

Both pools run ``check_package_for_ingest`` in ``--processes`` spawned workers (initialised as
the hub's are). Measured, alternating pool by pool for ``--rounds`` rounds:

* **lone calls**: one call at a time (a lone client), p50/p90 ms;
* **all at once**: every package submitted together, packages/s and this process's CPU per
  call (what the server's loop and its helper threads spend on a round trip);
* both again with the **event loop busy** (a task that spins 1 ms, sleeps 1 ms: the server's
  loop answering agencies), where the executor's helper threads wait for the GIL.

It prints one line per measurement and the check's own time inline for reference.
"""

# ruff: noqa: E402  (imports after the sys.path line, as in ingest.py)

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ingest import make_packages

from hub.config import load_config
from hub.demo.workdir import DEFAULT_AGENCIES, AgencySpec, create_workdir
from hub.pipeline.checks import CheckOptions, check_package_for_ingest
from hub.pipeline.executor import _init_worker
from hub.procpool import ProcessPool

Call = Callable[[bytes], Awaitable[object]]


async def busy(stop: asyncio.Event) -> None:
    """Keep the loop's thread half busy, in 1 ms slices."""
    while not stop.is_set():
        t = time.perf_counter()
        while time.perf_counter() - t < 0.001:
            pass
        await asyncio.sleep(0.001)


async def lone(call: Call, packages: list[bytes]) -> tuple[float, float]:
    times = []
    for data in packages:
        t = time.perf_counter()
        await call(data)
        times.append(1000 * (time.perf_counter() - t))
    times.sort()
    return times[len(times) // 2], times[int(0.9 * len(times))]


async def together(call: Call, packages: list[bytes]) -> tuple[float, float]:
    """Packages/s, and this process's CPU ms per call (the loop's side of the round trip,
    helper threads included)."""
    t, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(call(d) for d in packages))
    n = len(packages)
    return n / (time.perf_counter() - t), 1000 * (time.process_time() - cpu) / n


async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="hub-procpool-"))
    agencies = tuple(AgencySpec(a.organ_id, a.name) for a in DEFAULT_AGENCIES)
    workdir = create_workdir(tmp, agencies, port=1, ingest_processes=args.processes)
    packages = [d for _, d in make_packages(workdir, args.packages + 40, 20_000, 2015)]
    settings = load_config(workdir.config_dir).settings
    options = CheckOptions(
        max_size=settings.max_package_bytes,
        trust_anchors=settings.trust_anchors,
        allow_legacy=settings.allow_legacy_signatures,
    )
    now = datetime.now(UTC)
    t = time.perf_counter()
    for data in packages[:100]:
        check_package_for_ingest(data, now, options, None)
    inline = 1000 * (time.perf_counter() - t) / 100
    print(f"check_package_for_ingest inline: {inline:.2f} ms", flush=True)

    loop = asyncio.get_running_loop()
    executor = ProcessPoolExecutor(
        args.processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(options, None, ()),
    )
    pool = ProcessPool(args.processes, initializer=_init_worker, initargs=(options, None, ()))

    async def via_executor(data: bytes) -> object:
        return await loop.run_in_executor(
            executor, check_package_for_ingest, data, now, options, None
        )

    async def via_pool(data: bytes) -> object:
        return await pool.call(check_package_for_ingest, data, now, options, None)

    calls: dict[str, Call] = {"ProcessPoolExecutor": via_executor, "ProcessPool": via_pool}
    try:
        for call in calls.values():  # spawn and warm every worker
            await together(call, packages[:40])
        measured = packages[40:]
        for loaded in (False, True):
            stop = asyncio.Event()
            spinner = asyncio.create_task(busy(stop)) if loaded else None
            label = "loop busy" if loaded else "loop idle"
            for _ in range(args.rounds):
                for name, call in calls.items():
                    p50, p90 = await lone(call, measured)
                    rate, cpu = await together(call, measured)
                    print(
                        f"{label:9s}  {name:19s}  lone p50 {p50:5.2f} ms  p90 {p90:5.2f} ms"
                        f"   all at once {rate:6.0f}/s, server CPU {cpu:.3f} ms a call",
                        flush=True,
                    )
            if spinner is not None:
                stop.set()
                await spinner
    finally:
        executor.shutdown()
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", type=int, default=300)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
