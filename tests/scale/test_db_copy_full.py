"""``hub db copy`` carries everything of migrations 0001–0005: an embedded hub with real
traffic (documents, statuses driving the lifecycle, acks, a purge, operator accounts and their
audit, a discarded dead letter, signed acks, checkpoints) is copied while it serves and after it
stopped; then the PostgreSQL copy holds the same rows in every table, ``hub audit verify``
passes on it with the same counts, lifecycle history/reports/alarms are equal, operators log in
with their passwords, and a hub on the copy continues the chains and sequences."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hub.audit.chain import AuditChain
from hub.audit.service import purge, verify_store, write_checkpoint
from hub.client import HubClient
from hub.config import load_config
from hub.dbtools import COPY_TABLES, Policy, copy_sqlite_to_postgres
from hub.demo.factory import document, status
from hub.edxml import Organ
from hub.models import DeliveryState, Event
from hub.operators import authenticate
from hub.receipts import ReceiptSigner
from hub.runtime import make_store
from hub.store import Store
from hub.store.postgres import PostgresStore
from hub.store.records import AuditEntry, SignedAck
from hub.store.sqlite import SqliteStore
from tests.conftest import PROJECT_ROOT, WorkdirFactory, signer_for
from tests.scale.harness import (
    G22,
    H14,
    H41,
    Backends,
    HubProcess,
    Ledger,
    free_port,
    make_hub_workdir,
    make_traffic,
    pull_loop,
    send_all,
    wait_until,
)
from tests.scale.test_db_copy import config_variant, hub_cli
from tests.store.pg_fixtures import PG_DSN, pg_dsn, pg_schema  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow

NOW = "2026-12-31"  # --now for report and alarms: the same instant on both stores
PASSWORD = "correct horse battery"


def cli_status(*args: str, stdin: str | None = None) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "--log-level", "WARNING", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        input=stdin,
        text=True,
        check=False,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def operator_add(config_dir: Path, username: str, role: str) -> None:
    """``hub operator add`` as an administrator runs it."""
    code, text = cli_status(
        "operator", "add", username, "--config", str(config_dir), "--role", role,
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert code == 0, text


async def lifecycle_traffic(url: str, wd: Any, start: int) -> list[str]:
    """Documents G22 → H14 answered by statuses (01, some also 03): lifecycle states and
    transitions, status packages to the author, events on every trace."""
    g22, h14 = signer_for(wd, G22), signer_for(wd, H14)
    ids = []
    async with HubClient(url, wd.token(G22)) as c:
        for n in range(start, start + 4):
            doc_id, data = document(g22, [Organ(organ_id=H14, organ_name=H14)], number=n)
            await c.submit(data)
            ids.append(doc_id)
    async with HubClient(url, wd.token(H14)) as c:
        for i, doc_id in enumerate(ids):
            for code in ("01", "03") if i % 2 else ("01",):
                await c.submit(status(h14, document_author=G22, document_id=doc_id, code=code))
    return ids


def normal(value: Any) -> Any:
    """One representation for both backends' values of a column."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def sqlite_rows(path: Path, table: str, columns: list[str], key: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {key}")  # noqa: S608
        out = []
        for row in rows:
            values = []
            for column, v in zip(columns, row, strict=True):
                if isinstance(v, str) and v[:1] in "[{" and column in JSON_COLUMNS:
                    v = json.dumps(json.loads(v), sort_keys=True)
                elif isinstance(v, str) and column in TIME_COLUMNS:
                    v = datetime.fromisoformat(v).astimezone(UTC).isoformat()
                values.append(normal(v))
            out.append(tuple(values))
        return out
    finally:
        conn.close()


