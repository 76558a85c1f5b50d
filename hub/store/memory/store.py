""":class:`MemoryStore`: the whole :class:`~hub.store.abc.Store` contract in memory."""

from __future__ import annotations

import bisect
from collections.abc import Container, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from hub.errors import IllegalTransition
from hub.models import (
    AgencyOverride,
    DeliveryRecord,
    DeliveryState,
    DirectoryRecord,
    Event,
    FetchedBatch,
    FetchedPackage,
    InboxItem,
    NewPackage,
    PackageKind,
    PackageRecord,
    Page,
    VxpSystem,
)
from hub.storage_crypto import seal
from hub.store.abc import AcceptItem, AcceptResult, AddOutcome, Store
from hub.store.cursors import decode_cursor, encode_cursor
from hub.store.facets import (
    AuditStore,
    DashboardStore,
    EventChainer,
    LifecycleStore,
    RevocationCacheStore,
)
from hub.store.memory.audit import MemoryAudit, insert_chained
from hub.store.memory.backing import (
    DeliveryRow,
    MemoryBacking,
    MemoryConnection,
    PackageRow,
    stored_detail,
    utc,
    utc_or_none,
)
from hub.store.memory.dashboard import MemoryDashboard
from hub.store.memory.lifecycle import MemoryLifecycle, apply_change
from hub.store.memory.revinfo import MemoryRevocationCache
from hub.store.sql.accept import item_events
from hub.store.sql.packages import opened_blob
from hub.store.subunits import with_stands_for
from hub.store.textsearch import query_tokens, stored_subject, subject_terms, terms_match
from hub.text import nfc, nfc_or_none

T = TypeVar("T")

#: delivery states an inbox lists (``acked`` too when asked)
_INBOX = frozenset({DeliveryState.AVAILABLE, DeliveryState.DELIVERED})
_INBOX_ALL = _INBOX | {DeliveryState.ACKED}


def new_document_key(package: NewPackage | PackageRecord) -> tuple[str, str] | None:
    """The key of the unique new-document constraint (migration 0014): a document of
    BussinessDocType 0 with a non-empty DocumentId, by sender and DocumentId in NFC."""
    if (
        package.kind is PackageKind.DOCUMENT
        and package.business_doc_type == 0
        and package.document_id
    ):
        return package.sender, nfc(package.document_id)
    return None


def page_after(cursor: str | None, limit: int) -> int:
    """The seq a page starts after (``ValueError`` for a cursor the store did not hand out or
    a ``limit`` below 1, as the SQL backends refuse them)."""
    after = decode_cursor(cursor)
    if limit < 1:
        raise ValueError("limit must be positive")
    return after


