"""The accept transaction (:meth:`hub.store.abc.Store.accept`), written once for both backends.

:func:`accept_script` is the whole transaction as a generator of operations — statements in the
backend's :class:`~hub.store.sql.dialect.Dialect` (placeholders, bound values), their
parameters, and the events to chain — that each backend *drives* on its own connection:
:mod:`hub.store.sqlite` runs them on the writer thread inside ``BEGIN IMMEDIATE``,
:mod:`hub.store.postgres` in one transaction after its ``seq`` advisory lock. The control flow
(which statement, in which order, what a result means) therefore exists once; a backend only
says how to execute an operation and how it chains events (``insert_chained``, per backend
since SQLite and PostgreSQL assign ``seq`` differently).

The order inside the transaction, for each item: a savepoint (only when its lifecycle change
has a compare-and-set that can be lost), the package row (``ON CONFLICT DO NOTHING``: same
bytes or a taken DocumentId skip the item), the lifecycle change (the statements of
:mod:`hub.store.sql.lifecycle`); a lost compare-and-set rolls back to the savepoint, so
nothing of that package is written and the others commit. Then, grouped for every stored
item: blobs, deliveries, events.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.errors import IllegalTransition
from hub.models import Event, NewPackage
from hub.storage_crypto import BlobCipher, seal
from hub.store.abc import AcceptItem, AcceptResult, AddOutcome
from hub.store.records import LifecycleChange
from hub.store.sql import lifecycle as lc
from hub.store.sql.dialect import Dialect
from hub.store.subunits import represented_events
from hub.store.textsearch import stored_subject, subject_terms
from hub.text import nfc_or_none

INSERT_PACKAGE = (
    "INSERT INTO packages (id, sha256, sender, kind, document_id, business_doc_type, "
    "status_code, recipients, accepted_at, size, signer_fingerprint, signer_subject, warnings, "
    "subject, subject_terms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    # No conflict target: the sha256 key and the new-document index (0014) both skip the row
    # instead of failing the group's transaction.
    "ON CONFLICT DO NOTHING RETURNING seq"
)
SAME_BYTES = "SELECT 1 FROM packages WHERE sha256 = ?"
INSERT_BLOB = "INSERT INTO package_blobs (package_id, data, receipt) VALUES (?, ?, ?)"
INSERT_DELIVERY = (
    "INSERT INTO deliveries (package_id, recipient, seq, state, attempts, updated_at, "
    "stands_for) VALUES (?, ?, ?, ?, 0, ?, ?) ON CONFLICT (package_id, recipient) DO NOTHING"
)
SAVEPOINT = "SAVEPOINT accept_item"
ROLLBACK_SAVEPOINT = "ROLLBACK TO SAVEPOINT accept_item"
RELEASE_SAVEPOINT = "RELEASE SAVEPOINT accept_item"


# -- operations a backend executes -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    """Execute one statement; the driver sends back its row count (``counted=False``: the
    script does not look at it, so a pipelining driver need not wait for the server)."""

    sql: str
    params: Sequence[Any] = ()
    counted: bool = True


@dataclass(frozen=True, slots=True)
class Fetch:
    """Execute one statement; the driver sends back its rows (a list of tuples)."""

    sql: str
    params: Sequence[Any] = ()


@dataclass(frozen=True, slots=True)
class Many:
    """Execute one statement for every parameter row; the driver sends back ``None``."""

    sql: str
    rows: Sequence[Sequence[Any]]


@dataclass(frozen=True, slots=True)
class Chain:
    """Append these events to the audit chain, in order; the driver sends back ``None``."""

    events: Sequence[Event]


Op = Run | Fetch | Many | Chain
Script = Generator[Op, Any, list[AcceptResult]]


def package_params(p: NewPackage, cipher: BlobCipher | None, d: Dialect) -> tuple[Any, ...]:
    """Parameters of :data:`INSERT_PACKAGE`."""
    return (
        p.id,
        p.sha256,
        p.sender,
        p.kind.value,
        nfc_or_none(p.document_id),  # the key, whoever built the package
        p.business_doc_type,
        p.status_code,
        d.json_in(list(p.recipients)),
        d.time_in(p.accepted_at),
        len(p.data),
        p.signer_fingerprint,
        p.signer_subject,
        d.json_in(list(p.warnings)),
        stored_subject(p.subject, cipher),
        subject_terms(p.subject, cipher),
    )


def stands_for(p: NewPackage, recipient: str, d: Dialect) -> Any:
    """The ``deliveries.stands_for`` value of one recipient (``NULL``: its own name only)."""
    codes = p.stands_for.get(recipient)
    return d.json_in(list(codes)) if codes else None


def can_lose(change: LifecycleChange | None) -> bool:
    """Whether ``change`` holds a compare-and-set that another package may win first (new
    document rows and history rows cannot be lost: they only insert)."""
    return change is not None and (bool(change.doc_moves) or change.dossier is not None)


def apply_lifecycle(change: LifecycleChange, d: Dialect) -> Generator[Op, Any, None]:
    """:func:`hub.store.sql.lifecycle.writes` as operations: raises ``IllegalTransition`` when
    a move lost; does nothing when a change with this sha256 was applied before."""
    if (yield Fetch(d.sql(lc.Q_APPLIED), (change.sha256,))):
        return
    for write in lc.writes(change, d):
        counted = write.moved is not None
        if (yield Run(d.sql(write.sql), write.params, counted=counted)) != 1 and counted:
            raise write.refusal()
    if change.transitions:
        yield Many(d.sql(lc.Q_INSERT_TRANSITION), lc.transition_rows(change, d))


def accept_script(
    items: Sequence[AcceptItem], *, cipher: BlobCipher | None, d: Dialect, now: datetime
) -> Script:
    """The accept transaction for ``items``; returns one result per item (see the module)."""
    # Serialised and sealed before the first statement: the writer holds its lock only for SQL.
    params = [package_params(i.package, cipher, d) for i in items]
    results: list[AcceptResult] = []
    stored: list[tuple[AcceptItem, int]] = []
    for item, values in zip(items, params, strict=True):
        guarded = can_lose(item.lifecycle)
        if guarded:
            yield Run(SAVEPOINT, counted=False)
        rows = yield Fetch(d.sql(INSERT_PACKAGE), values)
        if not rows:
            # Same bytes stored already (maybe earlier in this group), else the DocumentId is
            # taken: nothing of this package is written.
            same = yield Fetch(d.sql(SAME_BYTES), (item.package.sha256,))
            if guarded:
                yield Run(RELEASE_SAVEPOINT, counted=False)
            results.append(AcceptResult(AddOutcome.SAME_BYTES if same else AddOutcome.CONFLICT))
            continue
        if item.lifecycle is not None and not item.lifecycle.empty:
            try:
                yield from apply_lifecycle(item.lifecycle, d)
            except IllegalTransition as lost:
                assert guarded  # only a compare-and-set raises
                yield Run(ROLLBACK_SAVEPOINT, counted=False)
                yield Run(RELEASE_SAVEPOINT, counted=False)
                results.append(AcceptResult(AddOutcome.REFUSED, lost))
                continue
        if guarded:
            yield Run(RELEASE_SAVEPOINT, counted=False)
        results.append(AcceptResult(AddOutcome.INSERTED))
        stored.append((item, int(rows[0][0])))
    if not stored:
        return results
    yield Many(
        d.sql(INSERT_BLOB),
        [
            (i.package.id, seal(cipher, i.package.id, i.package.data), i.package.receipt)
            for i, _ in stored
        ],
    )
    at = d.time_in(now)
    yield Many(
        d.sql(INSERT_DELIVERY),
        [
            (
                i.package.id,
                r,
                seq,
                "available" if r in i.available else "pending",
                at,
                stands_for(i.package, r, d),
            )
            for i, seq in stored
            for r in i.package.recipients
        ],
    )
    yield Chain([e for i, _ in stored for e in item_events(i, now)])
    return results


def item_events(item: AcceptItem, now: datetime) -> list[Event]:
    """The events of one stored item, in trace order (see :meth:`Store.accept`)."""
    p = item.package
    accepted = Event(
        package_id=p.id,
        kind="accepted",
        at=p.accepted_at,
        detail={"sha256": p.sha256, "size": len(p.data)},
    )
    available = [
        Event(
            package_id=p.id,
            kind="available",
            at=now,
            recipient=r,
            attempt=0,
            # As the dispatcher's set_delivery_state writes it: sub-units named in "for".
            detail={"for": list(codes)} if (codes := p.stands_for.get(r)) else {},
        )
        for r in p.recipients
        if r in item.available
    ]
    return [accepted, *represented_events(p), *item.events, *available]


def drive(script: Script, execute: Callable[[Op], Any]) -> list[AcceptResult]:
    """Run ``script`` with a synchronous ``execute`` (the SQLite writer thread)."""
    reply: Any = None
    try:
        while True:
            reply = execute(script.send(reply))
    except StopIteration as done:
        result: list[AcceptResult] = done.value
        return result


async def drive_async(
    script: Script, execute: Callable[[Op], Awaitable[Any]]
) -> list[AcceptResult]:
    """Run ``script`` with an asynchronous ``execute`` (a PostgreSQL connection)."""
    reply: Any = None
    try:
        while True:
            reply = await execute(script.send(reply))
    except StopIteration as done:
        result: list[AcceptResult] = done.value
        return result
