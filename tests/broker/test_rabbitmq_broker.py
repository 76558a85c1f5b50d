"""RabbitBroker: the same broker contract against a real RabbitMQ, plus RabbitMQ specifics."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import pytest

from hub.broker.abc import Broker, QueueEntry
from hub.broker.rabbitmq import RabbitBroker, mask_url
from hub.errors import Unavailable
from tests.broker.rabbit_fixtures import (  # noqa: F401  (fixtures)
    rabbit_url,
    rabbit_vhost,
    rabbitmqctl,
)
from tests.contracts.broker_contract import (
    G22,
    H29,
    H41,
    Advance,
    BrokerContract,
    Collector,
    OpenBroker,
    Parked,
    entries,
)

pytestmark = pytest.mark.services


def make_rabbit(url: str, prefix: str, **kwargs: object) -> RabbitBroker:
    options: dict[str, object] = {
        "prefix": prefix,
        "retry_delays": BrokerContract.RETRY_DELAYS,
        "lease_seconds": BrokerContract.LEASE_SECONDS,
        "agencies": (G22, H29, H41),
    }
    options.update(kwargs)
    return RabbitBroker(url, **options)  # type: ignore[arg-type]


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


class TestRabbitBroker(BrokerContract):
    # RabbitMQ's retry tiers (per-queue TTLs) and the lease run on the wall clock, so they are
    # long next to the contract's "nothing yet" windows (QUIET, 0.2 s): an event-loop stall or
    # a slow round trip must not let a tier or a lease pass inside such a window.
    RETRY_DELAYS = (2.0, 3.0)
    LEASE_SECONDS = 5.0

    @pytest.fixture
    def broker_factory(self, rabbit_url: str) -> Callable[[], Broker]:  # noqa: F811
        prefix = unique_prefix()  # one topology per test, in the module's vhost
        return lambda: make_rabbit(
            rabbit_url,
            prefix,
            retry_delays=self.RETRY_DELAYS,
            lease_seconds=self.LEASE_SECONDS,
        )

    @pytest.fixture
    def parked(self, open_broker: OpenBroker) -> Parked:
        async def _parked(recipient: str) -> list[tuple[str, int, str]]:
            # Read through another connection: the copy is confirmed before the original is
            # acked, so it is there once dead_letter() returned.
            inspector = await open_broker()
            assert isinstance(inspector, RabbitBroker)
            return [
                (d.package_id, d.attempt, d.reason or "")
                for d in await inspector.dead_letters(recipient)
            ]

        return _parked

    @pytest.fixture
    def advance(self) -> Advance:
        return asyncio.sleep  # RabbitMQ's TTLs run on the wall clock


# -- RabbitMQ specifics -----------------------------------------------------------------------


def queue_table(vhost: str) -> dict[str, tuple[str, str]]:
    out = rabbitmqctl(
        "list_queues", "-p", vhost, "name", "type", "arguments", "messages", "--no-table-headers"
    )
    rows = [line.split("\t") for line in out.splitlines() if line.count("\t") >= 3]
    return {r[0]: (r[1], r[2] + " messages=" + r[3]) for r in rows}


async def test_topology_declared_as_documented(rabbit_url: str, rabbit_vhost: str) -> None:  # noqa: F811
    prefix = unique_prefix()
    async with make_rabbit(rabbit_url, prefix, agencies=(G22,), retry_delays=(1.0, 5.0)):
        table = await asyncio.to_thread(queue_table, rabbit_vhost)
    mine = {k: v for k, v in table.items() if k.startswith(prefix + ".")}
    assert set(mine) == {
        f"{prefix}.q.{G22}",
        f"{prefix}.dlq.{G22}",
        f"{prefix}.retry.1000",
        f"{prefix}.retry.5000",
    }
    assert all(kind == "quorum" for kind, _ in mine.values())
    work = mine[f"{prefix}.q.{G22}"][1]
    for needle in ("at-least-once", "reject-publish", f"{prefix}.dead"):
        assert needle in work
    tier = mine[f"{prefix}.retry.5000"][1]
    for needle in ("x-message-ttl", "5000", "at-least-once", "reject-publish", f"{prefix}.deliver"):
        assert needle in tier


async def test_dead_letter_keeps_reason_attempt_and_history(rabbit_url: str) -> None:  # noqa: F811
    async with make_rabbit(rabbit_url, unique_prefix(), retry_delays=(0.1,)) as broker:
        await broker.publish([QueueEntry(H29, "poison")])
        collector = Collector(broker, [H29])
        await (await collector.get()).retry("HTTP 500")
        await (await collector.get()).retry("HTTP 500")
        last = await collector.get()
        assert last.attempt == 3
        await last.dead_letter("HTTP 502")
        await collector.stop()
        (dead,) = await broker.dead_letters(H29)
        assert (dead.package_id, dead.attempt, dead.reason) == ("poison", 3, "HTTP 502")
        ((queue, reason, count),) = dead.x_death
        assert (queue.endswith(".retry.100"), reason, count) == (True, "expired", 2)
        # Inspecting did not consume it. The inspection channel's unacked messages return to
        # the quorum queue when it closes, which RabbitMQ applies asynchronously (through its
        # log): on a busy machine the count may read 0 for a moment, so wait for it, bounded.
        for _ in range(200):
            if await broker.dead_letter_count(H29) == 1:
                break
            await asyncio.sleep(0.05)
        assert await broker.dead_letter_count(H29) == 1


async def test_delivery_limit_parks_a_crash_looping_entry(rabbit_url: str) -> None:  # noqa: F811
    """A consumer that never settles (its lease keeps expiring) ends in the DLQ, by RabbitMQ."""
    async with make_rabbit(
        rabbit_url, unique_prefix(), lease_seconds=0.2, delivery_limit=1
    ) as broker:
        await broker.publish([QueueEntry(H41, "crashes")])
        collector = Collector(broker, [H41])
        first = await collector.get()
        second = await collector.get()
        assert (second.package_id, second.redelivered) == ("crashes", True)
        await asyncio.sleep(0.5)
        await collector.nothing()
        (dead,) = await broker.dead_letters(H41)
        assert dead.package_id == "crashes" and dead.reason is None
        assert [(r, c) for _, r, c in dead.x_death] == [("delivery_limit", 1)]
        await first.ack()  # late settles after the lease ended are ignored
        await second.ack()
        await collector.stop()


async def test_unroutable_publish_is_unavailable_not_a_silent_drop(rabbit_url: str) -> None:  # noqa: F811
    prefix = unique_prefix()
    async with make_rabbit(rabbit_url, prefix) as broker:
        # An operator deletes the agency's queue behind the hub's back.
        channel = await broker._channel()
        await channel.queue_delete(f"{prefix}.q.{G22}")  # type: ignore[attr-defined]
        await channel.close()
        with pytest.raises(Unavailable, match="NO_ROUTE"):
            await broker.publish(entries(1))


async def test_publish_confirm_throughput(rabbit_url: str) -> None:  # noqa: F811
    """2000 confirmed publishes in batches, all consumed once each. Not a benchmark gate: the
    rates (publishes/s with confirms, window 256; consume+ack/s) are printed, never asserted."""
    n = 2000
    expected = sorted(e.package_id for i in range(n // 100) for e in entries(100, G22, f"b{i}"))
    async with make_rabbit(rabbit_url, unique_prefix(), confirm_window=256) as broker:
        started = time.perf_counter()
        await asyncio.gather(*(broker.publish(entries(100, G22, f"b{i}")) for i in range(n // 100)))
        publish_rate = n / (time.perf_counter() - started)
        started = time.perf_counter()
        seen: list[str] = []
        async with asyncio.timeout(120):  # a lost message fails here instead of hanging
            async for message in broker.consume([G22], prefetch=64):
                await message.ack()
                seen.append(message.package_id)
                if len(seen) == n:
                    break
        consume_rate = n / (time.perf_counter() - started)
    print(f"\npublish with confirms: {publish_rate:,.0f}/s; consume + ack: {consume_rate:,.0f}/s")
    assert sorted(seen) == expected  # every one, each once


def test_mask_url() -> None:
    assert mask_url("amqp://hub:s3cret@mq:5672/prod") == "amqp://hub:***@mq:5672/prod"
    assert mask_url("amqp://mq/") == "amqp://mq/"
