"""The dashboard's queries on SQLite (:class:`hub.store.facets.DashboardStore`).

Runs on the :class:`~hub.store.sqlite.SqliteStore`'s own reader and writer threads, so it
shares their snapshot and write serialisation. Every listing is a keyset page over an index
from ``migrations/sqlite/0004_dashboard.sql``; none walks the acked deliveries.
"""

# SQL text is assembled only from module constants (state lists, column lists, fixed filter
# fragments), never from input; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from hub.models import DeliveryRecord
from hub.sqlitedb import SqliteConnection, from_db_time, to_db_time
from hub.storage_crypto import BlobCipher
from hub.store.facets import DashboardStore
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
from hub.store.sqlite.rows import (
    _DELIVERY_COLUMNS,
    _N_PACKAGE_COLUMNS,
    _PACKAGE_COLUMNS,
    _delivery,
    _package,
)
from hub.store.textsearch import subject_filter
from hub.text import nfc

_NP = _N_PACKAGE_COLUMNS  # package columns


def _in(states: Sequence[str]) -> str:
    # The states are module constants; spelled out literally so the planner sees them.
    assert all(s.isidentifier() for s in states)
    return "(" + ", ".join(f"'{s}'" for s in states) + ")"


def _operator(row: Sequence[Any]) -> Operator:
    username, password_hash, role, created_at, disabled = row
    return Operator(username, password_hash, role, from_db_time(created_at), bool(disabled))


