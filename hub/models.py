"""Frozen records that cross the hub's seams (store, broker, API).

These are the hub's own bookkeeping, independent of any package format: the edXML models live
in :mod:`hub.edxml.models`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")


class PackageKind(enum.StrEnum):
    """What a package is, decided from the verified tree."""

    DOCUMENT = "document"
    STATUS = "status"
    DOSSIER = "dossier"  # a dossier record (schemas/dossier), issue 4
    DOSSIER_PROGRESS = "dossier_progress"  # a progress step of a dossier


class DeliveryState(enum.StrEnum):
    """The life of one (package, recipient) pair.

    ``pending``   committed with its package, queue entry not yet confirmed by the broker;
    ``queued``    the broker confirmed the queue entry;
    ``available`` in the recipient's pull inbox (pull agencies);
    ``delivered`` pushed and answered 2xx (push agencies) or fetched by the recipient;
    ``acked``     the recipient acknowledged it (terminal, happens once);
    ``failed``    the last push attempt failed, a retry is scheduled;
    ``dead``      attempts exhausted, dead-lettered (an operator may re-send).
    """

    PENDING = "pending"
    QUEUED = "queued"
    AVAILABLE = "available"
    DELIVERED = "delivered"
    ACKED = "acked"
    FAILED = "failed"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class NewPackage:
    """Everything the store records when a package is accepted (one row plus its deliveries)."""

    id: str
    sha256: str
    sender: str  # the From OrganId
    kind: PackageKind
    document_id: str | None  # DocumentId (documents) or ResponseFor/DocumentId (statuses)
    business_doc_type: int | None  # BussinessDocType (0 new, 1 revocation, 2 update, 3 replacement)
    status_code: str | None  # StatusCode of a status package
    recipients: tuple[str, ...]
    accepted_at: datetime  # timezone-aware UTC
    signer_fingerprint: str | None  # SHA-256 hex of the signing certificate; None: unsigned
    signer_subject: str
    data: bytes  # the exact bytes received; never re-serialised
    receipt: bytes  # the signed receipt, returned for identical re-submissions
    warnings: tuple[str, ...] = ()
    #: recipient → the unregistered sub-unit codes its delivery stands for (hub/routing.py)
    stands_for: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    subject: str | None = None  # Subject (TrichYeu) as sent, for display and search


@dataclass(frozen=True, slots=True)
class PackageRecord:
    """A stored package without its bytes (listings, look-ups)."""

    id: str
    sha256: str
    sender: str
    kind: PackageKind
    document_id: str | None
    business_doc_type: int | None
    status_code: str | None
    recipients: tuple[str, ...]
    accepted_at: datetime
    size: int
    signer_fingerprint: str | None  # None: accepted unsigned (envelope_signature optional)
    signer_subject: str
    warnings: tuple[str, ...] = ()
    subject: str | None = None  # Subject as sent; None if absent, or encrypted at rest


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """The state of one (package, recipient) pair."""

    package_id: str
    recipient: str
    state: DeliveryState
    attempts: int
    updated_at: datetime
    last_error: str | None = None
    acked_at: datetime | None = None
    #: the original (sub-unit) codes this recipient receives the package for; ``()``: only
    #: in its own name (hub/routing.py)
    stands_for: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One line of a recipient's inbox."""

    package: PackageRecord
    delivery: DeliveryRecord


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """A page of a listing; ``next`` is an opaque cursor, ``None`` on the last page."""

    items: tuple[T, ...]
    next: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the append-only event log (the trace of a package)."""

    package_id: str | None
    kind: str  # accepted, queued, available, delivered, acked, failed, dead, status, refused, …
    at: datetime
    recipient: str | None = None
    attempt: int | None = None
    detail: dict[str, object] = field(default_factory=dict)
    seq: int = 0  # assigned by the store


@dataclass(frozen=True, slots=True)
class AgencyOverride:
    """A runtime change to an agency, recorded in the store so it survives restarts."""

    organ_id: str
    enabled: bool | None = None  # None: as in agencies.toml
    token_sha256: tuple[str, ...] | None = None  # replaces the configured token hashes
    changed_at: datetime | None = None
    reason: str | None = None
    signature_profile: str | None = None  # strict | legacy; None: as in agencies.toml


@dataclass(frozen=True, slots=True)
class DirectoryRecord:
    """A directory entry as stored (issue 11, ``docs/directory.md``): an agency known by
    code and name but not connected through this hub. Importing one never connects it.

    ``code``: the OrganId (the key); ``name`` in NFC; ``parent``: the OrganId of the body it
    belongs to (an ancestor of ``code``), ``None`` at level 1; ``code102`` and ``old_code``:
    the codes other systems know it by (QCVN 102 exports, pre-Decision-20 codes), if any.
    ``revision``: the import that last changed it (set by the store); ``updated_at``: when.
    """

    code: str
    name: str
    parent: str | None = None
    code102: str | None = None
    old_code: str | None = None
    revision: int = 0
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class VxpSystem:
    """A document system connected through the VXP facade (issue 11): its ``systemid``, the
    agencies it may act for, and where its HMAC secret is kept.

    The secret cannot be hashed (the SDK's HMAC needs it): ``secret`` holds it sealed with the
    storage key (:mod:`hub.storage_crypto`) when one is configured, otherwise ``secret_file``
    names a file only the hub's user can read. ``version`` grows on every change.
    """

    system_id: str
    agencies: tuple[str, ...]
    enabled: bool = True
    secret: bytes | None = None
    secret_file: str | None = None
    version: int = 1
    changed_at: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryChange:
    """One move of a delivery, for :meth:`hub.store.Store.settle` (which commits a group of
    them in one transaction).

    ``state`` ``acked`` is an acknowledgement: ``acked_at = at``, counted once (the outcome's
    ``changed`` is the ``first`` flag of :meth:`~hub.store.Store.ack`). Any other state is a
    move as :meth:`~hub.store.Store.set_delivery_state` makes it: ``attempts``/``error`` of
    ``None`` keep the stored values. Either way an ``acked`` delivery never moves (acked is
    terminal), and with ``only_from`` the delivery moves only from one of those states (a
    fetch marks ``delivered`` only what is ``available``). A move writes one event (kind =
    the state's value, ``detail`` plus ``error`` and the sub-units the delivery stands for);
    a change that moves nothing writes nothing.
    """

    package_id: str
    recipient: str
    state: DeliveryState
    #: when it happened (an ack's ``acked_at``, the event's time); ``None``: the store's clock
    at: datetime | None = None
    attempts: int | None = None
    error: str | None = None
    detail: Mapping[str, object] = field(default_factory=dict)
    only_from: frozenset[DeliveryState] | None = None

    def __post_init__(self) -> None:
        # Refused here, not inside a store's transaction: one bad change must not abort a
        # whole group of others.
        if self.at is not None and (self.at.tzinfo is None or self.at.utcoffset() is None):
            raise ValueError(f"naive datetime {self.at!r}: a change takes an aware time")


@dataclass(frozen=True, slots=True)
class Settled:
    """What :meth:`hub.store.Store.settle` did with one :class:`DeliveryChange`."""

    #: the delivery after this change (``None``: there is no such delivery)
    record: DeliveryRecord | None
    #: this change moved the delivery and wrote its event (for an ack: this was the first)
    changed: bool


@dataclass(frozen=True, slots=True)
class FetchedPackage:
    """A package as a recipient fetches it (:meth:`hub.store.Store.fetch_package`): the
    record, the exact bytes (``None`` if none are stored) and the asking recipient's
    delivery (``None`` if it is not one)."""

    record: PackageRecord
    data: bytes | None
    delivery: DeliveryRecord | None


@dataclass(frozen=True, slots=True)
class FetchedBatch:
    """Waiting packages as a recipient takes them in one read
    (:meth:`hub.store.Store.inbox_packages`), in inbox order."""

    items: tuple[FetchedPackage, ...]
    #: the position of the last item, an inbox cursor (:mod:`hub.store.cursors`): passed
    #: back, the next read starts strictly after it; ``None`` when there are no items
    next: str | None = None
