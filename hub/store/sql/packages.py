"""Packages, deliveries, blobs, events, inbox and outbox: the statements and row mappers both
store backends run (``?`` placeholders; see :mod:`hub.store.sql`).

The package insert path (``Store.accept``) is :mod:`hub.store.sql.accept`.
"""

# SQL text is assembled only from module constants and fragments built here, never from input;
# every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.models import (
    DeliveryRecord,
    DeliveryState,
    Event,
    InboxItem,
    PackageKind,
    PackageRecord,
    Page,
)
from hub.storage_crypto import BlobCipher, unseal
from hub.store.cursors import decode_cursor, encode_cursor
from hub.store.sql.dialect import Dialect
from hub.store.subunits import with_stands_for
from hub.store.textsearch import subject_filter

PACKAGE_COLUMNS = (
    "p.seq, p.id, p.sha256, p.sender, p.kind, p.document_id, p.business_doc_type, "
    "p.status_code, p.recipients, p.accepted_at, p.size, p.signer_fingerprint, "
    "p.signer_subject, p.warnings, p.subject"
)
#: How many of a joined row's columns are :data:`PACKAGE_COLUMNS` (the first is ``seq``).
N_PACKAGE_COLUMNS = 15
#: The ``deliveries`` columns of :func:`delivery`, unqualified (``RETURNING`` lists).
DELIVERY_FIELDS = (
    "package_id, recipient, state, attempts, updated_at, last_error, acked_at, stands_for"
)
DELIVERY_COLUMNS = ", ".join(f"d.{c}" for c in DELIVERY_FIELDS.split(", "))


def package(row: Sequence[Any], d: Dialect) -> PackageRecord:
    """A :class:`PackageRecord` from a :data:`PACKAGE_COLUMNS` row."""
    (_seq, id_, sha256, sender, kind, document_id, business_doc_type, status_code, recipients,
     accepted_at, size, fingerprint, subject, warnings, title) = row  # fmt: skip
    return PackageRecord(
        id=id_,
        sha256=sha256,
        sender=sender,
        kind=PackageKind(kind),
        document_id=document_id,
        business_doc_type=business_doc_type,
        status_code=status_code,
        recipients=tuple(d.json_out(recipients)),
        accepted_at=d.time_out(accepted_at),
        size=int(size),
        signer_fingerprint=fingerprint,
        signer_subject=subject,
        warnings=tuple(d.json_out(warnings)),
        subject=title,
    )


def delivery(row: Sequence[Any], d: Dialect) -> DeliveryRecord:
    """A :class:`DeliveryRecord` from a :data:`DELIVERY_COLUMNS` row."""
    package_id, recipient, state, attempts, updated_at, last_error, acked_at, stands_for = row
    return DeliveryRecord(
        package_id=package_id,
        recipient=recipient,
        state=DeliveryState(state),
        attempts=attempts,
        updated_at=d.time_out(updated_at),
        last_error=last_error,
        acked_at=d.time_or_none(acked_at),
        stands_for=tuple(d.json_out(stands_for)) if stands_for else (),
    )


# -- packages --------------------------------------------------------------------------------


def one_package_sql(where: str) -> str:
    """The first package (by ``seq``) matching ``where``, a condition on ``p``."""
    return f"SELECT {PACKAGE_COLUMNS} FROM packages p WHERE {where} ORDER BY p.seq LIMIT 1"


BY_SHA256 = "p.sha256 = ?"
BY_ID = "p.id = ?"
COUNT_PACKAGES = "SELECT COUNT(*) FROM packages"
#: Packages migration 0014 marked ``duplicate_of`` another (the id is the last column).
DUPLICATE_DOCUMENTS = (
    f"SELECT {PACKAGE_COLUMNS}, p.duplicate_of FROM packages p "
    "WHERE p.duplicate_of IS NOT NULL ORDER BY p.seq"
)
#: Parameters: the document's author (a recipient of the statuses), the DocumentId (NFC).
RELATED_STATUSES = (
    f"SELECT {PACKAGE_COLUMNS} FROM packages p "
    "JOIN deliveries d ON d.package_id = p.id AND d.recipient = ? "
    "WHERE p.document_id = ? AND p.kind = 'status' ORDER BY p.seq"
)


# -- blobs -----------------------------------------------------------------------------------

COUNT_BLOBS = "SELECT COUNT(*) FROM package_blobs"

#: One blob column of a package, ``data`` or ``receipt`` (parameter: the package id).
BLOB_SELECT = {
    "data": "SELECT data FROM package_blobs WHERE package_id = ?",
    "receipt": "SELECT receipt FROM package_blobs WHERE package_id = ?",
}


