"""The figures provinces report, per agency, for a period ``[start, end)``.

Computed from the lifecycle tables (documents the hub accepted in the period, dossiers it
received in the period) with ``now`` explicit for everything "as of today" (overdue,
unaccepted, silent). Definitions (also in docs/lifecycle.md):

* ``docs_sent`` documents (any BussinessDocType) the agency sent; ``docs_received`` (document,
  recipient) pairs it received; ``signed_pct`` share of sent documents that carried a verified
  signature — 100 by construction, the hub refuses unsigned packages (refusals are counted by
  ``hub_packages_refused_total``); ``answered_in_sla_pct`` share of received documents the
  agency answered (its first code, any of 01–06/15/16) within ``ack_within_days`` working days.
* ``dossiers`` received for the agency as handling agency; ``online`` those with HinhThuc 1;
  ``by_level`` by the procedure's online service level (``?`` not catalogued);
  ``on_time_pct`` share of processed ones (9/10) processed by NgayHenTra; ``overdue`` open past
  NgayHenTra at ``now``; ``unaccepted`` still in state 1 at ``now`` (``late`` past the
  threshold), with the oldest age in working days.
* ``procedures`` / ``procedures_l34``: catalogue procedures the agency handles, and how many at
  online level 3–4. ``silent_days``: working days since its last activity — a package it sent,
  or one delivered to it or acknowledged by it (``None``: none ever); ``silent`` when that is
  more than ``silent_after_days``. A processed dossier is on time when the time its handling
  agency states for the step (NgayXuLy, else NgayTra) is not after NgayHenTra.

The table's legend (:data:`LEGEND`) repeats these definitions under every table.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from hub.lifecycle.config import LifecycleSettings
from hub.lifecycle.machines import DOSSIER_FINAL
from hub.store import Store

FINISHED = frozenset({"9", "10"})


@dataclass
class AgencyFigures:
    """One agency's line of the report."""

    agency: str
    name: str = ""
    docs_sent: int = 0
    docs_received: int = 0
    docs_signed: int = 0
    answered: int = 0
    answered_in_sla: int = 0
    dossiers: int = 0
    online: int = 0
    by_level: dict[str, int] = field(default_factory=dict)
    processed: int = 0
    on_time: int = 0
    overdue: int = 0
    overdue_max_age: int = 0
    unaccepted: int = 0
    unaccepted_late: int = 0
    unaccepted_max_age: int = 0
    procedures: int = 0
    procedures_l34: int = 0
    silent_days: int | None = None
    silent: bool = False

    @property
    def signed_pct(self) -> float | None:
        """Share of sent documents that were signed (percent)."""
        return _pct(self.docs_signed, self.docs_sent)

    @property
    def answered_in_sla_pct(self) -> float | None:
        """Share of received documents answered within the SLA (percent)."""
        return _pct(self.answered_in_sla, self.docs_received)

    @property
    def online_pct(self) -> float | None:
        """Share of dossiers received online (percent)."""
        return _pct(self.online, self.dossiers)

    @property
    def on_time_pct(self) -> float | None:
        """Share of processed dossiers processed on time (percent)."""
        return _pct(self.on_time, self.processed)

    def as_dict(self) -> dict[str, Any]:
        """JSON view, percentages included."""
        out = asdict(self)
        out.update(
            signed_pct=self.signed_pct,
            answered_in_sla_pct=self.answered_in_sla_pct,
            online_pct=self.online_pct,
            on_time_pct=self.on_time_pct,
        )
        return out


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


@dataclass(frozen=True, slots=True)
class Report:
    """The report for ``[start, end)`` as of ``now``; ``total`` sums every agency."""

    start: datetime
    end: datetime
    now: datetime
    rows: tuple[AgencyFigures, ...]
    total: AgencyFigures

    def row(self, agency: str) -> AgencyFigures | None:
        """One agency's figures."""
        return next((r for r in self.rows if r.agency == agency), None)

    def as_dict(self) -> dict[str, Any]:
        """JSON view."""
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "as_of": self.now.isoformat(),
            "agencies": [r.as_dict() for r in self.rows],
            "total": self.total.as_dict(),
        }


