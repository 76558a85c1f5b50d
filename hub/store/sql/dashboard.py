"""The dashboard's queries (issue 6): the statements, parameter builders and row mappers both
store backends run (``?`` placeholders; see :mod:`hub.store.sql`).

Every listing is a keyset page over an index of migration ``0004_dashboard.sql``; none walks
the acked deliveries, and none of the pulse's reads (every two seconds) grows with the
history stored: open states by their index ranges, agencies by a loose index scan, the package
total counted on from the last ``seq`` counted. What stays per backend: the per-minute bucket
of the overview.
"""

# SQL text is assembled only from module constants (state lists, column lists, fixed filter
# fragments), never from input; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from hub.models import DeliveryRecord
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
from hub.store.sql.dialect import Dialect
from hub.store.sql.packages import (
    DELIVERY_COLUMNS,
    N_PACKAGE_COLUMNS,
    PACKAGE_COLUMNS,
    delivery,
    package,
)
from hub.store.textsearch import subject_filter
from hub.text import nfc

#: The ``seq`` bound of a first page, newest first (above any seq).
NEWEST = 2**62


def in_states(states: Sequence[str]) -> str:
    """``('a', 'b')``: states spelled out literally, so the planner matches partial indexes.
    The states are module constants, never input."""
    assert all(s.isidentifier() for s in states)
    return "(" + ", ".join(f"'{s}'" for s in states) + ")"


# -- operators and sessions ------------------------------------------------------------------

_OPERATOR_COLUMNS = "username, password_hash, role, created_at, disabled"
GET_OPERATOR = f"SELECT {_OPERATOR_COLUMNS} FROM operators WHERE username = ?"
LIST_OPERATORS = f"SELECT {_OPERATOR_COLUMNS} FROM operators ORDER BY username"


def add_operator_sql(replace: bool) -> str:
    """Insert an account; with ``replace``, update password, role and the disabled flag."""
    conflict = (
        "DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role, "
        "disabled = excluded.disabled"
        if replace
        else "DO NOTHING"
    )
    return (
        f"INSERT INTO operators ({_OPERATOR_COLUMNS}) "
        f"VALUES (?, ?, ?, ?, ?) ON CONFLICT (username) {conflict}"
    )


#: Compare-and-set of one account's password hash (parameters: the new hash, the username,
#: the hash read before): a rehash at login writes nothing else, and nothing if the account
#: changed its password meanwhile.
REHASH_OPERATOR = "UPDATE operators SET password_hash = ? WHERE username = ? AND password_hash = ?"


def operator_params(operator: Operator, d: Dialect) -> tuple[Any, ...]:
    """Parameters of :func:`add_operator_sql`."""
    return (
        operator.username,
        operator.password_hash,
        operator.role,
        d.time_in(operator.created_at),
        d.bool_in(operator.disabled),
    )


def operator(row: Sequence[Any], d: Dialect) -> Operator:
    """An :class:`Operator` from a :data:`GET_OPERATOR` row."""
    username, password_hash, role, created_at, disabled = row
    return Operator(username, password_hash, role, d.time_out(created_at), bool(disabled))


#: Parameter: now. Expired sessions are swept when a new one is recorded.
SWEEP_SESSIONS = "DELETE FROM operator_sessions WHERE expires_at < ?"
INSERT_SESSION = (
    "INSERT INTO operator_sessions (token_sha256, username, csrf, created_at, expires_at) "
    "VALUES (?, ?, ?, ?, ?)"
)
#: A live session of an enabled operator (parameters: the token's hash, now).
GET_SESSION = (
    "SELECT s.username, o.role, s.csrf, s.expires_at FROM operator_sessions s "
    "JOIN operators o ON o.username = s.username "
    "WHERE s.token_sha256 = ? AND s.expires_at > ? AND NOT o.disabled"
)
DELETE_SESSION = "DELETE FROM operator_sessions WHERE token_sha256 = ?"


def session(row: Sequence[Any], d: Dialect) -> Session:
    """A :class:`Session` from a :data:`GET_SESSION` row."""
    username, role, csrf, expires_at = row
    return Session(username, role, csrf, d.time_out(expires_at))


# -- operator audit --------------------------------------------------------------------------

