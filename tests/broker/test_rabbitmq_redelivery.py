"""RabbitBroker across a reconnect, without a server: which redeliveries reach the application.

AMQP acks are not confirmed: an ack written to the socket after RabbitMQ has decided to close
the connection is dropped by the server, which then returns the entry to the queue. The client
sees no error (aiormq only drains the socket). These tests play RabbitMQ's part with fake
deliveries on fake channels, so the orderings that a real drop produces only sometimes happen
every time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import cast

import aiormq
import pytest
from aio_pika.abc import AbstractIncomingMessage

from hub.broker.rabbit_topology import ATTEMPT_HEADER
from hub.broker.rabbitmq import RabbitBroker, _RabbitMessage, _Session
from hub.errors import Unavailable

G22 = "000.00.00.G22"


class FakeChannel:
    """A consumer channel: closed when the connection drops."""

    def __init__(self) -> None:
        self.is_closed = False


class FakeDelivery:
    """One AMQP delivery of a message (``message_id``) on a channel, as aio-pika hands it."""

    def __init__(self, channel: FakeChannel, message_id: str, *, redelivered: bool = False) -> None:
        self._channel = channel
        self.message_id = message_id
        self.redelivered = redelivered
        self.body = json.dumps({"recipient": G22, "package_id": f"pkg-{message_id}"}).encode()
        self.headers: dict[str, object] = {ATTEMPT_HEADER: 1}
        self.settles: list[str] = []  # what the client sent for this delivery

    @property
    def channel(self) -> FakeChannel:
        if self._channel.is_closed:
            raise aiormq.exceptions.ChannelInvalidStateError
        return self._channel

    async def ack(self) -> None:
        self.channel  # noqa: B018  # raises like aio-pika once the channel is closed
        self.settles.append("ack")

    async def nack(self, requeue: bool = True) -> None:
        self.channel  # noqa: B018
        self.settles.append(f"nack requeue={requeue}")

    async def reject(self, requeue: bool = False) -> None:
        self.channel  # noqa: B018
        self.settles.append(f"reject requeue={requeue}")


def session_of(broker: RabbitBroker) -> _Session:
    """A consume session with nothing subscribed: deliveries come from the test."""
    return _Session(broker, prefetch=4, recipients=[])


def make_broker() -> RabbitBroker:
    return RabbitBroker("amqp://guest:guest@127.0.0.1:1/", prefix="t")  # never connected


async def deliver(session: _Session, delivery: FakeDelivery) -> None:
    await session.on_message(cast(AbstractIncomingMessage, delivery))


async def hand_out(session: _Session) -> _RabbitMessage:
    """The next entry the application gets (the test has queued one, so this never waits)."""
    assert session.inbox, "nothing queued for the application"
    message = await session.next()
    assert message is not None
    return message


async def next_is(session: _Session, expected: FakeDelivery) -> None:
    """The application's next entry is ``expected``: nothing was queued before it."""
    await deliver(session, expected)
    message = await hand_out(session)
    assert message.message_id == expected.message_id, f"handed out {message!r} again"


async def test_redelivery_after_an_ack_the_server_dropped_is_not_handed_out() -> None:
    """The race the fault test hit: the ack goes out without an error, yet the server had
    already closed the connection, so the entry comes back on the new channel."""
    session = session_of(make_broker())
    old, new = FakeChannel(), FakeChannel()
    first = FakeDelivery(old, "m1")
    await deliver(session, first)
    message = await hand_out(session)
    await message.ack()
    assert first.settles == ["ack"]  # no error: the client cannot tell it was dropped

    old.is_closed = True  # the client reads the server's Connection.Close only now
    again = FakeDelivery(new, "m1", redelivered=True)
    await deliver(session, again)

    assert again.settles == ["ack"]  # acked on the new channel, the queue is empty
    await next_is(session, FakeDelivery(new, "m2"))


async def test_redelivery_whose_skip_ack_is_lost_too_is_still_not_handed_out() -> None:
    """A second drop takes the ack of the skipped redelivery with it: the third delivery of
    the same message is skipped as well (the id is not forgotten after one skip)."""
    session = session_of(make_broker())
    first_channel, second_channel, third_channel = FakeChannel(), FakeChannel(), FakeChannel()
    await deliver(session, FakeDelivery(first_channel, "m1"))
    message = await hand_out(session)
    first_channel.is_closed = True
    await message.ack()  # raises inside: the channel is gone

    second = FakeDelivery(second_channel, "m1", redelivered=True)
    await deliver(session, second)
    assert second.settles == ["ack"]
    second_channel.is_closed = True  # that ack was dropped by the server as well

    third = FakeDelivery(third_channel, "m1", redelivered=True)
    await deliver(session, third)
    assert third.settles == ["ack"]
    await next_is(session, FakeDelivery(third_channel, "m2"))


