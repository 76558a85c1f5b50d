"""SLA alarms, computed from the store for an explicit ``now`` (never kept in memory).

Four kinds (thresholds in working days of the configured calendar, see
:class:`~hub.lifecycle.config.LifecycleSettings`):

``dossier_unaccepted``  a dossier still in TrangThaiHoSo 1 more than ``accept_threshold``
                        working days after the hub received it (per procedure, agency, default);
``dossier_overdue``     a dossier not yet processed (not 3/8/9/10) after its NgayHenTra;
``document_unanswered`` a recipient has sent no code at all (01–06, 15, 16) more than
                        ``ack_within_days`` working days after the hub accepted the document;
``agency_silent``       an enabled agency sent no package (document, status, dossier) for more
                        than ``silent_after_days`` working days, or never sent one.

An alarm's ``key`` is stable while the condition lasts, so it is notified once
(:meth:`~hub.store.facets.LifecycleStore.claim_notifications`), whichever process sees it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hub.aio import cancel_and_wait
from hub.lifecycle.config import LifecycleSettings
from hub.lifecycle.machines import DOSSIER_FINAL
from hub.lifecycle.notify import Notifier
from hub.metrics import ALARMS_NOTIFIED, ALARMS_OPEN
from hub.store import Store
from hub.store.records import DocKey, DocState, WalkMark

log = logging.getLogger("hub.lifecycle.alarms")

_DOCUMENT = "document_unanswered"

KINDS = ("dossier_unaccepted", "dossier_overdue", "document_unanswered", "agency_silent")
"""Every alarm kind (labels of ``hub_alarms_open``)."""

LISTED_UNANSWERED = 1000
"""The most ``document_unanswered`` alarms the periodic evaluation lists (the oldest first):
a recipient that never answers (one that only acknowledges, a copy's recipient such as the
national portal) leaves every document it is sent late after a day, and listing all of them
every minute would cost time and memory in proportion to all its traffic so far."""

NOTIFY_PAGE = 1000
"""Late document rows read at once when the periodic evaluation notifies those that became
late since its previous run."""

WALK_SETTLE = timedelta(minutes=10)
"""How far behind ``now`` the walk stops at least. A document accepted just before the late
bound may commit after rows accepted after it (a batch, a slower transaction, another host
whose clock is slightly behind); a walk that read those and stored its position past them
would never meet it. Only ``ack_within_days = 0`` brings the bound this close to ``now`` (a
local midnight); its documents accepted in the last minutes before midnight are then notified
up to this much later."""

WALK = _DOCUMENT
"""The name of the walk over late documents in the store (:class:`~hub.store.records.WalkMark`)."""

WALK_RULE = 1
"""The version of what a stored walk position means (the order rows are walked in, which rows
are late, the alarm key claimed for each): part of :func:`walk_settings`, so a release that
changes any of those walks once from the start instead of trusting a position it did not
write."""


def walk_settings(settings: LifecycleSettings) -> str:
    """The fingerprint a walk position is stored with: :data:`WALK_RULE` and every setting
    that decides which documents are late — ``ack_within_days`` and the work calendar
    (holidays, make-up working days, weekend). A position stored under another fingerprint is
    not continued (see :class:`AlarmEvaluator`)."""
    cal = settings.calendar
    rule = {
        "rule": WALK_RULE,
        "ack_within_days": settings.ack_within_days,
        "holidays": sorted(d.isoformat() for d in cal.holidays),
        "workdays": sorted(d.isoformat() for d in cal.workdays),
        "weekend": sorted(cal.weekend),
    }
    text = json.dumps(rule, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Alarm:
    """One open alarm. ``agency`` is the agency behind it (handling agency, silent recipient,
    silent agency); ``age_days`` the working days elapsed since the reference time (``None``:
    an agency never heard from)."""

    kind: str
    key: str
    agency: str
    subject: str
    since: datetime | None
    age_days: int | None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON view (API, webhook, ``hub alarms``)."""
        return {
            "kind": self.kind,
            "key": self.key,
            "agency": self.agency,
            "subject": self.subject,
            "since": self.since.isoformat() if self.since else None,
            "age_days": self.age_days,
            "detail": self.detail,
        }


