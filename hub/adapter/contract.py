"""The adapter contract: what an agency adapter implements, and what a connector gives it.

An adapter connects one kind of agency system (a provincial one-stop system, the national
public-service portal, an agency database, a document-management system, a file drop) to the
hub. It runs at the agency's edge inside a **connector** (``hub connector --config FILE``),
which holds the agency's key, signs what it sends, verifies what it receives and talks to the
hub over the agency API. The adapter itself never signs, never verifies and never talks to the
hub: it does two separate jobs.

**Translating** (synchronous, pure, no I/O) — native record ↔ package:

* :meth:`Adapter.to_package` turns a :class:`NativeRecord` into the *unsigned* bytes of a
  package (a dossier package or an edXML package). It must be deterministic: the same record
  and request give the same bytes.
* :meth:`Adapter.from_package` turns a verified package into a :class:`NativeRecord`.

Both raise :class:`NativeInvalid` naming the offending field for input they cannot map. A
mapping round-trips: ``from_package(to_package(r)).fields == r.fields`` for every record the
adapter produces, with Vietnamese text byte-exact.

**Transporting** (asynchronous) — talking to the external system:

* :meth:`Adapter.start` / :meth:`Adapter.stop`: the lifecycle (open sessions, pools, files);
* :meth:`Adapter.poll`: what changed in the external system since the cursor;
* :meth:`Adapter.deliver`: apply a native record to the external system, idempotently per
  hub package id (the connector may deliver the same package twice after a crash).

**Optional** — an adapter that defines ``async def sent(self, request: SentRequest)`` (see
:class:`SentHook`) learns the hub's package id and signed receipt for every record it polled,
once the connector verified the receipt. A system that wants to mark its own rows with the
hub's receipt (a transactional outbox) uses it; others leave it out.

Every call takes exactly one frozen input dataclass, so fields can be added to the contract
later without breaking adapters. An adapter package ``adapters/<name>/`` exposes
``create_adapter(config: AdapterConfig) -> Adapter`` (see :data:`AdapterFactory`).

Example, a complete (if tiny) adapter whose external system is a Python list::

    class ListAdapter:
        name = "list"

        def __init__(self, config: AdapterConfig) -> None:
            self.outbox: list[dict[str, str]] = []   # what the system wants to send
            self.applied: dict[str, dict[str, str]] = {}

        async def start(self, request: StartRequest) -> None: ...
        async def stop(self, request: StopRequest) -> None: ...

        async def poll(self, request: PollRequest) -> PollResult:
            start = int(request.cursor or 0)
            rows = self.outbox[start : start + request.limit]
            records = tuple(NativeRecord(key=r["MaHoSo"], version=r["TrangThaiHoSo"],
                                         kind="dossier", fields=r) for r in rows)
            return PollResult(records=records, cursor=str(start + len(rows)))

        def to_package(self, request: ToPackageRequest) -> OutgoingPackage:
            ho_so = mapping.ho_so_from_fields(request.record.fields)  # NativeInvalid if bad
            return OutgoingPackage(data=build_dossier(DossierPackage(...)), kind="dossier")

        def from_package(self, request: FromPackageRequest) -> NativeRecord: ...

        async def deliver(self, request: DeliverRequest) -> DeliverResult:
            first = request.package_id not in self.applied
            self.applied.setdefault(request.package_id, dict(request.record.fields))
            return DeliverResult(applied=first)

    def create_adapter(config: AdapterConfig) -> ListAdapter:
        return ListAdapter(config)

``hub adapter new NAME`` writes such a package with working defaults and its tests.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from hub.dossier.models import DossierPackage
from hub.edxml.models import EdxmlPackage

if TYPE_CHECKING:  # the transport module builds on this one; only its type is needed here
    from hub.adapter.transport import Transport

__all__ = [
    "Adapter",
    "AdapterConfig",
    "AdapterError",
    "AdapterFactory",
    "AuthRefused",
    "DeliverRequest",
    "DeliverResult",
    "ExternalUnavailable",
    "FromPackageRequest",
    "NativeInvalid",
    "NativeRecord",
    "OutgoingPackage",
    "PackageKindName",
    "PackageModel",
    "PollRequest",
    "PollResult",
    "SentHook",
    "SentRequest",
    "StartRequest",
    "StopRequest",
    "ToPackageRequest",
    "sent_hook",
]

PackageKindName = Literal["document", "status", "dossier", "dossier_progress"]
"""The hub's package kinds: edXML documents and statuses, dossiers and dossier progress."""

PackageModel = DossierPackage | EdxmlPackage
"""A package parsed from a verified tree."""


