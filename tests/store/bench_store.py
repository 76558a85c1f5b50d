"""Measure the embedded store and broker (not collected by pytest).

    .venv/bin/python -m tests.store.bench_store [--n 3000]

Figures are quoted in docs/store-and-broker.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from hub.audit.chain import AuditChain
from hub.broker.abc import QueueEntry
from hub.broker.local import LocalBroker
from hub.sqlitedb import Synchronous
from hub.store.batching import GroupCommitter
from hub.store.sqlite import SqliteStore
from tests.contracts.store_contract import new_package

BLOB = 20_000
DELAY = float(os.environ.get("DELAY", "0"))  # GroupCommitter max_delay


def packages(n: int) -> list:  # type: ignore[type-arg]
    return [new_package(data=os.urandom(BLOB)) for _ in range(n)]


async def one_by_one(path: Path, sync: Synchronous, n: int) -> float:
    pkgs = packages(n)
    async with SqliteStore(path, synchronous=sync, chainer=AuditChain()) as store:
        start = time.perf_counter()
        for p in pkgs:
            await store.add_packages([p])
        return n / (time.perf_counter() - start)


async def grouped(path: Path, sync: Synchronous, n: int, concurrency: int) -> tuple[float, float]:
    pkgs = packages(n)
    async with (
        SqliteStore(path, synchronous=sync, chainer=AuditChain()) as store,
        GroupCommitter(store, max_batch=256, max_delay=DELAY) as committer,
    ):
        queue = list(pkgs)

        async def worker() -> None:
            while queue:
                await committer.add(queue.pop())

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        rate = n / (time.perf_counter() - start)
        return rate, committer.stats.packages / max(committer.stats.batches, 1)


async def latency(path: Path, sync: Synchronous, gap: float, n: int = 200) -> float:
    """Mean latency of one add from a single client pausing ``gap`` seconds between adds."""
    async with (
        SqliteStore(path, synchronous=sync, chainer=AuditChain()) as store,
        GroupCommitter(store, max_delay=DELAY) as committer,
    ):
        total = 0.0
        for p in packages(n):
            if gap:
                await asyncio.sleep(gap)
            start = time.perf_counter()
            await committer.add(p)
            total += time.perf_counter() - start
        return total / n * 1000


async def broker_rates(path: Path, n: int) -> tuple[float, float, float]:
    async with LocalBroker(path, poll_interval=0.01, jitter=0) as broker:
        start = time.perf_counter()
        for i in range(n // 10):
            await broker.publish([QueueEntry("000.00.00.G22", f"single-{i}")])
        single = (n // 10) / (time.perf_counter() - start)
        start = time.perf_counter()
        batch = [QueueEntry("000.00.00.G22", f"batch-{i}") for i in range(n)]
        for i in range(0, n, 256):
            await broker.publish(batch[i : i + 256])
        batched = n / (time.perf_counter() - start)
        total = n + n // 10
        done = 0
        start = time.perf_counter()
        async for message in broker.consume(prefetch=64):
            await message.ack()
            done += 1
            if done == total:
                break
        consumed = total / (time.perf_counter() - start)
        return single, batched, consumed


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3000)
    args = parser.parse_args()
    n = args.n
    with tempfile.TemporaryDirectory() as tmp:
        for sync in ("FULL", "NORMAL"):
            rate = await one_by_one(Path(tmp) / f"one-{sync}.db", sync, n // 3)  # type: ignore[arg-type]
            print(f"{sync:6} one-by-one add_packages:          {rate:8.0f} packages/s")
            for c in (16, 256):
                rate, avg = await grouped(Path(tmp) / f"grp-{sync}-{c}.db", sync, n, c)  # type: ignore[arg-type]
                print(
                    f"{sync:6} GroupCommitter, {c:3} concurrent:   {rate:8.0f} packages/s "
                    f"(avg batch {avg:.1f})"
                )
            for gap in (0.0, 0.01):
                ms = await latency(Path(tmp) / f"lat-{sync}-{gap}.db", sync, gap)  # type: ignore[arg-type]
                print(
                    f"{sync:6} GroupCommitter, 1 client, gap {gap * 1000:2.0f} ms: {ms:6.2f} ms/add"
                )
        single, batched, consumed = await broker_rates(Path(tmp) / "broker.db", n)
        print(f"broker publish, 1 entry per commit:    {single:8.0f} entries/s")
        print(f"broker publish, 256 entries per commit: {batched:8.0f} entries/s")
        print(f"broker consume+ack, prefetch 64:        {consumed:8.0f} entries/s")


if __name__ == "__main__":
    asyncio.run(main())