async def test_entry_held_across_two_drops_reaches_the_application_once() -> None:
    """The application still works on an entry while the connection drops twice: each
    redelivery waits for it (the older one's channel is gone) and is settled with it."""
    session = session_of(make_broker())
    channels = [FakeChannel() for _ in range(3)]
    await deliver(session, FakeDelivery(channels[0], "m1"))
    message = await hand_out(session)

    channels[0].is_closed = True
    second = FakeDelivery(channels[1], "m1", redelivered=True)
    await deliver(session, second)
    channels[1].is_closed = True  # RabbitMQ takes the parked redelivery back as well
    third = FakeDelivery(channels[2], "m1", redelivered=True)
    await deliver(session, third)

    await next_is(session, FakeDelivery(channels[2], "m2"))
    await message.ack()
    assert (second.settles, third.settles) == ([], ["ack"])


def blocked_publisher(
    broker: RabbitBroker, monkeypatch: pytest.MonkeyPatch, *, fails: bool
) -> tuple[asyncio.Event, asyncio.Event]:
    """Make the broker's confirmed publish wait for ``release`` (then succeed or fail)."""
    entered, release = asyncio.Event(), asyncio.Event()

    async def publish_all(items: Sequence[object]) -> None:
        entered.set()
        await release.wait()
        if fails:
            raise Unavailable("not confirmed")

    monkeypatch.setattr(broker, "_publish_all", publish_all)
    return entered, release


async def test_redelivery_during_a_retry_publish_waits_for_the_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A redelivery that arrives while the retry copy is being published is settled with the
    original once the copy is confirmed, instead of reaching the application beside it."""
    broker = make_broker()
    session = session_of(broker)
    old, new = FakeChannel(), FakeChannel()
    first = FakeDelivery(old, "m1")
    await deliver(session, first)
    message = await hand_out(session)
    entered, release = blocked_publisher(broker, monkeypatch, fails=False)
    retrying = asyncio.create_task(message.retry("HTTP 503"))
    await entered.wait()

    again = FakeDelivery(new, "m1", redelivered=True)
    await deliver(session, again)
    release.set()
    await retrying

    assert (first.settles, again.settles) == (["ack"], ["ack"])
    await next_is(session, FakeDelivery(new, "m2"))


async def test_redelivery_during_a_failed_retry_publish_is_handed_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the retry copy is not confirmed the entry is the application's again: the waiting
    redelivery is handed out (at least once), not dropped."""
    broker = make_broker()
    session = session_of(broker)
    old, new = FakeChannel(), FakeChannel()
    await deliver(session, FakeDelivery(old, "m1"))
    message = await hand_out(session)
    entered, release = blocked_publisher(broker, monkeypatch, fails=True)
    retrying = asyncio.create_task(message.retry("HTTP 503"))
    await entered.wait()

    again = FakeDelivery(new, "m1", redelivered=True)
    await deliver(session, again)
    release.set()
    with pytest.raises(Unavailable):
        await retrying

    redelivered = await hand_out(session)
    assert (redelivered.message_id, redelivered.redelivered) == ("m1", True)
    assert again.settles == []


# -- close: the background tasks -----------------------------------------------------------------


async def test_close_waits_for_background_tasks_then_cancels_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = make_broker()
    finished: list[str] = []
    release = asyncio.Event()

    async def quick() -> None:
        await release.wait()
        finished.append("quick")

    async def stuck() -> None:
        await asyncio.Event().wait()

    async def failing() -> None:
        raise RuntimeError("settle failed")

    broker._spawn(quick())
    broker._spawn(stuck())
    broker._spawn(failing())
    tasks = set(broker._tasks)
    release.set()
    await broker.close()
    assert finished == ["quick"]
    assert not broker._tasks
    assert all(t.done() for t in tasks)
    assert sum(t.cancelled() for t in tasks) == 1  # the stuck one, after the grace
    assert "settle failed" in caplog.text  # reported, not raised out of close


async def test_close_does_not_absorb_its_own_cancellation() -> None:
    broker = make_broker()

    async def stuck() -> None:
        await asyncio.Event().wait()

    broker._spawn(stuck())
    closing = asyncio.ensure_future(broker.close())
    await asyncio.sleep(0)  # close is now waiting for the stuck task's grace
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
