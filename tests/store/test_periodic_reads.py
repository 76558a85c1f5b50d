"""The reads a running hub repeats on a timer cost the same however much history is stored.

The silent-agency alarm reads each agency's last activity every minute; the dashboard's pulse
reads the overview counters and the agency list every two seconds. Both used to visit every
package and delivery ever stored (issue 12's soak: 183 ms for ``last_activity`` at 35,000
packages, growing without bound). What is checked here is work, never time: SQLite
virtual-machine steps stay about the same when hundreds more packages are acknowledged, the
plans name the indexes that answer them, and PostgreSQL's plans reach each agency's latest
row through an index instead of scanning a table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from hub.audit.chain import AuditChain
from hub.models import DeliveryChange, DeliveryState
from hub.store.abc import Store
from hub.store.postgres import PostgresStore
from hub.store.postgres.dialect import POSTGRES
from hub.store.sql import dashboard as dash
from hub.store.sql import lifecycle as lc
from hub.store.sqlite import SqliteStore
from hub.store.sqlite.dialect import SQLITE
from tests.contracts.store_contract import G22, H29, H41, new_package
from tests.store.pg_fixtures import pg_dsn, pg_schema  # noqa: F401 - fixtures

AGENCIES = (G22, H29, H41)


async def traffic(store: Store, n: int) -> None:
    """``n`` packages, each sender to the two other agencies, every delivery acknowledged but
    the second one of the last two packages: one delivered (received, not acknowledged), one
    still pending."""
    packages = [
        new_package(sender=s, recipients=tuple(a for a in AGENCIES if a != s))
        for s in (AGENCIES[i % 3] for i in range(n))
    ]
    await store.add_packages(packages)
    *closed, delivered, pending = packages
    changes = [DeliveryChange(p.id, r, DeliveryState.ACKED) for p in closed for r in p.recipients]
    first, second = delivered.recipients
    changes += [
        DeliveryChange(delivered.id, first, DeliveryState.ACKED),
        DeliveryChange(delivered.id, second, DeliveryState.DELIVERED),
        DeliveryChange(pending.id, pending.recipients[0], DeliveryState.ACKED),
    ]
    await store.settle(changes)


def steps(
    conn: sqlite3.Connection, query: str, params: Sequence[Any] = ()
) -> tuple[int, list[Any]]:
    """SQLite VM steps to answer ``query``, and its rows."""
    count = [0]

    def tick() -> int:
        count[0] += 1
        return 0  # go on

    conn.set_progress_handler(tick, 1)
    try:
        rows = conn.execute(query, params).fetchall()
    finally:
        conn.set_progress_handler(None, 1)
    return count[0], rows


def plan(conn: sqlite3.Connection, query: str, params: Sequence[Any] = ()) -> list[str]:
    """The details of SQLite's ``EXPLAIN QUERY PLAN``."""
    return [str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + query, params)]


#: The dashboard's repeated reads on SQLite, with the package total after ``seq`` 0.
def pulse_reads() -> list[tuple[str, tuple[Any, ...]]]:
    return [
        (dash.by_state_sql(SQLITE), ()),
        (dash.open_by_recipient_sql(SQLITE), ()),
        *((q, ()) for q in dash.ORGANS),
    ]


