"""Lifecycle SQL for :class:`~hub.store.sqlite.SqliteStore` (tables of migrations 0003, 0008).

The statements are written once with ``?`` placeholders; :mod:`hub.store.postgres.lifecycle`
runs the same text with ``%s``. Each function takes an open connection and runs on the store's
writer or reader thread; :func:`apply` runs inside the writer's ``BEGIN IMMEDIATE``.

Concurrency: every move is a compare-and-set (``UPDATE … WHERE state = <expected> AND codes =
<expected>`` for documents, ``… WHERE state = <expected>`` for dossiers, or an ``INSERT`` that
must not find the row), so of two packages moving the same document or dossier from the same
state only one applies; the other gets ``lifecycle.illegal_transition``. Two ``05`` (the one
code that may repeat) from the same state both apply: neither changes what the other expects.
"""

# SQL text is module constants only; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from hub.errors import IllegalTransition
from hub.lifecycle.models import DocMove, DocState, DossierState, LifecycleChange, Transition
from hub.lifecycle.store import LifecycleStore
from hub.sqlitedb import SqliteConnection, from_db_time, to_db_time

DOC_COLUMNS = (
    "author, document_id, recipient, package_id, business_doc_type, original_id, state, "
    "sent_at, answered_at, updated_at, prior_state, codes"
)
DOSSIER_COLUMNS = (
    "ma_ho_so, ma_tthc, agency, submitter, online, level, state, submitted_at, accepted_at, "
    "due_at, finished_at, updated_at, package_id"
)
TRANSITION_COLUMNS = "subject, key, party, from_state, to_state, package_id, sha256, at, actor, seq"

