"""Lifecycle for :class:`~hub.store.postgres.PostgresStore`: the shared statements of
:mod:`hub.store.sql.lifecycle` through the store's runners. :func:`apply` runs in one
transaction; under READ COMMITTED a concurrent ``UPDATE … WHERE state = <expected>`` waits for
the other writer and re-checks the condition on the committed row, so exactly one of two racing
moves applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from psycopg.rows import TupleRow

from hub.store.facets import LifecycleStore
from hub.store.postgres.dialect import POSTGRES, Conn, Runner, fetchall
from hub.store.records import (
    DocKey,
    DocState,
    DossierState,
    LifecycleChange,
    Transition,
    WalkMark,
)
from hub.store.sql import lifecycle as lc
from hub.store.sql.dialect import aware, utc

_sql = POSTGRES.sql


async def apply(conn: Conn, change: LifecycleChange) -> bool:
    """See :func:`hub.store.sqlite.lifecycle.apply`."""
    if await _all(conn, lc.Q_APPLIED, (change.sha256,)):
        return False
    for write in lc.writes(change, POSTGRES):
        cur = await conn.execute(_sql(write.sql), write.params)
        if write.moved is not None and cur.rowcount != 1:
            raise write.refusal()
    if change.transitions:
        async with conn.cursor() as c:
            await c.executemany(_sql(lc.Q_INSERT_TRANSITION), lc.transition_rows(change, POSTGRES))
    return True


async def _all(conn: Conn, text: str, params: Sequence[object] = ()) -> list[TupleRow]:
    return await fetchall(conn, _sql(text), params)


async def documents(conn: Conn, document_id: str) -> list[DocState]:
    """See :func:`hub.store.sqlite.lifecycle.documents`."""
    return [lc.doc_state(r, POSTGRES) for r in await _all(conn, lc.Q_DOCS_BY_ID, (document_id,))]


async def dossier(conn: Conn, ma_ho_so: str) -> DossierState | None:
    """See :func:`hub.store.sqlite.lifecycle.dossier`."""
    rows = await _all(conn, lc.Q_DOSSIER, (ma_ho_so,))
    return lc.dossier_state(rows[0], POSTGRES) if rows else None


async def transitions(conn: Conn, *, key: str | None, sha256: str | None) -> list[Transition]:
    """See :func:`hub.store.sqlite.lifecycle.transitions`."""
    return [
        lc.transition(r, POSTGRES) for r in await _all(conn, *lc.transitions_query(key, sha256))
    ]


async def document_rows(conn: Conn, start: datetime, end: datetime) -> list[DocState]:
    """See :func:`hub.store.sqlite.lifecycle.document_rows`."""
    rows = await _all(conn, lc.Q_DOCS_SENT, (aware(start), aware(end)))
    return [lc.doc_state(r, POSTGRES) for r in rows]


async def unanswered(
    conn: Conn, before: datetime, after: DocKey | None = None, limit: int | None = None
) -> list[DocState]:
    """See :func:`hub.store.sqlite.lifecycle.unanswered`."""
    rows = await _all(conn, *lc.unanswered_query(before, after, limit, POSTGRES))
    return [lc.doc_state(r, POSTGRES) for r in rows]


async def dossier_rows(conn: Conn, start: datetime, end: datetime) -> list[DossierState]:
    """See :func:`hub.store.sqlite.lifecycle.dossier_rows`."""
    rows = await _all(conn, lc.Q_DOSSIERS_SUBMITTED, (aware(start), aware(end)))
    return [lc.dossier_state(r, POSTGRES) for r in rows]


async def open_dossiers(conn: Conn) -> list[DossierState]:
    """See :func:`hub.store.sqlite.lifecycle.open_dossiers`."""
    return [lc.dossier_state(r, POSTGRES) for r in await _all(conn, lc.Q_OPEN_DOSSIERS)]


async def last_activity(conn: Conn) -> Mapping[str, datetime]:
    """See :func:`hub.store.sqlite.lifecycle.last_activity`."""
    return {str(s): utc(at) for s, at in await _all(conn, lc.Q_LAST_ACTIVITY)}


async def claim(
    conn: Conn, keys: Sequence[tuple[str, str]], at: datetime, walk: WalkMark | None = None
) -> list[str]:
    """See :func:`hub.store.sqlite.lifecycle.claim`."""
    out: list[str] = []
    for key, kind in keys:
        rows = await _all(conn, lc.Q_CLAIM, (key, kind, aware(at)))
        out.extend(str(r[0]) for r in rows)
    if walk is not None:
        await conn.execute(_sql(lc.Q_ADVANCE_WALK), lc.advance_walk_params(walk, at, POSTGRES))
    return out


async def walk_mark(conn: Conn, name: str) -> WalkMark | None:
    """See :func:`hub.store.sqlite.lifecycle.walk_mark`."""
    rows = await _all(conn, lc.Q_WALK_MARK, (name,))
    return lc.walk_mark(name, rows[0] if rows else None, POSTGRES)


class PostgresLifecycle(LifecycleStore):
    """:class:`~hub.store.facets.LifecycleStore` through a PostgresStore's runners (pool,
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

    async def unanswered(
        self, sent_before: datetime, *, after: DocKey | None = None, limit: int | None = None
    ) -> Sequence[DocState]:
        """See :meth:`LifecycleStore.unanswered`."""
        out: list[DocState] = await self._read(
            "lc_unanswered", lambda c: unanswered(c, sent_before, after, limit)
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
        self, keys: Sequence[tuple[str, str]], at: datetime, *, walk: WalkMark | None = None
    ) -> Sequence[str]:
        """See :meth:`LifecycleStore.claim_notifications`."""
        out: list[str] = await self._write("lc_claim", lambda c: claim(c, keys, at, walk))
        return out

    async def walk_mark(self, name: str) -> WalkMark | None:
        """See :meth:`LifecycleStore.walk_mark`."""
        out: WalkMark | None = await self._read("lc_walk_mark", lambda c: walk_mark(c, name))
        return out
