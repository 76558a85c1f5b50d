"""The dashboard's queries on PostgreSQL (:class:`hub.store.facets.DashboardStore`).

Same semantics as :mod:`hub.store.sqlite.dashboard`; runs through the
:class:`~hub.store.postgres.PostgresStore`'s pool and its failure mapping (lost connections
become ``Unavailable``), using the indexes of ``migrations/postgresql/0004_dashboard.sql``.
"""

# SQL text is assembled only from module constants (state lists, column lists, fixed filter
# fragments), never from input; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from hub.models import DeliveryRecord
from hub.storage_crypto import BlobCipher
from hub.store.facets import DashboardStore
from hub.store.postgres.rows import (
    _DELIVERY_COLUMNS,
    _N_PACKAGE_COLUMNS,
    _PACKAGE_COLUMNS,
    Conn,
    _delivery,
    _dumps,
    _fetchall,
    _fetchone,
    _package,
)
from hub.store.records import (
    UNACKED_STATES,
    UNDELIVERED_STATES,
    AgencyActivity,
    AuditEntry,
    DeliveryRow,
    Listing,
    Operator,
    Overview,
    PackageQuery,
    PackageRow,
    Session,
)
from hub.store.textsearch import subject_filter
from hub.text import nfc

_NP = _N_PACKAGE_COLUMNS


def _in(states: Sequence[str]) -> str:
    assert all(s.isidentifier() for s in states)
    return "(" + ", ".join(f"'{s}'" for s in states) + ")"


def _operator(row: Sequence[Any]) -> Operator:
    username, password_hash, role, created_at, disabled = row
    return Operator(username, password_hash, role, created_at.astimezone(UTC), bool(disabled))


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


