"""The scale-out :class:`~hub.store.abc.Store`: PostgreSQL through psycopg 3 and a pool.

Same tables and the same semantics as :mod:`hub.store.sqlite` (see
``docs/store-and-broker.md``); the differences are only in how they are obtained:

* **Connections**: a ``psycopg_pool.AsyncConnectionPool`` of autocommit connections, each set
  up with ``search_path`` = the configured schema, ``TimeZone = UTC`` and a server-side
  ``statement_timeout``. Every unit of work is one checkout: a single read runs bare, anything
  that writes or reads twice runs in one explicit transaction that never spans anything but
  its own statements.
* **Acceptance order**: ``add_packages`` takes a transaction-scoped advisory lock before
  inserting, so ``seq`` is assigned in commit order across every process sharing the schema;
  a cursor (``seq``-based, the same format as SQLite's) can never step over a package that
  commits later with a smaller ``seq``. Group commit keeps the serialisation cheap.
* **Failures**: a lost connection, a server restart, a timeout or an unreachable server raise
  :class:`hub.errors.Unavailable` (HTTP 503) with the DSN's password masked. A pooled
  connection found dead *before* its unit of work did anything (the server restarted or an
  operator terminated idle backends) is discarded and the work retried on another one, so the
  pool heals without failing requests; a failure in the middle of a unit of work is never
  retried unless the operation is idempotent (``add_packages`` by sha256, reads, upserts).
"""

# SQL text is assembled only from module constants, never from input; every value is a bound
# parameter.
# ruff: noqa: S608

from __future__ import annotations

import enum
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from hub.errors import Unavailable
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
from hub.store import acceptsql, sharedsql
from hub.store.abc import AcceptItem, AcceptResult, Store
from hub.store.cursors import encode_cursor
from hub.store.postgres.audit import insert_chained
from hub.store.postgres.migrate import (
    VERSION_TABLE,
    advisory_key,
    apply_migrations,
    check_schema_name,
    mask_dsn,
    scrub,
)
from hub.store.postgres.revinfo import PostgresRevocationCache
from hub.store.sharedsql import pg, pg_in
from hub.store.subunits import with_stands_for
from hub.text import nfc

if TYPE_CHECKING:
    from hub.dashboard.model import DashboardStore

T = TypeVar("T")
Conn = psycopg.AsyncConnection[TupleRow]

log = logging.getLogger("hub.store.postgres")

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

_dumps = functools.partial(json.dumps, ensure_ascii=False, default=str)

#: An unchanged entry is skipped by the WHERE: its revision (and the table's) stays put.
_UPSERT_DIRECTORY = (
    "INSERT INTO directory_entries AS d (code, name, parent, code102, old_code, revision, "
    "updated_at) SELECT code, name, parent, code102, old_code, %s, %s "
    "FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[]) "
    "AS t(code, name, parent, code102, old_code) "
    "ON CONFLICT (code) DO UPDATE SET name = excluded.name, parent = excluded.parent, "
    "code102 = excluded.code102, old_code = excluded.old_code, "
    "revision = excluded.revision, updated_at = excluded.updated_at "
    "WHERE (d.name, d.parent, d.code102, d.old_code) IS DISTINCT FROM "
    "(excluded.name, excluded.parent, excluded.code102, excluded.old_code)"
)
_MARK_QUEUED = (
    "WITH keys AS ("
    "  SELECT package_id, recipient, min(ord) AS ord "
    "  FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS k(package_id, recipient, ord) "
    "  GROUP BY package_id, recipient"
    "), moved AS ("
    "  UPDATE deliveries d SET state = 'queued', updated_at = %s FROM keys k "
    "  WHERE d.package_id = k.package_id AND d.recipient = k.recipient AND d.state = 'pending' "
    "  RETURNING d.package_id, d.recipient, d.stands_for"
    ") "
    # The queued events are chained by the caller (hub.store.postgres.audit), in key order.
    "SELECT m.package_id, m.recipient, m.stands_for FROM moved m "
    "JOIN keys k ON k.package_id = m.package_id AND k.recipient = m.recipient ORDER BY k.ord"
)


class _Idempotence(enum.Enum):
    """Whether a unit of work may run again after a failure whose outcome is unknown."""

    ONCE = "once"  # a write that must not be repeated (it appends an event, decides ``first``)
    REPEATABLE = "repeatable"  # reads, upserts, sha256-deduplicated inserts


