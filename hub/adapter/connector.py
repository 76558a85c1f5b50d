"""The connector: runs one adapter at an agency's edge (``hub connector --config FILE``).

Outbound: ``adapter.poll()`` → for each native (key, version) not sent before:
``adapter.to_package()`` → sign with the agency's key → keep the signed bytes in the state
file → submit over the agency API, retrying 5xx and connection errors with backoff and the
*identical* bytes (the hub de-duplicates them and answers with the same receipt) → verify the
hub's receipt (its signature under the strict profile, the receipt certificate's path to the
configured anchors, and that it states this agency, this package id and the SHA-256 of the
bytes sent) → only then mark the record sent, keep the receipt, and hand it to the adapter's
optional ``sent`` hook. The poll cursor advances only when every record before it is accepted,
refused (kept with the hub's code) or rejected by the mapping (kept with the field that
failed). A receipt that does not verify stops the outbound cycle: the record stays "signed"
and is re-submitted (same bytes) next cycle, so nothing is marked sent on an unproven receipt.

Inbound: the hub inbox in batches with their exact bytes (``GET /v1/inbox/packages``, each
cycle walking on with the batch cursor from where the last one stopped, and every
:data:`FULL_WALK_CYCLES` cycles from the oldest waiting package) → verify the signature
under the strict profile and the certificate path to the configured trust anchors → models
from the verified tree → ``adapter.from_package()`` → ``adapter.deliver()`` → remember → ack
the batch's delivered packages in one request (unsigned acks). A package that fails
verification or mapping (a coded refusal: XML, signature, schema, ``NativeInvalid``, the
models' ``InvalidOrganId``/``InvalidDocumentId``; any other exception is a failure of the
cycle, not the package's), or that the external system refuses (``NativeInvalid`` or another
``AdapterError`` from ``deliver``), is quarantined (never acked, kept for an operator): the
cursor walks past it, so quarantined packages never hold back the ones after them, and they
are not downloaded again every cycle: only the walks from the oldest meet them again. A
transient failure of the external system (``ExternalUnavailable``) leaves the package in the
inbox for the next cycle. So does the external system refusing this connector's credentials
(``AuthRefused``, in ``poll``, ``deliver`` or the ``sent`` hook): a configuration problem,
logged with its code and counted ``misconfigured``, never a quarantine, a rejected record or
a crash; the work waits until the settings are fixed. No error of one package or one cycle
ends the connector's loop.

The hub never sees the agency's private key: only this process reads it.

Configuration (TOML)::

    organ_id = "000.00.00.H29"
    hub_url = "http://127.0.0.1:8080"
    token_file = "pki/agencies/000.00.00.H29/token"
    key_file = "pki/agencies/000.00.00.H29/key.pem"
    cert_file = "pki/agencies/000.00.00.H29/cert.pem"
    trust_anchors = ["pki/ca.pem"]
    data_dir = "connector-data"
    default_recipients = ["000.00.00.H41"]   # optional
    poll_interval = 5.0                      # seconds between outbound polls
    inbox_interval = 5.0                     # seconds between inbox checks
    receipt_trust_anchors = ["pki/ca.pem"]   # optional; default: trust_anchors
    max_package_bytes = 20971520             # optional: the largest package downloaded
                                             # (the hub's [limits] max_package_bytes)

    [adapter]
    name = "igate"                           # a built-in (adapters.<name>), a module, or
                                             # "module:attr"
    [adapter.settings]                       # the adapter's own settings (its Settings schema)
    base_url = "http://127.0.0.1:8900"

Relative paths are relative to the configuration file. An adapter that is not built in (one
made with ``hub adapter new NAME --dir D``) is imported as the top-level package ``NAME``
from the Python path or from the configuration file's directory or its parent, so the
generated ``config.example.toml`` works where the package was created.
The file is checked against :class:`hub.config_schema.ConnectorToml` and ``[adapter.settings]``
against the adapter's ``Settings`` schema (:class:`hub.adapter.AdapterSettings`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import logging
import sys
import tomllib
from collections.abc import Awaitable, Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import aiohttp
from pydantic import create_model

from hub.adapter.contract import (
    Adapter,
    AdapterConfig,
    AdapterError,
    AdapterFactory,
    AdapterSettings,
    AuthRefused,
    DeliverRequest,
    ExternalUnavailable,
    FromPackageRequest,
    NativeInvalid,
    NativeRecord,
    PackageKindName,
    PollRequest,
    SentRequest,
    StartRequest,
    StopRequest,
    ToPackageRequest,
    sent_hook,
)
from hub.adapter.formats import model_from_verified, sign_outgoing, signature_policy
from hub.adapter.formats import stable_package_id as _stable_id
from hub.adapter.state import ConnectorState
from hub.client import AnswerRefused, HubClient, HubProblem, InboxPackage, Submitted
from hub.config_schema import ConnectorToml
from hub.config_schema import validate as validate_schema
from hub.edxml import InvalidDocumentId, InvalidOrganId
from hub.edxml.schema import element_path
from hub.errors import ConfigError, HubError, SchemaInvalid
from hub.receipts import RECEIPT_POLICY, ReceiptFacts, parse_receipt
from hub.xmlsafe import DEFAULT_MAX_SIZE, parse_xml
from signing import SigningError, TrustStore, verify_enveloped
from signing.pki import PrivateKey, load_certificates, load_private_key

__all__ = [
    "Connector",
    "ConnectorConfig",
    "CycleReport",
    "load_adapter",
    "load_connector_config",
]

log = logging.getLogger("hub.connector")

#: Inbox cycles between two walks from the oldest waiting package; the cycles between go on
#: from the position where the last one stopped. The hub gives ``seq`` in commit order, so
#: nothing new ever lands behind that position; what stays behind it is what this connector
#: set aside (quarantined, never acked) and what someone put back in the inbox, and only
#: these walks download that again (every five minutes at the default 5 s interval).
FULL_WALK_CYCLES = 60


class ConnectorConfigError(ValueError):
    """The connector's TOML is wrong; the message names the key."""