INSERT_AUDIT = (
    "INSERT INTO operator_audit (at, username, action, target, detail) VALUES (?, ?, ?, ?, ?)"
)
#: Newest first (parameters: the seq to continue below, limit).
AUDIT_PAGE = (
    "SELECT seq, at, username, action, target, detail FROM operator_audit "
    "WHERE seq < ? ORDER BY seq DESC LIMIT ?"
)


def audit_params(entry: AuditEntry, d: Dialect) -> tuple[Any, ...]:
    """Parameters of :data:`INSERT_AUDIT`."""
    return (
        d.time_in(entry.at),
        entry.username,
        entry.action,
        entry.target,
        d.json_in(entry.detail),
    )


def audit_listing(rows: Sequence[Sequence[Any]], limit: int, d: Dialect) -> Listing:
    """The page of :data:`AUDIT_PAGE`'s rows (``limit + 1`` asked)."""
    entries = tuple(
        AuditEntry(d.time_out(at), user, action, target, dict(d.json_out(detail)), int(seq))
        for seq, at, user, action, target, detail in rows[:limit]
    )
    return Listing(entries, entries[-1].seq if len(rows) > limit else None)


# -- counters --------------------------------------------------------------------------------


#: Every state a delivery leaves (``acked`` is the one it stays in), spelled out so that an
#: index on ``state`` is read only over these: their count is the backlog, however many
#: deliveries were acknowledged before.
OPEN_STATES = ("pending", "queued", "available", "delivered", "failed", "dead")


def by_state_sql(d: Dialect) -> str:
    """Deliveries per state, the acknowledged ones left out (the (state, recipient) index
    answers it over the open states' ranges only: counting the acked too read every delivery
    ever made, every two seconds)."""
    return (
        f"SELECT state, COUNT(*) FROM deliveries {d.indexed_by('dash_deliveries_state_recipient')}"
        f"WHERE state IN {in_states(OPEN_STATES)} GROUP BY state"
    )


def open_by_recipient_sql(d: Dialect) -> str:
    """(recipient, state, count) of every delivery not acknowledged, through the same index
    and ranges as :func:`by_state_sql`."""
    return (
        "SELECT recipient, state, COUNT(*) FROM deliveries "
        f"{d.indexed_by('dash_deliveries_state_recipient')}"
        f"WHERE state IN {in_states(OPEN_STATES)} GROUP BY state, recipient"
    )


def distinct_sql(column: str, table: str) -> str:
    """The distinct values of an indexed ``column`` by a loose index scan (a recursive CTE
    taking the smallest value above the last one: one index seek per value, where ``SELECT
    DISTINCT`` reads every row's entry). ``column`` and ``table`` are module constants."""
    return (
        f"WITH RECURSIVE t (v) AS (SELECT MIN({column}) FROM {table} UNION ALL "
        f"SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > t.v) FROM t "
        "WHERE t.v IS NOT NULL) SELECT v FROM t WHERE v IS NOT NULL"
    )


#: Every agency that sent, and every agency that was sent to.
ORGANS = (distinct_sql("sender", "packages"), distinct_sql("recipient", "deliveries"))

#: The packages stored after a known ``seq``: their count and the last ``seq``. The upper
#: bound (one seek) makes it a range of the primary key for a planner without statistics too:
#: PostgreSQL, before its first ANALYZE of a busy table, estimated a third of the table for
#: ``seq > $1`` alone and read all of it.
PACKAGES_AFTER = (
    "SELECT COUNT(*), MAX(seq) FROM packages "
    "WHERE seq > ? AND seq <= (SELECT MAX(seq) FROM packages)"
)


class PackageCount:
    """The number of packages stored, kept up to date by counting only the ones stored since
    the last count (:data:`PACKAGES_AFTER`, a range of the primary key) instead of every
    package every time the dashboard asks (``COUNT(*)`` reads a whole index).

    Exact because packages are never deleted and ``seq`` is assigned in commit order (SQLite
    has one writer; PostgreSQL's ``accept`` holds the ``seq`` advisory lock until it commits):
    once a ``seq`` is visible, no package with a smaller one can appear later. One per store
    object, shared by its dashboard facets; concurrent reads may update it in any order, as
    every (``seq``, count) pair it keeps is true."""

    def __init__(self) -> None:
        #: (the last seq counted, the packages with a seq up to it)
        self.known: tuple[int, int] = (0, 0)

    def total(self, known: tuple[int, int], row: Sequence[Any] | None) -> int:
        """The total from :data:`PACKAGES_AFTER`'s row for ``known[0]`` (``known``: the
        :attr:`known` read before the query); remembers the new count."""
        more, last = (int(row[0]), row[1]) if row is not None else (0, None)
        total = known[1] + more
        if last is not None:
            self.known = max(self.known, (int(last), total))
        return total


