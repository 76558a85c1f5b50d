"""Vietnamese text in both stores (issue 10): the text contract on SQLite and PostgreSQL, and
migration 0006 normalising keys that were stored in NFD before it."""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hub.audit.chain import AuditChain
from hub.sqlitedb import apply_migrations
from hub.store.abc import Store
from hub.store.postgres import PostgresStore
from hub.store.postgres import migrate as pgmigrate
from hub.store.sqlite import SqliteStore
from hub.store.sqlite import migrations as sqlite_migrations
from tests.contracts.text_contract import (
    EncryptedIndexContract,
    RawSubject,
    TextContract,
)
from tests.store.pg_fixtures import pg_dsn, pg_schema  # noqa: F401 - fixtures

G22, H41 = "000.00.00.G22", "000.00.00.H41"
DOC_ID = "000.00.00.H41,2026/03/02,12/QĐ-Bộ Tư pháp"
MA_HO_SO = "000.00.00.H41-260302-0001-Hồ sơ đất đai"
T = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


# -- the contract on both backends ---------------------------------------------------------------


class TestSqliteText(TextContract):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Callable[[], Store]:
        return lambda: SqliteStore(tmp_path / "hub.db", chainer=AuditChain())

    @pytest.fixture
    def raw_subject(self, tmp_path: Path) -> RawSubject:
        async def read(store: Store, package_id: str) -> tuple[str | None, str | None]:
            with sqlite3.connect(tmp_path / "hub.db") as conn:
                row = conn.execute(
                    "SELECT subject, subject_terms FROM packages WHERE id = ?", (package_id,)
                ).fetchone()
            return row[0], row[1]

        return read


class TestPostgresText(TextContract):
    @pytest.fixture
    def store_factory(self, pg_dsn: str, pg_schema: str) -> Callable[[], Store]:  # noqa: F811
        return lambda: PostgresStore(pg_dsn, schema=pg_schema, max_size=2, chainer=AuditChain())

    @pytest.fixture
    def raw_subject(self, pg_dsn: str, pg_schema: str) -> RawSubject:  # noqa: F811
        async def read(store: Store, package_id: str) -> tuple[str | None, str | None]:
            async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
                cur = await conn.execute(
                    psycopg.sql.SQL(
                        "SELECT subject, subject_terms FROM {}.packages WHERE id = %s"
                    ).format(psycopg.sql.Identifier(pg_schema)),
                    (package_id,),
                )
                row = await cur.fetchone()
            assert row is not None
            return row[0], row[1]

        return read


class TestSqliteEncryptedIndex(EncryptedIndexContract):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Callable[[], Store]:
        return lambda: SqliteStore(tmp_path / "hub.db", chainer=AuditChain())


class TestPostgresEncryptedIndex(EncryptedIndexContract):
    @pytest.fixture
    def store_factory(self, pg_dsn: str, pg_schema: str) -> Callable[[], Store]:  # noqa: F811
        return lambda: PostgresStore(pg_dsn, schema=pg_schema, max_size=2, chainer=AuditChain())


# -- migration 0006: keys stored in NFD before it ------------------------------------------------

