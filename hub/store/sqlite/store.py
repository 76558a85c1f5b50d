"""The embedded default :class:`~hub.store.abc.Store`: one SQLite file in WAL mode.

Two connections, each confined to its own thread: a *writer* (every write, serialised, so
group commits never contend inside the process) and a *reader* (look-ups and listings, which
WAL lets run while a write commits). Several processes may open the same file; SQLite's
locking with ``busy_timeout`` arbitrates between them.

Durability: ``synchronous=FULL`` by default. In WAL mode, ``NORMAL`` survives an application
crash (``kill -9``) but may lose the last commits on power loss; a receipt is only issued after
the commit returns, so the commit must survive both. See ``docs/store-and-broker.md`` for the
measured cost.
"""

# SQL text is assembled only from module constants and identifiers checked here, never from
# input; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.lifecycle.store import LifecycleStore  # lifecycle (issue 5)
from hub.models import (
    AgencyOverride,
    DeliveryRecord,
    DeliveryState,
    DirectoryRecord,
    Event,
    InboxItem,
    PackageKind,
    PackageRecord,
    Page,
    VxpSystem,
)
from hub.revinfo import RevocationCacheStore  # online revocation (issue 14)
from hub.sqlitedb import (
    SqliteConnection,
    Synchronous,
    apply_migrations,
    from_db_time,
    load_migrations,
    to_db_time,
)
from hub.store import acceptsql, sharedsql
from hub.store.abc import AcceptItem, AcceptResult, Store
from hub.store.cursors import encode_cursor
from hub.store.sqlite.audit import insert_chained
from hub.store.sqlite.revinfo import SqliteRevocationCache
from hub.store.subunits import with_stands_for
from hub.text import nfc

if TYPE_CHECKING:
    from hub.dashboard.model import DashboardStore

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "schema_version"

_PACKAGE_COLUMNS = (
    "p.seq, p.id, p.sha256, p.sender, p.kind, p.document_id, p.business_doc_type, "
    "p.status_code, p.recipients, p.accepted_at, p.size, p.signer_fingerprint, "
    "p.signer_subject, p.warnings, p.subject"
)
_DELIVERY_COLUMNS = (
    "d.package_id, d.recipient, d.state, d.attempts, d.updated_at, d.last_error, d.acked_at, "
    "d.stands_for"
)
_N_PACKAGE_COLUMNS = 15


#: An unchanged entry is skipped by the WHERE: its revision (and the table's) stays put.
_UPSERT_DIRECTORY = (
    "INSERT INTO directory_entries (code, name, parent, code102, old_code, revision, "
    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (code) DO UPDATE SET "
    "name = excluded.name, parent = excluded.parent, code102 = excluded.code102, "
    "old_code = excluded.old_code, revision = excluded.revision, "
    "updated_at = excluded.updated_at "
    "WHERE directory_entries.name IS NOT excluded.name "
    "OR directory_entries.parent IS NOT excluded.parent "
    "OR directory_entries.code102 IS NOT excluded.code102 "
    "OR directory_entries.old_code IS NOT excluded.old_code"
)


def inbox_sql(*, include_acked: bool, where: str = "") -> str:
    """The inbox query (parameters: recipient, after-seq, ``where``'s, limit); ``where``: an
    extra condition on ``p`` (the Subject search)."""
    if include_acked:
        states, index = "('available', 'delivered', 'acked')", "deliveries_all_by_recipient"
    else:
        # Literal states and INDEXED BY: the partial index skips the (usually many) acked rows
        # instead of filtering them, and the planner has no statistics to find that itself.
        states, index = "('available', 'delivered')", "deliveries_open_inbox"
    return (
        f"SELECT {_PACKAGE_COLUMNS}, {_DELIVERY_COLUMNS} FROM deliveries d INDEXED BY {index} "
        "JOIN packages p ON p.id = d.package_id "
        f"WHERE d.recipient = ? AND d.state IN {states} AND d.seq > ? "
        f"{'AND ' + where + ' ' if where else ''}ORDER BY d.seq LIMIT ?"
    )


