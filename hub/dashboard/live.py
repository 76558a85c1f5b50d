"""The dashboard's pulse: one task per hub process reads the counters every ``interval``
seconds, keeps the Prometheus gauges current and fans the snapshot out to every browser
watching (server-sent events). However many operators watch, the store answers one set of
queries per tick.

Refusals are never stored (a flood of garbage must not become a flood of writes), so the
refusal chart comes from this process's ``hub_packages_refused_total`` counter, sampled per
minute; acceptances come from the store and count every hub process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.aio import StartStop
from hub.metrics import (
    DEAD_LETTERS,
    DELIVERY_SECONDS,
    OPEN_ALARMS,
    QUEUE_DEPTH,
    REFUSED,
)
from hub.store.facets import DashboardStore
from hub.store.records import AgencyActivity, Overview

log = logging.getLogger("hub.dashboard")

MINUTES = 60


AlarmSource = Callable[[], "Sequence[Any] | None"]
"""The open lifecycle/SLA alarms (issue 5's evaluator), or ``None`` when none is configured:
the dashboard then says "alarms: none configured" rather than showing a reassuring zero."""


def _refused_total() -> float:
    total = 0.0
    for metric in REFUSED.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                total += sample.value
    return total


@dataclass
class RefusalSampler:
    """Per-minute refusals of this process, from the Prometheus counter."""

    buckets: deque[tuple[int, int]]
    last_total: float

    @classmethod
    def start(cls) -> RefusalSampler:
        return cls(deque(maxlen=MINUTES), _refused_total())

    def sample(self, now: datetime) -> tuple[int, ...]:
        minute = int(now.timestamp() // 60)
        total = _refused_total()
        delta, self.last_total = int(total - self.last_total), total
        if self.buckets and self.buckets[-1][0] == minute:
            self.buckets[-1] = (minute, self.buckets[-1][1] + delta)
        else:
            self.buckets.append((minute, delta))
        by_minute = dict(self.buckets)
        return tuple(by_minute.get(minute - MINUTES + 1 + i, 0) for i in range(MINUTES))


class Pulse(StartStop):
    """Computes snapshots and hands them to subscribers (latest wins: a slow browser skips
    ticks instead of growing a queue)."""

    def __init__(
        self,
        store: DashboardStore,
        health: Callable[[], Any],
        *,
        alarms: AlarmSource = lambda: None,
        interval: float = 2.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._health = health
        self._alarms = alarms
        self.interval = interval
        self._clock = clock
        self._subscribers: set[asyncio.Queue[str]] = set()
        self._task: asyncio.Task[None] | None = None
        self._refusals = RefusalSampler.start()
        self._event_seq: int | None = None
        self._known_gauges: set[tuple[str, str]] = set()
        self.latest: dict[str, Any] | None = None
        self.last_duration = 0.0

    async def start(self) -> None:
        """Start ticking (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="hub-dashboard-pulse")

    async def stop(self) -> None:
        """Stop ticking."""
        task, self._task = self._task, None
        if task is None:
            return
        # Cancel until it is really done: a cancellation that lands while a library call
        # completes can be swallowed, and waiting on such a task once would hang shutdown.
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store may be down: the health box says so
                log.warning("dashboard pulse failed: %s", exc)
            await asyncio.sleep(self.interval)

    async def tick(self) -> dict[str, Any]:
        """Read everything once, update the gauges, notify the watchers."""
        started = time.perf_counter()
        now = self._clock()
        overview = await self._store.overview(now, MINUTES)
        agencies = await self._store.agency_activity()
        self._event_seq, latencies = await self._store.reached_since(self._event_seq)
        for seconds in latencies:
            DELIVERY_SECONDS.observe(max(0.0, seconds))
        health = await self._health()
        open_now = self._alarms()
        snapshot = build_snapshot(
            now,
            overview,
            agencies,
            self._refusals.sample(now),
            health,
            None if open_now is None else len(open_now),
        )
        self._update_gauges(overview, agencies, snapshot["alarms"])
        self.last_duration = time.perf_counter() - started
        if snapshot != self.latest:
            self.latest = snapshot
            data = json.dumps(snapshot, ensure_ascii=False)
            for queue in list(self._subscribers):
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(data)
        return snapshot

    def _update_gauges(
        self, overview: Overview, agencies: tuple[AgencyActivity, ...], alarms: int | None
    ) -> None:
        DEAD_LETTERS.set(overview.dead_letters)
        OPEN_ALARMS.set(alarms or 0)
        seen: set[tuple[str, str]] = set()
        for agency in agencies:
            for state, n in agency.by_state.items():
                QUEUE_DEPTH.labels(agency=agency.organ_id, state=state).set(n)
                seen.add((agency.organ_id, state))
        for organ, state in self._known_gauges - seen:
            QUEUE_DEPTH.labels(agency=organ, state=state).set(0)
        self._known_gauges |= seen

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[str]]:
        """A queue of snapshot JSON texts, starting with the latest one."""
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
        if self.latest is not None:
            queue.put_nowait(json.dumps(self.latest, ensure_ascii=False))
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)


def build_snapshot(
    now: datetime,
    overview: Overview,
    agencies: tuple[AgencyActivity, ...],
    refused: tuple[int, ...],
    health: dict[str, Any],
    alarms: int | None = None,
) -> dict[str, Any]:
    """The JSON the overview page renders (and re-renders on every event)."""
    accepted_hour = sum(overview.accepted_per_minute)
    refused_hour = sum(refused)
    rate = refused_hour / (accepted_hour + refused_hour) if accepted_hour + refused_hour else 0.0
    return {
        "packages": overview.packages,
        "states": overview.deliveries_by_state,
        "dead": overview.dead_letters,
        "alarms": alarms,
        "accepted": list(overview.accepted_per_minute),
        "refused": list(refused),
        "refusal_rate": round(rate, 4),
        "agencies": [
            {
                "organ_id": a.organ_id,
                "backlog": a.backlog,
                "unacked": a.unacked,
                "dead": a.by_state.get("dead", 0),
                "oldest_undelivered_s": (
                    round((now - a.oldest_undelivered_at).total_seconds())
                    if a.oldest_undelivered_at
                    else None
                ),
            }
            for a in agencies
        ],
        "health": health,
    }