#: Dead letters nobody discarded.
DEAD_LETTERS = (
    "SELECT COUNT(*) FROM deliveries d WHERE d.state = 'dead' AND NOT EXISTS "
    "(SELECT 1 FROM dead_letter_discards x WHERE x.package_id = d.package_id "
    "AND x.recipient = d.recipient)"
)


def overview_start(now: datetime, minutes: int) -> datetime:
    """The first minute of the overview's per-minute window ending at ``now``."""
    return now.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)


def overview(
    packages: int,
    by_state: Sequence[Sequence[Any]],
    per_minute: Sequence[Sequence[Any]],
    dead: int,
    start: datetime,
    minutes: int,
) -> Overview:
    """The :class:`Overview` from the counters (``per_minute``: rows of a minute, as a
    datetime, and its count)."""
    counts = [0] * minutes
    for minute, n in per_minute:
        index = int((minute - start).total_seconds() // 60)
        if 0 <= index < minutes:
            counts[index] += int(n)
    return Overview(
        packages=int(packages),
        deliveries_by_state={str(k): int(v) for k, v in by_state},
        accepted_per_minute=tuple(counts),
        refused_per_minute=(0,) * minutes,
        dead_letters=int(dead),
    )


# -- agencies --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probe:
    """One of :func:`agency_probes`: its SQL and how many times it binds the OrganId."""

    sql: str
    binds: int = 1

    def params(self, organ: str) -> tuple[str, ...]:
        """The parameters for ``organ``."""
        return (organ,) * self.binds


def agency_probes(d: Dialect) -> tuple[Probe, Probe, Probe, Probe]:
    """The four probes of one agency's page (parameters: :meth:`Probe.params`), each one
    indexed row: its oldest undelivered and oldest unacknowledged delivery, its last package
    sent and its last acknowledgement. The pulse runs them for every agency every two
    seconds, on the reader connection the fetches also wait for, so none may walk the
    agency's history:

    * the oldest undelivered is the oldest of each undelivered state's oldest, each one seek
      in ``deliveries_by_state`` (recipient, state, seq) — named where the dialect takes hints:
      left to itself, SQLite walked the recipient's deliveries from the oldest
      (``deliveries_all_by_recipient``) past every acked one, and PostgreSQL did the same
      for the states asked as one ``IN`` list, which no index orders by ``seq``;
    * the oldest unacknowledged starts the partial ``deliveries_open_inbox``;
    * the last package sent is the end of the sender's range of ``packages_outbox`` (sender,
      seq), asked as ``sender BETWEEN ? AND ?`` ordered by both columns: under ``sender = ?``
      PostgreSQL walked the primary key back from the newest package of every sender — all of
      them for an agency that no longer sends;
    * the last acknowledgement walks back past the agency's open deliveries at most."""
    oldest_each = " UNION ALL ".join(
        f"SELECT * FROM (SELECT d.package_id, d.seq FROM deliveries d "
        f"{d.indexed_by('deliveries_by_state')}WHERE d.recipient = ? AND d.state = '{state}' "
        f"ORDER BY d.seq LIMIT 1) AS oldest_{state}"
        for state in UNDELIVERED_STATES
    )
    return (
        Probe(
            f"SELECT p.id, p.accepted_at FROM ({oldest_each}) AS f "
            "JOIN packages p ON p.id = f.package_id ORDER BY f.seq LIMIT 1",
            len(UNDELIVERED_STATES),
        ),
        Probe(
            "SELECT p.accepted_at FROM deliveries d "
            f"{d.indexed_by('deliveries_open_inbox')}JOIN packages p "
            "ON p.id = d.package_id WHERE d.recipient = ? AND d.state IN "
            f"{in_states(UNACKED_STATES)} ORDER BY d.seq LIMIT 1"
        ),
        Probe(
            "SELECT accepted_at, id FROM packages WHERE sender BETWEEN ? AND ? "
            "ORDER BY sender DESC, seq DESC LIMIT 1",
            2,
        ),
        Probe(
            "SELECT acked_at FROM deliveries WHERE recipient = ? AND state = 'acked' "
            "ORDER BY seq DESC LIMIT 1"
        ),
    )


def agency_activity(
    organ: str,
    counts: Mapping[str, dict[str, int]],
    probes: Sequence[Sequence[Any] | None],
    d: Dialect,
) -> AgencyActivity:
    """One agency from its state counts and the rows of :func:`agency_probes` (in order)."""
    oldest, unacked, sent, acked = probes
    return AgencyActivity(
        organ_id=organ,
        by_state=counts.get(organ, {}),
        oldest_undelivered_at=d.time_out(oldest[1]) if oldest else None,
        oldest_undelivered_id=str(oldest[0]) if oldest else None,
        oldest_unacked_at=d.time_out(unacked[0]) if unacked else None,
        last_sent_at=d.time_out(sent[0]) if sent else None,
        last_sent_id=str(sent[1]) if sent else None,
        last_ack_at=d.time_or_none(acked[0]) if acked else None,
    )


def state_counts(rows: Sequence[Sequence[Any]]) -> dict[str, dict[str, int]]:
    """Recipient → state → count, from (recipient, state, count) rows."""
    counts: dict[str, dict[str, int]] = {}
    for recipient, state, n in rows:
        counts.setdefault(str(recipient), {})[str(state)] = int(n)
    return counts


# -- listings --------------------------------------------------------------------------------


def search_packages_sql(
    query: PackageQuery, before: int | None, limit: int, cipher: BlobCipher | None, d: Dialect
) -> tuple[str, list[Any]]:
    """The package search, newest first, and its parameters. A DocumentId/MaHoSo drives
    through its index; otherwise the walk goes down ``seq`` and stops after ``limit`` matches."""
    bound = before if before is not None else NEWEST
    where = ["p.seq < ?"]
    params: list[Any] = [bound]
    if query.document_id:
        where.append("p.document_id = ?")
        params.append(nfc(query.document_id))  # keys are stored in NFC
    if query.subject:
        words, word_params = subject_filter(
            query.subject, cipher, column="p.subject_terms", placeholder="?"
        )
        if words:
            where.append(words)
            params.extend(word_params)
    if query.kind:
        where.append("p.kind = ?")
        params.append(query.kind)
    if query.since is not None:
        where.append("p.accepted_at >= ?")
        params.append(d.time_in(query.since))
    if query.until is not None:
        where.append("p.accepted_at < ?")
        params.append(d.time_in(query.until))
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
            "p.seq IN (SELECT s.seq FROM deliveries s "
            f"{d.indexed_by('dash_deliveries_state_seq')}WHERE s.state = ? AND s.seq < ?)"
        )
        params.extend([query.state, bound])
    params.append(limit + 1)
    return d.sql(
        f"SELECT {PACKAGE_COLUMNS} FROM packages p WHERE {' AND '.join(where)} "
        "ORDER BY p.seq DESC LIMIT ?"
    ), params


