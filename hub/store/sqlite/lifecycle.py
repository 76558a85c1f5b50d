"""Lifecycle for :class:`~hub.store.sqlite.SqliteStore`: the shared statements of
:mod:`hub.store.sql.lifecycle` on the store's writer or reader thread; :func:`apply` runs inside
the writer's ``BEGIN IMMEDIATE``."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime

from hub.sqlitedb import SqliteConnection, from_db_time, to_db_time
from hub.store.facets import LifecycleStore
from hub.store.records import (
    DocKey,
    DocState,
    DossierState,
    LifecycleChange,
    Transition,
    WalkMark,
)
from hub.store.sql import lifecycle as lc
from hub.store.sqlite.dialect import SQLITE


def apply(conn: sqlite3.Connection, change: LifecycleChange) -> bool:
    """Apply ``change`` atomically (inside the writer's transaction). ``False``: a change with
    this sha256 was applied before. Raises :class:`IllegalTransition` when a move lost."""
    if conn.execute(lc.Q_APPLIED, (change.sha256,)).fetchone() is not None:
        return False
    for write in lc.writes(change, SQLITE):
        cur = conn.execute(write.sql, write.params)
        if write.moved is not None and cur.rowcount != 1:
            raise write.refusal()
    conn.executemany(lc.Q_INSERT_TRANSITION, lc.transition_rows(change, SQLITE))
    return True


def documents(conn: sqlite3.Connection, document_id: str) -> list[DocState]:
    """Every (package, recipient) row of this DocumentId, oldest first."""
    return [lc.doc_state(r, SQLITE) for r in conn.execute(lc.Q_DOCS_BY_ID, (document_id,))]


def dossier(conn: sqlite3.Connection, ma_ho_so: str) -> DossierState | None:
    """The dossier, if known."""
    row = conn.execute(lc.Q_DOSSIER, (ma_ho_so,)).fetchone()
    return lc.dossier_state(row, SQLITE) if row is not None else None


def transitions(
    conn: sqlite3.Connection, *, key: str | None, sha256: str | None
) -> list[Transition]:
    """History by DocumentId/MaHoSo or by the package's sha256."""
    return [lc.transition(r, SQLITE) for r in conn.execute(*lc.transitions_query(key, sha256))]


def document_rows(conn: sqlite3.Connection, start: datetime, end: datetime) -> list[DocState]:
    """Rows of documents sent in ``[start, end)``."""
    rows = conn.execute(lc.Q_DOCS_SENT, (to_db_time(start), to_db_time(end)))
    return [lc.doc_state(r, SQLITE) for r in rows]


def unanswered(
    conn: sqlite3.Connection,
    before: datetime,
    after: DocKey | None = None,
    limit: int | None = None,
) -> list[DocState]:
    """Rows not answered by their recipient, sent before ``before`` (a page of them after
    ``after``, with ``limit``)."""
    query = lc.unanswered_query(before, after, limit, SQLITE)
    return [lc.doc_state(r, SQLITE) for r in conn.execute(*query)]


def dossier_rows(conn: sqlite3.Connection, start: datetime, end: datetime) -> list[DossierState]:
    """Dossiers submitted in ``[start, end)``."""
    rows = conn.execute(lc.Q_DOSSIERS_SUBMITTED, (to_db_time(start), to_db_time(end)))
    return [lc.dossier_state(r, SQLITE) for r in rows]


def open_dossiers(conn: sqlite3.Connection) -> list[DossierState]:
    """Dossiers not in a final state (3, 8, 9, 10)."""
    return [lc.dossier_state(r, SQLITE) for r in conn.execute(lc.Q_OPEN_DOSSIERS)]


def last_activity(conn: sqlite3.Connection) -> Mapping[str, datetime]:
    """Each agency's last activity: a package it sent (accepted), or one delivered to it or
    acknowledged by it (:data:`~hub.store.sql.lifecycle.Q_LAST_ACTIVITY`: a few index seeks
    per agency, however many packages are stored)."""
    return {s: from_db_time(at) for s, at in conn.execute(lc.Q_LAST_ACTIVITY)}


def claim(
    conn: sqlite3.Connection,
    keys: Sequence[tuple[str, str]],
    at: datetime,
    walk: WalkMark | None = None,
) -> list[str]:
    """Record alarms as notified, then the walk's mark (in the caller's transaction); returns
    the keys this call recorded first."""
    out: list[str] = []
    for key, kind in keys:
        row = conn.execute(lc.Q_CLAIM, (key, kind, to_db_time(at))).fetchone()
        if row is not None:
            out.append(str(row[0]))
    if walk is not None:
        conn.execute(lc.Q_ADVANCE_WALK, lc.advance_walk_params(walk, at, SQLITE))
    return out


def walk_mark(conn: sqlite3.Connection, name: str) -> WalkMark | None:
    """The stored mark of the walk ``name``."""
    return lc.walk_mark(name, conn.execute(lc.Q_WALK_MARK, (name,)).fetchone(), SQLITE)


class SqliteLifecycle(LifecycleStore):
    """:class:`~hub.store.facets.LifecycleStore` on a SqliteStore's reader and writer."""

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

    async def unanswered(
        self, sent_before: datetime, *, after: DocKey | None = None, limit: int | None = None
    ) -> Sequence[DocState]:
        """See :meth:`LifecycleStore.unanswered`."""
        return await self._reader.run(lambda c: unanswered(c, sent_before, after, limit))

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
        self, keys: Sequence[tuple[str, str]], at: datetime, *, walk: WalkMark | None = None
    ) -> Sequence[str]:
        """See :meth:`LifecycleStore.claim_notifications`."""
        return await self._writer.write(lambda c: claim(c, keys, at, walk))

    async def walk_mark(self, name: str) -> WalkMark | None:
        """See :meth:`LifecycleStore.walk_mark`."""
        return await self._reader.run(lambda c: walk_mark(c, name))