# ---------------------------------------------------------------------------------- errors


class AdapterError(Exception):
    """Base of the errors an adapter raises on purpose."""


class NativeInvalid(AdapterError):
    """Native input (or a package) that cannot be mapped; names the offending field.

    ``field`` is the native field path as the external system names it, e.g. ``"MaTTHC"`` or
    ``"TaiLieuNop[2].TenTepDinhKem"``. The connector keeps the record (nothing is lost), logs
    the field and the reason, and tries again when the record's version changes.
    """

    def __init__(self, field: str, reason: str, *, key: str | None = None) -> None:
        self.field = field
        self.reason = reason
        self.key = key
        where = f" (record {key})" if key else ""
        super().__init__(f"{field}: {reason}{where}")


class ExternalUnavailable(AdapterError):
    """The external system failed transiently (5xx, timeout, refused connection, locked
    database). The connector retries later with backoff; nothing is acknowledged meanwhile."""


class AuthRefused(AdapterError):
    """The external system (or the token endpoint in front of it) refused the connector's own
    credentials: an API key, a password, an OAuth2 client. A configuration problem of this
    connector, not a problem of any record or package: the connector quarantines and rejects
    nothing for it, logs it as a configuration error under :attr:`code`, counts it
    (``misconfigured`` in its cycle report) and leaves the work where it is (records unsent,
    packages in the inbox), trying again every interval until the settings are fixed."""

    code: ClassVar[str] = "adapter.auth_refused"


# ------------------------------------------------------------------------------ data types


@dataclass(frozen=True, slots=True)
class NativeRecord:
    """One record as the external system has it.

    ``key`` is the system's stable identity of the record (a dossier's MaHoSo, a progress
    step's ``MaHoSo/step``); ``version`` changes whenever the content does (a revision number,
    an update time, a content hash): the connector sends each (key, version) once. ``fields``
    is the record in the system's own vocabulary, JSON-like (str, int, bool, None, lists and
    mappings of those; ``bytes`` allowed for file content).
    """

    key: str
    version: str
    kind: PackageKindName
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class OutgoingPackage:
    """The unsigned bytes of a package built from a native record.

    ``recipients`` repeats the package's ``To`` for logs; the hub routes from the signed bytes.
    """

    data: bytes
    kind: PackageKindName
    recipients: tuple[str, ...] = ()


class AdapterSettings(BaseModel):
    """Base of an adapter's settings schema: the keys of ``[adapter.settings]``.

    An adapter declares its settings by exporting a subclass named ``Settings`` from its
    module, beside ``create_adapter`` — one line per key, with its type and default::

        class Settings(AdapterSettings):
            base_url: str
            timeout: float = 10.0

    The connector (and ``hub config check --connector``) validates the table against it
    before the adapter is built: unknown keys and wrong types are refused with the file and
    the key. ``AdapterConfig.settings`` stays the plain mapping, so an adapter without a
    schema keeps working (its settings are then not checked).
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


@dataclass(frozen=True, slots=True)
class AdapterConfig:
    """What a connector hands the adapter's factory.

    ``organ_id`` is the agency the connector acts for; ``settings`` is the adapter's own table
    of the connector's TOML (``[adapter.settings]``), uninterpreted by the connector;
    ``data_dir`` is a directory the adapter may keep state in. ``transport``, when given,
    replaces the real HTTP transport (:func:`hub.adapter.open_transport`): a
    :class:`~hub.adapter.MockTransport` in tests; the connector leaves it ``None``.
    """

    name: str
    organ_id: str
    settings: Mapping[str, Any]
    data_dir: Path
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("hub.adapter"))
    transport: Transport | None = None


@dataclass(frozen=True, slots=True)
class StartRequest:
    """``start``: open connections; ``started_at`` is the connector's clock."""

    started_at: datetime


@dataclass(frozen=True, slots=True)
class StopRequest:
    """``stop``: close everything; ``reason`` for the log (``"shutdown"``, ``"error"``)."""

    reason: str = "shutdown"


@dataclass(frozen=True, slots=True)
class PollRequest:
    """``poll``: records changed after ``cursor`` (``None``: from the beginning), at most
    ``limit`` of them. The cursor is the adapter's own opaque string from a previous
    :class:`PollResult`; the connector stores it only after every returned record was sent."""

    cursor: str | None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class PollResult:
    """What ``poll`` found and the cursor to continue from. ``more`` asks for another poll
    right away (a full page)."""

    records: tuple[NativeRecord, ...]
    cursor: str | None
    more: bool = False


