"""The scale-out :class:`~hub.store.abc.Store`: PostgreSQL through psycopg 3 and a pool.

Same tables and the same semantics as :mod:`hub.store.sqlite` (see
``docs/store-and-broker.md``); the differences are only in how they are obtained:

* **Connections**: a ``psycopg_pool.AsyncConnectionPool`` of autocommit connections, each set
  up with ``search_path`` = the configured schema, ``TimeZone = UTC`` and a server-side
  ``statement_timeout``. Every unit of work is one checkout: a single read runs bare, anything
  that writes or reads twice runs in one explicit transaction that never spans anything but
  its own statements.
* **Acceptance order**: ``accept`` takes a transaction-scoped advisory lock before
  inserting, so ``seq`` is assigned in commit order across every process sharing the schema;
  a cursor (``seq``-based, the same format as SQLite's) can never step over a package that
  commits later with a smaller ``seq``. Group commit keeps the serialisation cheap.
* **Failures**: a lost connection, a server restart, a timeout or an unreachable server raise
  :class:`hub.errors.Unavailable` (HTTP 503) with the DSN's password masked. A pooled
  connection found dead *before* its unit of work did anything (the server restarted or an
  operator terminated idle backends) is discarded and the work retried on another one, so the
  pool heals without failing requests; a failure in the middle of a unit of work is never
  retried unless the operation is idempotent (``accept`` by sha256, reads, upserts).
"""

# SQL text is assembled only from module constants, never from input; every value is a bound
# parameter.
# ruff: noqa: S608

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from hub.errors import Unavailable
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
from hub.store.abc import AcceptItem, AcceptResult
from hub.store.facets import (
    AuditStore,
    DashboardStore,
    EventChainer,
    LifecycleStore,
    RevocationCacheStore,
)
from hub.store.postgres.audit import PostgresAudit, insert_chained
from hub.store.postgres.dashboard import PostgresDashboard
from hub.store.postgres.dialect import POSTGRES, Conn
from hub.store.postgres.dialect import fetchall as _fetchall
from hub.store.postgres.dialect import fetchone as _fetchone
from hub.store.postgres.lifecycle import PostgresLifecycle
from hub.store.postgres.migrate import (
    VERSION_TABLE,
    advisory_key,
    apply_migrations,
    check_schema_name,
    mask_dsn,
    scrub,
)
from hub.store.postgres.revinfo import PostgresRevocationCache
from hub.store.postgres.rows import deliveries_of
from hub.store.sql import accept as accept_sql
from hub.store.sql import directory
from hub.store.sql import packages as pkg_sql
from hub.store.sql import settle as settle_sql
from hub.store.sql.dashboard import PackageCount
from hub.store.sql.dialect import aware as _aware
from hub.store.sql.store import SqlStore
from hub.text import nfc

T = TypeVar("T")

log = logging.getLogger("hub.store.postgres")

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


_GET_DELIVERY = POSTGRES.sql(pkg_sql.GET_DELIVERY)

#: Lock the given deliveries that no other transaction holds, without waiting for the others
#: (``PostgresStore.settle``); returns the keys locked.
_LOCK_FREE_DELIVERIES = (
    "SELECT d.package_id, d.recipient FROM deliveries d "
    "JOIN unnest(%s::text[], %s::text[]) AS k(package_id, recipient) "
    "ON d.package_id = k.package_id AND d.recipient = k.recipient "
    "FOR UPDATE OF d SKIP LOCKED"
)


async def _get_delivery(conn: Conn, package_id: str, recipient: str) -> DeliveryRecord:
    row = await _fetchone(conn, _GET_DELIVERY, (package_id, recipient))
    if row is None:
        raise KeyError((package_id, recipient))
    return pkg_sql.delivery(row, POSTGRES)


