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

import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.models import (
    DeliveryChange,
    DeliveryRecord,
    DirectoryRecord,
    Event,
    FetchedPackage,
    PackageRecord,
    Page,
    Settled,
)
from hub.sqlitedb import (
    Migration,
    SqliteConnection,
    Synchronous,
    apply_migrations,
    load_migrations,
    to_db_time,
)
from hub.store.abc import AcceptItem, AcceptResult
from hub.store.facets import (
    AuditStore,
    DashboardStore,
    EventChainer,
    LifecycleStore,
    RevocationCacheStore,
)
from hub.store.sql import accept as accept_sql
from hub.store.sql import directory
from hub.store.sql import packages as pkg_sql
from hub.store.sql import settle as settle_sql
from hub.store.sql.dashboard import PackageCount
from hub.store.sql.store import SqlStore
from hub.store.sqlite.audit import SqliteAudit, insert_chained
from hub.store.sqlite.dashboard import SqliteDashboard
from hub.store.sqlite.dialect import SQLITE
from hub.store.sqlite.lifecycle import SqliteLifecycle
from hub.store.sqlite.revinfo import SqliteRevocationCache
from hub.store.sqlite.rows import deliveries_of
from hub.text import nfc

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: Scripts that are the same text for SQLite and PostgreSQL, read by both backends.
SHARED_MIGRATIONS_DIR = Path(__file__).parent.parent / "migrations"


def migrations() -> tuple[Migration, ...]:
    """The SQLite store's migration scripts (its own and the shared ones), by number."""
    return load_migrations(MIGRATIONS_DIR, SHARED_MIGRATIONS_DIR)


VERSION_TABLE = "schema_version"

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


def _get_delivery(conn: sqlite3.Connection, package_id: str, recipient: str) -> DeliveryRecord:
    row = conn.execute(pkg_sql.GET_DELIVERY, (package_id, recipient)).fetchone()
    if row is None:
        raise KeyError((package_id, recipient))
    return pkg_sql.delivery(row, SQLITE)