async def evaluate(
    store: Store,
    settings: LifecycleSettings,
    agencies: Sequence[str],
    now: datetime,
    *,
    unanswered_limit: int | None = None,
) -> list[Alarm]:
    """Every open alarm at ``now``, sorted by kind then key. ``agencies``: the enabled
    agencies that are expected to speak (silent-agency alarms). ``unanswered_limit``: list
    only that many ``document_unanswered`` alarms, the oldest."""
    lc, cal = store.lifecycle(), settings.calendar
    alarms: list[Alarm] = []
    for d in await lc.open_dossiers():
        if d.state == "1":
            limit = settings.accept_threshold(d.ma_tthc, d.agency)
            age = cal.working_days_between(d.submitted_at, now)
            if age > limit:
                alarms.append(
                    Alarm(
                        "dossier_unaccepted",
                        f"dossier_unaccepted:{d.ma_ho_so}",
                        d.agency,
                        d.ma_ho_so,
                        d.submitted_at,
                        age,
                        {"ma_tthc": d.ma_tthc, "threshold_days": limit, "online": d.online},
                    )
                )
        if d.state not in DOSSIER_FINAL and d.due_at is not None and now > d.due_at:
            alarms.append(
                Alarm(
                    "dossier_overdue",
                    f"dossier_overdue:{d.ma_ho_so}",
                    d.agency,
                    d.ma_ho_so,
                    d.due_at,
                    cal.working_days_between(d.due_at, now),
                    {"ma_tthc": d.ma_tthc, "state": d.state},
                )
            )
    limit = settings.ack_within_days
    # Only the rows that are late are read: a recipient that never answers (one that only
    # acknowledges, a copy's recipient) leaves every document it receives unanswered, and
    # reading all of those at every evaluation would cost time, memory and a long read
    # transaction (which holds back WAL checkpoints) in proportion to all traffic so far.
    late = await lc.unanswered(cal.late_from(now, limit), limit=unanswered_limit)
    alarms.extend(a for r in late if (a := unanswered_alarm(r, settings, now)) is not None)
    activity = await lc.last_activity()
    for agency in agencies:
        last = activity.get(agency)
        silent_for = cal.working_days_between(last, now) if last is not None else None
        if silent_for is None or silent_for > settings.silent_after_days:
            alarms.append(
                Alarm(
                    "agency_silent",
                    f"agency_silent:{agency}:{last.isoformat() if last else 'never'}",
                    agency,
                    agency,
                    last,
                    silent_for,
                    {"threshold_days": settings.silent_after_days},
                )
            )
    alarms.sort(key=lambda a: (KINDS.index(a.kind), a.key))
    return alarms


def unanswered_alarm(row: DocState, settings: LifecycleSettings, now: datetime) -> Alarm | None:
    """The ``document_unanswered`` alarm of an unanswered row, if it is late at ``now``."""
    limit = settings.ack_within_days
    age = settings.calendar.working_days_between(row.sent_at, now)
    if age <= limit:
        return None
    return Alarm(
        "document_unanswered",
        f"document_unanswered:{row.package_id}:{row.recipient}",
        row.recipient,
        row.document_id,
        row.sent_at,
        age,
        {"author": row.author, "package_id": row.package_id, "threshold_days": limit},
    )


def count_by_kind(alarms: Sequence[Alarm]) -> dict[str, int]:
    """``{kind: open alarms}`` with every kind present (zeros included)."""
    counts = Counter(a.kind for a in alarms)
    return {k: counts.get(k, 0) for k in KINDS}


