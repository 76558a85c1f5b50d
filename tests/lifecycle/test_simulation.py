"""Four simulated months of a province: thousands of documents and dossiers, generated
deterministically, through the lifecycle step and a real SQLite store on a manual clock.

The expected alarms and report figures are computed here from the generated plan alone (its
own working-day count, its own notion of who answered when), never from the hub's queries,
then compared with :func:`hub.lifecycle.alarms.evaluate` and
:func:`hub.lifecycle.reports.build_report` at the end of every month.
"""

from __future__ import annotations

import heapq
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hub.audit.chain import AuditChain
from hub.lifecycle.alarms import evaluate
from hub.lifecycle.calendar import WorkCalendar
from hub.lifecycle.config import LifecycleSettings
from hub.lifecycle.engine import Lifecycle
from hub.lifecycle.procedures import Catalogue, Procedure
from hub.lifecycle.reports import build_report
from hub.store.sqlite import SqliteStore
from tests.lifecycle.sim import ManualClock, Pipeline, document, dossier, progress, status

VN = ZoneInfo("Asia/Ho_Chi_Minh")
HOLIDAYS = {date(2026, 4, 27), date(2026, 4, 30), date(2026, 5, 1)}
AGENCIES = [f"000.00.{i:02d}.H41" for i in range(1, 9)]  # the last one never speaks
SILENT = AGENCIES[-1]
QUIET = AGENCIES[-2]  # stops sending after the second month
PROCS = {
    f"1.00{n}.000.00.00.H41": (AGENCIES[n % 4], level, limit)
    for n, (level, limit) in enumerate([(2, 5), (3, 3), (4, 10), (3, 7), (4, 5), (2, 15)])
}
ACK_DAYS, ACCEPT_DAYS, SILENT_DAYS = 2, 1, 5
START = datetime(2026, 3, 2, tzinfo=VN)  # a Monday
MONTHS = [datetime(2026, m, 1, tzinfo=VN) for m in (4, 5, 6, 7)]


def working(day: date) -> bool:
    return day.isoweekday() < 6 and day not in HOLIDAYS


def wd(a: datetime, b: datetime) -> int:
    """Working days after a's local date up to b's local date (the test's own count)."""
    d, last = a.astimezone(VN).date(), b.astimezone(VN).date()
    return sum(1 for k in range(1, (last - d).days + 1) if working(d + timedelta(days=k)))


def add_wd(a: datetime, n: int) -> datetime:
    d = a.astimezone(VN).date()
    while n:
        d += timedelta(days=1)
        n -= working(d)
    return datetime(d.year, d.month, d.day, 17, 0, tzinfo=VN)


@dataclass
class Doc:
    author: str
    document_id: str
    sent: datetime
    answers: dict[str, datetime | None]  # recipient → first answer (None: never)


@dataclass
class Dos:
    ma: str
    tthc: str
    agency: str
    online: bool
    submitted: datetime
    due: datetime
    accepted: datetime | None
    finished: datetime | None


@dataclass
class Plan:
    events: list[tuple[datetime, int, str, tuple[object, ...]]] = field(default_factory=list)
    docs: list[Doc] = field(default_factory=list)
    dossiers: list[Dos] = field(default_factory=list)
    n: int = 0

    def at(self, when: datetime, what: str, *args: object) -> None:
        self.n += 1
        heapq.heappush(self.events, (when, self.n, what, args))