@dataclass(frozen=True, slots=True)
class ConnectorConfig:
    """A parsed connector configuration (see the module docstring)."""

    organ_id: str
    hub_url: str
    token_file: Path
    key_file: Path
    cert_file: Path
    trust_anchors: tuple[Path, ...]
    data_dir: Path
    adapter_name: str
    adapter_settings: Mapping[str, Any] = field(default_factory=dict)
    default_recipients: tuple[str, ...] = ()
    poll_interval: float = 5.0
    inbox_interval: float = 5.0
    batch: int = 100
    submit_attempts: int = 5
    retry_base: float = 0.2
    allow_legacy: bool = False
    receipt_trust_anchors: tuple[Path, ...] = ()  # empty: the same as trust_anchors
    #: where a non-built-in adapter package is looked for (the file's directory, its parent)
    adapter_path: tuple[Path, ...] = ()
    #: the largest package the connector downloads: the hub's ``[limits] max_package_bytes``
    max_package_bytes: int = DEFAULT_MAX_SIZE


def load_connector_config(path: Path) -> ConnectorConfig:
    """Read a connector TOML file; paths relative to it. The file, and ``[adapter.settings]``
    against the adapter's own schema, are checked before anything is built."""
    base = path.resolve().parent
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConnectorConfigError(f"{path}: {exc}") from exc
    try:
        validate_schema(doc, ConnectorToml, path)
    except ConfigError as exc:
        raise ConnectorConfigError(exc.detail) from None
    search = (base, base.parent)
    check_adapter_settings(doc["adapter"]["name"], doc["adapter"].get("settings", {}), path, search)

    def req(name: str) -> Any:
        if name not in doc:
            raise ConnectorConfigError(f"{path}: '{name}' is required")
        return doc[name]

    def p(value: object) -> Path:
        return (base / str(value)).resolve()

    adapter = doc.get("adapter")
    if not isinstance(adapter, dict) or "name" not in adapter:
        raise ConnectorConfigError(f"{path}: [adapter] with name = ... is required")
    return ConnectorConfig(
        organ_id=str(req("organ_id")),
        hub_url=str(req("hub_url")),
        token_file=p(req("token_file")),
        key_file=p(req("key_file")),
        cert_file=p(req("cert_file")),
        trust_anchors=tuple(p(a) for a in req("trust_anchors")),
        data_dir=p(doc.get("data_dir", "connector-data")),
        adapter_name=str(adapter["name"]),
        adapter_settings=dict(adapter.get("settings", {})),
        default_recipients=tuple(str(r) for r in doc.get("default_recipients", ())),
        poll_interval=float(doc.get("poll_interval", 5.0)),
        inbox_interval=float(doc.get("inbox_interval", 5.0)),
        batch=int(doc.get("batch", 100)),
        submit_attempts=int(doc.get("submit_attempts", 5)),
        retry_base=float(doc.get("retry_base", 0.2)),
        allow_legacy=bool(doc.get("allow_legacy", False)),
        receipt_trust_anchors=tuple(p(a) for a in doc.get("receipt_trust_anchors", ())),
        adapter_path=search,
        max_package_bytes=int(doc.get("max_package_bytes", DEFAULT_MAX_SIZE)),
    )


