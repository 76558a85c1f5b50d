"""``hub audit verify`` benchmark: time and peak RSS to verify N chained events.

Run: .venv/bin/python benchmarks/audit_verify.py [--events 1000000] [--store sqlite|postgresql]
     [--chains 4] [--checkpoint-every 10000] [--page 2000] [--dsn DSN] [--json FILE]
     [--also-list]

1. **Seed** (this process): a fresh store (a temporary SQLite file, or a throw-away PostgreSQL
   schema dropped afterwards) is migrated by the store itself, then ``--events`` events are
   written straight into ``events`` (``executemany`` on SQLite, ``COPY`` on PostgreSQL) with
   their chain fields computed exactly as the hub computes them (:func:`hub.audit.chain.link`),
   spread round-robin over ``--chains`` chains (one per worker), with a signed checkpoint
   (:func:`hub.audit.checkpoint.sign_checkpoint`) every ``--checkpoint-every`` events and at
   the end. Seeding through the store's API would take an hour for a million events; the rows
   are the same.
2. **Verify** (a fresh child process, so seeding does not count in its memory):
   :func:`hub.audit.service.verify_store` with ``--page`` rows per page; wall time and the
   child's peak RSS (``ru_maxrss``) are reported, with the report's counts (it must be OK).
3. ``--also-list``: another child only *loads* every event into a list, as verification did
   before it streamed (``AuditStore.all_events``), for the memory comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hub.audit.chain import GENESIS, AuditChain, link
from hub.audit.checkpoint import sign_checkpoint
from hub.receipts import ReceiptSigner
from hub.store.records import ChainHead

T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
DEFAULT_DSN = os.environ.get("HUB_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
KINDS = ("accepted", "queued", "delivered", "acked")


def make_signer(directory: Path) -> ReceiptSigner:
    """A throw-away ECDSA receipt signer; its certificate is saved for the child."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "benchmark hub")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0 - timedelta(days=1))
        .not_valid_after(T0 + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    (directory / "hub-cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return ReceiptSigner(key, cert, clock=lambda: T0)


def generate(events: int, chains: int, every: int, signer: ReceiptSigner) -> Any:
    """Yield ("event", row) and ("checkpoint", (id, at, document)) in write order."""
    chain_ids = [f"bench-{i}" for i in range(chains)]
    heads = {c: (0, GENESIS) for c in chain_ids}
    previous: bytes | None = None
    checkpoint_id = 0
    for seq in range(1, events + 1):
        chain_id = chain_ids[seq % chains]
        n, prev = heads[chain_id]
        kind = KINDS[seq % 4]
        detail: dict[str, object] = (
            {"sha256": f"{seq:064x}", "size": 20480} if kind == "accepted" else {}
        )
        ev = link(
            seq=seq,
            package_id=str(uuid.UUID(int=seq // 4)),
            kind=kind,
            at=T0 + timedelta(milliseconds=seq),
            recipient="000.00.00.H41" if kind != "accepted" else None,
            attempt=1 if kind == "delivered" else None,
            detail=detail,
            chain_id=chain_id,
            chain_seq=n + 1,
            prev_hash=prev,
        )
        assert ev.hash is not None
        heads[chain_id] = (n + 1, ev.hash)
        yield "event", ev
        if seq % every == 0 or seq == events:
            checkpoint_id += 1
            at = T0 + timedelta(milliseconds=seq)
            doc = sign_checkpoint(
                signer,
                "bench",
                checkpoint_id,
                previous,
                [ChainHead(c, "bench", s, h) for c, (s, h) in heads.items()],
                at,
            )
            previous = doc
            yield "checkpoint", (checkpoint_id, at, doc, dict(heads))


def event_row(ev: Any, at: object) -> tuple[object, ...]:
    """One ``events`` row of a generated event, its time ``at`` as the backend stores it."""
    return (
        ev.seq,
        ev.package_id,
        ev.kind,
        at,
        ev.recipient,
        ev.attempt,
        json.dumps(ev.detail, ensure_ascii=False),
        ev.chain_id,
        ev.chain_seq,
        ev.prev_hash,
        ev.hash,
    )


def seed_sqlite(path: Path, args: argparse.Namespace, signer: ReceiptSigner) -> None:
    import sqlite3

    from hub.sqlitedb import to_db_time
    from hub.store.sqlite import SqliteStore

    async def migrate() -> None:
        async with SqliteStore(path, chainer=AuditChain()):
            pass

    asyncio.run(migrate())
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")  # seeding only; the verifier reads a normal file
    batch: list[tuple[Any, ...]] = []
    heads: dict[str, tuple[int, str]] = {}

    def flush() -> None:
        conn.executemany(
            "INSERT INTO events (seq, package_id, kind, at, recipient, attempt, detail, "
            "chain_id, chain_seq, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            batch,
        )
        batch.clear()

    for what, item in generate(args.events, args.chains, args.checkpoint_every, signer):
        if what == "event":
            ev = item
            batch.append(event_row(ev, to_db_time(ev.at)))
            if len(batch) >= 20000:
                flush()
        else:
            flush()
            checkpoint_id, at, doc, heads = item
            conn.execute(
                "INSERT INTO audit_checkpoints (id, at, document) VALUES (?, ?, ?)",
                (checkpoint_id, to_db_time(at), doc),
            )
            conn.commit()
    for chain_id, (n, h) in heads.items():
        conn.execute(
            "INSERT INTO audit_chains (chain_id, owner, created_at, head_seq, head_hash) "
            "VALUES (?, 'bench', ?, ?, ?)",
            (chain_id, to_db_time(T0), n, h),
        )
    conn.commit()
    conn.close()


def seed_postgres(dsn: str, schema: str, args: argparse.Namespace, signer: ReceiptSigner) -> None:
    import psycopg
    from psycopg import sql

    from hub.store.postgres import PostgresStore

    async def migrate() -> None:
        async with PostgresStore(dsn, schema=schema, chainer=AuditChain()):
            pass

    asyncio.run(migrate())
    heads: dict[str, tuple[int, str]] = {}
    with psycopg.connect(dsn) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        conn.execute("SET synchronous_commit = off")
        cur = conn.cursor()
        copy_sql = (
            "COPY events (seq, package_id, kind, at, recipient, attempt, detail, chain_id, "
            "chain_seq, prev_hash, hash) FROM STDIN"
        )
        copy = None
        copy_cm = None
        for what, item in generate(args.events, args.chains, args.checkpoint_every, signer):
            if what == "event":
                if copy is None:
                    copy_cm = cur.copy(copy_sql)
                    copy = copy_cm.__enter__()
                ev = item
                copy.write_row(event_row(ev, ev.at))
            else:
                if copy_cm is not None:
                    copy_cm.__exit__(None, None, None)
                    copy = copy_cm = None
                checkpoint_id, at, doc, heads = item
                cur.execute(
                    "INSERT INTO audit_checkpoints (id, at, document) VALUES (%s, %s, %s)",
                    (checkpoint_id, at, doc),
                )
                conn.commit()
        for chain_id, (n, h) in heads.items():
            cur.execute(
                "INSERT INTO audit_chains (chain_id, owner, created_at, head_seq, head_hash) "
                "VALUES (%s, 'bench', %s, %s, %s)",
                (chain_id, T0, n, h),
            )
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('events', 'seq'), %s)", (args.events + 1,)
        )
        conn.commit()
        conn.execute("ANALYZE events")


def child(args: argparse.Namespace) -> None:
    """Verify (or only load) and print one JSON line: seconds, peak RSS and the counts."""
    from hub.audit.service import fingerprints, verify_store
    from hub.store import Store
    from hub.store.postgres import PostgresStore
    from hub.store.sqlite import SqliteStore

    cert = x509.load_pem_x509_certificate(Path(args.cert).read_bytes())
    signer = ReceiptSigner(ec.generate_private_key(ec.SECP256R1()), cert)
    assert fingerprints(signer)
    store: Store = (
        SqliteStore(Path(args.path), chainer=AuditChain())
        if args.store == "sqlite"
        else PostgresStore(args.dsn, schema=args.schema, chainer=AuditChain())
    )

    async def run() -> dict[str, Any]:
        async with store:
            start = time.perf_counter()
            if args.child == "list":
                rows = await store.audit().all_events()
                result: dict[str, Any] = {"loaded": len(rows)}
            else:
                report = await verify_store(store, signer, page_size=args.page)
                assert report.ok, report.lines()
                result = {
                    "events": report.events,
                    "chains": report.chains,
                    "checkpoints": report.checkpoints,
                    "covered": report.covered,
                }
            result["seconds"] = round(time.perf_counter() - start, 2)
        return result

    result = asyncio.run(run())
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))