# Rows as a hub before 0006 wrote them: keys in the form the sender used (NFD here).
_ROWS: list[tuple[str, tuple[str, ...]]] = [
    (
        "INSERT INTO packages (id, sha256, sender, kind, document_id, business_doc_type, "
        "recipients, accepted_at, size, signer_fingerprint, signer_subject) "
        "VALUES ({p}, {p}, {p}, 'document', {p}, 0, {p}, {p}, 3, 'f', 'CN=x')",
        ("pkg-1", "sha-1", H41, "DOC", '["000.00.00.G22"]', "T"),
    ),
    (
        "INSERT INTO package_blobs (package_id, data, receipt) VALUES ({p}, {p}, {p})",
        ("pkg-1", "BYTES", "RECEIPT"),
    ),
    (
        "INSERT INTO packages (id, sha256, sender, kind, document_id, business_doc_type, "
        "status_code, recipients, accepted_at, size, signer_fingerprint, signer_subject) "
        "VALUES ({p}, {p}, {p}, 'status', {p}, NULL, '01', {p}, {p}, 3, 'f', 'CN=x')",
        ("pkg-2", "sha-2", G22, "DOC", '["000.00.00.H41"]', "T"),
    ),
    (
        "INSERT INTO deliveries (package_id, recipient, seq, state, updated_at) "
        "VALUES ({p}, {p}, 2, 'available', {p})",
        ("pkg-2", H41, "T"),
    ),
    (
        "INSERT INTO lc_documents (package_id, recipient, author, document_id, "
        "business_doc_type, original_id, state, sent_at, updated_at) "
        "VALUES ({p}, {p}, {p}, {p}, 1, {p}, 'none', {p}, {p})",
        ("pkg-1", G22, H41, "DOC", "DOC", "T", "T"),
    ),
    (
        "INSERT INTO lc_dossiers (ma_ho_so, agency, submitter, online, state, submitted_at, "
        "updated_at, package_id) VALUES ({p}, {p}, {p}, {p}, '1', {p}, {p}, 'pkg-3')",
        ("MA", G22, H41, "ONLINE", "T", "T"),
    ),
    (
        "INSERT INTO lc_transitions (subject, key, party, from_state, to_state, package_id, "
        "sha256, at, actor) VALUES ('document', {p}, {p}, '', 'none', 'pkg-1', 'sha-1', {p}, {p})",
        ("DOC", G22, "T", H41),
    ),
    (
        "INSERT INTO lc_notified (alarm_key, kind, notified_at) "
        "VALUES ({p}, 'dossier_overdue', {p})",
        ("ALARM", "T"),
    ),
]


def _values(names: tuple[str, ...], *, sqlite: bool) -> list[Any]:
    t: Any = T.isoformat(timespec="microseconds") if sqlite else T
    by_name: dict[str, Any] = {
        "DOC": nfd(DOC_ID),
        "MA": nfd(MA_HO_SO),
        "ALARM": nfd(f"dossier_overdue:{MA_HO_SO}"),
        "T": t,
        "ONLINE": 1 if sqlite else True,
        "BYTES": nfd("<edXML>Quyết định</edXML>").encode(),
        "RECEIPT": b"<Receipt/>",
    }
    return [by_name.get(n, n) for n in names]


async def _assert_migrated(store: Store) -> None:
    found = await store.find_document(H41, DOC_ID, 0)
    assert found is not None and found.id == "pkg-1"
    assert found.document_id == DOC_ID  # NFC now
    assert [r.id for r in await store.related_statuses(H41, DOC_ID)] == ["pkg-2"]
    lc = store.lifecycle()
    rows = await lc.documents(DOC_ID)
    assert [(r.package_id, r.document_id, r.original_id) for r in rows] == [
        ("pkg-1", DOC_ID, DOC_ID)
    ]
    dossier = await lc.dossier(MA_HO_SO)
    assert dossier is not None and dossier.ma_ho_so == MA_HO_SO
    assert [t.key for t in await lc.transitions(key=DOC_ID)] == [DOC_ID]
    # Already notified under the NFC key: not notified a second time.
    key = f"dossier_overdue:{MA_HO_SO}"
    assert await lc.claim_notifications([(key, "dossier_overdue")], T) == []
    # The package bytes are evidence: untouched, still NFD.
    assert await store.get_bytes("pkg-1") == nfd("<edXML>Quyết định</edXML>").encode()


async def test_sqlite_migration_normalises_nfd_keys(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    before = [m for m in sqlite_migrations() if m.version <= 5]
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        assert apply_migrations(conn, "schema_version", before) == 5
        for sql, names in _ROWS:
            conn.execute(sql.format(p="?"), _values(names, sqlite=True))
    finally:
        conn.close()
    async with SqliteStore(path, chainer=AuditChain()) as store:
        assert isinstance(store, SqliteStore) and store.schema_version >= 6
        await _assert_migrated(store)


async def test_postgres_migration_normalises_nfd_keys(
    pg_dsn: str,  # noqa: F811
    pg_schema: str,  # noqa: F811
) -> None:
    before = [m for m in pgmigrate.migrations() if m.version <= 5]
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        assert await pgmigrate.apply_migrations(conn, pg_schema, before) == 5
        await conn.execute(
            psycopg.sql.SQL("SET search_path TO {}").format(psycopg.sql.Identifier(pg_schema))
        )
        for sql, names in _ROWS:
            await conn.execute(sql.format(p="%s"), _values(names, sqlite=False))  # type: ignore[arg-type]
    async with PostgresStore(pg_dsn, schema=pg_schema, max_size=2, chainer=AuditChain()) as store:
        await _assert_migrated(store)