#: The first bytes and the length of each blob after an id, by id (parameters: how many
#: bytes, the id to continue after, limit). ``substr`` and ``length`` count bytes on a blob
#: (SQLite) and on a ``bytea`` (PostgreSQL) alike.
BLOB_HEADERS = (
    "SELECT package_id, substr(data, 1, ?), length(data) FROM package_blobs "
    "WHERE package_id > ? ORDER BY package_id LIMIT ?"
)


def opened_blob(cipher: BlobCipher | None, column: str, package_id: str, stored: Any) -> bytes:
    """A blob as read back: only the package bytes (``data``) are encrypted at rest; receipts
    stay in clear (they are evidence)."""
    raw = bytes(stored)
    return unseal(cipher, package_id, raw) if column == "data" else raw


def stored_blobs_sql(d: Dialect) -> str:
    """Blobs as stored, by package id (parameter: :meth:`Dialect.in_list` of the ids)."""
    return d.sql(f"SELECT package_id, data FROM package_blobs WHERE {d.any_of('package_id')}")


# -- deliveries ------------------------------------------------------------------------------

GET_DELIVERY = (
    f"SELECT {DELIVERY_COLUMNS} FROM deliveries d WHERE d.package_id = ? AND d.recipient = ?"
)
DELIVERIES_FOR = (
    f"SELECT {DELIVERY_COLUMNS} FROM deliveries d WHERE d.package_id = ? ORDER BY d.recipient"
)
PENDING_DELIVERIES = (
    f"SELECT {DELIVERY_COLUMNS} FROM deliveries d WHERE d.state = 'pending' "
    "ORDER BY d.seq, d.recipient LIMIT ?"
)
#: One conditional UPDATE (parameters: :func:`set_state_params`): an ``acked`` delivery is
#: left as it is, and ``attempts``/``last_error`` of ``NULL`` keep the stored values.
SET_STATE = (
    "UPDATE deliveries SET state = ?, attempts = COALESCE(?, attempts), updated_at = ?, "
    "last_error = COALESCE(?, last_error), acked_at = COALESCE(?, acked_at) "
    "WHERE package_id = ? AND recipient = ? AND state <> 'acked' "
    f"RETURNING {DELIVERY_FIELDS}"
)
#: The first ack only (parameters: acked-at, now, package id, recipient); the row lock (or
#: SQLite's single writer) orders concurrent acks, so exactly one matches.
ACK = (
    "UPDATE deliveries SET state = 'acked', acked_at = ?, updated_at = ? "
    "WHERE package_id = ? AND recipient = ? AND state <> 'acked' "
    f"RETURNING {DELIVERY_FIELDS}"
)


def set_state_params(
    package_id: str,
    recipient: str,
    state: DeliveryState,
    attempts: int | None,
    error: str | None,
    now: datetime,
    d: Dialect,
) -> tuple[Any, ...]:
    """Parameters of :data:`SET_STATE`."""
    at = d.time_in(now)
    acked_at = at if state is DeliveryState.ACKED else None
    return (state.value, attempts, at, error, acked_at, package_id, recipient)


def delivery_event(
    record: DeliveryRecord, kind: str, at: datetime, detail: dict[str, object] | None = None
) -> Event:
    """The event of a delivery's move, naming the sub-units it stands for."""
    return Event(
        package_id=record.package_id,
        kind=kind,
        at=at,
        recipient=record.recipient,
        attempt=record.attempts,
        detail=with_stands_for(dict(detail or {}), record),
    )


def state_detail(event_detail: dict[str, object] | None, error: str | None) -> dict[str, object]:
    """A state change's event detail: the caller's, with the error unless it names one."""
    detail: dict[str, object] = dict(event_detail or {})
    if error is not None:
        detail.setdefault("error", error)
    return detail


def queued_event(
    package_id: str, recipient: str, at: datetime, stands_for: Any, d: Dialect
) -> Event:
    """The ``queued`` event of a delivery (``stands_for``: the column as read)."""
    return Event(
        package_id=str(package_id),
        kind="queued",
        at=at,
        recipient=str(recipient),
        detail={"for": list(d.json_out(stands_for))} if stands_for else {},
    )


def deliveries_of_sql(d: Dialect) -> str:
    """The deliveries of a list of packages (parameter: :meth:`Dialect.in_list` of the ids)."""
    return d.sql(
        f"SELECT {DELIVERY_COLUMNS} FROM deliveries d WHERE {d.any_of('d.package_id')} "
        "ORDER BY d.package_id, d.recipient"
    )