def _adapter_module(name: str, search: tuple[Path, ...] = ()) -> tuple[Any, str]:
    """The module an ``[adapter] name`` designates, and the factory's attribute name.

    ``igate`` is the built-in ``adapters.igate`` if there is one, else the top-level package
    ``igate``; ``pkg.mod`` and ``pkg.mod:attr`` are imported as they are. ``search``
    directories are appended to the Python path first (a scaffolded package beside the file).
    """
    module_name, _, attr = name.partition(":")
    candidates = [module_name]
    if "." not in module_name:
        candidates.insert(0, f"adapters.{module_name}")
    for directory in search:
        if str(directory) not in sys.path:
            sys.path.append(str(directory))  # after the installed packages: never shadows them
    for candidate in candidates:
        try:
            return importlib.import_module(candidate), attr or "create_adapter"
        except ModuleNotFoundError as exc:
            # only "this module does not exist" moves on; a missing import inside it is a bug
            if exc.name is None or not candidate.startswith(exc.name):
                raise ConnectorConfigError(f"adapter {name!r}: {exc}") from exc
    where = ", ".join(str(d) for d in search) or "the Python path"
    raise ConnectorConfigError(
        f"[adapter] name {name!r}: no such adapter (built in: dvcqg, filedrop, igate, qlvb, "
        f"sqldb; a package of your own must be importable, looked for in {where})"
    )


def load_adapter(name: str, search: tuple[Path, ...] = ()) -> AdapterFactory:
    """``igate`` → ``adapters.igate.create_adapter``; ``my_oss`` → ``my_oss.create_adapter``
    (a package of your own); ``pkg.mod:attr`` → that callable."""
    module, attr = _adapter_module(name, search)
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConnectorConfigError(f"{module.__name__} has no callable {attr}")
    return cast(AdapterFactory, factory)


def check_adapter_settings(
    name: str, settings: Mapping[str, Any], where: Path, search: tuple[Path, ...] = ()
) -> None:
    """Validate ``[adapter.settings]`` against the adapter's ``Settings`` schema, if it
    declares one (:class:`hub.adapter.AdapterSettings`)."""
    module, _ = _adapter_module(name, search)
    schema = getattr(module, "Settings", None)
    if not (isinstance(schema, type) and issubclass(schema, AdapterSettings)):
        return
    try:
        validate_schema({"adapter": {"settings": dict(settings)}}, _wrap(schema), where)
    except ConfigError as exc:
        raise ConnectorConfigError(exc.detail) from None


def _wrap(schema: type[AdapterSettings]) -> Any:
    """``[adapter] settings`` → the adapter's schema, so messages carry the key path."""
    section = create_model("AdapterSection", __base__=AdapterSettings, settings=(schema, ...))
    return create_model("ConnectorFile", __base__=AdapterSettings, adapter=(section, ...))