def run_child(mode: str, args: argparse.Namespace, where: dict[str, str]) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--store",
        args.store,
        "--page",
        str(args.page),
        "--cert",
        where["cert"],
        "--dsn",
        args.dsn,
    ]
    cmd += ["--path", where["path"]] if args.store == "sqlite" else ["--schema", where["schema"]]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--checkpoint-every", type=int, default=10_000)
    parser.add_argument("--page", type=int, default=2000)
    parser.add_argument("--dsn", default=DEFAULT_DSN)
    parser.add_argument("--json", default=None)
    parser.add_argument("--also-list", action="store_true")
    # internal: the measured child
    parser.add_argument("--child", choices=["verify", "list"], default=None)
    parser.add_argument("--path", default="")
    parser.add_argument("--schema", default="")
    parser.add_argument("--cert", default="")
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    with tempfile.TemporaryDirectory(prefix="hub-audit-bench-") as tmp:
        directory = Path(tmp)
        signer = make_signer(directory)
        where = {"cert": str(directory / "hub-cert.pem")}
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        start = time.perf_counter()
        if args.store == "sqlite":
            where["path"] = str(directory / "hub.sqlite")
            seed_sqlite(Path(where["path"]), args, signer)
        else:
            where["schema"] = schema
            seed_postgres(args.dsn, schema, args, signer)
        seeded = round(time.perf_counter() - start, 1)
        try:
            result: dict[str, Any] = {
                "store": args.store,
                "events": args.events,
                "chains": args.chains,
                "checkpoint_every": args.checkpoint_every,
                "page": args.page,
                "seed_seconds": seeded,
                "verify": run_child("verify", args, where),
            }
            if args.also_list:
                result["load_all_into_a_list"] = run_child("list", args, where)
        finally:
            if args.store == "postgresql":
                import psycopg
                from psycopg import sql

                with psycopg.connect(args.dsn, autocommit=True) as conn:
                    conn.execute(
                        sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                    )
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
