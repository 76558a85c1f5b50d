"""The RabbitMQ :class:`~hub.broker.abc.Broker` on aio-pika (topology: :mod:`.rabbit_topology`).

How the contract maps onto AMQP:

* **publish**: persistent messages on a channel with publisher confirms and
  ``on_return_raises=True``, published ``mandatory`` to ``<p>.deliver`` with the recipient as
  routing key — an unroutable entry is an error, never a silent drop (aio-pika's default).
  ``publish`` returns when every entry is confirmed; at most ``confirm_window`` confirms are
  outstanding per broker. A nack, a return, a timeout or a lost connection is
  :class:`hub.errors.Unavailable` (503 at submission). An agency's queues are declared the
  first time an entry for it is published or consumed (declarations are idempotent, cached per
  process), and at ``open()`` for the ``agencies`` given.
* **consume**: one channel per ``consume`` call, one AMQP consumer per agency queue, manual
  acks, ``basic.qos(prefetch)`` per consumer (quorum queues refuse per-channel QoS) and a
  client-side gate so that at most ``prefetch`` entries are handed out unsettled in total.
  ``recipients=None`` consumes every agency queue this broker knows — declared at ``open()``
  (``agencies``/:meth:`RabbitBroker.declare_agencies`) or by publishing/consuming in this
  process — including ones declared later.
* **attempt** travels in the ``x-hub-attempt`` header (1 on first publish); **redelivered** is
  AMQP's flag.
* **lease**: an unacked delivery *is* the lease. It ends when the channel or connection dies
  (RabbitMQ requeues at once, ``redelivered=True``, same ``attempt``), after ``lease_seconds``
  without a settle (the hub nacks it with requeue — a hung or failed handler — and the
  consumer's prefetch slot is free again), or after the server's ``consumer_timeout``. A settle
  after the lease ended is logged and ignored: a delivery tag belongs to its channel, so it can
  never touch whoever holds the entry now.
* **retry**: a copy with ``attempt + 1`` and the reason is published (confirmed) to the tier
  queue ``<p>.retry.<ms>``, which dead-letters it back to ``<p>.deliver`` after its TTL; then
  the original is acked. At-least-once: a crash between the two duplicates the entry, which
  consumers tolerate (idempotent by package id and recipient).
* **dead_letter**: ``basic.reject`` cannot carry a reason, so a copy carrying
  ``x-hub-reason``, ``x-hub-attempt``, ``x-hub-dead-at`` and the ``x-death`` history RabbitMQ
  wrote on each trip through a tier is published (confirmed) to ``<p>.dead`` → the agency's DLQ,
  then the original is acked. Entries RabbitMQ parks itself (``delivery_limit`` exceeded, an
  unparseable message rejected) reach the same DLQ with RabbitMQ's own ``x-death`` record.
* **idempotency across reconnects**: every published message has a unique ``message_id``. When
  the connection drops while the application still holds an entry, RabbitMQ redelivers it after
  the robust connection is back. If this process still holds the old copy (or is publishing its
  retry or dead-letter copy), the redelivery is parked until the old copy is settled and then
  settled the same way. An AMQP ack is never confirmed: one sent after RabbitMQ has begun to
  close the connection is dropped without an error on the client, and the entry comes back. So
  the ids of the last ``_DONE_MEMORY`` entries this process settled are remembered, from the
  moment their ack is sent, and a delivery of one of them is acked at once. Either way the
  application does not see the same message twice from one process; other processes rely on
  the dispatcher's store check.
* **close()**: consumers are cancelled, entries received but not yet handed out are returned
  at once, handed-out entries get ``shutdown_grace`` seconds to be settled, then the channels
  close and RabbitMQ returns whatever is left to the queue for another consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from yarl import URL

from hub.broker.abc import Broker, QueueEntry, QueueMessage
from hub.broker.rabbit_topology import (
    ATTEMPT_HEADER,
    DEAD_AT_HEADER,
    FROM_QUEUE_HEADER,
    REASON_HEADER,
    Topology,
    tier_millis,
)
from hub.errors import Unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

#: What a lost or refusing broker raises through aio-pika/aiormq.
_AMQP_ERRORS: tuple[type[BaseException], ...] = (
    *aio_pika.exceptions.CONNECTION_EXCEPTIONS,
    TimeoutError,
)
#: A delivery whose channel is gone (its entry is already back in the queue).
_CHANNEL_GONE: tuple[type[BaseException], ...] = (
    aiormq.exceptions.ChannelInvalidStateError,
    *_AMQP_ERRORS,
)
#: Failures a consumer waits out.
_CONSUME_ERRORS: tuple[type[BaseException], ...] = (Unavailable, *_AMQP_ERRORS)
#: How many settled message ids are remembered (see "idempotency" in the module docstring).
#: A lost ack is one sent just before a drop; its redelivery follows the reconnect, long before
#: this many further settles. About 170 bytes a settle: 17 MB when full.
_DONE_MEMORY = 100_000


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for logs and error messages)."""
    try:
        parsed = URL(url)
    except (TypeError, ValueError):
        return "<unparseable URL>"
    if parsed.password:
        parsed = parsed.with_password("***")
    return str(parsed)


