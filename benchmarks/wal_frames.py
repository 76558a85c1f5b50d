"""WAL frames per package as the SQLite store grows: ``Store.accept`` in groups, with the
hub's package ids (UUIDv7, in acceptance order) or random ones (uuid4, as before), printing
every ``--every`` packages the database's size, the WAL frames each package wrote (from the
WAL index, ``hub.sqlitedb.read_wal_index``) and the median time per group.

Run: .venv/bin/python benchmarks/wal_frames.py --ids ordered|random [--packages N]
     [--size N] [--every N]
"""

# ruff: noqa: E402  (imports after the sys.path line, as in ingest.py)

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from accept_store import item

from hub.audit.chain import AuditChain
from hub.pipeline.ingest import new_package_id
from hub.sqlitedb import read_wal_index
from hub.store.sqlite import SqliteStore


async def run(ids: str, packages: int, size: int, every: int) -> None:
    db = Path(tempfile.mkdtemp(prefix="hub-wal-frames-")) / "hub.sqlite"
    frames: list[float] = []
    times: list[float] = []
    done = 0
    async with SqliteStore(db, chainer=AuditChain()) as store:
        # Held open while the store is: closing a descriptor of the -shm would drop the
        # store's locks on it (hub.sqlitedb.read_wal_index).
        shm = os.open(f"{db}-shm", os.O_RDONLY)
        while done < packages:
            group = [item(done + i) for i in range(size)]
            for n, it in enumerate(group):
                pid = new_package_id(datetime.now(UTC)) if ids == "ordered" else uuid.uuid4().hex
                group[n] = replace(it, package=replace(it.package, id=pid))
            before = read_wal_index(db, shm)
            t0 = time.perf_counter()
            await store.accept(group)
            times.append(time.perf_counter() - t0)
            after = read_wal_index(db, shm)
            if before is not None and after is not None:
                # A new salt: the WAL restarted as this transaction began; its frames are all ours.
                grew = after.frames - before.frames if after.salt == before.salt else after.frames
                frames.append(grew / size)
            done += size
            if done % every < size and frames:
                print(
                    f"{ids:8} {done:8,} packages  db {db.stat().st_size / 2**20:7,.0f} MiB  "
                    f"WAL frames/package {statistics.fmean(frames):5.2f}  "
                    f"group {1000 * statistics.median(times):5.1f} ms",
                    flush=True,
                )
                frames.clear()
                times.clear()
    os.close(shm)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ids", choices=("ordered", "random"), default="ordered")
    parser.add_argument("--packages", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=64, help="packages per group")
    parser.add_argument("--every", type=int, default=25_000, help="print every N packages")
    args = parser.parse_args()
    asyncio.run(run(args.ids, args.packages, args.size, args.every))


if __name__ == "__main__":
    main()
