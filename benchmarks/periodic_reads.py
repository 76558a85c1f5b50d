"""The reads a running hub repeats on a timer, at a realistic size: before and after.

Run: .venv/bin/python benchmarks/periodic_reads.py [--packages 100000] [--rounds 5]
     [--tree DIR] [--db FILE | --pg-schema NAME [--dsn DSN]] [--seed-only] [--json FILE]

The hub repeats three reads whatever the traffic: the alarm evaluation every minute
(``last_activity`` for the silent agencies, the late documents for the SLA alarms) and the
dashboard's pulse every two seconds (the overview counters, the agency list). This seeds a
SQLite store (or, with ``--pg-schema``, a PostgreSQL schema, kept afterwards: drop it when
done) through the store's own calls, then times each read (median of ``--rounds``,
after one untimed call):

* ``--packages`` documents over 30 days from 8 agencies, each to two of the others, every
  delivery acknowledged but the last 200 packages' (a small open backlog); one lifecycle row
  per delivery, never answered (a recipient that only acknowledges, as the soak's agencies
  and the national portal's copies) — so nearly all of them are late alarms;
* **last_activity**: :meth:`LifecycleStore.last_activity`;
* **overview**, **agency list**: :meth:`DashboardStore.overview` and ``agency_activity``;
* **alarm evaluation**: :meth:`AlarmEvaluator.run_once` with a notifier, the second run
  (the first one notifies every late row once; what repeats every minute is the second);
  also the first run of a second, new evaluator on the same store (a restarted hub: it goes
  on from the walk position the first one stored, migration 0016). A file or schema already
  measured holds that position: seed (or copy) a fresh one for the first run's figure.

``--tree DIR`` runs the code of another checkout (e.g. the commit before these changes)
against the same data: seed once with the old tree (``--db FILE --seed-only``), copy the file,
then time each copy with each tree (the new tree migrates the old file in place first, and
that time is printed too).
"""

# ruff: noqa: E402  (imports after the sys.path line)

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def _tree() -> Path:
    for i, arg in enumerate(sys.argv):
        if arg == "--tree" and i + 1 < len(sys.argv):
            return Path(sys.argv[i + 1]).resolve()
    return Path(__file__).resolve().parents[1]


sys.path.insert(0, str(_tree()))

import psycopg

from hub.audit.chain import AuditChain
from hub.lifecycle.alarms import Alarm, AlarmEvaluator
from hub.lifecycle.config import LifecycleSettings
from hub.models import DeliveryChange, DeliveryState, NewPackage, PackageKind
from hub.store.abc import Store
from hub.store.postgres import PostgresStore
from hub.store.records import DocState, LifecycleChange
from hub.store.sqlite import SqliteStore

AGENCIES = tuple(f"000.00.{i:02d}.H{40 + i}" for i in range(8))
NOW = datetime(2026, 3, 31, 3, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Việt Nam
OPEN = 200  # packages at the end whose deliveries stay open


class Recorder:
    """A notifier that counts what it was told."""

    def __init__(self) -> None:
        self.told = 0

    async def notify(self, alarms: Sequence[Alarm]) -> None:
        self.told += len(alarms)


def open_store(path: Path, pg: tuple[str, str] | None, *, seeding: bool = False) -> Store:
    """The SQLite file, or the PostgreSQL (DSN, schema)."""
    if pg is not None:
        return PostgresStore(pg[0], schema=pg[1], chainer=AuditChain())
    return SqliteStore(path, chainer=AuditChain(), synchronous="OFF" if seeding else "FULL")


async def seed(path: Path, pg: tuple[str, str] | None, n: int, batch: int = 1000) -> float:
    """``n`` packages as the module says; returns the seconds it took."""
    t0 = time.perf_counter()
    start = NOW - timedelta(days=30)
    step = timedelta(days=30) / n
    async with open_store(path, pg, seeding=True) as store:
        lc = store.lifecycle()
        for first in range(0, n, batch):
            packages = []
            docs = []
            for i in range(first, min(n, first + batch)):
                sender = AGENCIES[i % 8]
                recipients = (AGENCIES[(i + 1) % 8], AGENCIES[(i + 3) % 8])
                data = f"<seed n='{i}'/>".encode()
                at = start + i * step
                packages.append(
                    NewPackage(
                        id=f"seed{i:08d}",
                        sha256=hashlib.sha256(data).hexdigest(),
                        sender=sender,
                        kind=PackageKind.DOCUMENT,
                        document_id=f"{sender},seed/{i}",
                        business_doc_type=0,
                        status_code=None,
                        recipients=recipients,
                        accepted_at=at,
                        signer_fingerprint="f" * 64,
                        signer_subject="CN=seed",
                        data=data,
                        receipt=b"<Receipt/>",
                    )
                )
                doc_id = f"{sender},seed/{i}"
                docs.extend(
                    DocState(sender, doc_id, r, f"seed{i:08d}", 0, None, "none", at, None, at)
                    for r in recipients
                )
            await store.add_packages(packages)
            await lc.apply(LifecycleChange(sha256=f"seed-{first}", at=NOW, new_docs=tuple(docs)))
            acked = [
                DeliveryChange(
                    p.id, r, DeliveryState.ACKED, at=p.accepted_at + timedelta(minutes=1)
                )
                for p in packages
                if int(p.id[4:]) < n - OPEN
                for r in p.recipients
            ]
            if acked:
                await store.settle(acked)
    return time.perf_counter() - t0


async def timed(call: Callable[[], Awaitable[Any]], rounds: int) -> dict[str, float]:
    await call()  # untimed: caches, the package count's first pass
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        await call()
        times.append(1000 * (time.perf_counter() - t))
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}


