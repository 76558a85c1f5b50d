"""The dashboard's queries over a :class:`~hub.store.memory.MemoryStore`'s backing
(:class:`hub.store.facets.DashboardStore`), with the SQL backends' orders and paging:
listings are keyset pages by package ``seq``, newest or oldest first as the contract says."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from hub.models import DeliveryRecord, DeliveryState, PackageRecord
from hub.storage_crypto import BlobCipher
from hub.store.facets import DashboardStore
from hub.store.memory.backing import (
    MemoryBacking,
    MemoryConnection,
    SessionRow,
    stored_detail,
    utc,
)
from hub.store.memory.backing import PackageRow as StoredPackage
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
from hub.store.textsearch import query_tokens, terms_match
from hub.text import nfc

_DEAD = DeliveryState.DEAD


def _deliveries(db: MemoryBacking, row: StoredPackage) -> tuple[DeliveryRow, ...]:
    return tuple(
        DeliveryRow(row.seq, row.record, db.deliveries[(row.record.id, r)].record)
        for r in sorted(set(row.record.recipients))
    )


def _package_row(db: MemoryBacking, row: StoredPackage) -> PackageRow:
    return PackageRow(row.seq, row.record, tuple(d.delivery for d in _deliveries(db, row)))


def _listing(rows: list[PackageRow], limit: int) -> Listing:
    page = tuple(rows[:limit])
    return Listing(page, page[-1].seq if len(rows) > limit else None)


class MemoryDashboard(DashboardStore):
    """:class:`~hub.store.facets.DashboardStore` on a memory store's backing."""

    def __init__(self, conn: MemoryConnection, *, cipher: BlobCipher | None = None) -> None:
        self._conn = conn
        self._cipher = cipher  # the Subject index is keyed when encryption at rest is on

    # -- operators and sessions -----------------------------------------------------------------

    async def add_operator(self, operator: Operator, *, replace: bool = False) -> bool:
        """Insert (or, with ``replace``, update password, role and the disabled flag; the
        creation time stays)."""
        async with self._conn.tx() as db:
            old = db.operators.get(operator.username)
            if old is None:
                db.operators[operator.username] = _with_utc(operator)
                return True
            if not replace:
                return False
            db.operators[operator.username] = Operator(
                old.username,
                operator.password_hash,
                operator.role,
                old.created_at,
                operator.disabled,
            )
            return True

    async def get_operator(self, username: str) -> Operator | None:
        """One account."""
        async with self._conn.tx() as db:
            return db.operators.get(username)

    async def replace_password_hash(self, username: str, old_hash: str, new_hash: str) -> bool:
        """Compare-and-set of the hash alone, as the SQL stores' ``UPDATE … WHERE``."""
        async with self._conn.tx() as db:
            current = db.operators.get(username)
            if current is None or current.password_hash != old_hash:
                return False
            db.operators[username] = replace(current, password_hash=new_hash)
            return True

    async def list_operators(self) -> tuple[Operator, ...]:
        """Every account, by username."""
        async with self._conn.tx() as db:
            return tuple(db.operators[u] for u in sorted(db.operators))

    async def create_session(
        self, token_sha256: str, username: str, csrf: str, now: datetime, expires_at: datetime
    ) -> None:
        """Record the session; expired sessions are swept in the same transaction."""
        at, until = utc(now), utc(expires_at)
        async with self._conn.tx() as db:
            for token in [t for t, s in db.sessions.items() if s.expires_at < at]:
                del db.sessions[token]
            if token_sha256 in db.sessions:
                raise ValueError("a session with this token exists")  # the primary key
            db.sessions[token_sha256] = SessionRow(username, csrf, at, until)

    async def get_session(self, token_sha256: str, now: datetime) -> Session | None:
        """A live session of an enabled operator."""
        at = utc(now)
        async with self._conn.tx() as db:
            session = db.sessions.get(token_sha256)
            if session is None or session.expires_at <= at:
                return None
            operator = db.operators.get(session.username)
            if operator is None or operator.disabled:
                return None
            return Session(session.username, operator.role, session.csrf, session.expires_at)

    async def delete_session(self, token_sha256: str) -> None:
        """Log out."""
        async with self._conn.tx() as db:
            db.sessions.pop(token_sha256, None)

    # -- audit -----------------------------------------------------------------------------------

    async def add_audit(self, entry: AuditEntry) -> None:
        """Append one operator action (``seq`` assigned here)."""
        async with self._conn.tx() as db:
            db.operator_audit.append(
                replace(
                    entry,
                    at=utc(entry.at),
                    detail=stored_detail(entry.detail),
                    seq=next(db.audit_seq),
                )
            )

    async def audit(self, *, before: int | None = None, limit: int = 50) -> Listing:
        """Newest first, by seq."""
        async with self._conn.tx() as db:
            rows = [a for a in reversed(db.operator_audit) if before is None or a.seq < before][
                : limit + 1
            ]
        entries = tuple(rows[:limit])
        return Listing(entries, entries[-1].seq if len(rows) > limit else None)

    # -- counters --------------------------------------------------------------------------------

    async def overview(self, now: datetime, minutes: int = 60) -> Overview:
        """Totals, states and per-minute acceptances, from one consistent view."""
        start = utc(now.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1))
        per_minute = [0] * minutes
        by_state: dict[str, int] = {}
        dead = 0
        async with self._conn.tx() as db:
            for row in db.packages.values():
                accepted = row.record.accepted_at
                if accepted < start:
                    continue
                minute = accepted.replace(second=0, microsecond=0)
                index = int((minute - start).total_seconds() // 60)
                if 0 <= index < minutes:
                    per_minute[index] += 1
            for key, delivery in db.deliveries.items():
                state = delivery.record.state
                if state is not DeliveryState.ACKED:  # as the SQL stores count: open ones
                    by_state[state.value] = by_state.get(state.value, 0) + 1
                if state is _DEAD and key not in db.discards:
                    dead += 1
            packages = len(db.packages)
        return Overview(
            packages=packages,
            deliveries_by_state=by_state,
            accepted_per_minute=tuple(per_minute),
            refused_per_minute=(0,) * minutes,
            dead_letters=dead,
        )

    async def agency_activity(self) -> tuple[AgencyActivity, ...]:
        """Every agency that sends or receives, with its backlog and ages."""
        async with self._conn.tx() as db:
            organs = set(db.by_recipient) | set(db.by_sender)
            result = []
            for organ in sorted(organs):
                counts: dict[str, int] = {}
                oldest_undelivered: PackageRecord | None = None
                oldest_unacked: PackageRecord | None = None
                last_acked: DeliveryRecord | None = None
                for key in db.by_recipient.get(organ, ()):  # in seq order
                    d = db.deliveries[key]
                    state = d.record.state.value
                    if state != "acked":
                        counts[state] = counts.get(state, 0) + 1
                    if state in UNDELIVERED_STATES and oldest_undelivered is None:
                        oldest_undelivered = db.packages[key[0]].record
                    if state in UNACKED_STATES and oldest_unacked is None:
                        oldest_unacked = db.packages[key[0]].record
                    if state == "acked":
                        last_acked = d.record
                sent = db.by_sender.get(organ)
                last_sent = db.packages[sent[-1]].record if sent else None
                result.append(
                    AgencyActivity(
                        organ_id=organ,
                        by_state=counts,
                        oldest_undelivered_at=_at(oldest_undelivered),
                        oldest_undelivered_id=oldest_undelivered.id if oldest_undelivered else None,
                        oldest_unacked_at=_at(oldest_unacked),
                        last_sent_at=_at(last_sent),
                        last_sent_id=last_sent.id if last_sent else None,
                        last_ack_at=last_acked.acked_at if last_acked else None,
                    )
                )
            return tuple(result)

    # -- listings --------------------------------------------------------------------------------

    async def search_packages(
        self, query: PackageQuery, *, before: int | None = None, limit: int = 50
    ) -> Listing:
        """Newest first; every filter of ``query`` must hold (AND)."""
        keep = self._matcher(query)
        rows: list[PackageRow] = []
        async with self._conn.tx() as db:
            for row in reversed(db.packages.values()):
                if before is not None and row.seq >= before:
                    continue
                if keep(db, row):
                    rows.append(_package_row(db, row))
                    if len(rows) > limit:
                        break
        return _listing(rows, limit)

    def _matcher(self, query: PackageQuery) -> Callable[[MemoryBacking, StoredPackage], bool]:
        wanted = query_tokens(query.subject, self._cipher) if query.subject else []
        document_id = nfc(query.document_id) if query.document_id else None
        since = utc(query.since) if query.since is not None else None
        until = utc(query.until) if query.until is not None else None

        def keep(db: MemoryBacking, row: StoredPackage) -> bool:
            p = row.record
            if document_id is not None and p.document_id != document_id:
                return False
            if not terms_match(row.subject_terms, wanted):
                return False
            if query.kind and p.kind.value != query.kind:
                return False
            if since is not None and p.accepted_at < since:
                return False
            if until is not None and p.accepted_at >= until:
                return False
            if query.organ_id:
                sends = p.sender == query.organ_id
                receives = (p.id, query.organ_id) in db.deliveries
                if query.role == "from":
                    if not sends:
                        return False
                elif query.role == "to":
                    if not receives:
                        return False
                elif not (sends or receives):
                    return False
            if query.state:
                states = {db.deliveries[(p.id, r)].record.state.value for r in p.recipients}
                if query.state not in states:
                    return False
            return True

        return keep

    async def deliveries_in(
        self,
        states: tuple[str, ...],
        *,
        after: int | None = None,
        limit: int = 50,
        include_discarded: bool = False,
    ) -> Listing:
        """Oldest package first, then by recipient."""
        wanted = set(states)
        found: list[DeliveryRow] = []
        async with self._conn.tx() as db:
            for row in db.packages.values():  # in seq order
                if row.seq <= (after or 0):
                    continue
                for d in _deliveries(db, row):
                    if d.delivery.state.value not in wanted:
                        continue
                    if not include_discarded and (d.package.id, d.delivery.recipient) in (
                        db.discards
                    ):
                        continue
                    found.append(d)
                if len(found) > limit:
                    break
        page = tuple(found[:limit])
        # A package with several recipients can straddle the page edge: continue from the
        # seq before it so none of its deliveries is skipped (the SQL backends do the same).
        nxt = None
        if len(found) > limit:
            last = page[-1].seq
            nxt = last if found[limit].seq != last else last - 1
        return Listing(page, nxt)

    async def unaccepted_dossiers(self, *, after: int | None = None, limit: int = 50) -> Listing:
        """Dossiers at TrangThaiHoSo 1 without a later dossier or progress package for the
        same MaHoSo, oldest first."""
        rows: list[PackageRow] = []
        async with self._conn.tx() as db:
            for row in db.packages.values():
                p = row.record
                if row.seq <= (after or 0) or p.kind.value != "dossier" or p.status_code != "1":
                    continue
                same = db.by_document.get(p.document_id, []) if p.document_id else []
                if any(
                    db.packages[i].seq > row.seq
                    and db.packages[i].record.kind.value in ("dossier", "dossier_progress")
                    for i in same
                ):
                    continue
                rows.append(_package_row(db, row))
                if len(rows) > limit:
                    break
        return _listing(rows, limit)

    async def discard_dead(
        self, package_id: str, recipient: str, username: str, at: datetime
    ) -> bool:
        """Only a delivery that is ``dead`` now can be discarded, once."""
        when = utc(at)
        async with self._conn.tx() as db:
            key = (package_id, recipient)
            delivery = db.deliveries.get(key)
            if delivery is None or delivery.record.state is not _DEAD or key in db.discards:
                return False
            db.discards[key] = (when, username)
            return True

    async def undiscard(self, package_id: str, recipient: str) -> None:
        """Forget a discard."""
        async with self._conn.tx() as db:
            db.discards.pop((package_id, recipient), None)

    async def reached_since(
        self, after: int | None, limit: int = 5000
    ) -> tuple[int, tuple[float, ...]]:
        """Latencies of the ``available``/``delivered`` events after event ``after``."""
        async with self._conn.tx() as db:
            if after is None:
                return (db.events[-1].seq if db.events else 0), ()
            start = bisect.bisect_right(db.events, after, key=lambda e: e.seq)
            events = db.events[start : start + max(limit, 0)]
            latencies = []
            for e in events:
                package = db.packages.get(e.package_id or "")
                if e.kind in ("available", "delivered") and package is not None:
                    latencies.append((e.at - package.record.accepted_at).total_seconds())
            return (events[-1].seq if events else after), tuple(latencies)


def _with_utc(operator: Operator) -> Operator:
    return replace(operator, created_at=utc(operator.created_at))


def _at(record: PackageRecord | None) -> datetime | None:
    return None if record is None else record.accepted_at