class PostgresDashboard(DashboardStore):
    """Dashboard queries through a :class:`~hub.store.postgres.PostgresStore`'s runners."""

    def __init__(
        self,
        read: Callable[[str, Callable[[Conn], Awaitable[Any]]], Awaitable[Any]],
        read_tx: Callable[[str, Callable[[Conn], Awaitable[Any]]], Awaitable[Any]],
        write: Callable[[str, Callable[[Conn], Awaitable[Any]]], Awaitable[Any]],
        *,
        cipher: BlobCipher | None = None,
    ) -> None:
        self._read = read
        self._read_tx = read_tx
        self._write = write
        self._cipher = cipher  # the Subject index is keyed when encryption at rest is on

    # -- operators and sessions -----------------------------------------------------------------

    async def add_operator(self, operator: Operator, *, replace: bool = False) -> bool:
        """Insert (or, with ``replace``, update password, role and the disabled flag)."""
        conflict = (
            "DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role, "
            "disabled = excluded.disabled"
            if replace
            else "DO NOTHING"
        )

        async def tx(conn: Conn) -> bool:
            cur = await conn.execute(
                "INSERT INTO operators (username, password_hash, role, created_at, disabled) "
                f"VALUES (%s, %s, %s, %s, %s) ON CONFLICT (username) {conflict}",
                (
                    operator.username,
                    operator.password_hash,
                    operator.role,
                    operator.created_at,
                    operator.disabled,
                ),
            )
            return cur.rowcount > 0

        result: bool = await self._write("add_operator", tx)
        return result

    async def get_operator(self, username: str) -> Operator | None:
        """One account."""
        row = await self._read(
            "get_operator",
            lambda c: _fetchone(
                c,
                "SELECT username, password_hash, role, created_at, disabled FROM operators "
                "WHERE username = %s",
                (username,),
            ),
        )
        return _operator(row) if row is not None else None

    async def list_operators(self) -> tuple[Operator, ...]:
        """Every account."""
        rows = await self._read(
            "list_operators",
            lambda c: _fetchall(
                c,
                "SELECT username, password_hash, role, created_at, disabled FROM operators "
                "ORDER BY username",
            ),
        )
        return tuple(_operator(r) for r in rows)

    async def create_session(
        self, token_sha256: str, username: str, csrf: str, now: datetime, expires_at: datetime
    ) -> None:
        """Record the session; expired ones are swept in the same transaction."""

        async def tx(conn: Conn) -> None:
            await conn.execute("DELETE FROM operator_sessions WHERE expires_at < %s", (now,))
            await conn.execute(
                "INSERT INTO operator_sessions (token_sha256, username, csrf, created_at, "
                "expires_at) VALUES (%s, %s, %s, %s, %s)",
                (token_sha256, username, csrf, now, expires_at),
            )

        await self._write("create_session", tx)

    async def get_session(self, token_sha256: str, now: datetime) -> Session | None:
        """A live session of an enabled operator."""
        row = await self._read(
            "get_session",
            lambda c: _fetchone(
                c,
                "SELECT s.username, o.role, s.csrf, s.expires_at FROM operator_sessions s "
                "JOIN operators o ON o.username = s.username "
                "WHERE s.token_sha256 = %s AND s.expires_at > %s AND NOT o.disabled",
                (token_sha256, now),
            ),
        )
        if row is None:
            return None
        return Session(row[0], row[1], row[2], row[3].astimezone(UTC))

    async def delete_session(self, token_sha256: str) -> None:
        """Log out."""

        async def tx(conn: Conn) -> None:
            await conn.execute(
                "DELETE FROM operator_sessions WHERE token_sha256 = %s", (token_sha256,)
            )

        await self._write("delete_session", tx)

    # -- audit -----------------------------------------------------------------------------------

    async def add_audit(self, entry: AuditEntry) -> None:
        """Append one operator action."""

        async def tx(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO operator_audit (at, username, action, target, detail) "
                "VALUES (%s, %s, %s, %s, %s)",
                (
                    entry.at,
                    entry.username,
                    entry.action,
                    entry.target,
                    Jsonb(entry.detail, dumps=_dumps),
                ),
            )

        await self._write("add_audit", tx)

    async def audit(self, *, before: int | None = None, limit: int = 50) -> Listing:
        """Newest first, by seq."""
        rows = await self._read(
            "audit",
            lambda c: _fetchall(
                c,
                "SELECT seq, at, username, action, target, detail FROM operator_audit "
                "WHERE seq < %s ORDER BY seq DESC LIMIT %s",
                (before if before is not None else 2**62, limit + 1),
            ),
        )
        entries = tuple(
            AuditEntry(at.astimezone(UTC), user, action, target, dict(detail), int(seq))
            for seq, at, user, action, target, detail in rows[:limit]
        )
        return Listing(entries, entries[-1].seq if len(rows) > limit else None)

    # -- counters --------------------------------------------------------------------------------

    async def overview(self, now: datetime, minutes: int = 60) -> Overview:
        """One snapshot (repeatable read is not needed: the counters are a glance)."""
        start = now.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)

        async def q(conn: Conn) -> Overview:
            packages = await _fetchone(conn, "SELECT COUNT(*) FROM packages")
            by_state = await _fetchall(
                conn, "SELECT state, COUNT(*) FROM deliveries GROUP BY state"
            )
            per_minute = await _fetchall(
                conn,
                "SELECT date_trunc('minute', accepted_at), COUNT(*) FROM packages "
                "WHERE accepted_at >= %s GROUP BY 1",
                (start,),
            )
            dead = await _fetchone(
                conn,
                "SELECT COUNT(*) FROM deliveries d WHERE d.state = 'dead' AND NOT EXISTS "
                "(SELECT 1 FROM dead_letter_discards x WHERE x.package_id = d.package_id "
                "AND x.recipient = d.recipient)",
            )
            counts = [0] * minutes
            for minute, n in per_minute:
                index = int((minute - start).total_seconds() // 60)
                if 0 <= index < minutes:
                    counts[index] += int(n)
            return Overview(
                packages=int(packages[0]) if packages else 0,
                deliveries_by_state={str(k): int(v) for k, v in by_state},
                accepted_per_minute=tuple(counts),
                refused_per_minute=(0,) * minutes,
                dead_letters=int(dead[0]) if dead else 0,
            )

        result: Overview = await self._read_tx("dashboard overview", q)
        return result

    async def agency_activity(self) -> tuple[AgencyActivity, ...]:
        """Counts of the non-acked states per recipient, then indexed probes per agency."""

        async def q(conn: Conn) -> tuple[AgencyActivity, ...]:
            counts: dict[str, dict[str, int]] = {}
            for recipient, state, n in await _fetchall(
                conn,
                "SELECT recipient, state, COUNT(*) FROM deliveries WHERE state IN "
                "('pending', 'queued', 'available', 'delivered', 'failed', 'dead') "
                "GROUP BY state, recipient",
            ):
                counts.setdefault(recipient, {})[state] = int(n)
            # Loose index scans (recursive CTE): distinct senders/recipients without reading
            # every row.
            organs = set(counts)
            for column, table in (("sender", "packages"), ("recipient", "deliveries")):
                rows = await _fetchall(
                    conn,
                    f"WITH RECURSIVE t(v) AS (SELECT min({column}) FROM {table} UNION ALL "
                    f"SELECT (SELECT min({column}) FROM {table} WHERE {column} > t.v) FROM t "
                    "WHERE t.v IS NOT NULL) SELECT v FROM t WHERE v IS NOT NULL",
                )
                organs.update(str(r[0]) for r in rows)
            result = []
            for organ in sorted(organs):
                oldest = await _fetchone(
                    conn,
                    "SELECT p.id, p.accepted_at FROM deliveries d JOIN packages p "
                    "ON p.id = d.package_id WHERE d.recipient = %s AND d.state IN "
                    f"{_in(UNDELIVERED_STATES)} ORDER BY d.seq LIMIT 1",
                    (organ,),
                )
                unacked = await _fetchone(
                    conn,
                    "SELECT p.accepted_at FROM deliveries d JOIN packages p "
                    "ON p.id = d.package_id WHERE d.recipient = %s AND d.state IN "
                    f"{_in(UNACKED_STATES)} ORDER BY d.seq LIMIT 1",
                    (organ,),
                )
                sent = await _fetchone(
                    conn,
                    "SELECT accepted_at, id FROM packages WHERE sender = %s "
                    "ORDER BY seq DESC LIMIT 1",
                    (organ,),
                )
                acked = await _fetchone(
                    conn,
                    "SELECT acked_at FROM deliveries WHERE recipient = %s AND state = 'acked' "
                    "ORDER BY seq DESC LIMIT 1",
                    (organ,),
                )
                result.append(
                    AgencyActivity(
                        organ_id=organ,
                        by_state=counts.get(organ, {}),
                        oldest_undelivered_at=_utc(oldest[1]) if oldest else None,
                        oldest_undelivered_id=str(oldest[0]) if oldest else None,
                        oldest_unacked_at=_utc(unacked[0]) if unacked else None,
                        last_sent_at=_utc(sent[0]) if sent else None,
                        last_sent_id=str(sent[1]) if sent else None,
                        last_ack_at=_utc(acked[0]) if acked else None,
                    )
                )
            return tuple(result)

        result: tuple[AgencyActivity, ...] = await self._read_tx("agency activity", q)
        return result

    # -- listings --------------------------------------------------------------------------------

    @staticmethod
    async def _deliveries_of(conn: Conn, ids: Sequence[str]) -> dict[str, list[DeliveryRecord]]:
        by_package: dict[str, list[DeliveryRecord]] = {i: [] for i in ids}
        if ids:
            for d in await _fetchall(
                conn,
                f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d WHERE d.package_id = ANY(%s) "
                "ORDER BY d.package_id, d.recipient",
                (list(ids),),
            ):
                by_package[d[0]].append(_delivery(d))
        return by_package

    async def search_packages(
        self, query: PackageQuery, *, before: int | None = None, limit: int = 50
    ) -> Listing:
        """Newest first; the planner picks the document, kind, sender or seq index."""
        bound = before if before is not None else 2**62
        where = ["p.seq < %s"]
        params: list[Any] = [bound]
        if query.document_id:
            where.append("p.document_id = %s")
            params.append(nfc(query.document_id))  # keys are stored in NFC
        if query.subject:
            words, word_params = subject_filter(
                query.subject, self._cipher, column="p.subject_terms", placeholder="%s"
            )
            if words:
                where.append(words)
                params.extend(word_params)
        if query.kind:
            where.append("p.kind = %s")
            params.append(query.kind)
        if query.since is not None:
            where.append("p.accepted_at >= %s")
            params.append(query.since)
        if query.until is not None:
            where.append("p.accepted_at < %s")
            params.append(query.until)
        if query.organ_id:
            to_clause = (
                "EXISTS (SELECT 1 FROM deliveries r WHERE r.package_id = p.id AND r.recipient = %s)"
            )
            if query.role == "from":
                where.append("p.sender = %s")
                params.append(query.organ_id)
            elif query.role == "to":
                where.append(to_clause)
                params.append(query.organ_id)
            else:
                where.append(f"(p.sender = %s OR {to_clause})")
                params.extend([query.organ_id, query.organ_id])
        if query.state:
            where.append(
                "p.seq IN (SELECT s.seq FROM deliveries s WHERE s.state = %s AND s.seq < %s)"
            )
            params.extend([query.state, bound])
        sql = (
            f"SELECT {_PACKAGE_COLUMNS} FROM packages p WHERE {' AND '.join(where)} "
            "ORDER BY p.seq DESC LIMIT %s"
        )
        params.append(limit + 1)

        async def q(conn: Conn) -> Listing:
            rows = await _fetchall(conn, sql, params)
            page = rows[:limit]
            by_package = await self._deliveries_of(conn, [r[1] for r in page])
            items = tuple(PackageRow(int(r[0]), _package(r), tuple(by_package[r[1]])) for r in page)
            return Listing(items, int(page[-1][0]) if len(rows) > limit else None)

        result: Listing = await self._read_tx("package search", q)
        return result

    async def deliveries_in(
        self,
        states: tuple[str, ...],
        *,
        after: int | None = None,
        limit: int = 50,
        include_discarded: bool = False,
    ) -> Listing:
        """Oldest first through ``dash_deliveries_state_seq``."""
        discarded = (
            ""
            if include_discarded
            else "AND NOT EXISTS (SELECT 1 FROM dead_letter_discards x WHERE "
            "x.package_id = d.package_id AND x.recipient = d.recipient) "
        )
        sql = (
            f"SELECT {_PACKAGE_COLUMNS}, {_DELIVERY_COLUMNS} FROM deliveries d "
            "JOIN packages p ON p.id = d.package_id "
            f"WHERE d.state IN {_in(states)} AND d.seq > %s {discarded}"
            "ORDER BY d.seq, d.recipient LIMIT %s"
        )
        rows = await self._read(
            "deliveries by state", lambda c: _fetchall(c, sql, (after or 0, limit + 1))
        )
        items = tuple(
            DeliveryRow(int(r[0]), _package(r[:_NP]), _delivery(r[_NP:])) for r in rows[:limit]
        )
        nxt = None
        if len(rows) > limit:
            last = int(rows[limit - 1][0])
            nxt = last if int(rows[limit][0]) != last else last - 1
        return Listing(items, nxt)

    async def unaccepted_dossiers(self, *, after: int | None = None, limit: int = 50) -> Listing:
        """Dossiers at TrangThaiHoSo 1 without a later package for the same MaHoSo."""
        sql = (
            f"SELECT {_PACKAGE_COLUMNS} FROM packages p "
            "WHERE p.kind = 'dossier' AND p.status_code = '1' AND p.seq > %s "
            "AND NOT EXISTS (SELECT 1 FROM packages q WHERE q.document_id = p.document_id "
            "AND q.kind IN ('dossier', 'dossier_progress') AND q.seq > p.seq) "
            "ORDER BY p.seq LIMIT %s"
        )

        async def q(conn: Conn) -> Listing:
            rows = await _fetchall(conn, sql, (after or 0, limit + 1))
            page = rows[:limit]
            by_package = await self._deliveries_of(conn, [r[1] for r in page])
            items = tuple(PackageRow(int(r[0]), _package(r), tuple(by_package[r[1]])) for r in page)
            return Listing(items, int(page[-1][0]) if len(rows) > limit else None)

        result: Listing = await self._read_tx("unaccepted dossiers", q)
        return result

    async def discard_dead(
        self, package_id: str, recipient: str, username: str, at: datetime
    ) -> bool:
        """Only a delivery that is ``dead`` now can be discarded, once."""

        async def tx(conn: Conn) -> bool:
            cur = await conn.execute(
                "INSERT INTO dead_letter_discards (package_id, recipient, at, username) "
                "SELECT package_id, recipient, %s, %s FROM deliveries "
                "WHERE package_id = %s AND recipient = %s AND state = 'dead' "
                "ON CONFLICT (package_id, recipient) DO NOTHING",
                (at, username, package_id, recipient),
            )
            return cur.rowcount > 0

        result: bool = await self._write("discard dead letter", tx)
        return result

    async def undiscard(self, package_id: str, recipient: str) -> None:
        """Forget a discard."""

        async def tx(conn: Conn) -> None:
            await conn.execute(
                "DELETE FROM dead_letter_discards WHERE package_id = %s AND recipient = %s",
                (package_id, recipient),
            )

        await self._write("undiscard", tx)

    async def reached_since(
        self, after: int | None, limit: int = 5000
    ) -> tuple[int, tuple[float, ...]]:
        """A range scan of the event log's primary key, joined to the package."""

        async def q(conn: Conn) -> tuple[int, tuple[float, ...]]:
            if after is None:
                row = await _fetchone(conn, "SELECT COALESCE(MAX(seq), 0) FROM events")
                return (int(row[0]) if row else 0), ()
            rows = await _fetchall(
                conn,
                "SELECT e.seq, e.kind, e.at, p.accepted_at FROM events e "
                "LEFT JOIN packages p ON p.id = e.package_id WHERE e.seq > %s "
                "ORDER BY e.seq LIMIT %s",
                (after, limit),
            )
            latencies = tuple(
                (at - accepted).total_seconds()
                for _seq, kind, at, accepted in rows
                if kind in ("available", "delivered") and accepted is not None
            )
            return (int(rows[-1][0]) if rows else after), latencies

        result: tuple[int, tuple[float, ...]] = await self._read("delivery latencies", q)
        return result
