"""The ``sqldb`` adapter against a real agency database (SQLite file; PostgreSQL when running)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from adapters.dvcqg.mapping import fields_from_ho_so, fields_from_tien_do
from adapters.sqldb import SqldbAdapter, create_adapter
from adapters.sqldb.simulator import AgencySoftware, RolledBack
from hub.adapter import (
    Adapter,
    AdapterConfig,
    DeliverRequest,
    ExternalUnavailable,
    NativeInvalid,
    NativeRecord,
    PollRequest,
    StartRequest,
    StopRequest,
    ToPackageRequest,
    stable_package_id,
)
from hub.dossier import VN_TZ
from hub.testing import AdapterContract, sample_ho_so, sample_tien_do
from tests.adapters.sim_fixtures import G22, H41, dossier, progress, record, round_trip
from tests.conftest import require_service

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def agency_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The agency's database: settings for the adapter and its own software."""
    if request.param == "sqlite":
        path = tmp_path / "agency.sqlite3"
        app = AgencySoftware(sqlite_path=path)
        app.install()
        yield {"settings": {"dsn": f"sqlite:///{path}", "busy_timeout_ms": 200}, "app": app}
        return
    require_service("PostgreSQL", "127.0.0.1", 5432)
    schema = f"sqldb_{uuid.uuid4().hex[:12]}"
    app = AgencySoftware(pg_dsn=PG_DSN, schema=schema)
    app.install()
    try:
        yield {"settings": {"dsn": PG_DSN, "schema": schema}, "app": app}
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


@pytest.fixture
async def adapter(agency_db: dict[str, Any], tmp_path: Path) -> AsyncIterator[SqldbAdapter]:
    a = create_adapter(AdapterConfig("sqldb", H41, agency_db["settings"], tmp_path / "state"))
    await a.start(StartRequest(datetime.now(VN_TZ)))
    yield a
    await a.stop(StopRequest())


async def drain(
    a: SqldbAdapter, cursor: str | None = None, limit: int = 100
) -> tuple[list[Any], str | None]:
    """Poll until empty, as a connector does after sending each page."""
    got = []
    while True:
        result = await a.poll(PollRequest(cursor=cursor, limit=limit))
        got.extend(result.records)
        cursor = result.cursor
        if not result.records:
            return got, cursor


def test_round_trip(tmp_path: Path) -> None:
    a = create_adapter(AdapterConfig("sqldb", H41, {"dsn": "sqlite:x.db"}, tmp_path))
    for rec in (
        record(dossier()),
        record(progress("H41.01-250101-0001", "9", "20250103100000"), "dossier_progress"),
    ):
        back = round_trip(a, rec)
        assert back.fields == rec.fields and back.key == rec.key
    with pytest.raises(NativeInvalid) as info:
        a.to_package(
            ToPackageRequest(
                record({**dossier(), "NgayHenTra": "06/01/2025"}), H41, "p", datetime.now(VN_TZ)
            )
        )
    assert info.value.field == "NgayHenTra"


async def test_outbox_sent_once_and_marked(
    adapter: SqldbAdapter, agency_db: dict[str, Any]
) -> None:
    app: AgencySoftware = agency_db["app"]
    app.register(dossier("HS-1"))
    app.progress(progress("HS-1", "4", "20250102090000"))
    with pytest.raises(RolledBack):
        app.register(dossier("HS-ROLLED-BACK"), fail=True)
    app.register(dossier("HS-2"))

    first = await adapter.poll(PollRequest(cursor=None, limit=2))
    assert [r.key for r in first.records] == ["HS-1", "HS-1/20250102090000"] and first.more
    assert first.records[0].fields == dossier("HS-1")
    # the connector crashed before storing the cursor: the same rows, same versions again
    again = await adapter.poll(PollRequest(cursor=None, limit=2))
    assert [(r.key, r.version) for r in again.records] == [
        (r.key, r.version) for r in first.records
    ]
    second = await adapter.poll(PollRequest(cursor=first.cursor, limit=2))
    assert [r.key for r in second.records] == ["HS-2"]
    third = await adapter.poll(PollRequest(cursor=second.cursor, limit=2))
    assert third.records == () and third.cursor is None

    rows = app.query("SELECT id, record_key, sent_at, package_id FROM {outbox} ORDER BY id")
    assert len(rows) == 3  # the rolled-back change left no outbox row
    for row_id, key, sent_at, package_id in rows:
        assert sent_at is not None
        assert package_id == stable_package_id(H41, key, str(row_id))
    # nothing is ever returned again
    assert (await adapter.poll(PollRequest(cursor=None))).records == ()


async def test_late_commit_is_not_skipped(adapter: SqldbAdapter, agency_db: dict[str, Any]) -> None:
    app: AgencySoftware = agency_db["app"]
    app.register(dossier("HS-1"))
    app.register(dossier("HS-2"))
    # HS-1's row is "not yet committed" when the first poll runs: simulate by polling one
    first = await adapter.poll(PollRequest(cursor=None, limit=1))
    second = await adapter.poll(PollRequest(cursor=first.cursor, limit=1))
    assert [r.key for r in first.records + second.records] == ["HS-1", "HS-2"]


