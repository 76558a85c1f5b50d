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
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.lifecycle.config import LifecycleSettings
from hub.lifecycle.machines import DOSSIER_FINAL
from hub.lifecycle.notify import Notifier
from hub.store import Store

log = logging.getLogger("hub.lifecycle.alarms")

KINDS = ("dossier_unaccepted", "dossier_overdue", "document_unanswered", "agency_silent")
"""Every alarm kind (labels of ``hub_alarms_open``)."""


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
    store: Store, settings: LifecycleSettings, agencies: Sequence[str], now: datetime
) -> list[Alarm]:
    """Every open alarm at ``now``, sorted by kind then key. ``agencies``: the enabled
    agencies that are expected to speak (silent-agency alarms)."""
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
    # Only the rows that can be late are read: a recipient that never answers (one that only
    # acknowledges, a copy's recipient) leaves every document it receives unanswered, and
    # reading all of those at every evaluation would cost time, memory and a long read
    # transaction (which holds back WAL checkpoints) in proportion to all traffic so far.
    for r in await lc.unanswered(cal.late_before(now, limit)):
        age = cal.working_days_between(r.sent_at, now)
        if age > limit:
            alarms.append(
                Alarm(
                    "document_unanswered",
                    f"document_unanswered:{r.package_id}:{r.recipient}",
                    r.recipient,
                    r.document_id,
                    r.sent_at,
                    age,
                    {"author": r.author, "package_id": r.package_id, "threshold_days": limit},
                )
            )
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


def count_by_kind(alarms: Sequence[Alarm]) -> dict[str, int]:
    """``{kind: open alarms}`` with every kind present (zeros included)."""
    counts = Counter(a.kind for a in alarms)
    return {k: counts.get(k, 0) for k in KINDS}


class AlarmEvaluator:
    """Evaluates the alarms every ``settings.evaluate_seconds``: updates the
    ``hub_alarms_open{kind}`` gauge and notifies newly opened alarms once (across processes:
    the store records which were notified; a notification that fails after its retries is
    logged, not repeated)."""

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

    async def run_once(self) -> list[Alarm]:
        """One evaluation; returns the open alarms."""
        from hub.metrics import ALARMS_NOTIFIED, ALARMS_OPEN

        now = self.clock()
        alarms = await evaluate(self.store, self.settings, self.agencies(), now)
        for kind, n in count_by_kind(alarms).items():
            ALARMS_OPEN.labels(kind=kind).set(n)
        self.last = alarms
        if self.notifier is not None and alarms:
            claimed = set(
                await self.store.lifecycle().claim_notifications(
                    [(a.key, a.kind) for a in alarms], now
                )
            )
            fresh = [a for a in alarms if a.key in claimed]
            if fresh:
                try:
                    await self.notifier.notify(fresh)
                    for a in fresh:
                        ALARMS_NOTIFIED.labels(kind=a.kind).inc()
                except Exception as exc:
                    log.warning("alarm notification failed (%d alarms): %s", len(fresh), exc)
        return alarms

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
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
