"""MemoryStore: every store contract suite, plus what is specific to the fake (sharing a
backing, the injectable clock, refusing work once closed)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hub.broker import QueueEntry
from hub.broker.memory import InMemoryBroker
from hub.config import DeliverySettings
from hub.delivery import Dispatcher
from hub.errors import Unavailable
from hub.models import DeliveryState
from hub.registry import Registry
from hub.storage_crypto import BlobCipher
from hub.store.abc import AddOutcome, Store
from hub.store.batching import GroupCommitter
from hub.store.memory import MemoryBacking, MemoryStore
from tests.contracts.dashboard_contract import DashboardContract
from tests.contracts.directory_contract import DirectoryContract
from tests.contracts.lifecycle_contract import LastActivityContract, LifecycleContract
from tests.contracts.store_contract import G22, H29, StoreContract, new_package
from tests.contracts.text_contract import (
    QUYET_DINH,
    EncryptedIndexContract,
    RawSubject,
    TextContract,
)


@pytest.fixture
def backing() -> MemoryBacking:
    return MemoryBacking()


class MemoryFactory:
    """``store_factory``: a new store over the test's one backing each call."""

    @pytest.fixture
    def store_factory(self, backing: MemoryBacking) -> Callable[[], Store]:
        return lambda: MemoryStore(backing)


class TestMemoryStore(MemoryFactory, StoreContract):
    pass


class TestMemoryStoreEncrypted(StoreContract):
    """The whole store contract with encryption at rest on."""

    @pytest.fixture
    def store_factory(self, backing: MemoryBacking) -> Callable[[], Store]:
        def make() -> Store:
            store = MemoryStore(backing)
            store.blob_cipher = BlobCipher({"k1": bytes(range(32))}, "k1")
            return store

        return make


class TestMemoryDashboard(MemoryFactory, DashboardContract):
    pass


class TestMemoryLifecycle(MemoryFactory, LifecycleContract, LastActivityContract):
    pass


class TestMemoryDirectory(MemoryFactory, DirectoryContract):
    pass


class TestMemoryText(MemoryFactory, TextContract):
    @pytest.fixture
    def raw_subject(self, backing: MemoryBacking) -> RawSubject:
        async def read(store: Store, package_id: str) -> tuple[str | None, str | None]:
            row = backing.packages[package_id]
            return row.record.subject, row.subject_terms

        return read

    @pytest.mark.skip(
        reason="purging goes through hub.audit.backend.AuditBackend, which runs SQL on the "
        "SQLite and PostgreSQL stores' connections and refuses any other store"
    )
    async def test_purging_the_bytes_drops_the_subject_and_its_words(
        self, store: Store, raw_subject: RawSubject
    ) -> None:
        """Not applicable to the memory store (see the skip reason)."""


class TestMemoryEncryptedIndex(MemoryFactory, EncryptedIndexContract):
    pass


# -- what only the fake has ----------------------------------------------------------------------


async def test_siblings_share_the_backing_and_a_new_backing_is_empty() -> None:
    first = MemoryStore()
    first.blob_cipher = BlobCipher({"k1": bytes(32)}, "k1")
    pkg = replace(new_package(recipients=(G22, H29)), subject=QUYET_DINH)
    async with first:
        assert await first.add_packages([pkg]) == [AddOutcome.INSERTED]
    async with first.sibling() as again:  # a restart: same data, same key
        assert await again.get_bytes(pkg.id) == pkg.data
        assert [p.id for p, _ in (await again.outbox(pkg.sender, q="quyết định")).items] == [pkg.id]
    assert first.backing.packages[pkg.id].data != pkg.data  # sealed at rest
    async with MemoryStore() as other:
        assert await other.count_packages() == 0


async def test_closed_store_refuses_work() -> None:
    store = MemoryStore()
    with pytest.raises(Unavailable):
        await store.ping()
    async with store:
        await store.add_packages([new_package()])
    with pytest.raises(Unavailable):
        await store.count_packages()
    with pytest.raises(Unavailable):
        await store.lifecycle().open_dossiers()
    with pytest.raises(Unavailable):
        await store.dashboard().list_operators()


async def test_injected_clock_dates_the_state_changes() -> None:
    moments = iter(datetime(2026, 3, 2, 8, m, tzinfo=UTC) for m in range(10))
    store = MemoryStore(MemoryBacking(now=lambda: next(moments)))
    pkg = new_package()
    async with store:
        await store.add_packages([pkg])  # 08:00
        available = await store.set_delivery_state(pkg.id, G22, DeliveryState.AVAILABLE)
        assert available.updated_at == datetime(2026, 3, 2, 8, 1, tzinfo=UTC)
        trace = await store.events_for(pkg.id)
        assert [(e.kind, e.at) for e in trace] == [
            ("accepted", pkg.accepted_at),
            ("available", datetime(2026, 3, 2, 8, 1, tzinfo=UTC)),
        ]
        late = await store.dashboard().reached_since(trace[0].seq)
        assert late[1] == ((available.updated_at - pkg.accepted_at).total_seconds(),)


async def test_group_committer_over_the_fake() -> None:
    """The accept path's batching runs unchanged on the fake: one batch per commit, the
    same outcomes as a real store."""
    async with MemoryStore() as store, GroupCommitter(store, max_delay=0.0) as committer:
        first = new_package()
        twin = new_package(data=first.data)
        taken = new_package(document_id=first.document_id)
        outcomes = await asyncio.gather(*(committer.add(p) for p in (first, twin, taken)))
        assert outcomes == [AddOutcome.INSERTED, AddOutcome.SAME_BYTES, AddOutcome.CONFLICT]
        assert committer.stats.batches == 1
        assert await store.count_packages() == 1


async def test_naive_times_refused() -> None:
    async with MemoryStore() as store:
        pkg = new_package()
        await store.add_packages([pkg])
        with pytest.raises(ValueError, match="naive"):
            await store.ack(pkg.id, G22, datetime(2026, 3, 2, 8, 0))
        assert (await store.get_delivery(pkg.id, G22)).state is DeliveryState.PENDING  # type: ignore[union-attr]
        with pytest.raises(ValueError, match="naive"):
            await store.put_directory_records([], datetime(2026, 3, 2) - timedelta(days=1))


async def test_the_dispatcher_delivers_over_the_fakes() -> None:
    """The memory store with the in-memory broker runs the real dispatcher: a package
    accepted, queued and taken from the queue lands in the pull agency's inbox."""
    async with MemoryStore() as store, InMemoryBroker() as broker:
        pkg = new_package(recipients=(G22,))
        await store.add_packages([pkg])
        await broker.publish([QueueEntry(G22, pkg.id)])
        await store.mark_queued([(pkg.id, G22)])
        dispatcher = Dispatcher(
            store=store, broker=broker, registry=Registry({}), settings=DeliverySettings()
        )
        async for message in broker.consume():
            await dispatcher.handle(message)
            break
        assert [i.package.id for i in (await store.inbox(G22)).items] == [pkg.id]
        assert [e.kind for e in await store.events_for(pkg.id)] == [
            "accepted",
            "queued",
            "available",
        ]
