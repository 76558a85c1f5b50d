"""The agency's own software, writing to and reading from a real database (SQLite or PostgreSQL).

This is what the ``sqldb`` adapter faces at an agency: an application with its business table
(``ho_so``) that, **in the same transaction** as each business change, inserts a row into the
outbox; and that later picks up what arrived in the inbox, applies it to its business table and
marks it processed. Its failures are the database's: a rolled-back business change (no outbox
row either), a write lock held for a long time (SQLite ``database is locked``), and
administrators killing sessions (PostgreSQL ``pg_terminate_backend``).

Not imitated: real schemas of agency products (one business table here), triggers filling the
outbox, replication and fail-over, very large tables, other engines (SQL Server, Oracle).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from adapters.sqldb.adapter import ddl
from adapters.sqldb.db import APPLICATION_NAME, quote_ident

__all__ = ["AgencySoftware", "RolledBack"]


class RolledBack(Exception):
    """The business change failed; the transaction (outbox row included) was rolled back."""


class AgencySoftware:
    """A one-stop application over ``sqlite:PATH`` or a PostgreSQL DSN (+ ``schema``)."""

    def __init__(
        self,
        *,
        sqlite_path: Path | None = None,
        pg_dsn: str | None = None,
        schema: str | None = None,
        outbox: str = "hub_outbox",
        inbox: str = "hub_inbox",
    ) -> None:
        if (sqlite_path is None) == (pg_dsn is None):
            raise ValueError("one of sqlite_path or pg_dsn")
        self.dialect = "sqlite" if sqlite_path is not None else "postgresql"
        self.sqlite_path = sqlite_path
        self.pg_dsn = pg_dsn
        self.schema = schema
        prefix = f"{quote_ident(schema)}." if schema and self.dialect == "postgresql" else ""
        self.outbox = prefix + quote_ident(outbox)
        self.inbox = prefix + quote_ident(inbox)
        self.ho_so = prefix + quote_ident("ho_so")
        self._outbox_name, self._inbox_name = outbox, inbox
        self._mark = "?" if self.dialect == "sqlite" else "%s"

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """One transaction; a cursor-like ``execute(sql, params)`` with ``?`` placeholders."""
        if self.dialect == "sqlite":
            assert self.sqlite_path is not None
            conn = sqlite3.connect(self.sqlite_path, isolation_level=None, timeout=30)
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                conn.close()
        else:
            assert self.pg_dsn is not None
            with (
                psycopg.connect(self.pg_dsn, application_name="agency-software") as pg,
                pg.transaction(),
                pg.cursor() as cur,
            ):
                yield _PgCursor(cur)

    def install(self) -> None:
        """Create the business table and the outbox/inbox tables (the adapter's DDL)."""
        with self._tx() as tx:
            if self.dialect == "postgresql" and self.schema:
                tx.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self.schema)}")
            tx.execute(
                f"CREATE TABLE IF NOT EXISTS {self.ho_so} (ma_ho_so TEXT PRIMARY KEY,"
                " trang_thai TEXT NOT NULL, payload TEXT NOT NULL, updated_by TEXT)"
            )
            for statement in ddl(
                self.dialect, outbox=self._outbox_name, inbox=self._inbox_name, schema=self.schema
            ):
                tx.execute(statement)

    # ------------------------------------------------------------------ business changes

    def _outbox_row(self, tx: Any, key: str, kind: str, fields: dict[str, Any]) -> None:
        tx.execute(
            f"INSERT INTO {self.outbox} (record_key, kind, payload) VALUES (?, ?, ?)",  # noqa: S608
            (key, kind, json.dumps(fields, ensure_ascii=False)),
        )

    def register(self, dossier: dict[str, Any], *, fail: bool = False) -> None:
        """Register or change a dossier and queue it for the hub, atomically.

        ``fail`` makes the business change fail after both writes: everything rolls back.
        """
        with self._tx() as tx:
            tx.execute(
                f"INSERT INTO {self.ho_so} (ma_ho_so, trang_thai, payload) VALUES (?, ?, ?)"  # noqa: S608
                " ON CONFLICT (ma_ho_so) DO UPDATE SET trang_thai = excluded.trang_thai,"
                " payload = excluded.payload",
                (dossier["MaHoSo"], str(dossier.get("TrangThaiHoSo", "1")), json.dumps(dossier)),
            )
            self._outbox_row(tx, str(dossier["MaHoSo"]), "dossier", dossier)
            if fail:
                raise RolledBack(dossier["MaHoSo"])

    def progress(self, step: dict[str, Any]) -> None:
        """Record a processing step and queue it for the hub, atomically."""
        with self._tx() as tx:
            tx.execute(
                f"UPDATE {self.ho_so} SET trang_thai = ? WHERE ma_ho_so = ?",  # noqa: S608
                (step["TrangThaiHoSo"], step["MaHoSo"]),
            )
            key = f"{step['MaHoSo']}/{step['NgayXuLy']}"
            self._outbox_row(tx, key, "dossier_progress", step)

    def insert_raw(self, key: str, kind: str, payload: str) -> None:
        """An outbox row exactly as given (what buggy agency code writes)."""
        with self._tx() as tx:
            tx.execute(
                f"INSERT INTO {self.outbox} (record_key, kind, payload) VALUES (?, ?, ?)",  # noqa: S608
                (key, kind, payload),
            )

    def process_inbox(self) -> list[str]:
        """Apply unprocessed inbox rows to the business table; their package ids."""
        done: list[str] = []
        with self._tx() as tx:
            rows = tx.execute(
                f"SELECT package_id, sender, kind, payload FROM {self.inbox}"  # noqa: S608
                " WHERE processed_at IS NULL ORDER BY received_at, package_id"
            ).fetchall()
            for package_id, sender, kind, payload in rows:
                fields = json.loads(payload)
                if kind == "dossier":
                    tx.execute(
                        f"INSERT INTO {self.ho_so} (ma_ho_so, trang_thai, payload, updated_by)"  # noqa: S608
                        " VALUES (?, ?, ?, ?) ON CONFLICT (ma_ho_so) DO UPDATE SET"
                        " trang_thai = excluded.trang_thai, payload = excluded.payload,"
                        " updated_by = excluded.updated_by",
                        (fields["MaHoSo"], fields["TrangThaiHoSo"], payload, sender),
                    )
                else:
                    tx.execute(
                        f"UPDATE {self.ho_so} SET trang_thai = ?, updated_by = ?"  # noqa: S608
                        " WHERE ma_ho_so = ?",
                        (fields["TrangThaiHoSo"], sender, fields["MaHoSo"]),
                    )
                tx.execute(
                    f"UPDATE {self.inbox} SET processed_at = ? WHERE package_id = ?",  # noqa: S608
                    (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), package_id),
                )
                done.append(str(package_id))
        return done

    # ------------------------------------------------------------------ inspection

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read query (``{outbox}``, ``{inbox}``, ``{ho_so}`` are substituted)."""
        text = sql.format(outbox=self.outbox, inbox=self.inbox, ho_so=self.ho_so)
        with self._tx() as tx:
            return [tuple(r) for r in tx.execute(text, params).fetchall()]

    # ------------------------------------------------------------------ failures

    @contextmanager
    def hold_write_lock(self) -> Iterator[None]:
        """SQLite: a long transaction holds the write lock (a batch job, a backup)."""
        assert self.sqlite_path is not None, "SQLite only"
        ready, release = threading.Event(), threading.Event()

        def hold() -> None:
            conn = sqlite3.connect(self.sqlite_path or "", isolation_level=None)
            conn.execute("BEGIN EXCLUSIVE")
            ready.set()
            release.wait(30)
            conn.execute("ROLLBACK")
            conn.close()

        thread = threading.Thread(target=hold, daemon=True)
        thread.start()
        ready.wait(10)
        try:
            yield
        finally:
            release.set()
            thread.join(10)

    def kill_adapter_sessions(self) -> int:
        """PostgreSQL: an administrator terminates the adapter's sessions."""
        with self._tx() as tx:
            rows = tx.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = ? AND pid <> pg_backend_pid()",
                (APPLICATION_NAME,),
            ).fetchall()
        return len(rows)


class _PgCursor:
    """psycopg's cursor behind the ``?`` placeholders sqlite3 uses."""

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> psycopg.Cursor[Any]:
        query = sql.replace("%", "%%").replace("?", "%s").encode()
        return self._cur.execute(query, params)
