"""A small async database seam: SQLite (``sqlite3`` on a worker thread) or PostgreSQL (psycopg 3).

The adapter writes its SQL once, with ``?`` placeholders and ``{outbox}``/``{inbox}`` table
names; each backend translates. Transient failures (a locked SQLite file, a dropped PostgreSQL
connection, a server that is down) surface as :class:`~hub.adapter.ExternalUnavailable`; the
next call reconnects.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import psycopg

from hub.adapter import AdapterError, ExternalUnavailable

__all__ = [
    "APPLICATION_NAME",
    "Database",
    "PostgresDatabase",
    "SqliteDatabase",
    "open_database",
    "quote_ident",
]

APPLICATION_NAME = "hub-sqldb-adapter"
"""How the adapter's PostgreSQL sessions name themselves (``pg_stat_activity``)."""

Row = tuple[Any, ...]
Statement = tuple[str, Sequence[Any]]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def quote_ident(name: str) -> str:
    """A SQL identifier from configuration, refused unless plain (no quoting games)."""
    if not _IDENT.fullmatch(name):
        raise AdapterError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'


class Database(Protocol):
    """What the adapter needs from a database."""

    dialect: str

    async def connect(self) -> None:
        """Open (or check) the connection."""
        ...

    async def close(self) -> None:
        """Close; never raises."""
        ...

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Rows of one query."""
        ...

    async def transaction(self, statements: Sequence[Statement]) -> list[int]:
        """Run statements in one transaction; their row counts."""
        ...


class SqliteDatabase:
    """SQLite in WAL mode; every call runs on a worker thread under one lock."""

    dialect = "sqlite"

    def __init__(self, path: Path, *, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=self.busy_timeout_ms / 1000,
            )
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode=WAL")
            # a receipt is marked only once durable: the agency trusts that mark
            conn.execute("PRAGMA synchronous=FULL")
            self._conn = conn
        return self._conn

    async def _run(self, fn: Any) -> Any:
        def call() -> Any:
            with self._lock:
                try:
                    return fn(self._open())
                except sqlite3.OperationalError as exc:
                    # "database is locked", "disk I/O error": the agency's software holds the
                    # file or the disk failed; retried later by the connector
                    raise ExternalUnavailable(f"SQLite: {exc}") from exc

        return await asyncio.to_thread(call)

    async def connect(self) -> None:
        await self._run(lambda conn: None)

    async def close(self) -> None:
        def close() -> None:
            with self._lock:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

        await asyncio.to_thread(close)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        rows: list[Row] = await self._run(lambda c: c.execute(sql, tuple(params)).fetchall())
        return rows

    async def transaction(self, statements: Sequence[Statement]) -> list[int]:
        def run(conn: sqlite3.Connection) -> list[int]:
            counts = []
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    counts.append(conn.execute(sql, tuple(params)).rowcount)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return counts

        counts: list[int] = await self._run(run)
        return counts


class PostgresDatabase:
    """PostgreSQL through one psycopg async connection, reopened after a failure."""

    dialect = "postgresql"

    def __init__(self, dsn: str, *, connect_timeout: float = 5.0) -> None:
        self.dsn = dsn
        self.connect_timeout = connect_timeout
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()

    @staticmethod
    def _sql(sql: str) -> str:
        # the adapter writes "?" placeholders; psycopg wants "%s" (and literal % doubled)
        return sql.replace("%", "%%").replace("?", "%s")

    async def _open(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            try:
                self._conn = await psycopg.AsyncConnection.connect(
                    self.dsn,
                    connect_timeout=max(1, int(self.connect_timeout)),
                    application_name=APPLICATION_NAME,
                )
            except psycopg.OperationalError as exc:
                raise ExternalUnavailable(f"PostgreSQL: {exc}") from exc
        return self._conn

    async def _fail(self, exc: Exception) -> ExternalUnavailable:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
        return ExternalUnavailable(f"PostgreSQL: {exc}")

    async def connect(self) -> None:
        async with self._lock:
            await self._open()

    async def close(self) -> None:
        async with self._lock:
            if self._conn is not None:
                await self._conn.close()
                self._conn = None

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self._lock:
            conn = await self._open()
            try:
                async with conn.transaction(), conn.cursor() as cur:
                    await cur.execute(self._sql(sql).encode(), tuple(params))
                    return list(await cur.fetchall())
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                raise await self._fail(exc) from exc

    async def transaction(self, statements: Sequence[Statement]) -> list[int]:
        async with self._lock:
            conn = await self._open()
            try:
                counts = []
                async with conn.transaction(), conn.cursor() as cur:
                    for sql, params in statements:
                        await cur.execute(self._sql(sql).encode(), tuple(params))
                        counts.append(cur.rowcount)
                return counts
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                raise await self._fail(exc) from exc


def open_database(dsn: str, *, base: Path, busy_timeout_ms: int = 5000) -> Database:
    """``sqlite:///abs/path``, ``sqlite:relative/path`` (to ``base``) or a PostgreSQL DSN."""
    if dsn.startswith("sqlite:"):
        rest = dsn.removeprefix("sqlite:")
        path = Path(rest[2:]) if rest.startswith("//") else Path(rest)
        if not path.is_absolute():
            path = base / path
        return SqliteDatabase(path, busy_timeout_ms=busy_timeout_ms)
    if dsn.startswith(("postgresql://", "postgres://")) or "=" in dsn:
        return PostgresDatabase(dsn)
    raise AdapterError(f"dsn must be sqlite:… or postgresql://…, got {dsn!r}")