async def measure(path: Path, pg: tuple[str, str] | None, rounds: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    async with open_store(path, pg) as store:
        opened_s = time.perf_counter() - t0
        board = store.dashboard()
        lc = store.lifecycle()
        settings = LifecycleSettings(ack_within_days=1)
        recorder = Recorder()
        evaluator = AlarmEvaluator(
            store=store,
            settings=settings,
            agencies=lambda: list(AGENCIES),
            clock=lambda: NOW,
            notifier=recorder,
        )
        t = time.perf_counter()
        first = await evaluator.run_once()
        first_ms = 1000 * (time.perf_counter() - t)
        # A hub restarted on the same data: a new evaluator's first run (it walked every late
        # row again while the walk's position lived in the evaluator only; migration 0016).
        restarted = AlarmEvaluator(
            store=store,
            settings=settings,
            agencies=lambda: list(AGENCIES),
            clock=lambda: NOW,
            notifier=Recorder(),
        )
        t = time.perf_counter()
        await restarted.run_once()
        restart_ms = 1000 * (time.perf_counter() - t)
        out = {
            "open_and_migrate_s": opened_s,
            "alarm_first_run_ms": first_ms,
            "alarm_first_run_notified": recorder.told,
            "alarm_restarted_first_run_ms": restart_ms,
            "alarms_listed": len(first),
            "last_activity": await timed(lc.last_activity, rounds),
            "overview": await timed(lambda: board.overview(NOW), rounds),
            "agency_list": await timed(board.agency_activity, rounds),
            "alarm_evaluation": await timed(evaluator.run_once, rounds),
        }
        overview = await board.overview(NOW)
        out["overview_packages"] = overview.packages
        out["overview_states"] = overview.deliveries_by_state
    return out


async def schema_exists(dsn: str, schema: str) -> bool:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (schema,)
        )
        return await cur.fetchone() is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tree", type=Path, default=None, help="run this checkout's hub code")
    parser.add_argument("--db", type=Path, default=None, help="the SQLite file (seeded if new)")
    parser.add_argument("--pg-schema", default=None, help="PostgreSQL schema (seeded if new)")
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    path = args.db or Path(f"/tmp/periodic-reads-{os.getpid()}.sqlite")
    pg = (args.dsn, args.pg_schema) if args.pg_schema else None
    where = f"postgresql schema {args.pg_schema}" if pg else str(path)
    result: dict[str, Any] = {"tree": str(_tree()), "db": where, "load1": os.getloadavg()[0]}
    if not (asyncio.run(schema_exists(*pg)) if pg else path.exists()):
        result["seed_s"] = asyncio.run(seed(path, pg, args.packages))
        print(f"seeded {args.packages:,} packages in {result['seed_s']:.0f} s", flush=True)
    if not args.seed_only:
        result |= asyncio.run(measure(path, pg, args.rounds))
        result["load1_after"] = os.getloadavg()[0]
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
