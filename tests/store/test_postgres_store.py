"""PostgresStore: the shared store contract against a real server, plus what only PostgreSQL
has (schemas, concurrent migrators, lost connections, the pool healing)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hub.store.abc import Store
from hub.store.postgres import PostgresStore
from tests.contracts.store_contract import StoreContract
from tests.store.pg_fixtures import pg_dsn, pg_schema

__all__ = ["pg_dsn", "pg_schema"]  # fixtures used by this module


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store_factory(self, pg_dsn: str, pg_schema: str) -> Callable[[], Store]:
        return lambda: PostgresStore(pg_dsn, schema=pg_schema, max_size=4)