def unaccepted_dossiers_sql(d: Dialect) -> str:
    """Dossiers at TrangThaiHoSo 1 without a later package for the same MaHoSo (parameters:
    the seq to continue after, limit)."""
    return d.sql(
        f"SELECT {PACKAGE_COLUMNS} FROM packages p {d.indexed_by('dash_packages_kind')}"
        "WHERE p.kind = 'dossier' AND p.status_code = '1' AND p.seq > ? "
        "AND NOT EXISTS (SELECT 1 FROM packages q WHERE q.document_id = p.document_id "
        "AND q.kind IN ('dossier', 'dossier_progress') AND q.seq > p.seq) "
        "ORDER BY p.seq LIMIT ?"
    )


def page_ids(rows: Sequence[Sequence[Any]], limit: int) -> list[str]:
    """The package ids on a page of :data:`~hub.store.sql.packages.PACKAGE_COLUMNS` rows."""
    return [str(r[1]) for r in rows[:limit]]


def package_listing(
    rows: Sequence[Sequence[Any]],
    deliveries: Mapping[str, list[DeliveryRecord]],
    limit: int,
    d: Dialect,
) -> Listing:
    """A page of packages with their deliveries (``limit + 1`` rows asked)."""
    page = rows[:limit]
    items = tuple(PackageRow(int(r[0]), package(r, d), tuple(deliveries[str(r[1])])) for r in page)
    return Listing(items, int(page[-1][0]) if len(rows) > limit else None)


