"""Lifecycle SQL for :class:`~hub.store.postgres.PostgresStore` (tables of migrations 0003, 0008).

The statement text is shared with :mod:`hub.store.sqlite.lifecycle` (``?`` becomes ``%s``);
times are ``timestamptz`` here. :func:`apply` runs in one transaction; under READ COMMITTED a
concurrent ``UPDATE … WHERE state = <expected>`` waits for the other writer and re-checks the
condition on the committed row, so exactly one of two racing moves applies.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from hub.lifecycle.models import DocState, DossierState, LifecycleChange, Transition
from hub.lifecycle.store import LifecycleStore
from hub.store.sharedsql import pg as _pg
from hub.store.sharedsql import pg_in as _in
from hub.store.sharedsql import pg_out as _out
from hub.store.sqlite import lifecycle as q

Conn = psycopg.AsyncConnection[TupleRow]


async def apply(conn: Conn, change: LifecycleChange) -> bool:
    """See :func:`hub.store.sqlite.lifecycle.apply`."""
    cur = await conn.execute(_pg(q.Q_APPLIED), (change.sha256,))
    if await cur.fetchone() is not None:
        return False
    for d in change.new_docs:
        await conn.execute(_pg(q.Q_INSERT_DOC), q.doc_row(d, _in))
    for m in change.doc_moves:
        at = _in(change.at)
        cur = await conn.execute(_pg(q.Q_MOVE_DOC), q.move_doc_params(m, at))
        if cur.rowcount != 1:
            raise q.lost(f"the document {m.package_id} for {m.recipient}", m.package_id)
    if change.dossier is not None:
        if change.dossier.expect is None:
            cur = await conn.execute(
                _pg(q.Q_INSERT_DOSSIER), q.dossier_row(change.dossier.record, _in)
            )
        else:
            cur = await conn.execute(_pg(q.Q_MOVE_DOSSIER), q.move_dossier_params(change, _in))
        if cur.rowcount != 1:
            raise q.lost(
                f"the dossier {change.dossier.record.ma_ho_so}", change.dossier.record.package_id
            )
    if change.transitions:
        async with conn.cursor() as c:
            await c.executemany(
                _pg(q.Q_INSERT_TRANSITION), [q.transition_row(t, _in) for t in change.transitions]
            )
    return True


async def _all(conn: Conn, text: str, params: Sequence[object] = ()) -> list[TupleRow]:
    cur = await conn.execute(_pg(text), params)
    return await cur.fetchall()


async def documents(conn: Conn, document_id: str) -> list[DocState]:
    """See :func:`hub.store.sqlite.lifecycle.documents`."""
    return [q.doc_state(r, _out) for r in await _all(conn, q.Q_DOCS_BY_ID, (document_id,))]


async def dossier(conn: Conn, ma_ho_so: str) -> DossierState | None:
    """See :func:`hub.store.sqlite.lifecycle.dossier`."""
    rows = await _all(conn, q.Q_DOSSIER, (ma_ho_so,))
    return q.dossier_state(rows[0], _out) if rows else None


async def transitions(conn: Conn, *, key: str | None, sha256: str | None) -> list[Transition]:
    """See :func:`hub.store.sqlite.lifecycle.transitions`."""
    text, p = (q.Q_TRANSITIONS_BY_KEY, key) if key is not None else (q.Q_TRANSITIONS_BY_SHA, sha256)
    return [q.transition(r, _out) for r in await _all(conn, text, (p,))]


async def document_rows(conn: Conn, start: datetime, end: datetime) -> list[DocState]:
    """See :func:`hub.store.sqlite.lifecycle.document_rows`."""
    rows = await _all(conn, q.Q_DOCS_SENT, (_in(start), _in(end)))
    return [q.doc_state(r, _out) for r in rows]


async def unanswered(conn: Conn, before: datetime) -> list[DocState]:
    """See :func:`hub.store.sqlite.lifecycle.unanswered`."""
    return [q.doc_state(r, _out) for r in await _all(conn, q.Q_UNANSWERED, (_in(before),))]


async def dossier_rows(conn: Conn, start: datetime, end: datetime) -> list[DossierState]:
    """See :func:`hub.store.sqlite.lifecycle.dossier_rows`."""
    rows = await _all(conn, q.Q_DOSSIERS_SUBMITTED, (_in(start), _in(end)))
    return [q.dossier_state(r, _out) for r in rows]


async def open_dossiers(conn: Conn) -> list[DossierState]:
    """See :func:`hub.store.sqlite.lifecycle.open_dossiers`."""
    return [q.dossier_state(r, _out) for r in await _all(conn, q.Q_OPEN_DOSSIERS)]


async def last_activity(conn: Conn) -> Mapping[str, datetime]:
    """See :func:`hub.store.sqlite.lifecycle.last_activity`."""
    return {str(s): _out(at) for s, at in await _all(conn, q.Q_LAST_ACTIVITY)}


async def claim(conn: Conn, keys: Sequence[tuple[str, str]], at: datetime) -> list[str]:
    """See :func:`hub.store.sqlite.lifecycle.claim`."""
    out: list[str] = []
    for key, kind in keys:
        rows = await _all(conn, q.Q_CLAIM, (key, kind, _in(at)))
        out.extend(str(r[0]) for r in rows)
    return out


Runner = Callable[[str, Callable[[Conn], Awaitable[Any]]], Awaitable[Any]]


class PostgresLifecycle(LifecycleStore):
    """:class:`~hub.lifecycle.store.LifecycleStore` through a PostgresStore's runners (pool,
    failure mapping to ``Unavailable``)."""

    def __init__(self, read: Runner, write: Runner) -> None:
        self._read = read
        self._write = write

    async def apply(self, change: LifecycleChange) -> bool:
        """See :meth:`LifecycleStore.apply`."""
        return bool(await self._write("lifecycle_apply", lambda c: apply(c, change)))

    async def documents(self, document_id: str) -> Sequence[DocState]:
        """See :meth:`LifecycleStore.documents`."""
        out: list[DocState] = await self._read("lc_documents", lambda c: documents(c, document_id))
        return out

    async def dossier(self, ma_ho_so: str) -> DossierState | None:
        """See :meth:`LifecycleStore.dossier`."""
        out: DossierState | None = await self._read("lc_dossier", lambda c: dossier(c, ma_ho_so))
        return out

    async def transitions(
        self, *, key: str | None = None, sha256: str | None = None
    ) -> Sequence[Transition]:
        """See :meth:`LifecycleStore.transitions`."""
        out: list[Transition] = await self._read(
            "lc_transitions", lambda c: transitions(c, key=key, sha256=sha256)
        )
        return out

    async def document_rows(self, start: datetime, end: datetime) -> Sequence[DocState]:
        """See :meth:`LifecycleStore.document_rows`."""
        out: list[DocState] = await self._read(
            "lc_document_rows", lambda c: document_rows(c, start, end)
        )
        return out

    async def unanswered(self, sent_before: datetime) -> Sequence[DocState]:
        """See :meth:`LifecycleStore.unanswered`."""
        out: list[DocState] = await self._read(
            "lc_unanswered", lambda c: unanswered(c, sent_before)
        )
        return out

    async def dossier_rows(self, start: datetime, end: datetime) -> Sequence[DossierState]:
        """See :meth:`LifecycleStore.dossier_rows`."""
        out: list[DossierState] = await self._read(
            "lc_dossier_rows", lambda c: dossier_rows(c, start, end)
        )
        return out

    async def open_dossiers(self) -> Sequence[DossierState]:
        """See :meth:`LifecycleStore.open_dossiers`."""
        out: list[DossierState] = await self._read("lc_open_dossiers", open_dossiers)
        return out

    async def last_activity(self) -> Mapping[str, datetime]:
        """See :meth:`LifecycleStore.last_activity`."""
        out: Mapping[str, datetime] = await self._read("lc_last_activity", last_activity)
        return out

    async def claim_notifications(
        self, keys: Sequence[tuple[str, str]], at: datetime
    ) -> Sequence[str]:
        """See :meth:`LifecycleStore.claim_notifications`."""
        out: list[str] = await self._write("lc_claim", lambda c: claim(c, keys, at))
        return out
