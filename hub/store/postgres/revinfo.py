"""The revocation cache for :class:`~hub.store.postgres.PostgresStore`: the shared statements
of :mod:`hub.store.sql.revinfo` through the store's runners."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from psycopg.rows import TupleRow

from hub.store.facets import RevocationCacheStore
from hub.store.postgres.dialect import POSTGRES, Conn, Runner, fetchall
from hub.store.records import SourceState
from hub.store.sql import revinfo as rv
from signing.online import FetchedItem


def _rows(text: str) -> Callable[[Conn], Awaitable[list[TupleRow]]]:
    query = POSTGRES.sql(text)
    return lambda conn: fetchall(conn, query)


class PostgresRevocationCache(RevocationCacheStore):
    """:class:`~hub.store.facets.RevocationCacheStore` through a PostgresStore's runners."""

    def __init__(self, read: Runner, write: Runner) -> None:
        self._read = read
        self._write = write

    async def put(self, items: Sequence[FetchedItem]) -> None:
        """See :meth:`RevocationCacheStore.put`."""
        rows = [rv.item_row(i, POSTGRES) for i in items]

        async def tx(conn: Conn) -> None:
            async with conn.cursor() as cur:
                await cur.executemany(POSTGRES.sql(rv.PUT), rows)

        if rows:
            await self._write("revocation_put", tx)

    async def items(self) -> Sequence[FetchedItem]:
        """See :meth:`RevocationCacheStore.items`."""
        rows: list[TupleRow] = await self._read("revocation_items", _rows(rv.ITEMS))
        return [rv.row_item(r, POSTGRES) for r in rows]

    async def record_attempt(
        self, url: str, kind: str, ok: bool, error: str | None, at: datetime
    ) -> None:
        """See :meth:`RevocationCacheStore.record_attempt`."""
        text, params = rv.attempt_params(url, kind, ok, error, at, POSTGRES)

        async def run(conn: Conn) -> None:
            await conn.execute(POSTGRES.sql(text), params)

        await self._write("revocation_attempt", run)

    async def sources(self) -> Sequence[SourceState]:
        """See :meth:`RevocationCacheStore.sources`."""
        rows: list[TupleRow] = await self._read("revocation_sources", _rows(rv.SOURCES))
        return [rv.row_source(r, POSTGRES) for r in rows]