@dataclass
class CycleReport:
    """What one cycle did (for logs, tests and ``--once``)."""

    sent: int = 0
    resent: int = 0
    refused: int = 0
    rejected: int = 0
    delivered: int = 0
    redelivered: int = 0
    quarantined: int = 0
    deferred: int = 0  # external system or hub unavailable: left for the next cycle
    receipt_invalid: int = 0  # the hub's answer did not prove acceptance: re-submitted later
    notified: int = 0  # receipts handed to the adapter's sent() hook
    errors: int = 0  # unexpected failures of a whole cycle (logged; the loop goes on)
    #: the external system refused this connector's credentials (``AuthRefused``): its
    #: settings need fixing; nothing was quarantined or rejected, the work waits
    misconfigured: int = 0

    def add(self, other: CycleReport) -> None:
        """Accumulate another report."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


#: Stable codes of the models' validation errors an adapter's mapping may raise while it reads
#: a package's identifiers (``OrganId.parse``, ``DocumentIdParts.parse``).
_MODEL_CODES: dict[type[ValueError], str] = {
    InvalidOrganId: "model.invalid_organ_id",
    InvalidDocumentId: "model.invalid_document_id",
}


def _quarantine_code(exc: Exception) -> str:
    """The code a package is quarantined under: the refusal's own code (signature, schema,
    XML), ``native.invalid: <field>`` for a mapping's refusal (as for ``deliver``'s), or the
    model's validation error's."""
    if isinstance(exc, NativeInvalid):
        return f"native.invalid: {exc.field}"
    if isinstance(exc, SigningError | HubError):
        return str(exc.code)
    return next(code for cls, code in _MODEL_CODES.items() if isinstance(exc, cls))


def _misconfigured(where: str, exc: AuthRefused, report: CycleReport) -> None:
    """Report a refusal of the connector's own credentials: an error for the operator to fix
    in the settings, counted as such, never a crash or a record's or package's fault."""
    log.error("configuration problem (%s) in %s, retrying next interval: %s", exc.code, where, exc)
    report.misconfigured += 1


class _HubDown(Exception):
    """The hub did not answer usefully after every attempt; try again next cycle."""


class ReceiptInvalid(Exception):
    """The hub's receipt does not prove that it accepted exactly what was sent."""


