"""The alarms' walk over late documents goes on where it stopped, across restarts and
processes (migration 0016), on every backend.

Before, the position lived in the evaluator only: the first evaluation after every start read
every late row again (7.5–13 s at 190,000 late rows on SQLite) for the claims to filter. These
tests count the rows the walk reads (pages of :data:`NOTIFY_PAGE` rows; the listing reads with
another limit) and what is notified: a new evaluator on the same data reads nothing it walked
before and notifies what became late since; another process continues from the stored position;
changed lateness settings walk once from the start; a page whose claims failed is read again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.audit.chain import AuditChain
from hub.errors import Unavailable
from hub.lifecycle import alarms as alarms_module
from hub.lifecycle.alarms import WALK, Alarm, AlarmEvaluator, walk_settings
from hub.lifecycle.calendar import VN_TZ
from hub.lifecycle.config import LifecycleSettings
from hub.store.abc import Store
from hub.store.facets import LifecycleStore
from hub.store.memory import MemoryStore
from hub.store.memory.backing import MemoryBacking
from hub.store.memory.lifecycle import MemoryLifecycle
from hub.store.postgres import PostgresStore
from hub.store.postgres.lifecycle import PostgresLifecycle
from hub.store.records import DocState, LifecycleChange
from hub.store.sqlite import SqliteStore
from hub.store.sqlite.lifecycle import SqliteLifecycle
from tests.lifecycle.test_alarm_reads import CALENDAR, Recorder
from tests.store.pg_fixtures import pg_dsn, pg_schema  # noqa: F401  (fixtures)

AUTHOR, B, C = "000.00.00.G22", "000.00.00.H41", "000.00.00.H29"
PAGE = 7
LISTED = 3
PER_DAY = 10  # documents a day, each to B and C: 20 rows
#: Monday 2 March 2026, 09:00 in Việt Nam; documents are sent Monday to Friday
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=VN_TZ)
FRIDAY_10 = MONDAY + timedelta(days=4, hours=1)  # Mon–Wed late (ack_within_days = 1)
NEXT_MONDAY_10 = MONDAY + timedelta(days=7, hours=1)  # Thursday's late too
SETTINGS = LifecycleSettings(calendar=CALENDAR, ack_within_days=1)


@dataclass
class Backend:
    """How to open (again) one store over the test's data, and its lifecycle facet's class."""

    open: Callable[[], Store]
    facet: type[LifecycleStore]


@pytest.fixture(params=["sqlite", "postgresql", "memory"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        path = tmp_path / "hub.sqlite"
        return Backend(lambda: SqliteStore(path, chainer=AuditChain()), SqliteLifecycle)
    if request.param == "postgresql":
        dsn, schema = request.getfixturevalue("pg_dsn"), request.getfixturevalue("pg_schema")
        return Backend(
            lambda: PostgresStore(dsn, schema=schema, max_size=2, chainer=AuditChain()),
            PostgresLifecycle,
        )
    backing = MemoryBacking()
    return Backend(lambda: MemoryStore(backing, chainer=AuditChain()), MemoryLifecycle)


class Spy:
    """Counts the rows the walk reads (calls with the walk's page size) on every store of the
    backend, and can make the walk's claims fail (a crash before their commit)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, facet: type[LifecycleStore]) -> None:
        self.walked = 0
        self.fail_claims_after: int | None = None
        self._claims = 0
        read, claim = facet.unanswered, facet.claim_notifications
        spy = self

        async def unanswered(
            lc: LifecycleStore, sent_before: datetime, **page: Any
        ) -> Sequence[DocState]:
            rows = await read(lc, sent_before, **page)
            if page.get("limit") == PAGE:
                spy.walked += len(rows)
            return rows

        async def claim_notifications(
            lc: LifecycleStore, keys: Sequence[tuple[str, str]], at: datetime, **kw: Any
        ) -> Sequence[str]:
            if kw.get("walk") is not None:
                spy._claims += 1
                if spy.fail_claims_after is not None and spy._claims > spy.fail_claims_after:
                    raise Unavailable("the store went away before the claims committed")
            return await claim(lc, keys, at, **kw)

        monkeypatch.setattr(facet, "unanswered", unanswered)
        monkeypatch.setattr(facet, "claim_notifications", claim_notifications)

    def take(self) -> int:
        """Rows walked since the last call."""
        n, self.walked = self.walked, 0
        return n


@pytest.fixture
def spy(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Iterator[Spy]:
    monkeypatch.setattr(alarms_module, "NOTIFY_PAGE", PAGE)
    monkeypatch.setattr(alarms_module, "LISTED_UNANSWERED", LISTED)
    yield Spy(monkeypatch, backend.facet)


def _sent(package: str, at: datetime) -> LifecycleChange:
    docs = tuple(
        DocState(AUTHOR, f"{package}/CV", r, package, 0, None, "none", at, None, at) for r in (B, C)
    )
    return LifecycleChange(sha256=package, at=at, new_docs=docs)


async def _a_week_of_documents(backend: Backend) -> None:
    """Monday to Friday, :data:`PER_DAY` documents a day to B and C, none ever answered."""
    async with backend.open() as store:
        lc = store.lifecycle()
        for day in range(5):
            for i in range(PER_DAY):
                await lc.apply(_sent(f"d{day}-{i:02d}", MONDAY + timedelta(days=day, minutes=i)))


def _evaluator(
    store: Store, now: datetime, told: Recorder, settings: LifecycleSettings = SETTINGS
) -> AlarmEvaluator:
    return AlarmEvaluator(
        store=store, settings=settings, agencies=lambda: [], clock=lambda: now, notifier=told
    )


def _days(alarms: Sequence[Alarm]) -> set[str]:
    """The days (``d0`` Monday …) of the documents whose alarms were notified."""
    return {a.detail["package_id"].split("-")[0] for a in alarms}


async def test_a_restarted_hub_goes_on_where_the_walk_stopped(backend: Backend, spy: Spy) -> None:
    await _a_week_of_documents(backend)
    told = Recorder()
    async with backend.open() as store:
        await _evaluator(store, FRIDAY_10, told).run_once()
    assert spy.take() == len(told.told) == 3 * 2 * PER_DAY  # Monday to Wednesday
    assert _days(told.told) == {"d0", "d1", "d2"}

    # A restart a minute later (a new store, a new evaluator): nothing is read again.
    async with backend.open() as store:
        await _evaluator(store, FRIDAY_10 + timedelta(minutes=1), told).run_once()
        mark = await store.lifecycle().walk_mark(WALK)
    assert spy.take() == 0
    assert len(told.told) == 60
    assert mark is not None and mark.settings == walk_settings(SETTINGS)
    assert mark.position[0] == MONDAY + timedelta(days=2, minutes=PER_DAY - 1)

    # Restarted again after the weekend: only Thursday's rows, which became late since.
    async with backend.open() as store:
        await _evaluator(store, NEXT_MONDAY_10, told).run_once()
    assert spy.take() == 2 * PER_DAY
    assert _days(told.told[60:]) == {"d3"}
    assert len({a.key for a in told.told}) == len(told.told) == 80


async def test_another_process_goes_on_from_the_stored_position(backend: Backend, spy: Spy) -> None:
    """Two workers, each with its evaluator on its own store: whichever runs first walks the
    rows that became late; the other reads none of them, and neither moves the position back."""
    await _a_week_of_documents(backend)
    told_a, told_b = Recorder(), Recorder()
    clock = [FRIDAY_10]
    async with backend.open() as a, backend.open() as b:
        worker_a = AlarmEvaluator(
            store=a, settings=SETTINGS, agencies=list, clock=lambda: clock[0], notifier=told_a
        )
        worker_b = AlarmEvaluator(
            store=b, settings=SETTINGS, agencies=list, clock=lambda: clock[0], notifier=told_b
        )
        await worker_a.run_once()
        assert spy.take() == len(told_a.told) == 60
        await worker_b.run_once()
        assert spy.take() == 0 and told_b.told == []
        # After the weekend the second worker happens to run first.
        clock[0] = NEXT_MONDAY_10
        await worker_b.run_once()
        assert spy.take() == len(told_b.told) == 20
        await worker_a.run_once()
        assert spy.take() == 0 and len(told_a.told) == 60
        mark = await a.lifecycle().walk_mark(WALK)
    assert mark is not None and mark.position[0] == MONDAY + timedelta(days=3, minutes=9)


async def test_changed_lateness_settings_walk_once_from_the_start(
    backend: Backend, spy: Spy
) -> None:
    """A position stored under other ``ack_within_days`` or another calendar is not continued:
    the walk starts from the first late row, once (the claims let nothing through twice), and
    goes on from its new position after that."""
    await _a_week_of_documents(backend)
    told = Recorder()
    later = replace(SETTINGS, ack_within_days=2)
    # Friday 6 March declared a holiday afterwards.
    holiday = replace(
        SETTINGS,
        calendar=replace(CALENDAR, holidays=CALENDAR.holidays | {date(2026, 3, 6)}),
    )
    assert len({walk_settings(s) for s in (SETTINGS, later, holiday)}) == 3
    assert walk_settings(replace(SETTINGS, silent_after_days=9)) == walk_settings(SETTINGS)
    async with backend.open() as store:
        await _evaluator(store, NEXT_MONDAY_10, told).run_once()
    assert spy.take() == len(told.told) == 80  # Monday to Thursday

    for settings, late_rows in ((later, 60), (holiday, 60)):
        # Monday 10:00 with two days, or with Friday off: Monday to Wednesday are late.
        async with backend.open() as store:
            await _evaluator(store, NEXT_MONDAY_10, told, settings).run_once()
            mark = await store.lifecycle().walk_mark(WALK)
        assert spy.take() == late_rows, settings
        assert len(told.told) == 80  # every one was notified already
        assert mark is not None and mark.settings == walk_settings(settings)
        async with backend.open() as store:  # restarted under the same settings: nothing again
            await _evaluator(store, NEXT_MONDAY_10, told, settings).run_once()
        assert spy.take() == 0


async def test_a_page_whose_claims_failed_is_walked_again(backend: Backend, spy: Spy) -> None:
    """The store fails while the second page's claims (and its position) are written: the
    next start reads from that page on — none of the first page again, none skipped."""
    await _a_week_of_documents(backend)
    told = Recorder()
    spy.fail_claims_after = 1
    async with backend.open() as store:
        with pytest.raises(Unavailable):
            await _evaluator(store, FRIDAY_10, told).run_once()
    assert spy.take() == 2 * PAGE and len(told.told) == PAGE
    spy.fail_claims_after = None
    async with backend.open() as store:
        await _evaluator(store, FRIDAY_10 + timedelta(minutes=1), told).run_once()
    assert spy.take() == 60 - PAGE
    assert len({a.key for a in told.told}) == len(told.told) == 60


async def test_a_document_committed_after_a_later_one_is_still_walked(
    backend: Backend, spy: Spy
) -> None:
    """``ack_within_days = 0``: a document is late from the next local midnight, so the late
    bound is that midnight. One accepted just before it may commit after one accepted later
    (a batch, a slower transaction, another host's clock): the walk stays
    :data:`WALK_SETTLE` behind ``now``, so its stored position never passes it first."""
    settings = replace(SETTINGS, ack_within_days=0)
    midnight = datetime(2026, 3, 3, tzinfo=VN_TZ)  # Tuesday, a working day
    told = Recorder()
    clock = [midnight + timedelta(seconds=30)]
    async with backend.open() as store:
        lc = store.lifecycle()
        await lc.apply(_sent("early", midnight - timedelta(hours=1)))
        await lc.apply(_sent("second", midnight - timedelta(seconds=2)))
        evaluator = AlarmEvaluator(
            store=store, settings=settings, agencies=list, clock=lambda: clock[0], notifier=told
        )
        await evaluator.run_once()
        assert {a.detail["package_id"] for a in told.told} == {"early"}
        # Accepted before "second", committed after the walk ran.
        await lc.apply(_sent("first", midnight - timedelta(seconds=5)))
        clock[0] = midnight + alarms_module.WALK_SETTLE + timedelta(minutes=1)
        await evaluator.run_once()
    assert [a.detail["package_id"] for a in told.told] == [
        "early",
        "early",
        "first",
        "first",
        "second",
        "second",
    ]
    assert len({a.key for a in told.told}) == 6
    assert spy.take() == 6