async def test_bad_rows_are_kept_with_the_field(
    adapter: SqldbAdapter, agency_db: dict[str, Any]
) -> None:
    app: AgencySoftware = agency_db["app"]
    app.insert_raw("HS-BAD", "dossier", json.dumps({**dossier("HS-BAD"), "LoaiDoiTuong": "9"}))
    app.insert_raw("HS-JSON", "dossier", "{not json")
    app.register(dossier("HS-OK"))
    records, _ = await drain(adapter)
    bad = records[0]
    with pytest.raises(NativeInvalid) as info:
        adapter.to_package(ToPackageRequest(bad, H41, "p", datetime.now(VN_TZ)))
    assert info.value.field == "LoaiDoiTuong"
    rows = app.query("SELECT record_key, sent_at, error FROM {outbox} ORDER BY id")
    assert rows[0][0] == "HS-BAD" and rows[0][1] is None and rows[0][2].startswith("LoaiDoiTuong")
    assert rows[1][0] == "HS-JSON" and rows[1][1] is None and rows[1][2].startswith("payload")
    assert rows[2][0] == "HS-OK" and rows[2][1] is not None and rows[2][2] is None


async def test_inbox_written_once(adapter: SqldbAdapter, agency_db: dict[str, Any]) -> None:
    app: AgencySoftware = agency_db["app"]
    rec = round_trip(adapter, record(dossier("HS-IN")), sender=G22)
    first = await adapter.deliver(DeliverRequest("pkg-a", G22, rec))
    again = await adapter.deliver(DeliverRequest("pkg-a", G22, rec))
    assert first.applied and not again.applied
    step = record(progress("HS-IN", "10", "20250105160000"), "dossier_progress")
    assert (await adapter.deliver(DeliverRequest("pkg-b", G22, step))).applied
    rows = app.query("SELECT package_id, kind, payload FROM {inbox} ORDER BY package_id")
    assert [r[0] for r in rows] == ["pkg-a", "pkg-b"]
    assert json.loads(rows[0][2]) == dossier("HS-IN")
    assert "Nguyễn Thị Hằng" in rows[0][2]  # readable UTF-8, not \u escapes
    assert app.process_inbox() == ["pkg-a", "pkg-b"]
    assert app.process_inbox() == []
    (state,) = app.query("SELECT trang_thai FROM {ho_so} WHERE ma_ho_so = 'HS-IN'")
    assert state == ("10",)


async def test_sqlite_locked_is_transient(tmp_path: Path) -> None:
    path = tmp_path / "agency.sqlite3"
    app = AgencySoftware(sqlite_path=path)
    app.install()
    a = create_adapter(
        AdapterConfig("sqldb", H41, {"dsn": f"sqlite:///{path}", "busy_timeout_ms": 100}, tmp_path)
    )
    await a.start(StartRequest(datetime.now(VN_TZ)))
    try:
        rec = record(dossier("HS-L"))
        with app.hold_write_lock(), pytest.raises(ExternalUnavailable):
            await a.deliver(DeliverRequest("pkg-l", G22, rec))
        assert (await a.deliver(DeliverRequest("pkg-l", G22, rec))).applied
    finally:
        await a.stop(StopRequest())


async def test_postgres_session_killed_reconnects(tmp_path: Path) -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    schema = f"sqldb_{uuid.uuid4().hex[:12]}"
    app = AgencySoftware(pg_dsn=PG_DSN, schema=schema)
    app.install()
    a = create_adapter(AdapterConfig("sqldb", H41, {"dsn": PG_DSN, "schema": schema}, tmp_path))
    try:
        await a.start(StartRequest(datetime.now(VN_TZ)))
        app.register(dossier("HS-K"))
        assert app.kill_adapter_sessions() >= 1
        with pytest.raises(ExternalUnavailable):
            await a.poll(PollRequest(cursor=None))
        records, _ = await drain(a)
        assert [r.key for r in records] == ["HS-K"]
    finally:
        await a.stop(StopRequest())
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


# ------------------------------------------------------------------ the shared contract suite


def _contract_records() -> list[NativeRecord]:
    full = fields_from_ho_so(sample_ho_so("D-1"))
    step = fields_from_tien_do(sample_tien_do("D-1"))
    return [
        NativeRecord("D-1", "1", "dossier", full),
        NativeRecord("D-1/20240316091500", "2", "dossier_progress", step),
    ]


def _contract_invalid() -> list[tuple[NativeRecord, str]]:
    base = fields_from_ho_so(sample_ho_so("D-1"))
    fees = [{"TenPhiLePhi": "Lệ phí", "Gia": "75.000đ"}]
    return [
        (NativeRecord("D-1", "9", "dossier", {**base, "NgayHenTra": "2024-03-29"}), "NgayHenTra"),
        (NativeRecord("D-1", "9", "dossier", {**base, "LoaiDoiTuong": "3"}), "LoaiDoiTuong"),
        (
            NativeRecord("D-1", "9", "dossier", {**base, "DanhSachLePhi": fees}),
            "DanhSachLePhi[0].Gia",
        ),
    ]


