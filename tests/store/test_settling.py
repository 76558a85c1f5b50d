"""GroupSettler: concurrent delivery changes settled in groups, on both store backends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.audit.chain import AuditChain
from hub.errors import Unavailable
from hub.models import DeliveryChange, DeliveryState, Settled
from hub.store.abc import Store
from hub.store.postgres import PostgresStore
from hub.store.settling import GroupSettler
from hub.store.sqlite import SqliteStore
from tests.contracts.store_contract import G22, H29, SettleContract, new_package
from tests.store.pg_fixtures import pg_dsn, pg_schema

__all__ = ["pg_dsn", "pg_schema"]  # fixtures this module uses

S = DeliveryState


class Recording(SqliteStore):
    """A SQLite store that records every group it settles and fails the groups holding a
    change for ``poison`` (as a constraint or a bug in one change would)."""

    def __init__(self, path: Path, *, poison: str = "", unavailable: bool = False) -> None:
        super().__init__(path, chainer=AuditChain())
        self.groups: list[list[DeliveryChange]] = []
        self.poison = poison
        self.unavailable = unavailable

    async def settle(self, changes: Sequence[DeliveryChange]) -> list[Settled]:
        self.groups.append(list(changes))
        if any(c.package_id == self.poison for c in changes):
            if self.unavailable:
                raise Unavailable("store unreachable")
            raise RuntimeError(f"cannot settle {self.poison}")
        return await super().settle(changes)


@pytest.fixture
async def recording(tmp_path: Path) -> AsyncIterator[Recording]:
    async with Recording(tmp_path / "hub.db", poison="poison") as store:
        yield store  # type: ignore[misc]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_pair(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    """A new unopened store over the same storage at each call (two processes)."""
    if request.param == "sqlite":
        return lambda: SqliteStore(tmp_path / "hub.db", chainer=AuditChain())
    dsn = request.getfixturevalue("pg_dsn")
    schema = request.getfixturevalue("pg_schema")
    return lambda: PostgresStore(dsn, schema=schema, max_size=4, chainer=AuditChain())


async def test_concurrent_settles_share_transactions(recording: Recording) -> None:
    pkgs = [new_package(recipients=(G22, H29)) for _ in range(20)]
    await recording.add_packages(pkgs)
    async with GroupSettler(recording) as settler:
        results = await asyncio.gather(
            *(settler.settle(DeliveryChange(p.id, G22, S.AVAILABLE)) for p in pkgs)
        )
    assert all(outcome.changed for (outcome,) in results)
    assert len(recording.groups) < len(pkgs)
    assert sum(len(g) for g in recording.groups) == len(pkgs)
    assert settler.stats.items == len(pkgs) and settler.stats.largest_batch > 1
    for p in pkgs:
        delivery = await recording.get_delivery(p.id, G22)
        assert delivery is not None and delivery.state is S.AVAILABLE


async def test_one_call_settles_in_one_group_in_order(recording: Recording) -> None:
    pkg = new_package()
    await recording.add_packages([pkg])
    at = datetime.now(UTC)
    async with GroupSettler(recording) as settler:
        delivered, acked = await settler.settle(
            DeliveryChange(pkg.id, G22, S.DELIVERED, attempts=1),
            DeliveryChange(pkg.id, G22, S.ACKED, at=at),
        )
        assert await settler.settle() == []
    assert delivered.changed and acked.changed
    assert acked.record is not None and acked.record.acked_at == at
    assert [[c.state for c in g] for g in recording.groups] == [[S.DELIVERED, S.ACKED]]


async def test_a_failing_call_does_not_fail_the_others(recording: Recording) -> None:
    pkgs = [new_package() for _ in range(4)]
    await recording.add_packages(pkgs)
    async with GroupSettler(recording) as settler:
        results = await asyncio.gather(
            settler.settle(DeliveryChange(pkgs[0].id, G22, S.ACKED)),
            settler.settle(DeliveryChange("poison", G22, S.ACKED)),
            *(settler.settle(DeliveryChange(p.id, G22, S.ACKED)) for p in pkgs[1:]),
            return_exceptions=True,
        )
    assert isinstance(results[1], RuntimeError)
    good = [results[0], *results[2:]]
    assert all(isinstance(r, list) and r[0].changed for r in good)
    assert settler.stats.split_batches == 1
    assert len(recording.groups[0]) == 5  # the whole group first, then call by call
    for p in pkgs:
        delivery = await recording.get_delivery(p.id, G22)
        assert delivery is not None and delivery.state is S.ACKED
        assert [e.kind for e in await recording.events_for(p.id)].count("acked") == 1


async def test_unavailable_fails_the_whole_group(tmp_path: Path) -> None:
    async with Recording(tmp_path / "hub.db", poison="poison", unavailable=True) as store:
        pkg = new_package()
        await store.add_packages([pkg])
        async with GroupSettler(store) as settler:
            results = await asyncio.gather(
                settler.settle(DeliveryChange(pkg.id, G22, S.ACKED)),
                settler.settle(DeliveryChange("poison", G22, S.ACKED)),
                return_exceptions=True,
            )
        # The commit's outcome is unknown: settling again could count a first ack twice.
        assert all(isinstance(r, Unavailable) for r in results)
        assert len(store.groups) == 1 and settler.stats.failed_batches == 1
        delivery = await store.get_delivery(pkg.id, G22)
        assert delivery is not None and delivery.state is S.PENDING


async def test_closed_settler_refuses(recording: Recording) -> None:
    settler = GroupSettler(recording)
    with pytest.raises(Unavailable):
        await settler.settle(DeliveryChange("x", G22, S.ACKED))
    async with settler:
        pass
    with pytest.raises(Unavailable):
        await settler.settle(DeliveryChange("x", G22, S.ACKED))


async def test_settle_soon_keeps_its_place_before_a_later_settle(recording: Recording) -> None:
    pkg = new_package()
    await recording.add_packages([pkg])
    await recording.settle([DeliveryChange(pkg.id, G22, S.AVAILABLE)])
    recording.groups.clear()
    async with GroupSettler(recording) as settler:
        # A fetch's mark, not waited for, then the ack that follows it.
        settler.settle_soon(
            DeliveryChange(pkg.id, G22, S.DELIVERED, only_from=frozenset({S.AVAILABLE}))
        )
        (acked,) = await settler.settle(DeliveryChange(pkg.id, G22, S.ACKED))
    assert acked.changed
    states = [c.state for g in recording.groups for c in g]
    assert states == [S.DELIVERED, S.ACKED]
    kinds = [e.kind for e in await recording.events_for(pkg.id)]
    assert kinds[-2:] == ["delivered", "acked"]


async def test_settle_soon_is_committed_by_close(recording: Recording) -> None:
    pkg = new_package()
    await recording.add_packages([pkg])
    async with GroupSettler(recording) as settler:
        settler.settle_soon(DeliveryChange(pkg.id, G22, S.DELIVERED))
    delivery = await recording.get_delivery(pkg.id, G22)
    assert delivery is not None and delivery.state is S.DELIVERED


async def test_settle_soon_logs_what_it_could_not_settle(
    recording: Recording, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hub.settle")
    settler = GroupSettler(recording)
    settler.settle_soon(DeliveryChange("closed", G22, S.DELIVERED))  # not started: dropped
    async with settler:
        settler.settle_soon(DeliveryChange("poison", G22, S.DELIVERED))
    assert recording.groups == [[DeliveryChange("poison", G22, S.DELIVERED)]]
    messages = [r.getMessage() for r in caplog.records if r.name == "hub.settle"]
    assert any("settler is closed" in m and "closed" in m for m in messages)
    assert any("cannot settle poison" in m for m in messages)


async def test_concurrent_acks_of_one_delivery_count_once(
    store_pair: Callable[[], Store],
) -> None:
    """Two processes (two stores, each with its settler) ack the same deliveries at once,
    several times each: every delivery is acked once, with one event."""
    async with store_pair() as one, store_pair() as two:
        pkgs = [new_package(recipients=(G22, H29)) for _ in range(5)]
        await one.add_packages(pkgs)
        at = datetime.now(UTC)
        async with GroupSettler(one) as s1, GroupSettler(two) as s2:
            results = await asyncio.gather(
                *(
                    settler.settle(DeliveryChange(p.id, r, S.ACKED, at=at))
                    for _ in range(3)
                    for settler in (s1, s2)
                    for p in pkgs
                    for r in (G22, H29)
                )
            )
        firsts: dict[tuple[str, str], int] = {}
        for (outcome,) in results:
            assert outcome.record is not None and outcome.record.state is S.ACKED
            key = (outcome.record.package_id, outcome.record.recipient)
            firsts[key] = firsts.get(key, 0) + outcome.changed
        assert firsts == {(p.id, r): 1 for p in pkgs for r in (G22, H29)}
        for p in pkgs:
            kinds = [e.kind for e in await two.events_for(p.id)]
            assert kinds.count("acked") == 2  # one per recipient


def test_a_change_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="naive"):
        DeliveryChange("p", G22, S.ACKED, at=datetime(2026, 3, 2, 9, 0))


class DefaultSettle(SqliteStore):
    """SQLite with :class:`Store`'s own ``settle`` and ``fetch_package`` (change by change,
    three reads), as a store without transactions of its own keeps them."""

    settle = Store.settle
    fetch_package = Store.fetch_package


class TestDefaultSettle(SettleContract):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Callable[[], Store]:
        return lambda: DefaultSettle(tmp_path / "hub.db", chainer=AuditChain())
