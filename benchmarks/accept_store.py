"""``Store.accept`` alone: groups of new documents with their lifecycle rows, one transaction
each, on SQLite or PostgreSQL (issue 12). Prints the median time per group.

Run: .venv/bin/python benchmarks/accept_store.py [--store sqlite|postgresql] [--groups N]
     [--size N] [--dsn URL]
"""

# ruff: noqa: E402  (imports after the sys.path line, as in ingest.py)

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hub.audit.chain import AuditChain
from hub.models import NewPackage, PackageKind
from hub.store import Store
from hub.store.abc import AcceptItem
from hub.store.records import DocState, LifecycleChange, Transition
from hub.store.sqlite import SqliteStore

RECIPIENTS = ("000.00.00.G22", "000.00.00.H29")


def item(n: int) -> AcceptItem:
    """A new document to two pull recipients, with its lifecycle rows."""
    data = f"<edXML n='{n}' nonce='{uuid.uuid4()}'/>".encode() * 200
    at = datetime.now(UTC)
    sha256 = hashlib.sha256(data).hexdigest()
    p = NewPackage(
        id=uuid.uuid4().hex,
        sha256=sha256,
        sender="000.00.00.H41",
        kind=PackageKind.DOCUMENT,
        document_id=f"bench/{uuid.uuid4().hex}",
        business_doc_type=0,
        status_code=None,
        recipients=RECIPIENTS,
        accepted_at=at,
        signer_fingerprint="f" * 64,
        signer_subject="CN=bench",
        data=data,
        receipt=b"<Receipt/>",
    )
    key = p.document_id or ""
    rows = tuple(
        DocState(p.sender, key, r, p.id, 0, None, "none", at, None, at) for r in RECIPIENTS
    )
    history = tuple(
        Transition("document", key, r, "", "none", p.id, sha256, at, p.sender) for r in RECIPIENTS
    )
    change = LifecycleChange(sha256=sha256, at=at, new_docs=rows, transitions=history)
    return AcceptItem(package=p, available=frozenset(RECIPIENTS), lifecycle=change)


async def run(store: Store, groups: int, size: int) -> list[float]:
    times: list[float] = []
    async with store:
        for g in range(groups):
            batch = [item(g * size + i) for i in range(size)]
            t0 = time.perf_counter()
            await store.accept(batch)
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--groups", type=int, default=30)
    parser.add_argument("--size", type=int, default=32, help="packages per group")
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    if args.store == "sqlite":
        tmp = tempfile.mkdtemp(prefix="hub-accept-")
        store: Store = SqliteStore(Path(tmp) / "hub.sqlite", chainer=AuditChain())
        times = asyncio.run(run(store, args.groups, args.size))
    else:
        import psycopg
        from psycopg import sql

        from hub.store.postgres import PostgresStore

        schema = f"bench_accept_{uuid.uuid4().hex[:8]}"
        try:
            times = asyncio.run(
                run(
                    PostgresStore(args.dsn, schema=schema, chainer=AuditChain()),
                    args.groups,
                    args.size,
                )
            )
        finally:
            with psycopg.connect(args.dsn, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )
    median = statistics.median(times)
    print(
        f"{args.store}: {args.groups} groups of {args.size}: median {1000 * median:.1f} ms "
        f"per group, {args.size / median:,.0f} packages/s"
    )


if __name__ == "__main__":
    main()
