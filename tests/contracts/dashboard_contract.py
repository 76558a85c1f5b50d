"""The contract every ``Store.dashboard()`` implementation passes (SQLite and PostgreSQL).

Subclass :class:`DashboardContract` and provide ``store_factory`` exactly as for
:class:`tests.contracts.store_contract.StoreContract`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from hub.models import DeliveryState, PackageKind
from hub.store.abc import Store
from hub.store.records import AuditEntry, Operator, PackageQuery, PackageRow
from tests.contracts.store_contract import G22, H29, H41, new_package

S = DeliveryState
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


class DashboardContract:
    @pytest.fixture
    async def store(self, store_factory: Callable[[], Store]) -> AsyncIterator[Store]:
        async with store_factory() as s:
            yield s

    async def test_operators_and_sessions(self, store: Store) -> None:
        d = store.dashboard()
        op = Operator("lan.nguyen", "$argon2id$fake", "operator", NOW)
        assert await d.add_operator(op)
        assert not await d.add_operator(op)  # exists
        assert await d.get_operator("lan.nguyen") == op
        assert await d.add_operator(Operator("lan.nguyen", "$x", "viewer", NOW), replace=True)
        got = await d.get_operator("lan.nguyen")
        assert got is not None and got.role == "viewer" and got.password_hash == "$x"
        await d.create_session("h1", "lan.nguyen", "csrf1", NOW, NOW + timedelta(hours=1))
        session = await d.get_session("h1", NOW + timedelta(minutes=5))
        assert session is not None and session.csrf == "csrf1" and session.role == "viewer"
        assert await d.get_session("h1", NOW + timedelta(hours=2)) is None  # expired
        assert await d.get_session("nope", NOW) is None
        await d.delete_session("h1")
        assert await d.get_session("h1", NOW) is None
        await d.add_operator(
            Operator("lan.nguyen", "$x", "viewer", NOW, disabled=True), replace=True
        )
        await d.create_session("h2", "lan.nguyen", "c", NOW, NOW + timedelta(hours=1))
        assert await d.get_session("h2", NOW) is None  # disabled account
        assert [o.username for o in await d.list_operators()] == ["lan.nguyen"]

    async def test_password_hash_compare_and_set_writes_the_hash_only(self, store: Store) -> None:
        d = store.dashboard()
        disabled = Operator("an.tran", "$old", "viewer", NOW, disabled=True)
        assert await d.add_operator(disabled)
        # the hash read before: replaced, and nothing else of the row is touched
        assert await d.replace_password_hash("an.tran", "$old", "$new")
        assert await d.get_operator("an.tran") == Operator(
            "an.tran", "$new", "viewer", NOW, disabled=True
        )
        # the hash changed meanwhile (a reset): nothing is written
        assert not await d.replace_password_hash("an.tran", "$old", "$rehash")
        got = await d.get_operator("an.tran")
        assert got is not None and got.password_hash == "$new"
        assert not await d.replace_password_hash("nobody", "$old", "$new")
        assert await d.get_operator("nobody") is None

    async def test_audit_newest_first_and_paged(self, store: Store) -> None:
        d = store.dashboard()
        for i in range(5):
            await d.add_audit(
                AuditEntry(NOW + timedelta(seconds=i), "ops", f"a{i}", "x", {"ghi chú": "Đắk Lắk"})
            )
        first = await d.audit(limit=3)
        assert [a.action for a in first.rows if isinstance(a, AuditEntry)] == ["a4", "a3", "a2"]
        second = await d.audit(before=first.next, limit=3)
        rows = [a for a in second.rows if isinstance(a, AuditEntry)]
        assert [a.action for a in rows] == ["a1", "a0"] and second.next is None
        assert rows[0].detail == {"ghi chú": "Đắk Lắk"}

    async def test_counters_search_and_dead_letters(self, store: Store) -> None:
        d = store.dashboard()
        a = new_package(sender=G22, recipients=(H41, H29), accepted_at=NOW - timedelta(minutes=3))
        b = new_package(sender=H41, recipients=(G22,), accepted_at=NOW - timedelta(minutes=1))
        c = new_package(
            sender=H29,
            recipients=(H41,),
            kind=PackageKind.DOSSIER,
            status_code="1",
            document_id="000.00.00.H29-260302-0001",
            accepted_at=NOW - timedelta(minutes=1),
        )
        await store.add_packages([a, b, c])
        await store.set_delivery_state(a.id, H41, S.AVAILABLE)
        await store.set_delivery_state(a.id, H29, S.DEAD, attempts=4, error="HTTP 500")
        ov = await d.overview(NOW, 10)
        assert ov.packages == 3 and ov.dead_letters == 1
        assert ov.deliveries_by_state == {"available": 1, "dead": 1, "pending": 2}
        assert sum(ov.accepted_per_minute) == 3 and ov.accepted_per_minute[-2] == 2
        act = {x.organ_id: x for x in await d.agency_activity()}
        assert act[H41].unacked == 1 and act[H41].backlog == 1
        assert act[H41].oldest_undelivered_id == c.id and act[G22].last_sent_id == a.id
        assert act[H29].by_state == {"dead": 1}

        # search
        def ids(listing: object) -> list[str]:
            return [r.package.id for r in listing.rows if isinstance(r, PackageRow)]  # type: ignore[attr-defined]

        assert ids(await d.search_packages(PackageQuery())) == [c.id, b.id, a.id]
        assert ids(await d.search_packages(PackageQuery(organ_id=H41))) == [c.id, b.id, a.id]
        assert ids(await d.search_packages(PackageQuery(organ_id=H41, role="from"))) == [b.id]
        assert ids(await d.search_packages(PackageQuery(organ_id=H41, role="to"))) == [c.id, a.id]
        assert ids(await d.search_packages(PackageQuery(state="dead"))) == [a.id]
        assert ids(await d.search_packages(PackageQuery(kind="dossier"))) == [c.id]
        assert ids(await d.search_packages(PackageQuery(document_id=c.document_id))) == [c.id]
        since = NOW - timedelta(minutes=2)
        assert ids(await d.search_packages(PackageQuery(since=since))) == [c.id, b.id]
        assert ids(await d.search_packages(PackageQuery(until=since))) == [a.id]
        page = await d.search_packages(PackageQuery(), limit=2)
        assert ids(page) == [c.id, b.id] and page.next is not None
        assert ids(await d.search_packages(PackageQuery(), before=page.next)) == [a.id]
        # stuck
        assert ids(await d.unaccepted_dossiers()) == [c.id]
        unacked = await d.deliveries_in(("available", "delivered"))
        assert [(r.package.id, r.delivery.recipient) for r in unacked.rows] == [(a.id, H41)]  # type: ignore[union-attr]
        # dead letters: discard, list without it, undiscard
        dead = await d.deliveries_in(("dead",))
        assert [r.delivery.last_error for r in dead.rows] == ["HTTP 500"]  # type: ignore[union-attr]
        assert not await d.discard_dead(a.id, H41, "ops", NOW)  # not dead
        assert await d.discard_dead(a.id, H29, "ops", NOW)
        assert not await d.discard_dead(a.id, H29, "ops", NOW)  # once
        assert (await d.deliveries_in(("dead",))).rows == ()
        assert len((await d.deliveries_in(("dead",), include_discarded=True)).rows) == 1
        assert (await d.overview(NOW, 10)).dead_letters == 0
        await d.undiscard(a.id, H29)
        assert len((await d.deliveries_in(("dead",))).rows) == 1

    async def test_latencies_from_the_event_log(self, store: Store) -> None:
        d = store.dashboard()
        start, none = await d.reached_since(None)
        assert none == ()
        p = new_package(recipients=(H41,), accepted_at=datetime.now(UTC) - timedelta(seconds=5))
        await store.add_packages([p])
        await store.set_delivery_state(p.id, H41, S.AVAILABLE)
        end, latencies = await d.reached_since(start)
        assert end > start and len(latencies) == 1 and 4 < latencies[0] < 60
        assert await d.reached_since(end) == (end, ())