@dataclass(frozen=True, slots=True)
class DeadLetterInfo:
    """One parked entry as it sits in an agency's DLQ (for operators and tests)."""

    recipient: str
    package_id: str
    attempt: int
    reason: str | None
    x_death: tuple[tuple[str, str, int], ...]  # (queue, reason, count), newest first


class _RabbitMessage(QueueMessage):
    """An entry handed out by :class:`RabbitBroker`; settled at most once."""

    def __init__(
        self,
        session: _Session,
        incoming: AbstractIncomingMessage,
        recipient: str,
        package_id: str,
        attempt: int,
    ) -> None:
        self.recipient = recipient
        self.package_id = package_id
        self.attempt = attempt
        self.redelivered = bool(incoming.redelivered)
        self.message_id = incoming.message_id
        self._session = session
        self._incoming = incoming
        self._settled = False
        self._lost = False  # the lease ended (nacked or channel gone) before the settle
        self._lease: asyncio.TimerHandle | None = None
        #: A redelivery of this very message that arrived (new channel) while it is held.
        self.shadow: AbstractIncomingMessage | None = None

    def __repr__(self) -> str:
        return (
            f"<RabbitMessage {self.recipient}/{self.package_id} attempt={self.attempt} "
            f"redelivered={self.redelivered}>"
        )

    # -- lease -------------------------------------------------------------------------------

    def start_lease(self, seconds: float | None) -> None:
        if seconds is not None:
            self._lease = asyncio.get_running_loop().call_later(seconds, self._expire)

    def _expire(self) -> None:
        if self._settled or self._lost:
            return
        log.info("lease of %r expired: returning it to the queue", self)
        self._lost = True
        self._session.broker._spawn(self._return_to_queue())

    async def _return_to_queue(self) -> None:
        self._session.broker._inflight.pop(self.message_id or "", None)
        try:
            with contextlib.suppress(*_AMQP_ERRORS):
                await self._incoming.nack(requeue=True)
            self._release_shadow()
        finally:
            # The prefetch slot is free again: a handler that never settles (it failed
            # unexpectedly) must not hold it for good — after ``prefetch`` of those the
            # session would hand out nothing more. A late settle is ignored (``_lost``).
            self._session.release(self)

    def parks(self, redelivery: AbstractIncomingMessage) -> bool:
        """Keep ``redelivery`` (of this message) until this copy is settled; whether it did.

        Also while a retry or dead-letter copy is being published: its outcome decides
        whether the redelivery is acked (done) or handed out (the entry is back).
        """
        if self._lost:
            return False  # the lease ended: the redelivery is the entry's next hand-out
        if self.shadow is not None and _alive(self.shadow):
            return False  # not RabbitMQ's doing (one message is with one consumer at a time)
        # An older shadow's channel is gone: RabbitMQ has taken it back, this is its successor.
        self.shadow = redelivery
        return True

    def _release_shadow(self) -> None:
        if self.shadow is not None:
            self._session.push(self.shadow)
            self.shadow = None

    @property
    def live(self) -> bool:
        """Handed out, not settled, lease not ended."""
        return not self._settled and not self._lost

    def lose(self) -> None:
        """The channel is gone (broker closing): settles will be ignored."""
        self._lost = True
        if self._lease is not None:
            self._lease.cancel()

    # -- settling ------------------------------------------------------------------------------

    def _begin(self, what: str, *, check_channel: bool = True) -> bool:
        """Mark settled; whether this delivery is still ours to settle."""
        if self._settled:
            raise RuntimeError(f"{self!r} is already settled")
        self._settled = True
        if self._lease is not None:
            self._lease.cancel()
        if check_channel and not self._lost and not self._channel_alive():
            # The connection dropped: RabbitMQ has put the entry back (same attempt,
            # redelivered) — publishing a retry or dead-letter copy now would double it.
            self._lost = True
            self._session.broker._inflight.pop(self.message_id or "", None)
            self._release_shadow()
        if self._lost:
            log.info(
                "%s of %r ignored: its lease ended (the entry went back to the queue)", what, self
            )
            self._session.release(self)
            return False
        return True

    def _channel_alive(self) -> bool:
        return _alive(self._incoming)

    async def _finish(self, *, done: bool) -> None:
        """Ack (the work is done or handed on) or return the original; then its shadow."""
        broker = self._session.broker
        if done and self.message_id:
            # Remembered before the ack is sent, and whether or not it raises: an ack that
            # goes out without an error can still be lost — RabbitMQ drops every frame that
            # arrives after it has sent Connection.Close, and the client learns of the close
            # only when it reads that frame. The redelivery must find the id either way.
            broker._remember_done(self.message_id)
        broker._inflight.pop(self.message_id or "", None)
        try:
            if done:
                try:
                    await self._incoming.ack()
                except _AMQP_ERRORS as exc:
                    log.info("ack of %r lost (%s): its redelivery will be skipped", self, exc)
                if self.shadow is not None:
                    shadow, self.shadow = self.shadow, None
                    with contextlib.suppress(*_AMQP_ERRORS):
                        await shadow.ack()
            else:
                with contextlib.suppress(*_AMQP_ERRORS):
                    await self._incoming.nack(requeue=True)
                self._release_shadow()
        finally:
            self._session.release(self)

    async def ack(self) -> None:
        """Done: remove the entry."""
        # Even on a dead channel: the work is done, so _finish remembers the message id and
        # the redelivery RabbitMQ makes after the reconnect is acked, never handed out again.
        if self._begin("ack", check_channel=False):
            await self._finish(done=True)

    async def retry(self, reason: str, *, same_attempt: bool = False) -> None:
        """Publish ``attempt + 1`` (or the same) to this attempt's tier queue (confirmed),
        then ack."""
        if not self._begin("retry"):
            return
        broker = self._session.broker
        millis = broker._tier_for(self.attempt)
        headers = broker._carried_headers(self._incoming)
        headers[ATTEMPT_HEADER] = self.attempt if same_attempt else self.attempt + 1
        headers[REASON_HEADER] = reason[:1000]
        copy = broker._message(self.recipient, self.package_id, headers)
        try:
            await broker._publish_all([(broker.topology.retry_name(millis), self.recipient, copy)])
        except Unavailable:
            await self._finish(done=False)  # back to the queue now, not after the lease
            raise
        await self._finish(done=True)

    async def dead_letter(self, reason: str) -> None:
        """Publish a copy with the reason to the agency's DLQ (confirmed), then ack."""
        if not self._begin("dead-letter"):
            return
        broker = self._session.broker
        headers = broker._carried_headers(self._incoming)
        headers[ATTEMPT_HEADER] = self.attempt
        headers[REASON_HEADER] = reason[:1000]
        headers[DEAD_AT_HEADER] = datetime.now(UTC).isoformat()
        headers[FROM_QUEUE_HEADER] = broker.topology.work_queue(self.recipient)
        copy = broker._message(self.recipient, self.package_id, headers)
        try:
            await broker._publish_all([(broker.topology.dead_exchange, self.recipient, copy)])
        except Unavailable:
            await self._finish(done=False)
            raise
        await self._finish(done=True)
        log.info("dead-lettered %r: %s", self, reason)


