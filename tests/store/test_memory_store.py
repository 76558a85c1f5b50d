"""MemoryStore: every store contract suite, plus what is specific to the fake (sharing a
backing, the injectable clock, refusing work once closed)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.audit.chain import AuditChain
from hub.audit.service import verify_store, write_checkpoint
from hub.broker import QueueEntry
from hub.broker.memory import InMemoryBroker
from hub.config import DeliverySettings
from hub.delivery import Dispatcher
from hub.errors import Unavailable
from hub.models import DeliveryState, Event, NewPackage
from hub.registry import Registry
from hub.storage_crypto import BlobCipher
from hub.store.abc import AddOutcome, Store
from hub.store.batching import GroupCommitter
from hub.store.memory import MemoryBacking, MemoryStore
from hub.store.records import ChainedEvent, ChainHead, SignedAck
from hub.store.settling import GroupSettler
from hub.store.sqlite import SqliteStore
from tests.contracts.audit_contract import AuditContract, Env, make_signer
from tests.contracts.dashboard_contract import DashboardContract
from tests.contracts.directory_contract import DirectoryContract
from tests.contracts.lifecycle_contract import (
    LastActivityContract,
    LifecycleContract,
    WalkMarkContract,
)
from tests.contracts.store_contract import G22, H29, StoreContract, new_package
from tests.contracts.text_contract import (
    QUYET_DINH,
    EncryptedIndexContract,
    RawSubject,
    TextContract,
)
from tests.store.memory_tamper import MemoryTamper


@pytest.fixture
def backing() -> MemoryBacking:
    return MemoryBacking()


class MemoryFactory:
    """``store_factory``: a new store over the test's one backing each call."""

    @pytest.fixture
    def store_factory(self, backing: MemoryBacking) -> Callable[[], Store]:
        return lambda: MemoryStore(backing, chainer=AuditChain())


class TestMemoryStore(MemoryFactory, StoreContract):
    pass


class TestMemoryStoreEncrypted(StoreContract):
    """The whole store contract with encryption at rest on."""

    @pytest.fixture
    def store_factory(self, backing: MemoryBacking) -> Callable[[], Store]:
        def make() -> Store:
            store = MemoryStore(backing, chainer=AuditChain())
            store.blob_cipher = BlobCipher({"k1": bytes(range(32))}, "k1")
            return store

        return make


class TestMemoryDashboard(MemoryFactory, DashboardContract):
    pass


class TestMemoryLifecycle(MemoryFactory, LifecycleContract, LastActivityContract, WalkMarkContract):
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


class TestMemoryEncryptedIndex(MemoryFactory, EncryptedIndexContract):
    pass


class TestMemoryAudit(AuditContract):
    @pytest.fixture
    async def audit_env(self, backing: MemoryBacking) -> AsyncIterator[Env]:
        async with MemoryStore(backing, chainer=AuditChain()) as store:
            yield store, MemoryTamper(backing)


# -- what only the fake has ----------------------------------------------------------------------


async def test_siblings_share_the_backing_and_a_new_backing_is_empty() -> None:
    first = MemoryStore(chainer=AuditChain())
    first.blob_cipher = BlobCipher({"k1": bytes(32)}, "k1")
    pkg = replace(new_package(recipients=(G22, H29)), subject=QUYET_DINH)
    async with first:
        assert await first.add_packages([pkg]) == [AddOutcome.INSERTED]
    async with first.sibling() as again:  # a restart: same data, same key
        assert await again.get_bytes(pkg.id) == pkg.data
        assert [p.id for p, _ in (await again.outbox(pkg.sender, q="quyết định")).items] == [pkg.id]
    assert first.backing.packages[pkg.id].data != pkg.data  # sealed at rest
    async with MemoryStore(chainer=AuditChain()) as other:
        assert await other.count_packages() == 0


async def test_closed_store_refuses_work() -> None:
    store = MemoryStore(chainer=AuditChain())
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
    store = MemoryStore(MemoryBacking(now=lambda: next(moments)), chainer=AuditChain())
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
    async with (
        MemoryStore(chainer=AuditChain()) as store,
        GroupCommitter(store, max_delay=0.0) as committer,
    ):
        first = new_package()
        twin = new_package(data=first.data)
        taken = new_package(document_id=first.document_id)
        outcomes = await asyncio.gather(*(committer.add(p) for p in (first, twin, taken)))
        assert outcomes == [AddOutcome.INSERTED, AddOutcome.SAME_BYTES, AddOutcome.CONFLICT]
        assert committer.stats.batches == 1
        assert await store.count_packages() == 1