async def build_report(
    store: Store,
    settings: LifecycleSettings,
    agencies: Mapping[str, str],
    start: datetime,
    end: datetime,
    now: datetime,
) -> Report:
    """The figures of every agency in ``agencies`` (OrganId → name) and any other agency seen
    in the period."""
    lc, cal = store.lifecycle(), settings.calendar
    rows: dict[str, AgencyFigures] = {a: AgencyFigures(a, n) for a, n in agencies.items()}

    def row(a: str) -> AgencyFigures:
        return rows.setdefault(a, AgencyFigures(a, agencies.get(a, "")))

    sent: dict[str, set[str]] = {}
    for d in await lc.document_rows(start, end):
        sent.setdefault(d.author, set()).add(d.package_id)
        r = row(d.recipient)
        r.docs_received += 1
        if d.answered_at is not None:
            r.answered += 1
            if cal.working_days_between(d.sent_at, d.answered_at) <= settings.ack_within_days:
                r.answered_in_sla += 1
    for author, ids in sent.items():
        row(author).docs_sent += len(ids)
        row(author).docs_signed += len(ids)
    for ds in await lc.dossier_rows(start, end):
        r = row(ds.agency)
        r.dossiers += 1
        r.online += ds.online
        level = str(ds.level) if ds.level is not None else "?"
        r.by_level[level] = r.by_level.get(level, 0) + 1
        if ds.finished_at is not None:
            r.processed += 1
            if ds.due_at is None or ds.finished_at <= ds.due_at:
                r.on_time += 1
        if ds.state not in DOSSIER_FINAL and ds.due_at is not None and now > ds.due_at:
            r.overdue += 1
            r.overdue_max_age = max(r.overdue_max_age, cal.working_days_between(ds.due_at, now))
        if ds.state == "1":
            age = cal.working_days_between(ds.submitted_at, now)
            r.unaccepted += 1
            r.unaccepted_max_age = max(r.unaccepted_max_age, age)
            if age > settings.accept_threshold(ds.ma_tthc, ds.agency):
                r.unaccepted_late += 1
    for proc in settings.catalogue.procedures.values():
        r = row(proc.agency)
        r.procedures += 1
        r.procedures_l34 += proc.level >= 3
    activity = await lc.last_activity()
    for a, r in rows.items():
        last = activity.get(a)
        r.silent_days = cal.working_days_between(last, now) if last is not None else None
        r.silent = r.silent_days is None or r.silent_days > settings.silent_after_days
    ordered = tuple(sorted(rows.values(), key=lambda r: r.agency))
    return Report(start, end, now, ordered, _total(ordered))


def _total(rows: Sequence[AgencyFigures]) -> AgencyFigures:
    t = AgencyFigures("TOTAL", "")
    for r in rows:
        for name in (
            "docs_sent", "docs_received", "docs_signed", "answered", "answered_in_sla",
            "dossiers", "online", "processed", "on_time", "overdue", "unaccepted",
            "unaccepted_late", "procedures", "procedures_l34",
        ):  # fmt: skip
            setattr(t, name, getattr(t, name) + getattr(r, name))
        for k, v in r.by_level.items():
            t.by_level[k] = t.by_level.get(k, 0) + v
        t.overdue_max_age = max(t.overdue_max_age, r.overdue_max_age)
        t.unaccepted_max_age = max(t.unaccepted_max_age, r.unaccepted_max_age)
    t.silent_days = None
    t.silent = False
    t.name = f"{sum(r.silent for r in rows)} silent"
    return t