class _Session:
    """One ``consume`` iterator: its channel, consumers, buffer and handed-out entries."""

    def __init__(self, broker: RabbitBroker, prefetch: int, recipients: list[str] | None) -> None:
        self.broker = broker
        self.prefetch = prefetch
        self.follow_all = recipients is None
        self.pending: list[str] = [] if recipients is None else list(recipients)
        self.channel: AbstractChannel | None = None
        self.consumers: dict[str, tuple[AbstractQueue, str]] = {}
        self.inbox: deque[AbstractIncomingMessage] = deque()
        self.held: set[_RabbitMessage] = set()
        self.wake = asyncio.Event()
        self.ended = False  # the iterator finished: no more hand-outs
        self.closed = False  # the channel is closed

    # -- called by aio-pika and by messages ------------------------------------------------------

    async def on_message(self, incoming: AbstractIncomingMessage) -> None:
        # Runs in a task per delivery; nothing is awaited before the append, so the inbox keeps
        # the delivery order.
        if self.ended:
            with contextlib.suppress(*_AMQP_ERRORS):
                await incoming.nack(requeue=True)
            return
        # Every publish has its own message id, so a known id is a redelivery whatever the
        # redelivered flag says.
        mid = incoming.message_id
        if mid:
            if self.broker._was_done(mid):
                log.info("redelivery of settled message %s acked without handing it out", mid)
                # Remembered again: this ack can be lost with the next drop like the first.
                self.broker._remember_done(mid)
                with contextlib.suppress(*_AMQP_ERRORS):
                    await incoming.ack()
                return
            original = self.broker._inflight.get(mid)
            if original is not None and original.parks(incoming):
                return
        self.push(incoming)

    def push(self, incoming: AbstractIncomingMessage) -> None:
        self.inbox.append(incoming)
        self.wake.set()

    def on_declared(self, organ_id: str) -> None:
        if self.follow_all and not self.ended and organ_id not in self.consumers:
            self.pending.append(organ_id)
            self.wake.set()

    def release(self, message: _RabbitMessage) -> None:
        self.held.discard(message)
        self.wake.set()  # a prefetch slot is free
        self.maybe_finish()

    def maybe_finish(self) -> None:
        if self.ended and not self.closed and not any(m.live for m in self.held):
            self.broker._spawn(self.close_channel())

    # -- the iterator's side -------------------------------------------------------------------

    async def next(self) -> _RabbitMessage | None:
        """The next entry to hand out, or ``None`` once the broker closes."""
        while not self.ended and not self.broker._closed:
            if self.pending:
                await self._subscribe_pending()
            if self.inbox and len(self.held) < self.prefetch:
                message = await self._adopt(self.inbox.popleft())
                if message is not None:
                    return message
                continue
            self.wake.clear()
            timeout = self.broker.reconnect_interval if self.pending else None
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation racing the event, leaving a consumer running after close.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self.wake.wait()
        return None

    async def _subscribe_pending(self) -> None:
        broker = self.broker
        try:
            if self.channel is None:
                channel = await broker._channel()
                await channel.set_qos(prefetch_count=self.prefetch)
                self.channel = channel
            while self.pending:
                organ_id = self.pending[0]
                if organ_id not in self.consumers:
                    await broker._ensure_agency(organ_id)
                    queue = await broker._bounded(
                        self.channel.declare_queue(
                            broker.topology.work_queue(organ_id),
                            durable=True,
                            arguments=broker.topology.work_queue_arguments(),
                        )
                    )
                    tag = await broker._bounded(queue.consume(self.on_message, no_ack=False))
                    self.consumers[organ_id] = (queue, tag)
                self.pending.pop(0)
        except _CONSUME_ERRORS as exc:
            # The dispatcher's loop must survive a broker outage: try again shortly.
            log.warning("cannot consume yet, retrying: %s", broker._describe(exc))

    async def _adopt(self, incoming: AbstractIncomingMessage) -> _RabbitMessage | None:
        try:
            incoming.channel  # noqa: B018  # raises if its channel died (already requeued)
        except _CHANNEL_GONE:
            return None
        try:
            body = json.loads(incoming.body)
            recipient, package_id = str(body["recipient"]), str(body["package_id"])
            attempt = _int_header(incoming.headers.get(ATTEMPT_HEADER, 1))
            if attempt < 1:
                raise ValueError(f"attempt {attempt}")
        except (ValueError, KeyError, TypeError) as exc:
            # Not ours or damaged: RabbitMQ parks it in the DLQ (x-death reason "rejected").
            log.error("unparseable queue message %s rejected: %s", incoming.message_id, exc)
            with contextlib.suppress(*_AMQP_ERRORS):
                await incoming.reject(requeue=False)
            return None
        message = _RabbitMessage(self, incoming, recipient, package_id, attempt)
        self.held.add(message)
        if message.message_id:
            self.broker._inflight[message.message_id] = message
        message.start_lease(self.broker.lease_seconds)
        return message

    async def end(self) -> None:
        """The iterator is finished: stop consuming; keep the channel for held entries."""
        if self.ended:
            return
        self.ended = True
        await self._stop_consuming()
        self.maybe_finish()

    async def _stop_consuming(self) -> None:
        for queue, tag in list(self.consumers.values()):
            with contextlib.suppress(*_AMQP_ERRORS):
                await self.broker._bounded(queue.cancel(tag))
        self.consumers.clear()
        # Received but never handed out: back to the queue for whoever is consuming.
        while self.inbox:
            incoming = self.inbox.popleft()
            with contextlib.suppress(*_AMQP_ERRORS):
                await incoming.nack(requeue=True)

    async def shutdown(self, grace: float) -> None:
        """Broker close: stop, give held entries ``grace`` seconds, close the channel."""
        self.ended = True
        self.wake.set()
        await self._stop_consuming()
        if grace > 0:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + grace
            while any(m.live for m in self.held) and loop.time() < deadline:
                self.wake.clear()  # set by every settle
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(deadline - loop.time()):
                        await self.wake.wait()
        await self.close_channel()

    async def close_channel(self) -> None:
        if self.closed:
            return
        self.closed = True
        for message in self.held:
            message.lose()  # closing the channel returns them; late settles are no-ops
        self.broker._sessions.discard(self)
        if self.channel is not None:
            with contextlib.suppress(*_AMQP_ERRORS):
                await self.broker._bounded(self.channel.close())