async def test_sqlite_repeated_reads_do_not_grow_with_the_acknowledged_traffic(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hub.sqlite"
    async with SqliteStore(path, chainer=AuditChain(), synchronous="OFF") as store:
        await traffic(store, 30)
        conn = sqlite3.connect(path)
        try:
            before = [steps(conn, q, p) for q, p in [(lc.Q_LAST_ACTIVITY, ()), *pulse_reads()]]
            await traffic(store, 450)
            after = [steps(conn, q, p) for q, p in [(lc.Q_LAST_ACTIVITY, ()), *pulse_reads()]]
            details = plan(conn, lc.Q_LAST_ACTIVITY)
        finally:
            conn.close()
        activity = await store.lifecycle().last_activity()

    # The same answer as reading everything: the newest acceptance or receipt per agency.
    assert set(activity) == set(AGENCIES)
    assert {a: str(at) for a, at in after[0][1]} == {
        a: str(at) for a, at in _last_activity_by_scan(path)
    }
    for (steps_before, _), (steps_after, _) in zip(before, after, strict=True):
        # 900 more deliveries acknowledged: a B-tree level more to descend at most,
        # never a step per row (the old last_activity: ~60 steps per row)
        assert steps_after - steps_before < 60, (steps_before, steps_after)
    # Each agency's latest time is one seek in an index ordered by that time.
    assert any("packages_sender_time" in d and "sender>? AND sender<?" in d for d in details)
    assert any("deliveries_received (recipient=?)" in d for d in details)
    assert not any(d.startswith("SCAN p") or d.startswith("SCAN d") for d in details), details


def _last_activity_by_scan(path: Path) -> list[tuple[str, str]]:
    """What :data:`~hub.store.sql.lifecycle.Q_LAST_ACTIVITY` answers, by reading every row."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT agency, MAX(at) FROM ("
            " SELECT sender AS agency, accepted_at AS at FROM packages"
            " UNION ALL SELECT recipient, COALESCE(acked_at, updated_at) FROM deliveries"
            "  WHERE state IN ('delivered', 'acked')) GROUP BY agency"
        ).fetchall()
    finally:
        conn.close()


async def test_sqlite_package_total_counts_only_what_came_since(tmp_path: Path) -> None:
    """The overview's package total: exact after every batch, and read from the last counted
    ``seq`` on (a range of the primary key), not by counting every package again."""
    path = tmp_path / "hub.sqlite"
    async with SqliteStore(path, chainer=AuditChain(), synchronous="OFF") as store:
        board = store.dashboard()
        await traffic(store, 300)
        assert (await board.overview(_now())).packages == 300
        await traffic(store, 5)
        overview = await store.dashboard().overview(_now())  # another facet, the same count
        assert overview.packages == 305
        assert overview.deliveries_by_state == {"delivered": 2, "pending": 2}
        conn = sqlite3.connect(path)
        try:
            (seq,) = conn.execute("SELECT MAX(seq) FROM packages").fetchone()
            details = plan(conn, dash.PACKAGES_AFTER, (seq - 5,))
            tail, rows = steps(conn, dash.PACKAGES_AFTER, (seq - 5,))
        finally:
            conn.close()
    # (``COUNT(*)`` over the whole table is a single VM step, a B-tree count inside: its cost
    # does not show in steps, so the plan is what is checked.)
    assert rows == [(5, seq)]
    assert "SEARCH packages USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)" in details
    assert tail < 100  # 5 rows, not 305


def _now() -> datetime:
    return datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# -- PostgreSQL ------------------------------------------------------------------------------


async def _explain(dsn: str, schema: str, query: str) -> str:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(
            psycopg.sql.SQL("SET search_path TO {}").format(psycopg.sql.Identifier(schema))
        )
        await conn.execute("ANALYZE")
        cur = await conn.execute("EXPLAIN " + POSTGRES.sql(query))  # type: ignore[arg-type]
        return "\n".join(str(r[0]) for r in await cur.fetchall())


async def test_postgres_plans_seek_each_agency(
    pg_dsn: str,  # noqa: F811
    pg_schema: str,  # noqa: F811
) -> None:
    async with PostgresStore(pg_dsn, schema=pg_schema, chainer=AuditChain()) as store:
        await traffic(store, 600)
        activity = await store.lifecycle().last_activity()
        overview = await store.dashboard().overview(_now())
    assert set(activity) == set(AGENCIES)
    assert overview.packages == 600
    # the package total from a recent seq: a range of the primary key, not the table
    after = await _explain(pg_dsn, pg_schema, dash.PACKAGES_AFTER.replace("?", "590"))
    assert "packages_pkey" in after and "Seq Scan" not in after, after
    text = await _explain(pg_dsn, pg_schema, lc.Q_LAST_ACTIVITY)
    assert "Seq Scan" not in text, text
    # each agency's latest acceptance and receipt: the last entry of its index range
    assert "Index Only Scan Backward using packages_sender_time" in text, text
    assert "Index Scan Backward using deliveries_received" in text, text
    assert "dash_packages_accepted" not in text, text
    # The agency page's probes: the oldest undelivered never walks the recipient's
    # acknowledged deliveries, the last package sent ends the sender's own range.
    oldest, _, sent, _ = [
        await _explain(pg_dsn, pg_schema, p.sql.replace("?", f"'{H41}'"))
        for p in dash.agency_probes(POSTGRES)
    ]
    assert "deliveries_all_by_recipient" not in oldest, oldest
    assert "Index Scan Backward using packages_outbox" in sent, sent
