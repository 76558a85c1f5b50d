""":class:`SqlStore`: the :class:`~hub.store.abc.Store` methods both SQL backends run alike.

A look-up or listing that is one statement and a row mapper, and a delivery's conditional move
with its event, are written here once, on primitives each backend provides
(:meth:`SqlStore._rows`, :meth:`SqlStore._move`, :meth:`SqlStore._upsert`); what needs another
transaction of several statements, or SQL that differs, stays with the backend.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from hub.models import (
    AgencyOverride,
    DeliveryRecord,
    DeliveryState,
    DirectoryRecord,
    Event,
    FetchedBatch,
    InboxItem,
    PackageRecord,
    Page,
    VxpSystem,
)
from hub.store.abc import Store
from hub.store.cursors import decode_cursor
from hub.store.sql import directory, vxp
from hub.store.sql import packages as pkg_sql
from hub.store.sql import settle as settle_sql
from hub.store.sql.dialect import Dialect
from hub.text import nfc


class SqlStore(Store):
    """A :class:`~hub.store.abc.Store` on SQL tables of the shared schema.

    Each backend's constructor takes a required ``chainer``
    (:class:`~hub.store.facets.EventChainer`; a hub passes ``AuditChain`` of
    ``hub/audit/chain.py``) and chains every event it writes into the audit log, in the
    transaction that writes it. It is required, not defaulted: the audit verification
    expects every event written by the hub to be chained, and the store cannot build a
    chainer itself without importing the audit package, so a store that quietly wrote
    unchained rows would only be found out as "inserted" tampering later.
    """

    #: The backend's placeholders and value representations.
    dialect: ClassVar[Dialect]

    @abc.abstractmethod
    async def _rows(
        self, what: str, query: str, params: Sequence[Any] = ()
    ) -> Sequence[Sequence[Any]]:
        """Every row of one read statement (``query`` written with ``?``, or already in the
        dialect); ``what`` names it in errors."""

    async def _blob_rows(
        self, what: str, query: str, params: Sequence[Any]
    ) -> Sequence[Sequence[Any]]:
        """Like :meth:`_rows`, for rows carrying package bytes, read as they are stored (a
        backend may override it: PostgreSQL reads them in binary, without hex decoding
        megabytes of XML)."""
        return await self._rows(what, query, params)

    @abc.abstractmethod
    async def _move(
        self,
        what: str,
        query: str,
        params: Sequence[Any],
        key: tuple[str, str],
        event: Callable[[DeliveryRecord], Event],
    ) -> tuple[DeliveryRecord, bool]:
        """In one write transaction: ``query``, a conditional ``UPDATE … RETURNING`` of the
        delivery ``key`` (package id, recipient); when it matched, append ``event(record)``
        with it; when not, the delivery as it is (``KeyError``: there is none). ``True``: it
        matched."""

    @abc.abstractmethod
    async def _upsert(self, what: str, query: str, params: Sequence[Any]) -> None:
        """One write statement in its own transaction, safe to run again when its outcome is
        unknown (an upsert)."""

    @abc.abstractmethod
    async def _write_rows(
        self, what: str, query: str, params: Sequence[Any]
    ) -> Sequence[Sequence[Any]]:
        """One write statement in its own transaction, and the rows its ``RETURNING`` gave
        (none: it wrote nothing). Not repeated when its outcome is unknown: a repeated
        conditional insert would report the first attempt's row as somebody else's."""

    # -- packages ------------------------------------------------------------------------------

    async def _packages(
        self, what: str, query: str, params: Sequence[Any] = ()
    ) -> list[PackageRecord]:
        return [pkg_sql.package(r, self.dialect) for r in await self._rows(what, query, params)]

    async def _one_package(self, where: str, params: Sequence[Any]) -> PackageRecord | None:
        found = await self._packages("package look-up", pkg_sql.one_package_sql(where), params)
        return found[0] if found else None

    async def find_by_sha256(self, sha256: str) -> PackageRecord | None:
        """The package stored with exactly these bytes, if any."""
        return await self._one_package(pkg_sql.BY_SHA256, (sha256,))

    async def get_package(self, package_id: str) -> PackageRecord | None:
        """Look up a package's record."""
        return await self._one_package(pkg_sql.BY_ID, (package_id,))

    async def duplicate_documents(self) -> Sequence[tuple[PackageRecord, str]]:
        """Packages migration 0014 marked ``duplicate_of`` the first with their DocumentId."""
        rows = await self._rows("duplicate documents", pkg_sql.DUPLICATE_DOCUMENTS)
        return [(pkg_sql.package(r[:-1], self.dialect), str(r[-1])) for r in rows]

    async def related_statuses(self, sender: str, document_id: str) -> Sequence[PackageRecord]:
        """Status packages whose ResponseFor/DocumentId is ``document_id`` and which were
        addressed to ``sender`` (the document's author), in acceptance order."""
        params = (sender, nfc(document_id))
        return await self._packages("related statuses", pkg_sql.RELATED_STATUSES, params)

    async def count_packages(self) -> int:
        """Number of stored packages."""
        return int((await self._rows("count", pkg_sql.COUNT_PACKAGES))[0][0])

    # -- package bytes -------------------------------------------------------------------------

    async def _blob(self, column: str, package_id: str) -> bytes | None:
        rows = await self._blob_rows("blob read", pkg_sql.BLOB_SELECT[column], (package_id,))
        if not rows:
            return None
        return pkg_sql.opened_blob(self.blob_cipher, column, package_id, rows[0][0])

    async def get_bytes(self, package_id: str) -> bytes | None:
        """The exact bytes received."""
        return await self._blob("data", package_id)

    async def get_receipt(self, package_id: str) -> bytes | None:
        """The signed receipt issued for the package."""
        return await self._blob("receipt", package_id)

    async def count_blobs(self) -> int:
        """Number of stored package blobs."""
        return int((await self._rows("count blobs", pkg_sql.COUNT_BLOBS))[0][0])

    async def blob_headers(
        self, after_id: str, limit: int, head: int
    ) -> Sequence[tuple[str, bytes, int]]:
        """Ids, first ``head`` bytes and lengths of the blobs after ``after_id``, by id."""
        rows = await self._rows("blob headers", pkg_sql.BLOB_HEADERS, (head, after_id, limit))
        return [(str(i), bytes(h or b""), int(n or 0)) for i, h, n in rows]

    async def stored_blobs(self, package_ids: Sequence[str]) -> dict[str, bytes]:
        """Blobs as stored (still sealed), by package id."""
        if not package_ids:
            return {}
        query = pkg_sql.stored_blobs_sql(self.dialect)
        rows = await self._blob_rows("stored blobs", query, (self.dialect.in_list(package_ids),))
        return {str(i): bytes(d) for i, d in rows}

    # -- deliveries ----------------------------------------------------------------------------

    async def _deliveries(
        self, what: str, query: str, params: Sequence[Any]
    ) -> list[DeliveryRecord]:
        return [pkg_sql.delivery(r, self.dialect) for r in await self._rows(what, query, params)]

    async def pending_deliveries(self, limit: int = 1000) -> Sequence[DeliveryRecord]:
        """Deliveries still ``pending``, oldest package first."""
        return await self._deliveries("pending deliveries", pkg_sql.PENDING_DELIVERIES, (limit,))

    async def get_delivery(self, package_id: str, recipient: str) -> DeliveryRecord | None:
        """One delivery."""
        params = (package_id, recipient)
        found = await self._deliveries("delivery look-up", pkg_sql.GET_DELIVERY, params)
        return found[0] if found else None

    async def deliveries_for(self, package_id: str) -> Sequence[DeliveryRecord]:
        """Every delivery of a package, by recipient."""
        return await self._deliveries("deliveries", pkg_sql.DELIVERIES_FOR, (package_id,))

    async def set_delivery_state(
        self,
        package_id: str,
        recipient: str,
        state: DeliveryState,
        *,
        attempts: int | None = None,
        error: str | None = None,
        event_detail: dict[str, object] | None = None,
    ) -> DeliveryRecord:
        """Move a delivery and append the event (kind = the state's value), atomically.

        ``attempts``/``error`` of ``None`` keep the stored values (``last_error`` is the *last*
        error seen, so a later success does not erase it). Raises ``KeyError`` when there is no
        such delivery; leaves an ``acked`` delivery unchanged (no event). One conditional
        UPDATE: the row lock it takes (SQLite: the one writer) orders it against a concurrent
        ack, which then either saw this change or made this one match nothing.
        """
        now = datetime.now(UTC)
        state = DeliveryState(state)
        detail = pkg_sql.state_detail(event_detail, error)
        params = pkg_sql.set_state_params(
            package_id, recipient, state, attempts, error, now, self.dialect
        )
        record, _moved = await self._move(
            "set_delivery_state",
            pkg_sql.SET_STATE,
            params,
            (package_id, recipient),
            lambda r: pkg_sql.delivery_event(r, state.value, now, detail),
        )
        return record

    async def ack(
        self, package_id: str, recipient: str, at: datetime
    ) -> tuple[DeliveryRecord, bool]:
        """Acknowledge once: the conditional UPDATE makes concurrent acks (tasks, threads or
        processes) count exactly one ``first`` — on PostgreSQL a second UPDATE waits on the row
        lock, then re-checks ``state <> 'acked'`` against the committed row and matches
        nothing."""
        t = self.dialect.time_in
        params = (t(at), t(datetime.now(UTC)), package_id, recipient)
        return await self._move(
            "ack",
            pkg_sql.ACK,
            params,
            (package_id, recipient),
            lambda r: pkg_sql.delivery_event(r, "acked", at),
        )

    async def inbox_packages(
        self, recipient: str, *, limit: int, max_bytes: int, cursor: str | None = None
    ) -> FetchedBatch:
        """The recipient's oldest waiting packages after ``cursor`` with their bytes, in one
        read (see the contract and :func:`hub.store.sql.settle.inbox_packages_sql`)."""
        after = decode_cursor(cursor)
        if limit < 1:
            raise ValueError("limit must be positive")
        query = settle_sql.inbox_packages_sql(self.dialect)
        rows = await self._blob_rows(
            "inbox packages", query, (recipient, after, limit, recipient, max_bytes)
        )
        return settle_sql.fetched_batch(rows, self.dialect, self.blob_cipher)

    async def inbox(
        self,
        recipient: str,
        *,
        cursor: str | None = None,
        limit: int = 100,
        include_acked: bool = False,
        q: str | None = None,
    ) -> Page[InboxItem]:
        """Deliveries ``available``/``delivered`` (``acked`` too if asked) in acceptance order;
        ``q``: only packages whose Subject has every folded word of ``q``."""
        after, where, words = pkg_sql.page_start(cursor, limit, q, self.blob_cipher)
        query = pkg_sql.inbox_sql(self.dialect, include_acked=include_acked, where=where)
        rows = await self._rows("inbox", query, (recipient, after, *words, limit + 1))
        return pkg_sql.inbox_page(rows, limit, self.dialect)

    # -- events --------------------------------------------------------------------------------

    async def events_for(self, package_id: str) -> Sequence[Event]:
        """The trace of one package, in append order."""
        rows = await self._rows("events", pkg_sql.EVENTS_FOR, (package_id,))
        return [pkg_sql.event(r, self.dialect) for r in rows]

    # -- runtime agency changes ----------------------------------------------------------------

    async def set_agency_override(self, override: AgencyOverride) -> None:
        """Upsert; a ``None`` field keeps the stored value (last write wins per field)."""
        values = directory.agency_override_params(override, self.dialect)
        await self._upsert("set_agency_override", directory.AGENCY_OVERRIDE_UPSERT, values)

    async def agency_overrides(self) -> Sequence[AgencyOverride]:
        """One merged record per agency, by OrganId."""
        rows = await self._rows("agency overrides", directory.AGENCY_OVERRIDES_SELECT)
        return [directory.agency_override(r, self.dialect) for r in rows]

    # -- agency directory (issue 11) -----------------------------------------------------------

    async def directory_records(self) -> Sequence[DirectoryRecord]:
        """Every stored directory entry, by code."""
        rows = await self._rows("directory", directory.DIRECTORY_SELECT)
        return [directory.directory_record(r, self.dialect) for r in rows]

    async def directory_revision(self) -> int:
        """Highest revision stored (the index answers it), 0 when empty."""
        return int((await self._rows("directory revision", directory.DIRECTORY_REVISION))[0][0])

    # -- VXP facade systems (issue 11) ---------------------------------------------------------

    async def create_vxp_system(self, system: VxpSystem) -> VxpSystem | None:
        """Insert unless the id exists (``ON CONFLICT DO NOTHING``); ``None``: it exists."""
        changed_at = system.changed_at or datetime.now(UTC)
        params = vxp.insert_params(system, changed_at, self.dialect)
        rows = await self._write_rows("create_vxp_system", vxp.INSERT, params)
        return vxp.vxp_system(rows[0], self.dialect) if rows else None

    async def set_vxp_secret(
        self,
        system_id: str,
        *,
        secret: bytes | None,
        secret_file: str | None,
        changed_at: datetime,
        reason: str | None,
    ) -> VxpSystem | None:
        """One ``UPDATE`` of the secret's columns; ``None``: no such system."""
        params = vxp.set_secret_params(
            system_id, secret, secret_file, changed_at, reason, self.dialect
        )
        rows = await self._write_rows("set_vxp_secret", vxp.SET_SECRET, params)
        return vxp.vxp_system(rows[0], self.dialect) if rows else None

    async def set_vxp_enabled(
        self, system_id: str, enabled: bool, *, changed_at: datetime, reason: str | None
    ) -> VxpSystem | None:
        """One ``UPDATE`` of ``enabled``; ``None``: no such system."""
        params = vxp.set_enabled_params(system_id, enabled, changed_at, reason, self.dialect)
        rows = await self._write_rows("set_vxp_enabled", vxp.SET_ENABLED, params)
        return vxp.vxp_system(rows[0], self.dialect) if rows else None

    async def get_vxp_system(self, system_id: str) -> VxpSystem | None:
        """One VXP system (no cache)."""
        rows = await self._rows("vxp system", vxp.ONE, (system_id,))
        return vxp.vxp_system(rows[0], self.dialect) if rows else None

    async def vxp_systems(self) -> Sequence[VxpSystem]:
        """Every VXP system, by id."""
        rows = await self._rows("vxp systems", vxp.ALL)
        return [vxp.vxp_system(r, self.dialect) for r in rows]
