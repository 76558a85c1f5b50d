"""Recipients' writes benchmark: fetch-then-ack, one transaction per write vs grouped.

Run: .venv/bin/python benchmarks/settle.py [--deliveries N] [--clients C] [--store sqlite|
     postgresql|both] [--dsn DSN] [--json FILE]

On fresh storage (a temporary SQLite file; a throw-away PostgreSQL schema, dropped afterwards),
``N`` deliveries are made ``available`` (seeded through the store, not measured); then ``C``
concurrent clients take them in turn and, for each, do what a pull agency does after reading
its inbox: the fetch marks it ``delivered``, then the ack. Two ways, on separate deliveries:

* **one by one**: ``set_delivery_state(delivered)`` and ``ack`` straight on the store, one
  transaction each (the hub before issue 12);
* **grouped**: the same two moves through a :class:`hub.store.settling.GroupSettler` (one
  ``Store.settle`` per group of whatever arrived while the previous group committed).

Reported: deliveries/s (fetched and acked) and, for grouped, store transactions per delivery.
Both stores run with their durable defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.audit.chain import AuditChain
from hub.models import DeliveryChange, DeliveryState
from hub.store.abc import Store
from hub.store.postgres import PostgresStore
from hub.store.postgres.migrate import mask_dsn
from hub.store.settling import GroupSettler
from hub.store.sqlite import SqliteStore
from tests.contracts.store_contract import G22, new_package

S = DeliveryState
FETCHED = frozenset({S.AVAILABLE})


async def seed(store: Store, n: int) -> list[str]:
    """``n`` packages to G22, each delivery ``available``; their ids."""
    pkgs = [new_package(data=os.urandom(2048)) for _ in range(n)]
    for i in range(0, n, 256):
        await store.add_packages(pkgs[i : i + 256])
    ids = [p.id for p in pkgs]
    for i in range(0, n, 256):
        await store.settle([DeliveryChange(p, G22, S.AVAILABLE) for p in ids[i : i + 256]])
    return ids


async def run_clients(ids: list[str], clients: int, one: Callable[[str], Awaitable[None]]) -> float:
    """Deliveries per second with ``clients`` concurrent clients sharing ``ids``."""
    queue = list(reversed(ids))

    async def client() -> None:
        while queue:
            await one(queue.pop())

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return len(ids) / (time.perf_counter() - start)


async def measure(store: Store, deliveries: int, clients: int) -> dict[str, Any]:
    """Both ways on one opened store."""
    ids = await seed(store, 2 * deliveries)

    async def one_by_one(package_id: str) -> None:
        await store.set_delivery_state(package_id, G22, S.DELIVERED, event_detail={"via": "pull"})
        await store.ack(package_id, G22, datetime.now(UTC))

    async with GroupSettler(store) as settler:

        async def grouped(package_id: str) -> None:
            await settler.settle(
                DeliveryChange(
                    package_id, G22, S.DELIVERED, detail={"via": "pull"}, only_from=FETCHED
                )
            )
            await settler.settle(DeliveryChange(package_id, G22, S.ACKED, at=datetime.now(UTC)))

        single_rate = await run_clients(ids[:deliveries], clients, one_by_one)
        grouped_rate = await run_clients(ids[deliveries:], clients, grouped)
        stats = settler.stats
    return {
        "one_by_one_per_s": single_rate,
        "grouped_per_s": grouped_rate,
        "grouped_transactions_per_delivery": stats.batches / deliveries,
        "grouped_largest_group": stats.largest_batch,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--dsn",
        default=os.environ.get(
            "HUB_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, Any] = {"deliveries": args.deliveries, "clients": args.clients}
    if args.store in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            async with SqliteStore(Path(tmp) / "hub.db", chainer=AuditChain()) as store:
                results["sqlite"] = await measure(store, args.deliveries, args.clients)
    if args.store in ("postgresql", "both"):
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        store = PostgresStore(args.dsn, schema=schema, max_size=8, chainer=AuditChain())
        try:
            async with store:
                results["postgresql"] = await measure(store, args.deliveries, args.clients)
        finally:
            with psycopg.connect(args.dsn, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        results["dsn"] = mask_dsn(args.dsn)
    for name in ("sqlite", "postgresql"):
        if name in results:
            r = results[name]
            print(
                f"{name:10} {args.clients} clients: one by one {r['one_by_one_per_s']:8,.0f}/s"
                f"   grouped {r['grouped_per_s']:8,.0f}/s"
                f"   ({r['grouped_transactions_per_delivery']:.2f} transactions per delivery,"
                f" largest group {r['grouped_largest_group']})"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
