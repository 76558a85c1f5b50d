"""Settling deliveries in groups, and fetching a package (or a recipient's waiting packages)
with its delivery: the SQL and the bookkeeping that :mod:`hub.store.sqlite` and
:mod:`hub.store.postgres` share.

Statements are written once with ``?`` placeholders (the PostgreSQL backend passes them through
:meth:`hub.store.sql.dialect.Dialect.sql`). A backend's ``settle`` runs, in **one** transaction:

1. :attr:`SettlePlan.moves`: one conditional ``UPDATE … RETURNING`` per change. The condition
   ``state <> 'acked'`` is what makes acked terminal and an ack count once, across threads and
   processes: on SQLite the writer holds the database lock; on PostgreSQL a second ``UPDATE``
   of the same row waits for the first to commit, re-evaluates its ``WHERE`` on the committed
   row and matches nothing;
2. :data:`DELIVERY_SELECT` for each key of :meth:`SettlePlan.missed` (a change that moved
   nothing: already acked, not in an ``only_from`` state, or no such delivery);
3. :meth:`SettlePlan.settled`: the outcomes, in the caller's order, and the events to append
   to the audit chain (still inside the transaction, so an event commits with its move).

The moves run in the caller's order (a push's ``delivered`` before its ``acked``). How a
backend keeps a group's row locks from deadlocking with other writers is its own concern
(:meth:`hub.store.postgres.PostgresStore.settle`; SQLite has one writer at a time).
"""

# SQL text is assembled only from module constants and enum values, never from input; every
# value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from hub.models import (
    DeliveryChange,
    DeliveryState,
    Event,
    FetchedBatch,
    FetchedPackage,
    Settled,
)
from hub.storage_crypto import BlobCipher
from hub.store.cursors import encode_cursor
from hub.store.sql.dialect import Dialect
from hub.store.sql.packages import (
    DELIVERY_COLUMNS,
    DELIVERY_FIELDS,
    GET_DELIVERY,
    N_PACKAGE_COLUMNS,
    PACKAGE_COLUMNS,
    delivery,
    opened_blob,
    package,
)
from hub.store.subunits import with_stands_for

#: One delivery (parameters: package id, recipient).
DELIVERY_SELECT = GET_DELIVERY

_KEY_AND_NOT_ACKED = "WHERE package_id = ? AND recipient = ? AND state <> 'acked'"

# parameters: acked_at, updated_at, package id, recipient[, only_from states]
_ACK = f"UPDATE deliveries SET state = 'acked', acked_at = ?, updated_at = ? {_KEY_AND_NOT_ACKED}"

# parameters: state, attempts, updated_at, error, package id, recipient[, only_from states].
# ``last_error`` keeps the *last* error seen, so a later success does not erase it.
_MOVE = (
    "UPDATE deliveries SET state = ?, attempts = COALESCE(?, attempts), updated_at = ?, "
    f"last_error = COALESCE(?, last_error) {_KEY_AND_NOT_ACKED}"
)


def _statement(change: DeliveryChange, at: Any, now: Any) -> tuple[str, tuple[Any, ...]]:
    """The conditional ``UPDATE … RETURNING`` of one change, with its parameters."""
    key = (change.package_id, change.recipient)
    text: str
    params: tuple[Any, ...]
    if change.state is DeliveryState.ACKED:
        text, params = _ACK, (at, now, *key)
    else:
        text, params = _MOVE, (change.state.value, change.attempts, now, change.error, *key)
    if change.only_from is not None:
        # Sorted: the same set gives the same statement text (one prepared plan).
        states = sorted(s.value for s in change.only_from)
        if not states:
            text += " AND 1 = 0"
        else:
            text += f" AND state IN ({', '.join('?' for _ in states)})"
            params += tuple(states)
    return f"{text} RETURNING {DELIVERY_FIELDS}", params