class RabbitBroker(Broker):
    """Broker over RabbitMQ quorum queues; see the module docstring for the semantics."""

    def __init__(
        self,
        url: str,
        *,
        retry_delays: Sequence[float] = (1.0, 5.0, 30.0, 120.0, 600.0),
        prefix: str = "hub",
        confirm_window: int = 256,
        delivery_limit: int | None = None,
        lease_seconds: float | None = None,
        agencies: Collection[str] = (),
        connect_timeout: float = 5.0,
        publish_timeout: float = 10.0,
        reconnect_interval: float = 1.0,
        shutdown_grace: float = 0.0,
        connection_name: str | None = None,
    ) -> None:
        if not retry_delays:
            raise ValueError("retry_delays must not be empty")
        if confirm_window < 1:
            raise ValueError("confirm_window must be at least 1")
        self.url = url
        self.masked_url = mask_url(url)
        self._password = URL(url).password or ""
        self.retry_delays = tuple(retry_delays)
        self.topology = Topology(prefix, delivery_limit)
        self.tiers = tier_millis(self.retry_delays)
        self.confirm_window = confirm_window
        self.lease_seconds = lease_seconds
        self.agencies = tuple(agencies)
        self.connect_timeout = connect_timeout
        self.publish_timeout = publish_timeout
        self.reconnect_interval = reconnect_interval
        self.shutdown_grace = shutdown_grace
        self.connection_name = connection_name or f"{prefix}-{uuid.uuid4().hex[:12]}"
        self._connection: AbstractRobustConnection | None = None
        self._publisher: AbstractChannel | None = None
        self._admin: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._declared: dict[str, None] = {}  # ordered set of agencies with queues
        self._declare_lock = asyncio.Lock()
        self._window = asyncio.Semaphore(confirm_window)
        self._sessions: set[_Session] = set()
        self._inflight: dict[str, _RabbitMessage] = {}
        self._done: OrderedDict[str, None] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._open = False

    # -- helpers -------------------------------------------------------------------------------

    def _describe(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return text.replace(self._password, "***") if self._password else text

    def _unavailable(self, what: str, exc: BaseException) -> Unavailable:
        return Unavailable(f"RabbitMQ at {self.masked_url}: {what}: {self._describe(exc)}")

    async def _bounded(self, awaitable: Awaitable[T], limit: float | None = None) -> T:
        # aio-pika waits forever for a robust connection that is reconnecting: bound it.
        async with asyncio.timeout(self.connect_timeout if limit is None else limit):
            return await awaitable

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            await coro

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish_tasks(self, grace: float) -> None:
        """Give the background tasks (settles, retries) ``grace`` seconds, then cancel the
        rest. ``asyncio.wait`` neither raises a task's error nor absorbs a cancellation of
        ``close`` itself, as a suppressed ``wait_for`` would."""
        tasks = list(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                log.warning("a RabbitMQ background task failed: %s", task.exception())

    def _remember_done(self, message_id: str) -> None:
        self._done[message_id] = None
        self._done.move_to_end(message_id)
        while len(self._done) > _DONE_MEMORY:
            self._done.popitem(last=False)

    def _was_done(self, message_id: str) -> bool:
        # Not forgotten once consulted: the ack of the skipped redelivery can be lost as well.
        return message_id in self._done

    def _tier_for(self, attempt: int) -> int:
        return self.tiers[min(max(attempt, 1) - 1, len(self.tiers) - 1)]

    @staticmethod
    def _carried_headers(incoming: AbstractIncomingMessage) -> dict[str, Any]:
        # A copy (retry or dead letter) keeps the hub's headers and the dead-letter history:
        # RabbitMQ 3.x goes on counting in a published x-death, so the DLQ entry shows every
        # trip through every tier. x-delivery-count belongs to the original's queue.
        return {
            k: v
            for k, v in incoming.headers.items()
            if k.startswith(("x-hub-", "x-death", "x-first-death-"))
        }

    @staticmethod
    def _message(recipient: str, package_id: str, headers: dict[str, Any]) -> aio_pika.Message:
        body = json.dumps({"recipient": recipient, "package_id": package_id}).encode()
        return aio_pika.Message(
            body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=uuid.uuid4().hex,
            timestamp=datetime.now(UTC),
            type="hub.delivery",
            headers=headers,
        )

    async def _publisher_ready(self) -> None:
        publisher = self._publisher
        if isinstance(publisher, AbstractRobustChannel):
            await publisher.ready()

    def _require(self) -> AbstractRobustConnection:
        if self._closed or not self._open or self._connection is None:
            raise Unavailable("broker is closed")
        return self._connection

    async def _channel(self) -> AbstractChannel:
        connection = self._require()
        try:
            return await self._bounded(connection.channel())
        except _AMQP_ERRORS as exc:
            raise self._unavailable("cannot open a channel", exc) from exc

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect (bounded by ``connect_timeout``) and declare the topology."""
        self._closed = False
        try:
            async with asyncio.timeout(self.connect_timeout):
                connection = await aio_pika.connect_robust(
                    self.url,
                    timeout=self.connect_timeout,
                    reconnect_interval=self.reconnect_interval,
                    client_properties={"connection_name": self.connection_name},
                )
        except _AMQP_ERRORS as exc:
            raise self._unavailable("cannot connect", exc) from exc
        self._connection = connection
        self._open = True
        try:
            await self._declare_base()
            await self.declare_agencies(self.agencies)
        except BaseException:
            await self.close()
            raise
        log.info("connected to RabbitMQ at %s as %s", self.masked_url, self.connection_name)

    async def _declare_base(self) -> None:
        connection = self._require()
        t = self.topology
        try:
            publisher = await self._bounded(
                connection.channel(publisher_confirms=True, on_return_raises=True)
            )
            self._publisher = publisher
            # Declarations on their own channel: a refused declaration closes its channel.
            admin = await self._bounded(connection.channel())
            self._admin = admin
            for name, kind in (
                (t.deliver_exchange, aio_pika.ExchangeType.DIRECT),
                (t.dead_exchange, aio_pika.ExchangeType.DIRECT),
                *((t.retry_name(ms), aio_pika.ExchangeType.FANOUT) for ms in self.tiers),
            ):
                self._exchanges[name] = await self._bounded(
                    publisher.declare_exchange(name, kind, durable=True)
                )
            for ms in self.tiers:
                queue = await self._bounded(
                    admin.declare_queue(
                        t.retry_name(ms), durable=True, arguments=t.retry_queue_arguments(ms)
                    )
                )
                await self._bounded(queue.bind(t.retry_name(ms), routing_key=""))
        except _AMQP_ERRORS as exc:
            raise self._unavailable("cannot declare the topology", exc) from exc

    async def declare_agencies(self, organ_ids: Collection[str]) -> None:
        """Declare these agencies' work queues, DLQs and bindings (idempotent)."""
        for organ_id in organ_ids:
            await self._ensure_agency(organ_id)

    async def _ensure_agency(self, organ_id: str) -> None:
        if organ_id in self._declared:
            return
        async with self._declare_lock:
            if organ_id in self._declared:
                return
            self._require()
            admin = self._admin
            assert admin is not None
            t = self.topology
            try:
                work = await self._bounded(
                    admin.declare_queue(
                        t.work_queue(organ_id), durable=True, arguments=t.work_queue_arguments()
                    )
                )
                await self._bounded(work.bind(t.deliver_exchange, routing_key=organ_id))
                dead = await self._bounded(
                    admin.declare_queue(
                        t.dead_queue(organ_id), durable=True, arguments=t.dead_queue_arguments()
                    )
                )
                await self._bounded(dead.bind(t.dead_exchange, routing_key=organ_id))
            except _AMQP_ERRORS as exc:
                raise self._unavailable(f"cannot declare the queues of {organ_id}", exc) from exc
            self._declared[organ_id] = None
        for session in list(self._sessions):
            session.on_declared(organ_id)

    async def close(self) -> None:
        """Stop consumers (held entries return to their queues) and disconnect."""
        if self._closed:
            return
        self._closed = True
        for session in list(self._sessions):
            await session.shutdown(self.shutdown_grace)
        await self._finish_tasks(1.0)
        if self._connection is not None:
            with contextlib.suppress(*_AMQP_ERRORS):
                await self._bounded(self._connection.close())
        self._connection = self._publisher = self._admin = None
        self._exchanges.clear()
        self._declared.clear()
        self._inflight.clear()
        self._open = False

    async def ping(self) -> None:
        """Raise ``Unavailable`` unless RabbitMQ answers a passive declare now."""
        self._require()
        admin = self._admin
        assert admin is not None
        try:
            channel = await self._bounded(admin.get_underlay_channel())
            await self._bounded(
                channel.exchange_declare(exchange=self.topology.deliver_exchange, passive=True)
            )
        except _AMQP_ERRORS as exc:
            raise self._unavailable("not reachable", exc) from exc

    # -- publishing ----------------------------------------------------------------------------

    async def publish(self, entries: Sequence[QueueEntry]) -> None:
        """Publish one persistent message per entry; return when all are confirmed."""
        self._require()
        if not entries:
            return
        for recipient in dict.fromkeys(e.recipient for e in entries):
            await self._ensure_agency(recipient)
        await self._publish_all(
            [
                (
                    self.topology.deliver_exchange,
                    e.recipient,
                    self._message(e.recipient, e.package_id, {ATTEMPT_HEADER: 1}),
                )
                for e in entries
            ]
        )

    async def _publish_all(self, items: Sequence[tuple[str, str, aio_pika.Message]]) -> None:
        self._require()
        results = await asyncio.gather(
            *(self._publish_one(exchange, key, message) for exchange, key, message in items),
            return_exceptions=True,
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            for failure in failures:
                if not isinstance(failure, Exception):
                    raise failure  # cancellation and the like are not a broker outage
            raise Unavailable(
                f"RabbitMQ at {self.masked_url} did not confirm {len(failures)} of "
                f"{len(items)} messages: {self._describe(failures[0])}"
            )

    async def _publish_one(self, exchange_name: str, key: str, message: aio_pika.Message) -> None:
        exchange = self._exchanges.get(exchange_name)
        if exchange is None:
            raise Unavailable("broker is closed")
        async with self._window:
            # One bound for reconnect wait + confirm: aio-pika waits for a reconnecting
            # connection without a limit.
            async with asyncio.timeout(self.publish_timeout):
                # After a reconnect the connection is up a moment before the channel is
                # restored; publishing then would fail at once instead of waiting.
                await self._publisher_ready()
                result = await exchange.publish(
                    message, routing_key=key, mandatory=True, timeout=self.publish_timeout
                )
        if not isinstance(result, aiormq.spec.Basic.Ack):
            raise aiormq.exceptions.DeliveryError(None, result)  # type: ignore[arg-type]

    # -- consuming -------------------------------------------------------------------------------

    def consume(
        self, recipients: Collection[str] | None = None, *, prefetch: int = 16
    ) -> AsyncIterator[QueueMessage]:
        """Yield entries for ``recipients`` (all known agencies if ``None``) until closed."""
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        return self._consume(None if recipients is None else sorted(set(recipients)), prefetch)

    async def _consume(
        self, recipients: list[str] | None, prefetch: int
    ) -> AsyncIterator[QueueMessage]:
        if recipients is not None and not recipients:
            return
        if self._closed or not self._open:
            return
        session = _Session(self, prefetch, recipients)
        self._sessions.add(session)
        if recipients is None:
            session.pending.extend(self._declared)
        try:
            while True:
                message = await session.next()
                if message is None:
                    return
                yield message
        finally:
            await session.end()

    # -- operators ---------------------------------------------------------------------------

    async def dead_letter_count(self, recipient: str) -> int:
        """How many entries sit in the agency's DLQ.

        Entries a :meth:`dead_letters` call has just read are missing until RabbitMQ has taken
        them back from the closed inspection channel, which it applies asynchronously.
        """
        await self._ensure_agency(recipient)
        channel = await self._channel()
        try:
            queue = await self._bounded(
                channel.declare_queue(self.topology.dead_queue(recipient), passive=True)
            )
            return int(queue.declaration_result.message_count or 0)
        except _AMQP_ERRORS as exc:
            raise self._unavailable("cannot inspect the DLQ", exc) from exc
        finally:
            with contextlib.suppress(*_AMQP_ERRORS):
                await self._bounded(channel.close())

    async def dead_letters(self, recipient: str, *, limit: int = 100) -> list[DeadLetterInfo]:
        """Read up to ``limit`` parked entries without removing them (they are returned when
        the inspection channel closes)."""
        await self._ensure_agency(recipient)
        channel = await self._channel()
        found: list[DeadLetterInfo] = []
        try:
            queue = await self._bounded(channel.get_queue(self.topology.dead_queue(recipient)))
            while len(found) < limit:
                incoming = await self._bounded(queue.get(no_ack=False, fail=False))
                if incoming is None:
                    break
                found.append(_dead_letter_info(incoming))
        except _AMQP_ERRORS as exc:
            raise self._unavailable("cannot inspect the DLQ", exc) from exc
        finally:
            with contextlib.suppress(*_AMQP_ERRORS):
                await self._bounded(channel.close())
        return found


def _alive(incoming: AbstractIncomingMessage) -> bool:
    """Whether the channel ``incoming`` came on is still open (so it can still be settled)."""
    try:
        channel = incoming.channel  # raises once that channel is closed
    except _CHANNEL_GONE:
        return False
    return not channel.is_closed


def _int_header(value: object) -> int:
    """An integer header (AMQP tables carry several integer widths, or a client's string)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"not an integer: {value!r}")
    return int(value)


def _dead_letter_info(incoming: AbstractIncomingMessage) -> DeadLetterInfo:
    try:
        body = json.loads(incoming.body)
        recipient, package_id = str(body.get("recipient", "")), str(body.get("package_id", ""))
    except (ValueError, AttributeError):
        recipient = package_id = ""
    headers = incoming.headers
    deaths: list[tuple[str, str, int]] = []
    raw = headers.get("x-death")
    if isinstance(raw, list):
        for d in raw:
            if isinstance(d, dict):
                deaths.append(
                    (str(d.get("queue")), str(d.get("reason")), _int_header(d.get("count", 0)))
                )
    reason = headers.get(REASON_HEADER)
    return DeadLetterInfo(
        recipient=recipient,
        package_id=package_id,
        attempt=_int_header(headers.get(ATTEMPT_HEADER, 1)),
        reason=None if reason is None else str(reason),
        x_death=tuple(deaths),
    )


__all__ = ["DeadLetterInfo", "RabbitBroker", "mask_url"]