def _aware(value: datetime) -> datetime:
    """Refuse naive datetimes (as the SQLite store does) instead of guessing their zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: the store only takes timezone-aware times")
    return value


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def inbox_sql(*, include_acked: bool, where: str = "") -> str:
    """The inbox query (parameters: recipient, after-seq, ``where``'s, limit). Literal states
    so the planner can match the partial index ``deliveries_open_inbox``. ``where``: an extra
    condition on ``p`` (the Subject search)."""
    states = (
        "('available', 'delivered', 'acked')" if include_acked else "('available', 'delivered')"
    )
    return (
        f"SELECT {_PACKAGE_COLUMNS}, {_DELIVERY_COLUMNS} FROM deliveries d "
        "JOIN packages p ON p.id = d.package_id "
        f"WHERE d.recipient = %s AND d.state IN {states} AND d.seq > %s "
        f"{'AND ' + where + ' ' if where else ''}ORDER BY d.seq LIMIT %s"
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
        recipients=tuple(recipients),
        accepted_at=_utc(accepted_at),
        size=int(size),
        signer_fingerprint=fingerprint,
        signer_subject=subject,
        warnings=tuple(warnings),
        subject=title,
    )


def _delivery(row: Sequence[Any]) -> DeliveryRecord:
    package_id, recipient, state, attempts, updated_at, last_error, acked_at, stands_for = row
    return DeliveryRecord(
        package_id=package_id,
        recipient=recipient,
        state=DeliveryState(state),
        attempts=attempts,
        updated_at=_utc(updated_at),
        last_error=last_error,
        acked_at=_utc(acked_at) if acked_at is not None else None,
        stands_for=tuple(stands_for) if stands_for else (),
    )


async def _fetchone(conn: Conn, query: str, params: Sequence[Any] = ()) -> TupleRow | None:
    cur = await conn.execute(query, params)
    return await cur.fetchone()


async def _fetchall(conn: Conn, query: str, params: Sequence[Any] = ()) -> list[TupleRow]:
    cur = await conn.execute(query, params)
    return await cur.fetchall()


async def _get_delivery(conn: Conn, package_id: str, recipient: str) -> DeliveryRecord:
    row = await _fetchone(
        conn,
        f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d "
        "WHERE d.package_id = %s AND d.recipient = %s",
        (package_id, recipient),
    )
    if row is None:
        raise KeyError((package_id, recipient))
    return _delivery(row)


async def _insert_event(conn: Conn, event: Event) -> None:
    # Every event joins one of this process's hash chains, in the caller's transaction
    # (issue 7, hub/audit): the event commits together with the state change it records.
    _aware(event.at)
    await insert_chained(conn, [event])


class PostgresStore(Store):
    """The hub's state in one PostgreSQL schema, shared by any number of hub processes.

    ``dsn`` is a libpq connection string or URL (``postgresql://user@host:5432/db``); its
    password never appears in logs or errors. ``schema`` isolates one hub (or one test run)
    inside a database. ``migrate=False`` leaves migrations to ``hub db migrate`` (deployments
    where the hub's role may not run DDL); ``open()`` then only checks the schema is there.
    ``command_timeout`` bounds each statement on the server, each wait for a pooled
    connection and each connection attempt.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "hub",
        min_size: int = 1,
        max_size: int = 10,
        command_timeout: float = 10.0,
        migrate: bool = True,
        application_name: str = "hub-store",
    ) -> None:
        if min_size < 0 or max_size < 1 or min_size > max_size:
            raise ValueError(f"invalid pool size min={min_size} max={max_size}")
        self.dsn = dsn
        self.schema = check_schema_name(schema)
        self.min_size = min_size
        self.max_size = max_size
        self.command_timeout = command_timeout
        self.migrate = migrate
        self.application_name = application_name
        self.schema_version = 0
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._seq_lock = advisory_key("seq", self.schema)

    def __repr__(self) -> str:
        return f"PostgresStore({mask_dsn(self.dsn)!r}, schema={self.schema!r})"

    # -- plumbing ------------------------------------------------------------------------------

    def _unavailable(self, exc: BaseException, what: str) -> Unavailable:
        detail = scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else "", self.dsn)
        return Unavailable(
            f"PostgreSQL store unavailable during {what} ({mask_dsn(self.dsn)}, schema "
            f"{self.schema}): {type(exc).__name__}: {detail}"
        )

    async def _why_not(self, exc: BaseException) -> BaseException:
        """The reason a pool could not open: the pool only says it timed out, one direct
        attempt says why (refused, authentication, unknown database, …)."""
        if not isinstance(exc, PoolTimeout):
            return exc
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.dsn,
                connect_timeout=max(1, round(self.command_timeout)),
                application_name=self.application_name,
            )
        except psycopg.Error as direct:
            return direct
        await conn.close()
        return exc

    async def _configure(self, conn: Conn) -> None:
        # Per connection, once: unqualified names resolve in our schema, times come back in UTC,
        # and no statement (including waits on locks) runs past command_timeout.
        timeout_ms = max(1, int(self.command_timeout * 1000))
        await conn.execute(
            sql.SQL(
                "SET search_path TO {}, pg_catalog; SET TimeZone TO 'UTC'; "
                "SET statement_timeout TO {}"
            ).format(sql.Identifier(self.schema), sql.Literal(timeout_ms))
        )

    async def _use(
        self,
        what: str,
        fn: Callable[[Conn], Awaitable[T]],
        *,
        transaction: bool,
        idempotence: _Idempotence,
    ) -> T:
        """Run ``fn`` on a pooled connection (in a transaction if asked); map failures.

        A connection that turns out to be dead before ``fn`` started (killed while idle in the
        pool) is dropped by the pool and the work retried on another one, up to one more time
        than the pool has connections. Failures after that point are retried only for
        :attr:`_Idempotence.REPEATABLE` work, since the commit may or may not have happened.
        """
        pool = self._pool
        if pool is None:
            raise Unavailable(f"PostgreSQL store ({self.schema}) is closed")
        attempts = self.max_size + 1
        for attempt in range(1, attempts + 1):
            started = False
            try:
                async with pool.connection(timeout=self.command_timeout) as conn:
                    if transaction:
                        async with conn.transaction():
                            started = True
                            return await fn(conn)
                    started = True
                    return await fn(conn)
            except psycopg.OperationalError as exc:
                # PoolTimeout and PoolClosed are OperationalErrors too: nothing to retry on.
                broken = not isinstance(exc, PoolTimeout | PoolClosed) and _looks_disconnected(exc)
                retry = broken and (not started or idempotence is _Idempotence.REPEATABLE)
                if retry and attempt < attempts:
                    log.info(
                        "PostgreSQL connection lost (%s), retrying %s: %s",
                        mask_dsn(self.dsn),
                        what,
                        scrub(str(exc).strip(), self.dsn)[:200],
                    )
                    continue
                err = self._unavailable(exc, what)
                log.warning("%s", err.detail)
                raise err from None
            except psycopg.InterfaceError as exc:
                # e.g. "the connection is closed" when the pool handed out a closed connection
                err = self._unavailable(exc, what)
                log.warning("%s", err.detail)
                raise err from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _read(self, what: str, fn: Callable[[Conn], Awaitable[T]]) -> T:
        return await self._use(what, fn, transaction=False, idempotence=_Idempotence.REPEATABLE)

    async def _read_tx(self, what: str, fn: Callable[[Conn], Awaitable[T]]) -> T:
        return await self._use(what, fn, transaction=True, idempotence=_Idempotence.REPEATABLE)

    async def _write(
        self,
        what: str,
        fn: Callable[[Conn], Awaitable[T]],
        idempotence: _Idempotence = _Idempotence.ONCE,
    ) -> T:
        return await self._use(what, fn, transaction=True, idempotence=idempotence)

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the pool (``min_size`` connections) and apply (or check) the migrations."""
        if self._pool is not None:
            return
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            self.dsn,
            min_size=self.min_size,
            max_size=self.max_size,
            open=False,
            kwargs={
                "autocommit": True,
                "application_name": self.application_name,
                "connect_timeout": max(1, round(self.command_timeout)),
            },
            configure=self._configure,
            name=f"hub-store-{self.schema}",
            timeout=self.command_timeout,
        )
        try:
            await pool.open(wait=self.min_size > 0, timeout=self.command_timeout)
        except (psycopg.Error, TimeoutError) as exc:
            await pool.close()
            err = self._unavailable(await self._why_not(exc), "open")
            log.warning("%s", err.detail)
            raise err from None
        self._pool = pool
        try:
            if self.migrate:
                self.schema_version = await self._read("migrate", self._migrate)
            else:
                self.schema_version = await self._read("schema check", self._current_version)
        except BaseException:
            await self.close()
            raise

    async def _migrate(self, conn: Conn) -> int:
        version = await apply_migrations(conn, self.schema)
        # SET LOCAL inside the migrations ended with them; the pooled connection's own
        # search_path (set in _configure) is untouched.
        return version

    async def _current_version(self, conn: Conn) -> int:
        try:
            row = await _fetchone(conn, f"SELECT COALESCE(MAX(version), 0) FROM {VERSION_TABLE}")
        except psycopg.errors.UndefinedTable as exc:
            raise Unavailable(
                f"PostgreSQL schema {self.schema} is not migrated: run `hub db migrate`"
            ) from exc
        version = int(row[0]) if row is not None else 0
        if version == 0:
            raise Unavailable(f"PostgreSQL schema {self.schema} is not migrated")
        return version

    async def close(self) -> None:
        """Close the pool (waits for connections in use to be returned); idempotent."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def ping(self) -> None:
        """Check that a connection answers and the schema is there."""
        await self._read("ping", lambda c: _fetchone(c, f"SELECT 1 FROM {VERSION_TABLE} LIMIT 1"))

    # -- accepting ---------------------------------------------------------------------------

    async def accept(self, items: Sequence[AcceptItem]) -> list[AcceptResult]:
        """One transaction (:mod:`hub.store.acceptsql`), after the ``seq`` advisory lock."""
        if not items:
            return []
        for i in items:
            _aware(i.package.accepted_at)
        now = datetime.now(UTC)

        async def execute(conn: Conn, pipe: psycopg.AsyncPipeline, op: acceptsql.Op) -> Any:
            if isinstance(op, acceptsql.Chain):
                for e in op.events:
                    _aware(e.at)
                await insert_chained(conn, op.events)
                return None
            if isinstance(op, acceptsql.Many):
                async with conn.cursor() as cur:
                    await cur.executemany(pg(op.sql), op.rows)
                return None
            cur = await conn.execute(pg(op.sql), op.params)
            if isinstance(op, acceptsql.Fetch):
                return await cur.fetchall()
            if op.counted:
                await pipe.sync()
                return cur.rowcount
            return None

        async def tx(conn: Conn) -> list[AcceptResult]:
            # Pipeline mode: statements whose results the script does not wait for (the
            # savepoints, the many-row inserts) travel with the next one that it does, so a
            # new document costs two round trips (its row, the lifecycle check) instead of
            # four.
            async with conn.pipeline() as pipe:
                # Serialise seq assignment with every other writer of this schema (see the
                # module doc).
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._seq_lock,))
                script = acceptsql.accept_script(items, cipher=self.blob_cipher, t=pg_in, now=now)
                return await acceptsql.drive_async(script, lambda op: execute(conn, pipe, op))

        # Repeatable: if the commit's outcome is unknown, running the group again either
        # stores it or finds every sha256 already there (reported SAME_BYTES then: the
        # caller's sha256 look-up finds its own package, see Ingestor._accept).
        return await self._write("accept", tx, _Idempotence.REPEATABLE)

    async def _one_package(self, where: str, params: Sequence[Any]) -> PackageRecord | None:
        query = f"SELECT {_PACKAGE_COLUMNS} FROM packages p WHERE {where} ORDER BY p.seq LIMIT 1"
        row = await self._read("package look-up", lambda c: _fetchone(c, query, params))
        return _package(row) if row is not None else None

    async def find_by_sha256(self, sha256: str) -> PackageRecord | None:
        """The package stored with exactly these bytes, if any."""
        return await self._one_package("p.sha256 = %s", (sha256,))

    async def find_document(
        self, sender: str, document_id: str, business_doc_type: int | None
    ) -> PackageRecord | None:
        """The first stored *document* (not status) from ``sender`` with this DocumentId and
        BussinessDocType (``None`` matches packages stored without one). DocumentIds compare
        in NFC (stored keys are NFC)."""
        document_id = nfc(document_id)
        # Two spellings rather than IS NOT DISTINCT FROM, which no index can serve.
        if business_doc_type is None:
            return await self._one_package(
                "p.sender = %s AND p.document_id = %s AND p.business_doc_type IS NULL "
                "AND p.kind = 'document'",
                (sender, document_id),
            )
        return await self._one_package(
            "p.sender = %s AND p.document_id = %s AND p.business_doc_type = %s "
            "AND p.kind = 'document'",
            (sender, document_id, business_doc_type),
        )

    async def duplicate_documents(self) -> Sequence[tuple[PackageRecord, str]]:
        """Packages migration 0014 marked ``duplicate_of`` the first with their DocumentId."""
        sql = (
            f"SELECT {_PACKAGE_COLUMNS}, p.duplicate_of FROM packages p "
            "WHERE p.duplicate_of IS NOT NULL ORDER BY p.seq"
        )
        rows = await self._read("duplicate documents", lambda c: _fetchall(c, sql))
        return [(_package(row[:-1]), str(row[-1])) for row in rows]

    async def get_package(self, package_id: str) -> PackageRecord | None:
        """Look up a package's record."""
        return await self._one_package("p.id = %s", (package_id,))

    async def _blob(self, column: str, package_id: str) -> bytes | None:
        query = pg(sharedsql.BLOB_SELECT[column])

        async def q(conn: Conn) -> TupleRow | None:
            # Binary results: the bytes arrive as they are stored, without hex decoding.
            cur = conn.cursor(binary=True)
            await cur.execute(query, (package_id,))
            return await cur.fetchone()

        row = await self._read("blob read", q)
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
        row = await self._read("count blobs", lambda c: _fetchone(c, sharedsql.COUNT_BLOBS))
        return int(row[0]) if row is not None else 0

    async def blob_headers(
        self, after_id: str, limit: int, head: int
    ) -> Sequence[tuple[str, bytes, int]]:
        """Ids, first ``head`` bytes and lengths of the blobs after ``after_id``, by id."""
        query = (
            "SELECT package_id, substring(data from 1 for %s), octet_length(data) "
            "FROM package_blobs WHERE package_id > %s ORDER BY package_id LIMIT %s"
        )
        rows = await self._read(
            "blob headers", lambda c: _fetchall(c, query, (head, after_id, limit))
        )
        return [(str(i), bytes(h or b""), int(n or 0)) for i, h, n in rows]

    async def stored_blobs(self, package_ids: Sequence[str]) -> dict[str, bytes]:
        """Blobs as stored (still sealed), by package id."""
        if not package_ids:
            return {}

        async def q(conn: Conn) -> list[TupleRow]:
            cur = conn.cursor(binary=True)
            await cur.execute(
                "SELECT package_id, data FROM package_blobs WHERE package_id = ANY(%s)",
                (list(package_ids),),
            )
            return await cur.fetchall()

        rows = await self._read("stored blobs", q)
        return {str(i): bytes(d) for i, d in rows}

    async def replace_blobs(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        """Compare-and-set each blob on its exact old bytes, in one short transaction."""
        if not changes:
            return 0

        async def tx(conn: Conn) -> int:
            cur = await conn.execute(
                "UPDATE package_blobs b SET data = t.new "
                "FROM unnest(%s::text[], %s::bytea[], %s::bytea[]) AS t(id, old, new) "
                "WHERE b.package_id = t.id AND b.data = t.old AND b.purged_at IS NULL",
                (
                    [c[0] for c in changes],
                    [c[1] for c in changes],
                    [c[2] for c in changes],
                ),
            )
            return cur.rowcount

        # Repeatable: a retry after an unknown outcome finds the new bytes and replaces none.
        return await self._write("replace blobs", tx, _Idempotence.REPEATABLE)

    async def get_receipt(self, package_id: str) -> bytes | None:
        """The signed receipt issued for the package."""
        return await self._blob("receipt", package_id)

    # -- deliveries ------------------------------------------------------------------------------

    async def pending_deliveries(self, limit: int = 1000) -> Sequence[DeliveryRecord]:
        """Deliveries still ``pending``, oldest package first."""
        query = (
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d WHERE d.state = 'pending' "
            "ORDER BY d.seq, d.recipient LIMIT %s"
        )
        rows = await self._read("pending deliveries", lambda c: _fetchall(c, query, (limit,)))
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

        ``attempts``/``error`` of ``None`` keep the stored values. Raises ``KeyError`` when
        there is no such delivery; leaves an ``acked`` delivery unchanged (no event).
        """
        now = datetime.now(UTC)
        state = DeliveryState(state)
        detail: dict[str, object] = dict(event_detail or {})
        if error is not None:
            detail.setdefault("error", error)

        async def tx(conn: Conn) -> DeliveryRecord:
            # One conditional UPDATE: the row lock it takes orders it against a concurrent ack,
            # which then either saw this change or made this one match nothing.
            row = await _fetchone(
                conn,
                "UPDATE deliveries d SET state = %s, attempts = COALESCE(%s, d.attempts), "
                "updated_at = %s, last_error = COALESCE(%s, d.last_error), "
                "acked_at = COALESCE(%s, d.acked_at) "
                "WHERE d.package_id = %s AND d.recipient = %s AND d.state <> 'acked' "
                f"RETURNING {_DELIVERY_COLUMNS}",
                (
                    state.value,
                    attempts,
                    now,
                    error,
                    now if state is DeliveryState.ACKED else None,
                    package_id,
                    recipient,
                ),
            )
            if row is None:
                return await _get_delivery(conn, package_id, recipient)  # acked, or KeyError
            record = _delivery(row)
            await _insert_event(
                conn,
                Event(
                    package_id=package_id,
                    kind=state.value,
                    at=now,
                    recipient=recipient,
                    attempt=record.attempts,
                    detail=with_stands_for(detail, record),
                ),
            )
            return record

        return await self._write("set_delivery_state", tx)

    async def mark_queued(self, keys: Sequence[tuple[str, str]]) -> None:
        """``pending`` → ``queued`` with a ``queued`` event each, in one statement."""
        if not keys:
            return
        now = datetime.now(UTC)
        params = ([k[0] for k in keys], [k[1] for k in keys], now)

        async def tx(conn: Conn) -> None:
            moved = await _fetchall(conn, _MARK_QUEUED, params)
            await insert_chained(
                conn,
                [
                    Event(
                        package_id=str(p),
                        kind="queued",
                        at=now,
                        recipient=str(r),
                        detail={"for": list(f)} if f else {},
                    )
                    for p, r, f in moved
                ],
            )

        # Repeatable: only pending rows move, so a second run finds nothing left to do.
        await self._write("mark_queued", tx, _Idempotence.REPEATABLE)

    async def get_delivery(self, package_id: str, recipient: str) -> DeliveryRecord | None:
        """One delivery."""

        async def q(conn: Conn) -> DeliveryRecord | None:
            try:
                return await _get_delivery(conn, package_id, recipient)
            except KeyError:
                return None

        return await self._read("delivery look-up", q)

    async def deliveries_for(self, package_id: str) -> Sequence[DeliveryRecord]:
        """Every delivery of a package, by recipient."""
        query = (
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d WHERE d.package_id = %s "
            "ORDER BY d.recipient"
        )
        rows = await self._read("deliveries", lambda c: _fetchall(c, query, (package_id,)))
        return [_delivery(r) for r in rows]

    async def ack(
        self, package_id: str, recipient: str, at: datetime
    ) -> tuple[DeliveryRecord, bool]:
        """Acknowledge once: the conditional UPDATE makes concurrent acks (tasks or processes)
        count exactly one ``first`` — a second UPDATE waits on the row lock, then re-checks
        ``state <> 'acked'`` against the committed row and matches nothing."""
        _aware(at)
        now = datetime.now(UTC)

        async def tx(conn: Conn) -> tuple[DeliveryRecord, bool]:
            row = await _fetchone(
                conn,
                "UPDATE deliveries d SET state = 'acked', acked_at = %s, updated_at = %s "
                "WHERE d.package_id = %s AND d.recipient = %s AND d.state <> 'acked' "
                f"RETURNING {_DELIVERY_COLUMNS}",
                (at, now, package_id, recipient),
            )
            if row is None:
                return await _get_delivery(conn, package_id, recipient), False  # or KeyError
            record = _delivery(row)
            await _insert_event(
                conn,
                Event(
                    package_id=package_id,
                    kind="acked",
                    at=at,
                    recipient=recipient,
                    attempt=record.attempts,
                    detail=with_stands_for({}, record),
                ),
            )
            return record, True

        return await self._write("ack", tx)

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
            cursor, limit, q, self.blob_cipher, placeholder="%s"
        )
        query = inbox_sql(include_acked=include_acked, where=where)
        params = (recipient, after, *words, limit + 1)
        rows = await self._read("inbox", lambda c: _fetchall(c, query, params))
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
            cursor, limit, q, self.blob_cipher, placeholder="%s"
        )
        listing = (
            f"SELECT {_PACKAGE_COLUMNS} FROM packages p WHERE p.sender = %s AND p.seq > %s "
            f"{'AND ' + where + ' ' if where else ''}ORDER BY p.seq LIMIT %s"
        )
        params = (sender, after, *words, limit + 1)

        async def query(conn: Conn) -> tuple[list[TupleRow], dict[str, list[DeliveryRecord]]]:
            rows = await _fetchall(conn, listing, params)
            ids = [str(r[1]) for r in rows[:limit]]
            by_package: dict[str, list[DeliveryRecord]] = {i: [] for i in ids}
            if ids:
                for d in await _fetchall(
                    conn,
                    f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d "
                    "WHERE d.package_id = ANY(%s::text[]) ORDER BY d.package_id, d.recipient",
                    (ids,),
                ):
                    by_package[str(d[0])].append(_delivery(d))
            return rows, by_package

        rows, by_package = await self._read_tx("outbox", query)
        items = tuple((_package(r), tuple(by_package[str(r[1])])) for r in rows[:limit])
        more = len(rows) > limit
        return Page(items=items, next=encode_cursor(rows[limit - 1][0]) if more else None)

    async def count_packages(self) -> int:
        """Number of stored packages."""
        row = await self._read("count", lambda c: _fetchone(c, "SELECT count(*) FROM packages"))
        return int(row[0]) if row is not None else 0

    # -- events --------------------------------------------------------------------------------

    async def append_event(self, event: Event) -> None:
        """Append to the event log (``event.seq`` is ignored: the store assigns it)."""
        _aware(event.at)
        await self._write("append_event", lambda c: _insert_event(c, event))

    async def events_for(self, package_id: str) -> Sequence[Event]:
        """The trace of one package, in append order."""
        rows = await self._read(
            "events",
            lambda c: _fetchall(
                c,
                "SELECT seq, package_id, kind, at, recipient, attempt, detail FROM events "
                "WHERE package_id = %s ORDER BY seq",
                (package_id,),
            ),
        )
        return [
            Event(
                package_id=package_id_,
                kind=kind,
                at=_utc(at),
                recipient=recipient,
                attempt=attempt,
                detail=dict(detail),
                seq=int(seq),
            )
            for seq, package_id_, kind, at, recipient, attempt, detail in rows
        ]

    async def related_statuses(self, sender: str, document_id: str) -> Sequence[PackageRecord]:
        """Status packages whose ResponseFor/DocumentId is ``document_id`` and which were
        addressed to ``sender`` (the document's author), in acceptance order."""
        query = (
            f"SELECT {_PACKAGE_COLUMNS} FROM packages p "
            "JOIN deliveries d ON d.package_id = p.id AND d.recipient = %s "
            "WHERE p.document_id = %s AND p.kind = 'status' ORDER BY p.seq"
        )
        rows = await self._read(
            "related statuses", lambda c: _fetchall(c, query, (sender, nfc(document_id)))
        )
        return [_package(r) for r in rows]

    # -- runtime agency changes -------------------------------------------------------------------

    async def set_agency_override(self, override: AgencyOverride) -> None:
        """Upsert; a ``None`` field keeps the stored value (last write wins per field)."""
        values = (
            override.organ_id,
            override.enabled,
            None if override.token_sha256 is None else Jsonb(list(override.token_sha256)),
            None if override.changed_at is None else _aware(override.changed_at),
            override.reason,
            override.signature_profile,
        )

        async def tx(conn: Conn) -> None:
            await conn.execute(pg(sharedsql.AGENCY_OVERRIDE_UPSERT), values)

        await self._write("set_agency_override", tx, _Idempotence.REPEATABLE)

    async def agency_overrides(self) -> Sequence[AgencyOverride]:
        """One merged record per agency, by OrganId."""
        rows = await self._read(
            "agency overrides",
            lambda c: _fetchall(c, sharedsql.AGENCY_OVERRIDES_SELECT),
        )
        return [
            AgencyOverride(
                organ_id=organ_id,
                enabled=enabled,
                token_sha256=None if tokens is None else tuple(tokens),
                changed_at=None if changed_at is None else _utc(changed_at),
                reason=reason,
                signature_profile=profile,
            )
            for organ_id, enabled, tokens, changed_at, reason, profile in rows
        ]

    # -- agency directory (issue 11) --------------------------------------------------------------

    async def directory_records(self) -> Sequence[DirectoryRecord]:
        """Every stored directory entry, by code."""
        rows = await self._read(
            "directory",
            lambda c: _fetchall(c, sharedsql.DIRECTORY_SELECT),
        )
        return [sharedsql.directory_record(r, _utc) for r in rows]

    async def directory_revision(self) -> int:
        """Highest revision stored (the index answers it), 0 when empty."""
        row = await self._read(
            "directory revision",
            lambda c: _fetchone(c, sharedsql.DIRECTORY_REVISION),
        )
        return 0 if row is None else int(row[0])

    async def put_directory_records(
        self, records: Sequence[DirectoryRecord], at: datetime
    ) -> tuple[int, int]:
        """One transaction; the table lock makes concurrent imports (other processes) take
        revisions one after the other instead of both writing ``max + 1``."""
        when = _aware(at)
        columns: list[list[str | None]] = [[], [], [], [], []]
        for r in records:
            for column, value in zip(
                columns, (r.code, r.name, r.parent, r.code102, r.old_code), strict=True
            ):
                column.append(value)

        async def tx(conn: Conn) -> tuple[int, int]:
            # SHARE ROW EXCLUSIVE conflicts with itself: one import at a time; readers go on.
            await conn.execute("LOCK TABLE directory_entries IN SHARE ROW EXCLUSIVE MODE")
            row = await _fetchone(conn, sharedsql.DIRECTORY_REVISION)
            current = 0 if row is None else int(row[0])
            cur = await conn.execute(_UPSERT_DIRECTORY, (current + 1, when, *columns))
            changed = max(cur.rowcount, 0)
            return (current + 1 if changed else current), changed

        return await self._write("put_directory_records", tx)

    # -- VXP facade systems (issue 11) ------------------------------------------------------------

    async def put_vxp_system(self, system: VxpSystem) -> VxpSystem:
        """Upsert; the version grows by one on every replacement."""
        changed_at = _aware(system.changed_at or datetime.now(UTC))
        values = (
            system.system_id,
            json.dumps(list(system.agencies)),
            system.enabled,
            system.secret,
            system.secret_file,
            changed_at,
            system.reason,
        )

        async def tx(conn: Conn) -> None:
            await conn.execute(pg(sharedsql.VXP_UPSERT), values)

        await self._write("put_vxp_system", tx, _Idempotence.REPEATABLE)
        stored = await self.get_vxp_system(system.system_id)
        assert stored is not None  # just written
        return stored

    async def get_vxp_system(self, system_id: str) -> VxpSystem | None:
        """One VXP system (no cache)."""
        row = await self._read(
            "vxp system",
            lambda c: _fetchone(c, pg(sharedsql.VXP_SELECT + " WHERE system_id = ?"), (system_id,)),
        )
        return None if row is None else sharedsql.vxp_system(row, _utc)

    async def vxp_systems(self) -> Sequence[VxpSystem]:
        """Every VXP system, by id."""
        rows = await self._read(
            "vxp systems",
            lambda c: _fetchall(c, sharedsql.VXP_SELECT + " ORDER BY system_id"),
        )
        return [sharedsql.vxp_system(r, _utc) for r in rows]

    # -- dashboard (issue 6) ----------------------------------------------------------------------

    def dashboard(self) -> DashboardStore:
        """The dashboard's queries through this store's pool and failure mapping."""
        from hub.store.postgres.dashboard import PostgresDashboard  # imports this module

        return PostgresDashboard(self._read, self._read_tx, self._write, cipher=self.blob_cipher)

    # -- lifecycle (issue 5) ----------------------------------------------------------------------

    def lifecycle(self) -> LifecycleStore:
        """Lifecycle state and queries through this store's pool and failure mapping."""
        from hub.store.postgres.lifecycle import PostgresLifecycle  # imports this package

        return PostgresLifecycle(self._read, self._write)

    # -- online revocation cache (issue 14) -------------------------------------------------------

    def revocation_cache(self) -> RevocationCacheStore:
        """The revocation cache through this store's pool and failure mapping."""
        return PostgresRevocationCache(self._read, self._write)


def _looks_disconnected(exc: psycopg.OperationalError) -> bool:
    """Whether the error means the connection is gone (server restart, terminated backend,
    network), as opposed to a timeout or a conflict on a live connection."""
    if isinstance(exc, psycopg.errors.AdminShutdown | psycopg.errors.CrashShutdown):
        return True
    if isinstance(exc, psycopg.errors.QueryCanceled | psycopg.errors.TransactionRollback):
        return False
    # Client-side losses ("server closed the connection unexpectedly", "consuming input
    # failed", "the connection is lost") carry no SQLSTATE.
    return exc.sqlstate is None or exc.sqlstate.startswith("08")
