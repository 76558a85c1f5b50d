"""A SQLite connection confined to one dedicated thread, plus versioned migrations.

Shared by :class:`hub.store.sqlite.SqliteStore` and :class:`hub.broker.local.LocalBroker`.

Why a dedicated thread per connection: ``sqlite3`` calls block, so they must stay off the event
loop, and a connection used from exactly one thread needs no locking of its own. Every unit of
work is a plain function run to completion on that thread, so a transaction never stays open
across an ``await`` (other processes sharing the file are never blocked by a suspended task).

Cross-process safety comes from SQLite itself: WAL mode, ``busy_timeout``, and write transactions
started with ``BEGIN IMMEDIATE`` so that two writers queue on the lock instead of deadlocking on
a read-to-write upgrade (which SQLite reports as ``SQLITE_BUSY`` without waiting).
"""

# SQL text is assembled only from module constants and identifiers checked here, never from
# input; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from hub.errors import Unavailable
from hub.text import nfc_or_none

T = TypeVar("T")

#: ``UPDATE … RETURNING`` (used to claim and to skip duplicates) needs SQLite 3.35.
MIN_SQLITE_VERSION = (3, 35, 0)

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]

#: What a WAL file is cut back to when SQLite restarts it (``journal_size_limit``). SQLite
#: reuses the file from its start after a checkpoint and never shrinks it by itself, so one
#: excursion (a long read holding back the restart while writes go on, a burst) would keep
#: its size on disk for good. In steady state the hub's WAL cycles at a few MiB (1,000-frame
#: automatic checkpoints), well below this: the limit never truncates and re-extends the file
#: in normal running, it only gives back what an excursion took (docs/store-and-broker.md).
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024


def check_sqlite_version() -> None:
    """Refuse to run on a SQLite library too old for ``RETURNING``."""
    if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
        raise RuntimeError(
            f"SQLite {sqlite3.sqlite_version} is too old: "
            f"{'.'.join(map(str, MIN_SQLITE_VERSION))} or later is required"
        )


# -- value conversions ---------------------------------------------------------------------------


def to_db_time(value: datetime) -> str:
    """ISO-8601 UTC text with microseconds; fixed width, so text order is time order."""
    if value.tzinfo is UTC:  # most instants the hub stores: no conversion to make
        return value.isoformat(timespec="microseconds")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: the store only takes timezone-aware times")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def from_db_time(value: str) -> datetime:
    """Parse what :func:`to_db_time` wrote into a timezone-aware UTC datetime."""
    return datetime.fromisoformat(value).astimezone(UTC)


# -- migrations --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered SQL script."""

    version: int
    name: str
    sql: str