class SettlePlan:
    """One group of :class:`~hub.models.DeliveryChange`, as statements and back as outcomes.

    Built before the transaction. ``now``: the store's clock, for ``updated_at`` and the
    events of changes without ``at``; ``dialect``: how the backend binds and reads values.
    """

    def __init__(
        self,
        changes: Sequence[DeliveryChange],
        now: datetime,
        dialect: Dialect,
    ) -> None:
        self.changes = list(changes)
        self.now = now
        self.dialect = dialect
        time_in = dialect.time_in
        stored_now = time_in(now)
        #: one conditional ``UPDATE … RETURNING`` per change, in order
        self.moves: list[tuple[str, tuple[Any, ...]]] = [
            _statement(c, time_in(c.at or now), stored_now) for c in self.changes
        ]

    def missed(self, moved: Sequence[object | None]) -> list[tuple[str, str]]:
        """The keys to read back after the moves: those of the changes that moved nothing
        (``moved``: each move's returned row or ``None``, in :attr:`moves` order)."""
        keys: dict[tuple[str, str], None] = {}
        for change, row in zip(self.changes, moved, strict=True):
            if row is None:
                keys[(change.package_id, change.recipient)] = None
        return list(keys)

    def settled(
        self,
        moved: Sequence[Sequence[Any] | None],
        current: Mapping[tuple[str, str], Sequence[Any] | None],
    ) -> tuple[list[Settled], list[Event]]:
        """The outcomes and the events of the moves, in order. ``current``: the rows read
        for :meth:`missed` (``None``: no delivery); a change that moved nothing reports the
        delivery as the group left it."""
        outcomes: list[Settled] = []
        events: list[Event] = []
        for change, row in zip(self.changes, moved, strict=True):
            if row is None:
                stored = current.get((change.package_id, change.recipient))
                record = None if stored is None else delivery(stored, self.dialect)
                outcomes.append(Settled(record, changed=False))
                continue
            record = delivery(row, self.dialect)
            outcomes.append(Settled(record, changed=True))
            detail: dict[str, object] = dict(change.detail)
            if change.error is not None:
                detail.setdefault("error", change.error)
            events.append(
                Event(
                    package_id=change.package_id,
                    kind=change.state.value,
                    at=change.at or self.now,
                    recipient=change.recipient,
                    attempt=record.attempts,
                    detail=with_stands_for(detail, record),
                )
            )
        return outcomes, events


def fetch_sql() -> str:
    """A package's record columns (``p``), its stored bytes and one recipient's delivery
    columns (``d``, all ``NULL`` when that recipient has none) in one read (parameters:
    recipient, package id)."""
    return (
        f"SELECT {PACKAGE_COLUMNS}, b.data, {DELIVERY_COLUMNS} FROM packages p "
        "LEFT JOIN package_blobs b ON b.package_id = p.id "
        "LEFT JOIN deliveries d ON d.package_id = p.id AND d.recipient = ? "
        "WHERE p.id = ?"
    )


def inbox_packages_sql(d: Dialect) -> str:
    """A recipient's oldest waiting packages after a position (deliveries ``available`` or
    ``delivered`` whose ``seq`` is past the cursor's, by delivery ``seq``) in
    :func:`fetch_sql`'s columns, in one read (parameters: recipient, after-seq, limit,
    recipient, byte budget).

    The first ``limit`` waiting deliveries after the position are taken from the inbox's
    partial index (``deliveries_open_inbox`` on ``(recipient, seq)``: a seek to the position,
    as :func:`hub.store.sql.packages.inbox_sql` pages); of those, the prefix whose running sum
    of package sizes stays within the budget is returned, and the first package always. The
    window runs over the limited rows only (the inner ``LIMIT``), never over a recipient's
    whole backlog, and only the returned rows' blobs are read."""
    return d.sql(
        "WITH waiting AS (SELECT d.package_id AS package_id, d.seq AS seq, p.size AS size "
        f"FROM deliveries d {d.indexed_by('deliveries_open_inbox')}"
        "JOIN packages p ON p.id = d.package_id "
        "WHERE d.recipient = ? AND d.state IN ('available', 'delivered') AND d.seq > ? "
        "ORDER BY d.seq LIMIT ?), "
        "taken AS (SELECT package_id, seq, SUM(size) OVER (ORDER BY seq) AS upto, "
        "ROW_NUMBER() OVER (ORDER BY seq) AS n FROM waiting) "
        f"SELECT {PACKAGE_COLUMNS}, b.data, {DELIVERY_COLUMNS} FROM taken t "
        "JOIN packages p ON p.id = t.package_id "
        "JOIN deliveries d ON d.package_id = t.package_id AND d.recipient = ? "
        "LEFT JOIN package_blobs b ON b.package_id = t.package_id "
        "WHERE t.n = 1 OR t.upto <= ? ORDER BY t.seq"
    )


def fetched_batch(
    rows: Sequence[Sequence[Any]], dialect: Dialect, cipher: BlobCipher | None
) -> FetchedBatch:
    """The rows of :func:`inbox_packages_sql` as a batch, each as :func:`fetched` reads one;
    ``next`` is the last row's ``seq`` (the first column, a delivery's ``seq`` being its
    package's) as a cursor."""
    items = tuple(f for row in rows if (f := fetched(row, dialect, cipher)) is not None)
    return FetchedBatch(items, encode_cursor(int(rows[-1][0])) if rows else None)


def fetched(
    row: Sequence[Any] | None, dialect: Dialect, cipher: BlobCipher | None
) -> FetchedPackage | None:
    """The row of :func:`fetch_sql` (``None``: no such package); the bytes unsealed."""
    if row is None:
        return None
    record = package(row[:N_PACKAGE_COLUMNS], dialect)
    data = row[N_PACKAGE_COLUMNS]
    found = row[N_PACKAGE_COLUMNS + 1 :]
    return FetchedPackage(
        record=record,
        data=None if data is None else opened_blob(cipher, "data", record.id, data),
        delivery=None if found[0] is None else delivery(found, dialect),
    )
