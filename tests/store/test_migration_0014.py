"""Migration 0014 (issue 12) on both backends: a store at version 13 holding new documents
that reused their sender's DocumentId (what the read-then-insert race let in) migrates to the
unique constraint. The first of each (by seq) is kept as it was; the others are marked
``duplicate_of`` it and listed by ``Store.duplicate_documents`` (``hub db check-duplicates``);
nothing is deleted; a new package with a taken DocumentId is then refused by the index."""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from click.testing import CliRunner

from hub.audit.chain import AuditChain
from hub.cli import main
from hub.config import load_settings
from hub.sqlitedb import Migration, to_db_time
from hub.store.abc import AddOutcome, Store
from hub.store.postgres import PostgresStore
from hub.store.postgres.migrate import migrations as pg_migrations
from hub.store.sqlite import SqliteStore
from hub.store.sqlite import migrations as sqlite_migrations
from tests.conftest import WorkdirFactory
from tests.contracts.store_contract import G22, H29, H41, new_package
from tests.store.older import pg_schema_at, sqlite_at
from tests.store.pg_fixtures import pg_dsn, pg_schema  # noqa: F401  (fixtures)

T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
TAKEN = "Số 7/UBND-VP"  # NFC, as migration 0006 left every stored key

# (name, sender, kind, DocumentId, BussinessDocType), in acceptance order
ROWS: tuple[tuple[str, str, str, str, int | None], ...] = (
    ("first", H41, "document", TAKEN, 0),
    ("update", H41, "document", TAKEN, 2),  # names the original: not a new document
    ("dup1", H41, "document", TAKEN, 0),
    ("status", G22, "status", TAKEN, None),  # answers it
    ("other_sender", H29, "document", TAKEN, 0),  # another sender's own DocumentId
    ("dup2", H41, "document", TAKEN, 0),
    ("other_doc", H41, "document", "Số 8/UBND-VP", 0),
    ("h29_dup", H29, "document", TAKEN, 0),
)


def _ids() -> dict[str, str]:
    return {name: uuid.uuid4().hex for name, *_ in ROWS}


def _values(ids: dict[str, str], time: Callable[[datetime], object]) -> list[tuple[object, ...]]:
    return [
        (
            ids[name],
            hashlib.sha256(name.encode()).hexdigest(),
            sender,
            kind,
            document_id,
            bdt,
            '["000.00.00.G22"]',
            time(T0 + timedelta(seconds=n)),
            10,
            "f" * 64,
            "CN=Văn thư",
        )
        for n, (name, sender, kind, document_id, bdt) in enumerate(ROWS)
    ]


INSERT = (
    "INSERT INTO packages (id, sha256, sender, kind, document_id, business_doc_type, "
    "recipients, accepted_at, size, signer_fingerprint, signer_subject) "
    "VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
)


async def _check_migrated(store: Store, ids: dict[str, str]) -> None:
    assert await store.count_packages() == len(ROWS)  # nothing deleted
    for name in ids:
        assert await store.get_package(ids[name]) is not None
    found = await store.duplicate_documents()
    assert [(r.id, first) for r, first in found] == [
        (ids["dup1"], ids["first"]),
        (ids["dup2"], ids["first"]),
        (ids["h29_dup"], ids["other_sender"]),
    ]
    kept = await store.find_document(H41, TAKEN, 0)
    assert kept is not None and kept.id == ids["first"]
    # The index holds from now on: the DocumentId stays taken, by any spelling.
    later = new_package(sender=H41, document_id=TAKEN)
    fresh = new_package(sender=H41, document_id="Số 9/UBND-VP")
    assert await store.add_packages([later, fresh]) == [
        AddOutcome.CONFLICT,
        AddOutcome.INSERTED,
    ]
    assert await store.count_packages() == len(ROWS) + 1


def _older(migrations: Sequence[Migration]) -> list[Migration]:
    return [m for m in migrations if m.version < 14]


async def test_sqlite_0014_marks_existing_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    ids = _sqlite_at_13_with_duplicates(path)
    async with SqliteStore(path, chainer=AuditChain()) as store:
        assert store.schema_version >= 14
        await _check_migrated(store, ids)
    conn = sqlite3.connect(path)
    try:
        indexes = {r[1]: r[2] for r in conn.execute("PRAGMA index_list('packages')")}
        assert indexes["packages_new_document"] == 1  # unique
    finally:
        conn.close()


async def test_postgres_0014_marks_existing_duplicates(pg_dsn: str, pg_schema: str) -> None:  # noqa: F811
    ids = _ids()
    await pg_schema_at(
        pg_dsn,
        pg_schema,
        _older(pg_migrations()),
        [(INSERT.format(p="%s"), _values(ids, lambda t: t))],
    )
    store = PostgresStore(pg_dsn, schema=pg_schema, min_size=1, max_size=2, chainer=AuditChain())
    async with store:
        await _check_migrated(store, ids)
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
            (pg_schema, "packages_new_document"),
        )
        row = await cur.fetchone()
        assert row is not None and "UNIQUE" in row[0]


def _sqlite_at_13_with_duplicates(path: Path) -> dict[str, str]:
    ids = _ids()
    sqlite_at(path, _older(sqlite_migrations()), [(INSERT.format(p="?"), _values(ids, to_db_time))])
    return ids


def test_check_duplicates_lists_them_and_exits_1(make_workdir: WorkdirFactory) -> None:
    """What the operator runs after the upgrade: the marked packages, exit 1; none: exit 0."""
    workdir = make_workdir()
    path = load_settings(workdir.config_dir).sqlite_path
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = _sqlite_at_13_with_duplicates(path)
    args = ["db", "check-duplicates", "--config", str(workdir.config_dir)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    for name in ("dup1", "dup2", "h29_dup"):
        assert ids[name] in result.output
    assert ids["first"] in result.output and "3 new document(s)" in result.output
    clean = make_workdir()
    result = CliRunner().invoke(main, ["db", "check-duplicates", "--config", str(clean.config_dir)])
    assert result.exit_code == 0, result.output
    assert "no duplicate DocumentIds" in result.output