Q_APPLIED = "SELECT 1 FROM lc_transitions WHERE sha256 = ? LIMIT 1"
Q_DOCS_BY_ID = (
    f"SELECT {DOC_COLUMNS} FROM lc_documents WHERE document_id = ? ORDER BY sent_at, recipient"
)
Q_DOSSIER = f"SELECT {DOSSIER_COLUMNS} FROM lc_dossiers WHERE ma_ho_so = ?"
Q_INSERT_DOC = (
    f"INSERT INTO lc_documents ({DOC_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (package_id, recipient) DO NOTHING"
)
Q_MOVE_DOC = (
    "UPDATE lc_documents SET state = ?, prior_state = ?, codes = ?, updated_at = ?, "
    "answered_at = CASE WHEN ? AND answered_at IS NULL THEN ? ELSE answered_at END "
    "WHERE package_id = ? AND recipient = ? AND state = ? AND codes = ?"
)
Q_INSERT_DOSSIER = (
    f"INSERT INTO lc_dossiers ({DOSSIER_COLUMNS}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ma_ho_so) DO NOTHING"
)
Q_MOVE_DOSSIER = (
    "UPDATE lc_dossiers SET state = ?, accepted_at = ?, due_at = ?, finished_at = ?, "
    "updated_at = ? WHERE ma_ho_so = ? AND state = ?"
)
Q_INSERT_TRANSITION = (
    "INSERT INTO lc_transitions (subject, key, party, from_state, to_state, package_id, "
    "sha256, at, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
Q_TRANSITIONS_BY_KEY = f"SELECT {TRANSITION_COLUMNS} FROM lc_transitions WHERE key = ? ORDER BY seq"
Q_TRANSITIONS_BY_SHA = (
    f"SELECT {TRANSITION_COLUMNS} FROM lc_transitions WHERE sha256 = ? ORDER BY seq"
)
Q_DOCS_SENT = (
    f"SELECT {DOC_COLUMNS} FROM lc_documents WHERE sent_at >= ? AND sent_at < ? "
    "ORDER BY sent_at, package_id, recipient"
)
Q_UNANSWERED = (
    f"SELECT {DOC_COLUMNS} FROM lc_documents WHERE answered_at IS NULL AND sent_at < ? "
    "ORDER BY sent_at, package_id, recipient"
)
Q_DOSSIERS_SUBMITTED = (
    f"SELECT {DOSSIER_COLUMNS} FROM lc_dossiers WHERE submitted_at >= ? AND submitted_at < ? "
    "ORDER BY submitted_at, ma_ho_so"
)
Q_OPEN_DOSSIERS = (
    f"SELECT {DOSSIER_COLUMNS} FROM lc_dossiers WHERE state NOT IN ('3', '8', '9', '10') "
    "ORDER BY submitted_at, ma_ho_so"
)
# An agency is active when it sends, and also when it receives: a package delivered to it
# (fetched from its inbox or pushed to it) or acknowledged by it. A system that only receives
# (the national portal's copies) is not "silent" while it takes and acknowledges packages.
Q_LAST_ACTIVITY = (
    "SELECT agency, MAX(at) FROM ("
    " SELECT sender AS agency, accepted_at AS at FROM packages"
    " UNION ALL SELECT recipient, acked_at FROM deliveries WHERE acked_at IS NOT NULL"
    " UNION ALL SELECT recipient, updated_at FROM deliveries"
    "  WHERE state IN ('delivered', 'acked')"
    ") AS activity GROUP BY agency"
)
Q_CLAIM = (
    "INSERT INTO lc_notified (alarm_key, kind, notified_at) VALUES (?, ?, ?) "
    "ON CONFLICT (alarm_key) DO NOTHING RETURNING alarm_key"
)

TimeIn = Callable[[datetime], Any]
TimeOut = Callable[[Any], datetime]


def doc_row(d: DocState, t: TimeIn) -> tuple[Any, ...]:
    """Parameters of :data:`Q_INSERT_DOC`."""
    return (
        d.author,
        d.document_id,
        d.recipient,
        d.package_id,
        d.business_doc_type,
        d.original_id,
        d.state,
        t(d.sent_at),
        t(d.answered_at) if d.answered_at else None,
        t(d.updated_at),
        d.prior_state,
        join_codes(d.codes),
    )


def join_codes(codes: Sequence[str]) -> str:
    """The ``codes`` column: the codes in the order first sent, comma-separated."""
    return ",".join(codes)


def split_codes(text: str | None) -> tuple[str, ...]:
    """The inverse of :func:`join_codes`."""
    return tuple(c for c in (text or "").split(",") if c)


def move_doc_params(m: DocMove, at: Any) -> tuple[Any, ...]:
    """Parameters of :data:`Q_MOVE_DOC` (``at``: the acceptance time, already converted)."""
    return (
        m.to,
        m.prior,
        join_codes(m.new_codes),
        at,
        m.answered,
        at,
        m.package_id,
        m.recipient,
        m.expect,
        join_codes(m.expect_codes),
    )


def doc_state(row: Sequence[Any], t: TimeOut) -> DocState:
    """A :class:`DocState` from a ``DOC_COLUMNS`` row."""
    (author, doc_id, recipient, package_id, bdt, original, state, sent, answered, updated,
     prior, codes) = row  # fmt: skip
    return DocState(
        author=author,
        document_id=doc_id,
        recipient=recipient,
        package_id=package_id,
        business_doc_type=int(bdt),
        original_id=original,
        state=state,
        sent_at=t(sent),
        answered_at=t(answered) if answered is not None else None,
        updated_at=t(updated),
        prior_state=prior,
        codes=split_codes(codes),
    )


def dossier_row(d: DossierState, t: TimeIn) -> tuple[Any, ...]:
    """Parameters of :data:`Q_INSERT_DOSSIER`."""

    def opt(v: datetime | None) -> Any:
        return t(v) if v is not None else None

    return (
        d.ma_ho_so,
        d.ma_tthc,
        d.agency,
        d.submitter,
        d.online,
        d.level,
        d.state,
        t(d.submitted_at),
        opt(d.accepted_at),
        opt(d.due_at),
        opt(d.finished_at),
        t(d.updated_at),
        d.package_id,
    )


def dossier_state(row: Sequence[Any], t: TimeOut) -> DossierState:
    """A :class:`DossierState` from a ``DOSSIER_COLUMNS`` row."""
    (ma, tthc, agency, submitter, online, level, state, sub, acc, due, fin, upd, pkg) = row

    def opt(v: Any) -> datetime | None:
        return t(v) if v is not None else None

    return DossierState(
        ma_ho_so=ma,
        ma_tthc=tthc,
        agency=agency,
        submitter=submitter,
        online=bool(online),
        level=int(level) if level is not None else None,
        state=state,
        submitted_at=t(sub),
        accepted_at=opt(acc),
        due_at=opt(due),
        finished_at=opt(fin),
        updated_at=t(upd),
        package_id=pkg,
    )


def transition(row: Sequence[Any], t: TimeOut) -> Transition:
    """A :class:`Transition` from a ``TRANSITION_COLUMNS`` row."""
    subject, key, party, from_state, to_state, package_id, sha256, at, actor, seq = row
    return Transition(
        subject=subject,
        key=key,
        party=party,
        from_state=from_state,
        to_state=to_state,
        package_id=package_id,
        sha256=sha256,
        at=t(at),
        actor=actor,
        seq=int(seq),
    )


def transition_row(tr: Transition, t: TimeIn) -> tuple[Any, ...]:
    """Parameters of :data:`Q_INSERT_TRANSITION`."""
    return (
        tr.subject,
        tr.key,
        tr.party,
        tr.from_state,
        tr.to_state,
        tr.package_id,
        tr.sha256,
        t(tr.at),
        tr.actor,
    )


def move_dossier_params(change: LifecycleChange, t: TimeIn) -> tuple[Any, ...]:
    """Parameters of :data:`Q_MOVE_DOSSIER`."""
    assert change.dossier is not None and change.dossier.expect is not None
    d = change.dossier.record
    return (
        d.state,
        t(d.accepted_at) if d.accepted_at else None,
        t(d.due_at) if d.due_at else None,
        t(d.finished_at) if d.finished_at else None,
        t(d.updated_at),
        d.ma_ho_so,
        change.dossier.expect,
    )


def lost(what: str, package_id: str) -> IllegalTransition:
    """The refusal when a compare-and-set finds the state moved under it; ``package_id``: the
    package whose trace the refusal is recorded on (the document or dossier moved)."""
    return IllegalTransition(
        f"{what} changed concurrently; its state is no longer the one this package follows",
        concurrent=True,
        package_id=package_id,
    )


# -- SQLite -------------------------------------------------------------------------------------


def apply(conn: sqlite3.Connection, change: LifecycleChange) -> bool:
    """Apply ``change`` atomically (inside the writer's transaction). ``False``: a change with
    this sha256 was applied before. Raises :class:`IllegalTransition` when a move lost."""
    t = to_db_time
    if conn.execute(Q_APPLIED, (change.sha256,)).fetchone() is not None:
        return False
    for d in change.new_docs:
        conn.execute(Q_INSERT_DOC, doc_row(d, t))
    for m in change.doc_moves:
        at = t(change.at)
        cur = conn.execute(Q_MOVE_DOC, move_doc_params(m, at))
        if cur.rowcount != 1:
            raise lost(f"the document {m.package_id} for {m.recipient}", m.package_id)
    if change.dossier is not None:
        if change.dossier.expect is None:
            cur = conn.execute(Q_INSERT_DOSSIER, dossier_row(change.dossier.record, t))
        else:
            cur = conn.execute(Q_MOVE_DOSSIER, move_dossier_params(change, t))
        if cur.rowcount != 1:
            raise lost(
                f"the dossier {change.dossier.record.ma_ho_so}", change.dossier.record.package_id
            )
    conn.executemany(Q_INSERT_TRANSITION, [transition_row(tr, t) for tr in change.transitions])
    return True


def documents(conn: sqlite3.Connection, document_id: str) -> list[DocState]:
    """Every (package, recipient) row of this DocumentId, oldest first."""
    return [doc_state(r, from_db_time) for r in conn.execute(Q_DOCS_BY_ID, (document_id,))]


def dossier(conn: sqlite3.Connection, ma_ho_so: str) -> DossierState | None:
    """The dossier, if known."""
    row = conn.execute(Q_DOSSIER, (ma_ho_so,)).fetchone()
    return dossier_state(row, from_db_time) if row is not None else None


def transitions(
    conn: sqlite3.Connection, *, key: str | None, sha256: str | None
) -> list[Transition]:
    """History by DocumentId/MaHoSo or by the package's sha256."""
    q, p = (Q_TRANSITIONS_BY_KEY, key) if key is not None else (Q_TRANSITIONS_BY_SHA, sha256)
    return [transition(r, from_db_time) for r in conn.execute(q, (p,))]


def document_rows(conn: sqlite3.Connection, start: datetime, end: datetime) -> list[DocState]:
    """Rows of documents sent in ``[start, end)``."""
    rows = conn.execute(Q_DOCS_SENT, (to_db_time(start), to_db_time(end)))
    return [doc_state(r, from_db_time) for r in rows]


def unanswered(conn: sqlite3.Connection, before: datetime) -> list[DocState]:
    """Rows not answered by their recipient, sent before ``before``."""
    return [doc_state(r, from_db_time) for r in conn.execute(Q_UNANSWERED, (to_db_time(before),))]


def dossier_rows(conn: sqlite3.Connection, start: datetime, end: datetime) -> list[DossierState]:
    """Dossiers submitted in ``[start, end)``."""
    rows = conn.execute(Q_DOSSIERS_SUBMITTED, (to_db_time(start), to_db_time(end)))
    return [dossier_state(r, from_db_time) for r in rows]


def open_dossiers(conn: sqlite3.Connection) -> list[DossierState]:
    """Dossiers not in a final state (3, 8, 9, 10)."""
    return [dossier_state(r, from_db_time) for r in conn.execute(Q_OPEN_DOSSIERS)]


def last_activity(conn: sqlite3.Connection) -> Mapping[str, datetime]:
    """Each agency's last activity: a package it sent (accepted), or one delivered to it or
    acknowledged by it."""
    return {s: from_db_time(at) for s, at in conn.execute(Q_LAST_ACTIVITY)}


def claim(conn: sqlite3.Connection, keys: Sequence[tuple[str, str]], at: datetime) -> list[str]:
    """Record alarms as notified; returns the keys this call recorded first."""
    out: list[str] = []
    for key, kind in keys:
        row = conn.execute(Q_CLAIM, (key, kind, to_db_time(at))).fetchone()
        if row is not None:
            out.append(str(row[0]))
    return out


class SqliteLifecycle(LifecycleStore):
    """:class:`~hub.lifecycle.store.LifecycleStore` on a SqliteStore's reader and writer."""

    def __init__(self, reader: SqliteConnection, writer: SqliteConnection) -> None:
        self._reader = reader
        self._writer = writer

    async def apply(self, change: LifecycleChange) -> bool:
        """See :meth:`LifecycleStore.apply`."""
        return await self._writer.write(lambda c: apply(c, change))

    async def documents(self, document_id: str) -> Sequence[DocState]:
        """See :meth:`LifecycleStore.documents`."""
        return await self._reader.run(lambda c: documents(c, document_id))

    async def dossier(self, ma_ho_so: str) -> DossierState | None:
        """See :meth:`LifecycleStore.dossier`."""
        return await self._reader.run(lambda c: dossier(c, ma_ho_so))

    async def transitions(
        self, *, key: str | None = None, sha256: str | None = None
    ) -> Sequence[Transition]:
        """See :meth:`LifecycleStore.transitions`."""
        return await self._reader.run(lambda c: transitions(c, key=key, sha256=sha256))

    async def document_rows(self, start: datetime, end: datetime) -> Sequence[DocState]:
        """See :meth:`LifecycleStore.document_rows`."""
        return await self._reader.run(lambda c: document_rows(c, start, end))

    async def unanswered(self, sent_before: datetime) -> Sequence[DocState]:
        """See :meth:`LifecycleStore.unanswered`."""
        return await self._reader.run(lambda c: unanswered(c, sent_before))

    async def dossier_rows(self, start: datetime, end: datetime) -> Sequence[DossierState]:
        """See :meth:`LifecycleStore.dossier_rows`."""
        return await self._reader.run(lambda c: dossier_rows(c, start, end))

    async def open_dossiers(self) -> Sequence[DossierState]:
        """See :meth:`LifecycleStore.open_dossiers`."""
        return await self._reader.run(open_dossiers)

    async def last_activity(self) -> Mapping[str, datetime]:
        """See :meth:`LifecycleStore.last_activity`."""
        return await self._reader.run(last_activity)

    async def claim_notifications(
        self, keys: Sequence[tuple[str, str]], at: datetime
    ) -> Sequence[str]:
        """See :meth:`LifecycleStore.claim_notifications`."""
        return await self._writer.write(lambda c: claim(c, keys, at))
