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

from hub.audit.chain import AuditChain
from hub.lifecycle.alarms import evaluate
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


class CountingStore(SqliteStore):
    """The real SQLite store; it counts the unanswered rows its lifecycle facet returns."""

    unanswered_rows = 0

    def lifecycle(self) -> LifecycleStore:
        facet = super().lifecycle()
        read = facet.unanswered

        async def unanswered(sent_before: datetime) -> Sequence[DocState]:
            rows = await read(sent_before)
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
