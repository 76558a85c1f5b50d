"""Working days: weekends and Vietnamese public holidays, as configuration.

Legal time limits for procedures are counted in working days (ngày làm việc); the SLA alarms
count the same way. Holidays (Tết, Hùng Kings, 30/4, 1/5, 2/9 and the announced compensatory
days off) change every year by decision, so they live in ``config/holidays.toml``, never here;
so do make-up working Saturdays.

Days are taken in Việt Nam local time (Asia/Ho_Chi_Minh).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hub.config_schema import check_file
from hub.errors import ConfigError

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass(frozen=True, slots=True)
class WorkCalendar:
    """Which days are working days. ``weekend``: ISO weekdays off (6 Saturday, 7 Sunday)."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()  # make-up working days that fall on a weekend
    weekend: frozenset[int] = field(default_factory=lambda: frozenset({6, 7}))

    def is_working_day(self, day: date) -> bool:
        """A weekday that is not a holiday, or a declared make-up working day."""
        if day in self.workdays:
            return True
        return day.isoweekday() not in self.weekend and day not in self.holidays

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Whole working days elapsed from ``start`` to ``end``: the working days after
        ``start``'s local date up to and including ``end``'s local date (0 if ``end`` is on
        the same day or earlier). Submitted Friday, Monday counts 1."""
        first = start.astimezone(VN_TZ).date()
        last = end.astimezone(VN_TZ).date()
        count = 0
        day = first + timedelta(days=1)
        while day <= last:
            if self.is_working_day(day):
                count += 1
            day += timedelta(days=1)
        return count

    def late_before(self, end: datetime, days: int) -> datetime:
        """The instant before which ``start`` must lie for ``working_days_between(start, end)``
        to exceed ``days``: the local midnight ``days`` calendar days before ``end``'s local
        date (working days never outnumber calendar days, and a day counts from ``start``'s
        local date). Whatever started at or after it cannot be over ``days`` yet, so a periodic
        check need not read it."""
        first = end.astimezone(VN_TZ).date() - timedelta(days=max(days, 0))
        return datetime(first.year, first.month, first.day, tzinfo=VN_TZ)

    def late_from(self, end: datetime, days: int) -> datetime:
        """The exact bound: ``working_days_between(start, end) > days`` holds for every
        ``start`` before the returned local midnight and for none at or after it (the count
        depends only on ``start``'s local date, and is larger for an earlier date). Found from
        :meth:`late_before` by stepping back over the dates that are not late yet (weekends,
        holidays): a row sent before it is late, so a check that remembers the previous bound
        reads each late row exactly once."""
        bound = self.late_before(end, days)
        day = bound.date()
        for _ in range(3660):  # a decade without a working day would be a calendar error
            prev = day - timedelta(days=1)
            if self.working_days_between(datetime.combine(prev, time(), VN_TZ), end) > days:
                return datetime(day.year, day.month, day.day, tzinfo=VN_TZ)
            day = prev
        raise ConfigError("the working calendar has no working day in ten years")

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The local end of the ``days``-th working day after ``start`` (a deadline)."""
        day = start.astimezone(VN_TZ).date()
        remaining = days
        while remaining > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=VN_TZ)


def _dates(values: Iterable[object], where: str) -> frozenset[date]:
    out: set[date] = set()
    for v in values:
        if isinstance(v, date) and not isinstance(v, datetime):
            out.add(v)
        elif isinstance(v, str):
            try:
                out.add(date.fromisoformat(v))
            except ValueError as exc:
                raise ConfigError(f"{where}: {v!r} is not a date (YYYY-MM-DD)") from exc
        else:
            raise ConfigError(f"{where}: {v!r} is not a date (YYYY-MM-DD)")
    return frozenset(out)


def load_calendar(path: Path) -> WorkCalendar:
    """``holidays.toml``: ``holidays = [dates]``, optional ``workdays = [dates]`` (make-up
    Saturdays) and ``weekend = [6, 7]``; ``[[holiday]] date/name`` tables are accepted too. A
    missing file gives a calendar with weekends only."""
    if not path.exists():
        return WorkCalendar()
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    check_file("holidays.toml", raw, path)  # unknown keys, wrong types: refused with the key path
    named = [h.get("date") for h in raw.get("holiday", []) if isinstance(h, dict)]
    holidays = _dates([*raw.get("holidays", []), *named], f"{path} holidays")
    workdays = _dates(raw.get("workdays", []), f"{path} workdays")
    weekend = raw.get("weekend", [6, 7])
    if not isinstance(weekend, list) or not all(
        isinstance(d, int) and 1 <= d <= 7 for d in weekend
    ):
        raise ConfigError(f"{path}: weekend must be ISO weekdays 1..7")
    return WorkCalendar(holidays=holidays, workdays=workdays, weekend=frozenset(weekend))


def parse_day(text: str) -> datetime:
    """``YYYY-MM-DD`` (midnight, Việt Nam time) or a full ISO datetime, as aware UTC.

    ``ValueError`` for anything else (the CLI and the API turn it into their own refusal)."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), VN_TZ).astimezone(UTC)
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or ISO time") from exc
    return (value if value.tzinfo else value.replace(tzinfo=VN_TZ)).astimezone(UTC)
