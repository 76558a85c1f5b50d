"""The revocation cache for :class:`~hub.store.sqlite.SqliteStore`: the shared statements of
:mod:`hub.store.sql.revinfo` on the store's reader and writer threads."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from hub.sqlitedb import SqliteConnection
from hub.store.facets import RevocationCacheStore
from hub.store.records import SourceState
from hub.store.sql import revinfo as rv
from hub.store.sqlite.dialect import SQLITE
from signing.online import FetchedItem


class SqliteRevocationCache(RevocationCacheStore):
    """:class:`~hub.store.facets.RevocationCacheStore` on a SqliteStore's reader and writer."""

    def __init__(self, reader: SqliteConnection, writer: SqliteConnection) -> None:
        self._reader = reader
        self._writer = writer

    async def put(self, items: Sequence[FetchedItem]) -> None:
        """See :meth:`RevocationCacheStore.put`."""
        rows = [rv.item_row(i, SQLITE) for i in items]

        def tx(conn: sqlite3.Connection) -> None:
            conn.executemany(rv.PUT, rows)

        await self._writer.write(tx)

    async def items(self) -> Sequence[FetchedItem]:
        """See :meth:`RevocationCacheStore.items`."""
        rows = await self._reader.run(lambda c: c.execute(rv.ITEMS).fetchall())
        return [rv.row_item(r, SQLITE) for r in rows]

    async def record_attempt(
        self, url: str, kind: str, ok: bool, error: str | None, at: datetime
    ) -> None:
        """See :meth:`RevocationCacheStore.record_attempt`."""
        text, params = rv.attempt_params(url, kind, ok, error, at, SQLITE)
        await self._writer.write(lambda c: c.execute(text, params))

    async def sources(self) -> Sequence[SourceState]:
        """See :meth:`RevocationCacheStore.sources`."""
        rows = await self._reader.run(lambda c: c.execute(rv.SOURCES).fetchall())
        return [rv.row_source(r, SQLITE) for r in rows]