def load_migrations(*directories: Path) -> tuple[Migration, ...]:
    """Read ``NNNN_name.sql`` files from ``directories``, ordered by number.

    A store backend reads its own directory and ``hub/store/migrations/``, which holds the
    scripts that are the same text in both dialects (written once)."""
    found: list[Migration] = []
    paths = sorted(
        (path for directory in directories for path in directory.glob("*.sql")),
        key=lambda path: path.name,
    )
    for path in paths:
        number, _, rest = path.stem.partition("_")
        if not number.isdigit():
            raise RuntimeError(f"migration file without a number: {path}")
        found.append(Migration(int(number), rest, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration numbers in {', '.join(map(str, directories))}")
    return tuple(found)


def split_statements(script: str) -> list[str]:
    """Split a script into complete statements (``sqlite3.complete_statement`` knows about
    triggers and string literals), so they can run inside our own transaction:
    ``executescript`` would commit first and break the migration's atomicity."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in buffer.splitlines()
    ):
        raise RuntimeError(f"incomplete SQL statement at end of script: {buffer.strip()[:80]!r}")
    return statements


FOREIGN_KEYS_OFF_MARKER = "-- hub: foreign_keys off"
"""First line of a migration that must run with foreign-key enforcement off (table rebuilds)."""


def apply_migrations(
    conn: sqlite3.Connection, version_table: str, migrations: Sequence[Migration]
) -> int:
    """Apply every migration the file has not recorded yet; return the highest version.

    Each migration runs in its own ``BEGIN IMMEDIATE`` transaction together with its
    ``version_table`` row, so two processes opening a fresh file at once apply it exactly once
    (the second waits on the lock, then sees the version and skips it).
    """
    if not version_table.isidentifier():
        raise ValueError(f"bad table name {version_table!r}")
    # SQLite has no Unicode normalisation; migrations that normalise stored keys call nfc()
    # (PostgreSQL's normalize(x, NFC) in the other backend's scripts).
    conn.create_function("nfc", 1, nfc_or_none, deterministic=True)
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {version_table} "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    for migration in migrations:
        # A migration that rebuilds a referenced table (SQLite cannot alter a CHECK) says so
        # on its first line; the pragma is a no-op inside a transaction, so it goes first,
        # and the foreign keys are checked before the commit instead.
        fk_off = migration.sql.lstrip().startswith(FOREIGN_KEYS_OFF_MARKER)
        if fk_off:
            conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Apply every migration not recorded yet, not only those above the highest: a
            # migration numbered below one already applied (two features landing in either
            # order) must still run.
            applied = conn.execute(
                f"SELECT 1 FROM {version_table} WHERE version = ?", (migration.version,)
            ).fetchone()
            if applied is None:
                for statement in split_statements(migration.sql):
                    conn.execute(statement)
                if fk_off and conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
                    raise RuntimeError(f"migration {migration.name} broke a foreign key")
                conn.execute(
                    f"INSERT INTO {version_table} (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, to_db_time(datetime.now(UTC))),
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            if fk_off:
                conn.execute("PRAGMA foreign_keys = ON")
    row = conn.execute(f"SELECT COALESCE(MAX(version), 0) FROM {version_table}").fetchone()
    return int(row[0])


# -- the thread-confined connection ------------------------------------------------------------

#: A job for a connection's thread: the function, the event-loop future waiting for its
#: result, and that future's loop; ``None`` stops the thread.
_Job = tuple[Callable[[], Any], asyncio.Future[Any], asyncio.AbstractEventLoop] | None


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    # On the event loop's thread: the waiter may have been cancelled meanwhile.
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _serve_jobs(jobs: queue.SimpleQueue[_Job]) -> None:
    """The connection's thread: run each job in order, hand its outcome to its loop."""
    while True:
        job = jobs.get()
        if job is None:
            return
        fn, future, loop = job
        if future.cancelled():  # the caller gave up before it started: never run it
            continue
        try:
            value, ok = fn(), True
        except BaseException as exc:  # handed to the awaiting task, as an executor does
            value, ok = exc, False
        # RuntimeError: the loop closed meanwhile, nobody waits for this any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, future, ok, value)
        del job, fn, future, loop, value  # no reference kept while waiting for the next


class SqliteConnection:
    """One ``sqlite3`` connection living on its own thread.

    ``run`` executes a function with the connection on that thread; ``write`` wraps it in
    ``BEGIN IMMEDIATE … COMMIT`` (rolled back on any error); ``read`` in a deferred
    transaction, so multi-statement reads see one snapshot. ``sqlite3.OperationalError``
    (locked past ``busy_timeout``, disk full, read-only file, I/O error) becomes
    :class:`hub.errors.Unavailable`: the caller can answer 503 and try later.

    The thread takes its jobs from a :class:`queue.SimpleQueue` and answers each through
    ``call_soon_threadsafe``, not through a ``ThreadPoolExecutor`` and ``run_in_executor``:
    every store call crosses this boundary (several per package), and the executor's
    Python-level locks, its ``concurrent.futures.Future`` and the chaining of that to an
    asyncio future cost the event loop about twice as much per call (docs/performance.md,
    "Issue 12: the server's own CPU per package"). A job whose caller was cancelled before
    it started is not run, as with an executor. The thread is a daemon: a process that exits
    without closing the connection does not hang on it, and a transaction it cuts short was
    not reported committed to anyone (SQLite rolls it back).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        name: str,
        busy_timeout_ms: int = 10000,
        synchronous: Synchronous = "FULL",
        wal: bool = True,
    ) -> None:
        self.path = Path(path)
        self.name = name
        self.busy_timeout_ms = busy_timeout_ms
        self.synchronous = synchronous
        self.wal = wal
        self._jobs: queue.SimpleQueue[_Job] | None = None
        self._conn: sqlite3.Connection | None = None

    @property
    def is_open(self) -> bool:
        """Whether :meth:`open` ran and :meth:`close` did not."""
        return self._jobs is not None

    async def open(self, init: Callable[[sqlite3.Connection], None] | None = None) -> None:
        """Start the thread, connect, set the pragmas, then run ``init`` (migrations) there."""
        if self._jobs is not None:
            return
        check_sqlite_version()
        self._jobs = queue.SimpleQueue()
        threading.Thread(
            target=_serve_jobs, args=(self._jobs,), name=self.name, daemon=True
        ).start()
        try:
            await self._submit(self._connect)
            if init is not None:
                await self.run(init)
        except BaseException:
            await self.close()
            raise

    def _connect(self) -> None:
        # isolation_level=None: the module never opens transactions behind our back; every
        # transaction here is an explicit BEGIN … COMMIT inside one thread job.
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_ms / 1000,
            isolation_level=None,
            check_same_thread=True,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            if self.wal:
                mode = self._switch_to_wal(conn)
                if str(mode).lower() != "wal":
                    raise RuntimeError(f"{self.path}: could not switch to WAL (got {mode})")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _switch_to_wal(self, conn: sqlite3.Connection) -> str:
        # Switching a fresh file to WAL needs an exclusive lock, and SQLite answers SQLITE_BUSY
        # at once (without calling the busy handler) when another connection is switching at
        # the same moment: retry for up to the busy timeout.
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    async def close(self) -> None:
        """Close the connection on its thread (after queued jobs) and stop the thread."""
        jobs, self._jobs = self._jobs, None
        if jobs is None:
            return
        conn, self._conn = self._conn, None
        try:
            if conn is not None:
                await _call(jobs, conn.close)
        finally:
            jobs.put(None)  # the thread ends after the jobs queued before

    async def _submit(self, fn: Callable[[], T]) -> T:
        if self._jobs is None:
            raise Unavailable(f"{self.name}: database connection is closed")
        return await _call(self._jobs, fn)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the connection's thread (autocommit)."""

        def job() -> T:
            conn = self._conn
            if conn is None:
                raise Unavailable(f"{self.name}: database connection is closed")
            try:
                result = fn(conn)
            except sqlite3.OperationalError as exc:
                raise Unavailable(f"{self.name}: {exc}", database=str(self.path)) from exc
            if isinstance(result, sqlite3.Cursor):
                # A cursor must not leave this thread: finalising it on the event loop's thread
                # resets its statement while this thread runs the next job on the connection
                # ("bad parameter or other API misuse" from concurrent executemany calls).
                result.close()
            return result

        return await self._submit(job)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` inside ``BEGIN IMMEDIATE … COMMIT``; returns after the commit."""
        return await self.run(lambda conn: _in_transaction(conn, "BEGIN IMMEDIATE", fn))

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` inside a deferred (read) transaction: one consistent snapshot."""
        return await self.run(lambda conn: _in_transaction(conn, "BEGIN", fn))


def _call(jobs: queue.SimpleQueue[_Job], fn: Callable[[], T]) -> asyncio.Future[T]:
    """Queue ``fn`` for a connection's thread; the future its result arrives in."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    jobs.put((fn, future, loop))
    return future


def _in_transaction(
    conn: sqlite3.Connection, begin: str, fn: Callable[[sqlite3.Connection], T]
) -> T:
    conn.execute(begin)
    try:
        result = fn(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


# -- the WAL index, read from outside ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WalIndex:
    """The header of a database's WAL index (the ``-shm`` file) as SQLite keeps it: how much
    of the WAL is in use, and how much of that a checkpoint has copied back."""

    #: Frames in the WAL that belong to committed transactions (``mxFrame``); 0 after a restart.
    frames: int
    #: Of those, the frames already copied into the database (``nBackfill``).
    backfilled: int
    page_size: int
    #: Changes with every restart of the WAL (the salts of its header).
    salt: tuple[int, int]

    @property
    def frame_bytes(self) -> int:
        """Bytes of one frame in the WAL file (its 24-byte header and a page)."""
        return self.page_size + 24

    @property
    def in_use_bytes(self) -> int:
        """The part of the WAL file in use: its 32-byte header and the frames."""
        return 32 + self.frames * self.frame_bytes if self.frames else 0

    @property
    def checkpoint_lag(self) -> int:
        """Frames committed but not yet copied into the database."""
        return max(0, self.frames - self.backfilled)


#: WalIndexHdr (48 bytes, twice) then WalCkptInfo's nBackfill, in the machine's byte order:
#: iVersion, unused, iChange, isInit, bigEndCksum, szPage, mxFrame, nPage, aFrameCksum[2],
#: aSalt[2], aCksum[2].
_WAL_INDEX_HEADER = struct.Struct("=IIIBBHII2I2I2I")
_WAL_INDEX_READ = 2 * _WAL_INDEX_HEADER.size + 4


def read_wal_index(database: Path | str, shm_fd: int | None = None) -> WalIndex | None:
    """The WAL index header of ``database`` (from ``<database>-shm``), read without a lock and
    without opening the database, so watching it never holds back a checkpoint. ``None`` when
    there is no WAL index, or when it was being written (its two copies differ: SQLite writes
    one then the other; read again).

    Only from a process with no SQLite connection open on ``database``, unless ``shm_fd`` — a
    descriptor of the ``-shm`` file kept open until every such connection has closed — is
    given: closing any descriptor of a file drops every POSIX lock the process holds on it,
    and SQLite's WAL locks are POSIX locks on the ``-shm`` file. A hub process that read its
    own index this way died of SIGBUS within seconds under load: a connection another process
    opened found no lock held, took itself for the first and truncated the index, which the
    hub still had mapped."""
    if shm_fd is not None:
        raw = os.pread(shm_fd, _WAL_INDEX_READ, 0)
    else:
        try:
            fd = os.open(f"{database}-shm", os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            raw = os.pread(fd, _WAL_INDEX_READ, 0)
        finally:
            os.close(fd)
    size = _WAL_INDEX_HEADER.size
    if len(raw) < _WAL_INDEX_READ or raw[:size] != raw[size : 2 * size]:
        return None
    fields = _WAL_INDEX_HEADER.unpack(raw[:size])
    is_init, page, frames, salt = fields[3], fields[5], fields[6], (fields[10], fields[11])
    if not is_init:
        return None
    (backfilled,) = struct.unpack_from("=I", raw, 2 * size)
    return WalIndex(
        frames=frames,
        backfilled=backfilled,
        # 65536 does not fit the 16-bit field: SQLite stores it as 1
        page_size=65536 if page == 1 else page,
        salt=salt,
    )