@dataclass(frozen=True, slots=True)
class ToPackageRequest:
    """``to_package``: translate ``record`` into a package sent by ``sender``.

    ``package_id`` and ``created_at`` are chosen by the connector, derived from (sender, key,
    version) and the record, so that translating the same record again gives the same bytes.
    ``default_recipients`` come from the connector's configuration, for systems whose records
    do not name the handling agency.
    """

    record: NativeRecord
    sender: str
    package_id: str
    created_at: datetime
    default_recipients: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FromPackageRequest:
    """``from_package``: translate a package the connector fetched and verified.

    ``model`` was parsed from the verified tree; ``data`` are the exact signed bytes;
    ``package_id`` is the hub's id (the idempotency key of :meth:`Adapter.deliver`).
    """

    package_id: str
    sender: str
    kind: PackageKindName
    model: PackageModel
    data: bytes


@dataclass(frozen=True, slots=True)
class DeliverRequest:
    """``deliver``: apply ``record`` to the external system, at most once per ``package_id``."""

    package_id: str
    sender: str
    record: NativeRecord


@dataclass(frozen=True, slots=True)
class DeliverResult:
    """``applied`` is ``False`` when the package had been applied before (a redelivery).
    ``external_id`` is whatever id the external system gave it, for the log."""

    applied: bool
    external_id: str | None = None


@dataclass(frozen=True, slots=True)
class SentRequest:
    """``sent``: the hub accepted a record the adapter polled, and this is its receipt.

    ``record_key``/``version`` name the record as :meth:`Adapter.poll` returned it;
    ``package_id`` is the **hub's** id of the package (what recipients, traces and operators
    see); ``sender_package_id`` is the id the connector wrote into the package (stable per
    record version); ``receipt`` is the hub's signed receipt, already verified by the connector
    (signature, certificate path to the trust anchors, SHA-256 of the bytes sent);
    ``receipt_sha256`` is the hex SHA-256 of ``receipt``; ``accepted_at`` and ``recipients``
    are what the receipt states. Called at least once per accepted record (again after a crash
    before the adapter returned), so it must be idempotent.
    """

    record_key: str
    version: str
    kind: PackageKindName
    package_id: str
    sender_package_id: str
    receipt: bytes
    receipt_sha256: str
    accepted_at: datetime
    recipients: tuple[str, ...] = ()


# ------------------------------------------------------------------------------- protocol


@runtime_checkable
class Adapter(Protocol):
    """One agency system, seen from the connector. See the module docstring."""

    name: str

    # lifecycle (transport)
    async def start(self, request: StartRequest) -> None:
        """Open connections; raise :class:`ExternalUnavailable` to be retried."""
        ...

    async def stop(self, request: StopRequest) -> None:
        """Close connections; must not raise."""
        ...

    # transport
    async def poll(self, request: PollRequest) -> PollResult:
        """Records changed in the external system since the cursor."""
        ...

    async def deliver(self, request: DeliverRequest) -> DeliverResult:
        """Apply a record; idempotent per ``package_id``. Return only once it is durable
        in the external system: the connector acknowledges the package after this."""
        ...

    # translation (pure)
    def to_package(self, request: ToPackageRequest) -> OutgoingPackage:
        """Native record → unsigned package bytes; :class:`NativeInvalid` for bad input."""
        ...

    def from_package(self, request: FromPackageRequest) -> NativeRecord:
        """Verified package → native record; :class:`NativeInvalid` if it cannot be mapped."""
        ...


@runtime_checkable
class SentHook(Protocol):
    """The optional hook: an adapter with this method learns each record's hub receipt.

    The connector calls it after the hub accepted a record and the receipt verified; an
    :class:`ExternalUnavailable` makes the connector call it again in a later cycle (the
    receipt is kept in its state file meanwhile), any other :class:`AdapterError` is logged
    and not repeated. Adapters without it are unaffected.
    """

    async def sent(self, request: SentRequest) -> None:
        """Record that the hub accepted ``request.record_key``@``request.version``."""
        ...


def sent_hook(adapter: object) -> Callable[[SentRequest], Awaitable[None]] | None:
    """The adapter's ``sent`` hook, or ``None`` when it has none.

    ``isinstance(adapter, SentHook)`` only checks that an attribute named ``sent`` exists; an
    adapter may well have a ``sent`` *folder* (``filedrop`` does), so the hook counts only if
    it is a coroutine function.
    """
    hook = getattr(adapter, "sent", None)
    return hook if inspect.iscoroutinefunction(hook) else None


AdapterFactory = Callable[[AdapterConfig], Adapter]
"""``adapters.<name>.create_adapter``: builds the adapter from the connector's configuration."""