class AlarmEvaluator:
    """Evaluates the alarms every ``settings.evaluate_seconds``: updates the
    ``hub_alarms_open{kind}`` gauge and notifies newly opened alarms once (across processes:
    the store records which were notified; a notification that fails after its retries is
    logged, not repeated).

    What one evaluation reads stays bounded however many documents are late: it lists the
    oldest :data:`LISTED_UNANSWERED` late documents (so the gauge and :attr:`last` count at
    most that many ``document_unanswered`` alarms), and it notifies late documents by walking
    them in sending order from where the walk last stopped — a document, once late, stays
    late until answered, and :meth:`WorkCalendar.late_from` is exact, so every late row is
    met once: each run walks only the rows that became late since (none most minutes; a
    day's worth after each local midnight), a page at a time.

    Where the walk stopped is kept in the store (:meth:`LifecycleStore.walk_mark`), so a
    restarted hub, and every other process of the installation, goes on from there instead
    of walking every late row again. Each page's position is stored in the transaction that
    claims the page's notifications (:meth:`LifecycleStore.claim_notifications`): a crash
    leaves both or neither, so a position never passes a row whose alarm was not claimed (at
    worst a page is read again, and the claims let none of it through twice). The stored
    position only moves forward, so of two processes walking at once the one behind does not
    move it back; each also keeps its own position and goes on from the later of the two.

    A position is continued only under the settings it was walked under
    (:func:`walk_settings`: ``ack_within_days``, the work calendar, :data:`WALK_RULE`);
    otherwise the walk starts from the first late row again, once, and stores its position
    under the new fingerprint. Under today's rule a change could not make the walk miss a row
    — lateness is a prefix of sending order under any settings, every row before a stored
    position had its alarm claimed, and the alarm key does not depend on the settings, so a
    row that becomes late under new settings is either after the position or was notified
    already — but that argument rests on those three facts, and the one full walk after a
    change (seconds at 190,000 late rows, in the background) keeps the position from resting
    on them. While processes with different settings run side by side (a rolling change),
    each goes on from its own position and the stored one follows whichever wrote last."""

    def __init__(
        self,
        *,
        store: Store,
        settings: LifecycleSettings,
        agencies: Callable[[], Sequence[str]],
        clock: Callable[[], datetime],
        notifier: Notifier | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.agencies = agencies
        self.clock = clock
        self.notifier = notifier
        self.last: list[Alarm] = []
        self._task: asyncio.Task[None] | None = None
        #: the last late document row this evaluator claimed the alarm of (the walk goes on
        #: after it, or after the stored position when that is later under the same settings)
        self._walked: DocKey | None = None
        self._walk_settings = walk_settings(settings)

    async def run_once(self) -> list[Alarm]:
        """One evaluation; returns the open alarms (at most :data:`LISTED_UNANSWERED` of the
        late documents)."""
        now = self.clock()
        alarms = await evaluate(
            self.store,
            self.settings,
            self.agencies(),
            now,
            unanswered_limit=LISTED_UNANSWERED,
        )
        for kind, n in count_by_kind(alarms).items():
            ALARMS_OPEN.labels(kind=kind).set(n)
        self.last = alarms
        if self.notifier is not None:
            await self._notify(self.notifier, [a for a in alarms if a.kind != _DOCUMENT], now)
            await self._notify_late_documents(self.notifier, now)
        return alarms

    async def _notify_late_documents(self, notifier: Notifier, now: datetime) -> None:
        """Claim and notify the late document rows after the last one walked (by this
        evaluator or, under the same settings, by any process: the stored position), a page
        at a time, up to the rows that are late at ``now`` (and accepted
        :data:`WALK_SETTLE` before it); each page's position is stored with its claims."""
        lc = self.store.lifecycle()
        late_from = self.settings.calendar.late_from(now, self.settings.ack_within_days)
        late_from = min(late_from, now - WALK_SETTLE)
        walked = self._walked
        mark = await lc.walk_mark(WALK)
        if (
            mark is not None
            and mark.settings == self._walk_settings
            and (walked is None or mark.position > walked)
        ):
            walked = mark.position
        while True:
            rows = await lc.unanswered(late_from, after=walked, limit=NOTIFY_PAGE)
            if not rows:
                return
            page = [a for r in rows if (a := unanswered_alarm(r, self.settings, now)) is not None]
            walked = rows[-1].key
            await self._notify(notifier, page, now, WalkMark(WALK, self._walk_settings, walked))
            self._walked = walked
            if len(rows) < NOTIFY_PAGE:
                return

    async def _notify(
        self,
        notifier: Notifier,
        alarms: Sequence[Alarm],
        now: datetime,
        walk: WalkMark | None = None,
    ) -> None:
        if not alarms and walk is None:
            return
        claimed = set(
            await self.store.lifecycle().claim_notifications(
                [(a.key, a.kind) for a in alarms], now, walk=walk
            )
        )
        fresh = [a for a in alarms if a.key in claimed]
        if fresh:
            try:
                await notifier.notify(fresh)
                for a in fresh:
                    ALARMS_NOTIFIED.labels(kind=a.kind).inc()
            except Exception as exc:
                log.warning("alarm notification failed (%d alarms): %s", len(fresh), exc)

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception as exc:
                log.warning("alarm evaluation failed: %s", exc)
            await asyncio.sleep(self.settings.evaluate_seconds)

    async def __aenter__(self) -> AlarmEvaluator:
        self._task = asyncio.create_task(self._loop(), name="hub-alarms")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