class TestSqldbSqliteContract(AdapterContract):
    """The shared contract against an SQLite agency database."""

    sender = H41

    async def open_adapter(self, data_dir: Path) -> Adapter:
        path = data_dir / "agency.sqlite3"
        AgencySoftware(sqlite_path=path).install()
        adapter = create_adapter(
            AdapterConfig("sqldb", H41, {"dsn": f"sqlite:///{path}"}, data_dir)
        )
        await adapter.start(StartRequest(datetime.now(VN_TZ)))
        return adapter

    def valid_records(self) -> list[NativeRecord]:
        return _contract_records()

    def invalid_records(self) -> list[tuple[NativeRecord, str]]:
        return _contract_invalid()

    async def add_native(self, adapter: Adapter, record: NativeRecord) -> None:
        assert isinstance(adapter, SqldbAdapter)
        path = adapter.db.path  # type: ignore[attr-defined]
        AgencySoftware(sqlite_path=path).insert_raw(
            record.key, record.kind, json.dumps(dict(record.fields), ensure_ascii=False)
        )


class TestSqldbPostgresContract(AdapterContract):
    """The shared contract against a PostgreSQL agency database (own schema, dropped after)."""

    sender = H41
    schema: str

    @pytest.fixture(autouse=True)
    def pg_schema(self) -> Iterator[str]:
        require_service("PostgreSQL", "127.0.0.1", 5432)
        self.schema = f"sqldb_{uuid.uuid4().hex[:12]}"
        AgencySoftware(pg_dsn=PG_DSN, schema=self.schema).install()
        yield self.schema
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'.encode())

    async def open_adapter(self, data_dir: Path) -> Adapter:
        settings = {"dsn": PG_DSN, "schema": self.schema}
        adapter = create_adapter(AdapterConfig("sqldb", H41, settings, data_dir))
        await adapter.start(StartRequest(datetime.now(VN_TZ)))
        return adapter

    def valid_records(self) -> list[NativeRecord]:
        return _contract_records()

    def invalid_records(self) -> list[tuple[NativeRecord, str]]:
        return _contract_invalid()

    async def add_native(self, adapter: Adapter, record: NativeRecord) -> None:
        AgencySoftware(pg_dsn=PG_DSN, schema=self.schema).insert_raw(
            record.key, record.kind, json.dumps(dict(record.fields), ensure_ascii=False)
        )


async def test_sent_hook_marks_the_row_with_the_hubs_id_and_receipt(
    adapter: SqldbAdapter, agency_db: dict[str, Any]
) -> None:
    import hashlib

    from hub.adapter import SentRequest, sent_hook

    app: AgencySoftware = agency_db["app"]
    app.register(dossier("HS-R1"))
    app.register(dossier("HS-R2"))  # the hub refuses this one: no receipt, no hook call
    page = await adapter.poll(PollRequest(cursor=None))
    accepted = page.records[0]
    receipt = "<Receipt xmlns='urn:vnhub:receipt:1'>Nguyễn Thị Ánh Tuyết</Receipt>".encode()
    request = SentRequest(
        record_key=accepted.key,
        version=accepted.version,
        kind="dossier",
        package_id="hub-package-1",
        sender_package_id=stable_package_id(H41, accepted.key, accepted.version),
        receipt=receipt,
        receipt_sha256=hashlib.sha256(receipt).hexdigest(),
        accepted_at=datetime.now(VN_TZ),
    )
    assert sent_hook(adapter) is not None
    await adapter.sent(request)
    await adapter.sent(request)  # again after a crash: idempotent
    await drain(adapter, page.cursor)  # the next poll marks what has no receipt
    rows = app.query(
        "SELECT record_key, package_id, receipt, receipt_sha256, sent_at FROM {outbox} ORDER BY id"
    )
    (key1, id1, receipt1, sha1, sent1), (key2, id2, receipt2, sha2, sent2) = rows
    assert (key1, id1, receipt1, sha1) == (
        "HS-R1",
        "hub-package-1",
        receipt.decode(),
        hashlib.sha256(receipt).hexdigest(),
    )
    assert sent1 is not None and sent2 is not None
    assert (key2, receipt2, sha2) == ("HS-R2", None, None)
    assert id2 == stable_package_id(H41, "HS-R2", page.records[1].version)


async def test_an_older_outbox_gains_the_receipt_columns(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE hub_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, record_key TEXT NOT"
            " NULL, kind TEXT NOT NULL, payload TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT"
            " '', sent_at TEXT, package_id TEXT, error TEXT)"
        )
    a = create_adapter(AdapterConfig("sqldb", H41, {"dsn": f"sqlite:///{path}"}, tmp_path))
    await a.start(StartRequest(datetime.now(VN_TZ)))
    await a.stop(StopRequest())
    with sqlite3.connect(path) as conn:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(hub_outbox)")}
    assert {"receipt", "receipt_sha256"} <= columns
