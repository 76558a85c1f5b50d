"""The lifecycle store contract on SQLite and on a real PostgreSQL (own schema per test)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hub.audit.chain import AuditChain
from hub.store.abc import Store
from hub.store.postgres import PostgresStore
from hub.store.sqlite import SqliteStore
from tests.contracts.lifecycle_contract import (
    LastActivityContract,
    LifecycleContract,
    WalkMarkContract,
)
from tests.store.pg_fixtures import pg_dsn, pg_schema

__all__ = ["pg_dsn", "pg_schema"]  # fixtures the PostgreSQL class uses


class TestSqliteLifecycle(LifecycleContract, LastActivityContract, WalkMarkContract):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Callable[[], Store]:
        return lambda: SqliteStore(tmp_path / "hub.sqlite", chainer=AuditChain())


class TestPostgresLifecycle(LifecycleContract, LastActivityContract, WalkMarkContract):
    @pytest.fixture
    def store_factory(self, pg_dsn: str, pg_schema: str) -> Callable[[], Store]:
        return lambda: PostgresStore(pg_dsn, schema=pg_schema, max_size=4, chainer=AuditChain())