def _minutes(rows: Sequence[Any], start: datetime, minutes: int) -> tuple[int, ...]:
    counts = [0] * minutes
    for minute, n in rows:
        at = datetime.fromisoformat(minute + ":00+00:00")
        index = int((at - start).total_seconds() // 60)
        if 0 <= index < minutes:
            counts[index] += int(n)
    return tuple(counts)


class SqliteDashboard(DashboardStore):
    """Dashboard queries over a :class:`~hub.store.sqlite.SqliteStore`'s connections."""

    def __init__(
        self,
        reader: SqliteConnection,
        writer: SqliteConnection,
        *,
        cipher: BlobCipher | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._cipher = cipher  # the Subject index is keyed when encryption at rest is on

    # -- operators and sessions -----------------------------------------------------------------

    async def add_operator(self, operator: Operator, *, replace: bool = False) -> bool:
        """Insert (or, with ``replace``, update password, role and the disabled flag)."""
        values = (
            operator.username,
            operator.password_hash,
            operator.role,
            to_db_time(operator.created_at),
            int(operator.disabled),
        )
        conflict = (
            "DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role, "
            "disabled = excluded.disabled"
            if replace
            else "DO NOTHING"
        )

        def tx(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "INSERT INTO operators (username, password_hash, role, created_at, disabled) "
                f"VALUES (?, ?, ?, ?, ?) ON CONFLICT (username) {conflict}",
                values,
            )
            return cur.rowcount > 0

        return await self._writer.write(tx)

    async def get_operator(self, username: str) -> Operator | None:
        """One account."""
        row = await self._reader.run(
            lambda c: c.execute(
                "SELECT username, password_hash, role, created_at, disabled FROM operators "
                "WHERE username = ?",
                (username,),
            ).fetchone()
        )
        return _operator(row) if row is not None else None

    async def list_operators(self) -> tuple[Operator, ...]:
        """Every account."""
        rows = await self._reader.run(
            lambda c: c.execute(
                "SELECT username, password_hash, role, created_at, disabled FROM operators "
                "ORDER BY username"
            ).fetchall()
        )
        return tuple(_operator(r) for r in rows)

    async def create_session(
        self, token_sha256: str, username: str, csrf: str, now: datetime, expires_at: datetime
    ) -> None:
        """Record the session; expired sessions are swept in the same transaction."""

        def tx(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM operator_sessions WHERE expires_at < ?", (to_db_time(now),))
            conn.execute(
                "INSERT INTO operator_sessions (token_sha256, username, csrf, created_at, "
                "expires_at) VALUES (?, ?, ?, ?, ?)",
                (token_sha256, username, csrf, to_db_time(now), to_db_time(expires_at)),
            )

        await self._writer.write(tx)

    async def get_session(self, token_sha256: str, now: datetime) -> Session | None:
        """A live session of an enabled operator."""
        row = await self._reader.run(
            lambda c: c.execute(
                "SELECT s.username, o.role, s.csrf, s.expires_at FROM operator_sessions s "
                "JOIN operators o ON o.username = s.username "
                "WHERE s.token_sha256 = ? AND s.expires_at > ? AND o.disabled = 0",
                (token_sha256, to_db_time(now)),
            ).fetchone()
        )
        if row is None:
            return None
        return Session(row[0], row[1], row[2], from_db_time(row[3]))

    async def delete_session(self, token_sha256: str) -> None:
        """Log out."""
        await self._writer.write(
            lambda c: c.execute(
                "DELETE FROM operator_sessions WHERE token_sha256 = ?", (token_sha256,)
            )
        )

    # -- audit -----------------------------------------------------------------------------------

    async def add_audit(self, entry: AuditEntry) -> None:
        """Append one operator action."""
        values = (
            to_db_time(entry.at),
            entry.username,
            entry.action,
            entry.target,
            json.dumps(entry.detail, ensure_ascii=False, default=str),
        )
        await self._writer.write(
            lambda c: c.execute(
                "INSERT INTO operator_audit (at, username, action, target, detail) "
                "VALUES (?, ?, ?, ?, ?)",
                values,
            )
        )

    async def audit(self, *, before: int | None = None, limit: int = 50) -> Listing:
        """Newest first, by seq."""
        rows = await self._reader.run(
            lambda c: c.execute(
                "SELECT seq, at, username, action, target, detail FROM operator_audit "
                "WHERE seq < ? ORDER BY seq DESC LIMIT ?",
                (before if before is not None else 2**62, limit + 1),
            ).fetchall()
        )
        entries = tuple(
            AuditEntry(from_db_time(at), user, action, target, json.loads(detail), seq)
            for seq, at, user, action, target, detail in rows[:limit]
        )
        return Listing(entries, entries[-1].seq if len(rows) > limit else None)

    # -- counters --------------------------------------------------------------------------------

    async def overview(self, now: datetime, minutes: int = 60) -> Overview:
        """One read snapshot: totals, open states, per-minute acceptances."""
        start = now.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)

        def q(conn: sqlite3.Connection) -> Overview:
            packages = conn.execute("SELECT COUNT(*) FROM packages").fetchone()[0]
            by_state = dict(
                conn.execute(
                    "SELECT state, COUNT(*) FROM deliveries INDEXED BY "
                    "dash_deliveries_state_recipient GROUP BY state"
                ).fetchall()
            )
            per_minute = conn.execute(
                "SELECT substr(accepted_at, 1, 16), COUNT(*) FROM packages "
                "WHERE accepted_at >= ? GROUP BY 1",
                (to_db_time(start),),
            ).fetchall()
            dead = conn.execute(
                "SELECT COUNT(*) FROM deliveries d WHERE d.state = 'dead' AND NOT EXISTS "
                "(SELECT 1 FROM dead_letter_discards x WHERE x.package_id = d.package_id "
                "AND x.recipient = d.recipient)"
            ).fetchone()[0]
            return Overview(
                packages=int(packages),
                deliveries_by_state={str(k): int(v) for k, v in by_state.items()},
                accepted_per_minute=_minutes(per_minute, start, minutes),
                refused_per_minute=(0,) * minutes,
                dead_letters=int(dead),
            )

        return await self._reader.read(q)

    async def agency_activity(self) -> tuple[AgencyActivity, ...]:
        """Counts of the non-acked states per recipient, then a few indexed probes each."""

        def q(conn: sqlite3.Connection) -> tuple[AgencyActivity, ...]:
            counts: dict[str, dict[str, int]] = {}
            for recipient, state, n in conn.execute(
                "SELECT recipient, state, COUNT(*) FROM deliveries INDEXED BY "
                "dash_deliveries_state_recipient WHERE state != 'acked' "
                "GROUP BY state, recipient"
            ):
                counts.setdefault(recipient, {})[state] = int(n)
            organs = set(counts)
            organs.update(
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT sender FROM packages INDEXED BY packages_outbox"
                )
            )
            organs.update(
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT recipient FROM deliveries INDEXED BY "
                    "deliveries_all_by_recipient"
                )
            )
            result = []
            for organ in sorted(organs):
                oldest = conn.execute(
                    "SELECT p.id, p.accepted_at FROM deliveries d JOIN packages p "
                    "ON p.id = d.package_id WHERE d.recipient = ? AND d.state IN "
                    f"{_in(UNDELIVERED_STATES)} ORDER BY d.seq LIMIT 1",
                    (organ,),
                ).fetchone()
                unacked = conn.execute(
                    "SELECT p.accepted_at FROM deliveries d JOIN packages p "
                    "ON p.id = d.package_id WHERE d.recipient = ? AND d.state IN "
                    f"{_in(UNACKED_STATES)} ORDER BY d.seq LIMIT 1",
                    (organ,),
                ).fetchone()
                sent = conn.execute(
                    "SELECT accepted_at, id FROM packages WHERE sender = ? "
                    "ORDER BY seq DESC LIMIT 1",
                    (organ,),
                ).fetchone()
                acked = conn.execute(
                    "SELECT acked_at FROM deliveries WHERE recipient = ? AND state = 'acked' "
                    "ORDER BY seq DESC LIMIT 1",
                    (organ,),
                ).fetchone()
                result.append(
                    AgencyActivity(
                        organ_id=organ,
                        by_state=counts.get(organ, {}),
                        oldest_undelivered_at=from_db_time(oldest[1]) if oldest else None,
                        oldest_undelivered_id=oldest[0] if oldest else None,
                        oldest_unacked_at=from_db_time(unacked[0]) if unacked else None,
                        last_sent_at=from_db_time(sent[0]) if sent else None,
                        last_sent_id=sent[1] if sent else None,
                        last_ack_at=from_db_time(acked[0]) if acked and acked[0] else None,
                    )
                )
            return tuple(result)

        return await self._reader.read(q)

    # -- listings --------------------------------------------------------------------------------

    def _deliveries_of(
        self, conn: sqlite3.Connection, ids: Sequence[str]
    ) -> dict[str, list[DeliveryRecord]]:
        by_package: dict[str, list[DeliveryRecord]] = {i: [] for i in ids}
        if ids:
            for d in conn.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d WHERE d.package_id IN "
                "(SELECT value FROM json_each(?)) ORDER BY d.package_id, d.recipient",
                (json.dumps(list(ids)),),
            ):
                by_package[d[0]].append(_delivery(d))
        return by_package

    async def search_packages(
        self, query: PackageQuery, *, before: int | None = None, limit: int = 50
    ) -> Listing:
        """Newest first. A DocumentId/MaHoSo drives through its index; otherwise the walk goes
        down ``seq`` and stops after ``limit`` matches."""
        where = ["p.seq < ?"]
        params: list[Any] = [before if before is not None else 2**62]
        if query.document_id:
            where.append("p.document_id = ?")
            params.append(nfc(query.document_id))  # keys are stored in NFC
        if query.subject:
            words, word_params = subject_filter(
                query.subject, self._cipher, column="p.subject_terms", placeholder="?"
            )
            if words:
                where.append(words)
                params.extend(word_params)
        if query.kind:
            where.append("p.kind = ?")
            params.append(query.kind)
        if query.since is not None:
            where.append("p.accepted_at >= ?")
            params.append(to_db_time(query.since))
        if query.until is not None:
            where.append("p.accepted_at < ?")
            params.append(to_db_time(query.until))
        if query.organ_id:
            to_clause = (
                "EXISTS (SELECT 1 FROM deliveries r WHERE r.package_id = p.id AND r.recipient = ?)"
            )
            if query.role == "from":
                where.append("p.sender = ?")
                params.append(query.organ_id)
            elif query.role == "to":
                where.append(to_clause)
                params.append(query.organ_id)
            else:
                where.append(f"(p.sender = ? OR {to_clause})")
                params.extend([query.organ_id, query.organ_id])
        if query.state:
            # Rare states (dead, failed) are found through the (state, seq) index instead of
            # probing every package.
            where.append(
                "p.seq IN (SELECT s.seq FROM deliveries s INDEXED BY dash_deliveries_state_seq "
                "WHERE s.state = ? AND s.seq < ?)"
            )
            params.extend([query.state, params[0]])
        sql = (
            f"SELECT {_PACKAGE_COLUMNS} FROM packages p WHERE {' AND '.join(where)} "
            "ORDER BY p.seq DESC LIMIT ?"
        )
        params.append(limit + 1)

        def q(conn: sqlite3.Connection) -> Listing:
            rows = conn.execute(sql, params).fetchall()[: limit + 1]
            page = rows[:limit]
            by_package = self._deliveries_of(conn, [r[1] for r in page])
            items = tuple(PackageRow(int(r[0]), _package(r), tuple(by_package[r[1]])) for r in page)
            return Listing(items, int(page[-1][0]) if len(rows) > limit else None)

        return await self._reader.read(q)

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
            f"SELECT {_PACKAGE_COLUMNS}, {_DELIVERY_COLUMNS} FROM deliveries d INDEXED BY "
            "dash_deliveries_state_seq JOIN packages p ON p.id = d.package_id "
            f"WHERE d.state IN {_in(states)} AND d.seq > ? {discarded}"
            "ORDER BY d.seq, d.recipient LIMIT ?"
        )
        rows = await self._reader.run(lambda c: c.execute(sql, (after or 0, limit + 1)).fetchall())
        items = tuple(
            DeliveryRow(int(r[0]), _package(r[:_NP]), _delivery(r[_NP:])) for r in rows[:limit]
        )
        # A package with several recipients can straddle the page edge: continue from the
        # seq before it so none of its deliveries is skipped (the rare repeat is harmless).
        nxt = None
        if len(rows) > limit:
            last = int(rows[limit - 1][0])
            nxt = last if int(rows[limit][0]) != last else last - 1
        return Listing(items, nxt)

    async def unaccepted_dossiers(self, *, after: int | None = None, limit: int = 50) -> Listing:
        """Dossiers at TrangThaiHoSo 1 without a later package for the same MaHoSo."""
        sql = (
            f"SELECT {_PACKAGE_COLUMNS} FROM packages p INDEXED BY dash_packages_kind "
            "WHERE p.kind = 'dossier' AND p.status_code = '1' AND p.seq > ? "
            "AND NOT EXISTS (SELECT 1 FROM packages q WHERE q.document_id = p.document_id "
            "AND q.kind IN ('dossier', 'dossier_progress') AND q.seq > p.seq) "
            "ORDER BY p.seq LIMIT ?"
        )

        def q(conn: sqlite3.Connection) -> Listing:
            rows = conn.execute(sql, (after or 0, limit + 1)).fetchall()
            page = rows[:limit]
            by_package = self._deliveries_of(conn, [r[1] for r in page])
            items = tuple(PackageRow(int(r[0]), _package(r), tuple(by_package[r[1]])) for r in page)
            return Listing(items, int(page[-1][0]) if len(rows) > limit else None)

        return await self._reader.read(q)

    async def discard_dead(
        self, package_id: str, recipient: str, username: str, at: datetime
    ) -> bool:
        """Only a delivery that is ``dead`` now can be discarded, once."""

        def tx(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "INSERT INTO dead_letter_discards (package_id, recipient, at, username) "
                "SELECT package_id, recipient, ?, ? FROM deliveries "
                "WHERE package_id = ? AND recipient = ? AND state = 'dead' "
                "ON CONFLICT (package_id, recipient) DO NOTHING",
                (to_db_time(at), username, package_id, recipient),
            )
            return cur.rowcount > 0

        return await self._writer.write(tx)

    async def undiscard(self, package_id: str, recipient: str) -> None:
        """Forget a discard."""
        await self._writer.write(
            lambda c: c.execute(
                "DELETE FROM dead_letter_discards WHERE package_id = ? AND recipient = ?",
                (package_id, recipient),
            )
        )

    async def reached_since(
        self, after: int | None, limit: int = 5000
    ) -> tuple[int, tuple[float, ...]]:
        """A range scan of the event log's primary key, joined to the package."""

        def q(conn: sqlite3.Connection) -> tuple[int, tuple[float, ...]]:
            if after is None:
                row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
                return int(row[0]), ()
            rows = conn.execute(
                "SELECT e.seq, e.kind, e.at, p.accepted_at FROM events e "
                "LEFT JOIN packages p ON p.id = e.package_id WHERE e.seq > ? "
                "ORDER BY e.seq LIMIT ?",
                (after, limit),
            ).fetchall()
            latencies = tuple(
                (from_db_time(at) - from_db_time(accepted)).total_seconds()
                for _seq, kind, at, accepted in rows
                if kind in ("available", "delivered") and accepted is not None
            )
            return (int(rows[-1][0]) if rows else after), latencies

        return await self._reader.read(q)
