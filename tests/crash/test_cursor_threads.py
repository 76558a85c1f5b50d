"""Regression: a write whose function returns its cursor (``executemany``) must not break the
next concurrent write on the same thread-confined connection.

The cursor used to travel back to the event loop's thread and be finalised there, resetting a
cached statement while the connection's thread was binding parameters to it:
``sqlite3.InterfaceError: bad parameter or other API misuse`` from concurrent broker publishes
under ingest load (the submitter got ``503 hub.unavailable``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from hub.sqlitedb import SqliteConnection


async def test_concurrent_writes_returning_cursors(tmp_path: Path) -> None:
    db = SqliteConnection(tmp_path / "t.db", name="t")
    await db.open(lambda c: c.execute("CREATE TABLE t (a TEXT, b INTEGER)"))
    try:

        async def writer(k: int) -> None:
            for i in range(150):
                rows = [(f"{k}-{i}", j) for j in range(2)]
                await db.write(
                    lambda c, rows=rows: c.executemany("INSERT INTO t VALUES (?, ?)", rows)
                )

        await asyncio.gather(*(writer(k) for k in range(16)))
        count = await db.run(lambda c: c.execute("SELECT COUNT(*) FROM t").fetchone()[0])
        assert count == 16 * 150 * 2
    finally:
        await db.close()
