"""Revocation cache SQL for :class:`~hub.store.sqlite.SqliteStore` (tables of migration 0010).

The statement text is shared with :mod:`hub.store.postgres.revinfo` (``?`` becomes ``%s``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.sqlitedb import SqliteConnection, from_db_time, to_db_time
from hub.store.facets import RevocationCacheStore
from hub.store.records import SourceState
from signing.online import FetchedItem

# Replace only with a newer list/answer: concurrent writers (hub processes, the refresh)
# never move the cache backwards.
PUT = (
    "INSERT INTO revocation_cache (key, kind, url, der, this_update, next_update, fetched_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET der = excluded.der, this_update = excluded.this_update, "
    "next_update = excluded.next_update, fetched_at = excluded.fetched_at, url = excluded.url "
    "WHERE excluded.this_update > revocation_cache.this_update"
)
ITEMS = (
    "SELECT kind, key, url, der, this_update, next_update, fetched_at FROM revocation_cache "
    "ORDER BY key"
)
ATTEMPT_OK = (
    "INSERT INTO revocation_sources (url, kind, failures, failing_since, last_error, last_ok, "
    "last_attempt) VALUES (?, ?, 0, NULL, NULL, ?, ?) "
    "ON CONFLICT (url) DO UPDATE SET failures = 0, failing_since = NULL, last_error = NULL, "
    "last_ok = excluded.last_ok, last_attempt = excluded.last_attempt"
)
ATTEMPT_FAILED = (
    "INSERT INTO revocation_sources (url, kind, failures, failing_since, last_error, last_ok, "
    "last_attempt) VALUES (?, ?, 1, ?, ?, NULL, ?) "
    "ON CONFLICT (url) DO UPDATE SET failures = revocation_sources.failures + 1, "
    "failing_since = COALESCE(revocation_sources.failing_since, excluded.failing_since), "
    "last_error = excluded.last_error, last_attempt = excluded.last_attempt"
)
SOURCES = (
    "SELECT url, kind, failures, failing_since, last_error, last_ok, last_attempt "
    "FROM revocation_sources ORDER BY url"
)


def item_row(item: FetchedItem, t: Any) -> tuple[Any, ...]:
    """Parameters of :data:`PUT`; ``t`` converts a datetime for the backend."""
    return (
        item.key,
        item.kind,
        item.url,
        item.der,
        t(item.this_update),
        None if item.next_update is None else t(item.next_update),
        t(item.fetched_at),
    )


def row_item(row: Sequence[Any], t: Any) -> FetchedItem:
    """A :class:`FetchedItem` from an :data:`ITEMS` row; ``t`` reads a backend time."""
    kind, key, url, der, this_update, next_update, fetched_at = row
    return FetchedItem(
        kind=kind,
        key=key,
        url=url,
        der=bytes(der),
        this_update=t(this_update),
        next_update=None if next_update is None else t(next_update),
        fetched_at=t(fetched_at),
    )


def row_source(row: Sequence[Any], t: Any) -> SourceState:
    """A :class:`SourceState` from a :data:`SOURCES` row."""
    url, kind, failures, failing_since, last_error, last_ok, last_attempt = row
    return SourceState(
        url=url,
        kind=kind,
        failures=int(failures),
        failing_since=None if failing_since is None else t(failing_since),
        last_error=last_error,
        last_ok=None if last_ok is None else t(last_ok),
        last_attempt=t(last_attempt),
    )


def attempt_params(
    url: str, kind: str, ok: bool, error: str | None, at: datetime, t: Any
) -> tuple[str, tuple[Any, ...]]:
    """The statement and parameters recording one attempt."""
    if ok:
        return ATTEMPT_OK, (url, kind, t(at), t(at))
    return ATTEMPT_FAILED, (url, kind, t(at), (error or "")[:500], t(at))


class SqliteRevocationCache(RevocationCacheStore):
    """:class:`~hub.revinfo.RevocationCacheStore` on a SqliteStore's reader and writer."""

    def __init__(self, reader: SqliteConnection, writer: SqliteConnection) -> None:
        self._reader = reader
        self._writer = writer

    async def put(self, items: Sequence[FetchedItem]) -> None:
        """See :meth:`RevocationCacheStore.put`."""
        rows = [item_row(i, to_db_time) for i in items]

        def tx(conn: sqlite3.Connection) -> None:
            conn.executemany(PUT, rows)

        await self._writer.write(tx)

    async def items(self) -> Sequence[FetchedItem]:
        """See :meth:`RevocationCacheStore.items`."""
        rows = await self._reader.run(lambda c: c.execute(ITEMS).fetchall())
        return [row_item(r, from_db_time) for r in rows]

    async def record_attempt(
        self, url: str, kind: str, ok: bool, error: str | None, at: datetime
    ) -> None:
        """See :meth:`RevocationCacheStore.record_attempt`."""
        text, params = attempt_params(url, kind, ok, error, at, to_db_time)
        await self._writer.write(lambda c: c.execute(text, params))

    async def sources(self) -> Sequence[SourceState]:
        """See :meth:`RevocationCacheStore.sources`."""
        rows = await self._reader.run(lambda c: c.execute(SOURCES).fetchall())
        return [row_source(r, from_db_time) for r in rows]
