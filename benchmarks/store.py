"""Store benchmark: ``add_packages`` on PostgreSQL vs SQLite, grouped and one by one.

Run: .venv/bin/python benchmarks/store.py [--grouped N] [--single N] [--size BYTES]
     [--dsn DSN] [--json FILE]

For each store, on fresh storage (a temporary SQLite file; a throw-away PostgreSQL schema,
dropped afterwards), with ~20 KB packages of random bytes (incompressible, like signed XML
with base64 attachments) and one recipient each:

* **grouped**: ``add_packages`` with 256 packages per call (what ``GroupCommitter`` does under
  load): packages/s;
* **single**: ``add_packages([p])`` back to back (no load, or no group commit): packages/s and
  the median commit latency;
* **committer**: ``GroupCommitter`` with 256 concurrent submitters: packages/s.

Both stores run with their durable defaults (SQLite ``synchronous=FULL``; PostgreSQL
``synchronous_commit`` as the server has it, normally ``on``). The DSN defaults to
``HUB_TEST_POSTGRES_DSN`` or ``postgresql://postgres@127.0.0.1:5432/test``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.audit.chain import AuditChain
from hub.models import NewPackage
from hub.store.abc import Store
from hub.store.batching import GroupCommitter
from hub.store.postgres import PostgresStore
from hub.store.postgres.migrate import mask_dsn
from hub.store.sqlite import SqliteStore
from tests.contracts.store_contract import new_package

BATCH = 256


def make_packages(n: int, size: int) -> list[NewPackage]:
    """``n`` packages of ``size`` random bytes each."""
    return [new_package(data=os.urandom(size)) for _ in range(n)]


async def measure(store: Store, grouped: int, single: int, size: int) -> dict[str, Any]:
    """The three figures for one opened store."""
    result: dict[str, Any] = {}
    pkgs = make_packages(grouped, size)
    start = time.perf_counter()
    for i in range(0, grouped, BATCH):
        await store.add_packages(pkgs[i : i + BATCH])
    result["grouped_per_s"] = grouped / (time.perf_counter() - start)

    pkgs = make_packages(single, size)
    latencies = []
    start = time.perf_counter()
    for p in pkgs:
        t = time.perf_counter()
        await store.add_packages([p])
        latencies.append(time.perf_counter() - t)
    result["single_per_s"] = single / (time.perf_counter() - start)
    result["single_p50_ms"] = statistics.median(latencies) * 1000

    pkgs = make_packages(grouped, size)
    async with GroupCommitter(store, max_batch=BATCH) as committer:
        sem = asyncio.Semaphore(256)

        async def submit(p: NewPackage) -> None:
            async with sem:
                await committer.add(p)

        start = time.perf_counter()
        await asyncio.gather(*(submit(p) for p in pkgs))
        result["committer_per_s"] = grouped / (time.perf_counter() - start)
        result["committer_largest_batch"] = committer.stats.largest_batch
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure SQLite, then PostgreSQL in a throw-away schema."""
    out: dict[str, Any] = {"size": args.size, "grouped": args.grouped, "single": args.single}
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "hub.sqlite", chainer=AuditChain())
        async with store:
            out["sqlite"] = await measure(store, args.grouped, args.single, args.size)
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    pg = PostgresStore(args.dsn, schema=schema, chainer=AuditChain())
    try:
        async with pg:
            out["postgresql"] = await measure(pg, args.grouped, args.single, args.size)
    finally:
        import psycopg

        with psycopg.connect(args.dsn, autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    psycopg.sql.Identifier(schema)
                )
            )
    out["postgresql_dsn"] = mask_dsn(args.dsn)
    return out


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run, print a table (and JSON if asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grouped", type=int, default=2048, help="packages, 256 per commit")
    parser.add_argument("--single", type=int, default=500, help="packages, one per commit")
    parser.add_argument("--size", type=int, default=20_000, help="bytes per package")
    parser.add_argument(
        "--dsn",
        default=os.environ.get(
            "HUB_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args))
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("add_packages, 256 per call (pkg/s)", lambda f: f"{f['grouped_per_s']:,.0f}"),
        ("add_packages, one per call (pkg/s)", lambda f: f"{f['single_per_s']:,.0f}"),
        ("  one per call, median latency (ms)", lambda f: f"{f['single_p50_ms']:.2f}"),
        ("GroupCommitter, 256 submitters (pkg/s)", lambda f: f"{f['committer_per_s']:,.0f}"),
    ]
    print(f"{args.size} B packages; PostgreSQL at {figures['postgresql_dsn']}")
    print(f"{'':40} {'SQLite':>10} {'PostgreSQL':>12}")
    for label, fmt in rows:
        print(f"{label:40} {fmt(figures['sqlite']):>10} {fmt(figures['postgresql']):>12}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