def deliveries_in_sql(states: Sequence[str], include_discarded: bool, d: Dialect) -> str:
    """Deliveries in ``states``, oldest first through ``dash_deliveries_state_seq``
    (parameters: the seq to continue after, limit)."""
    discarded = (
        ""
        if include_discarded
        else "AND NOT EXISTS (SELECT 1 FROM dead_letter_discards x WHERE "
        "x.package_id = d.package_id AND x.recipient = d.recipient) "
    )
    return d.sql(
        f"SELECT {PACKAGE_COLUMNS}, {DELIVERY_COLUMNS} FROM deliveries d "
        f"{d.indexed_by('dash_deliveries_state_seq')}JOIN packages p ON p.id = d.package_id "
        f"WHERE d.state IN {in_states(states)} AND d.seq > ? {discarded}"
        "ORDER BY d.seq, d.recipient LIMIT ?"
    )


def delivery_listing(rows: Sequence[Sequence[Any]], limit: int, d: Dialect) -> Listing:
    """The page of :func:`deliveries_in_sql`'s rows (``limit + 1`` asked)."""
    n = N_PACKAGE_COLUMNS
    items = tuple(
        DeliveryRow(int(r[0]), package(r[:n], d), delivery(r[n:], d)) for r in rows[:limit]
    )
    # A package with several recipients can straddle the page edge: continue from the
    # seq before it so none of its deliveries is skipped (the rare repeat is harmless).
    nxt = None
    if len(rows) > limit:
        last = int(rows[limit - 1][0])
        nxt = last if int(rows[limit][0]) != last else last - 1
    return Listing(items, nxt)


#: Only a delivery that is ``dead`` now can be discarded, once (parameters: at, username,
#: package id, recipient).
DISCARD_DEAD = (
    "INSERT INTO dead_letter_discards (package_id, recipient, at, username) "
    "SELECT package_id, recipient, ?, ? FROM deliveries "
    "WHERE package_id = ? AND recipient = ? AND state = 'dead' "
    "ON CONFLICT (package_id, recipient) DO NOTHING"
)
UNDISCARD = "DELETE FROM dead_letter_discards WHERE package_id = ? AND recipient = ?"


# -- delivery latencies ----------------------------------------------------------------------

LAST_EVENT = "SELECT COALESCE(MAX(seq), 0) FROM events"
#: A range scan of the event log's primary key, joined to the package (parameters: the seq
#: to continue after, limit).
EVENTS_SINCE = (
    "SELECT e.seq, e.kind, e.at, p.accepted_at FROM events e "
    "LEFT JOIN packages p ON p.id = e.package_id WHERE e.seq > ? "
    "ORDER BY e.seq LIMIT ?"
)


def reached(rows: Sequence[Sequence[Any]], after: int, d: Dialect) -> tuple[int, tuple[float, ...]]:
    """The last seq read and the acceptance-to-recipient latencies among :data:`EVENTS_SINCE`'s
    rows."""
    latencies = tuple(
        (d.time_out(at) - d.time_out(accepted)).total_seconds()
        for _seq, kind, at, accepted in rows
        if kind in ("available", "delivered") and accepted is not None
    )
    return (int(rows[-1][0]) if rows else after), latencies


