"""Lifecycle (issue 5, tables of migrations 0003, 0008 and 0016): the statements and row
mappers both store backends run (``?`` placeholders; see :mod:`hub.store.sql`).

Concurrency: every move is a compare-and-set (``UPDATE … WHERE state = <expected> AND codes =
<expected>`` for documents, ``… WHERE state = <expected>`` for dossiers, or an ``INSERT`` that
must not find the row), so of two packages moving the same document or dossier from the same
state only one applies; the other gets ``lifecycle.illegal_transition``. Two ``05`` (the one
code that may repeat) from the same state both apply: neither changes what the other expects.
"""

# SQL text is module constants only; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.errors import IllegalTransition
from hub.store.records import (
    DocKey,
    DocMove,
    DocState,
    DossierState,
    LifecycleChange,
    Transition,
    WalkMark,
)
from hub.store.sql.dialect import Dialect

DOC_COLUMNS = (
    "author, document_id, recipient, package_id, business_doc_type, original_id, state, "
    "sent_at, answered_at, updated_at, prior_state, codes"
)
DOSSIER_COLUMNS = (
    "ma_ho_so, ma_tthc, agency, submitter, online, level, state, submitted_at, accepted_at, "
    "due_at, finished_at, updated_at, package_id"
)
TRANSITION_COLUMNS = "subject, key, party, from_state, to_state, package_id, sha256, at, actor, seq"