class PostgresStore(SqlStore):
    """The hub's state in one PostgreSQL schema, shared by any number of hub processes.

    ``dsn`` is a libpq connection string or URL (``postgresql://user@host:5432/db``); its
    password never appears in logs or errors. ``schema`` isolates one hub (or one test run)
    inside a database. ``migrate=False`` leaves migrations to ``hub db migrate`` (deployments
    where the hub's role may not run DDL); ``open()`` then only checks the schema is there.
    ``command_timeout`` bounds each statement on the server, each wait for a pooled
    connection and each connection attempt.

    ``chainer``: the audit chain every event joins (required; see
    :class:`~hub.store.sql.store.SqlStore`).
    """

    dialect = POSTGRES

    def __init__(
        self,
        dsn: str,
        *,
        chainer: EventChainer,
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
        self.chainer = chainer
        self.schema = check_schema_name(schema)
        self.min_size = min_size
        self.max_size = max_size
        self.command_timeout = command_timeout
        self.migrate = migrate
        self.application_name = application_name
        self.schema_version = 0
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._seq_lock = advisory_key("seq", self.schema)
        # The dashboard's package total, counted on from where its last read left it.
        self._package_count = PackageCount()

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

    async def _insert_event(self, conn: Conn, event: Event) -> None:
        # Every event joins one of this process's hash chains, in the caller's transaction
        # (issue 7): the event commits together with the state change it records.
        _aware(event.at)
        await insert_chained(conn, self.chainer, [event])

    # -- the primitives of SqlStore -------------------------------------------------------------

    async def _rows(
        self, what: str, query: str, params: Sequence[Any] = ()
    ) -> Sequence[Sequence[Any]]:
        text = POSTGRES.sql(query)
        return await self._read(what, lambda c: _fetchall(c, text, params))

    async def _blob_rows(
        self, what: str, query: str, params: Sequence[Any]
    ) -> Sequence[Sequence[Any]]:
        text = POSTGRES.sql(query)

        async def q(conn: Conn) -> list[TupleRow]:
            cur = conn.cursor(binary=True)
            await cur.execute(text, params)
            return await cur.fetchall()

        return await self._read(what, q)

    async def _move(
        self,
        what: str,
        query: str,
        params: Sequence[Any],
        key: tuple[str, str],
        event: Callable[[DeliveryRecord], Event],
    ) -> tuple[DeliveryRecord, bool]:
        text = POSTGRES.sql(query)

        async def tx(conn: Conn) -> tuple[DeliveryRecord, bool]:
            row = await _fetchone(conn, text, params)
            if row is None:
                return await _get_delivery(conn, *key), False
            record = pkg_sql.delivery(row, POSTGRES)
            await self._insert_event(conn, event(record))
            return record, True

        return await self._write(what, tx)

    async def _upsert(self, what: str, query: str, params: Sequence[Any]) -> None:
        text = POSTGRES.sql(query)

        async def tx(conn: Conn) -> None:
            await conn.execute(text, params)

        await self._write(what, tx, _Idempotence.REPEATABLE)

    async def _write_rows(
        self, what: str, query: str, params: Sequence[Any]
    ) -> Sequence[Sequence[Any]]:
        text = POSTGRES.sql(query)
        return await self._write(what, lambda c: _fetchall(c, text, params))

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
        """One transaction (:mod:`hub.store.sql.accept`), after the ``seq`` advisory lock."""
        if not items:
            return []
        for i in items:
            _aware(i.package.accepted_at)
        now = datetime.now(UTC)

        async def execute(conn: Conn, pipe: psycopg.AsyncPipeline, op: accept_sql.Op) -> Any:
            if isinstance(op, accept_sql.Chain):
                for e in op.events:
                    _aware(e.at)
                await insert_chained(conn, self.chainer, op.events)
                return None
            if isinstance(op, accept_sql.Many):
                async with conn.cursor() as cur:
                    await cur.executemany(op.sql, op.rows)
                return None
            cur = await conn.execute(op.sql, op.params)
            if isinstance(op, accept_sql.Fetch):
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
                # A new script per attempt: a retried transaction starts it over.
                script = accept_sql.accept_script(
                    items, cipher=self.blob_cipher, d=POSTGRES, now=now
                )
                return await accept_sql.drive_async(script, lambda op: execute(conn, pipe, op))

        # Repeatable: if the commit's outcome is unknown, running the group again either
        # stores it or finds every sha256 already there (reported SAME_BYTES then: the
        # caller's sha256 look-up finds its own package, see Ingestor._accept).
        return await self._write("accept", tx, _Idempotence.REPEATABLE)

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
                "p.sender = ? AND p.document_id = ? AND p.business_doc_type IS NULL "
                "AND p.kind = 'document'",
                (sender, document_id),
            )
        return await self._one_package(
            "p.sender = ? AND p.document_id = ? AND p.business_doc_type = ? "
            "AND p.kind = 'document'",
            (sender, document_id, business_doc_type),
        )

    # -- stored bytes as stored (issue 14, re-encryption) --------------------------------------

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

    # -- deliveries ------------------------------------------------------------------------------

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
                self.chainer,
                [pkg_sql.queued_event(p, r, now, f, POSTGRES) for p, r, f in moved],
            )

        # Repeatable: only pending rows move, so a second run finds nothing left to do.
        await self._write("mark_queued", tx, _Idempotence.REPEATABLE)

    # -- listings ------------------------------------------------------------------------------

    # -- recipients' side in groups (hub.store.sql.settle) ------------------------------------

    async def settle(self, changes: Sequence[DeliveryChange]) -> list[Settled]:
        """The group in one transaction, without ever waiting for a row lock while holding
        another: the rows nobody else holds are locked at once (``SKIP LOCKED``) and settled
        together; a change whose row another transaction holds (an ack from another process,
        a ``mark_queued`` in its own order) is settled afterwards in a transaction of its own
        delivery, which may wait since it holds nothing else. Two writers that each hold some
        rows of the other's group thus never deadlock."""
        if not changes:
            return []
        now = datetime.now(UTC)

        async def grouped(conn: Conn) -> list[Settled | None]:
            keys = sorted({(c.package_id, c.recipient) for c in changes})
            free = {
                (str(p), str(r))
                for p, r in await _fetchall(
                    conn, _LOCK_FREE_DELIVERIES, ([k[0] for k in keys], [k[1] for k in keys])
                )
            }
            mine = [i for i, c in enumerate(changes) if (c.package_id, c.recipient) in free]
            done = await self._settle_in(conn, [changes[i] for i in mine], now)
            result: list[Settled | None] = [None] * len(changes)
            for i, outcome in zip(mine, done, strict=True):
                result[i] = outcome
            return result

        # Once: a retry after an unknown outcome could not tell a first ack from a repeat.
        result = await self._write("settle", grouped)
        held: dict[tuple[str, str], list[int]] = {}
        for i, outcome in enumerate(result):
            if outcome is None:  # held by another transaction, or no such delivery
                held.setdefault((changes[i].package_id, changes[i].recipient), []).append(i)
        for indexes in held.values():
            part = [changes[i] for i in indexes]

            async def alone(conn: Conn, part: list[DeliveryChange] = part) -> list[Settled]:
                return await self._settle_in(conn, part, now)

            done = await self._write("settle", alone)
            for i, outcome in zip(indexes, done, strict=True):
                result[i] = outcome
        return [outcome for outcome in result if outcome is not None]

    async def _settle_in(
        self, conn: Conn, changes: Sequence[DeliveryChange], now: datetime
    ) -> list[Settled]:
        """``changes`` in the caller's transaction: the moves in one pipeline (one round
        trip), the read-backs of those that moved nothing in another, the chained events."""
        if not changes:
            return []
        plan = settle_sql.SettlePlan(changes, now, POSTGRES)
        async with conn.pipeline():
            cursors = [
                await conn.execute(POSTGRES.sql(text), params) for text, params in plan.moves
            ]
        moved = [await cur.fetchone() for cur in cursors]
        missed = plan.missed(moved)
        async with conn.pipeline():
            reads = [await conn.execute(_GET_DELIVERY, k) for k in missed]
        current = {key: await cur.fetchone() for key, cur in zip(missed, reads, strict=True)}
        outcomes, events = plan.settled(moved, current)
        await insert_chained(conn, self.chainer, events)
        return outcomes

    async def fetch_package(self, package_id: str, recipient: str | None) -> FetchedPackage | None:
        """Record, bytes and delivery in one read (binary results: the bytes as stored)."""
        query = POSTGRES.sql(settle_sql.fetch_sql())

        async def q(conn: Conn) -> TupleRow | None:
            cur = conn.cursor(binary=True)
            await cur.execute(query, (recipient, package_id))
            return await cur.fetchone()

        row = await self._read("package fetch", q)
        return settle_sql.fetched(row, POSTGRES, self.blob_cipher)

    async def outbox(
        self, sender: str, *, cursor: str | None = None, limit: int = 100, q: str | None = None
    ) -> Page[tuple[PackageRecord, tuple[DeliveryRecord, ...]]]:
        """The sender's packages in acceptance order, each with its deliveries by recipient;
        ``q``: only packages whose Subject has every folded word of ``q``."""
        after, where, words = pkg_sql.page_start(cursor, limit, q, self.blob_cipher)
        query = pkg_sql.outbox_sql(POSTGRES, where)
        params = (sender, after, *words, limit + 1)

        async def read(conn: Conn) -> Page[tuple[PackageRecord, tuple[DeliveryRecord, ...]]]:
            rows = await _fetchall(conn, query, params)
            deliveries = await deliveries_of(conn, pkg_sql.outbox_ids(rows, limit))
            return pkg_sql.outbox_page(rows, deliveries, limit, POSTGRES)

        return await self._read_tx("outbox", read)

    # -- events --------------------------------------------------------------------------------

    async def append_event(self, event: Event) -> None:
        """Append to the event log (``event.seq`` is ignored: the store assigns it)."""
        _aware(event.at)
        await self._write("append_event", lambda c: self._insert_event(c, event))

    # -- agency directory (issue 11) --------------------------------------------------------------

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
            row = await _fetchone(conn, directory.DIRECTORY_REVISION)
            current = 0 if row is None else int(row[0])
            cur = await conn.execute(_UPSERT_DIRECTORY, (current + 1, when, *columns))
            changed = max(cur.rowcount, 0)
            return (current + 1 if changed else current), changed

        return await self._write("put_directory_records", tx)

    # -- dashboard (issue 6) ----------------------------------------------------------------------

    def dashboard(self) -> DashboardStore:
        """The dashboard's queries through this store's pool and failure mapping."""
        return PostgresDashboard(
            self._read,
            self._read_tx,
            self._write,
            cipher=self.blob_cipher,
            package_count=self._package_count,
        )

    # -- lifecycle (issue 5) ----------------------------------------------------------------------

    def lifecycle(self) -> LifecycleStore:
        """Lifecycle state and queries through this store's pool and failure mapping."""
        return PostgresLifecycle(self._read, self._write)

    # -- audit log (issue 7) ----------------------------------------------------------------------

    def audit(self) -> AuditStore:
        """The audit log through this store's pool and failure mapping."""
        return PostgresAudit(
            self._read, self._write, self.chainer, advisory_key("audit-checkpoint", self.schema)
        )

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
