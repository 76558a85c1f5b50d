"""The revocation cache over a :class:`~hub.store.memory.MemoryStore`'s backing
(:class:`hub.revinfo.RevocationCacheStore`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from hub.store.facets import RevocationCacheStore
from hub.store.memory.backing import MemoryConnection, utc, utc_or_none
from hub.store.records import SourceState
from signing.online import FetchedItem


class MemoryRevocationCache(RevocationCacheStore):
    """:class:`~hub.revinfo.RevocationCacheStore` on a memory store's backing."""

    def __init__(self, conn: MemoryConnection) -> None:
        self._conn = conn

    async def put(self, items: Sequence[FetchedItem]) -> None:
        """Insert, or replace with a strictly newer thisUpdate: concurrent writers never move
        the cache backwards (the kind of a stored key stays, as in SQL)."""
        async with self._conn.tx() as db:
            for item in items:
                new = replace(
                    item,
                    der=bytes(item.der),
                    this_update=utc(item.this_update),
                    next_update=utc_or_none(item.next_update),
                    fetched_at=utc(item.fetched_at),
                )
                old = db.revocation_items.get(item.key)
                if old is None:
                    db.revocation_items[item.key] = new
                elif new.this_update > old.this_update:
                    db.revocation_items[item.key] = replace(new, kind=old.kind)

    async def items(self) -> Sequence[FetchedItem]:
        """Every cached item, by key."""
        async with self._conn.tx() as db:
            return [db.revocation_items[k] for k in sorted(db.revocation_items)]

    async def record_attempt(
        self, url: str, kind: str, ok: bool, error: str | None, at: datetime
    ) -> None:
        """Count an attempt: a success resets the failures, a failure counts one more and
        keeps when the source started failing."""
        when = utc(at)
        async with self._conn.tx() as db:
            old = db.revocation_sources.get(url)
            if ok:
                db.revocation_sources[url] = SourceState(
                    url, old.kind if old else kind, 0, None, None, when, when
                )
                return
            db.revocation_sources[url] = SourceState(
                url=url,
                kind=old.kind if old else kind,
                failures=(old.failures if old else 0) + 1,
                failing_since=(old.failing_since if old else None) or when,
                last_error=(error or "")[:500],
                last_ok=old.last_ok if old else None,
                last_attempt=when,
            )

    async def sources(self) -> Sequence[SourceState]:
        """Every source's health, by URL."""
        async with self._conn.tx() as db:
            return [db.revocation_sources[u] for u in sorted(db.revocation_sources)]
