"""Migration 0008 on a store that already holds lifecycle rows (SQLite and PostgreSQL): the
codes recorded and the state before a pending 13 are rebuilt from the history, so a 16 after
the upgrade returns where the row was (issue 10)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from hub.audit.chain import AuditChain
from hub.sqlitedb import apply_migrations, to_db_time
from hub.store.postgres import PostgresStore
from hub.store.postgres import migrate as pgmigrate
from hub.store.records import DocState
from hub.store.sqlite import SqliteStore
from hub.store.sqlite import migrations as sqlite_migrations
from tests.store.pg_fixtures import pg_dsn, pg_schema

__all__ = ["pg_dsn", "pg_schema"]

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
KEY = "000.00.00.G22,2026/03/02,1/CV"
A, B, C = "000.00.00.G22", "000.00.00.H41", "000.00.00.H29"
# B went 03, 05, 05, 01 and was asked back (13) from 01; C never answered.
HISTORY = [(B, "", "none"), (C, "", "none"), (B, "none", "03"), (B, "03", "05"),
           (B, "05", "05"), (B, "05", "01"), (B, "01", "13")]  # fmt: skip
ROWS = [(B, "13"), (C, "none")]
INSERT_DOC = (
    "INSERT INTO {p}lc_documents (package_id, recipient, author, document_id, "
    "business_doc_type, original_id, state, sent_at, answered_at, updated_at) "
    "VALUES (?, ?, ?, ?, 0, NULL, ?, ?, NULL, ?)"
)
INSERT_TR = (
    "INSERT INTO {p}lc_transitions (subject, key, party, from_state, to_state, package_id, "
    "sha256, at, actor) VALUES ('document', ?, ?, ?, ?, 'p1', ?, ?, ?)"
)


def _check(rows: list[DocState]) -> None:
    got = {r.recipient: (r.state, r.prior_state, r.codes) for r in rows}
    assert got == {B: ("13", "01", ("03", "05", "01", "13")), C: ("none", None, ())}


async def test_sqlite_backfill(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite"
    before = [m for m in sqlite_migrations() if m.version < 8]
    conn = sqlite3.connect(path, isolation_level=None)
    apply_migrations(conn, "schema_version", before)
    t = to_db_time(T0)
    for who, state in ROWS:
        conn.execute(INSERT_DOC.format(p=""), ("p1", who, A, KEY, state, t, t))
    for i, (who, f, to) in enumerate(HISTORY):
        conn.execute(INSERT_TR.format(p=""), (KEY, who, f, to, f"s{i}", t, A))
    conn.close()
    async with SqliteStore(path, chainer=AuditChain()) as store:
        _check(list(await store.lifecycle().documents(KEY)))


async def test_postgres_backfill(pg_dsn: str, pg_schema: str) -> None:
    before = [m for m in pgmigrate.migrations() if m.version < 8]
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        await pgmigrate.apply_migrations(conn, pg_schema, before)
        p = f"{pg_schema}."
        for who, state in ROWS:
            await conn.execute(
                INSERT_DOC.format(p=p).replace("?", "%s"), ("p1", who, A, KEY, state, T0, T0)
            )
        for i, (who, f, to) in enumerate(HISTORY):
            await conn.execute(
                INSERT_TR.format(p=p).replace("?", "%s"), (KEY, who, f, to, f"s{i}", T0, A)
            )
    async with PostgresStore(pg_dsn, schema=pg_schema, max_size=2, chainer=AuditChain()) as store:
        _check(list(await store.lifecycle().documents(KEY)))
