"""SqliteConnection: the connection's own thread, its job queue and hand-back to the loop."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from hub.errors import Unavailable
from hub.sqlitedb import JOURNAL_SIZE_LIMIT, SqliteConnection, read_wal_index


@pytest.fixture
async def db(tmp_path: Path) -> SqliteConnection:
    conn = SqliteConnection(tmp_path / "t.db", name="t-conn")
    await conn.open(lambda c: c.execute("CREATE TABLE t (n INTEGER)"))
    yield conn  # type: ignore[misc]
    await conn.close()


async def test_jobs_run_in_order_on_one_thread_off_the_loop(db: SqliteConnection) -> None:
    seen: list[tuple[int, str]] = []

    def job(n: int) -> int:
        seen.append((n, threading.current_thread().name))
        return n * 10

    results = await asyncio.gather(*(db.run(lambda c, n=n: job(n)) for n in range(50)))
    assert results == [n * 10 for n in range(50)]
    assert [n for n, _ in seen] == list(range(50))
    assert {name for _, name in seen} == {"t-conn"}
    assert threading.current_thread().name != "t-conn"


async def test_errors_reach_the_caller(db: SqliteConnection) -> None:
    def fail(conn: sqlite3.Connection) -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await db.run(fail)
    with pytest.raises(Unavailable):  # an OperationalError (no such table) is Unavailable
        await db.run(lambda c: c.execute("SELECT * FROM missing").fetchall())
    # A failed write is rolled back, and the thread goes on with the next job.
    with pytest.raises(ValueError):
        await db.write(lambda c: (c.execute("INSERT INTO t VALUES (1)"), fail(c)))
    assert await db.run(lambda c: c.execute("SELECT COUNT(*) FROM t").fetchone()[0]) == 0


async def test_a_job_cancelled_before_it_starts_is_not_run(db: SqliteConnection) -> None:
    started, release = threading.Event(), threading.Event()

    def block(conn: sqlite3.Connection) -> None:
        started.set()
        release.wait()

    blocker = asyncio.create_task(db.run(block))
    await asyncio.to_thread(started.wait)
    queued = asyncio.create_task(db.write(lambda c: c.execute("INSERT INTO t VALUES (2)")))
    # Cancelled only once it is really queued behind the blocking job (else the test would
    # pass without testing "cancelled while queued"); bounded, only a hang guard.
    for _ in range(1000):
        if db._jobs is not None and db._jobs.qsize() == 1:
            break
        await asyncio.sleep(0.01)
    assert db._jobs is not None and db._jobs.qsize() == 1, "the write never got queued"
    queued.cancel()
    release.set()
    await blocker
    with pytest.raises(asyncio.CancelledError):
        await queued
    # Jobs run in order: once this one answers, the cancelled write had its turn.
    assert await db.run(lambda c: c.execute("SELECT COUNT(*) FROM t").fetchone()[0]) == 0


async def test_close_stops_the_thread(tmp_path: Path) -> None:
    conn = SqliteConnection(tmp_path / "c.db", name="t-close")
    await conn.open(lambda c: c.execute("CREATE TABLE t (n INTEGER)"))
    thread = await conn.run(lambda c: threading.current_thread())
    await asyncio.gather(
        *(conn.write(lambda c, n=n: c.execute("INSERT INTO t VALUES (?)", (n,))) for n in range(5))
    )
    await conn.close()
    assert not conn.is_open
    thread.join(timeout=30)  # not a timed assertion: only so a failure cannot hang the suite
    assert not thread.is_alive()
    with pytest.raises(Unavailable):
        await conn.run(lambda c: c.execute("SELECT 1").fetchone())
    with sqlite3.connect(tmp_path / "c.db") as check:
        assert check.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 5


async def test_wal_is_cut_back_after_a_restart(db: SqliteConnection) -> None:
    """``journal_size_limit`` is set: SQLite truncates the WAL to it when it restarts the log,
    so an excursion does not keep its size on disk for good."""
    limit = await db.run(lambda c: c.execute("PRAGMA journal_size_limit").fetchone()[0])
    assert limit == JOURNAL_SIZE_LIMIT


def test_wal_index_reads_frames_in_use_and_checkpoint_progress(tmp_path: Path) -> None:
    """:func:`read_wal_index` agrees with what ``PRAGMA wal_checkpoint`` reports: the frames
    in use, those copied back, and a new salt when the WAL restarts from its start."""
    path = tmp_path / "w.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    shm: int | None = None
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # checkpoints only when asked
        conn.execute("CREATE TABLE t (x BLOB)")
        for _ in range(40):
            conn.execute("INSERT INTO t VALUES (?)", (b"x" * 3000,))
        # Held open while the connection is: closing a descriptor of the -shm would drop the
        # connection's locks on it.
        shm = os.open(f"{path}-shm", os.O_RDONLY)
        before = read_wal_index(path, shm)
        assert before is not None and before.backfilled == 0
        assert before.checkpoint_lag == before.frames > 40
        assert before.page_size == conn.execute("PRAGMA page_size").fetchone()[0]
        busy, log, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert (busy, log, copied) == (0, before.frames, before.frames)
        after = read_wal_index(path, shm)
        assert after is not None and (after.frames, after.checkpoint_lag) == (log, 0)
        conn.execute("INSERT INTO t VALUES (1)")  # the next writer starts the WAL over
        restarted = read_wal_index(path, shm)
        assert restarted is not None and restarted.salt != before.salt
        assert 0 < restarted.frames < 5
        assert restarted.in_use_bytes < (path.parent / "w.sqlite-wal").stat().st_size
    finally:
        conn.close()
        if shm is not None:
            os.close(shm)
    assert read_wal_index(path) is None  # the last connection to close removed the index
    assert read_wal_index(tmp_path / "none.sqlite") is None
