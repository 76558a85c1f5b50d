"""``hub db copy`` carries the agency directory (migration 0013) from the embedded store to
PostgreSQL, revisions and times included, and a second copy changes nothing."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from hub.audit.chain import AuditChain
from hub.dbtools import copy_sqlite_to_postgres
from hub.models import DirectoryRecord
from hub.store.postgres import PostgresStore
from hub.store.sqlite import SqliteStore
from tests.store.pg_fixtures import pg_dsn, pg_schema  # noqa: F401 - fixtures

T1 = datetime(2026, 3, 2, 1, 30, 0, 123456, tzinfo=UTC)
T2 = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
ENTRIES = [
    DirectoryRecord(
        code="000.00.13.H29",
        name="Sở Tài chính Thành phố Hà Nội",
        parent="000.00.00.H29",
        code102="000.00.13.H29",
        old_code="STC.HN",
    ),
    DirectoryRecord("000.00.00.H17", "Ủy ban nhân dân Tỉnh Đắk Lắk"),
]


async def test_the_directory_is_copied(
    tmp_path: Path,
    pg_dsn: str,  # noqa: F811
    pg_schema: str,  # noqa: F811
) -> None:
    path = tmp_path / "hub.db"
    async with SqliteStore(path, chainer=AuditChain()) as store:
        await store.put_directory_records(ENTRIES, T1)
        renamed = replace(ENTRIES[0], name="Sở Tài chính Hà Nội")
        await store.put_directory_records([renamed], T2)
        source = list(await store.directory_records())
    report = await asyncio.to_thread(copy_sqlite_to_postgres, path, pg_dsn, pg_schema)
    assert report.tables.get("directory_entries") == 2
    async with PostgresStore(pg_dsn, schema=pg_schema, chainer=AuditChain()) as pg:
        assert list(await pg.directory_records()) == source
        assert await pg.directory_revision() == 2
    again = await asyncio.to_thread(copy_sqlite_to_postgres, path, pg_dsn, pg_schema)
    assert not again.tables.get("directory_entries")
