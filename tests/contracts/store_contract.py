"""The contract every :class:`hub.store.Store` implementation passes.

Subclass :class:`StoreContract` in a ``Test…`` class and provide one fixture::

    @pytest.fixture
    def store_factory(self, tmp_path) -> Callable[[], Store]:
        return lambda: SqliteStore(tmp_path / "hub.db", chainer=AuditChain())

``store_factory()`` returns a new, *unopened* store over the same backing storage every time it
is called (same file, same database/schema), so the suite can reopen it (persistence) and open
two at once (two processes). Nothing here may depend on a particular backend.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import unicodedata
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hub.errors import IllegalTransition
from hub.lifecycle.machines import NONE
from hub.models import (
    AgencyOverride,
    DeliveryChange,
    DeliveryState,
    Event,
    FetchedBatch,
    NewPackage,
    PackageKind,
    PackageRecord,
    VxpSystem,
)
from hub.store.abc import AcceptItem, AcceptResult, AddOutcome, Store
from hub.store.records import DocMove, DocState, LifecycleChange, Transition

H41 = "000.00.00.H41"  # provincial People's Committee
G22 = "000.00.00.G22"  # Government Office
H29 = "000.00.00.H29"
S = DeliveryState

_counter = itertools.count(1)
_T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)

VIETNAMESE = (
    "<Subject>Về việc triển khai dịch vụ công trực tuyến mức độ 3, 4 — "
    "Ủy ban nhân dân tỉnh Hà Nội; Cà Mau; Đắk Lắk</Subject>"
)


def new_package(
    *,
    sender: str = H41,
    recipients: tuple[str, ...] = (G22,),
    kind: PackageKind = PackageKind.DOCUMENT,
    document_id: str | None = None,
    business_doc_type: int | None = 0,
    status_code: str | None = None,
    data: bytes | None = None,
    accepted_at: datetime | None = None,
    warnings: tuple[str, ...] = (),
    stands_for: dict[str, tuple[str, ...]] | None = None,
) -> NewPackage:
    """A package with unique bytes (unless ``data`` is given) and increasing ``accepted_at``."""
    n = next(_counter)
    if data is None:
        data = f"<edXML n='{n}' nonce='{uuid.uuid4()}'>{VIETNAMESE}</edXML>".encode()
    return NewPackage(
        id=str(uuid.uuid4()),
        sha256=hashlib.sha256(data).hexdigest(),
        sender=sender,
        kind=kind,
        document_id=document_id if document_id is not None else f"{sender},2026/03/02,{n}/UBND",
        business_doc_type=business_doc_type,
        status_code=status_code,
        recipients=recipients,
        accepted_at=accepted_at or _T0 + timedelta(seconds=n),
        signer_fingerprint=hashlib.sha256(sender.encode()).hexdigest(),
        signer_subject=f"CN=Văn thư {sender}, O=Ban Cơ yếu Chính phủ",
        data=data,
        receipt=b"<Receipt>" + data[:16] + b"</Receipt>",
        warnings=warnings,
        stands_for=stands_for or {},
    )


def assert_record_matches(record: PackageRecord | None, package: NewPackage) -> None:
    """Every field of the stored record equals what was added."""
    assert record is not None
    assert record.id == package.id
    assert record.sha256 == package.sha256
    assert record.sender == package.sender
    assert record.kind is package.kind
    assert record.document_id == package.document_id
    assert record.business_doc_type == package.business_doc_type
    assert record.status_code == package.status_code
    assert record.recipients == package.recipients
    assert record.accepted_at == package.accepted_at
    assert record.size == len(package.data)
    assert record.signer_fingerprint == package.signer_fingerprint
    assert record.signer_subject == package.signer_subject
    assert record.warnings == package.warnings


def assert_utc(value: datetime | None) -> None:
    """Timezone-aware and in UTC."""
    assert value is not None
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)


OpenStore = Callable[[], Awaitable[Store]]


class StoreFixtures:
    """``open_store`` and ``store`` over a subclass's ``store_factory`` (the contracts that
    need more than one store over the same storage share them)."""

    @pytest.fixture
    def store_factory(self) -> Callable[[], Store]:
        raise NotImplementedError(f"{type(self).__name__} must provide store_factory")

    @pytest.fixture
    async def open_store(self, store_factory: Callable[[], Store]) -> AsyncIterator[OpenStore]:
        """Open another store over the same backing storage; closed at teardown."""
        opened: list[Store] = []

        async def _open() -> Store:
            store = store_factory()
            await store.open()
            opened.append(store)
            return store

        yield _open
        for store in reversed(opened):
            await store.close()

    @pytest.fixture
    async def store(self, open_store: OpenStore) -> Store:
        return await open_store()


class SettleContract(StoreFixtures):
    """``settle`` and ``fetch_package`` (also run on their defaults in :class:`Store`, which a
    store without transactions of its own may keep); a subclass supplies ``store_factory``."""

    # -- settling in groups, fetching with the delivery --------------------------------------

    async def test_settle_empty_group(self, store: Store) -> None:
        assert await store.settle([]) == []

    async def test_settle_moves_a_group_with_its_events(self, store: Store) -> None:
        subs = ("000.00.13.H29",)
        pkg = new_package(recipients=(G22, H29), stands_for={H29: subs})
        await store.add_packages([pkg])
        available, failed = await store.settle(
            [
                DeliveryChange(pkg.id, G22, S.AVAILABLE),
                DeliveryChange(
                    pkg.id, H29, S.FAILED, attempts=1, error="HTTP 503", detail={"status": 503}
                ),
            ]
        )
        assert available.changed and failed.changed
        assert available.record is not None and available.record.state is S.AVAILABLE
        assert failed.record is not None and failed.record.state is S.FAILED
        assert failed.record.attempts == 1 and failed.record.last_error == "HTTP 503"
        assert failed.record.stands_for == subs
        assert await store.get_delivery(pkg.id, H29) == failed.record
        events = await store.events_for(pkg.id)
        assert [(e.kind, e.recipient) for e in events[-2:]] == [
            ("available", G22),
            ("failed", H29),
        ]
        failed_event = events[-1]
        assert failed_event.attempt == 1
        assert failed_event.detail == {"status": 503, "error": "HTTP 503", "for": list(subs)}
        assert_utc(failed_event.at)
        # attempts/error of None keep what is stored (the last error stays the last one seen).
        (again,) = await store.settle([DeliveryChange(pkg.id, H29, S.DELIVERED)])
        assert again.record is not None
        assert (again.record.attempts, again.record.last_error) == (1, "HTTP 503")

    async def test_settle_push_delivered_then_acked_in_one_group(self, store: Store) -> None:
        pkg = new_package()
        await store.add_packages([pkg])
        await store.mark_queued([(pkg.id, G22)])
        at = datetime(2026, 3, 2, 9, 15, 0, 123456, tzinfo=timezone(timedelta(hours=7)))
        delivered, acked = await store.settle(
            [
                DeliveryChange(pkg.id, G22, S.DELIVERED, attempts=1, detail={"via": "push"}),
                DeliveryChange(pkg.id, G22, S.ACKED, at=at),
            ]
        )
        assert delivered.changed and acked.changed
        assert delivered.record is not None and delivered.record.state is S.DELIVERED
        assert acked.record is not None and acked.record.state is S.ACKED
        assert acked.record.acked_at == at and acked.record.attempts == 1
        assert_utc(acked.record.acked_at)
        events = await store.events_for(pkg.id)
        assert [e.kind for e in events] == ["accepted", "queued", "delivered", "acked"]
        assert events[2].detail == {"via": "push"} and events[3].at == at

    async def test_settle_acks_count_once_within_and_across_groups(self, store: Store) -> None:
        pkg = new_package()
        await store.add_packages([pkg])
        at = datetime.now(UTC)
        first, repeat = await store.settle(
            [DeliveryChange(pkg.id, G22, S.ACKED, at=at), DeliveryChange(pkg.id, G22, S.ACKED)]
        )
        assert first.changed and not repeat.changed
        assert first.record == repeat.record
        (later,) = await store.settle([DeliveryChange(pkg.id, G22, S.ACKED)])
        assert not later.changed and later.record == first.record
        record, first_again = await store.ack(pkg.id, G22, at + timedelta(minutes=5))
        assert not first_again and record == first.record
        assert [e.kind for e in await store.events_for(pkg.id)].count("acked") == 1

    async def test_settle_never_moves_an_acked_delivery(self, store: Store) -> None:
        pkg = new_package()
        await store.add_packages([pkg])
        acked, _ = await store.ack(pkg.id, G22, datetime.now(UTC))
        n_events = len(await store.events_for(pkg.id))
        outcomes = await store.settle(
            [
                DeliveryChange(pkg.id, G22, state, attempts=9, error="x")
                for state in (S.FAILED, S.DELIVERED, S.DEAD, S.AVAILABLE)
            ]
        )
        assert [(o.record, o.changed) for o in outcomes] == [(acked, False)] * 4
        assert len(await store.events_for(pkg.id)) == n_events

    async def test_settle_only_from(self, store: Store) -> None:
        pkg = new_package()
        await store.add_packages([pkg])
        fetch = DeliveryChange(pkg.id, G22, S.DELIVERED, only_from=frozenset({S.AVAILABLE}))
        (early,) = await store.settle([fetch])  # still pending: a fetch moves nothing
        assert not early.changed and early.record is not None
        assert early.record.state is S.PENDING
        await store.settle([DeliveryChange(pkg.id, G22, S.AVAILABLE)])
        moved, repeat = await store.settle([fetch, fetch])
        assert moved.changed and not repeat.changed
        assert repeat.record is not None and repeat.record.state is S.DELIVERED
        (nothing,) = await store.settle([replace(fetch, only_from=frozenset())])
        assert not nothing.changed
        kinds = [e.kind for e in await store.events_for(pkg.id)]
        assert kinds == ["accepted", "available", "delivered"]

    async def test_settle_unknown_delivery_does_not_fail_the_group(self, store: Store) -> None:
        pkg = new_package()
        await store.add_packages([pkg])
        outcomes = await store.settle(
            [
                DeliveryChange("no-such-id", G22, S.ACKED),
                DeliveryChange(pkg.id, H29, S.DELIVERED),  # not a recipient
                DeliveryChange(pkg.id, G22, S.ACKED),
            ]
        )
        assert [(o.record is None, o.changed) for o in outcomes] == [
            (True, False),
            (True, False),
            (False, True),
        ]
        assert [e.kind for e in await store.events_for(pkg.id)] == ["accepted", "acked"]

    async def test_concurrent_settled_acks_exactly_one_first(
        self, store: Store, open_store: OpenStore
    ) -> None:
        second = await open_store()  # another process on the same storage
        pkgs = [new_package() for _ in range(3)]
        await store.add_packages(pkgs)
        at = datetime.now(UTC)
        # Overlapping groups in different orders, from both stores at once.
        groups = [
            [DeliveryChange(p.id, G22, S.ACKED, at=at) for p in order]
            for order in (pkgs, pkgs[::-1], pkgs[1:] + pkgs[:1])
        ]
        results = await asyncio.gather(
            *(s.settle(g) for s in (store, second) for g in groups),
            *(s.ack(p.id, G22, at) for s in (store, second) for p in pkgs),
        )
        firsts = {p.id: 0 for p in pkgs}
        for result in results:
            if isinstance(result, list):
                for outcome in result:
                    assert outcome.record is not None and outcome.record.state is S.ACKED
                    firsts[outcome.record.package_id] += outcome.changed
            else:
                record, first = result
                firsts[record.package_id] += first
        assert firsts == {p.id: 1 for p in pkgs}
        for p in pkgs:
            assert [e.kind for e in await store.events_for(p.id)].count("acked") == 1

    async def test_fetch_package_with_the_delivery(self, store: Store) -> None:
        pkg = new_package(recipients=(G22, H29))
        await store.add_packages([pkg])
        await store.settle([DeliveryChange(pkg.id, G22, S.AVAILABLE)])
        fetched = await store.fetch_package(pkg.id, G22)
        assert fetched is not None
        assert fetched.record == await store.get_package(pkg.id)
        assert fetched.data == pkg.data
        assert fetched.delivery == await store.get_delivery(pkg.id, G22)
        assert fetched.delivery is not None and fetched.delivery.state is S.AVAILABLE
        as_sender = await store.fetch_package(pkg.id, H41)
        assert as_sender is not None and as_sender.delivery is None
        assert as_sender.data == pkg.data
        anonymous = await store.fetch_package(pkg.id, None)
        assert anonymous is not None and anonymous.delivery is None
        assert await store.fetch_package("no-such-id", G22) is None

    async def test_inbox_packages_oldest_waiting_with_bytes(self, store: Store) -> None:
        """The recipient's waiting packages in inbox order, each with its exact bytes and its
        delivery; acked ones, other recipients' and a sender's own are left out."""
        subs = ("000.00.13.H29",)
        pkgs = [new_package(recipients=(G22, H29), stands_for={G22: subs}) for _ in range(4)]
        others = new_package(recipients=(H29,))
        await store.add_packages([*pkgs, others])
        waiting = [DeliveryChange(p.id, G22, S.AVAILABLE) for p in pkgs]
        await store.settle([*waiting, DeliveryChange(others.id, H29, S.AVAILABLE)])
        await store.settle(
            [
                DeliveryChange(pkgs[1].id, G22, S.DELIVERED),
                DeliveryChange(pkgs[2].id, G22, S.ACKED),
            ]
        )
        got = (await store.inbox_packages(G22, limit=10, max_bytes=1 << 20)).items
        assert [f.record.id for f in got] == [pkgs[0].id, pkgs[1].id, pkgs[3].id]
        page = await store.inbox(G22)
        assert [f.record for f in got] == [i.package for i in page.items]
        assert [f.delivery for f in got] == [i.delivery for i in page.items]
        for f, pkg in zip(got, (pkgs[0], pkgs[1], pkgs[3]), strict=True):
            assert f.data == pkg.data  # byte-exact, Vietnamese text included
            assert f.delivery is not None and f.delivery.stands_for == subs
        assert got[1].delivery is not None and got[1].delivery.state is S.DELIVERED
        # reading writes nothing: the available ones stay available
        first = await store.get_delivery(pkgs[0].id, G22)
        assert first is not None and first.state is S.AVAILABLE
        assert await store.inbox_packages(H41, limit=10, max_bytes=1 << 20) == FetchedBatch(())
        h29 = await store.inbox_packages(H29, limit=10, max_bytes=1 << 20)
        assert [f.record.id for f in h29.items] == [others.id]

    async def test_inbox_packages_limit_and_byte_budget(self, store: Store) -> None:
        pkgs = [new_package(data=f"<edXML n='{i}'>{'đ' * 50}</edXML>".encode()) for i in range(5)]
        await store.add_packages(pkgs)
        await store.settle([DeliveryChange(p.id, G22, S.AVAILABLE) for p in pkgs])
        size = len(pkgs[0].data)
        assert all(len(p.data) == size for p in pkgs)

        async def ids(limit: int, max_bytes: int) -> list[str]:
            got = await store.inbox_packages(G22, limit=limit, max_bytes=max_bytes)
            return [f.record.id for f in got.items]

        everyone = [p.id for p in pkgs]
        assert await ids(2, 1 << 20) == everyone[:2]
        assert await ids(10, 1 << 20) == everyone
        # the budget: as many whole packages as fit ...
        assert await ids(10, 3 * size) == everyone[:3]
        assert await ids(10, 3 * size - 1) == everyone[:2]
        # ... and always the first, even larger than the budget
        assert await ids(10, 1) == everyone[:1]
        assert await ids(10, 0) == everyone[:1]
        # the limit cuts first
        assert await ids(1, 5 * size) == everyone[:1]
        with pytest.raises(ValueError):
            await store.inbox_packages(G22, limit=0, max_bytes=size)

    async def test_inbox_packages_after_a_cursor(self, store: Store) -> None:
        """A batch's ``next`` is the position of its last package, whatever comes after it:
        passed back, the next batch starts strictly after it, so a caller that leaves
        packages unacknowledged walks past them; the inbox's cursors are positions alike."""
        pkgs = [new_package(recipients=(G22, H29)) for _ in range(7)]
        await store.add_packages(pkgs)
        await store.settle([DeliveryChange(p.id, G22, S.AVAILABLE) for p in pkgs])
        await store.settle([DeliveryChange(p.id, H29, S.AVAILABLE) for p in pkgs[:2]])
        ids = [p.id for p in pkgs]
        await store.settle([DeliveryChange(ids[3], G22, S.ACKED)])  # acked: never offered

        async def batch(cursor: str | None, limit: int = 2) -> tuple[list[str], str | None]:
            got = await store.inbox_packages(G22, limit=limit, max_bytes=1 << 20, cursor=cursor)
            return [f.record.id for f in got.items], got.next

        # walking, acking nothing: each package once, in inbox order
        walked: list[str] = []
        cursor: str | None = None
        while True:
            got, after = await batch(cursor)
            if not got:
                assert after is None
                break
            assert after is not None
            walked.extend(got)
            cursor = after
        assert walked == [ids[0], ids[1], ids[2], ids[4], ids[5], ids[6]]
        # from the oldest again, unacknowledged ones first as before
        first, after = await batch(None)
        assert first == ids[:2]
        # packages acked behind the position do not move it; one acked ahead is skipped
        await store.settle([DeliveryChange(i, G22, S.ACKED) for i in (ids[0], ids[4])])
        assert (await batch(after, limit=10))[0] == [ids[2], ids[5], ids[6]]
        # the position is the package's: the same cursor as the inbox listing hands out
        page = await store.inbox(G22, limit=1)
        assert [i.package.id for i in page.items] == [ids[1]]
        assert (await batch(page.next, limit=1))[0] == [ids[2]]
        # past the last package: nothing, and no position
        assert await store.inbox_packages(G22, limit=5, max_bytes=1, cursor=cursor) == (
            FetchedBatch(())
        )
        # a position is a place in acceptance order, the same in every recipient's inbox:
        # both of H29's packages are at or before ``after``
        h29 = await store.inbox_packages(H29, limit=5, max_bytes=1 << 20, cursor=after)
        assert h29 == FetchedBatch(())
        # the byte budget cuts after the position as at the start
        one, _ = await batch(after, limit=10)
        budget = await store.inbox_packages(G22, limit=10, max_bytes=1, cursor=after)
        assert [f.record.id for f in budget.items] == one[:1]
        with pytest.raises(ValueError):
            await store.inbox_packages(G22, limit=1, max_bytes=1, cursor="not-a-cursor")


