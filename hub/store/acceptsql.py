"""The accept transaction (:meth:`hub.store.abc.Store.accept`), written once for both backends.

:func:`accept_script` is the whole transaction as a generator of operations — statements with
``?`` placeholders, their parameters, and the chained events — that each backend *drives* on
its own connection: :mod:`hub.store.sqlite` runs them on the writer thread inside ``BEGIN
IMMEDIATE``, :mod:`hub.store.postgres` in one transaction (``?`` → ``%s`` through
:func:`hub.store.sharedsql.pg`) after its ``seq`` advisory lock. The control flow (which
statement, in which order, what a result means) therefore exists once; a backend only says
how to execute an operation and how it chains events (``insert_chained``, per backend since
SQLite and PostgreSQL assign ``seq`` differently).

The order inside the transaction, for each item: a savepoint (only when its lifecycle change
has a compare-and-set that can be lost), the package row (``ON CONFLICT DO NOTHING``: same
bytes or a taken DocumentId skip the item), the lifecycle change (the statements of
:mod:`hub.store.sqlite.lifecycle`); a lost compare-and-set rolls back to the savepoint, so
nothing of that package is written and the others commit. Then, grouped for every stored
item: blobs, deliveries, events.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.errors import IllegalTransition
from hub.lifecycle.models import LifecycleChange
from hub.models import Event, NewPackage
from hub.storage_crypto import BlobCipher, seal
from hub.store.abc import AcceptItem, AcceptResult, AddOutcome
from hub.store.sqlite import lifecycle as lc
from hub.store.subunits import represented_events, stands_for_json
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
TimeIn = Callable[[datetime], Any]


def package_params(p: NewPackage, cipher: BlobCipher | None, t: TimeIn) -> tuple[Any, ...]:
    """Parameters of :data:`INSERT_PACKAGE`."""
    return (
        p.id,
        p.sha256,
        p.sender,
        p.kind.value,
        nfc_or_none(p.document_id),  # the key, whoever built the package
        p.business_doc_type,
        p.status_code,
        json.dumps(list(p.recipients), ensure_ascii=False),
        t(p.accepted_at),
        len(p.data),
        p.signer_fingerprint,
        p.signer_subject,
        json.dumps(list(p.warnings), ensure_ascii=False),
        stored_subject(p.subject, cipher),
        subject_terms(p.subject, cipher),
    )


def can_lose(change: LifecycleChange | None) -> bool:
    """Whether ``change`` holds a compare-and-set that another package may win first (new
    document rows and history rows cannot be lost: they only insert)."""
    return change is not None and (bool(change.doc_moves) or change.dossier is not None)


def apply_lifecycle(change: LifecycleChange, t: TimeIn) -> Generator[Op, Any, None]:
    """:func:`hub.store.sqlite.lifecycle.apply` as operations: raises ``IllegalTransition``
    when a move lost; does nothing when a change with this sha256 was applied before."""
    if (yield Fetch(lc.Q_APPLIED, (change.sha256,))):
        return
    if change.new_docs:
        yield Many(lc.Q_INSERT_DOC, [lc.doc_row(d, t) for d in change.new_docs])
    at = t(change.at)
    for m in change.doc_moves:
        if (yield Run(lc.Q_MOVE_DOC, lc.move_doc_params(m, at))) != 1:
            raise lc.lost(f"the document {m.package_id} for {m.recipient}", m.package_id)
    if change.dossier is not None:
        if change.dossier.expect is None:
            n = yield Run(lc.Q_INSERT_DOSSIER, lc.dossier_row(change.dossier.record, t))
        else:
            n = yield Run(lc.Q_MOVE_DOSSIER, lc.move_dossier_params(change, t))
        if n != 1:
            raise lc.lost(
                f"the dossier {change.dossier.record.ma_ho_so}", change.dossier.record.package_id
            )
    if change.transitions:
        yield Many(lc.Q_INSERT_TRANSITION, [lc.transition_row(x, t) for x in change.transitions])


def accept_script(
    items: Sequence[AcceptItem], *, cipher: BlobCipher | None, t: TimeIn, now: datetime
) -> Script:
    """The accept transaction for ``items``; returns one result per item (see the module)."""
    # Serialised and sealed before the first statement: the writer holds its lock only for SQL.
    params = [package_params(i.package, cipher, t) for i in items]
    results: list[AcceptResult] = []
    stored: list[tuple[AcceptItem, int]] = []
    for item, values in zip(items, params, strict=True):
        guarded = can_lose(item.lifecycle)
        if guarded:
            yield Run(SAVEPOINT, counted=False)
        rows = yield Fetch(INSERT_PACKAGE, values)
        if not rows:
            # Same bytes stored already (maybe earlier in this group), else the DocumentId is
            # taken: nothing of this package is written.
            same = yield Fetch(SAME_BYTES, (item.package.sha256,))
            if guarded:
                yield Run(RELEASE_SAVEPOINT, counted=False)
            results.append(AcceptResult(AddOutcome.SAME_BYTES if same else AddOutcome.CONFLICT))
            continue
        if item.lifecycle is not None and not item.lifecycle.empty:
            try:
                yield from apply_lifecycle(item.lifecycle, t)
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
        INSERT_BLOB,
        [
            (i.package.id, seal(cipher, i.package.id, i.package.data), i.package.receipt)
            for i, _ in stored
        ],
    )
    at = t(now)
    yield Many(
        INSERT_DELIVERY,
        [
            (
                i.package.id,
                r,
                seq,
                "available" if r in i.available else "pending",
                at,
                stands_for_json(i.package, r),
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
