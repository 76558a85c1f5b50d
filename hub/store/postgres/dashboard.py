"""The dashboard's queries on PostgreSQL (:class:`hub.store.facets.DashboardStore`).

Runs the shared statements of :mod:`hub.store.sql.dashboard` through the
:class:`~hub.store.postgres.PostgresStore`'s pool and its failure mapping (lost connections
become ``Unavailable``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from hub.storage_crypto import BlobCipher
from hub.store.postgres.dialect import POSTGRES, Conn, Runner, fetchall, fetchone
from hub.store.postgres.rows import deliveries_of
from hub.store.records import AgencyActivity, Listing, Overview
from hub.store.sql import dashboard as dash

_sql = POSTGRES.sql

_PER_MINUTE = (
    "SELECT date_trunc('minute', accepted_at), COUNT(*) FROM packages "
    "WHERE accepted_at >= %s GROUP BY 1"
)
_OPEN_BY_RECIPIENT = _sql(dash.open_by_recipient_sql(POSTGRES))


class PostgresDashboard(dash.SqlDashboard):
    """Dashboard queries through a :class:`~hub.store.postgres.PostgresStore`'s runners."""

    dialect = POSTGRES

    def __init__(
        self,
        read: Runner,
        read_tx: Runner,
        write: Runner,
        *,
        cipher: BlobCipher | None = None,
        package_count: dash.PackageCount | None = None,
    ) -> None:
        self._read = read
        self._read_tx = read_tx
        self._write = write
        self._cipher = cipher
        self._package_count = package_count or dash.PackageCount()

    async def _rows(
        self, what: str, query: str, params: Sequence[Any] = ()
    ) -> Sequence[Sequence[Any]]:
        text = _sql(query)
        return cast(list[Any], await self._read(what, lambda c: fetchall(c, text, params)))

    async def _changed(self, what: str, query: str, params: Sequence[Any]) -> bool:
        text = _sql(query)

        async def tx(conn: Conn) -> bool:
            cur = await conn.execute(text, params)
            return cur.rowcount > 0

        return bool(await self._write(what, tx))

    # -- operators and sessions -----------------------------------------------------------------

    async def create_session(
        self, token_sha256: str, username: str, csrf: str, now: datetime, expires_at: datetime
    ) -> None:
        """Record the session; expired ones are swept in the same transaction."""
        params = (token_sha256, username, csrf, now, expires_at)

        async def tx(conn: Conn) -> None:
            await conn.execute(_sql(dash.SWEEP_SESSIONS), (now,))
            await conn.execute(_sql(dash.INSERT_SESSION), params)

        await self._write("create_session", tx)

    # -- counters --------------------------------------------------------------------------------

    async def overview(self, now: datetime, minutes: int = 60) -> Overview:
        """One snapshot (repeatable read is not needed: the counters are a glance)."""
        start = dash.overview_start(now, minutes)
        count = self._package_count

        async def q(conn: Conn) -> Overview:
            known = count.known
            after = await fetchone(conn, _sql(dash.PACKAGES_AFTER), known[:1])
            by_state = await fetchall(conn, dash.by_state_sql(POSTGRES))
            per_minute = await fetchall(conn, _PER_MINUTE, (start,))
            dead = await fetchone(conn, dash.DEAD_LETTERS)
            return dash.overview(
                count.total(known, after),
                by_state,
                per_minute,
                dead[0] if dead else 0,
                start,
                minutes,
            )

        return cast(Overview, await self._read_tx("dashboard overview", q))

    async def agency_activity(self) -> tuple[AgencyActivity, ...]:
        """Counts of the non-acked states per recipient, then indexed probes per agency."""
        probes = [(_sql(p.sql), p) for p in dash.agency_probes(POSTGRES)]

        async def q(conn: Conn) -> tuple[AgencyActivity, ...]:
            counts = dash.state_counts(await fetchall(conn, _OPEN_BY_RECIPIENT))
            organs = set(counts)
            for query in dash.ORGANS:
                organs.update(str(r[0]) for r in await fetchall(conn, query))
            result = []
            for organ in sorted(organs):
                rows = [await fetchone(conn, text, p.params(organ)) for text, p in probes]
                result.append(dash.agency_activity(organ, counts, rows, POSTGRES))
            return tuple(result)

        return cast(tuple[AgencyActivity, ...], await self._read_tx("agency activity", q))

    # -- listings --------------------------------------------------------------------------------

    async def _package_listing(
        self, what: str, query: str, params: Sequence[Any], limit: int
    ) -> Listing:
        async def q(conn: Conn) -> Listing:
            rows = await fetchall(conn, query, params)
            deliveries = await deliveries_of(conn, dash.page_ids(rows, limit))
            return dash.package_listing(rows, deliveries, limit, POSTGRES)

        return cast(Listing, await self._read_tx(what, q))
