"""The dashboard's queries on SQLite (:class:`hub.store.facets.DashboardStore`).

Runs the shared statements of :mod:`hub.store.sql.dashboard` on the
:class:`~hub.store.sqlite.SqliteStore`'s own reader and writer threads, so it shares their
snapshot and write serialisation.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.sqlitedb import SqliteConnection, to_db_time
from hub.storage_crypto import BlobCipher
from hub.store.records import AgencyActivity, Listing, Overview
from hub.store.sql import dashboard as dash
from hub.store.sqlite.dialect import SQLITE
from hub.store.sqlite.rows import deliveries_of

#: The minute of an acceptance: the first 16 characters of its ISO text.
_PER_MINUTE = (
    "SELECT substr(accepted_at, 1, 16), COUNT(*) FROM packages WHERE accepted_at >= ? GROUP BY 1"
)

_OPEN_BY_RECIPIENT = dash.open_by_recipient_sql(SQLITE)


def _minute(text: str) -> datetime:
    return datetime.fromisoformat(text + ":00+00:00")


class SqliteDashboard(dash.SqlDashboard):
    """Dashboard queries over a :class:`~hub.store.sqlite.SqliteStore`'s connections."""

    dialect = SQLITE

    def __init__(
        self,
        reader: SqliteConnection,
        writer: SqliteConnection,
        *,
        cipher: BlobCipher | None = None,
        package_count: dash.PackageCount | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._cipher = cipher
        self._package_count = package_count or dash.PackageCount()

    async def _rows(
        self, what: str, query: str, params: Sequence[Any] = ()
    ) -> Sequence[Sequence[Any]]:
        return await self._reader.run(lambda c: c.execute(query, params).fetchall())

    async def _changed(self, what: str, query: str, params: Sequence[Any]) -> bool:
        return await self._writer.write(lambda c: c.execute(query, params).rowcount > 0)

    # -- operators and sessions -----------------------------------------------------------------

    async def create_session(
        self, token_sha256: str, username: str, csrf: str, now: datetime, expires_at: datetime
    ) -> None:
        """Record the session; expired sessions are swept in the same transaction."""
        at = to_db_time(now)
        params = (token_sha256, username, csrf, at, to_db_time(expires_at))

        def tx(conn: sqlite3.Connection) -> None:
            conn.execute(dash.SWEEP_SESSIONS, (at,))
            conn.execute(dash.INSERT_SESSION, params)

        await self._writer.write(tx)

    # -- counters --------------------------------------------------------------------------------

    async def overview(self, now: datetime, minutes: int = 60) -> Overview:
        """One read snapshot: totals, open states, per-minute acceptances."""
        start = dash.overview_start(now, minutes)
        count = self._package_count

        def q(conn: sqlite3.Connection) -> Overview:
            per_minute = conn.execute(_PER_MINUTE, (to_db_time(start),)).fetchall()
            known = count.known
            after = conn.execute(dash.PACKAGES_AFTER, known[:1]).fetchone()
            return dash.overview(
                count.total(known, after),
                conn.execute(dash.by_state_sql(SQLITE)).fetchall(),
                [(_minute(m), n) for m, n in per_minute],
                conn.execute(dash.DEAD_LETTERS).fetchone()[0],
                start,
                minutes,
            )

        return await self._reader.read(q)

    async def agency_activity(self) -> tuple[AgencyActivity, ...]:
        """Counts of the non-acked states per recipient, then a few indexed probes each."""

        probes = dash.agency_probes(SQLITE)

        def q(conn: sqlite3.Connection) -> tuple[AgencyActivity, ...]:
            counts = dash.state_counts(conn.execute(_OPEN_BY_RECIPIENT).fetchall())
            organs = set(counts)
            for query in dash.ORGANS:
                organs.update(r[0] for r in conn.execute(query))
            return tuple(
                dash.agency_activity(
                    organ,
                    counts,
                    [conn.execute(p.sql, p.params(organ)).fetchone() for p in probes],
                    SQLITE,
                )
                for organ in sorted(organs)
            )

        return await self._reader.read(q)

    # -- listings --------------------------------------------------------------------------------

    async def _package_listing(
        self, what: str, query: str, params: Sequence[Any], limit: int
    ) -> Listing:
        def q(conn: sqlite3.Connection) -> Listing:
            rows = conn.execute(query, params).fetchall()
            deliveries = deliveries_of(conn, dash.page_ids(rows, limit))
            return dash.package_listing(rows, deliveries, limit, SQLITE)

        return await self._reader.read(q)
