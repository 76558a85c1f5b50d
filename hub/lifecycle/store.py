"""The lifecycle part of the store: :meth:`hub.store.abc.Store.lifecycle` returns one.

Implementations run on the owning store's connections (SQLite reader/writer threads,
PostgreSQL pool): :mod:`hub.store.sqlite.lifecycle`, :mod:`hub.store.postgres.lifecycle`.
Both pass ``tests/contracts/lifecycle_contract.py``. Alarms and reports are computed from
these reads (never kept in memory), so every hub process sees the same alarms.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from datetime import datetime

from hub.lifecycle.models import DocState, DossierState, LifecycleChange, Transition


class LifecycleStore(abc.ABC):
    """Durable lifecycle state: documents per recipient, dossiers, history, notified alarms."""

    @abc.abstractmethod
    async def apply(self, change: LifecycleChange) -> bool:
        """Apply ``change`` in one transaction: insert documents, compare-and-set moves,
        history rows. Returns ``False`` (nothing written) when a change with the same
        ``sha256`` was applied before. Raises :class:`hub.errors.IllegalTransition` when a
        move's expected state no longer holds (another package moved it first)."""

    @abc.abstractmethod
    async def documents(self, document_id: str) -> Sequence[DocState]:
        """Every (document package, recipient) row with this DocumentId, oldest first."""

    @abc.abstractmethod
    async def dossier(self, ma_ho_so: str) -> DossierState | None:
        """The dossier's current record."""

    @abc.abstractmethod
    async def transitions(
        self, *, key: str | None = None, sha256: str | None = None
    ) -> Sequence[Transition]:
        """History by DocumentId/MaHoSo (``key``) or by the causing package's ``sha256``."""

    @abc.abstractmethod
    async def document_rows(self, start: datetime, end: datetime) -> Sequence[DocState]:
        """Rows of documents the hub accepted in ``[start, end)`` (reports)."""

    @abc.abstractmethod
    async def unanswered(self, sent_before: datetime) -> Sequence[DocState]:
        """Rows whose recipient has not answered, sent before ``sent_before`` (alarms)."""

    @abc.abstractmethod
    async def dossier_rows(self, start: datetime, end: datetime) -> Sequence[DossierState]:
        """Dossiers submitted in ``[start, end)`` (reports)."""

    @abc.abstractmethod
    async def open_dossiers(self) -> Sequence[DossierState]:
        """Dossiers not in a final state (3, 8, 9, 10) (alarms, reports)."""

    @abc.abstractmethod
    async def last_activity(self) -> Mapping[str, datetime]:
        """Per agency, its last activity (silent agencies): the hub accepted a package from it
        (document, status, dossier), or delivered one to it, or it acknowledged one."""

    @abc.abstractmethod
    async def claim_notifications(
        self, keys: Sequence[tuple[str, str]], at: datetime
    ) -> Sequence[str]:
        """Record ``(alarm key, kind)`` pairs as notified; returns the keys recorded by this
        call, so exactly one hub process notifies each alarm."""