Q_APPLIED = "SELECT 1 FROM lc_transitions WHERE sha256 = ? LIMIT 1"
Q_DOCS_BY_ID = (
    f"SELECT {DOC_COLUMNS} FROM lc_documents WHERE document_id = ? ORDER BY sent_at, recipient"
)
Q_DOSSIER = f"SELECT {DOSSIER_COLUMNS} FROM lc_dossiers WHERE ma_ho_so = ?"
Q_INSERT_DOC = (
    f"INSERT INTO lc_documents ({DOC_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (package_id, recipient) DO NOTHING"
)
Q_MOVE_DOC = (
    "UPDATE lc_documents SET state = ?, prior_state = ?, codes = ?, updated_at = ?, "
    "answered_at = CASE WHEN ? AND answered_at IS NULL THEN ? ELSE answered_at END "
    "WHERE package_id = ? AND recipient = ? AND state = ? AND codes = ?"
)
Q_INSERT_DOSSIER = (
    f"INSERT INTO lc_dossiers ({DOSSIER_COLUMNS}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ma_ho_so) DO NOTHING"
)
Q_MOVE_DOSSIER = (
    "UPDATE lc_dossiers SET state = ?, accepted_at = ?, due_at = ?, finished_at = ?, "
    "updated_at = ? WHERE ma_ho_so = ? AND state = ?"
)
Q_INSERT_TRANSITION = (
    "INSERT INTO lc_transitions (subject, key, party, from_state, to_state, package_id, "
    "sha256, at, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
Q_TRANSITIONS_BY_KEY = f"SELECT {TRANSITION_COLUMNS} FROM lc_transitions WHERE key = ? ORDER BY seq"
Q_TRANSITIONS_BY_SHA = (
    f"SELECT {TRANSITION_COLUMNS} FROM lc_transitions WHERE sha256 = ? ORDER BY seq"
)
Q_DOCS_SENT = (
    f"SELECT {DOC_COLUMNS} FROM lc_documents WHERE sent_at >= ? AND sent_at < ? "
    "ORDER BY sent_at, package_id, recipient"
)
Q_UNANSWERED = (
    f"SELECT {DOC_COLUMNS} FROM lc_documents WHERE answered_at IS NULL AND sent_at < ? "
    "ORDER BY sent_at, package_id, recipient"
)
#: :data:`Q_UNANSWERED` from a row on (a keyset: its sent_at, package id, recipient, each
#: twice where the order compares it), a page at a time.
Q_UNANSWERED_AFTER = (
    f"SELECT {DOC_COLUMNS} FROM lc_documents WHERE answered_at IS NULL AND sent_at < ? "
    "AND sent_at >= ? AND (sent_at > ? OR package_id > ? OR (package_id = ? AND recipient > ?)) "
    "ORDER BY sent_at, package_id, recipient LIMIT ?"
)
Q_UNANSWERED_FIRST = (
    f"SELECT {DOC_COLUMNS} FROM lc_documents WHERE answered_at IS NULL AND sent_at < ? "
    "ORDER BY sent_at, package_id, recipient LIMIT ?"
)
#: No page limit (a bound parameter either way, so the text stays one statement).
NO_LIMIT = 2**62
Q_DOSSIERS_SUBMITTED = (
    f"SELECT {DOSSIER_COLUMNS} FROM lc_dossiers WHERE submitted_at >= ? AND submitted_at < ? "
    "ORDER BY submitted_at, ma_ho_so"
)
Q_OPEN_DOSSIERS = (
    f"SELECT {DOSSIER_COLUMNS} FROM lc_dossiers WHERE state NOT IN ('3', '8', '9', '10') "
    "ORDER BY submitted_at, ma_ho_so"
)
# An agency is active when it sends, and also when it receives: a package delivered to it
# (fetched from its inbox or pushed to it) or acknowledged by it. A system that only receives
# (the national portal's copies) is not "silent" while it takes and acknowledges packages.
# A delivery counts at its acknowledgement (``acked_at``), or when it was delivered
# (``updated_at`` of a delivered one); an acked delivery is never moved again.
#
# The alarms read this every minute, so it must not visit every package and delivery ever
# stored: each list of agencies is walked one index seek at a time (the smallest sender, then
# the smallest one after it, ...: one seek per agency, as PostgreSQL and SQLite both answer
# ``MIN(x) … WHERE x > ?`` from an index on ``x``), and each agency's latest time is one more
# seek, at the end of its range of ``packages_sender_time`` (sender, accepted_at) or of
# ``deliveries_received`` (recipient, COALESCE(acked_at, updated_at)) for the delivered and
# acked deliveries (migration 0015). The cost grows with the number of agencies, not rows.
# A sender's latest time is asked as ``ORDER BY sender DESC, accepted_at DESC LIMIT 1`` over
# ``sender BETWEEN ? AND ?`` (the same one sender): PostgreSQL answered ``MAX(accepted_at) …
# WHERE sender = ?`` (and the same ``ORDER BY`` under ``sender = ?``, where the sender drops
# out of the order) by walking the newest packages of *every* sender (``dash_packages_accepted``)
# until one of this sender's, i.e. all of them for an agency that has gone silent, the very
# case the alarm is for. Under a range only (sender, accepted_at) gives that order.
_RECEIVED_AT = "COALESCE(d.acked_at, d.updated_at)"
Q_LAST_ACTIVITY = (
    "WITH RECURSIVE senders (agency) AS ("
    " SELECT MIN(sender) FROM packages"
    " UNION ALL SELECT (SELECT MIN(p.sender) FROM packages p WHERE p.sender > s.agency)"
    "  FROM senders s WHERE s.agency IS NOT NULL"
    "), recipients (agency) AS ("
    " SELECT MIN(recipient) FROM deliveries"
    " UNION ALL SELECT (SELECT MIN(d.recipient) FROM deliveries d WHERE d.recipient > r.agency)"
    "  FROM recipients r WHERE r.agency IS NOT NULL"
    ") SELECT agency, MAX(at) FROM ("
    " SELECT s.agency AS agency, (SELECT p.accepted_at FROM packages p"
    "  WHERE p.sender BETWEEN s.agency AND s.agency"
    "  ORDER BY p.sender DESC, p.accepted_at DESC LIMIT 1) AS at"
    "  FROM senders s WHERE s.agency IS NOT NULL"
    f" UNION ALL SELECT r.agency, (SELECT {_RECEIVED_AT} FROM deliveries d"
    "  WHERE d.recipient = r.agency AND d.state IN ('delivered', 'acked')"
    f"  ORDER BY d.recipient DESC, {_RECEIVED_AT} DESC LIMIT 1)"
    "  FROM recipients r WHERE r.agency IS NOT NULL"
    ") AS activity GROUP BY agency HAVING MAX(at) IS NOT NULL"
)
Q_CLAIM = (
    "INSERT INTO lc_notified (alarm_key, kind, notified_at) VALUES (?, ?, ?) "
    "ON CONFLICT (alarm_key) DO NOTHING RETURNING alarm_key"
)
#: Where a walk stopped (migration 0016).
Q_WALK_MARK = "SELECT settings, sent_at, package_id, recipient FROM lc_walks WHERE name = ?"
#: Store a walk's mark, forward only: under the same settings a mark replaces the stored one
#: only when its position is later in sending order (the row value compares as the keyset of
#: :data:`Q_UNANSWERED_AFTER` orders: time, then package id, then recipient, all binary —
#: ``COLLATE "C"`` on PostgreSQL), so of two processes walking at once the one behind never
#: moves it back; a mark under other settings replaces it (the walk started over). On
#: PostgreSQL a concurrent upsert of the same name waits for the first and re-checks the
#: condition on the committed row.
Q_ADVANCE_WALK = (
    "INSERT INTO lc_walks (name, settings, sent_at, package_id, recipient, walked_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
    "settings = excluded.settings, sent_at = excluded.sent_at, "
    "package_id = excluded.package_id, recipient = excluded.recipient, "
    "walked_at = excluded.walked_at "
    "WHERE lc_walks.settings <> excluded.settings "
    "OR (excluded.sent_at, excluded.package_id, excluded.recipient) "
    "> (lc_walks.sent_at, lc_walks.package_id, lc_walks.recipient)"
)


def doc_row(doc: DocState, d: Dialect) -> tuple[Any, ...]:
    """Parameters of :data:`Q_INSERT_DOC`."""
    return (
        doc.author,
        doc.document_id,
        doc.recipient,
        doc.package_id,
        doc.business_doc_type,
        doc.original_id,
        doc.state,
        d.time_in(doc.sent_at),
        d.time_in(doc.answered_at) if doc.answered_at else None,
        d.time_in(doc.updated_at),
        doc.prior_state,
        join_codes(doc.codes),
    )


def join_codes(codes: Sequence[str]) -> str:
    """The ``codes`` column: the codes in the order first sent, comma-separated."""
    return ",".join(codes)


def split_codes(text: str | None) -> tuple[str, ...]:
    """The inverse of :func:`join_codes`."""
    return tuple(c for c in (text or "").split(",") if c)


def move_doc_params(m: DocMove, at: datetime, d: Dialect) -> tuple[Any, ...]:
    """Parameters of :data:`Q_MOVE_DOC` (``at``: the acceptance time)."""
    when = d.time_in(at)
    return (
        m.to,
        m.prior,
        join_codes(m.new_codes),
        when,
        m.answered,
        when,
        m.package_id,
        m.recipient,
        m.expect,
        join_codes(m.expect_codes),
    )


def doc_state(row: Sequence[Any], d: Dialect) -> DocState:
    """A :class:`DocState` from a ``DOC_COLUMNS`` row."""
    (author, doc_id, recipient, package_id, bdt, original, state, sent, answered, updated,
     prior, codes) = row  # fmt: skip
    return DocState(
        author=author,
        document_id=doc_id,
        recipient=recipient,
        package_id=package_id,
        business_doc_type=int(bdt),
        original_id=original,
        state=state,
        sent_at=d.time_out(sent),
        answered_at=d.time_or_none(answered),
        updated_at=d.time_out(updated),
        prior_state=prior,
        codes=split_codes(codes),
    )


def _opt_in(value: datetime | None, d: Dialect) -> Any:
    return d.time_in(value) if value is not None else None


def dossier_row(dossier: DossierState, d: Dialect) -> tuple[Any, ...]:
    """Parameters of :data:`Q_INSERT_DOSSIER`."""
    return (
        dossier.ma_ho_so,
        dossier.ma_tthc,
        dossier.agency,
        dossier.submitter,
        dossier.online,
        dossier.level,
        dossier.state,
        d.time_in(dossier.submitted_at),
        _opt_in(dossier.accepted_at, d),
        _opt_in(dossier.due_at, d),
        _opt_in(dossier.finished_at, d),
        d.time_in(dossier.updated_at),
        dossier.package_id,
    )


def dossier_state(row: Sequence[Any], d: Dialect) -> DossierState:
    """A :class:`DossierState` from a ``DOSSIER_COLUMNS`` row."""
    (ma, tthc, agency, submitter, online, level, state, sub, acc, due, fin, upd, pkg) = row
    return DossierState(
        ma_ho_so=ma,
        ma_tthc=tthc,
        agency=agency,
        submitter=submitter,
        online=bool(online),
        level=int(level) if level is not None else None,
        state=state,
        submitted_at=d.time_out(sub),
        accepted_at=d.time_or_none(acc),
        due_at=d.time_or_none(due),
        finished_at=d.time_or_none(fin),
        updated_at=d.time_out(upd),
        package_id=pkg,
    )


def transition(row: Sequence[Any], d: Dialect) -> Transition:
    """A :class:`Transition` from a ``TRANSITION_COLUMNS`` row."""
    subject, key, party, from_state, to_state, package_id, sha256, at, actor, seq = row
    return Transition(
        subject=subject,
        key=key,
        party=party,
        from_state=from_state,
        to_state=to_state,
        package_id=package_id,
        sha256=sha256,
        at=d.time_out(at),
        actor=actor,
        seq=int(seq),
    )


def transition_row(tr: Transition, d: Dialect) -> tuple[Any, ...]:
    """Parameters of :data:`Q_INSERT_TRANSITION`."""
    return (
        tr.subject,
        tr.key,
        tr.party,
        tr.from_state,
        tr.to_state,
        tr.package_id,
        tr.sha256,
        d.time_in(tr.at),
        tr.actor,
    )


def move_dossier_params(change: LifecycleChange, d: Dialect) -> tuple[Any, ...]:
    """Parameters of :data:`Q_MOVE_DOSSIER`."""
    assert change.dossier is not None and change.dossier.expect is not None
    dossier = change.dossier.record
    return (
        dossier.state,
        _opt_in(dossier.accepted_at, d),
        _opt_in(dossier.due_at, d),
        _opt_in(dossier.finished_at, d),
        d.time_in(dossier.updated_at),
        dossier.ma_ho_so,
        change.dossier.expect,
    )


def unanswered_query(
    before: datetime, after: DocKey | None, limit: int | None, d: Dialect
) -> tuple[str, tuple[Any, ...]]:
    """The unanswered rows sent before ``before``, oldest first: all of them, or at most
    ``limit`` after the row ``after`` (a :class:`DocKey`, exclusive)."""
    if after is None and limit is None:
        return Q_UNANSWERED, (d.time_in(before),)
    n = NO_LIMIT if limit is None else limit
    if after is None:
        return Q_UNANSWERED_FIRST, (d.time_in(before), n)
    sent, package_id, recipient = after
    at = d.time_in(sent)
    return Q_UNANSWERED_AFTER, (d.time_in(before), at, at, package_id, package_id, recipient, n)


def advance_walk_params(mark: WalkMark, at: datetime, d: Dialect) -> tuple[Any, ...]:
    """Parameters of :data:`Q_ADVANCE_WALK` (``at``: when the walk got there)."""
    sent, package_id, recipient = mark.position
    return (mark.name, mark.settings, d.time_in(sent), package_id, recipient, d.time_in(at))


def walk_mark(name: str, row: Sequence[Any] | None, d: Dialect) -> WalkMark | None:
    """The :class:`WalkMark` of a :data:`Q_WALK_MARK` row (``None``: no row)."""
    if row is None:
        return None
    settings, sent, package_id, recipient = row
    return WalkMark(name, settings, (d.time_out(sent), package_id, recipient))


def transitions_query(key: str | None, sha256: str | None) -> tuple[str, tuple[Any, ...]]:
    """History by DocumentId/MaHoSo (``key``) or else by the package's ``sha256``."""
    if key is not None:
        return Q_TRANSITIONS_BY_KEY, (key,)
    return Q_TRANSITIONS_BY_SHA, (sha256,)


@dataclass(frozen=True, slots=True)
class Write:
    """One statement of :func:`writes`."""

    sql: str
    params: tuple[Any, ...]
    #: For a compare-and-set: what changed concurrently when the statement does not touch
    #: exactly one row (``None``: an insert that may find its row there already).
    moved: str | None = None
    #: For a compare-and-set: the package whose document or dossier it moves (the trace a
    #: refusal is recorded on).
    owner: str = ""

    def refusal(self) -> IllegalTransition:
        """:func:`lost` for this compare-and-set (call it when it missed)."""
        assert self.moved is not None, "only a compare-and-set is refused"
        return lost(self.moved, self.owner)


def writes(change: LifecycleChange, d: Dialect) -> list[Write]:
    """The statements applying ``change``, in order; the transitions follow as
    :func:`transition_rows` (run them all in the one transaction that checked
    :data:`Q_APPLIED`, and raise :meth:`Write.refusal` for a :attr:`Write.moved` that
    missed)."""
    out = [Write(Q_INSERT_DOC, doc_row(doc, d)) for doc in change.new_docs]
    out.extend(
        Write(
            Q_MOVE_DOC,
            move_doc_params(m, change.at, d),
            f"the document {m.package_id} for {m.recipient}",
            m.package_id,
        )
        for m in change.doc_moves
    )
    if change.dossier is not None:
        record = change.dossier.record
        what = f"the dossier {record.ma_ho_so}"
        if change.dossier.expect is None:
            out.append(Write(Q_INSERT_DOSSIER, dossier_row(record, d), what, record.package_id))
        else:
            out.append(
                Write(Q_MOVE_DOSSIER, move_dossier_params(change, d), what, record.package_id)
            )
    return out


def transition_rows(change: LifecycleChange, d: Dialect) -> list[tuple[Any, ...]]:
    """Parameters of :data:`Q_INSERT_TRANSITION`, one per transition of ``change``."""
    return [transition_row(tr, d) for tr in change.transitions]


def lost(what: str, package_id: str) -> IllegalTransition:
    """The refusal when a compare-and-set finds the state moved under it; ``package_id``: the
    package whose trace the refusal is recorded on (the document or dossier moved)."""
    return IllegalTransition(
        f"{what} changed concurrently; its state is no longer the one this package follows",
        concurrent=True,
        package_id=package_id,
    )