async def test_naive_times_refused() -> None:
    async with MemoryStore(chainer=AuditChain()) as store:
        pkg = new_package()
        await store.add_packages([pkg])
        with pytest.raises(ValueError, match="naive"):
            await store.ack(pkg.id, G22, datetime(2026, 3, 2, 8, 0))
        assert (await store.get_delivery(pkg.id, G22)).state is DeliveryState.PENDING  # type: ignore[union-attr]
        with pytest.raises(ValueError, match="naive"):
            await store.put_directory_records([], datetime(2026, 3, 2) - timedelta(days=1))
        with pytest.raises(ValueError, match="naive"):
            await store.append_event(Event(pkg.id, "status", datetime(2026, 3, 2, 8, 0)))
        assert [e.kind for e in await store.audit().all_events()] == ["accepted"]
        assert [h.head_seq for h in await store.audit().heads()] == [1]


async def test_the_dispatcher_delivers_over_the_fakes() -> None:
    """The memory store with the in-memory broker runs the real dispatcher: a package
    accepted, queued and taken from the queue lands in the pull agency's inbox."""
    async with (
        MemoryStore(chainer=AuditChain()) as store,
        InMemoryBroker() as broker,
        GroupSettler(store) as settler,
    ):
        pkg = new_package(recipients=(G22,))
        await store.add_packages([pkg])
        await broker.publish([QueueEntry(G22, pkg.id)])
        await store.mark_queued([(pkg.id, G22)])
        dispatcher = Dispatcher(
            store=store,
            broker=broker,
            registry=Registry({}),
            settings=DeliverySettings(),
            settler=settler,
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


# -- the audit chain -----------------------------------------------------------------------------


class FixedChain(AuditChain):
    """:class:`AuditChain` with a fixed writer identity and chain ids, so two stores given the
    same events must store the same hashes."""

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._chains = iter(f"{owner}-chain-{n}" for n in range(1, 100))

    def owner(self) -> str:
        return self._owner

    def new_chain_id(self) -> str:
        return next(self._chains)


async def _write_log(store: Store, first: NewPackage, second: NewPackage) -> None:
    await store.add_packages([first, second])
    at = first.accepted_at + timedelta(minutes=1)
    detail: dict[str, object] = {"note": "Hồ sơ", "at": at, "n": [1, 2]}  # at: not JSON
    await store.append_event(Event(first.id, "status", at, G22, 3, detail))
    await store.append_event(Event(None, "refused", at, detail={"code": "package.conflict"}))
    purged = Event(second.id, "purged", at + timedelta(days=1), detail={"reason": "retention"})
    assert await store.audit().purge_package(second.id, purged, unacked=True)


async def test_chains_every_event_as_sqlite_does(tmp_path: Path) -> None:
    """The same writes with the same chainer store the same rows, hashes and head as on
    SQLite: the fake's chain is the real one, not a look-alike."""
    owner = f"test-owner-{uuid.uuid4()}"  # SQLite keeps a process-wide chain per owner
    packages = new_package(recipients=(G22, H29)), new_package()
    async with SqliteStore(tmp_path / "hub.sqlite", chainer=FixedChain(owner)) as sqlite:
        await _write_log(sqlite, *packages)
        expected = await sqlite.audit().all_events(), await sqlite.audit().heads()
    async with MemoryStore(chainer=FixedChain(owner)) as memory:
        await _write_log(memory, *packages)
        events, heads = await memory.audit().all_events(), await memory.audit().heads()
    assert (events, heads) == expected
    assert [e.kind for e in events] == ["accepted", "accepted", "status", "refused", "purged"]
    assert [(e.chain_id, e.chain_seq) for e in events] == [
        (f"{owner}-chain-1", n) for n in range(1, 6)
    ]
    assert events[0].prev_hash == AuditChain().genesis
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert [(h.owner, h.head_seq, h.head_hash) for h in heads] == [(owner, 5, events[-1].hash)]


async def test_purge_drops_the_bytes_and_the_subject_and_keeps_the_evidence() -> None:
    async with MemoryStore(chainer=AuditChain()) as store:
        old = replace(new_package(), subject=QUYET_DINH)
        young = new_package()
        await store.add_packages([old, young])
        audit, signer = store.audit(), make_signer()
        # Both packages still owe their delivery: candidates only when that is overridden.
        assert await audit.purge_candidates(young.accepted_at, 0, 10) == []

        async def candidates(before: datetime, limit: int) -> list[str]:
            page = await audit.purge_candidates(before, 0, limit, unacked=True)
            return [c.package_id for c in page]

        assert await candidates(young.accepted_at, 10) == [old.id]
        assert await candidates(young.accepted_at + timedelta(seconds=1), 1) == [old.id]
        at = young.accepted_at + timedelta(days=400)
        event = Event(old.id, "purged", at, detail={"reason": "retention"})
        assert await audit.purge_package(old.id, event, unacked=True)
        assert not await audit.purge_package(
            old.id, event, unacked=True
        )  # purged before: nothing chained
        assert not await audit.purge_package("no-such-package", event, unacked=True)
        assert (await audit.purged_at(old.id), await audit.purged_at(young.id)) == (at, None)
        assert await candidates(at, 10) == [young.id]
        # the bytes and the Subject go; the row, the receipt and the trace stay
        assert await store.get_bytes(old.id) == b""
        assert await store.get_receipt(old.id) == old.receipt
        assert (await store.get_package(old.id)).subject is None  # type: ignore[union-attr]
        assert await store.replace_blobs([(old.id, b"", b"resurrected")]) == 0
        assert [e.kind for e in await store.events_for(old.id)] == ["accepted", "purged"]
        await write_checkpoint(store, signer, "hub", at)
        report = await verify_store(store, signer)
        assert report.ok and report.events == 3 and report.covered == 3, report.lines()


async def test_signed_acks_and_checkpoints() -> None:
    at = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    async with MemoryStore(chainer=AuditChain()) as store:
        audit = store.audit()
        first, other = SignedAck("p1", H29, at, b"<ack/>"), SignedAck("p1", G22, at, b"<a/>")
        for ack in (first, other, replace(first, data=b"<later/>"), SignedAck("p2", G22, at, b"")):
            await audit.add_signed_ack(ack)
        assert await audit.signed_acks("p1") == [other, first]  # by recipient, first one wins
        await store.append_event(Event("p1", "acked", at, G22))
        built: list[tuple[int, bytes | None, list[ChainHead]]] = []

        def build(n: int, previous: bytes | None, heads: list[ChainHead]) -> bytes:
            built.append((n, previous, heads))
            return f"<checkpoint n='{n}'/>".encode()

        one = await audit.add_checkpoint(build, at)
        two = await audit.add_checkpoint(build, at + timedelta(hours=1))
        assert [(n, p) for n, p, _ in built] == [(1, None), (2, one.document)]
        assert built[0][2] == await audit.heads() and built[0][2][0].head_seq == 1

        def refuse(n: int, previous: bytes | None, heads: list[ChainHead]) -> bytes:
            raise RuntimeError("the signing key is unavailable")

        with pytest.raises(RuntimeError):
            await audit.add_checkpoint(refuse, at)
        await audit.set_checkpoint_tst(1, b"tst")
        assert await audit.checkpoints() == [replace(one, tst=b"tst"), two]
        assert await audit.last_checkpoint_id() == 2
        assert await audit.checkpoints_page(0, 2, 1) == [replace(one, tst=b"tst")]
        assert await audit.checkpoints_page(1, 1, 10) == []


async def test_events_from_before_the_chain_are_legacy_not_tampering() -> None:
    """A log migrated from before the audit chain (what ``legacy_max_seq`` records): its
    unchained rows are counted as legacy, a row slipped in later is not."""
    backing = MemoryBacking()
    old = [
        ChainedEvent(n, "pkg-old", "accepted", datetime(2025, 1, n, tzinfo=UTC), None, None)
        for n in (1, 2)
    ]
    backing.rewrite_events(old)
    backing.legacy_max_seq = 2
    async with MemoryStore(backing, chainer=AuditChain()) as store:
        await store.append_event(Event("pkg-new", "accepted", datetime(2026, 1, 1, tzinfo=UTC)))
        signer = make_signer()
        await write_checkpoint(store, signer, "hub", datetime(2026, 1, 2, tzinfo=UTC))
        report = await verify_store(store, signer)
        assert report.ok and (report.events, report.legacy, report.covered) == (3, 2, 1)
        assert [e.seq for e in await store.events_for("pkg-old")] == [1, 2]
        assert [e.seq for e in await store.events_for("pkg-new")] == [3]
        await MemoryTamper(backing).insert_unchained(
            Event("pkg-old", "acked", datetime(2026, 1, 3, tzinfo=UTC))
        )
        report = await verify_store(store, signer)
        assert report.first is not None and (report.first.kind, report.first.seq) == ("inserted", 4)