class SqlDashboard(DashboardStore):
    """The :class:`~hub.store.facets.DashboardStore` queries both SQL backends run alike,
    on three primitives each backend provides; the overview, the agency page and the session
    transaction stay with the backend."""

    #: The backend's placeholders and value representations.
    dialect: ClassVar[Dialect]
    #: The Subject index is keyed when encryption at rest is on.
    _cipher: BlobCipher | None = None

    @abc.abstractmethod
    async def _rows(
        self, what: str, query: str, params: Sequence[Any] = ()
    ) -> Sequence[Sequence[Any]]:
        """Every row of one read statement (``query`` written with ``?``, or already in the
        dialect); ``what`` names it in errors."""

    @abc.abstractmethod
    async def _changed(self, what: str, query: str, params: Sequence[Any]) -> bool:
        """Run one write statement in its own transaction: whether it changed a row."""

    @abc.abstractmethod
    async def _package_listing(
        self, what: str, query: str, params: Sequence[Any], limit: int
    ) -> Listing:
        """A page of packages (``query`` selects :data:`PACKAGE_COLUMNS`, ``limit + 1``) with
        their deliveries, read in one snapshot (see :func:`package_listing`)."""

    # -- operators and sessions ------------------------------------------------------------

    async def add_operator(self, operator: Operator, *, replace: bool = False) -> bool:
        """Insert (or, with ``replace``, update password, role and the disabled flag)."""
        params = operator_params(operator, self.dialect)
        return await self._changed("add_operator", add_operator_sql(replace), params)

    async def get_operator(self, username: str) -> Operator | None:
        """One account."""
        rows = await self._rows("get_operator", GET_OPERATOR, (username,))
        return operator(rows[0], self.dialect) if rows else None

    async def replace_password_hash(self, username: str, old_hash: str, new_hash: str) -> bool:
        """Compare-and-set of the hash alone (:data:`REHASH_OPERATOR`)."""
        params = (new_hash, username, old_hash)
        return await self._changed("replace_password_hash", REHASH_OPERATOR, params)

    async def list_operators(self) -> tuple[Operator, ...]:
        """Every account."""
        rows = await self._rows("list_operators", LIST_OPERATORS)
        return tuple(operator(r, self.dialect) for r in rows)

    async def get_session(self, token_sha256: str, now: datetime) -> Session | None:
        """A live session of an enabled operator."""
        params = (token_sha256, self.dialect.time_in(now))
        rows = await self._rows("get_session", GET_SESSION, params)
        return session(rows[0], self.dialect) if rows else None

    async def delete_session(self, token_sha256: str) -> None:
        """Log out."""
        await self._changed("delete_session", DELETE_SESSION, (token_sha256,))

    # -- audit -----------------------------------------------------------------------------

    async def add_audit(self, entry: AuditEntry) -> None:
        """Append one operator action."""
        await self._changed("add_audit", INSERT_AUDIT, audit_params(entry, self.dialect))

    async def audit(self, *, before: int | None = None, limit: int = 50) -> Listing:
        """Newest first, by seq."""
        bound = before if before is not None else NEWEST
        rows = await self._rows("audit", AUDIT_PAGE, (bound, limit + 1))
        return audit_listing(rows, limit, self.dialect)

    # -- listings --------------------------------------------------------------------------

    async def search_packages(
        self, query: PackageQuery, *, before: int | None = None, limit: int = 50
    ) -> Listing:
        """Newest first. A DocumentId/MaHoSo drives through its index; otherwise the walk goes
        down ``seq`` and stops after ``limit`` matches."""
        sql, params = search_packages_sql(query, before, limit, self._cipher, self.dialect)
        return await self._package_listing("package search", sql, params, limit)

    async def deliveries_in(
        self,
        states: tuple[str, ...],
        *,
        after: int | None = None,
        limit: int = 50,
        include_discarded: bool = False,
    ) -> Listing:
        """Oldest first through ``dash_deliveries_state_seq``."""
        sql = deliveries_in_sql(states, include_discarded, self.dialect)
        rows = await self._rows("deliveries by state", sql, (after or 0, limit + 1))
        return delivery_listing(rows, limit, self.dialect)

    async def unaccepted_dossiers(self, *, after: int | None = None, limit: int = 50) -> Listing:
        """Dossiers at TrangThaiHoSo 1 without a later package for the same MaHoSo."""
        sql = unaccepted_dossiers_sql(self.dialect)
        return await self._package_listing(
            "unaccepted dossiers", sql, (after or 0, limit + 1), limit
        )

    async def discard_dead(
        self, package_id: str, recipient: str, username: str, at: datetime
    ) -> bool:
        """Only a delivery that is ``dead`` now can be discarded, once."""
        params = (self.dialect.time_in(at), username, package_id, recipient)
        return await self._changed("discard dead letter", DISCARD_DEAD, params)

    async def undiscard(self, package_id: str, recipient: str) -> None:
        """Forget a discard."""
        await self._changed("undiscard", UNDISCARD, (package_id, recipient))

    async def reached_since(
        self, after: int | None, limit: int = 5000
    ) -> tuple[int, tuple[float, ...]]:
        """A range scan of the event log's primary key, joined to the package."""
        if after is None:
            rows = await self._rows("delivery latencies", LAST_EVENT)
            return (int(rows[0][0]) if rows else 0), ()
        rows = await self._rows("delivery latencies", EVENTS_SINCE, (after, limit))
        return reached(rows, after, self.dialect)
