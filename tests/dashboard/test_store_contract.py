"""The dashboard contract on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hub.audit.chain import AuditChain
from hub.store.abc import Store
from hub.store.postgres import PostgresStore
from hub.store.sqlite import SqliteStore
from tests.contracts.dashboard_contract import DashboardContract
from tests.store.pg_fixtures import pg_dsn, pg_schema

__all__ = ["pg_dsn", "pg_schema"]


class TestSqliteDashboard(DashboardContract):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Callable[[], Store]:
        return lambda: SqliteStore(tmp_path / "hub.db", chainer=AuditChain())


@pytest.mark.services
class TestPostgresDashboard(DashboardContract):
    @pytest.fixture
    def store_factory(self, pg_dsn: str, pg_schema: str) -> Callable[[], Store]:
        return lambda: PostgresStore(pg_dsn, schema=pg_schema, max_size=4, chainer=AuditChain())
