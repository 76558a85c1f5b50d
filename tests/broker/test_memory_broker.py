"""InMemoryBroker: the same broker contract, on a manual clock (no sleeping for time)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from hub.broker.abc import Broker
from hub.broker.memory import InMemoryBroker, ManualClock
from tests.contracts.broker_contract import Advance, BrokerContract, Collector, Parked, entries


class TestInMemoryBroker(BrokerContract):
    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock()

    @pytest.fixture
    def root(self, clock: ManualClock) -> InMemoryBroker:
        return InMemoryBroker(
            retry_delays=self.RETRY_DELAYS,
            lease_seconds=self.LEASE_SECONDS,
            poll_interval=0.02,
            now=clock,
        )

    @pytest.fixture
    def broker_factory(self, root: InMemoryBroker) -> Callable[[], Broker]:
        return root.sibling

    @pytest.fixture
    def parked(self, root: InMemoryBroker) -> Parked:
        async def _parked(recipient: str) -> list[tuple[str, int, str]]:
            return [
                (d.package_id, d.attempt, d.reason)
                for d in root.dead_letters
                if d.recipient == recipient
            ]

        return _parked

    @pytest.fixture
    def advance(self, clock: ManualClock, root: InMemoryBroker) -> Advance:
        async def _advance(seconds: float) -> None:
            clock.advance(seconds)
            root.wake()
            await asyncio.sleep(0)

        return _advance


async def test_long_delays_pass_without_sleeping() -> None:
    clock = ManualClock()
    broker = InMemoryBroker(retry_delays=(600.0,), lease_seconds=3600.0, now=clock)
    async with broker:
        await broker.publish(entries(1))
        collector = Collector(broker)
        message = await collector.get()
        await message.retry("agency offline")
        await collector.nothing(0.05)
        clock.advance(600.0)
        broker.wake()
        again = await collector.get(timeout=0.5)
        assert again.attempt == 2
        await again.dead_letter("gave up")
        assert [(d.package_id, d.attempt, d.reason) for d in broker.dead_letters] == [
            ("pkg-0000", 2, "gave up")
        ]
        await collector.stop()