class StoreContract(SettleContract):
    """Abstract tests; a subclass supplies ``store_factory``."""

    @pytest.fixture
    def reopen(self, open_store: OpenStore) -> Callable[[Store], Awaitable[Store]]:
        """Close a store and open a fresh one over the same storage (a restart)."""

        async def _reopen(store: Store) -> Store:
            await store.close()
            return await open_store()

        return _reopen

    # -- lifecycle ----------------------------------------------------------------------------

    async def test_ping_and_close_idempotent(self, open_store: OpenStore) -> None:
        store = await open_store()
        await store.ping()
        await store.close()
        await store.close()

    # -- accepting ----------------------------------------------------------------------------

    async def test_accept_pull_available_at_commit_push_pending(self, store: Store) -> None:
        """Issue 12: one transaction makes a pull delivery ``available`` (with its event) and
        leaves a push delivery ``pending`` — the outbox a relay publishes from."""
        pkg = new_package(recipients=(G22, H29), stands_for={G22: ("000.01.22.G22",)})
        note = Event(package_id=pkg.id, kind="attachments_checked", at=pkg.accepted_at)
        (result,) = await store.accept(
            [AcceptItem(package=pkg, available=frozenset({G22}), events=(note,))]
        )
        assert result == AcceptResult(AddOutcome.INSERTED)
        pulled, pushed = (
            await store.get_delivery(pkg.id, G22),
            await store.get_delivery(pkg.id, H29),
        )
        assert pulled is not None and pulled.state == S.AVAILABLE
        assert pushed is not None and pushed.state == S.PENDING
        assert [(d.package_id, d.recipient) for d in await store.pending_deliveries()] == [
            (pkg.id, H29)
        ]
        assert [i.package.id for i in (await store.inbox(G22)).items] == [pkg.id]
        events = [(e.kind, e.recipient) for e in await store.events_for(pkg.id)]
        assert events == [
            ("accepted", None),
            ("represented", G22),
            ("attachments_checked", None),
            ("available", G22),
        ]
        available = [e for e in await store.events_for(pkg.id) if e.kind == "available"]
        assert available[0].detail == {"for": ["000.01.22.G22"]}

    async def test_accept_lost_lifecycle_cas_refuses_only_that_package(self, store: Store) -> None:
        """Issue 12: two statuses moving one document from the same state in one group: the
        first applies, the second is refused alone (nothing of it stored), the rest commits."""
        doc = new_package(recipients=(G22,))
        row = DocState(
            author=H41,
            document_id=doc.document_id or "",
            recipient=G22,
            package_id=doc.id,
            business_doc_type=0,
            original_id=None,
            state=NONE,
            sent_at=doc.accepted_at,
            answered_at=None,
            updated_at=doc.accepted_at,
        )
        created = LifecycleChange(sha256=doc.sha256, at=doc.accepted_at, new_docs=(row,))
        (first,) = await store.accept([AcceptItem(package=doc, lifecycle=created)])
        assert first.outcome is AddOutcome.INSERTED

        def answer(code: str) -> AcceptItem:
            pkg = new_package(
                sender=G22,
                recipients=(H41,),
                kind=PackageKind.STATUS,
                document_id=doc.document_id,
                business_doc_type=None,
                status_code=code,
            )
            move = DocMove(package_id=doc.id, recipient=G22, expect=NONE, to=code)
            history = Transition(
                "document", row.document_id, G22, NONE, code, pkg.id, pkg.sha256,
                pkg.accepted_at, G22,
            )  # fmt: skip
            change = LifecycleChange(
                sha256=pkg.sha256, at=pkg.accepted_at, doc_moves=(move,), transitions=(history,)
            )
            return AcceptItem(package=pkg, available=frozenset({H41}), lifecycle=change)

        won, lost, other = answer("01"), answer("03"), AcceptItem(package=new_package())
        results = await store.accept([won, lost, other])
        assert [r.outcome for r in results] == [
            AddOutcome.INSERTED,
            AddOutcome.REFUSED,
            AddOutcome.INSERTED,
        ]
        assert isinstance(results[1].refusal, IllegalTransition)
        assert results[0].refusal is None and results[2].refusal is None
        assert await store.get_package(lost.package.id) is None
        assert await store.events_for(lost.package.id) == []
        assert await store.get_package(other.package.id) is not None
        (state,) = await store.lifecycle().documents(row.document_id)
        assert state.state == "01"
        moves = await store.lifecycle().transitions(key=row.document_id)
        assert [(t.to_state, t.package_id) for t in moves] == [("01", won.package.id)]
        assert [i.package.id for i in (await store.inbox(H41)).items] == [won.package.id]

    async def test_add_and_get_package_roundtrip(self, store: Store) -> None:
        pkg = new_package(recipients=(G22, H29), warnings=("signature.sha1_legacy",))
        await store.add_packages([pkg])
        record = await store.get_package(pkg.id)
        assert_record_matches(record, pkg)
        assert record is not None
        assert_utc(record.accepted_at)
        assert await store.get_package("no-such-id") is None
        assert await store.count_packages() == 1

    async def test_blobs_as_stored_paged_and_compare_and_set(self, store: Store) -> None:
        """Issue 14 (re-encryption): list ids and stored headers by id, read blobs as stored,
        replace them only where they still hold exactly the old bytes."""
        from hub.storage_crypto import seal

        pkgs = [new_package(data=f"<edXML>Hồ sơ số {i}</edXML>".encode()) for i in range(5)]
        await store.add_packages(pkgs)
        assert await store.count_blobs() == 5
        ids = sorted(p.id for p in pkgs)
        stored = await store.stored_blobs(ids)
        assert set(stored) == set(ids)
        first = await store.blob_headers("", 3, 9)
        rest = await store.blob_headers(first[-1][0], 3, 9)
        assert [h[0] for h in first + rest] == ids and len(first) == 3
        for package_id, head, size in first + rest:
            assert head == stored[package_id][:9] and size == len(stored[package_id])
        assert await store.blob_headers(ids[-1], 3, 9) == []

        victim = ids[0]
        new = seal(store.blob_cipher, victim, "<edXML>Đã mã hoá lại</edXML>".encode())
        # compare-and-set: a stale "old" replaces nothing, the exact old bytes do
        assert await store.replace_blobs([(victim, b"stale", new)]) == 0
        assert await store.replace_blobs([(victim, stored[victim], new), ("nope", b"", b"")]) == 1
        assert await store.get_bytes(victim) == "<edXML>Đã mã hoá lại</edXML>".encode()
        assert await store.replace_blobs([(victim, stored[victim], new)]) == 0
        assert await store.replace_blobs([]) == 0

    async def test_exact_bytes_and_receipt(self, store: Store) -> None:
        binary = bytes(range(256)) * 8 + b"\x00\xff\xfe\x80 tail"
        text = ("<?xml version='1.0' encoding='UTF-8'?>" + VIETNAMESE * 40).encode()
        nfd = "Ủy ban nhân dân".encode("utf-16-le")  # not UTF-8 at all
        pkgs = [new_package(data=d) for d in (binary, text, nfd)]
        await store.add_packages(pkgs)
        for pkg in pkgs:
            assert await store.get_bytes(pkg.id) == pkg.data
            assert await store.get_receipt(pkg.id) == pkg.receipt
        assert await store.get_bytes("no-such-id") is None
        assert await store.get_receipt("no-such-id") is None

    async def test_find_by_sha256(self, store: Store) -> None:
        pkg = new_package()
        await store.add_packages([pkg])
        assert_record_matches(await store.find_by_sha256(pkg.sha256), pkg)
        assert await store.find_by_sha256("0" * 64) is None

    async def test_find_document(self, store: Store) -> None:
        doc = new_package(document_id="H41,2026/03/02,15/UBND-VP", business_doc_type=0)
        update = new_package(document_id="H41,2026/03/02,15/UBND-VP", business_doc_type=2)
        untyped = new_package(document_id="H41,2026/03/02,16/UBND-VP", business_doc_type=None)
        other_sender = new_package(
            sender=H29, document_id="H41,2026/03/02,15/UBND-VP", business_doc_type=0
        )
        await store.add_packages([doc, update, untyped, other_sender])
        found = await store.find_document(H41, "H41,2026/03/02,15/UBND-VP", 0)
        assert found is not None and found.id == doc.id
        found = await store.find_document(H41, "H41,2026/03/02,15/UBND-VP", 2)
        assert found is not None and found.id == update.id
        found = await store.find_document(H41, "H41,2026/03/02,16/UBND-VP", None)
        assert found is not None and found.id == untyped.id
        assert await store.find_document(H41, "H41,2026/03/02,15/UBND-VP", 3) is None
        assert await store.find_document(G22, "H41,2026/03/02,15/UBND-VP", 0) is None

    async def test_find_document_returns_first_stored(self, store: Store) -> None:
        first = new_package(document_id="H41,2026/03/02,20/QD")
        second = new_package(document_id="H41,2026/03/02,20/QD")
        await store.add_packages([first])
        await store.add_packages([second])
        found = await store.find_document(H41, "H41,2026/03/02,20/QD", 0)
        assert found is not None and found.id == first.id

    async def test_duplicate_sha256_skipped(self, store: Store) -> None:
        original = new_package()
        await store.add_packages([original])
        again = new_package(data=original.data)  # same bytes, new id
        fresh = new_package()
        twin = new_package(data=fresh.data)  # same bytes twice in one batch
        await store.add_packages([again, fresh, twin])
        assert await store.count_packages() == 2
        assert await store.get_package(again.id) is None
        assert await store.get_package(twin.id) is None
        assert (await store.find_by_sha256(original.sha256)).id == original.id  # type: ignore[union-attr]
        assert (await store.find_by_sha256(fresh.sha256)).id == fresh.id  # type: ignore[union-attr]
        assert await store.deliveries_for(again.id) == []
        assert list(await store.events_for(again.id)) == []

    async def test_empty_batch_is_a_noop(self, store: Store) -> None:
        await store.add_packages([])
        assert await store.count_packages() == 0

    async def test_add_creates_pending_deliveries_and_accepted_event(self, store: Store) -> None:
        pkg = new_package(recipients=(H29, G22))
        await store.add_packages([pkg])
        deliveries = await store.deliveries_for(pkg.id)
        assert [d.recipient for d in deliveries] == sorted([H29, G22])
        for d in deliveries:
            assert d.state is S.PENDING
            assert d.attempts == 0
            assert d.acked_at is None
            assert_utc(d.updated_at)
        events = await store.events_for(pkg.id)
        assert [e.kind for e in events] == ["accepted"]
        assert events[0].at == pkg.accepted_at
        one = await store.get_delivery(pkg.id, G22)
        assert one is not None and one.state is S.PENDING
        assert await store.get_delivery(pkg.id, "000.00.00.X99") is None

    # -- deliveries ----------------------------------------------------------------------------

    async def test_pending_deliveries_then_mark_queued(self, store: Store) -> None:
        a = new_package(recipients=(G22, H29))
        b = new_package(recipients=(G22,))
        await store.add_packages([a])
        await store.add_packages([b])
        pending = await store.pending_deliveries()
        assert [(d.package_id, d.recipient) for d in pending] == [
            (a.id, G22),
            (a.id, H29),
            (b.id, G22),
        ]
        assert len(await store.pending_deliveries(limit=2)) == 2
        await store.set_delivery_state(b.id, G22, S.AVAILABLE)  # overtaken by the dispatcher
        await store.mark_queued([(a.id, G22), (a.id, H29), (b.id, G22), ("nope", G22)])
        await store.mark_queued([(a.id, G22)])  # idempotent
        assert await store.pending_deliveries() == []
        assert (await store.get_delivery(a.id, G22)).state is S.QUEUED  # type: ignore[union-attr]
        assert (await store.get_delivery(b.id, G22)).state is S.AVAILABLE  # type: ignore[union-attr]
        kinds = [e.kind for e in await store.events_for(a.id)]
        assert kinds == ["accepted", "queued", "queued"]

    async def test_set_delivery_state_transitions_and_events(self, store: Store) -> None:
        pkg = new_package()
        await store.add_packages([pkg])
        await store.mark_queued([(pkg.id, G22)])
        failed = await store.set_delivery_state(
            pkg.id, G22, S.FAILED, attempts=1, error="HTTP 503", event_detail={"status": 503}
        )
        assert failed.state is S.FAILED
        assert failed.attempts == 1
        assert failed.last_error == "HTTP 503"
        delivered = await store.set_delivery_state(pkg.id, G22, S.DELIVERED, attempts=2)
        assert delivered.state is S.DELIVERED
        assert delivered.attempts == 2
        assert delivered.updated_at >= failed.updated_at
        kept = await store.set_delivery_state(pkg.id, G22, S.DELIVERED)
        assert kept.attempts == 2  # None keeps the stored count
        events = await store.events_for(pkg.id)
        assert [e.kind for e in events] == [
            "accepted",
            "queued",
            "failed",
            "delivered",
            "delivered",
        ]
        failed_event = events[2]
        assert failed_event.recipient == G22
        assert failed_event.attempt == 1
        assert failed_event.detail.get("status") == 503
        assert "HTTP 503" in str(failed_event.detail)
        assert_utc(failed_event.at)
        assert (await store.get_delivery(pkg.id, G22)) == kept

    async def test_dead_and_resend(self, store: Store) -> None:
        pkg = new_package()
        await store.add_packages([pkg])
        dead = await store.set_delivery_state(pkg.id, G22, S.DEAD, attempts=5, error="timeout")
        assert dead.state is S.DEAD
        again = await store.set_delivery_state(pkg.id, G22, S.QUEUED, event_detail={"by": "op"})
        assert again.state is S.QUEUED

    async def test_acked_is_terminal(self, store: Store) -> None:
        pkg = new_package()
        await store.add_packages([pkg])
        await store.set_delivery_state(pkg.id, G22, S.AVAILABLE)
        acked, first = await store.ack(pkg.id, G22, datetime.now(UTC))
        assert first
        n_events = len(await store.events_for(pkg.id))
        for state in (S.FAILED, S.DELIVERED, S.DEAD, S.PENDING):
            after = await store.set_delivery_state(pkg.id, G22, state, attempts=9, error="x")
            assert after == acked
        assert len(await store.events_for(pkg.id)) == n_events
        await store.mark_queued([(pkg.id, G22)])
        assert (await store.get_delivery(pkg.id, G22)) == acked

    async def test_ack_idempotent_counted_once(self, store: Store) -> None:
        pkg = new_package(recipients=(G22, H29))
        await store.add_packages([pkg])
        await store.set_delivery_state(pkg.id, G22, S.DELIVERED, attempts=1)
        at = datetime(2026, 3, 2, 9, 15, 0, 123456, tzinfo=timezone(timedelta(hours=7)))
        record, first = await store.ack(pkg.id, G22, at)
        assert first
        assert record.state is S.ACKED
        assert record.acked_at == at
        assert_utc(record.acked_at)
        again, first_again = await store.ack(pkg.id, G22, at + timedelta(minutes=5))
        assert not first_again
        assert again.acked_at == at
        assert [e.kind for e in await store.events_for(pkg.id)].count("acked") == 1
        other = await store.get_delivery(pkg.id, H29)
        assert other is not None and other.state is S.PENDING

    async def test_concurrent_acks_exactly_one_first(
        self, store: Store, open_store: OpenStore
    ) -> None:
        second = await open_store()  # another process on the same storage
        pkg = new_package()
        await store.add_packages([pkg])
        at = datetime.now(UTC)
        results = await asyncio.gather(
            *(s.ack(pkg.id, G22, at) for s in (store, second, store, second, store, second))
        )
        assert sum(first for _, first in results) == 1
        assert all(record.state is S.ACKED for record, _ in results)

    async def test_unknown_delivery_raises_key_error(self, store: Store) -> None:
        pkg = new_package()
        await store.add_packages([pkg])
        with pytest.raises(KeyError):
            await store.ack(pkg.id, H29, datetime.now(UTC))
        with pytest.raises(KeyError):
            await store.ack("no-such-id", G22, datetime.now(UTC))
        with pytest.raises(KeyError):
            await store.set_delivery_state("no-such-id", G22, S.DELIVERED)
        assert [e.kind for e in await store.events_for(pkg.id)] == ["accepted"]

    # -- listings ------------------------------------------------------------------------------

    async def test_inbox_paging_is_stable_and_complete(self, store: Store) -> None:
        pkgs = [new_package(recipients=(G22,)) for _ in range(250)]
        await store.add_packages(pkgs)
        for pkg in pkgs:
            await store.set_delivery_state(pkg.id, G22, S.AVAILABLE)
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            page = await store.inbox(G22, cursor=cursor, limit=100)
            pages += 1
            seen.extend(item.package.id for item in page.items)
            if page.next is None:
                break
            assert isinstance(page.next, str)
            cursor = page.next
        assert pages == 3
        assert seen == [p.id for p in pkgs]
        # The same cursor gives the same page again (stable).
        first = await store.inbox(G22, limit=100)
        again = await store.inbox(G22, cursor=None, limit=100)
        assert first == again
        second = await store.inbox(G22, cursor=first.next, limit=100)
        assert second == await store.inbox(G22, cursor=first.next, limit=100)
        exact = await store.inbox(G22, limit=250)
        assert len(exact.items) == 250 and exact.next is None

    async def test_inbox_filters_recipient_and_state(self, store: Store) -> None:
        to_g22 = [new_package(recipients=(G22,)) for _ in range(6)]
        both = new_package(recipients=(H29, G22))
        to_h29 = new_package(recipients=(H29,))
        await store.add_packages([*to_g22, both, to_h29])
        states = [S.PENDING, S.QUEUED, S.AVAILABLE, S.DELIVERED, S.FAILED, S.DEAD]
        for pkg, state in zip(to_g22, states, strict=True):
            if state is not S.PENDING:
                await store.set_delivery_state(pkg.id, G22, state)
        await store.set_delivery_state(both.id, G22, S.AVAILABLE)
        await store.set_delivery_state(both.id, H29, S.AVAILABLE)
        await store.set_delivery_state(to_h29.id, H29, S.AVAILABLE)

        page = await store.inbox(G22)
        assert [i.package.id for i in page.items] == [to_g22[2].id, to_g22[3].id, both.id]
        assert page.next is None
        for item in page.items:
            assert item.delivery.recipient == G22
            assert item.delivery.package_id == item.package.id
        assert [i.delivery.state for i in page.items] == [S.AVAILABLE, S.DELIVERED, S.AVAILABLE]

        await store.ack(to_g22[2].id, G22, datetime.now(UTC))
        assert [i.package.id for i in (await store.inbox(G22)).items] == [
            to_g22[3].id,
            both.id,
        ]
        with_acked = await store.inbox(G22, include_acked=True)
        assert [i.package.id for i in with_acked.items] == [to_g22[2].id, to_g22[3].id, both.id]
        assert with_acked.items[0].delivery.state is S.ACKED
        assert [i.package.id for i in (await store.inbox(H29)).items] == [both.id, to_h29.id]
        assert (await store.inbox("000.00.00.X99")).items == ()

    async def test_inbox_is_in_acceptance_order(self, store: Store) -> None:
        pkgs = [new_package() for _ in range(5)]
        await store.add_packages(pkgs[:2])
        await store.add_packages(pkgs[2:])
        for pkg in reversed(pkgs):  # made available in reverse order
            await store.set_delivery_state(pkg.id, G22, S.AVAILABLE)
        assert [i.package.id for i in (await store.inbox(G22)).items] == [p.id for p in pkgs]

    async def test_outbox_with_delivery_states_and_paging(self, store: Store) -> None:
        pkgs = [new_package(sender=H29, recipients=(G22, H41)) for _ in range(5)]
        foreign = new_package(sender=H41, recipients=(G22,))
        await store.add_packages([*pkgs, foreign])
        await store.set_delivery_state(pkgs[0].id, G22, S.DELIVERED)
        await store.ack(pkgs[0].id, H41, datetime.now(UTC))

        page1 = await store.outbox(H29, limit=3)
        page2 = await store.outbox(H29, cursor=page1.next, limit=3)
        assert page1.next is not None and page2.next is None
        items = page1.items + page2.items
        assert [record.id for record, _ in items] == [p.id for p in pkgs]
        record, deliveries = items[0]
        assert_record_matches(record, pkgs[0])
        states = {d.recipient: d.state for d in deliveries}
        assert states == {G22: S.DELIVERED, H41: S.ACKED}
        assert all(len(ds) == 2 for _, ds in items)
        assert {d.state for _, ds in items[1:] for d in ds} == {S.PENDING}
        assert [r.id for r, _ in (await store.outbox(H41)).items] == [foreign.id]
        assert (await store.outbox(G22)).items == ()

    async def test_bad_cursor_rejected(self, store: Store) -> None:
        with pytest.raises(ValueError):
            await store.inbox(G22, cursor="not a cursor!")

    async def test_related_statuses(self, store: Store) -> None:
        doc_id = "000.00.00.H41,2026/03/02,77/UBND-VP"
        document = new_package(sender=H41, recipients=(G22, H29), document_id=doc_id)
        arrived = new_package(
            sender=G22,
            recipients=(H41,),
            kind=PackageKind.STATUS,
            document_id=doc_id,
            business_doc_type=None,
            status_code="01",
        )
        accepted = new_package(
            sender=H29,
            recipients=(H41,),
            kind=PackageKind.STATUS,
            document_id=doc_id,
            business_doc_type=None,
            status_code="03",
        )
        other_doc = new_package(
            sender=G22,
            recipients=(H41,),
            kind=PackageKind.STATUS,
            document_id="000.00.00.H41,2026/03/02,78/UBND-VP",
            business_doc_type=None,
            status_code="01",
        )
        to_someone_else = new_package(
            sender=G22,
            recipients=(H29,),
            kind=PackageKind.STATUS,
            document_id=doc_id,
            business_doc_type=None,
            status_code="02",
        )
        await store.add_packages([document, arrived, accepted, other_doc, to_someone_else])
        related = await store.related_statuses(H41, doc_id)
        assert [r.id for r in related] == [arrived.id, accepted.id]
        assert [r.status_code for r in related] == ["01", "03"]
        assert all(r.kind is PackageKind.STATUS for r in related)
        assert await store.related_statuses(G22, doc_id) == []
        # A status is not a document: find_document does not confuse them.
        found = await store.find_document(H41, doc_id, 0)
        assert found is not None and found.id == document.id

    # -- events --------------------------------------------------------------------------------

    async def test_events_in_order(self, store: Store) -> None:
        pkg = new_package()
        await store.add_packages([pkg])
        at = datetime.now(UTC)
        await store.append_event(
            Event(package_id=pkg.id, kind="status", at=at, detail={"code": "01", "vi": "Đã đến"})
        )
        await store.append_event(Event(package_id=None, kind="refused", at=at, detail={"x": 1}))
        await store.append_event(
            Event(package_id=pkg.id, kind="resend", at=at, recipient=G22, attempt=3)
        )
        await store.set_delivery_state(pkg.id, G22, S.AVAILABLE)
        events = await store.events_for(pkg.id)
        assert [e.kind for e in events] == ["accepted", "status", "resend", "available"]
        seqs = [e.seq for e in events]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) and seqs[0] > 0
        assert events[1].detail == {"code": "01", "vi": "Đã đến"}
        assert events[1].at == at
        assert (events[2].recipient, events[2].attempt) == (G22, 3)
        for e in events:
            assert_utc(e.at)
        assert await store.events_for("no-such-id") == []

    # -- agency overrides -----------------------------------------------------------------------

    async def test_agency_overrides_merge_and_persist(
        self, store: Store, reopen: Callable[[Store], Awaitable[Store]]
    ) -> None:
        t1 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
        t2 = t1 + timedelta(hours=1)
        await store.set_agency_override(
            AgencyOverride(organ_id=H29, enabled=False, changed_at=t1, reason="maintenance")
        )
        await store.set_agency_override(
            AgencyOverride(organ_id=H29, token_sha256=("ab" * 32, "cd" * 32), changed_at=t2)
        )
        await store.set_agency_override(AgencyOverride(organ_id=G22, enabled=True))
        await store.set_agency_override(AgencyOverride(organ_id=H29, enabled=True))
        store = await reopen(store)
        overrides = {o.organ_id: o for o in await store.agency_overrides()}
        assert set(overrides) == {H29, G22}
        h29 = overrides[H29]
        assert h29.enabled is True
        assert h29.token_sha256 == ("ab" * 32, "cd" * 32)
        assert h29.changed_at == t2
        assert_utc(h29.changed_at)
        assert h29.reason == "maintenance"
        g22 = overrides[G22]
        assert (g22.enabled, g22.token_sha256, g22.changed_at) == (True, None, None)
        assert (h29.signature_profile, g22.signature_profile) == (None, None)

    async def test_agency_signature_profile_merges_and_persists(
        self, store: Store, reopen: Callable[[Store], Awaitable[Store]]
    ) -> None:
        """Migration 0009: the signature profile is one more field, last write wins, and a
        change that does not name it keeps it."""
        t1 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
        await store.set_agency_override(
            AgencyOverride(organ_id=H29, signature_profile="legacy", changed_at=t1, reason="kit")
        )
        await store.set_agency_override(AgencyOverride(organ_id=H29, enabled=False))
        await store.set_agency_override(AgencyOverride(organ_id=G22, signature_profile="legacy"))
        await store.set_agency_override(AgencyOverride(organ_id=G22, signature_profile="strict"))
        store = await reopen(store)
        overrides = {o.organ_id: o for o in await store.agency_overrides()}
        assert (overrides[H29].signature_profile, overrides[H29].enabled) == ("legacy", False)
        assert overrides[H29].reason == "kit"
        assert overrides[G22].signature_profile == "strict"

    # -- VXP facade systems (issue 11) ------------------------------------------------------------

    async def test_vxp_systems_round_trip_and_version(
        self, store: Store, reopen: Callable[[Store], Awaitable[Store]]
    ) -> None:
        t1 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
        assert await store.get_vxp_system("vxp.h41") is None
        first = await store.create_vxp_system(
            VxpSystem(
                system_id="vxp.h41",
                agencies=(H41, "000.00.01.H41"),
                secret=b"\x00sealed\xff",
                changed_at=t1,
            )
        )
        assert first is not None
        assert (first.version, first.enabled, first.secret_file) == (1, True, None)
        await store.create_vxp_system(
            VxpSystem(system_id="vxp.g22", agencies=(G22,), secret_file="/x/g22.secret")
        )
        changed = await store.set_vxp_enabled(
            "vxp.h41", False, changed_at=t1 + timedelta(hours=1), reason="Tết"
        )
        assert changed is not None and changed.version == 2
        store = await reopen(store)
        got = await store.get_vxp_system("vxp.h41")
        assert got is not None
        assert got == changed
        assert got.agencies == (H41, "000.00.01.H41")
        assert got.secret == b"\x00sealed\xff"  # sealed bytes kept exactly
        assert (got.enabled, got.version, got.reason) == (False, 2, "Tết")
        assert got.changed_at == t1 + timedelta(hours=1)
        assert_utc(got.changed_at)
        assert [s.system_id for s in await store.vxp_systems()] == ["vxp.g22", "vxp.h41"]
        g22 = await store.get_vxp_system("vxp.g22")
        assert g22 is not None and (g22.secret, g22.secret_file) == (None, "/x/g22.secret")

    async def test_vxp_system_is_created_once_under_concurrency(
        self, open_store: OpenStore
    ) -> None:
        """Two processes add one system id at the same moment: the store's key decides, so
        exactly one creation wins and the record holds the winner's secret; the loser learns
        it lost (``None``) instead of replacing what the winner was shown."""
        one, two = await open_store(), await open_store()
        mine = VxpSystem(system_id="vxp.h41", agencies=(H41,), secret=b"first")
        theirs = VxpSystem(system_id="vxp.h41", agencies=(H41, G22), secret=b"second")
        results = await asyncio.gather(one.create_vxp_system(mine), two.create_vxp_system(theirs))
        won = [r for r in results if r is not None]
        assert len(won) == 1, results
        assert await two.get_vxp_system("vxp.h41") == won[0]
        assert won[0].version == 1
        # a creation after the fact changes nothing either
        assert await one.create_vxp_system(replace(mine, secret=b"third")) is None
        stored = await one.get_vxp_system("vxp.h41")
        assert stored is not None and (stored.secret, stored.version) == (won[0].secret, 1)

    async def test_vxp_secret_change_keeps_a_disable(self, store: Store) -> None:
        """A rotation writes where the secret is kept, nothing else: a system disabled before
        (or while) its secret is rotated stays disabled, and its agencies stay as they are."""
        t1 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
        created = await store.create_vxp_system(
            VxpSystem(system_id="vxp.h41", agencies=(H41,), secret=b"old", changed_at=t1)
        )
        assert created is not None
        await store.set_vxp_enabled("vxp.h41", False, changed_at=t1, reason="Tết")
        rotated = await store.set_vxp_secret(
            "vxp.h41", secret=b"new", secret_file=None, changed_at=t1, reason="secret rotated"
        )
        assert rotated is not None
        assert (rotated.enabled, rotated.secret, rotated.agencies) == (False, b"new", (H41,))
        assert rotated.version == 3
        # concurrently: whichever lands first, both changes are kept
        await asyncio.gather(
            store.set_vxp_enabled("vxp.h41", True, changed_at=t1, reason="back"),
            store.set_vxp_secret(
                "vxp.h41", secret=None, secret_file="/x/h41.secret", changed_at=t1, reason="file"
            ),
        )
        got = await store.get_vxp_system("vxp.h41")
        assert got is not None and got.enabled and got.version == 5
        assert (got.secret, got.secret_file) == (None, "/x/h41.secret")
        await asyncio.gather(
            store.set_vxp_secret(
                "vxp.h41", secret=b"newer", secret_file=None, changed_at=t1, reason="rotated"
            ),
            store.set_vxp_enabled("vxp.h41", False, changed_at=t1, reason="again"),
        )
        got = await store.get_vxp_system("vxp.h41")
        assert got is not None and not got.enabled and got.version == 7
        assert (got.secret, got.secret_file) == (b"newer", None)
        # an unknown system: nothing written, nothing created
        assert await store.set_vxp_enabled("vxp.x", False, changed_at=t1, reason="r") is None
        none = await store.set_vxp_secret(
            "vxp.x", secret=b"s", secret_file=None, changed_at=t1, reason="r"
        )
        assert none is None and await store.get_vxp_system("vxp.x") is None

    async def test_unsigned_package_has_no_signer_fingerprint(self, store: Store) -> None:
        pkg = replace(
            new_package(), signer_fingerprint=None, warnings=("signature.envelope_unsigned",)
        )
        await store.add_packages([pkg])
        record = await store.get_package(pkg.id)
        assert record is not None
        assert record.signer_fingerprint is None
        assert record.warnings == ("signature.envelope_unsigned",)

    # -- persistence and sharing ------------------------------------------------------------------

    async def test_everything_survives_reopen(
        self, store: Store, reopen: Callable[[Store], Awaitable[Store]]
    ) -> None:
        pkg = new_package(recipients=(G22, H29))
        await store.add_packages([pkg])
        await store.set_delivery_state(pkg.id, G22, S.AVAILABLE)
        await store.ack(pkg.id, G22, datetime.now(UTC))
        store = await reopen(store)
        assert_record_matches(await store.get_package(pkg.id), pkg)
        assert await store.get_bytes(pkg.id) == pkg.data
        assert await store.get_receipt(pkg.id) == pkg.receipt
        states = {d.recipient: d.state for d in await store.deliveries_for(pkg.id)}
        assert states == {G22: S.ACKED, H29: S.PENDING}
        assert [d.package_id for d in await store.pending_deliveries()] == [pkg.id]
        assert [e.kind for e in await store.events_for(pkg.id)] == [
            "accepted",
            "available",
            "acked",
        ]

    async def test_second_store_sees_commits(self, store: Store, open_store: OpenStore) -> None:
        other = await open_store()
        pkg = new_package()
        await store.add_packages([pkg])
        assert_record_matches(await other.get_package(pkg.id), pkg)
        await other.set_delivery_state(pkg.id, G22, S.AVAILABLE)
        assert [i.package.id for i in (await store.inbox(G22)).items] == [pkg.id]
        # Both race to store the same bytes: first one wins, nothing fails.
        same = new_package()
        twin = new_package(data=same.data)
        await asyncio.gather(store.add_packages([same]), other.add_packages([twin]))
        assert await store.count_packages() == 2

    async def test_timestamps_are_utc(self, store: Store) -> None:
        hanoi = timezone(timedelta(hours=7))
        local = datetime(2026, 3, 2, 15, 45, 30, 654321, tzinfo=hanoi)
        pkg = new_package(accepted_at=local)
        await store.add_packages([pkg])
        record = await store.get_package(pkg.id)
        assert record is not None
        assert record.accepted_at == local  # same instant …
        assert_utc(record.accepted_at)  # … expressed in UTC
        assert record.accepted_at.hour == 8 and record.accepted_at.microsecond == 654321
        # Stamped during the call: bracketed by readings before and after it, not compared
        # with a tolerance (no wall-clock distance, however slow the machine).
        before = datetime.now(UTC)
        delivery = await store.set_delivery_state(pkg.id, G22, S.AVAILABLE)
        after = datetime.now(UTC)
        assert_utc(delivery.updated_at)
        assert before <= delivery.updated_at <= after

    # -- uniqueness of a new document's DocumentId (issue 12, migration 0014) -------------------

    async def test_taken_document_id_is_a_per_package_conflict_within_one_group(
        self, store: Store
    ) -> None:
        doc_id = "Số 12/UBND-VP"  # NFC; the NFD spelling is the same key
        first = new_package(document_id=doc_id)
        other = new_package(document_id=doc_id)  # other bytes, same DocumentId
        twin = new_package(data=first.data, document_id=doc_id)  # the same bytes
        nfd = new_package(document_id=unicodedata.normalize("NFD", doc_id))
        unrelated = new_package()
        outcomes = await store.add_packages([first, other, twin, nfd, unrelated])
        assert outcomes == [
            AddOutcome.INSERTED,
            AddOutcome.CONFLICT,
            AddOutcome.SAME_BYTES,
            AddOutcome.CONFLICT,
            AddOutcome.INSERTED,
        ]
        assert await store.count_packages() == 2
        found = await store.find_document(H41, doc_id, 0)
        assert found is not None and found.id == first.id
        for loser in (other, twin, nfd):  # a loser leaves nothing behind
            assert await store.get_package(loser.id) is None
            assert await store.get_bytes(loser.id) is None
            assert await store.deliveries_for(loser.id) == []
            assert await store.events_for(loser.id) == []
        assert [d.recipient for d in await store.deliveries_for(unrelated.id)] == [G22]

    async def test_taken_document_id_across_groups_and_stores(
        self, store: Store, open_store: OpenStore
    ) -> None:
        first = new_package()
        assert await store.add_packages([first]) == [AddOutcome.INSERTED]
        later = new_package(document_id=first.document_id)
        assert await store.add_packages([later, new_package()]) == [
            AddOutcome.CONFLICT,
            AddOutcome.INSERTED,
        ]
        # Two stores ("two hub processes") race with different bytes: exactly one wins.
        other = await open_store()
        for _ in range(5):
            a = new_package()
            b = new_package(document_id=a.document_id)
            outcomes = await asyncio.gather(store.add_packages([a]), other.add_packages([b]))
            assert sorted(o for [o] in outcomes) == [AddOutcome.CONFLICT, AddOutcome.INSERTED]
            found = await store.find_document(H41, a.document_id or "", 0)
            winner = a if outcomes[0] == [AddOutcome.INSERTED] else b
            assert found is not None and found.id == winner.id
        assert await store.count_packages() == 2 + 5

    async def test_only_new_documents_are_unique(self, store: Store) -> None:
        doc_id = "H41,2026/03/02,77/UBND"
        packages = [
            new_package(document_id=doc_id),
            # updates, revocations, replacements name the original's DocumentId (and may be
            # sent more than once); statuses reference it; another sender may use it too.
            new_package(document_id=doc_id, business_doc_type=2),
            new_package(document_id=doc_id, business_doc_type=2),
            new_package(document_id=doc_id, business_doc_type=1),
            new_package(
                document_id=doc_id,
                kind=PackageKind.STATUS,
                business_doc_type=None,
                status_code="01",
                sender=G22,
                recipients=(H41,),
            ),
            new_package(
                document_id=doc_id,
                kind=PackageKind.STATUS,
                business_doc_type=None,
                status_code="02",
                sender=G22,
                recipients=(H41,),
            ),
            new_package(document_id=doc_id, sender=H29),
        ]
        assert await store.add_packages(packages) == [AddOutcome.INSERTED] * len(packages)

    # -- sub-units (issue 10) ------------------------------------------------------------------

    async def test_deliveries_record_the_codes_they_stand_for(self, store: Store) -> None:
        subs = ("000.00.13.H29", "001.02.13.H29")
        pkg = new_package(recipients=(H29, G22), stands_for={H29: subs})
        plain = new_package(recipients=(H29,))
        await store.add_packages([pkg, plain])
        by_recipient = {d.recipient: d for d in await store.deliveries_for(pkg.id)}
        assert by_recipient[H29].stands_for == subs  # in the order addressed
        assert by_recipient[G22].stands_for == ()
        assert (await store.get_delivery(plain.id, H29)).stands_for == ()  # type: ignore[union-attr]
        assert [d.stands_for for d in await store.pending_deliveries()] == [(), subs, ()]
        # Every path that reads a delivery keeps the list: state changes, ack, inbox, outbox.
        available = await store.set_delivery_state(pkg.id, H29, S.AVAILABLE)
        assert available.stands_for == subs
        await store.set_delivery_state(plain.id, H29, S.AVAILABLE)
        inbox = await store.inbox(H29)
        assert [(i.package.id, i.delivery.stands_for) for i in inbox.items] == [
            (pkg.id, subs),
            (plain.id, ()),
        ]
        (_, deliveries), _ = (await store.outbox(H41)).items
        assert {d.recipient: d.stands_for for d in deliveries} == {H29: subs, G22: ()}
        acked, first = await store.ack(pkg.id, H29, datetime.now(UTC))
        assert first and acked.stands_for == subs
        assert (await store.inbox(H29, include_acked=True)).items[0].delivery.stands_for == subs

    async def test_trace_says_who_receives_for_whom(self, store: Store) -> None:
        pkg = new_package(recipients=(H29,), stands_for={H29: ("000.00.13.H29",)})
        await store.add_packages([pkg])
        await store.mark_queued([(pkg.id, H29)])
        await store.set_delivery_state(pkg.id, H29, S.AVAILABLE)
        await store.ack(pkg.id, H29, datetime.now(UTC))
        events = await store.events_for(pkg.id)
        assert [e.kind for e in events] == [
            "accepted",
            "represented",
            "queued",
            "available",
            "acked",
        ]
        represented = events[1]
        assert represented.recipient == H29
        assert represented.detail == {
            "for": ["000.00.13.H29"],
            "text": "delivered to 000.00.00.H29 for 000.00.13.H29",
        }
        for later in events[2:]:  # queued, available, acked
            assert later.recipient == H29 and later.detail == {"for": ["000.00.13.H29"]}

    async def test_stands_for_survives_reopen(
        self, store: Store, reopen: Callable[[Store], Awaitable[Store]]
    ) -> None:
        pkg = new_package(recipients=(H29,), stands_for={H29: ("000.00.13.H29",)})
        await store.add_packages([pkg])
        store = await reopen(store)
        assert (await store.get_delivery(pkg.id, H29)).stands_for == ("000.00.13.H29",)  # type: ignore[union-attr]