class MemoryStore(Store):
    """The hub's state in memory: a real, complete store with nothing durable.

    ``MemoryStore(chainer=AuditChain())`` makes its own
    :class:`~hub.store.memory.backing.MemoryBacking`; :meth:`sibling` (or
    ``MemoryStore(store.backing, chainer=...)``) opens another store over the same data, as a
    restart or a second hub process would. ``chainer`` is required, as by the real stores:
    every event the store writes joins the audit hash chain.
    """

    def __init__(self, backing: MemoryBacking | None = None, *, chainer: EventChainer) -> None:
        self.backing = backing if backing is not None else MemoryBacking()
        self.chainer = chainer
        self._conn = MemoryConnection(self.backing)

    def sibling(self) -> MemoryStore:
        """A new, unopened store over the same backing (same cipher, same chainer)."""
        other = MemoryStore(self.backing, chainer=self.chainer)
        other.blob_cipher = self.blob_cipher
        return other

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        """Nothing to connect to or migrate: the store serves from now on."""
        self._conn.is_open = True

    async def close(self) -> None:
        """Stop serving (the backing keeps the data); idempotent."""
        self._conn.is_open = False

    async def ping(self) -> None:
        """``Unavailable`` when closed."""
        self._conn.check()

    # -- accepting ---------------------------------------------------------------------------

    async def accept(self, items: Sequence[AcceptItem]) -> list[AcceptResult]:
        """One transaction under the backing's lock (see the contract): each package is
        inserted, or skipped for its sha256 or its taken DocumentId, or refused when its
        lifecycle compare-and-set lost — :func:`~hub.store.memory.lifecycle.apply_change`
        checks every one before it writes, so a refused package leaves nothing behind, as the
        SQL backends' savepoint does."""
        if not items:
            return []
        cipher = self.blob_cipher
        rows = [
            (
                item,
                PackageRecord(
                    id=p.id,
                    sha256=p.sha256,
                    sender=p.sender,
                    kind=PackageKind(p.kind),
                    document_id=nfc_or_none(p.document_id),  # the key, whoever built it
                    business_doc_type=p.business_doc_type,
                    status_code=p.status_code,
                    recipients=tuple(p.recipients),
                    accepted_at=utc(p.accepted_at),
                    size=len(p.data),
                    signer_fingerprint=p.signer_fingerprint,
                    signer_subject=p.signer_subject,
                    warnings=tuple(p.warnings),
                    subject=stored_subject(p.subject, cipher),
                ),
                subject_terms(p.subject, cipher),
                seal(cipher, p.id, p.data),
            )
            for item in items
            for p in (item.package,)
        ]
        results: list[AcceptResult] = []
        async with self._conn.tx() as db:
            now = utc(db.now())
            for item, record, terms, data in rows:
                package = item.package
                key = new_document_key(record)
                if package.sha256 in db.by_sha256:
                    results.append(AcceptResult(AddOutcome.SAME_BYTES))
                    continue
                if package.id in db.packages or (key is not None and key in db.new_documents):
                    results.append(AcceptResult(AddOutcome.CONFLICT))
                    continue
                if item.lifecycle is not None and not item.lifecycle.empty:
                    try:
                        apply_change(db, item.lifecycle)
                    except IllegalTransition as lost:
                        results.append(AcceptResult(AddOutcome.REFUSED, lost))
                        continue
                results.append(AcceptResult(AddOutcome.INSERTED))
                seq = next(db.package_seq)
                db.packages[package.id] = PackageRow(seq, record, terms, data, package.receipt)
                db.by_sha256[package.sha256] = package.id
                if key is not None:
                    db.new_documents[key] = package.id
                if record.document_id is not None:
                    db.by_document.setdefault(record.document_id, []).append(package.id)
                db.by_sender.setdefault(package.sender, []).append(package.id)
                for recipient in package.recipients:
                    if (package.id, recipient) in db.deliveries:
                        continue  # a recipient listed twice: one delivery
                    db.deliveries[(package.id, recipient)] = DeliveryRow(
                        seq,
                        DeliveryRecord(
                            package_id=package.id,
                            recipient=recipient,
                            state=(
                                DeliveryState.AVAILABLE
                                if recipient in item.available
                                else DeliveryState.PENDING
                            ),
                            attempts=0,
                            updated_at=now,
                            stands_for=tuple(package.stands_for.get(recipient, ())),
                        ),
                    )
                    db.by_recipient.setdefault(recipient, []).append((package.id, recipient))
                for event in item_events(item, now):
                    insert_chained(db, self.chainer, event)
        return results

    async def find_by_sha256(self, sha256: str) -> PackageRecord | None:
        """The package stored with exactly these bytes, if any."""
        async with self._conn.tx() as db:
            package_id = db.by_sha256.get(sha256)
            return None if package_id is None else db.packages[package_id].record

    async def find_document(
        self, sender: str, document_id: str, business_doc_type: int | None
    ) -> PackageRecord | None:
        """The first stored document from ``sender`` with this DocumentId (in NFC) and
        BussinessDocType (``None`` matches packages stored without one)."""
        async with self._conn.tx() as db:
            for package_id in db.by_document.get(nfc(document_id), ()):
                record = db.packages[package_id].record
                if (
                    record.sender == sender
                    and record.kind is PackageKind.DOCUMENT
                    and record.business_doc_type == business_doc_type
                ):
                    return record
            return None

    async def duplicate_documents(self) -> Sequence[tuple[PackageRecord, str]]:
        """None: a memory store starts empty under the unique constraint, so no package
        predates it (what migration 0014 marks in a real store)."""
        self._conn.check()
        return []

    async def get_package(self, package_id: str) -> PackageRecord | None:
        """Look up a package's record."""
        async with self._conn.tx() as db:
            row = db.packages.get(package_id)
            return None if row is None else row.record

    async def get_bytes(self, package_id: str) -> bytes | None:
        """The exact bytes received (unsealed with the store's cipher)."""
        async with self._conn.tx() as db:
            row = db.packages.get(package_id)
            stored = None if row is None else row.data
        return None if stored is None else opened_blob(self.blob_cipher, "data", package_id, stored)

    async def get_receipt(self, package_id: str) -> bytes | None:
        """The signed receipt issued for the package."""
        async with self._conn.tx() as db:
            row = db.packages.get(package_id)
            return None if row is None else row.receipt

    # -- stored bytes as stored (re-encryption) ------------------------------------------------

    async def count_blobs(self) -> int:
        """Number of stored package blobs."""
        async with self._conn.tx() as db:
            return len(db.packages)

    async def blob_headers(
        self, after_id: str, limit: int, head: int
    ) -> Sequence[tuple[str, bytes, int]]:
        """Ids, first ``head`` bytes and lengths of the blobs after ``after_id``, by id."""
        async with self._conn.tx() as db:
            ids = sorted(i for i in db.packages if i > after_id)[: max(limit, 0)]
            return [(i, db.packages[i].data[:head], len(db.packages[i].data)) for i in ids]

    async def stored_blobs(self, package_ids: Sequence[str]) -> dict[str, bytes]:
        """Blobs as stored (still sealed), by package id."""
        async with self._conn.tx() as db:
            return {i: db.packages[i].data for i in package_ids if i in db.packages}

    async def replace_blobs(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        """Compare-and-set each blob on its exact old bytes, in one transaction; a purged
        blob is never replaced."""
        if not changes:
            return 0
        replaced = 0
        async with self._conn.tx() as db:
            for package_id, old, new in changes:
                row = db.packages.get(package_id)
                if row is not None and row.data == old and row.purged_at is None:
                    row.data = bytes(new)
                    replaced += 1
        return replaced

    # -- deliveries ------------------------------------------------------------------------------

    async def pending_deliveries(self, limit: int = 1000) -> Sequence[DeliveryRecord]:
        """Deliveries still ``pending``, oldest package first."""
        async with self._conn.tx() as db:
            pending = sorted(
                (d.seq, d.record.recipient, d.record)
                for d in db.deliveries.values()
                if d.record.state is DeliveryState.PENDING
            )
            return [record for _, _, record in pending[: max(limit, 0)]]

    async def set_delivery_state(
        self,
        package_id: str,
        recipient: str,
        state: DeliveryState,
        *,
        attempts: int | None = None,
        error: str | None = None,
        event_detail: dict[str, object] | None = None,
    ) -> DeliveryRecord:
        """Move a delivery and append the event (kind = the state's value), atomically;
        ``attempts``/``error`` of ``None`` keep the stored values; ``acked`` is terminal."""
        state = DeliveryState(state)
        async with self._conn.tx() as db:
            row = db.deliveries.get((package_id, recipient))
            if row is None:
                raise KeyError((package_id, recipient))
            current = row.record
            if current.state is DeliveryState.ACKED:
                return current
            now = utc(db.now())
            new_attempts = current.attempts if attempts is None else attempts
            row.record = replace(
                current,
                state=state,
                attempts=new_attempts,
                updated_at=now,
                last_error=current.last_error if error is None else error,
                acked_at=now if state is DeliveryState.ACKED else current.acked_at,
            )
            detail = with_stands_for(dict(event_detail or {}), current)
            if error is not None:
                detail.setdefault("error", error)
            insert_chained(
                db,
                self.chainer,
                Event(
                    package_id=package_id,
                    kind=state.value,
                    at=now,
                    recipient=recipient,
                    attempt=new_attempts,
                    detail=detail,
                ),
            )
            return row.record

    async def mark_queued(self, keys: Sequence[tuple[str, str]]) -> None:
        """``pending`` → ``queued`` with a ``queued`` event each, in one transaction."""
        if not keys:
            return
        async with self._conn.tx() as db:
            now = utc(db.now())
            for key in keys:
                row = db.deliveries.get(key)
                if row is None or row.record.state is not DeliveryState.PENDING:
                    continue
                row.record = replace(row.record, state=DeliveryState.QUEUED, updated_at=now)
                insert_chained(
                    db,
                    self.chainer,
                    Event(
                        package_id=key[0],
                        kind="queued",
                        at=now,
                        recipient=key[1],
                        detail=with_stands_for({}, row.record),
                    ),
                )

    async def get_delivery(self, package_id: str, recipient: str) -> DeliveryRecord | None:
        """One delivery."""
        async with self._conn.tx() as db:
            row = db.deliveries.get((package_id, recipient))
            return None if row is None else row.record

    async def deliveries_for(self, package_id: str) -> Sequence[DeliveryRecord]:
        """Every delivery of a package, by recipient."""
        async with self._conn.tx() as db:
            return _deliveries_of(db, package_id)

    async def ack(
        self, package_id: str, recipient: str, at: datetime
    ) -> tuple[DeliveryRecord, bool]:
        """Acknowledge once: the first call under the lock wins, later ones return the
        record unchanged."""
        acked_at = utc(at)
        async with self._conn.tx() as db:
            row = db.deliveries.get((package_id, recipient))
            if row is None:
                raise KeyError((package_id, recipient))
            if row.record.state is DeliveryState.ACKED:
                return row.record, False
            row.record = replace(
                row.record, state=DeliveryState.ACKED, acked_at=acked_at, updated_at=utc(db.now())
            )
            insert_chained(
                db,
                self.chainer,
                Event(
                    package_id=package_id,
                    kind="acked",
                    at=acked_at,
                    recipient=recipient,
                    attempt=row.record.attempts,
                    detail=with_stands_for({}, row.record),
                ),
            )
            return row.record, True

    # -- listings ------------------------------------------------------------------------------

    async def inbox(
        self,
        recipient: str,
        *,
        cursor: str | None = None,
        limit: int = 100,
        include_acked: bool = False,
        q: str | None = None,
    ) -> Page[InboxItem]:
        """Deliveries ``available``/``delivered`` (``acked`` too if asked) in acceptance order;
        ``q``: only packages whose Subject has every folded word of ``q``."""
        after = page_after(cursor, limit)
        wanted = query_tokens(q, self.blob_cipher)
        states = _INBOX_ALL if include_acked else _INBOX
        items: list[tuple[int, InboxItem]] = []
        async with self._conn.tx() as db:
            for delivery, package in _inbox_after(db, recipient, after, states):
                if not terms_match(package.subject_terms, wanted):
                    continue
                items.append((delivery.seq, InboxItem(package.record, delivery.record)))
                if len(items) > limit:
                    break
        return _page(items, limit)

    async def inbox_packages(
        self, recipient: str, *, limit: int, max_bytes: int, cursor: str | None = None
    ) -> FetchedBatch:
        """The recipient's oldest waiting packages after ``cursor`` with their bytes (see the
        contract)."""
        after = page_after(cursor, limit)
        taken: list[tuple[PackageRecord, bytes, DeliveryRecord]] = []
        total = 0
        last = 0
        async with self._conn.tx() as db:
            for delivery, row in _inbox_after(db, recipient, after, _INBOX):
                total += row.record.size
                if taken and total > max_bytes:
                    break
                taken.append((row.record, row.data, delivery.record))
                last = delivery.seq
                if len(taken) == limit:
                    break
        cipher = self.blob_cipher
        return FetchedBatch(
            tuple(
                FetchedPackage(record, opened_blob(cipher, "data", record.id, data), d)
                for record, data, d in taken
            ),
            encode_cursor(last) if taken else None,
        )

    async def outbox(
        self, sender: str, *, cursor: str | None = None, limit: int = 100, q: str | None = None
    ) -> Page[tuple[PackageRecord, tuple[DeliveryRecord, ...]]]:
        """The sender's packages in acceptance order, each with its deliveries by recipient;
        ``q``: only packages whose Subject has every folded word of ``q``."""
        after = page_after(cursor, limit)
        wanted = query_tokens(q, self.blob_cipher)
        items: list[tuple[int, tuple[PackageRecord, tuple[DeliveryRecord, ...]]]] = []
        async with self._conn.tx() as db:
            ids = db.by_sender.get(sender, [])
            start = bisect.bisect_right(ids, after, key=lambda i: db.packages[i].seq)
            for package_id in ids[start:]:
                row = db.packages[package_id]
                if not terms_match(row.subject_terms, wanted):
                    continue
                items.append((row.seq, (row.record, tuple(_deliveries_of(db, package_id)))))
                if len(items) > limit:
                    break
        return _page(items, limit)

    async def count_packages(self) -> int:
        """Number of stored packages."""
        async with self._conn.tx() as db:
            return len(db.packages)

    # -- events --------------------------------------------------------------------------------

    async def append_event(self, event: Event) -> None:
        """Append to the event log (``event.seq`` is ignored: the store assigns it)."""
        async with self._conn.tx() as db:
            insert_chained(db, self.chainer, event)

    async def events_for(self, package_id: str) -> Sequence[Event]:
        """The trace of one package, in append order (copies: the log cannot be changed
        through them)."""
        async with self._conn.tx() as db:
            rows = [db.events[i] for i in db.events_by_package.get(package_id, ())]
        return [
            Event(
                package_id=e.package_id,
                kind=e.kind,
                at=e.at,
                recipient=e.recipient,
                attempt=e.attempt,
                detail=stored_detail(e.detail),
                seq=e.seq,
            )
            for e in rows
        ]

    async def related_statuses(self, sender: str, document_id: str) -> Sequence[PackageRecord]:
        """Status packages whose ResponseFor/DocumentId is ``document_id`` and which were
        addressed to ``sender`` (the document's author), in acceptance order."""
        async with self._conn.tx() as db:
            return [
                db.packages[i].record
                for i in db.by_document.get(nfc(document_id), ())
                if db.packages[i].record.kind is PackageKind.STATUS and (i, sender) in db.deliveries
            ]

    # -- runtime agency changes -------------------------------------------------------------------

    async def set_agency_override(self, override: AgencyOverride) -> None:
        """Upsert; a ``None`` field keeps the stored value (last write wins per field)."""
        async with self._conn.tx() as db:
            old = db.overrides.get(override.organ_id, AgencyOverride(override.organ_id))

            db.overrides[override.organ_id] = AgencyOverride(
                organ_id=override.organ_id,
                enabled=_pick(override.enabled, old.enabled),
                token_sha256=_pick(
                    None if override.token_sha256 is None else tuple(override.token_sha256),
                    old.token_sha256,
                ),
                changed_at=_pick(utc_or_none(override.changed_at), old.changed_at),
                reason=_pick(override.reason, old.reason),
                signature_profile=_pick(override.signature_profile, old.signature_profile),
            )

    async def agency_overrides(self) -> Sequence[AgencyOverride]:
        """One merged record per agency, by OrganId."""
        async with self._conn.tx() as db:
            return [db.overrides[k] for k in sorted(db.overrides)]

    # -- agency directory ----------------------------------------------------------------------

    async def directory_records(self) -> Sequence[DirectoryRecord]:
        """Every stored directory entry, by code."""
        async with self._conn.tx() as db:
            return [db.directory[k] for k in sorted(db.directory)]

    async def directory_revision(self) -> int:
        """Highest revision stored, 0 when empty."""
        async with self._conn.tx() as db:
            return max((r.revision for r in db.directory.values()), default=0)

    async def put_directory_records(
        self, records: Sequence[DirectoryRecord], at: datetime
    ) -> tuple[int, int]:
        """Upsert in one transaction; unchanged entries keep their revision."""
        when = utc(at)
        async with self._conn.tx() as db:
            current = max((r.revision for r in db.directory.values()), default=0)
            revision = current + 1
            changed = 0
            for r in records:
                old = db.directory.get(r.code)
                fields = (r.name, r.parent, r.code102, r.old_code)
                if old is not None and (old.name, old.parent, old.code102, old.old_code) == fields:
                    continue
                db.directory[r.code] = replace(r, revision=revision, updated_at=when)
                changed += 1
            return (revision if changed else current), changed

    # -- VXP facade systems --------------------------------------------------------------------

    async def create_vxp_system(self, system: VxpSystem) -> VxpSystem | None:
        """Insert unless the id exists, under the backing's lock; ``None``: it exists."""
        async with self._conn.tx() as db:
            if system.system_id in db.vxp:
                return None
            stored = replace(
                system,
                agencies=tuple(system.agencies),
                version=1,
                changed_at=utc(system.changed_at or db.now()),
            )
            db.vxp[system.system_id] = stored
            return stored

    async def set_vxp_secret(
        self,
        system_id: str,
        *,
        secret: bytes | None,
        secret_file: str | None,
        changed_at: datetime,
        reason: str | None,
    ) -> VxpSystem | None:
        """The secret's fields of the stored record, under the backing's lock."""
        return await self._change_vxp(
            system_id, changed_at, reason, secret=secret, secret_file=secret_file
        )

    async def set_vxp_enabled(
        self, system_id: str, enabled: bool, *, changed_at: datetime, reason: str | None
    ) -> VxpSystem | None:
        """``enabled`` of the stored record, under the backing's lock."""
        return await self._change_vxp(system_id, changed_at, reason, enabled=enabled)

    async def _change_vxp(
        self, system_id: str, changed_at: datetime, reason: str | None, **fields: Any
    ) -> VxpSystem | None:
        # Only the named fields change, as the SQL backends' one-column UPDATEs do.
        async with self._conn.tx() as db:
            old = db.vxp.get(system_id)
            if old is None:
                return None
            db.vxp[system_id] = stored = replace(
                old, **fields, version=old.version + 1, changed_at=utc(changed_at), reason=reason
            )
            return stored

    async def get_vxp_system(self, system_id: str) -> VxpSystem | None:
        """One VXP system, read from the backing on every call."""
        async with self._conn.tx() as db:
            return db.vxp.get(system_id)

    async def vxp_systems(self) -> Sequence[VxpSystem]:
        """Every VXP system, by id."""
        async with self._conn.tx() as db:
            return [db.vxp[k] for k in sorted(db.vxp)]

    # -- facets --------------------------------------------------------------------------------

    def dashboard(self) -> DashboardStore:
        """The dashboard's queries and tables over this store's backing."""
        return MemoryDashboard(self._conn, cipher=self.blob_cipher)

    def lifecycle(self) -> LifecycleStore:
        """Lifecycle state and queries over this store's backing."""
        return MemoryLifecycle(self._conn)

    def audit(self) -> AuditStore:
        """The chained event log, checkpoints, signed acks and purges over this store's
        backing."""
        return MemoryAudit(self._conn, self.chainer)

    def revocation_cache(self) -> RevocationCacheStore:
        """The revocation cache over this store's backing."""
        return MemoryRevocationCache(self._conn)


def _inbox_after(
    db: MemoryBacking, recipient: str, after: int, states: Container[DeliveryState]
) -> Iterator[tuple[DeliveryRow, PackageRow]]:
    """The recipient's deliveries in ``states`` whose ``seq`` is past ``after``, in ``seq``
    order, each with its package (the inbox's walk, as the SQL backends' index seek)."""
    keys = db.by_recipient.get(recipient, [])
    start = bisect.bisect_right(keys, after, key=lambda k: db.deliveries[k].seq)
    for key in keys[start:]:
        delivery = db.deliveries[key]
        if delivery.record.state in states:
            yield delivery, db.packages[key[0]]


def _deliveries_of(db: MemoryBacking, package_id: str) -> list[DeliveryRecord]:
    row = db.packages.get(package_id)
    if row is None:
        return []
    return [db.deliveries[(package_id, r)].record for r in sorted(set(row.record.recipients))]


def _pick(new: T | None, kept: T | None) -> T | None:
    """Last write wins per field: ``None`` keeps what is stored."""
    return kept if new is None else new


def _page(items: list[tuple[int, T]], limit: int) -> Page[T]:
    more = len(items) > limit
    return Page(
        items=tuple(item for _, item in items[:limit]),
        next=encode_cursor(items[limit - 1][0]) if more else None,
    )
