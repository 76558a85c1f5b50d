"""The online revocation cache (issue 14, tables of migration 0010): the statements and row
mappers both store backends run (``?`` placeholders; see :mod:`hub.store.sql`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.store.records import SourceState
from hub.store.sql.dialect import Dialect
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


def item_row(item: FetchedItem, d: Dialect) -> tuple[Any, ...]:
    """Parameters of :data:`PUT`; times as the dialect binds them."""
    return (
        item.key,
        item.kind,
        item.url,
        item.der,
        d.time_in(item.this_update),
        None if item.next_update is None else d.time_in(item.next_update),
        d.time_in(item.fetched_at),
    )


def row_item(row: Sequence[Any], d: Dialect) -> FetchedItem:
    """A :class:`FetchedItem` from an :data:`ITEMS` row; times as the dialect reads them."""
    kind, key, url, der, this_update, next_update, fetched_at = row
    return FetchedItem(
        kind=kind,
        key=key,
        url=url,
        der=bytes(der),
        this_update=d.time_out(this_update),
        next_update=d.time_or_none(next_update),
        fetched_at=d.time_out(fetched_at),
    )


def row_source(row: Sequence[Any], d: Dialect) -> SourceState:
    """A :class:`SourceState` from a :data:`SOURCES` row."""
    url, kind, failures, failing_since, last_error, last_ok, last_attempt = row
    return SourceState(
        url=url,
        kind=kind,
        failures=int(failures),
        failing_since=d.time_or_none(failing_since),
        last_error=last_error,
        last_ok=d.time_or_none(last_ok),
        last_attempt=d.time_out(last_attempt),
    )


def attempt_params(
    url: str, kind: str, ok: bool, error: str | None, at: datetime, d: Dialect
) -> tuple[str, tuple[Any, ...]]:
    """The statement and parameters recording one attempt."""
    when = d.time_in(at)
    if ok:
        return ATTEMPT_OK, (url, kind, when, when)
    return ATTEMPT_FAILED, (url, kind, when, (error or "")[:500], when)