def generate(seed: int = 43) -> Plan:
    rng = random.Random(seed)
    plan = Plan()
    day = START
    speakers = AGENCIES[:-1]
    while day < MONTHS[-1]:
        if working(day.date()):
            for i in range(12):
                when = day + timedelta(hours=8, minutes=rng.randrange(540))
                active = [a for a in speakers if a != QUIET or when < MONTHS[1]]
                author = rng.choice(active)
                to = tuple(rng.sample([a for a in AGENCIES if a != author], rng.choice((1, 2, 3))))
                doc = Doc(author, f"{author},{when:%Y/%m/%d},{i}-{plan.n}/CV", when, {})
                for r in to:
                    delay = rng.choice((0, 0, 1, 1, 2, 3, 5, None))
                    if r == SILENT or (r == QUIET and when >= MONTHS[1]):
                        delay = None
                    ans = None if delay is None else add_wd(when, delay) - timedelta(hours=7)
                    ans = max(ans, when + timedelta(minutes=5)) if ans else None
                    doc.answers[r] = ans
                    if ans is not None:
                        plan.at(ans, "status", r, author, doc.document_id, "01")
                        plan.at(ans + timedelta(minutes=1), "status", r, author,
                                doc.document_id, "03")  # fmt: skip
                plan.docs.append(doc)
                plan.at(when, "document", author, to, doc.document_id)
            for _ in range(20):
                when = day + timedelta(hours=8, minutes=rng.randrange(540))
                tthc = rng.choice(list(PROCS))
                agency, _, limit = PROCS[tthc]
                due = add_wd(when, limit)
                accept_after = rng.choice((0, 0, 0, 1, 1, 2, 4, None))
                accepted = None
                if accept_after is not None:
                    accepted = add_wd(when, accept_after) - timedelta(hours=6)
                    accepted = max(accepted, when + timedelta(minutes=3))
                finished = None
                if accepted is not None and rng.random() < 0.85:
                    finished = add_wd(accepted, rng.randrange(limit + 3)) - timedelta(hours=1)
                    finished = max(finished, accepted + timedelta(minutes=10))
                d = Dos(f"HS-{plan.n}", tthc, agency, rng.random() < 0.4, when, due, accepted,
                        finished)  # fmt: skip
                plan.dossiers.append(d)
                plan.at(when, "dossier", d)
                if accepted is not None:
                    plan.at(accepted, "progress", agency, d.ma, "2")
                    plan.at(accepted + timedelta(minutes=1), "progress", agency, d.ma, "4")
                if finished is not None:
                    plan.at(finished, "progress", agency, d.ma, "9")
        day += timedelta(days=1)
    return plan


def expected_alarms(plan: Plan, now: datetime) -> Counter[str]:
    out: Counter[str] = Counter()
    for d in plan.dossiers:
        if d.submitted > now:
            continue
        if (d.accepted is None or d.accepted > now) and wd(d.submitted, now) > ACCEPT_DAYS:
            out[f"dossier_unaccepted:{d.ma}"] += 1
        if (d.finished is None or d.finished > now) and now > d.due:
            out[f"dossier_overdue:{d.ma}"] += 1
    for doc in plan.docs:
        if doc.sent > now:
            continue
        for r, ans in doc.answers.items():
            if (ans is None or ans > now) and wd(doc.sent, now) > ACK_DAYS:
                out[f"document_unanswered:{doc.document_id}:{r}"] += 1
    for a in AGENCIES:
        times = [d.sent for d in plan.docs if d.author == a and d.sent <= now]
        times += [t for d in plan.docs for r, t in d.answers.items() if r == a and t and t <= now]
        times += [t for d in plan.dossiers if d.agency == a for t in (d.accepted, d.finished)
                  if t and t <= now]  # fmt: skip
        last = max(times, default=None)
        if last is None or wd(last, now) > SILENT_DAYS:
            out[f"agency_silent:{a}"] += 1
    return out


def settings() -> LifecycleSettings:
    procs = {t: Procedure(t, "TTHC", "F", lv, ag, lim) for t, (ag, lv, lim) in PROCS.items()}
    return LifecycleSettings(
        catalogue=Catalogue(procs),
        calendar=WorkCalendar(holidays=frozenset(HOLIDAYS)),
        accept_within_days=ACCEPT_DAYS,
        ack_within_days=ACK_DAYS,
        silent_after_days=SILENT_DAYS,
    )


def _key(alarm_key: str, docs_by_package: dict[str, str]) -> str:
    """The hub keys unanswered documents by package id; the plan by DocumentId."""
    if alarm_key.startswith("document_unanswered:"):
        _, package_id, recipient = alarm_key.split(":")
        return f"document_unanswered:{docs_by_package[package_id]}:{recipient}"
    if alarm_key.startswith("agency_silent:"):
        return ":".join(alarm_key.split(":")[:2])
    return alarm_key


