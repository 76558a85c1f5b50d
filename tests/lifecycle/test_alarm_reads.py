"""What an alarm evaluation reads: only the unanswered rows that can already be late.

A recipient that never answers (it only acknowledges, or it receives copies) leaves every
document it is sent unanswered. The evaluation runs every minute; if it read all of those rows
each time, its memory, its time and the read transaction holding back WAL checkpoints would
grow with all the traffic since the start (issue 12's soak saw the server grow ~1.4 KB per
package). These tests pin the bound: rows sent too recently to be late are never read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.audit.chain import AuditChain
from hub.lifecycle import alarms as alarms_module
from hub.lifecycle.alarms import Alarm, AlarmEvaluator, evaluate
from hub.lifecycle.calendar import VN_TZ, WorkCalendar
from hub.lifecycle.config import LifecycleSettings
from hub.store.facets import LifecycleStore
from hub.store.records import DocState, LifecycleChange
from hub.store.sqlite import SqliteStore

AUTHOR, B, C = "000.00.00.G22", "000.00.00.H41", "000.00.00.H29"
#: Tết 2026 off (a holiday run) and one make-up working Saturday
CALENDAR = WorkCalendar(
    holidays=frozenset(date(2026, 2, 16) + timedelta(days=i) for i in range(5)),
    workdays=frozenset({date(2026, 2, 28)}),
)


def test_late_before_never_leaves_out_a_late_start() -> None:
    """Every start more than ``days`` working days before ``end`` lies before the bound, and
    nothing that started in the last ``days`` × 24 hours is read."""
    ends = [
        datetime(2026, 3, 3, 10, 0, tzinfo=VN_TZ),  # a Tuesday morning
        datetime(2026, 3, 2, 0, 0, tzinfo=VN_TZ),  # Monday, first instant (local)
        datetime(2026, 3, 1, 16, 59, 59, 999999, tzinfo=UTC),  # Sunday 23:59:59 local
        datetime(2026, 2, 23, 9, 0, tzinfo=VN_TZ),  # the Monday after the Tết holidays
    ]
    for end in ends:
        for days in range(6):
            bound = CALENDAR.late_before(end, days)
            assert bound <= end - timedelta(days=days)
            start = end - timedelta(days=days + 12)
            while start <= end:
                if CALENDAR.working_days_between(start, end) > days:
                    assert start < bound, (end, days, start)
                start += timedelta(minutes=17)
            assert CALENDAR.working_days_between(bound, end) <= days


def test_late_from_is_exact() -> None:
    """A start is late exactly when it lies before :meth:`WorkCalendar.late_from`, across
    weekends, the Tết holidays and a make-up Saturday."""
    end = datetime(2026, 2, 10, 8, 0, tzinfo=VN_TZ)
    while end < datetime(2026, 3, 10, tzinfo=VN_TZ):
        for days in range(4):
            bound = CALENDAR.late_from(end, days)
            assert bound <= CALENDAR.late_before(end, days)
            for hours in range(0, 24 * 21, 5):
                start = end - timedelta(hours=hours)
                late = CALENDAR.working_days_between(start, end) > days
                assert late == (start < bound), (end, days, start, bound)
        end += timedelta(hours=13)


class CountingStore(SqliteStore):
    """The real SQLite store; it counts the unanswered rows its lifecycle facet returns."""

    unanswered_rows = 0

    def lifecycle(self) -> LifecycleStore:
        facet = super().lifecycle()
        read = facet.unanswered

        async def unanswered(sent_before: datetime, **page: Any) -> Sequence[DocState]:
            rows = await read(sent_before, **page)
            self.unanswered_rows += len(rows)
            return rows

        facet.unanswered = unanswered  # type: ignore[method-assign]
        return facet


def _sent(package: str, at: datetime) -> LifecycleChange:
    docs = tuple(
        DocState(AUTHOR, f"{package}/CV", r, package, 0, None, "none", at, None, at) for r in (B, C)
    )
    return LifecycleChange(sha256=package, at=at, new_docs=docs)


async def test_evaluation_reads_only_rows_that_can_be_late(tmp_path: Path) -> None:
    now = datetime(2026, 3, 4, 3, 0, tzinfo=UTC)  # Wednesday 10:00 in Việt Nam
    settings = LifecycleSettings(calendar=CALENDAR, ack_within_days=1)
    async with CountingStore(tmp_path / "hub.sqlite", chainer=AuditChain()) as store:
        lc = store.lifecycle()
        # A week before: late by now. Then 300 documents over the last day, none answered:
        # the traffic of a recipient that only acknowledges, none of it late yet.
        await lc.apply(_sent("old", now - timedelta(days=7)))
        for i in range(300):
            await lc.apply(_sent(f"p{i}", now - timedelta(seconds=20 + 280 * i)))
        assert len(await lc.unanswered(now)) == 602  # every row is unanswered
        store.unanswered_rows = 0

        alarms = await evaluate(store, settings, [], now)

        assert {a.key for a in alarms} == {
            f"document_unanswered:old:{B}",
            f"document_unanswered:old:{C}",
        }
        assert store.unanswered_rows == 2  # the late ones, not the 600 recent rows


class Recorder:
    """A notifier that keeps what it was told."""

    def __init__(self) -> None:
        self.told: list[Alarm] = []

    async def notify(self, alarms: Sequence[Alarm]) -> None:
        self.told.extend(alarms)


async def test_evaluator_walks_each_late_row_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recipient that never answers: each minute the evaluator lists only the oldest late
    documents and reads, for notification, only the rows that became late since its last run
    — every late row is notified once, including those that wait out a weekend."""
    monkeypatch.setattr(alarms_module, "LISTED_UNANSWERED", 40)
    monkeypatch.setattr(alarms_module, "NOTIFY_PAGE", 25)
    settings = LifecycleSettings(calendar=CALENDAR, ack_within_days=1)
    # Mon 2 … Fri 6 March 2026: 30 documents a day to B and C, none ever answered.
    monday = datetime(2026, 3, 2, 9, 0, tzinfo=VN_TZ)
    async with CountingStore(tmp_path / "hub.sqlite", chainer=AuditChain()) as store:
        lc = store.lifecycle()
        for day in range(5):
            for i in range(30):
                await lc.apply(_sent(f"d{day}-{i:02d}", monday + timedelta(days=day, minutes=i)))
        clock = [monday + timedelta(days=4, hours=1)]  # Friday 10:00: Mon–Wed are late
        told = Recorder()
        evaluator = AlarmEvaluator(
            store=store,
            settings=settings,
            agencies=lambda: [],
            clock=lambda: clock[0],
            notifier=told,
        )

        store.unanswered_rows = 0
        first = await evaluator.run_once()
        # Listed: the 40 oldest late rows. Notified: all 180 late rows (Mon–Wed, 2 each).
        assert [a.kind for a in first] == ["document_unanswered"] * 40
        assert len({a.key for a in told.told}) == len(told.told) == 180
        assert store.unanswered_rows == 40 + 180

        store.unanswered_rows = 0
        clock[0] += timedelta(minutes=1)
        await evaluator.run_once()
        assert len(told.told) == 180  # nothing new became late
        assert store.unanswered_rows == 40  # the listing only; the walk found nothing new

        # Monday 9 March, 10:00: Thursday's documents are late; Friday's are not (the
        # weekend does not count) — they become late on Tuesday.
        for now, expected in (
            (monday + timedelta(days=7, hours=1), "d3-"),
            (monday + timedelta(days=8, hours=1), "d4-"),
        ):
            clock[0], before = now, len(told.told)
            store.unanswered_rows = 0
            await evaluator.run_once()
            fresh = told.told[before:]
            assert len(fresh) == 60
            assert all(a.detail["package_id"].startswith(expected) for a in fresh)
            assert store.unanswered_rows == 40 + 60
        assert len({a.key for a in told.told}) == 300  # every row, each once

        # A new evaluator (another process, a restart) goes on from the position the walk
        # stored (tests/lifecycle/test_alarm_walk.py): it reads no late row again.
        again = Recorder()
        restarted = AlarmEvaluator(
            store=store,
            settings=settings,
            agencies=lambda: [],
            clock=lambda: clock[0],
            notifier=again,
        )
        store.unanswered_rows = 0
        await restarted.run_once()
        assert again.told == []
        assert store.unanswered_rows == 40  # the listing only