def by_package(
    ids: Sequence[str], rows: Sequence[Sequence[Any]], d: Dialect
) -> dict[str, list[DeliveryRecord]]:
    """The rows of :func:`deliveries_of_sql` grouped by package, every id present."""
    grouped: dict[str, list[DeliveryRecord]] = {i: [] for i in ids}
    for row in rows:
        grouped[str(row[0])].append(delivery(row, d))
    return grouped


# -- events ----------------------------------------------------------------------------------

EVENTS_FOR = (
    "SELECT seq, package_id, kind, at, recipient, attempt, detail FROM events "
    "WHERE package_id = ? ORDER BY seq"
)


def event(row: Sequence[Any], d: Dialect) -> Event:
    """An :class:`Event` from an :data:`EVENTS_FOR` row."""
    seq, package_id, kind, at, recipient, attempt, detail = row
    return Event(
        package_id=package_id,
        kind=kind,
        at=d.time_out(at),
        recipient=recipient,
        attempt=attempt,
        detail=dict(d.json_out(detail)),
        seq=int(seq),
    )


# -- inbox and outbox pages ------------------------------------------------------------------


def page_start(
    cursor: str | None, limit: int, q: str | None, cipher: BlobCipher | None
) -> tuple[int, str, list[str]]:
    """The start of an inbox or outbox page: the ``seq`` after ``cursor``, and the Subject
    filter on ``p`` (``""``: none, else written with ``?``) with its parameters.
    ``ValueError``: a cursor the store did not hand out, ``limit`` below 1, too many words in
    ``q``."""
    after = decode_cursor(cursor)
    if limit < 1:
        raise ValueError("limit must be positive")
    where, words = subject_filter(q, cipher, column="p.subject_terms", placeholder="?")
    return after, where, words


def _and(where: str) -> str:
    return f"AND {where} " if where else ""


def inbox_sql(d: Dialect, *, include_acked: bool, where: str = "") -> str:
    """The inbox query (parameters: recipient, after-seq, ``where``'s, limit); ``where``: an
    extra condition on ``p`` (the Subject search). Literal states, so the planner can match the
    partial index ``deliveries_open_inbox`` (SQLite is told: it has no statistics to find it,
    and would filter the usually many acked rows instead of skipping them)."""
    if include_acked:
        states, index = "('available', 'delivered', 'acked')", "deliveries_all_by_recipient"
    else:
        states, index = "('available', 'delivered')", "deliveries_open_inbox"
    return d.sql(
        f"SELECT {PACKAGE_COLUMNS}, {DELIVERY_COLUMNS} FROM deliveries d {d.indexed_by(index)}"
        "JOIN packages p ON p.id = d.package_id "
        f"WHERE d.recipient = ? AND d.state IN {states} AND d.seq > ? "
        f"{_and(where)}ORDER BY d.seq LIMIT ?"
    )


def outbox_sql(d: Dialect, where: str = "") -> str:
    """The outbox query (parameters: sender, after-seq, ``where``'s, limit)."""
    return d.sql(
        f"SELECT {PACKAGE_COLUMNS} FROM packages p WHERE p.sender = ? AND p.seq > ? "
        f"{_and(where)}ORDER BY p.seq LIMIT ?"
    )


def _next(rows: Sequence[Sequence[Any]], limit: int) -> str | None:
    return encode_cursor(rows[limit - 1][0]) if len(rows) > limit else None


def inbox_page(rows: Sequence[Sequence[Any]], limit: int, d: Dialect) -> Page[InboxItem]:
    """The page of :func:`inbox_sql`'s rows (``limit + 1`` asked, to know whether more)."""
    n = N_PACKAGE_COLUMNS
    items = tuple(
        InboxItem(package=package(r[:n], d), delivery=delivery(r[n:], d)) for r in rows[:limit]
    )
    return Page(items=items, next=_next(rows, limit))


def outbox_ids(rows: Sequence[Sequence[Any]], limit: int) -> list[str]:
    """The package ids on a page of :func:`outbox_sql`'s rows."""
    return [str(r[1]) for r in rows[:limit]]


def outbox_page(
    rows: Sequence[Sequence[Any]],
    deliveries: dict[str, list[DeliveryRecord]],
    limit: int,
    d: Dialect,
) -> Page[tuple[PackageRecord, tuple[DeliveryRecord, ...]]]:
    """The page of :func:`outbox_sql`'s rows, each package with its deliveries."""
    items = tuple((package(r, d), tuple(deliveries[str(r[1])])) for r in rows[:limit])
    return Page(items=items, next=_next(rows, limit))
