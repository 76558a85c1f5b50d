"""Lifecycles over a :class:`~hub.store.memory.MemoryStore`'s backing
(:class:`hub.store.facets.LifecycleStore`).

:meth:`MemoryLifecycle.apply` is the SQL backends' transaction in memory: under the backing's
lock it first checks every compare-and-set (a document's state *and* recorded codes, a
dossier's state, a dossier that must not exist yet) against the rows as this change leaves
them, and only then writes; a move that lost raises
:class:`~hub.errors.IllegalTransition` with nothing written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from hub.models import DeliveryState
from hub.store.facets import LifecycleStore
from hub.store.memory.backing import MemoryBacking, MemoryConnection, utc, utc_or_none
from hub.store.records import (
    DocKey,
    DocState,
    DossierState,
    LifecycleChange,
    Transition,
    WalkMark,
)
from hub.store.sql.lifecycle import lost

#: TrangThaiHoSo values after which a dossier is closed
FINAL_DOSSIER_STATES = frozenset({"3", "8", "9", "10"})


def _doc_utc(d: DocState) -> DocState:
    return replace(
        d,
        sent_at=utc(d.sent_at),
        answered_at=utc_or_none(d.answered_at),
        updated_at=utc(d.updated_at),
        codes=tuple(d.codes),
    )


def _dossier_utc(d: DossierState) -> DossierState:
    return replace(
        d,
        submitted_at=utc(d.submitted_at),
        accepted_at=utc_or_none(d.accepted_at),
        due_at=utc_or_none(d.due_at),
        finished_at=utc_or_none(d.finished_at),
        updated_at=utc(d.updated_at),
    )


def _doc_order(d: DocState) -> tuple[datetime, str, str]:
    return d.sent_at, d.package_id, d.recipient


def _key_utc(key: DocKey) -> DocKey:
    sent, package_id, recipient = key
    return utc(sent), package_id, recipient


def apply_change(db: MemoryBacking, change: LifecycleChange) -> bool:
    """:meth:`MemoryLifecycle.apply` on a backing the caller holds the lock of (the store's
    ``accept`` runs it inside its own transaction): every compare-and-set is checked before
    anything is written, so a lost one raises with the backing untouched."""
    at = utc(change.at)
    if change.sha256 in db.applied:
        return False
    # The rows as this change leaves them; written to the backing only if every
    # compare-and-set holds.
    docs: dict[tuple[str, str], DocState] = {}

    def doc(key: tuple[str, str]) -> DocState | None:
        return docs.get(key, db.documents.get(key))

    for d in change.new_docs:
        key = (d.package_id, d.recipient)
        if doc(key) is None:  # ON CONFLICT DO NOTHING
            docs[key] = _doc_utc(d)
    for m in change.doc_moves:
        key = (m.package_id, m.recipient)
        row = doc(key)
        if row is None or row.state != m.expect or row.codes != tuple(m.expect_codes):
            raise lost(f"the document {m.package_id} for {m.recipient}", m.package_id)
        docs[key] = replace(
            row,
            state=m.to,
            prior_state=m.prior,
            codes=m.new_codes,
            updated_at=at,
            answered_at=at if m.answered and row.answered_at is None else row.answered_at,
        )
    dossier: DossierState | None = None
    if change.dossier is not None:
        record = _dossier_utc(change.dossier.record)
        stored = db.dossiers.get(record.ma_ho_so)
        if change.dossier.expect is None:
            if stored is not None:
                raise lost(f"the dossier {record.ma_ho_so}", record.package_id)
            dossier = record
        else:
            if stored is None or stored.state != change.dossier.expect:
                raise lost(f"the dossier {record.ma_ho_so}", record.package_id)
            dossier = replace(
                stored,
                state=record.state,
                accepted_at=record.accepted_at,
                due_at=record.due_at,
                finished_at=record.finished_at,
                updated_at=record.updated_at,
            )
    db.documents.update(docs)
    if dossier is not None:
        db.dossiers[dossier.ma_ho_so] = dossier
    for tr in change.transitions:
        db.transitions.append(replace(tr, at=utc(tr.at), seq=next(db.transition_seq)))
        db.applied.add(tr.sha256)
    return True


class MemoryLifecycle(LifecycleStore):
    """:class:`~hub.store.facets.LifecycleStore` on a memory store's backing."""

    def __init__(self, conn: MemoryConnection) -> None:
        self._conn = conn

    async def apply(self, change: LifecycleChange) -> bool:
        """See :meth:`LifecycleStore.apply`."""
        async with self._conn.tx() as db:
            return apply_change(db, change)

    async def documents(self, document_id: str) -> Sequence[DocState]:
        """See :meth:`LifecycleStore.documents`."""
        async with self._conn.tx() as db:
            rows = [d for d in db.documents.values() if d.document_id == document_id]
        return sorted(rows, key=lambda d: (d.sent_at, d.recipient))

    async def dossier(self, ma_ho_so: str) -> DossierState | None:
        """See :meth:`LifecycleStore.dossier`."""
        async with self._conn.tx() as db:
            return db.dossiers.get(ma_ho_so)

    async def transitions(
        self, *, key: str | None = None, sha256: str | None = None
    ) -> Sequence[Transition]:
        """See :meth:`LifecycleStore.transitions` (by ``key`` when given, else ``sha256``)."""
        async with self._conn.tx() as db:
            if key is not None:
                return [t for t in db.transitions if t.key == key]
            return [t for t in db.transitions if sha256 is not None and t.sha256 == sha256]

    async def document_rows(self, start: datetime, end: datetime) -> Sequence[DocState]:
        """See :meth:`LifecycleStore.document_rows`."""
        lo, hi = utc(start), utc(end)
        async with self._conn.tx() as db:
            rows = [d for d in db.documents.values() if lo <= d.sent_at < hi]
        return sorted(rows, key=_doc_order)

    async def unanswered(
        self, sent_before: datetime, *, after: DocKey | None = None, limit: int | None = None
    ) -> Sequence[DocState]:
        """See :meth:`LifecycleStore.unanswered`."""
        before = utc(sent_before)
        start = None if after is None else _key_utc(after)
        async with self._conn.tx() as db:
            rows = [
                d
                for d in db.documents.values()
                if d.answered_at is None
                and d.sent_at < before
                and (start is None or _doc_order(d) > start)
            ]
        return sorted(rows, key=_doc_order)[:limit]

    async def dossier_rows(self, start: datetime, end: datetime) -> Sequence[DossierState]:
        """See :meth:`LifecycleStore.dossier_rows`."""
        lo, hi = utc(start), utc(end)
        async with self._conn.tx() as db:
            rows = [d for d in db.dossiers.values() if lo <= d.submitted_at < hi]
        return sorted(rows, key=lambda d: (d.submitted_at, d.ma_ho_so))

    async def open_dossiers(self) -> Sequence[DossierState]:
        """See :meth:`LifecycleStore.open_dossiers`."""
        async with self._conn.tx() as db:
            rows = [d for d in db.dossiers.values() if d.state not in FINAL_DOSSIER_STATES]
        return sorted(rows, key=lambda d: (d.submitted_at, d.ma_ho_so))

    async def last_activity(self) -> Mapping[str, datetime]:
        """Each agency's last activity: a package it sent (accepted), one acknowledged by it
        (``acked_at``) or delivered to it (``updated_at`` of a delivered delivery)."""
        latest: dict[str, datetime] = {}

        def seen(agency: str, at: datetime) -> None:
            if agency not in latest or at > latest[agency]:
                latest[agency] = at

        async with self._conn.tx() as db:
            for row in db.packages.values():
                seen(row.record.sender, row.record.accepted_at)
            for d in db.deliveries.values():
                r = d.record
                if r.state in (DeliveryState.DELIVERED, DeliveryState.ACKED):
                    seen(r.recipient, r.acked_at if r.acked_at is not None else r.updated_at)
        return latest

    async def claim_notifications(
        self, keys: Sequence[tuple[str, str]], at: datetime, *, walk: WalkMark | None = None
    ) -> Sequence[str]:
        """See :meth:`LifecycleStore.claim_notifications` (the mark moves as
        :data:`~hub.store.sql.lifecycle.Q_ADVANCE_WALK` moves it)."""
        when = utc(at)
        # Checked before anything is written: a mark the store refuses leaves the claims
        # unrecorded too, as the SQL backends' one transaction does.
        mark = None if walk is None else replace(walk, position=_key_utc(walk.position))
        claimed: list[str] = []
        async with self._conn.tx() as db:
            for key, kind in keys:
                if key not in db.notified:
                    db.notified[key] = (kind, when)
                    claimed.append(key)
            if mark is not None:
                stored = db.walks.get(mark.name)
                if (
                    stored is None
                    or stored[0].settings != mark.settings
                    or mark.position > stored[0].position
                ):
                    db.walks[mark.name] = (mark, when)
        return claimed

    async def walk_mark(self, name: str) -> WalkMark | None:
        """See :meth:`LifecycleStore.walk_mark`."""
        async with self._conn.tx() as db:
            stored = db.walks.get(name)
        return None if stored is None else stored[0]
