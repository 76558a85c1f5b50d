"""Delivery: turn queue entries into inbox entries (pull) or HTTP pushes (push).

Each queue entry is one (package, recipient). The dispatcher is idempotent by that pair: an
entry whose delivery is already acked is settled without doing anything, so redeliveries
(after a crash, a lease expiry or a reconnect) never reach a recipient's ack twice.

Push: the hub POSTs the exact bytes to the agency's URL with ``Hub-Package-Id`` (the same on
every redelivery) and an HMAC-SHA256 signature header computed with the agency's secret; a
2xx answer is the agency's acknowledgement. Anything else is retried through the broker's
delay tiers (with jitter) and dead-lettered after ``max_attempts``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import aiohttp

from hub.aio import cancel_and_wait
from hub.broker import Broker, QueueMessage
from hub.config import AgencyConfig, DeliverySettings
from hub.logs import PACKAGE_ID
from hub.metrics import DELIVERIES
from hub.models import DeliveryChange, DeliveryState
from hub.registry import Registry
from hub.store import Store
from hub.store.settling import GroupSettler
from hub.webhook_signature import SIGNATURE_HEADER, push_signature

log = logging.getLogger("hub.delivery")


#: The states a queue entry for a pull agency makes ``available``: never one a recipient
#: already reached (``delivered``; ``acked`` is terminal anyway).
_BEFORE_AVAILABLE = frozenset(
    {DeliveryState.PENDING, DeliveryState.QUEUED, DeliveryState.FAILED, DeliveryState.DEAD}
)


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """What one push attempt gave."""

    ok: bool
    detail: str


class Dispatcher:
    """Consumes the broker and delivers; an async context manager running in the background."""

    def __init__(
        self,
        *,
        store: Store,
        broker: Broker,
        registry: Registry,
        settings: DeliverySettings,
        settler: GroupSettler,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.settler = settler
        self.broker = broker
        self.registry = registry
        self.settings = settings
        self.clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._secrets: dict[Path, tuple[tuple[int, int, int], bytes]] = {}
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._running: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Dispatcher:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.settings.push_timeout)
        )
        self._task = asyncio.create_task(self._run(), name="hub-dispatcher")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
        if self._running:
            # In-flight deliveries finish (or fail and are retried): nothing is half-done.
            await asyncio.gather(*self._running, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        async for message in self.broker.consume(prefetch=self.settings.concurrency):
            await self._slots.acquire()
            task = asyncio.create_task(self._handle_guarded(message))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _handle_guarded(self, message: QueueMessage) -> None:
        PACKAGE_ID.set(message.package_id)  # this task's log lines carry the package id
        try:
            await self.handle(message)
        except Exception as exc:  # keep the dispatcher alive
            log.exception(
                "delivery of %s to %s failed unexpectedly", message.package_id, message.recipient
            )
            await self._return(message, exc)
        finally:
            self._slots.release()

    async def _return(self, message: QueueMessage, exc: Exception) -> None:
        # Settled, not left to the lease: the entry comes back after its delay tier (no hot
        # loop while the store is down) and its prefetch slot is free at once. The same
        # attempt, because the fault is the hub's (a store blip, an unreadable secret file),
        # not the agency's: counting it would dead-letter, after max_attempts hub faults,
        # an entry the agency never refused. If even this settle fails, the lease returns
        # the entry (and the slot) later; nothing is lost either way.
        try:
            await message.retry(f"hub fault: {type(exc).__name__}", same_attempt=True)
        except Exception as settle_exc:
            log.warning(
                "returning %s for %s to the queue failed (%s); its lease will",
                message.package_id,
                message.recipient,
                settle_exc,
            )

    async def handle(self, message: QueueMessage) -> None:
        """Deliver one queue entry."""
        delivery = await self.store.get_delivery(message.package_id, message.recipient)
        if delivery is None:
            # A queue entry without a stored delivery cannot come from this hub's pipeline
            # (the store commits first); park it for an operator instead of looping.
            await message.dead_letter("no such delivery in the store")
            return
        agency = self.registry.get(message.recipient)
        pull = self.registry.pulls(message.recipient)
        if delivery.state in (DeliveryState.ACKED, DeliveryState.DELIVERED):
            if delivery.state == DeliveryState.DELIVERED and not pull:
                # The push was answered 2xx, but the ack was not recorded (left by a release
                # that recorded them in two transactions, or an operator's move): a 2xx is the
                # agency's ack, record it now.
                await self.settler.settle(self._change(message, DeliveryState.ACKED))
            await message.ack()  # a redelivery of work already done
            return
        if pull:
            if delivery.state != DeliveryState.AVAILABLE:
                # Conditional: a recipient's fetch or ack that got there first is kept.
                await self.settler.settle(
                    DeliveryChange(
                        message.package_id,
                        message.recipient,
                        DeliveryState.AVAILABLE,
                        only_from=_BEFORE_AVAILABLE,
                    )
                )
            DELIVERIES.labels(outcome="available").inc()
            await message.ack()
            return
        assert agency is not None  # not pull
        outcome = await self.push(agency, message)
        attempts = delivery.attempts + 1
        if outcome.ok:
            # A 2xx is the agency's ack: both moves in one transaction (one grouped write).
            await self.settler.settle(
                DeliveryChange(
                    message.package_id,
                    message.recipient,
                    DeliveryState.DELIVERED,
                    attempts=attempts,
                    detail={"via": "push", "answer": outcome.detail},
                ),
                self._change(message, DeliveryState.ACKED),
            )
            DELIVERIES.labels(outcome="pushed").inc()
            await message.ack()
        elif message.attempt >= self.settings.max_attempts:
            await self.settler.settle(
                self._change(message, DeliveryState.DEAD, attempts, outcome.detail)
            )
            DELIVERIES.labels(outcome="dead").inc()
            await message.dead_letter(outcome.detail)
        else:
            await self.settler.settle(
                self._change(message, DeliveryState.FAILED, attempts, outcome.detail)
            )
            DELIVERIES.labels(outcome="retry").inc()
            await message.retry(outcome.detail)

    def _change(
        self,
        message: QueueMessage,
        state: DeliveryState,
        attempts: int | None = None,
        error: str | None = None,
    ) -> DeliveryChange:
        at = self.clock() if state is DeliveryState.ACKED else None
        return DeliveryChange(
            message.package_id, message.recipient, state, at=at, attempts=attempts, error=error
        )

    def _secret(self, agency: AgencyConfig) -> bytes:
        # Read again whenever the file changes (a stat per push, not a read): an operator who
        # rotates the secret with the agency must not have to restart the hub for it.
        path = agency.push_secret_file
        if path is None:
            return b""
        info = path.stat()
        stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        cached = self._secrets.get(path)
        if cached is None or cached[0] != stamp:
            cached = (stamp, path.read_bytes().strip())
            self._secrets[path] = cached
        return cached[1]

    async def push(self, agency: AgencyConfig, message: QueueMessage) -> PushOutcome:
        """POST the exact bytes to the agency."""
        assert self._session is not None and agency.push_url is not None
        fetched = await self.store.fetch_package(message.package_id, None)
        data = None if fetched is None else fetched.data
        if fetched is None or data is None:
            return PushOutcome(False, "package bytes missing from the store")
        record = fetched.record
        headers = {
            "Content-Type": "application/xml; charset=utf-8",
            "Hub-Package-Id": message.package_id,
            "Hub-Sender": record.sender,
            "Hub-Kind": str(record.kind),
            "Hub-Attempt": str(message.attempt),
        }
        secret = self._secret(agency)
        if secret:
            headers[SIGNATURE_HEADER] = push_signature(
                secret, message.package_id, int(time.time()), data
            )
        try:
            async with self._session.post(agency.push_url, data=data, headers=headers) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    return PushOutcome(True, f"HTTP {resp.status}")
                return PushOutcome(False, f"HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return PushOutcome(False, f"{type(exc).__name__}: {exc}")