class SqliteStore(SqlStore):
    """The hub's state in one SQLite file (WAL); safe to share between processes.

    ``synchronous`` exists for measurements and throw-away deployments; keep ``FULL`` in
    production (see the module docstring).

    ``chainer``: the audit chain every event joins (required; see
    :class:`~hub.store.sql.store.SqlStore`).
    """

    dialect = SQLITE

    def __init__(
        self,
        path: Path | str,
        *,
        chainer: EventChainer,
        busy_timeout_ms: int = 10000,
        synchronous: Synchronous = "FULL",
    ) -> None:
        self.path = Path(path)
        self.chainer = chainer
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
        # The dashboard's package total, counted on from where its last read left it.
        self._package_count = PackageCount()

    def _insert_events(self, conn: sqlite3.Connection, events: Sequence[Event]) -> None:
        # Every event joins this process's hash chain, in the caller's transaction (issue 7):
        # the event commits together with the state change it records.
        insert_chained(conn, self.chainer, events)

    # -- the primitives of SqlStore -------------------------------------------------------------

    async def _rows(
        self, what: str, query: str, params: Sequence[Any] = ()
    ) -> Sequence[Sequence[Any]]:
        return await self._reader.run(lambda c: c.execute(query, params).fetchall())

    async def _move(
        self,
        what: str,
        query: str,
        params: Sequence[Any],
        key: tuple[str, str],
        event: Callable[[DeliveryRecord], Event],
    ) -> tuple[DeliveryRecord, bool]:
        def tx(conn: sqlite3.Connection) -> tuple[DeliveryRecord, bool]:
            row = conn.execute(query, params).fetchone()
            if row is None:
                return _get_delivery(conn, *key), False
            record = pkg_sql.delivery(row, SQLITE)
            self._insert_events(conn, [event(record)])
            return record, True

        return await self._writer.write(tx)

    async def _upsert(self, what: str, query: str, params: Sequence[Any]) -> None:
        await self._writer.write(lambda c: c.execute(query, params))

    async def _write_rows(
        self, what: str, query: str, params: Sequence[Any]
    ) -> Sequence[Sequence[Any]]:
        return await self._writer.write(lambda c: c.execute(query, params).fetchall())

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        """Open both connections; migrate on the writer first so the reader sees the schema."""
        if self._writer.is_open:
            return
        scripts = migrations()

        def migrate(conn: sqlite3.Connection) -> None:
            self.schema_version = apply_migrations(conn, VERSION_TABLE, scripts)

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
        """One ``BEGIN IMMEDIATE`` transaction on the writer (:mod:`hub.store.sql.accept`)."""
        if not items:
            return []
        script = accept_sql.accept_script(
            items, cipher=self.blob_cipher, d=SQLITE, now=datetime.now(UTC)
        )

        def tx(conn: sqlite3.Connection) -> list[AcceptResult]:
            def execute(op: accept_sql.Op) -> Any:
                if isinstance(op, accept_sql.Run):
                    return conn.execute(op.sql, op.params).rowcount
                if isinstance(op, accept_sql.Fetch):
                    return conn.execute(op.sql, op.params).fetchall()
                if isinstance(op, accept_sql.Many):
                    conn.executemany(op.sql, op.rows)
                    return None
                self._insert_events(conn, op.events)
                return None

            return accept_sql.drive(script, execute)

        return await self._writer.write(tx)

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

    # -- stored bytes as stored (issue 14, re-encryption) --------------------------------------

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

    # -- deliveries ------------------------------------------------------------------------------

    async def mark_queued(self, keys: Sequence[tuple[str, str]]) -> None:
        """``pending`` → ``queued`` with a ``queued`` event each, in one transaction."""
        if not keys:
            return
        now = datetime.now(UTC)
        at = to_db_time(now)

        def tx(conn: sqlite3.Connection) -> None:
            events: list[Event] = []
            for package_id, recipient in keys:
                row = conn.execute(
                    "UPDATE deliveries SET state = 'queued', updated_at = ? "
                    "WHERE package_id = ? AND recipient = ? AND state = 'pending' "
                    "RETURNING stands_for",
                    (at, package_id, recipient),
                ).fetchone()
                if row is not None:
                    events.append(pkg_sql.queued_event(package_id, recipient, now, row[0], SQLITE))
            self._insert_events(conn, events)

        await self._writer.write(tx)

    # -- listings ------------------------------------------------------------------------------

    # -- recipients' side in groups (hub.store.sql.settle) ------------------------------------

    async def settle(self, changes: Sequence[DeliveryChange]) -> list[Settled]:
        """The group in one write transaction on the writer thread (see the contract)."""
        if not changes:
            return []
        plan = settle_sql.SettlePlan(changes, datetime.now(UTC), SQLITE)

        def tx(conn: sqlite3.Connection) -> list[Settled]:
            moved = [conn.execute(text, params).fetchone() for text, params in plan.moves]
            current = {
                key: conn.execute(settle_sql.DELIVERY_SELECT, key).fetchone()
                for key in plan.missed(moved)
            }
            outcomes, events = plan.settled(moved, current)
            self._insert_events(conn, events)
            return outcomes

        return await self._writer.write(tx)

    async def fetch_package(self, package_id: str, recipient: str | None) -> FetchedPackage | None:
        """Record, bytes and delivery in one read on the reader thread."""
        sql = settle_sql.fetch_sql()
        row = await self._reader.run(lambda c: c.execute(sql, (recipient, package_id)).fetchone())
        return settle_sql.fetched(row, SQLITE, self.blob_cipher)

    async def outbox(
        self, sender: str, *, cursor: str | None = None, limit: int = 100, q: str | None = None
    ) -> Page[tuple[PackageRecord, tuple[DeliveryRecord, ...]]]:
        """The sender's packages in acceptance order, each with its deliveries by recipient;
        ``q``: only packages whose Subject has every folded word of ``q``."""
        after, where, words = pkg_sql.page_start(cursor, limit, q, self.blob_cipher)
        query = pkg_sql.outbox_sql(SQLITE, where)
        params = (sender, after, *words, limit + 1)

        def read(
            conn: sqlite3.Connection,
        ) -> Page[tuple[PackageRecord, tuple[DeliveryRecord, ...]]]:
            rows = conn.execute(query, params).fetchall()
            return pkg_sql.outbox_page(
                rows, deliveries_of(conn, pkg_sql.outbox_ids(rows, limit)), limit, SQLITE
            )

        return await self._reader.read(read)

    # -- events --------------------------------------------------------------------------------

    async def append_event(self, event: Event) -> None:
        """Append to the event log (``event.seq`` is ignored: the store assigns it)."""
        await self._writer.write(lambda c: self._insert_events(c, [event]))

    # -- agency directory (issue 11) --------------------------------------------------------------

    async def put_directory_records(
        self, records: Sequence[DirectoryRecord], at: datetime
    ) -> tuple[int, int]:
        """One ``BEGIN IMMEDIATE`` transaction (the writer is serialised, so the revision
        read here is still the highest when the rows are written)."""
        when = to_db_time(at)

        def tx(c: sqlite3.Connection) -> tuple[int, int]:
            (current,) = c.execute(directory.DIRECTORY_REVISION).fetchone()
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

    # -- dashboard (issue 6) ----------------------------------------------------------------------

    def dashboard(self) -> DashboardStore:
        """The dashboard's queries on this store's reader and writer threads."""
        return SqliteDashboard(
            self._reader, self._writer, cipher=self.blob_cipher, package_count=self._package_count
        )

    # -- lifecycle (issue 5) ----------------------------------------------------------------------

    def lifecycle(self) -> LifecycleStore:
        """Lifecycle state and queries on this store's reader and writer threads."""
        return SqliteLifecycle(self._reader, self._writer)

    # -- audit log (issue 7) ----------------------------------------------------------------------

    def audit(self) -> AuditStore:
        """The audit log on this store's reader and writer threads."""
        return SqliteAudit(self._reader, self._writer, self.chainer)

    # -- online revocation cache (issue 14) -------------------------------------------------------

    def revocation_cache(self) -> RevocationCacheStore:
        """The revocation cache on this store's reader and writer threads."""
        return SqliteRevocationCache(self._reader, self._writer)
