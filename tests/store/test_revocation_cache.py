"""The shared revocation cache (migration 0010) on both backends and the in-memory store, and
the service that refreshes it from a real local CRL server, counts failures and raises the
alarm."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hub import metrics
from hub.audit.chain import AuditChain
from hub.dbtools import copy_sqlite_to_postgres
from hub.revinfo import RevocationService
from hub.store.facets import RevocationCacheStore
from hub.store.memory import MemoryStore
from hub.store.postgres import PostgresStore
from hub.store.sqlite import SqliteStore
from signing.online import DirectoryRevocationCache, FetchedItem, FetchEvent
from tests.signing.ltv_pki import LtvPki
from tests.signing.revocation_servers import (
    Servers,
    online_pki,
    servers_fixture,  # noqa: F401  # the servers fixture
)
from tests.store.pg_fixtures import pg_dsn, pg_schema  # noqa: F401  # fixtures


@pytest.fixture(params=["sqlite", "postgresql", "memory"])
async def cache(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[RevocationCacheStore]:
    if request.param == "sqlite":
        async with SqliteStore(tmp_path / "hub.sqlite", chainer=AuditChain()) as store:
            yield store.revocation_cache()
    elif request.param == "memory":
        async with MemoryStore(chainer=AuditChain()) as memory:
            yield memory.revocation_cache()
    else:
        dsn = request.getfixturevalue("pg_dsn")
        schema = request.getfixturevalue("pg_schema")
        async with PostgresStore(dsn, schema=schema, chainer=AuditChain()) as store:
            yield store.revocation_cache()


@pytest.fixture(scope="module")
def pki(servers: Servers) -> LtvPki:
    return online_pki(servers, ocsp=False)


def _item(pki: LtvPki, url: str, issued: datetime) -> FetchedItem:
    return FetchedItem.of_crl(url, pki.fresh_crl(issued), issued)


async def test_put_keeps_the_newest(cache: RevocationCacheStore, pki: LtvPki) -> None:
    url = "http://crl.example/root.crl"
    old = _item(pki, url, pki.t0)
    new = _item(pki, url, pki.t0 + timedelta(hours=6))
    await cache.put([old])
    await cache.put([new])
    await cache.put([old])  # an older list never replaces a newer one
    (got,) = await cache.items()
    assert got == new


async def test_source_health(cache: RevocationCacheStore, pki: LtvPki) -> None:
    url = "http://crl.example/down.crl"
    await cache.record_attempt(url, "crl", False, "503", pki.t0)
    await cache.record_attempt(url, "crl", False, "timeout", pki.t0 + timedelta(minutes=5))
    (state,) = await cache.sources()
    assert (state.failures, state.failing_since, state.last_error) == (2, pki.t0, "timeout")
    await cache.record_attempt(url, "crl", True, None, pki.t0 + timedelta(minutes=10))
    (state,) = await cache.sources()
    assert (state.failures, state.failing_since, state.last_ok) == (
        0,
        None,
        pki.t0 + timedelta(minutes=10),
    )


async def test_service_refreshes_from_the_crl_server(
    cache: RevocationCacheStore, pki: LtvPki, servers: Servers, tmp_path: Path
) -> None:
    servers.down.clear()
    now = pki.t0 + timedelta(hours=23, minutes=30)  # within the hour before nextUpdate
    stale = _item(pki, servers.crl_url, pki.t0)  # nextUpdate t0 + 1 day
    await cache.put([stale])
    servers.serve_crl(pki.fresh_crl(now))
    service = RevocationService(cache, tmp_path / "dir", clock=lambda: now)
    before = metrics.REVOCATION_FETCHES.labels("crl", "ok")._value.get()
    await service.run_once()
    (item,) = await cache.items()
    assert item.this_update > stale.this_update
    assert metrics.REVOCATION_FETCHES.labels("crl", "ok")._value.get() == before + 1
    # The host directory the workers read holds it too.
    shared = DirectoryRevocationCache(tmp_path / "dir").get(servers.crl_url)
    assert shared is not None and shared.this_update == item.this_update


async def test_service_alarm_for_an_unreachable_source(
    cache: RevocationCacheStore,
    pki: LtvPki,
    servers: Servers,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    servers.down.add("/crl")
    try:
        moments = [pki.t0 + timedelta(days=1), pki.t0 + timedelta(days=1, hours=1)]
        await cache.put([_item(pki, servers.crl_url, pki.t0)])
        clock = iter(moments)
        now = next(clock)
        service = RevocationService(
            cache, tmp_path / "dir", clock=lambda: now, alarm_after=timedelta(minutes=30)
        )
        await service.run_once()
        assert metrics.REVOCATION_SOURCES_UNREACHABLE._value.get() == 0  # not for long yet
        now = next(clock)
        with caplog.at_level(logging.ERROR, logger="hub.revinfo"):
            await service.run_once()
        assert metrics.REVOCATION_SOURCES_UNREACHABLE._value.get() == 1
        assert any("ALARM revocation source unreachable" in r.message for r in caplog.records)
        assert service.unreachable(await cache.sources()) == [servers.crl_url]
    finally:
        servers.down.clear()


async def test_record_from_a_check(
    cache: RevocationCacheStore, pki: LtvPki, tmp_path: Path
) -> None:
    service = RevocationService(cache, tmp_path / "dir", clock=lambda: pki.t0)
    item = _item(pki, "http://crl.example/x.crl", pki.t0)
    await service.record([item], [FetchEvent("ocsp", "http://ocsp.example", False, "503", 0.1)])
    assert list(await cache.items()) == [item]
    (state,) = await cache.sources()
    assert (state.url, state.kind, state.failures) == ("http://ocsp.example", "ocsp", 1)


async def test_db_copy_carries_the_cache(
    pki: LtvPki,
    tmp_path: Path,
    pg_dsn: str,  # noqa: F811
    pg_schema: str,  # noqa: F811
) -> None:
    """``hub db copy`` (SQLite → PostgreSQL) copies both tables: the new hub starts warm."""
    item = _item(pki, "http://crl.example/copy.crl", pki.t0)
    async with SqliteStore(tmp_path / "hub.sqlite", chainer=AuditChain()) as store:
        await store.revocation_cache().put([item])
        await store.revocation_cache().record_attempt(
            "http://ocsp.example", "ocsp", False, "503", pki.t0
        )
    report = await asyncio.to_thread(
        copy_sqlite_to_postgres, tmp_path / "hub.sqlite", pg_dsn, pg_schema
    )
    assert report.tables.get("revocation_cache") == 1
    async with PostgresStore(pg_dsn, schema=pg_schema, chainer=AuditChain()) as target:
        assert list(await target.revocation_cache().items()) == [item]
        (state,) = await target.revocation_cache().sources()
        assert (state.url, state.failures, state.failing_since) == (
            "http://ocsp.example",
            1,
            pki.t0,
        )