def _package(row: Sequence[Any]) -> PackageRecord:
    (
        _seq,
        id_,
        sha256,
        sender,
        kind,
        document_id,
        business_doc_type,
        status_code,
        recipients,
        accepted_at,
        size,
        fingerprint,
        subject,
        warnings,
        title,
    ) = row
    return PackageRecord(
        id=id_,
        sha256=sha256,
        sender=sender,
        kind=PackageKind(kind),
        document_id=document_id,
        business_doc_type=business_doc_type,
        status_code=status_code,
        recipients=tuple(json.loads(recipients)),
        accepted_at=from_db_time(accepted_at),
        size=size,
        signer_fingerprint=fingerprint,
        signer_subject=subject,
        warnings=tuple(json.loads(warnings)),
        subject=title,
    )


def _delivery(row: Sequence[Any]) -> DeliveryRecord:
    package_id, recipient, state, attempts, updated_at, last_error, acked_at, stands_for = row
    return DeliveryRecord(
        package_id=package_id,
        recipient=recipient,
        state=DeliveryState(state),
        attempts=attempts,
        updated_at=from_db_time(updated_at),
        last_error=last_error,
        acked_at=from_db_time(acked_at) if acked_at is not None else None,
        stands_for=tuple(json.loads(stands_for)) if stands_for else (),
    )


def _get_delivery(conn: sqlite3.Connection, package_id: str, recipient: str) -> DeliveryRecord:
    row = conn.execute(
        f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d WHERE d.package_id = ? AND d.recipient = ?",
        (package_id, recipient),
    ).fetchone()
    if row is None:
        raise KeyError((package_id, recipient))
    return _delivery(row)


def _insert_event(conn: sqlite3.Connection, event: Event) -> None:
    # Every event joins this process's hash chain, in the caller's transaction (issue 7,
    # hub/audit): the event commits together with the state change it records.
    insert_chained(conn, event)