#: (heading, cell key, what it measures) — the headings say what they count; the legend
#: printed under the table says how
COLUMNS = (
    ("agency", "agency", "OrganId"),
    ("docs sent", "docs_sent", "documents the agency sent (any BussinessDocType)"),
    ("docs recv", "docs_received", "(document, recipient) pairs it received"),
    ("signed%", "signed_pct", "sent documents with a verified signature (always 100: the hub "
     "refuses unsigned ones)"),
    ("answered≤SLA%", "answered_in_sla_pct", "received documents it answered with a status "
     "package (01–06, 15, 16) within [lifecycle] ack_within_days working days"),
    ("dossiers", "dossiers", "dossiers received as the handling agency"),
    ("online", "online", "of those, submitted online (HinhThuc 1)"),
    ("online%", "online_pct", "online / dossiers"),
    ("L1/L2/L3/L4", "levels", "dossiers by the procedure's online service level"),
    ("on-time%", "on_time_pct", "processed dossiers (9, 10) whose stated processing time "
     "(NgayXuLy) is not after NgayHenTra; - when none was processed"),
    ("overdue(max d)", "overdue_cell", "open dossiers past NgayHenTra now (the oldest, in "
     "working days)"),
    ("not accepted(late,max d)", "unaccepted_cell", "dossiers still in state 1 now (past the "
     "acceptance SLA; the oldest, in working days)"),
    ("procs L3-4/all", "procs_cell", "catalogue procedures it handles at level 3–4 / in all"),
    ("inactive d", "silent_cell", "working days since it last sent, received or acknowledged "
     "a package (never: nothing yet); ! silent: more than [lifecycle] silent_after_days"),
)  # fmt: skip

LEGEND = "\n".join(f"  {heading:<25} {what}" for heading, _, what in COLUMNS[1:])


def _cells(r: AgencyFigures) -> dict[str, str]:
    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    silent = "never" if r.silent_days is None else str(r.silent_days)
    return {
        "agency": r.agency,
        "docs_sent": str(r.docs_sent),
        "docs_received": str(r.docs_received),
        "signed_pct": pct(r.signed_pct),
        "answered_in_sla_pct": pct(r.answered_in_sla_pct),
        "dossiers": str(r.dossiers),
        "online": str(r.online),
        "online_pct": pct(r.online_pct),
        "levels": "/".join(str(r.by_level.get(k, 0)) for k in "1234"),
        "on_time_pct": pct(r.on_time_pct),
        "overdue_cell": f"{r.overdue}({r.overdue_max_age})",
        "unaccepted_cell": f"{r.unaccepted}({r.unaccepted_late},{r.unaccepted_max_age})",
        "procs_cell": f"{r.procedures_l34}/{r.procedures}",
        "silent_cell": (silent + ("!" if r.silent else "")) if r.agency != "TOTAL" else r.name,
    }


def format_table(report: Report) -> str:
    """A plain-text table (fixed width, no colours: it goes into mails and notes)."""
    lines = [
        f"Report {report.start:%Y-%m-%d} – {report.end:%Y-%m-%d} (as of "
        f"{report.now:%Y-%m-%d %H:%M} UTC)"
    ]
    table = [[h for h, _, _ in COLUMNS]]
    for r in (*report.rows, report.total):
        cells = _cells(r)
        table.append([cells[k] for _, k, _ in COLUMNS])
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    for n, row in enumerate(table):
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0 or n == len(table) - 2:
            lines.append("  ".join("-" * w for w in widths))
    t = report.total
    lines.append(
        f"{t.docs_sent:,} documents sent and {t.docs_received:,} received; "
        f"{t.online:,} of {t.dossiers:,} dossiers online; "
        f"{t.procedures_l34:,} of {t.procedures:,} procedures at level 3–4; "
        f"{t.overdue} overdue, {t.unaccepted} not accepted ({t.unaccepted_late} late); {t.name}."
    )
    lines += ["", "Columns:", LEGEND]
    return "\n".join(lines)


def format_csv(report: Report) -> str:
    """One CSV line per agency plus TOTAL, every figure in its own column."""
    out = io.StringIO()
    rows = [r.as_dict() for r in (*report.rows, report.total)]
    for r in rows:
        by_level = r.pop("by_level")
        for k in ("1", "2", "3", "4", "?"):
            r[f"level_{k}"] = by_level.get(k, 0)
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def format_json(report: Report) -> str:
    """The JSON view, indented."""
    return json.dumps(report.as_dict(), ensure_ascii=False, indent=2)