class Connector:
    """One agency's connector; ``async with Connector(config, adapter) as c: await c.run()``."""

    def __init__(
        self,
        config: ConnectorConfig,
        adapter: Adapter,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.adapter = adapter
        self.clock = clock
        key = load_private_key(config.key_file)
        self._key: PrivateKey = key
        self._cert = load_certificates(config.cert_file)[0]
        self._trust = TrustStore([c for a in config.trust_anchors for c in load_certificates(a)])
        receipt_anchors = config.receipt_trust_anchors or config.trust_anchors
        self._receipt_trust = TrustStore([c for a in receipt_anchors for c in load_certificates(a)])
        self.state = ConnectorState(config.data_dir / "connector.db")
        self._client: HubClient | None = None
        #: inbox cycles between two walks from the oldest (:data:`FULL_WALK_CYCLES`)
        self.full_walk_cycles = FULL_WALK_CYCLES
        self._inbox_cycles = 0
        #: where the next inbox cycle goes on from (``None``: the oldest waiting package)
        self._inbox_from: str | None = None

    @classmethod
    def from_config(cls, config: ConnectorConfig) -> Connector:
        """Build the adapter named in the configuration, then the connector."""
        factory = load_adapter(config.adapter_name, config.adapter_path)
        adapter_dir = config.data_dir / "adapter"
        adapter_dir.mkdir(parents=True, exist_ok=True)
        adapter = factory(
            AdapterConfig(
                name=config.adapter_name,
                organ_id=config.organ_id,
                settings=config.adapter_settings,
                data_dir=adapter_dir,
                logger=logging.getLogger(f"hub.adapter.{config.adapter_name}"),
            )
        )
        return cls(config, adapter)

    async def __aenter__(self) -> Connector:
        token = self.config.token_file.read_text().strip()
        self._client = HubClient(
            self.config.hub_url, token, max_package_bytes=self.config.max_package_bytes
        )
        await self._client.__aenter__()
        await self.adapter.start(StartRequest(started_at=self.clock()))
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.adapter.stop(StopRequest(reason="error" if exc[0] else "shutdown"))
        finally:
            if self._client is not None:
                await self._client.__aexit__(None, None, None)
            self.state.close()

    @property
    def client(self) -> HubClient:
        assert self._client is not None, "use 'async with Connector(...)'"
        return self._client

    # -- outbound ------------------------------------------------------------------------------

    async def _submit(self, data: bytes) -> Submitted:
        """Submit, retrying transient failures with the same bytes; the hub's answer."""
        delay = self.config.retry_base
        for attempt in range(1, self.config.submit_attempts + 1):
            try:
                return await self.client.submit(data)
            except HubProblem as exc:
                if exc.status < 500 and exc.status != 429:
                    raise
                reason = str(exc)
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            except AnswerRefused as exc:
                # Not the hub's answer as it sends it (too large, a DTD): whatever sits in
                # between may behave next time; the same bytes again are harmless.
                reason = f"{exc.code}: {exc.detail}"
            log.warning("submit attempt %d failed: %s", attempt, reason)
            if attempt < self.config.submit_attempts:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        raise _HubDown(reason)

    def check_receipt(self, submitted: Submitted, data: bytes) -> ReceiptFacts:
        """The receipt is the hub's (signature, certificate path to the receipt anchors) and
        states this agency, the package id the hub answered with and the SHA-256 and size of
        exactly the bytes sent. :class:`ReceiptInvalid` otherwise."""
        try:
            verified = verify_enveloped(submitted.receipt, RECEIPT_POLICY)
            self._receipt_trust.validate(
                verified.certificate, at=self.clock(), intermediates=verified.intermediates
            )
            facts = parse_receipt(verified.signed_root)
        except (SigningError, ValueError) as exc:
            raise ReceiptInvalid(f"receipt of {submitted.package_id}: {exc}") from exc
        expected = (
            submitted.package_id,
            self.config.organ_id,
            hashlib.sha256(data).hexdigest(),
            len(data),
        )
        stated = (facts.package_id, facts.sender, facts.sha256, facts.size)
        if stated != expected:
            raise ReceiptInvalid(
                f"receipt of {submitted.package_id} states (id, From, sha256, size) "
                f"{stated}, expected {expected}"
            )
        return facts

    async def _send_signed(self, key: str, version: str, data: bytes, report: CycleReport) -> None:
        try:
            submitted = await self._submit(data)
        except HubProblem as exc:
            self.state.record_refused(key, version, exc.code, exc.detail)
            log.error("hub refused %s@%s: %s", key, version, exc)
            report.refused += 1
            return
        try:
            facts = self.check_receipt(submitted, data)
        except ReceiptInvalid as exc:
            # Not marked sent: the same bytes go again next cycle; the hub de-duplicates them.
            log.error("%s@%s stays unsent: %s", key, version, exc)
            report.receipt_invalid += 1
            raise _HubDown(str(exc)) from exc
        self.state.record_accepted(
            key, version, submitted.package_id, submitted.receipt, facts.accepted_at
        )
        if facts.warnings:
            # Accepted, but the hub noted what this system should fix (a legacy signature,
            # an empty element…): the agency's operators read it here, signed on the receipt.
            log.warning(
                "%s@%s accepted as %s with warnings: %s",
                key,
                version,
                submitted.package_id,
                ", ".join(facts.warnings),
            )
        report.sent += 1

    async def notify_sent(self, report: CycleReport) -> None:
        """Hand every kept receipt the adapter has not taken yet to its ``sent`` hook."""
        hook = sent_hook(self.adapter)
        if hook is None:
            return
        for accepted in self.state.unnotified():
            facts = parse_receipt(parse_xml(accepted.receipt))  # verified before it was kept
            request = SentRequest(
                record_key=accepted.key,
                version=accepted.version,
                kind=cast(PackageKindName, facts.kind),
                package_id=accepted.hub_id,
                sender_package_id=accepted.package_id,
                receipt=accepted.receipt,
                receipt_sha256=hashlib.sha256(accepted.receipt).hexdigest(),
                accepted_at=facts.accepted_at,
                recipients=facts.recipients,
            )
            try:
                await hook(request)
            except ExternalUnavailable as exc:
                log.warning("sent() hook unavailable, retrying next cycle: %s", exc)
                report.deferred += 1
                return
            except AuthRefused as exc:  # the receipt is kept for the hook until it is fixed
                _misconfigured("sent() hook", exc, report)
                return
            except AdapterError as exc:
                log.error("sent() hook failed for %s@%s: %s", accepted.key, accepted.version, exc)
                self.state.record_notified(accepted.key, accepted.version, str(exc))
                continue
            self.state.record_notified(accepted.key, accepted.version)
            report.notified += 1

    def _sign(self, record: NativeRecord) -> bytes:
        package_id = _stable_id(self.config.organ_id, record.key, record.version)
        outgoing = self.adapter.to_package(
            ToPackageRequest(
                record=record,
                sender=self.config.organ_id,
                package_id=package_id,
                created_at=self.clock(),
                default_recipients=self.config.default_recipients,
            )
        )
        return sign_outgoing(outgoing.data, self._key, self._cert)

    async def outbound_once(self) -> CycleReport:
        """Re-submit what a previous run signed but could not submit, then poll and send."""
        report = CycleReport()
        try:
            for unsent in self.state.unsent():
                await self._send_signed(unsent.key, unsent.version, unsent.data, report)
                report.resent += 1
                report.sent -= 1
            await self.notify_sent(report)
            while True:
                cursor = self.state.get_cursor()
                try:
                    result = await self.adapter.poll(
                        PollRequest(cursor=cursor, limit=self.config.batch)
                    )
                except ExternalUnavailable as exc:
                    log.warning("poll failed, retrying next cycle: %s", exc)
                    report.deferred += 1
                    return report
                except AuthRefused as exc:
                    _misconfigured("poll", exc, report)
                    return report
                for record in result.records:
                    if self.state.seen(record.key, record.version):
                        continue
                    try:
                        data = self._sign(record)
                    except NativeInvalid as exc:
                        self.state.record_rejected(
                            record.key, record.version, exc.field, exc.reason, dict(record.fields)
                        )
                        log.error("record %s@%s rejected: %s", record.key, record.version, exc)
                        report.rejected += 1
                        continue
                    self.state.record_signed(
                        record.key,
                        record.version,
                        _stable_id(self.config.organ_id, record.key, record.version),
                        data,
                    )
                    await self._send_signed(record.key, record.version, data, report)
                # before the next poll: an adapter that marks rows from its cursor then finds
                # them already marked with the hub's receipt
                await self.notify_sent(report)
                self.state.set_cursor(result.cursor)
                if not result.more:
                    return report
        except _HubDown as exc:
            log.warning("hub unavailable, retrying next cycle: %s", exc)
            report.deferred += 1
            return report

    # -- inbound -------------------------------------------------------------------------------

    def _verify(self, data: bytes) -> Any:
        root = parse_xml(data)
        try:
            policy = signature_policy(str(root.tag), allow_legacy=self.config.allow_legacy)
        except ValueError as exc:  # documented: a root element of no format the hub knows
            raise SchemaInvalid(str(exc), path=element_path(root)) from exc
        verified = verify_enveloped(root, policy)
        self._trust.validate(
            verified.certificate, at=self.clock(), intermediates=verified.intermediates
        )
        return model_from_verified(verified.signed_root)

    async def inbound_once(self) -> CycleReport:
        """Deliver the packages waiting in the agency's inbox to the external system, batch
        after batch, acknowledging each batch's delivered packages at once: from where the
        last cycle stopped, or from the oldest every :attr:`full_walk_cycles` cycles (the
        first included). The position moves past a batch only once its acks went through
        and nothing in it was deferred, so a package left waiting comes again next cycle."""
        report = CycleReport()
        quarantined = self.state.quarantined()
        if self._inbox_cycles % self.full_walk_cycles == 0:
            self._inbox_from = None
        self._inbox_cycles += 1
        cursor = self._inbox_from
        while True:
            try:
                batch = await self.client.fetch_batch(self.config.batch, cursor)
            except (HubProblem, AnswerRefused, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("inbox unavailable, retrying next cycle: %s", exc)
                report.deferred += 1
                return report
            if not batch.items or not await self._inbound_batch(batch.items, quarantined, report):
                return report
            cursor = self._inbox_from = batch.next

    async def _inbound_batch(
        self, items: Sequence[InboxPackage], quarantined: Container[str], report: CycleReport
    ) -> bool:
        """Deliver one batch's packages in order, then ack those delivered (now, or before a
        crash that came between apply and ack) in one request. ``False``: the cycle stops
        here (the external system or the hub is unavailable; counted ``deferred``)."""
        delivered: list[str] = []
        redelivered: list[str] = []
        go_on = True
        for item in items:
            if item.id in quarantined:
                continue
            if self.state.was_delivered(item.id):
                redelivered.append(item.id)  # a crash came between apply and ack
                continue
            try:
                if await self._deliver(item):
                    delivered.append(item.id)
                else:
                    report.quarantined += 1
            except ExternalUnavailable as exc:
                log.warning("external system unavailable, %s stays in the inbox: %s", item.id, exc)
                report.deferred += 1
                go_on = False
                break
            except AuthRefused as exc:  # no package's fault: it stays in the inbox
                _misconfigured(f"deliver of {item.id}", exc, report)
                go_on = False
                break
        if not (delivered or redelivered):
            return go_on
        try:
            answer = await self.client.ack_batch([*redelivered, *delivered])
        except (HubProblem, AnswerRefused, aiohttp.ClientError, TimeoutError) as exc:
            # Each is remembered as delivered: the next cycle acks it (``redelivered``).
            log.warning("hub unavailable for acks, retrying next cycle: %s", exc)
            if go_on:
                report.deferred += 1
            return False
        for refused in answer.get("items", []):
            if refused.get("code"):
                log.warning("ack of %s refused: %s", refused.get("id"), refused["code"])
        report.delivered += len(delivered)
        report.redelivered += len(redelivered)
        return go_on

    async def _deliver(self, item: InboxPackage) -> bool:
        """Verify, map and deliver one package, and remember it delivered; ``False``: it was
        quarantined instead (not delivered, never acked). ``ExternalUnavailable`` and
        ``AuthRefused`` pass: the package stays in the inbox."""
        package_id, data = item.id, item.data
        try:
            parsed = self._verify(data)
            if parsed.sender != item.sender:
                raise NativeInvalid("From", "differs from the hub's record of the sender")
            record = self.adapter.from_package(
                FromPackageRequest(
                    package_id=package_id,
                    sender=parsed.sender,
                    kind=parsed.kind,
                    model=parsed.model,
                    data=data,
                )
            )
        except (SigningError, HubError, NativeInvalid, InvalidOrganId, InvalidDocumentId) as exc:
            # Only the documented refusals of a package: any other exception (a ValueError
            # from a bug in a mapping among them) is a failure of the cycle, and the package
            # stays in the inbox for when it is fixed, instead of being set aside under a
            # Python class name.
            code = _quarantine_code(exc)
            self.state.quarantine(package_id, code, str(exc))
            log.error("package %s quarantined: %s", package_id, exc)
            return False
        try:
            result = await self.adapter.deliver(
                DeliverRequest(package_id=package_id, sender=parsed.sender, record=record)
            )
        except (ExternalUnavailable, AuthRefused):
            raise  # transient, or the connector's configuration: the package stays in the inbox
        except AdapterError as exc:  # the external system refused it (portal 03, 422)
            code = (
                f"native.invalid: {exc.field}"
                if isinstance(exc, NativeInvalid)
                else f"adapter.error: {type(exc).__name__}"
            )
            self.state.quarantine(package_id, code, str(exc))
            log.error("package %s refused by the external system: %s", package_id, exc)
            return False
        self.state.record_delivered(package_id, result.external_id)
        return True

    # -- loop ----------------------------------------------------------------------------------

    async def run_once(self) -> CycleReport:
        """One outbound and one inbound cycle."""
        report = await self.outbound_once()
        report.add(await self.inbound_once())
        return report

    @staticmethod
    async def _guarded(cycle: Callable[[], Awaitable[CycleReport]], name: str) -> CycleReport:
        """One cycle; an unexpected failure (an adapter bug, a disk error) is logged and
        counted, and the loop tries again on the next interval instead of ending."""
        try:
            return await cycle()
        except Exception:
            log.exception("%s cycle failed; retrying next interval", name)
            return CycleReport(errors=1)

    async def run(self, stop: asyncio.Event) -> CycleReport:
        """Cycle until ``stop`` is set; outbound and inbound on their own intervals."""
        total = CycleReport()
        loop = asyncio.get_running_loop()
        next_out = next_in = loop.time()
        while not stop.is_set():
            now = loop.time()
            if now >= next_out:
                total.add(await self._guarded(self.outbound_once, "outbound"))
                next_out = loop.time() + self.config.poll_interval
            if now >= next_in:
                total.add(await self._guarded(self.inbound_once, "inbound"))
                next_in = loop.time() + self.config.inbox_interval
            timeout = max(0.0, min(next_out, next_in) - loop.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):  # not wait_for: it may swallow a cancel
                    await stop.wait()
        return total
