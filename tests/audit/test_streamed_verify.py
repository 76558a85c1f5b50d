"""``hub audit verify`` streams: the verifier holds one page of events at a time.

A wrapper around the store's paged reads (:class:`CountingSource`) hands out rows the test
can follow (weak references) and records, at every read, how many rows handed out earlier are
still alive — i.e. held by the verifier. No memory is measured: rows are counted. Run on
SQLite, on a real PostgreSQL (``HUB_REQUIRE_SERVICES=1`` makes the latter mandatory) and on
the memory store.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from hub.audit.chain import AuditChain
from hub.audit.service import verify_store, write_checkpoint
from hub.models import Event
from hub.receipts import ReceiptSigner
from hub.store import Store
from hub.store.facets import AuditStore
from hub.store.memory import MemoryBacking, MemoryStore
from hub.store.postgres import PostgresStore
from hub.store.records import ChainedEvent, ChainHead, CheckpointRow
from hub.store.sqlite import SqliteStore
from tests.contracts.audit_contract import T0, make_signer
from tests.store.memory_tamper import MemoryTamper
from tests.store.pg_fixtures import pg_dsn, pg_schema  # noqa: F401  # fixtures

PAGE = 10
EVENTS = 240


@dataclass(frozen=True, slots=True, weakref_slot=True)
class TrackedEvent(ChainedEvent):
    """A row the test can hold a weak reference to (the store's rows are slotted)."""


class CountingSource:
    """The store's paged reads, counting the rows still held when the next read starts."""

    def __init__(self, inner: AuditStore) -> None:
        self.inner = inner
        self.handed: list[weakref.ref[TrackedEvent]] = []
        self.max_held = 0  # rows alive (earlier reads + this one) at the end of a read
        self.served = 0
        self.reads = 0

    def _serve(self, rows: Sequence[ChainedEvent]) -> list[ChainedEvent]:
        self.handed = [r for r in self.handed if r() is not None]
        out: list[ChainedEvent] = [TrackedEvent(**asdict(r)) for r in rows]
        self.handed.extend(weakref.ref(r) for r in out)  # type: ignore[arg-type]
        self.max_held = max(self.max_held, len(self.handed))
        self.served += len(out)
        self.reads += 1
        return out

    async def event_count(self) -> int:
        return await self.inner.event_count()

    async def legacy_max_seq(self) -> int:
        return await self.inner.legacy_max_seq()

    async def legacy_count(self, legacy_max: int) -> int:
        return await self.inner.legacy_count(legacy_max)

    async def unchained_page(
        self, legacy_max: int, after_seq: int, limit: int
    ) -> Sequence[ChainedEvent]:
        assert limit <= PAGE
        return self._serve(await self.inner.unchained_page(legacy_max, after_seq, limit))

    async def orphan_chains(self) -> Sequence[str]:
        return await self.inner.orphan_chains()

    async def heads(self) -> Sequence[ChainHead]:
        return await self.inner.heads()

    async def head(self, chain_id: str) -> ChainHead | None:
        return await self.inner.head(chain_id)

    async def chain_page(
        self, chain_id: str, after: tuple[int, int] | None, limit: int
    ) -> Sequence[ChainedEvent]:
        assert limit <= PAGE
        return self._serve(await self.inner.chain_page(chain_id, after, limit))

    async def chain_at(self, chain_id: str, positions: list[int]) -> Sequence[ChainedEvent]:
        return self._serve(await self.inner.chain_at(chain_id, positions))

    async def last_checkpoint_id(self) -> int:
        return await self.inner.last_checkpoint_id()

    async def checkpoints_page(
        self, after_id: int, upto_id: int, limit: int
    ) -> Sequence[CheckpointRow]:
        return await self.inner.checkpoints_page(after_id, upto_id, limit)


async def _populate(store: Store, signer: ReceiptSigner) -> None:
    for i in range(EVENTS):
        await store.append_event(
            Event(
                package_id=f"pkg-{i % 7}",
                kind="delivered",
                at=T0 + timedelta(seconds=i),
                recipient="000.00.00.H41",
                detail={"n": i, "note": "Hồ sơ một cửa"},
            )
        )
        if i % 60 == 59:
            await write_checkpoint(store, signer, "hub", T0 + timedelta(seconds=i))


async def _check_streams(store: Store) -> None:
    signer = make_signer()
    await _populate(store, signer)
    source = CountingSource(store.audit())
    ticks: list[tuple[int, int]] = []
    report = await verify_store(
        store,
        signer,
        source=source,
        page_size=PAGE,
        progress=lambda n, total: ticks.append((n, total)),
    )
    assert report.ok, report.lines()
    assert report.events == EVENTS and report.covered == EVENTS and report.checkpoints == 4
    # Every event was read, in many pages ...
    assert source.served >= EVENTS and source.reads >= EVENTS // PAGE
    # ... yet never more than one page was held: the current page plus the previous event,
    # which links the chain across the page boundary, and the one checkpoint look-up.
    assert source.max_held <= PAGE + 2, source.max_held
    assert sum(n for n, _ in ticks) == EVENTS and {t for _, t in ticks} == {EVENTS}
    # The same report as reading in one big page.
    assert (await verify_store(store, signer)).lines() == report.lines()


async def _check_streams_when_tampered(store: Store, sql_edit: object) -> None:
    signer = make_signer()
    await _populate(store, signer)
    events = await store.audit().chain_page((await store.audit().heads())[0].chain_id, None, EVENTS)
    victim = events[150]
    del events
    assert callable(sql_edit)
    await sql_edit(victim.seq)
    source = CountingSource(store.audit())
    report = await verify_store(store, signer, source=source, page_size=PAGE)
    first = report.first
    assert first is not None and (first.kind, first.seq) == ("edited", victim.seq)
    assert source.max_held <= PAGE + 2, source.max_held
    assert (await verify_store(store, signer)).lines() == report.lines()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[tuple[Store, Path]]:
    path = tmp_path / "hub.sqlite"
    async with SqliteStore(path, chainer=AuditChain()) as store:
        yield store, path


@pytest.fixture
async def pg_store(pg_dsn: str, pg_schema: str) -> AsyncIterator[Store]:  # noqa: F811
    async with PostgresStore(pg_dsn, schema=pg_schema, chainer=AuditChain()) as store:
        yield store


@pytest.fixture
async def memory_store() -> AsyncIterator[MemoryStore]:
    async with MemoryStore(MemoryBacking(), chainer=AuditChain()) as store:
        yield store


async def test_memory_streams(memory_store: MemoryStore) -> None:
    await _check_streams(memory_store)


async def test_sqlite_streams(sqlite_store: tuple[Store, Path]) -> None:
    await _check_streams(sqlite_store[0])


async def test_postgresql_streams(pg_store: Store) -> None:
    await _check_streams(pg_store)


async def test_sqlite_streams_when_tampered(sqlite_store: tuple[Store, Path]) -> None:
    import sqlite3

    store, path = sqlite_store

    async def edit(seq: int) -> None:
        conn = sqlite3.connect(path)
        with conn:
            conn.execute("UPDATE events SET kind = 'refused' WHERE seq = ?", (seq,))
        conn.close()

    await _check_streams_when_tampered(store, edit)


async def test_postgresql_streams_when_tampered(
    pg_store: Store,
    pg_dsn: str,  # noqa: F811
    pg_schema: str,  # noqa: F811
) -> None:
    import psycopg
    from psycopg import sql as pgsql

    async def edit(seq: int) -> None:
        async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
            await conn.execute(
                pgsql.SQL("UPDATE {}.events SET kind = 'refused' WHERE seq = %s").format(
                    pgsql.Identifier(pg_schema)
                ),
                (seq,),
            )

    await _check_streams_when_tampered(pg_store, edit)


async def test_memory_streams_when_tampered(memory_store: MemoryStore) -> None:
    tamper = MemoryTamper(memory_store.backing)

    async def edit(seq: int) -> None:
        await tamper.update_event(seq, kind="refused")

    await _check_streams_when_tampered(memory_store, edit)


def test_audit_verify_cli_progress_and_user_error(workdir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``hub audit verify``: with a forced progress bar the verdict and exit code are the
    same; a directory without a configuration is a user error (exit 2, no traceback)."""
    from click.testing import CliRunner

    from hub.cli import main

    runner = CliRunner()
    config = str(workdir.config_dir)
    assert runner.invoke(main, ["audit", "checkpoint", "--config", config]).exit_code == 0
    plain = runner.invoke(main, ["audit", "verify", "--config", config])
    shown = runner.invoke(main, ["audit", "verify", "--config", config, "--progress"])
    assert plain.exit_code == shown.exit_code == 0, plain.output + shown.output
    assert "OK: every chain recomputes" in shown.stdout
    assert shown.stdout == plain.stdout
    missing = runner.invoke(main, ["audit", "verify", "--config", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    assert "error:" in missing.output and "Traceback" not in missing.output


class AppendingSource(CountingSource):
    """The hub keeps writing while the verifier walks: at the first head read after a chain
    was walked, three more events are appended to it (and a checkpoint written)."""

    def __init__(self, inner: AuditStore, store: Store, signer: ReceiptSigner) -> None:
        super().__init__(inner)
        self.store, self.signer, self.appended = store, signer, False

    async def head(self, chain_id: str) -> ChainHead | None:
        if not self.appended:
            self.appended = True
            for i in range(3):
                await self.store.append_event(
                    Event(
                        package_id="pkg-live", kind="queued", at=T0 + timedelta(hours=1, seconds=i)
                    )
                )
            await write_checkpoint(self.store, self.signer, "hub", T0 + timedelta(hours=2))
        return await self.inner.head(chain_id)


async def _check_live_appends(store: Store) -> None:
    signer = make_signer()
    await _populate(store, signer)
    source = AppendingSource(store.audit(), store, signer)
    report = await verify_store(store, signer, source=source, page_size=PAGE)
    assert source.appended
    # Not "deleted" (the head moved past the walk) nor "inserted": the walk followed it.
    assert report.ok, report.lines()
    assert report.checkpoints == 4  # the one written during the walk is left for next time
    assert (await verify_store(store, signer)).ok


async def test_sqlite_verify_while_the_hub_appends(sqlite_store: tuple[Store, Path]) -> None:
    await _check_live_appends(sqlite_store[0])


async def test_postgresql_verify_while_the_hub_appends(pg_store: Store) -> None:
    await _check_live_appends(pg_store)


async def test_memory_verify_while_the_hub_appends(memory_store: MemoryStore) -> None:
    await _check_live_appends(memory_store)
