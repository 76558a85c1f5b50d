"""The contract every :class:`hub.broker.Broker` implementation passes.

Subclass :class:`BrokerContract` in a ``Test…`` class and provide:

* ``broker_factory`` — a fixture returning a callable that makes a new, *unopened* broker over
  the same backing queue every time (a second call is a second process on the same SQLite file
  or RabbitMQ vhost). Brokers must be built with the class's ``RETRY_DELAYS`` and
  ``LEASE_SECONDS``, and no jitter, so the timing assertions hold. A subclass whose broker runs
  on the wall clock lengthens both, so that the windows in which "nothing is handed out yet" is
  asserted are a small fraction of them (a stalled event loop must not expire a tier or a lease
  inside such a window).
* ``advance`` — a fixture returning ``async (seconds) -> None`` that lets ``seconds`` of broker
  time pass: moving a manual clock (and waking the consumers) where the broker accepts one, a
  real sleep only where the time is the server's (RabbitMQ's TTLs).

Nothing here may depend on a particular backend.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection

import pytest

from hub.broker.abc import Broker, QueueEntry, QueueMessage
from hub.errors import Unavailable

G22 = "000.00.00.G22"
H29 = "000.00.00.H29"
H41 = "000.00.00.H41"

Advance = Callable[[float], Awaitable[None]]
OpenBroker = Callable[[], Awaitable[Broker]]
#: ``await parked(recipient)`` → the (package id, attempt, reason) parked for it, oldest first.
Parked = Callable[[str], Awaitable[list[tuple[str, int, str]]]]

#: Real time to wait before concluding that nothing more will be handed out.
QUIET = 0.2
#: Real time allowed for something to be handed out: only a bound against a hang, so generous
#: (a busy machine or a RabbitMQ round trip may take seconds).
PROMPT = 20.0


class Collector:
    """Runs ``consume`` in a task and collects the messages, so that a test can wait for them
    with timeouts without cancelling the iterator itself."""

    def __init__(
        self, broker: Broker, recipients: Collection[str] | None = None, *, prefetch: int = 16
    ) -> None:
        self.queue: asyncio.Queue[QueueMessage] = asyncio.Queue()
        self.ended = asyncio.Event()
        self.task = asyncio.create_task(self._run(broker, recipients, prefetch))

    async def _run(self, broker: Broker, recipients: Collection[str] | None, prefetch: int) -> None:
        try:
            async for message in broker.consume(recipients, prefetch=prefetch):
                self.queue.put_nowait(message)
        finally:
            self.ended.set()

    async def get(self, timeout: float = PROMPT) -> QueueMessage:
        """The next message; fails the test if none comes within ``timeout`` seconds."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            pytest.fail(f"no message within {timeout}s")

    async def get_many(self, n: int, timeout: float = PROMPT) -> list[QueueMessage]:
        return [await self.get(timeout) for _ in range(n)]

    async def nothing(self, wait: float = QUIET) -> None:
        """Assert that nothing is handed out within ``wait`` seconds."""
        await asyncio.sleep(wait)
        assert self.queue.empty(), f"unexpected message {self.queue.get_nowait()!r}"

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def entries(n: int, recipient: str = G22, prefix: str = "pkg") -> list[QueueEntry]:
    return [QueueEntry(recipient=recipient, package_id=f"{prefix}-{i:04d}") for i in range(n)]