class SqliteStore(Store):
    """The hub's state in one SQLite file (WAL); safe to share between processes.

    ``synchronous`` exists for measurements and throw-away deployments; keep ``FULL`` in
    production (see the module docstring).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        busy_timeout_ms: int = 10000,
        synchronous: Synchronous = "FULL",
    ) -> None:
        self.path = Path(path)
        self._writer = SqliteConnection(
            self.path,
            name="store-writer",
            busy_timeout_ms=busy_timeout_ms,
            synchronous=synchronous,
        )
        self._reader = SqliteConnection(
            self.path,
            name="store-reader",
            busy_timeout_ms=busy_timeout_ms,
            synchronous=synchronous,
        )
        self.schema_version = 0

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        """Open both connections; migrate on the writer first so the reader sees the schema."""
        if self._writer.is_open:
            return
        migrations = load_migrations(MIGRATIONS_DIR)

        def migrate(conn: sqlite3.Connection) -> None:
            self.schema_version = apply_migrations(conn, VERSION_TABLE, migrations)

        try:
            await self._writer.open(migrate)
            await self._reader.open()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close both connections (queued writes finish first); idempotent."""
        await self._reader.close()
        await self._writer.close()

    async def ping(self) -> None:
        """Check that the writer thread answers and the schema is there."""
        await self._writer.run(lambda c: c.execute(f"SELECT 1 FROM {VERSION_TABLE}").fetchone())

    # -- accepting ---------------------------------------------------------------------------

    async def accept(self, items: Sequence[AcceptItem]) -> list[AcceptResult]:
        """One ``BEGIN IMMEDIATE`` transaction on the writer (:mod:`hub.store.acceptsql`)."""
        if not items:
            return []
        script = acceptsql.accept_script(
            items, cipher=self.blob_cipher, t=to_db_time, now=datetime.now(UTC)
        )

        def tx(conn: sqlite3.Connection) -> list[AcceptResult]:
            def execute(op: acceptsql.Op) -> Any:
                if isinstance(op, acceptsql.Run):
                    return conn.execute(op.sql, op.params).rowcount
                if isinstance(op, acceptsql.Fetch):
                    return conn.execute(op.sql, op.params).fetchall()
                if isinstance(op, acceptsql.Many):
                    conn.executemany(op.sql, op.rows)
                    return None
                for event in op.events:
                    _insert_event(conn, event)
                return None

            return acceptsql.drive(script, execute)

        return await self._writer.write(tx)

    async def _one_package(self, where: str, params: Sequence[Any]) -> PackageRecord | None:
        sql = f"SELECT {_PACKAGE_COLUMNS} FROM packages p WHERE {where} ORDER BY p.seq LIMIT 1"
        row = await self._reader.run(lambda c: c.execute(sql, params).fetchone())
        return _package(row) if row is not None else None

    async def find_by_sha256(self, sha256: str) -> PackageRecord | None:
        """The package stored with exactly these bytes, if any."""
        return await self._one_package("p.sha256 = ?", (sha256,))

    async def find_document(
        self, sender: str, document_id: str, business_doc_type: int | None
    ) -> PackageRecord | None:
        """The first stored *document* (not status) from ``sender`` with this DocumentId and
        BussinessDocType (``None`` matches packages stored without one). DocumentIds compare
        in NFC (stored keys are NFC)."""
        return await self._one_package(
            "p.sender = ? AND p.document_id = ? AND p.business_doc_type IS ? "
            "AND p.kind = 'document'",
            (sender, nfc(document_id), business_doc_type),
        )

    async def duplicate_documents(self) -> Sequence[tuple[PackageRecord, str]]:
        """Packages migration 0014 marked ``duplicate_of`` the first with their DocumentId."""
        sql = (
            f"SELECT {_PACKAGE_COLUMNS}, p.duplicate_of FROM packages p "
            "WHERE p.duplicate_of IS NOT NULL ORDER BY p.seq"
        )
        rows = await self._reader.run(lambda c: c.execute(sql).fetchall())
        return [(_package(row[:-1]), str(row[-1])) for row in rows]

    async def get_package(self, package_id: str) -> PackageRecord | None:
        """Look up a package's record."""
        return await self._one_package("p.id = ?", (package_id,))

    async def _blob(self, column: str, package_id: str) -> bytes | None:
        sql = sharedsql.BLOB_SELECT[column]
        row = await self._reader.run(lambda c: c.execute(sql, (package_id,)).fetchone())
        return (
            None
            if row is None
            else sharedsql.opened_blob(self.blob_cipher, column, package_id, row[0])
        )

    async def get_bytes(self, package_id: str) -> bytes | None:
        """The exact bytes received."""
        return await self._blob("data", package_id)

    # -- stored bytes as stored (issue 14, re-encryption) --------------------------------------

    async def count_blobs(self) -> int:
        """Number of stored package blobs."""
        row = await self._reader.run(lambda c: c.execute(sharedsql.COUNT_BLOBS).fetchone())
        return int(row[0])

    async def blob_headers(
        self, after_id: str, limit: int, head: int
    ) -> Sequence[tuple[str, bytes, int]]:
        """Ids, first ``head`` bytes and lengths of the blobs after ``after_id``, by id."""
        sql = (
            "SELECT package_id, substr(data, 1, ?), length(data) FROM package_blobs "
            "WHERE package_id > ? ORDER BY package_id LIMIT ?"
        )
        rows = await self._reader.run(lambda c: c.execute(sql, (head, after_id, limit)).fetchall())
        return [(str(i), bytes(h or b""), int(n or 0)) for i, h, n in rows]

    async def stored_blobs(self, package_ids: Sequence[str]) -> dict[str, bytes]:
        """Blobs as stored (still sealed), by package id."""
        if not package_ids:
            return {}
        marks = ", ".join("?" for _ in package_ids)
        sql = f"SELECT package_id, data FROM package_blobs WHERE package_id IN ({marks})"
        rows = await self._reader.run(lambda c: c.execute(sql, tuple(package_ids)).fetchall())
        return {str(i): bytes(d) for i, d in rows}

    async def replace_blobs(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        """Compare-and-set each blob on its exact old bytes, in one write transaction."""
        if not changes:
            return 0

        def tx(conn: sqlite3.Connection) -> int:
            replaced = 0
            for package_id, old, new in changes:
                cur = conn.execute(
                    "UPDATE package_blobs SET data = ? "
                    "WHERE package_id = ? AND data = ? AND purged_at IS NULL",
                    (new, package_id, old),
                )
                replaced += cur.rowcount
            return replaced

        return await self._writer.write(tx)

    async def get_receipt(self, package_id: str) -> bytes | None:
        """The signed receipt issued for the package."""
        return await self._blob("receipt", package_id)

    # -- deliveries ------------------------------------------------------------------------------

    async def pending_deliveries(self, limit: int = 1000) -> Sequence[DeliveryRecord]:
        """Deliveries still ``pending``, oldest package first."""
        sql = (
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d WHERE d.state = 'pending' "
            "ORDER BY d.seq, d.recipient LIMIT ?"
        )
        rows = await self._reader.run(lambda c: c.execute(sql, (limit,)).fetchall())
        return [_delivery(r) for r in rows]

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
        such delivery; leaves an ``acked`` delivery unchanged.
        """
        now = datetime.now(UTC)
        state = DeliveryState(state)

        def tx(conn: sqlite3.Connection) -> DeliveryRecord:
            current = _get_delivery(conn, package_id, recipient)
            if current.state is DeliveryState.ACKED:
                return current
            new_attempts = current.attempts if attempts is None else attempts
            conn.execute(
                "UPDATE deliveries SET state = ?, attempts = ?, updated_at = ?, "
                "last_error = COALESCE(?, last_error), "
                "acked_at = CASE WHEN ? = 'acked' THEN ? ELSE acked_at END "
                "WHERE package_id = ? AND recipient = ?",
                (
                    state.value,
                    new_attempts,
                    to_db_time(now),
                    error,
                    state.value,
                    to_db_time(now),
                    package_id,
                    recipient,
                ),
            )
            detail: dict[str, object] = with_stands_for(dict(event_detail or {}), current)
            if error is not None:
                detail.setdefault("error", error)
            _insert_event(
                conn,
                Event(
                    package_id=package_id,
                    kind=state.value,
                    at=now,
                    recipient=recipient,
                    attempt=new_attempts,
                    detail=detail,
                ),
            )
            return _get_delivery(conn, package_id, recipient)

        return await self._writer.write(tx)

    async def mark_queued(self, keys: Sequence[tuple[str, str]]) -> None:
        """``pending`` → ``queued`` with a ``queued`` event each, in one transaction."""
        if not keys:
            return
        now = datetime.now(UTC)
        at = to_db_time(now)

        def tx(conn: sqlite3.Connection) -> None:
            for package_id, recipient in keys:
                row = conn.execute(
                    "UPDATE deliveries SET state = 'queued', updated_at = ? "
                    "WHERE package_id = ? AND recipient = ? AND state = 'pending' "
                    "RETURNING stands_for",
                    (at, package_id, recipient),
                ).fetchone()
                if row is not None:
                    _insert_event(
                        conn,
                        Event(
                            package_id=package_id,
                            kind="queued",
                            at=now,
                            recipient=recipient,
                            detail={"for": json.loads(row[0])} if row[0] else {},
                        ),
                    )

        await self._writer.write(tx)

    async def get_delivery(self, package_id: str, recipient: str) -> DeliveryRecord | None:
        """One delivery."""

        def q(conn: sqlite3.Connection) -> DeliveryRecord | None:
            try:
                return _get_delivery(conn, package_id, recipient)
            except KeyError:
                return None

        return await self._reader.run(q)

    async def deliveries_for(self, package_id: str) -> Sequence[DeliveryRecord]:
        """Every delivery of a package, by recipient."""
        sql = (
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d WHERE d.package_id = ? "
            "ORDER BY d.recipient"
        )
        rows = await self._reader.run(lambda c: c.execute(sql, (package_id,)).fetchall())
        return [_delivery(r) for r in rows]

    async def ack(
        self, package_id: str, recipient: str, at: datetime
    ) -> tuple[DeliveryRecord, bool]:
        """Acknowledge once: the conditional UPDATE makes concurrent acks (threads or processes)
        count exactly one ``first``."""
        at_text = to_db_time(at)
        now = to_db_time(datetime.now(UTC))

        def tx(conn: sqlite3.Connection) -> tuple[DeliveryRecord, bool]:
            row = conn.execute(
                "UPDATE deliveries SET state = 'acked', acked_at = ?, updated_at = ? "
                "WHERE package_id = ? AND recipient = ? AND state != 'acked' "
                "RETURNING attempts, stands_for",
                (at_text, now, package_id, recipient),
            ).fetchone()
            first = row is not None
            if first:
                _insert_event(
                    conn,
                    Event(
                        package_id=package_id,
                        kind="acked",
                        at=at,
                        recipient=recipient,
                        attempt=int(row[0]),
                        detail={"for": json.loads(row[1])} if row[1] else {},
                    ),
                )
            return _get_delivery(conn, package_id, recipient), first  # KeyError if unknown

        return await self._writer.write(tx)

    # -- listings ------------------------------------------------------------------------------

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
        after, where, words = sharedsql.page_start(
            cursor, limit, q, self.blob_cipher, placeholder="?"
        )
        sql = inbox_sql(include_acked=include_acked, where=where)
        params = (recipient, after, *words, limit + 1)
        rows = await self._reader.run(lambda c: c.execute(sql, params).fetchall())
        items = tuple(
            InboxItem(
                package=_package(r[:_N_PACKAGE_COLUMNS]), delivery=_delivery(r[_N_PACKAGE_COLUMNS:])
            )
            for r in rows[:limit]
        )
        more = len(rows) > limit
        return Page(items=items, next=encode_cursor(rows[limit - 1][0]) if more else None)

    async def outbox(
        self, sender: str, *, cursor: str | None = None, limit: int = 100, q: str | None = None
    ) -> Page[tuple[PackageRecord, tuple[DeliveryRecord, ...]]]:
        """The sender's packages in acceptance order, each with its deliveries by recipient;
        ``q``: only packages whose Subject has every folded word of ``q``."""
        after, where, words = sharedsql.page_start(
            cursor, limit, q, self.blob_cipher, placeholder="?"
        )
        sql = (
            f"SELECT {_PACKAGE_COLUMNS} FROM packages p WHERE p.sender = ? AND p.seq > ? "
            f"{'AND ' + where + ' ' if where else ''}ORDER BY p.seq LIMIT ?"
        )
        params = (sender, after, *words, limit + 1)

        def query(conn: sqlite3.Connection) -> tuple[list[Any], dict[str, list[DeliveryRecord]]]:
            rows = conn.execute(sql, params).fetchall()
            ids = [r[1] for r in rows[:limit]]
            by_package: dict[str, list[DeliveryRecord]] = {i: [] for i in ids}
            if ids:
                for d in conn.execute(
                    f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d WHERE d.package_id IN "
                    "(SELECT value FROM json_each(?)) ORDER BY d.package_id, d.recipient",
                    (json.dumps(ids),),
                ):
                    by_package[d[0]].append(_delivery(d))
            return rows, by_package

        rows, by_package = await self._reader.read(query)
        items = tuple((_package(r), tuple(by_package[r[1]])) for r in rows[:limit])
        more = len(rows) > limit
        return Page(items=items, next=encode_cursor(rows[limit - 1][0]) if more else None)

    async def count_packages(self) -> int:
        """Number of stored packages."""
        row = await self._reader.run(
            lambda c: c.execute("SELECT COUNT(*) FROM packages").fetchone()
        )
        return int(row[0])

    # -- events --------------------------------------------------------------------------------

    async def append_event(self, event: Event) -> None:
        """Append to the event log (``event.seq`` is ignored: the store assigns it)."""
        await self._writer.write(lambda c: _insert_event(c, event))

    async def events_for(self, package_id: str) -> Sequence[Event]:
        """The trace of one package, in append order."""
        rows = await self._reader.run(
            lambda c: c.execute(
                "SELECT seq, package_id, kind, at, recipient, attempt, detail FROM events "
                "WHERE package_id = ? ORDER BY seq",
                (package_id,),
            ).fetchall()
        )
        return [
            Event(
                package_id=package_id_,
                kind=kind,
                at=from_db_time(at),
                recipient=recipient,
                attempt=attempt,
                detail=json.loads(detail),
                seq=seq,
            )
            for seq, package_id_, kind, at, recipient, attempt, detail in rows
        ]

    async def related_statuses(self, sender: str, document_id: str) -> Sequence[PackageRecord]:
        """Status packages whose ResponseFor/DocumentId is ``document_id`` and which were
        addressed to ``sender`` (the document's author), in acceptance order."""
        sql = (
            f"SELECT {_PACKAGE_COLUMNS} FROM packages p "
            "JOIN deliveries d ON d.package_id = p.id AND d.recipient = ? "
            "WHERE p.document_id = ? AND p.kind = 'status' ORDER BY p.seq"
        )
        key = nfc(document_id)
        rows = await self._reader.run(lambda c: c.execute(sql, (sender, key)).fetchall())
        return [_package(r) for r in rows]

    # -- runtime agency changes -------------------------------------------------------------------

    async def set_agency_override(self, override: AgencyOverride) -> None:
        """Upsert; a ``None`` field keeps the stored value (last write wins per field)."""
        values = (
            override.organ_id,
            None if override.enabled is None else int(override.enabled),
            None if override.token_sha256 is None else json.dumps(list(override.token_sha256)),
            None if override.changed_at is None else to_db_time(override.changed_at),
            override.reason,
            override.signature_profile,
        )
        await self._writer.write(lambda c: c.execute(sharedsql.AGENCY_OVERRIDE_UPSERT, values))

    async def agency_overrides(self) -> Sequence[AgencyOverride]:
        """One merged record per agency, by OrganId."""
        rows = await self._reader.run(
            lambda c: c.execute(sharedsql.AGENCY_OVERRIDES_SELECT).fetchall()
        )
        return [
            AgencyOverride(
                organ_id=organ_id,
                enabled=None if enabled is None else bool(enabled),
                token_sha256=None if tokens is None else tuple(json.loads(tokens)),
                changed_at=None if changed_at is None else from_db_time(changed_at),
                reason=reason,
                signature_profile=profile,
            )
            for organ_id, enabled, tokens, changed_at, reason, profile in rows
        ]

    # -- agency directory (issue 11) --------------------------------------------------------------

    async def directory_records(self) -> Sequence[DirectoryRecord]:
        """Every stored directory entry, by code."""
        rows = await self._reader.run(lambda c: c.execute(sharedsql.DIRECTORY_SELECT).fetchall())
        return [sharedsql.directory_record(r, from_db_time) for r in rows]

    async def directory_revision(self) -> int:
        """Highest revision stored (the index answers it), 0 when empty."""
        row = await self._reader.run(lambda c: c.execute(sharedsql.DIRECTORY_REVISION).fetchone())
        return int(row[0])

    async def put_directory_records(
        self, records: Sequence[DirectoryRecord], at: datetime
    ) -> tuple[int, int]:
        """One ``BEGIN IMMEDIATE`` transaction (the writer is serialised, so the revision
        read here is still the highest when the rows are written)."""
        when = to_db_time(at)

        def tx(c: sqlite3.Connection) -> tuple[int, int]:
            (current,) = c.execute(sharedsql.DIRECTORY_REVISION).fetchone()
            revision = int(current) + 1
            before = c.total_changes
            c.executemany(
                _UPSERT_DIRECTORY,
                [
                    (r.code, r.name, r.parent, r.code102, r.old_code, revision, when)
                    for r in records
                ],
            )
            changed = c.total_changes - before
            return (revision if changed else int(current)), changed

        return await self._writer.write(tx)

    # -- VXP facade systems (issue 11) ------------------------------------------------------------

    async def put_vxp_system(self, system: VxpSystem) -> VxpSystem:
        """Upsert; the version grows by one on every replacement."""
        changed_at = system.changed_at or datetime.now(UTC)
        values = (
            system.system_id,
            json.dumps(list(system.agencies)),
            int(system.enabled),
            system.secret,
            system.secret_file,
            to_db_time(changed_at),
            system.reason,
        )
        await self._writer.write(lambda c: c.execute(sharedsql.VXP_UPSERT, values))
        stored = await self.get_vxp_system(system.system_id)
        assert stored is not None  # just written
        return stored

    async def get_vxp_system(self, system_id: str) -> VxpSystem | None:
        """One VXP system (no cache)."""
        row = await self._reader.run(
            lambda c: c.execute(
                sharedsql.VXP_SELECT + " WHERE system_id = ?", (system_id,)
            ).fetchone()
        )
        return None if row is None else sharedsql.vxp_system(row, from_db_time)

    async def vxp_systems(self) -> Sequence[VxpSystem]:
        """Every VXP system, by id."""
        rows = await self._reader.run(
            lambda c: c.execute(sharedsql.VXP_SELECT + " ORDER BY system_id").fetchall()
        )
        return [sharedsql.vxp_system(r, from_db_time) for r in rows]

    # -- dashboard (issue 6) ----------------------------------------------------------------------

    def dashboard(self) -> DashboardStore:
        """The dashboard's queries on this store's reader and writer threads."""
        from hub.store.sqlite.dashboard import SqliteDashboard  # imports this module

        return SqliteDashboard(self._reader, self._writer, cipher=self.blob_cipher)

    # -- lifecycle (issue 5) ----------------------------------------------------------------------

    def lifecycle(self) -> LifecycleStore:
        """Lifecycle state and queries on this store's reader and writer threads."""
        from hub.store.sqlite.lifecycle import SqliteLifecycle  # imports this package

        return SqliteLifecycle(self._reader, self._writer)

    # -- online revocation cache (issue 14) -------------------------------------------------------

    def revocation_cache(self) -> RevocationCacheStore:
        """The revocation cache on this store's reader and writer threads."""
        return SqliteRevocationCache(self._reader, self._writer)
