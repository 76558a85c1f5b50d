"""The agency directory (issue 11, migration 0013) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hub.audit.chain import AuditChain
from hub.store.abc import Store
from hub.store.postgres import PostgresStore
from hub.store.sqlite import SqliteStore
from tests.contracts.directory_contract import DirectoryContract
from tests.store.pg_fixtures import pg_dsn, pg_schema  # noqa: F401 - fixtures


class TestSqliteDirectory(DirectoryContract):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Callable[[], Store]:
        return lambda: SqliteStore(tmp_path / "hub.db", busy_timeout_ms=5000, chainer=AuditChain())


class TestPostgresDirectory(DirectoryContract):
    @pytest.fixture
    def store_factory(self, pg_dsn: str, pg_schema: str) -> Callable[[], Store]:  # noqa: F811
        return lambda: PostgresStore(pg_dsn, schema=pg_schema, max_size=4, chainer=AuditChain())