def pg_rows(schema: str, table: str, columns: list[str], key: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(PG_DSN) as conn:
        rows = conn.execute(
            f'SELECT {", ".join(columns)} FROM "{schema}".{table} ORDER BY {key}'  # noqa: S608
        ).fetchall()
    out = []
    for row in rows:
        values = []
        for column, v in zip(columns, row, strict=True):
            if isinstance(v, bool) and column not in BOOL_KEEP:
                v = int(v)
            values.append(normal(v))
        out.append(tuple(values))
    return out


JSON_COLUMNS = {"recipients", "warnings", "detail", "token_sha256"}
TIME_COLUMNS = {
    "accepted_at", "updated_at", "acked_at", "at", "changed_at", "sent_at", "answered_at",
    "submitted_at", "due_at", "finished_at", "notified_at", "created_at", "expires_at",
    "received_at", "purged_at", "walked_at",
}  # fmt: skip
BOOL_KEEP: set[str] = set()


def table_columns(path: Path, table: str) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    finally:
        conn.close()


def assert_tables_equal(path: Path, schema: str) -> dict[str, int]:
    counts = {}
    for t in COPY_TABLES:
        if t.policy is Policy.SKIP:
            continue
        columns = table_columns(path, t.name)
        key = ", ".join(t.key)
        src, dst = sqlite_rows(path, t.name, columns, key), pg_rows(schema, t.name, columns, key)
        if t.name == "audit_meta":
            src, dst = sorted(src), sorted(dst)
        assert dst == src, f"table {t.name} differs"
        counts[t.name] = len(src)
    return counts


async def audit_lines(store: Store, signer: ReceiptSigner) -> list[str]:
    async with store:
        report = await verify_store(store, signer)
    assert report.ok, report.lines()
    return report.lines()


async def history(store: Store, keys: list[str]) -> list[Any]:
    async with store:
        lc = store.lifecycle()
        return [
            ([(t.from_state, t.to_state, t.party, t.sha256) for t in await lc.transitions(key=k)],
             sorted((d.recipient, d.state, d.answered_at) for d in await lc.documents(k)))
            for k in keys
        ]  # fmt: skip


async def test_copy_everything_then_verify_on_postgresql(
    make_workdir: WorkdirFactory,
    tmp_path: Path,
    pg_schema: str,  # noqa: F811
) -> None:
    port = free_port()
    wd = make_hub_workdir(make_workdir, Backends("embedded", {}), port, "http://127.0.0.1:9/")
    target = config_variant(
        wd,
        "config-pg",
        Backends(
            "postgresql",
            {
                "store": "postgresql",
                "store_url": PG_DSN,
                "store_schema": pg_schema,
                "broker": "local",
            },
        ),
    )
    source_path = load_config(wd.config_dir).settings.sqlite_path
    copy = ("db", "copy", "--from-config", str(wd.config_dir), "--to-config", str(target))
    items = make_traffic(wd, 4)
    ledger = Ledger()
    old = HubProcess(wd, port, tmp_path / "old.log")
    operator_add(wd.config_dir, "alice", "operator")
    stop = asyncio.Event()
    try:
        old.start()
        await old.wait_ready()
        await send_all(old.url, wd, items[:6], ledger, duplicates=1)
        ids = await lifecycle_traffic(old.url, wd, 7100)
        puller = asyncio.create_task(pull_loop(old.url, H41, wd.token(H41), ledger, stop))
        acked_some = await wait_until(lambda: any(r == H41 for _, r in ledger.first_acks), 30.0)
        assert acked_some, "H41 acked nothing from the old hub"
        stop.set()
        await puller
        hub_cli("audit", "checkpoint", "--config", str(wd.config_dir))
        # The bulk while serving, then more traffic of every kind.
        hub_cli(*copy)
        operator_add(wd.config_dir, "bob", "viewer")
        await send_all(old.url, wd, items[6:], ledger, duplicates=0)
        ids += await lifecycle_traffic(old.url, wd, 7200)
        hub_cli("audit", "checkpoint", "--config", str(wd.config_dir))
    finally:
        assert old.stop() == 0  # writes a last checkpoint

    # What the dashboard and the retention write, on the stopped embedded store.
    config = load_config(wd.config_dir)
    signer = ReceiptSigner.from_files(
        config.settings.receipt_key, config.settings.receipt_cert, config.settings.receipt_rotation
    )
    async with SqliteStore(source_path, chainer=AuditChain()) as store:
        acked = [pid for (pid, r), n in ledger.first_acks.items() if n and r == H41]
        assert acked
        dash = store.dashboard()
        await dash.add_audit(AuditEntry(datetime.now(UTC), "alice", "login", None, {"ip": "::1"}))
        with sqlite3.connect(source_path) as conn:
            dead = conn.execute(
                "SELECT package_id, recipient FROM deliveries WHERE state = 'available' LIMIT 2"
            ).fetchall()
        for package_id, recipient in dead:
            await store.set_delivery_state(
                package_id, recipient, DeliveryState.DEAD, error="forced for the test"
            )
            assert await dash.discard_dead(package_id, recipient, "alice", datetime.now(UTC))
        await store.audit().add_signed_ack(
            SignedAck(acked[-1], H41, datetime.now(UTC), b"<signed ack/>")
        )
    hub_cli(*copy)
    async with SqliteStore(source_path, chainer=AuditChain()) as store:
        # Changes to rows copied before: a discard taken back (deleted), the oldest packages'
        # bytes purged.
        await store.dashboard().undiscard(*dead[1])
        run = await purge(
            store, package_days=1, purge_unacked=True, now=datetime.now(UTC) + timedelta(days=3),
            batch=2, max_batches=1,
        )  # fmt: skip
        assert run.purged
        await store.append_event(Event(package_id=None, kind="operator.test", at=datetime.now(UTC)))
        await write_checkpoint(store, signer, config.settings.hub_id)

    # The final copy brings everything; one more finds nothing to do.
    out = hub_cli(*copy)
    assert "0 events" not in out, out
    out = hub_cli(*copy)
    assert "0 new packages, 0 deliveries written, 0 events, 0 agency overrides" in out, out
    again = await asyncio.to_thread(copy_sqlite_to_postgres, source_path, PG_DSN, pg_schema)
    assert again.tables and not any(again.tables.values()), again.tables

    # Every table holds the same rows (sessions aside, by design).
    counts = assert_tables_equal(source_path, pg_schema)
    filled = ("audit_checkpoints", "audit_signed_acks", "lc_transitions", "lc_documents",
              "operators", "operator_audit", "dead_letter_discards", "audit_chains")  # fmt: skip
    for table in filled:
        assert counts[table], table
    pg = make_store(load_config(target))
    assert isinstance(pg, PostgresStore)
    # hub audit verify: the same verdict and figures on both stores, from the function and CLI.
    src_lines = await audit_lines(SqliteStore(source_path, chainer=AuditChain()), signer)
    assert await audit_lines(pg, signer) == src_lines
    code, text = cli_status("audit", "verify", "--config", str(target))
    assert code == 0 and "OK" in text, text
    # Lifecycle: history, reports and alarms are equal.
    assert await history(make_store(load_config(target)), ids) == await history(
        SqliteStore(source_path, chainer=AuditChain()), ids
    )
    for command in (("report", "--format", "json"), ("alarms",)):
        a = hub_cli(*command, "--config", str(wd.config_dir), "--now", NOW)
        b = hub_cli(*command, "--config", str(target), "--now", NOW)
        assert a == b and a.strip(), command
    # A time-stamp token attached to a copied checkpoint travels too (a bogus one here: both
    # stores give the same verdict on it), then the test takes it back on both sides.
    async with SqliteStore(source_path, chainer=AuditChain()) as store:
        await store.audit().set_checkpoint_tst(1, b"0\x03\x02\x01\x00")
    hub_cli(*copy)
    assert_tables_equal(source_path, pg_schema)
    async with SqliteStore(source_path, chainer=AuditChain()) as store:
        flagged = (await verify_store(store, signer)).lines()
    async with make_store(load_config(target)) as pg_store:
        assert (await verify_store(pg_store, signer)).lines() == flagged
    with sqlite3.connect(source_path) as conn:
        conn.execute("UPDATE audit_checkpoints SET tst = NULL WHERE id = 1")
    with psycopg.connect(PG_DSN) as pg_conn:
        pg_conn.execute(
            f'UPDATE "{pg_schema}".audit_checkpoints SET tst = NULL WHERE id = 1'  # noqa: S608
        )
    # Operators log in on the copy with their passwords.
    pg = make_store(load_config(target))
    async with pg:
        alice = await authenticate(pg.dashboard(), "alice", PASSWORD)
        assert alice is not None and alice.role == "operator"
        assert await authenticate(pg.dashboard(), "bob", "wrong password!") is None
        assert await authenticate(pg.dashboard(), "bob", PASSWORD) is not None
        # A hub on the copy continues: sequences past the copied values, new chains, the
        # next checkpoint linked to the copied ones.
        await pg.append_event(Event(package_id=None, kind="operator.test", at=datetime.now(UTC)))
        await pg.dashboard().add_audit(AuditEntry(datetime.now(UTC), "alice", "login"))
        row = await write_checkpoint(pg, signer, config.settings.hub_id)
        assert row.id == counts["audit_checkpoints"] + 1
        report = await verify_store(pg, signer)
        assert report.ok, report.lines()
        assert report.events == counts["events"] + 1
    # ... and after that the copy refuses to overwrite what the new hub wrote.
    code, text = cli_status(*copy)
    assert code != 0 and "not a copy of the source" in text, text
