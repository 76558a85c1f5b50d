"""Revocation cache SQL for :class:`~hub.store.postgres.PostgresStore` (tables of migration
0010). The statement text is shared with :mod:`hub.store.sqlite.revinfo` (``?`` becomes
``%s``); times are ``timestamptz`` here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from hub.store.facets import RevocationCacheStore
from hub.store.records import SourceState
from hub.store.sharedsql import pg as _pg
from hub.store.sharedsql import pg_in as _in
from hub.store.sharedsql import pg_out as _out
from hub.store.sqlite import revinfo as q
from signing.online import FetchedItem

Conn = psycopg.AsyncConnection[TupleRow]
Runner = Callable[[str, Callable[[Conn], Awaitable[Any]]], Awaitable[Any]]


class PostgresRevocationCache(RevocationCacheStore):
    """:class:`~hub.revinfo.RevocationCacheStore` through a PostgresStore's runners."""

    def __init__(self, read: Runner, write: Runner) -> None:
        self._read = read
        self._write = write

    async def put(self, items: Sequence[FetchedItem]) -> None:
        """See :meth:`RevocationCacheStore.put`."""
        rows = [q.item_row(i, _in) for i in items]

        async def tx(conn: Conn) -> None:
            async with conn.cursor() as cur:
                await cur.executemany(_pg(q.PUT), rows)

        if rows:
            await self._write("revocation_put", tx)

    async def items(self) -> Sequence[FetchedItem]:
        """See :meth:`RevocationCacheStore.items`."""

        async def run(conn: Conn) -> list[TupleRow]:
            cur = await conn.execute(_pg(q.ITEMS))
            return await cur.fetchall()

        rows: list[TupleRow] = await self._read("revocation_items", run)
        return [q.row_item(r, _out) for r in rows]

    async def record_attempt(
        self, url: str, kind: str, ok: bool, error: str | None, at: datetime
    ) -> None:
        """See :meth:`RevocationCacheStore.record_attempt`."""
        text, params = q.attempt_params(url, kind, ok, error, at, _in)

        async def run(conn: Conn) -> None:
            await conn.execute(_pg(text), params)

        await self._write("revocation_attempt", run)

    async def sources(self) -> Sequence[SourceState]:
        """See :meth:`RevocationCacheStore.sources`."""

        async def run(conn: Conn) -> list[TupleRow]:
            cur = await conn.execute(_pg(q.SOURCES))
            return await cur.fetchall()

        rows: list[TupleRow] = await self._read("revocation_sources", run)
        return [q.row_source(r, _out) for r in rows]
