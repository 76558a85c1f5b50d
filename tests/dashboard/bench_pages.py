"""Dashboard page times at 100,000 stored packages (SQLite and PostgreSQL).

``.venv/bin/python -m tests.dashboard.bench_pages [--packages 100000] [--postgres DSN]``

Rows go straight into the store with ``add_packages`` batches (no signing: the dashboard never
reads the bytes), then most deliveries are moved on in bulk SQL (90 % acked, some available,
a few dead, dossiers at state 1), as in a hub that has run for months. Then each store query
and each HTTP page (logged in, the way a browser asks) is timed: median and worst of 5.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from hub.config import load_config
from hub.demo.workdir import DEFAULT_AGENCIES, create_workdir
from hub.models import NewPackage, PackageKind
from hub.operators import add_operator
from hub.runtime import make_store
from hub.store.records import PackageQuery
from tests.api.conftest import start_hub
from tests.dashboard.conftest import PASSWORDS, Dashboard, Receiver

ORGANS = [a.organ_id for a in DEFAULT_AGENCIES]


def packages(n: int, start: datetime) -> list[NewPackage]:
    out = []
    for i in range(n):
        sender = ORGANS[i % len(ORGANS)]
        to = ORGANS[(i * 7 + 3) % len(ORGANS)]
        if to == sender:
            to = ORGANS[(i + 1) % len(ORGANS)]
        dossier = i % 10 == 0
        data = f"<edXML n='{i}' u='{uuid.uuid4()}'>Ủy ban nhân dân tỉnh</edXML>".encode()
        out.append(
            NewPackage(
                id=uuid.uuid4().hex,
                sha256=hashlib.sha256(data).hexdigest(),
                sender=sender,
                kind=PackageKind.DOSSIER if dossier else PackageKind.DOCUMENT,
                document_id=f"{sender}-{i:07d}" if dossier else f"{sender},2026/03/02,{i}/UBND",
                business_doc_type=None if dossier else 0,
                status_code="1" if dossier else None,
                recipients=(to,),
                accepted_at=start + timedelta(seconds=i * 30),
                signer_fingerprint="0" * 64,
                signer_subject="CN=Văn thư",
                data=data,
                receipt=b"<Receipt/>",
            )
        )
    return out


BULK = [
    "UPDATE deliveries SET state = 'acked' WHERE seq % 10 NOT IN (0, 1)",
    "UPDATE deliveries SET state = 'available' WHERE seq % 10 = 1",
    "UPDATE deliveries SET state = 'dead', attempts = 4, last_error = 'HTTP 500' "
    "WHERE seq % 1000 = 5",
]


async def timed(fn: Callable[[], Awaitable[Any]], runs: int = 5) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), max(times)


async def run(n: int, pg: str | None) -> None:
    root = Path(tempfile.mkdtemp(prefix="dash-bench-"))
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    kw: dict[str, Any] = {"ingest_processes": -1}
    if pg:
        kw.update(store="postgresql", store_url=pg, store_schema=schema)
    wd = create_workdir(root, DEFAULT_AGENCIES, **kw)
    config = load_config(wd.config_dir)
    t0 = time.perf_counter()
    start = datetime.now(UTC) - timedelta(seconds=n * 30)
    async with make_store(config) as store:
        batch = 2000
        for i in range(0, n, batch):
            await store.add_packages(packages(min(batch, n - i), start + timedelta(seconds=i * 30)))
    if pg:
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f"SET search_path TO {schema}")
            for stmt in BULK:
                conn.execute(stmt)
            conn.execute("ANALYZE")
    else:
        import sqlite3

        conn = sqlite3.connect(config.settings.sqlite_path)
        for stmt in BULK:
            conn.execute(stmt)
        conn.execute("ANALYZE")
        conn.commit()
        conn.close()
    print(
        f"{'PostgreSQL' if pg else 'SQLite'}: {n} packages stored in "
        f"{time.perf_counter() - t0:.0f} s"
    )
    async with start_hub(wd) as running:
        store = running.runtime.store
        d = store.dashboard()
        await add_operator(d, "ops", PASSWORDS["ops"], "operator")
        now = datetime.now(UTC)
        some = (await d.search_packages(PackageQuery(), limit=1)).rows[0]
        doc = some.package.document_id  # type: ignore[union-attr]
        queries: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("overview counters", lambda: d.overview(now)),
            ("agency activity", d.agency_activity),
            ("search: newest 50", lambda: d.search_packages(PackageQuery())),
            (
                "search: OrganId (from or to)",
                lambda: d.search_packages(PackageQuery(organ_id=ORGANS[2])),
            ),
            ("search: DocumentId", lambda: d.search_packages(PackageQuery(document_id=doc))),
            ("search: state dead", lambda: d.search_packages(PackageQuery(state="dead"))),
            (
                "search: kind + period",
                lambda: d.search_packages(
                    PackageQuery(kind="dossier", since=now - timedelta(days=3))
                ),
            ),
            ("dead letters page", lambda: d.deliveries_in(("dead",))),
            ("unacknowledged page", lambda: d.deliveries_in(("available", "delivered"))),
            ("unaccepted dossiers", d.unaccepted_dossiers),
        ]
        print("| store query | median ms | worst ms |\n|---|---|---|")
        for name, fn in queries:
            med, worst = await timed(fn)
            print(f"| {name} | {med:.1f} | {worst:.1f} |")
        dash = Dashboard(running, Receiver())
        session = await dash.login("ops")
        pid = some.package.id  # type: ignore[union-attr]
        pages = [
            "/",
            "/agencies",
            "/packages",
            f"/packages?organ_id={ORGANS[2]}",
            "/packages?state=dead",
            f"/packages/{pid}",
            "/stuck",
            "/dead",
            "/audit",
        ]
        print("| HTTP page | median ms | worst ms |\n|---|---|---|")
        for path in pages:

            async def get(path: str = path) -> None:
                async with session.get(dash.url + path) as resp:
                    assert resp.status == 200, (path, resp.status)
                    await resp.read()

            med, worst = await timed(get)
            print(f"| GET /dashboard{path.replace(pid, '{id}')} | {med:.1f} | {worst:.1f} |")
        print(f"pulse tick (all counters): {(running.runtime and 0) or ''}", end="")
        t1 = time.perf_counter()
        from hub.dashboard.web import PULSE

        for sub in running.server.app._subapps:
            if PULSE in sub:
                await sub[PULSE].tick()
        print(f"{(time.perf_counter() - t1) * 1000:.1f} ms")
        await session.close()
    if pg:
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--packages", type=int, default=100_000)
    parser.add_argument("--postgres", default=None)
    args = parser.parse_args()
    asyncio.run(run(args.packages, args.postgres))


if __name__ == "__main__":
    main()
