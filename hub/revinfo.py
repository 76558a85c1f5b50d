"""Online revocation data in the hub (issue 14): the service that keeps the shared cache
(:class:`hub.store.facets.RevocationCacheStore`) fresh, counts fetches and raises an alarm for
a dead source.

How the pieces share one cache (``[signing] fetch_online = true``):

* check workers (:mod:`hub.pipeline.checks`) run :class:`signing.online.OnlineRevocationChecker`
  with a :class:`signing.online.DirectoryRevocationCache` in ``<data_dir>/revocation-cache``:
  what one worker fetched, every worker process of the host reads from there;
* the store (tables of migration 0010, both backends) is the durable cache shared by every
  hub process and host: :class:`RevocationService` copies the directory into the store and
  the store into the directory, and re-fetches CRLs before their nextUpdate, so the accept
  path rarely waits for a fetch;
* fetch attempts (from the workers, returned in :class:`~hub.pipeline.checks.Checked`, and
  from the refresh) feed the metrics and the per-source health in the store; a source that
  stays unreachable longer than ``alarm_after`` is logged as an alarm and counted in
  ``hub_revocation_sources_unreachable``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hub import metrics
from hub.store.facets import RevocationCacheStore
from hub.store.records import SourceState
from signing.online import (
    DEFAULT_FETCH_TIMEOUT,
    DirectoryRevocationCache,
    FetchedItem,
    FetchError,
    FetchEvent,
    fetch_crl,
)

log = logging.getLogger("hub.revinfo")


class RevocationService:
    """Keeps the shared revocation cache fresh and observable (one per hub process)."""

    def __init__(
        self,
        store: RevocationCacheStore,
        cache_dir: Path,
        *,
        fetch_timeout: float = DEFAULT_FETCH_TIMEOUT,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        refresh_margin: timedelta = timedelta(hours=1),
        alarm_after: timedelta = timedelta(minutes=30),
    ) -> None:
        self.store = store
        self.directory = DirectoryRevocationCache(cache_dir)
        self.fetch_timeout = fetch_timeout
        self.clock = clock
        self.refresh_margin = refresh_margin
        self.alarm_after = alarm_after
        self.alarmed: set[str] = set()

    async def record(self, fetched: Sequence[FetchedItem], events: Sequence[FetchEvent]) -> None:
        """What a check fetched: into the store, and its attempts into metrics and health."""
        if fetched:
            await self.store.put(fetched)
        for event in events:
            await self._attempt(event)

    async def _attempt(self, event: FetchEvent) -> None:
        metrics.REVOCATION_FETCHES.labels(event.kind, "ok" if event.ok else "failed").inc()
        await self.store.record_attempt(
            event.url, event.kind, event.ok, None if event.ok else event.detail, self.clock()
        )

    async def run_once(self) -> None:
        """Synchronise directory and store, refresh CRLs near their nextUpdate, update the
        gauges and alarms. Called periodically by the runtime."""
        # Attempts the workers logged for refused packages (no result carried them back).
        for event in await asyncio.to_thread(self.directory.drain_events):
            await self._attempt(event)
        from_dir = await asyncio.to_thread(self.directory.items)
        if from_dir:
            await self.store.put(from_dir)
        items = await self.store.items()
        for item in items:
            await asyncio.to_thread(self.directory.put, item)
        now = self.clock()
        for item in items:
            if item.kind != "crl":
                continue  # OCSP answers are asked for on demand (the request names the cert)
            if item.next_update is not None and item.next_update - self.refresh_margin > now:
                continue
            await self._refresh_crl(item)
        await self._observe(await self.store.items(), await self.store.sources())

    async def _refresh_crl(self, item: FetchedItem) -> None:
        started = asyncio.get_running_loop().time()
        try:
            crl = await asyncio.to_thread(fetch_crl, item.url, timeout=self.fetch_timeout)
        except FetchError as exc:
            elapsed = asyncio.get_running_loop().time() - started
            await self._attempt(FetchEvent("crl", item.url, False, str(exc), elapsed))
            return
        elapsed = asyncio.get_running_loop().time() - started
        old = x509.load_der_x509_crl(item.der)
        if crl.issuer != old.issuer:
            # The same URL now serves another CA's list: keep the old one (users of the
            # cache verify the signature anyway), and say so.
            await self._attempt(
                FetchEvent("crl", item.url, False, "the CRL's issuer changed", elapsed)
            )
            return
        fresh = FetchedItem(
            "crl",
            item.key,
            item.url,
            crl.public_bytes(serialization.Encoding.DER),
            crl.last_update_utc,
            crl.next_update_utc,
            self.clock(),
        )
        await self.store.put([fresh])
        await asyncio.to_thread(self.directory.put, fresh)
        await self._attempt(FetchEvent("crl", item.url, True, "", elapsed, fresh.next_update))

    async def _observe(self, items: Sequence[FetchedItem], sources: Sequence[SourceState]) -> None:
        now = self.clock()
        ages = [(now - i.fetched_at).total_seconds() for i in items]
        metrics.REVOCATION_CACHE_ITEMS.set(len(items))
        metrics.REVOCATION_CACHE_AGE.set(max(ages) if ages else 0.0)
        down_urls = set(self.unreachable(sources))
        down = [s for s in sources if s.url in down_urls]
        metrics.REVOCATION_SOURCES_UNREACHABLE.set(len(down))
        for source in down:
            if source.url not in self.alarmed:
                self.alarmed.add(source.url)
                log.error(
                    "ALARM revocation source unreachable since %s (%d attempts): %s — %s",
                    source.failing_since.isoformat() if source.failing_since else "?",
                    source.failures,
                    source.url,
                    source.last_error,
                )
        self.alarmed &= {s.url for s in down}

    def unreachable(self, sources: Sequence[SourceState]) -> list[str]:
        """URLs failing for at least ``alarm_after`` (what the alarm names)."""
        now = self.clock()
        return [
            s.url
            for s in sources
            if s.failures > 0
            and s.failing_since is not None
            and now - s.failing_since >= self.alarm_after
        ]