async def test_four_months_alarms_and_figures(tmp_path: Path) -> None:
    started = time.monotonic()
    plan = generate()
    assert len(plan.docs) >= 900 and len(plan.dossiers) >= 1500  # thousands in all
    clock = ManualClock(START.astimezone(UTC))
    cfg = settings()
    docs_by_package: dict[str, str] = {}
    async with SqliteStore(
        tmp_path / "hub.sqlite", synchronous="NORMAL", chainer=AuditChain()
    ) as store:
        pipe = Pipeline(Lifecycle(cfg, store), store, clock)
        checkpoints = list(MONTHS)
        figures_checked = 0
        while plan.events or checkpoints:
            if checkpoints and (not plan.events or plan.events[0][0] >= checkpoints[0]):
                now = checkpoints.pop(0).astimezone(UTC)
                clock.now = now
                got = await evaluate(store, cfg, AGENCIES, now)
                got_keys = Counter(_key(a.key, docs_by_package) for a in got)
                want = expected_alarms(plan, now)
                assert got_keys == want, (now, sorted(set(got_keys) ^ set(want))[:10])
                by_kind = Counter(k.split(":")[0] for k in want)
                print(f"{now:%Y-%m-%d}: {dict(sorted(by_kind.items()))}")
                # Every kind fires in the simulated months: the comparison is never vacuous.
                assert len(by_kind) == 4, by_kind
                assert all(a.age_days is None or a.age_days >= 0 for a in got)
                # The report for the month just ended, against the plan.
                start = now - timedelta(days=31) if len(checkpoints) < 3 else START
                start = max(START.astimezone(UTC), start.replace(day=1))
                report = await build_report(store, cfg, {a: a for a in AGENCIES}, start, now, now)
                for a in AGENCIES:
                    row = report.row(a)
                    assert row is not None
                    sent = [d for d in plan.docs if d.author == a and start <= d.sent < now]
                    recv = [(d, d.answers[a]) for d in plan.docs
                            if a in d.answers and start <= d.sent < now]  # fmt: skip
                    dos = [d for d in plan.dossiers if d.agency == a and start <= d.submitted < now]
                    assert row.docs_sent == len(sent)
                    assert row.docs_received == len(recv)
                    in_sla = [t for d, t in recv if t and t <= now and wd(d.sent, t) <= ACK_DAYS]
                    assert row.answered_in_sla == len(in_sla)
                    assert row.dossiers == len(dos)
                    assert row.online == sum(d.online for d in dos)
                    fin = [d for d in dos if d.finished and d.finished <= now]
                    assert row.processed == len(fin)
                    assert row.on_time == sum(d.finished <= d.due for d in fin if d.finished)
                    assert row.overdue == sum(
                        1 for d in dos if not (d.finished and d.finished <= now) and now > d.due
                    )
                    assert row.unaccepted == sum(
                        1 for d in dos if not (d.accepted and d.accepted <= now)
                    )
                    levels = Counter(str(PROCS[d.tthc][1]) for d in dos)
                    assert row.by_level == dict(levels)
                    figures_checked += 1
                t = report.total
                print(f"  report {start:%Y-%m-%d}..{now:%Y-%m-%d}: sent {t.docs_sent}, received "
                      f"{t.docs_received}, ack≤SLA {t.answered_in_sla}, dossiers {t.dossiers} "
                      f"({t.online} online), processed {t.processed} ({t.on_time} on time), "
                      f"overdue {t.overdue}, unaccepted {t.unaccepted}")  # fmt: skip
                continue
            when, _, what, args = heapq.heappop(plan.events)
            clock.now = when.astimezone(UTC)
            if what == "document":
                author, to, document_id = args
                pid = await pipe.submit(document(author, to, document_id))  # type: ignore[arg-type]
                docs_by_package[pid] = document_id  # type: ignore[assignment]
            elif what == "status":
                sender, author, document_id, code = args
                await pipe.submit(status(sender, author, document_id, code))  # type: ignore[arg-type]
            elif what == "dossier":
                (d,) = args
                assert isinstance(d, Dos)
                await pipe.submit(
                    dossier("000.00.01.G22", (), d.ma, d.tthc, "1", online=d.online, due=d.due)
                )
            else:
                agency, ma, state = args
                # the department states the step's time (NgayXuLy): the simulated moment
                await pipe.submit(progress(agency, ma, state, clock()))  # type: ignore[arg-type]
        assert figures_checked == 4 * len(AGENCIES)
    # A figure, not a gate: the replay's speed depends on the machine's load.
    print(f"\nfour simulated months replayed in {time.monotonic() - started:.1f} s")