class BrokerContract:
    """Abstract tests; a subclass supplies ``broker_factory`` and ``advance``."""

    RETRY_DELAYS: tuple[float, ...] = (0.2, 0.4)
    LEASE_SECONDS: float = 0.8

    @pytest.fixture
    def broker_factory(self) -> Callable[[], Broker]:
        raise NotImplementedError("a BrokerContract subclass provides broker_factory")

    @pytest.fixture
    def advance(self) -> Advance:
        raise NotImplementedError("a BrokerContract subclass provides advance")

    @pytest.fixture
    def parked(self) -> Parked:
        raise NotImplementedError("a BrokerContract subclass provides parked")

    @pytest.fixture
    async def collectors(self) -> AsyncIterator[list[Collector]]:
        made: list[Collector] = []
        yield made
        for collector in made:
            await collector.stop()

    @pytest.fixture
    async def open_broker(self, broker_factory: Callable[[], Broker]) -> AsyncIterator[OpenBroker]:
        """Open another broker over the same queue (another process); closed at teardown."""
        opened: list[Broker] = []

        async def _open() -> Broker:
            broker = broker_factory()
            await broker.open()
            opened.append(broker)
            return broker

        yield _open
        for broker in reversed(opened):
            await broker.close()

    @pytest.fixture
    async def broker(self, open_broker: OpenBroker) -> Broker:
        return await open_broker()

    @pytest.fixture
    def collect(self, collectors: list[Collector]) -> Callable[..., Collector]:
        def _collect(
            broker: Broker, recipients: Collection[str] | None = None, *, prefetch: int = 16
        ) -> Collector:
            collector = Collector(broker, recipients, prefetch=prefetch)
            collectors.append(collector)
            return collector

        return _collect

    # -- basics --------------------------------------------------------------------------------

    async def test_ping(self, broker: Broker) -> None:
        await broker.ping()

    async def test_publish_consume_ack(
        self, broker: Broker, collect: Callable[..., Collector]
    ) -> None:
        await broker.publish(entries(3))
        consumer = collect(broker)
        messages = await consumer.get_many(3)
        assert [m.package_id for m in messages] == ["pkg-0000", "pkg-0001", "pkg-0002"]
        for m in messages:
            assert m.recipient == G22
            assert m.attempt == 1
            assert m.redelivered is False
            await m.ack()
        await consumer.nothing()

    async def test_publish_empty_is_a_noop(
        self, broker: Broker, collect: Callable[..., Collector]
    ) -> None:
        await broker.publish([])
        await collect(broker).nothing()

    async def test_consume_waits_for_later_publish(
        self, broker: Broker, collect: Callable[..., Collector]
    ) -> None:
        consumer = collect(broker)
        await consumer.nothing(0.1)
        await broker.publish(entries(1))
        message = await consumer.get()
        assert (message.recipient, message.package_id) == (G22, "pkg-0000")
        await message.ack()

    async def test_published_by_another_process(
        self, broker: Broker, open_broker: OpenBroker, collect: Callable[..., Collector]
    ) -> None:
        consumer = collect(broker)
        other = await open_broker()
        await other.publish(entries(2))
        got = await consumer.get_many(2)
        assert sorted(m.package_id for m in got) == ["pkg-0000", "pkg-0001"]
        for m in got:
            await m.ack()

    async def test_settling_twice_is_an_error(
        self, broker: Broker, collect: Callable[..., Collector]
    ) -> None:
        await broker.publish(entries(1))
        message = await collect(broker).get()
        await message.ack()
        with pytest.raises(RuntimeError):
            await message.ack()
        with pytest.raises(RuntimeError):
            await message.retry("again")

    async def test_duplicates_are_delivered_not_lost(
        self, broker: Broker, collect: Callable[..., Collector]
    ) -> None:
        await broker.publish([QueueEntry(G22, "same"), QueueEntry(G22, "same")])
        consumer = collect(broker)
        first = await consumer.get()
        await first.ack()
        # Collapsing duplicates is allowed; losing the entry is not. Settle what comes.
        try:
            extra = await asyncio.wait_for(consumer.queue.get(), QUIET)
        except TimeoutError:
            pass
        else:
            assert extra.package_id == "same"
            await extra.ack()
        await consumer.nothing()

    # -- distribution ------------------------------------------------------------------------------

    async def test_each_entry_to_exactly_one_of_two_consumers(
        self, broker: Broker, open_broker: OpenBroker, collect: Callable[..., Collector]
    ) -> None:
        other = await open_broker()
        a = collect(broker, prefetch=8)
        b = collect(other, prefetch=8)
        c = collect(broker, prefetch=8)  # two consumers in one process too
        n = 120
        await broker.publish(entries(n))
        seen: list[str] = []
        all_seen = asyncio.Event()

        async def drain(collector: Collector) -> None:
            # Until all n are in, not until a pause: a pause in delivery is ordinary on a busy
            # machine, and a message handed to a collector that stopped would never be counted.
            while True:
                getting = asyncio.ensure_future(collector.queue.get())
                done_waiting = asyncio.ensure_future(all_seen.wait())
                await asyncio.wait({getting, done_waiting}, return_when=asyncio.FIRST_COMPLETED)
                done_waiting.cancel()
                if not getting.done():
                    getting.cancel()
                    return
                message = getting.result()
                seen.append(message.package_id)
                await message.ack()
                if len(seen) >= n:
                    all_seen.set()

        async with asyncio.timeout(60):  # only a hang guard: a lost entry fails here
            await asyncio.gather(drain(a), drain(b), drain(c))
        for collector in (a, b, c):
            await collector.nothing()  # and nothing twice
        assert sorted(seen) == [e.package_id for e in entries(n)]

    async def test_prefetch_respected(
        self, broker: Broker, collect: Callable[..., Collector]
    ) -> None:
        await broker.publish(entries(10))
        consumer = collect(broker, prefetch=3)
        held = await consumer.get_many(3)
        await consumer.nothing()
        await held[0].ack()
        fourth = await consumer.get()
        assert fourth.package_id == "pkg-0003"
        await consumer.nothing()
        await held[1].retry("busy")  # a retry frees the slot too
        await consumer.get()
        await consumer.nothing()

    async def test_consuming_a_subset_of_recipients(
        self, broker: Broker, collect: Callable[..., Collector]
    ) -> None:
        await broker.publish([*entries(3, G22, "g"), *entries(2, H29, "h"), *entries(2, H41, "x")])
        only_h29 = collect(broker, [H29])
        got = await only_h29.get_many(2)
        assert {(m.recipient, m.package_id) for m in got} == {(H29, "h-0000"), (H29, "h-0001")}
        await only_h29.nothing()
        some = collect(broker, {G22, H41})
        got = await some.get_many(5)
        assert {m.recipient for m in got} == {G22, H41}
        await some.nothing()
        nobody = collect(broker, [])
        await nobody.nothing(0.1)

    # -- retries and dead letters -------------------------------------------------------------

    async def test_retry_delay_honoured_and_attempt_incremented(
        self, broker: Broker, advance: Advance, collect: Callable[..., Collector]
    ) -> None:
        await broker.publish(entries(1))
        consumer = collect(broker)
        first = await consumer.get()
        assert first.attempt == 1
        await first.retry("HTTP 503")
        await consumer.nothing(min(QUIET, self.RETRY_DELAYS[0] / 2))
        await advance(self.RETRY_DELAYS[0])
        second = await consumer.get()
        assert (second.package_id, second.attempt, second.redelivered) == ("pkg-0000", 2, False)
        await second.retry("HTTP 503")
        await advance(self.RETRY_DELAYS[1])
        third = await consumer.get()
        assert third.attempt == 3
        await third.retry("HTTP 503")  # the last tier repeats
        await consumer.nothing(min(QUIET, self.RETRY_DELAYS[-1] / 2))
        await advance(self.RETRY_DELAYS[-1])
        fourth = await consumer.get()
        assert fourth.attempt == 4
        await fourth.ack()
        await consumer.nothing()

    async def test_retry_keeping_the_attempt(
        self, broker: Broker, advance: Advance, collect: Callable[..., Collector]
    ) -> None:
        await broker.publish(entries(1))
        consumer = collect(broker)
        first = await consumer.get()
        await first.retry("the hub's own database was down", same_attempt=True)
        await consumer.nothing(min(QUIET, self.RETRY_DELAYS[0] / 2))
        await advance(self.RETRY_DELAYS[0])
        again = await consumer.get()
        assert (again.package_id, again.attempt, again.redelivered) == ("pkg-0000", 1, False)
        await again.retry("HTTP 503")  # an ordinary retry counts from there
        await advance(self.RETRY_DELAYS[0])
        last = await consumer.get()
        assert (last.package_id, last.attempt) == ("pkg-0000", 2)
        await last.ack()
        await consumer.nothing()

    async def test_retry_does_not_block_other_entries(
        self, broker: Broker, collect: Callable[..., Collector]
    ) -> None:
        await broker.publish(entries(1, G22, "slow"))
        consumer = collect(broker)
        slow = await consumer.get()
        await slow.retry("timeout")
        await broker.publish(entries(1, G22, "fast"))
        fast = await consumer.get()
        assert fast.package_id == "fast-0000"
        await fast.ack()

    async def test_dead_letter_removes_entry(
        self,
        broker: Broker,
        advance: Advance,
        parked: Parked,
        collect: Callable[..., Collector],
    ) -> None:
        await broker.publish(entries(2))
        consumer = collect(broker)
        doomed, other = await consumer.get_many(2)
        await doomed.dead_letter("certificate revoked")
        await other.ack()
        # Parked with its attempt and reason (removed, not dropped), the acked one is not.
        assert await parked(G22) == [(doomed.package_id, 1, "certificate revoked")]
        await advance(max(self.RETRY_DELAYS) + self.LEASE_SECONDS)
        await consumer.nothing()

    async def test_republish_after_dead_letter_delivers_again(
        self, broker: Broker, collect: Callable[..., Collector]
    ) -> None:
        await broker.publish([QueueEntry(H41, "resend-me")])
        consumer = collect(broker)
        victim = await consumer.get()
        await victim.retry("first failure")  # a few attempts…
        await broker.publish([QueueEntry(H41, "other")])
        other = await consumer.get()
        await other.dead_letter("attempts exhausted")  # …then parked
        await consumer.nothing(0.1)
        await broker.publish([QueueEntry(H41, "other")])  # the operator's re-send
        again = await consumer.get()
        assert (again.recipient, again.package_id, again.attempt) == (H41, "other", 1)
        await again.ack()

    # -- leases ------------------------------------------------------------------------------

    async def test_lease_expiry_redelivers(
        self,
        broker: Broker,
        open_broker: OpenBroker,
        advance: Advance,
        collect: Callable[..., Collector],
    ) -> None:
        doomed = await open_broker()  # the process that will "die" holding the entry
        await broker.publish(entries(1))
        dying = collect(doomed, prefetch=1)
        held = await dying.get()
        assert held.redelivered is False
        await dying.stop()  # it hangs or dies without settling
        survivor = collect(broker)
        await survivor.nothing(min(QUIET, self.LEASE_SECONDS / 3))
        await advance(self.LEASE_SECONDS + 0.1)
        again = await survivor.get()
        assert (again.package_id, again.attempt, again.redelivered) == ("pkg-0000", 1, True)
        # The dead consumer's late settle must not destroy the survivor's claim…
        await held.ack()
        await survivor.nothing(0.1)
        # …so the survivor still owns it and its retry takes effect.
        await again.retry("push failed")
        await advance(self.RETRY_DELAYS[0])
        last = await survivor.get()
        assert (last.package_id, last.attempt) == ("pkg-0000", 2)
        await last.ack()
        await survivor.nothing()

    async def test_an_unsettled_hand_out_frees_its_prefetch_slot_after_its_lease(
        self, broker: Broker, advance: Advance, collect: Callable[..., Collector]
    ) -> None:
        await broker.publish(entries(1))
        consumer = collect(broker, prefetch=1)
        held = await consumer.get()  # its handler failed and never settles it
        await advance(self.LEASE_SECONDS + 0.1)
        # The lease is over: the entry is back, and so is the slot it held.
        again = await consumer.get()
        assert (again.package_id, again.attempt, again.redelivered) == ("pkg-0000", 1, True)
        # A late settle of the old hand-out is ignored and frees nothing: the slot is the
        # new hand-out's.
        await held.ack()
        await broker.publish(entries(1, prefix="next"))
        await consumer.nothing()
        await again.ack()
        following = await consumer.get()
        assert following.package_id == "next-0000"
        await following.ack()
        await consumer.nothing()

    async def test_close_releases_in_flight_entries(
        self, broker: Broker, open_broker: OpenBroker, collect: Callable[..., Collector]
    ) -> None:
        leaving = await open_broker()
        await broker.publish(entries(3))
        leaver = collect(leaving, prefetch=2)
        held = await leaver.get_many(2)
        stayer = collect(broker)
        third = await stayer.get()
        await third.ack()
        await stayer.nothing(0.1)
        await leaving.close()  # graceful stop, long before the lease expires
        await asyncio.wait_for(leaver.ended.wait(), PROMPT)
        # Released by the close, not by a lease expiry, without a deadline on the release: no
        # broker time passes here (manual clocks are not advanced; RabbitMQ's lease is a timer
        # of the broker just closed, and its wall-clock lease is many times this test's hold).
        back = await stayer.get_many(2)
        assert sorted(m.package_id for m in back) == sorted(m.package_id for m in held)
        assert all(m.redelivered and m.attempt == 1 for m in back)
        for m in back:
            await m.ack()

    async def test_publish_after_close_raises(self, broker_factory: Callable[[], Broker]) -> None:
        broker = broker_factory()
        await broker.open()
        await broker.publish(entries(1))
        await broker.close()
        with pytest.raises(Unavailable):
            await broker.publish(entries(1))
        with pytest.raises(Unavailable):
            await broker.ping()
        await broker.close()  # idempotent

    async def test_consume_ends_when_closed(self, broker_factory: Callable[[], Broker]) -> None:
        broker = broker_factory()
        await broker.open()
        collector = Collector(broker)
        await asyncio.sleep(0.05)
        await broker.close()
        await asyncio.wait_for(collector.ended.wait(), PROMPT)
        await collector.stop()
