"""The VXP facade's HTTP handlers, mounted under ``[vxp] base_path`` (default ``/vxp``).

Every SDK call is ``POST|GET <endpoint>/<operation>``; ``//operation`` (an endpoint written
with a trailing slash) is accepted too. Every answer, refusals included, is the JSON the SDK
reads (``status``, ``ErrorCode``, ``ErrorDesc`` and the call's fields): the SDK ignores HTTP
status codes and reads a non-JSON answer as an empty success, so nothing here may answer
otherwise. The HTTP status still says what happened, for proxies and operators.

Mapping onto the hub (docs/vxp.md): ``sendEdoc`` is a submission through the Ingestor;
the received list is the inbox; ``getEdoc`` the exact stored bytes; ``updateStatus`` the
delivery's state and ack; the directory calls the registry.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from aiohttp import web

from hub.api.packages import read_body
from hub.directory import vxp_directory
from hub.errors import HubError
from hub.metrics import REFUSED
from hub.models import DeliveryChange, DeliveryState, Event, InboxItem, PackageRecord, VxpSystem
from hub.receipts import format_instant
from hub.runtime import Runtime
from hub.vxp import protocol
from hub.vxp.protocol import ProtocolError, SignedRequest, answer, failure
from hub.vxp.systems import load_secret
from hub.xmlsafe import parse_xml

log = logging.getLogger("hub.vxp")

#: messagetype ↔ the hub's package kinds
KINDS = {"edoc": "document", "status": "status"}
MESSAGE_TYPES = {v: k for k, v in KINDS.items()}
#: updateStatus values the facade knows; anything else is refused ``vxp.status_unknown``
KNOWN_STATUSES = ("processing", "done", "fail")
LIST_LIMIT = 1000


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated system, the enabled agencies it acts for, and the call's signed
    arguments (read-only: what was signed is all a handler may trust)."""

    system: VxpSystem
    agencies: tuple[str, ...]
    args: Mapping[str, str] = field(default_factory=dict)


class Facade:
    """The handlers, over a started :class:`Runtime`."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.settings = runtime.config.settings.vxp
        self.networks = tuple(
            ipaddress.ip_network(n, strict=False) for n in self.settings.allowed_networks
        )
        self._buckets: dict[str, _Bucket] = {}
        self.ops: dict[str, Callable[[web.Request, Caller], Awaitable[web.Response]]] = {
            "sendEdoc": self.send_edoc,
            "getReceivedEdocList": self.received_list,
            "getSentEdocList": self.sent_list,
            "getEdoc": self.get_edoc,
            "downloadEdoc": self.download_edoc,
            "updateStatus": self.update_status,
            "countReceiveEdoc": self.count_edoc,
            "countReceiveStatus": self.count_status,
            "getAgenciesList": self.agencies_list,
            "getAgenciesListQD20": self.agencies_qd20,
            "getSynchronizeUnit": self.synchronize_unit,
            "registerAgency": self.register_agency,
            "deleteAgency": self.delete_agency,
        }

    # -- the one entry point ----------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        """Authenticate, then run the operation; every outcome is SDK JSON."""
        op = request.match_info.get("op", "").strip("/")
        try:
            self._check_network(request)
            handler = self.ops.get(op)
            if handler is None:
                raise ProtocolError("vxp.unknown_operation", f"unknown operation {op!r}")
            caller = await self._authenticate(request)
            self._rate_limit(caller.system.system_id)
            return await handler(request, caller)
        except ProtocolError as exc:
            REFUSED.labels(code=exc.code).inc()
            log.info("vxp refused", extra={"code": exc.code, "path": request.path})
            status = 401 if exc.code == "vxp.auth" else 400
            if exc.code in ("vxp.forbidden", "vxp.network"):
                status = 403
            elif exc.code in ("vxp.not_found", "vxp.unknown_operation"):
                status = 404
            elif exc.code == "vxp.rate_limited":
                status = 429
            return _json(failure(exc.code, exc.detail, **_required(op)), status)
        except HubError as exc:
            REFUSED.labels(code=exc.code).inc()
            log.info("vxp refused", extra={"code": exc.code, "path": request.path})
            return _json(failure(exc.code, exc.detail, **_required(op)), exc.status)
        except Exception:
            # Never a non-JSON 500: the SDK would read it as an empty success.
            log.exception("vxp %s failed", op)
            return _json(failure("hub.error", "internal error; retry later", **_required(op)), 500)

    def _check_network(self, request: web.Request) -> None:
        if not self.networks:
            return
        try:
            remote = ipaddress.ip_address(request.remote or "")
        except ValueError:
            remote = None
        if remote is None or not any(remote in net for net in self.networks):
            raise ProtocolError("vxp.network", f"{request.remote} is not an allowed network")

    async def _authenticate(self, request: web.Request) -> Caller:
        signed: SignedRequest = protocol.parse_signed(request.headers.items())
        system = await self.rt.store.get_vxp_system(signed.system_id)
        # One message for unknown system, disabled system and wrong MAC: nothing to probe.
        refused = ProtocolError("vxp.auth", "unknown system or wrong HMAC")
        if system is None:
            raise refused
        secret = load_secret(system, self.rt.store.blob_cipher, self.rt.config.settings.data_dir)
        if not protocol.verify(signed, secret):
            raise refused
        if not system.enabled:
            raise ProtocolError("vxp.forbidden", f"system {system.system_id} is disabled")
        # Agency changes another process recorded (disable, token, profile) apply here at
        # once, as on /v1 (hub.runtime.FreshOverrides).
        await self.rt.overrides.sync()
        agencies = tuple(a for a in system.agencies if self.rt.registry.is_active(a))
        if not agencies:
            raise ProtocolError("vxp.forbidden", "none of the system's agencies is enabled")
        return Caller(system=system, agencies=agencies, args=MappingProxyType(dict(signed.args)))

    def _rate_limit(self, system_id: str) -> None:
        rate = self.settings.rate_per_minute
        if rate <= 0:
            return
        now = time.monotonic()
        bucket = self._buckets.setdefault(system_id, _Bucket(float(rate), now))
        bucket.tokens = min(float(rate), bucket.tokens + (now - bucket.at) * rate / 60.0)
        bucket.at = now
        if bucket.tokens < 1.0:
            raise ProtocolError("vxp.rate_limited", f"more than {rate} requests per minute")
        bucket.tokens -= 1.0

    # -- documents --------------------------------------------------------------------------

    async def send_edoc(self, request: web.Request, caller: Caller) -> web.Response:
        """A submission through the Ingestor; ``DocId`` is the hub's package id (the same for
        the same bytes sent again: the Ingestor answers a replay with the first acceptance)."""
        limit = self.rt.config.settings.max_package_bytes + 2
        body = await read_body(request, limit)
        data = protocol.strip_sdk_crlf(body)
        expected = caller.args.get("hash-file", "").strip().lower()
        if not expected:
            raise ProtocolError("vxp.hash_file", "sendEdoc needs the SDK's hash-file")
        if expected != protocol.sdk_file_hash(data):
            raise ProtocolError(
                "vxp.hash_file", "hash-file does not match the body (minus the SDK's CRLF)"
            )
        sender = await self._sender(caller, data)
        accepted = await self.rt.ingestor.submit(data, sender)
        return _json(
            answer(
                DocId=accepted.package_id,
                created=accepted.created,
                recipients=list(accepted.recipients),
                warnings=list(accepted.warnings),
            ),
            # 200/201 only: the SDK's HttpURLConnection reads any other 2xx from the error
            # stream, which is then null.
            201 if accepted.created else 200,
        )

    async def _sender(self, caller: Caller, data: bytes) -> str:
        """The agency the system sends for: ``from`` when it names one of them; otherwise
        its only agency; otherwise the package's ``From`` (the Ingestor then checks that the
        caller is the package's From, whatever is chosen here)."""
        claimed = caller.args.get("from", "")
        if claimed in caller.agencies:
            return claimed
        if claimed and claimed != caller.system.system_id:
            raise ProtocolError("vxp.forbidden", f"system may not send for {claimed}")
        if len(caller.agencies) == 1:
            return caller.agencies[0]
        found = await asyncio.to_thread(_package_from, data)
        if found in caller.agencies:
            return found
        raise ProtocolError(
            "vxp.forbidden", f"the package's From {found!r} is not one of the system's agencies"
        )

    async def _inbox(self, caller: Caller, kind: str | None) -> list[InboxItem]:
        items: list[InboxItem] = []
        for agency in caller.agencies:
            cursor: str | None = None
            while len(items) < LIST_LIMIT:
                page = await self.rt.store.inbox(agency, cursor=cursor, limit=LIST_LIMIT)
                items.extend(i for i in page.items if (kind is None or str(i.package.kind) == kind))
                if page.next is None:
                    break
                cursor = page.next
        items.sort(key=lambda i: i.package.accepted_at)
        return items[:LIST_LIMIT]

    def _kind(self, caller: Caller) -> str | None:
        messagetype = caller.args.get("messagetype", "").lower()
        return KINDS.get(messagetype)

    async def received_list(self, request: web.Request, caller: Caller) -> web.Response:
        """The inbox of the system's agencies: available or fetched, not yet ``done``.
        Filter: ``messagetype`` (edoc | status). Stale keys (status, docId, to, …) ignored."""
        items = await self._inbox(caller, self._kind(caller))
        data = [
            {
                "docId": receiver_doc_id(i.package.id, i.delivery.recipient),
                "serviceType": "eDoc",
                "messageType": MESSAGE_TYPES.get(str(i.package.kind), str(i.package.kind)),
                "created_time": format_instant(i.package.accepted_at),
                "updated_time": format_instant(i.delivery.updated_at),
                "from": i.package.sender,
                "to": i.delivery.recipient,
                "status": _vxp_state(i.delivery.state),
                "status_desc": str(i.delivery.state),
            }
            for i in items
        ]
        return _json(answer(data=data))

    async def _count(self, caller: Caller, kind: str) -> web.Response:
        return _json(answer(count=len(await self._inbox(caller, kind))))

    async def count_edoc(self, request: web.Request, caller: Caller) -> web.Response:
        """Documents waiting in the system's agencies' inboxes."""
        return await self._count(caller, "document")

    async def count_status(self, request: web.Request, caller: Caller) -> web.Response:
        """Status packages waiting in the system's agencies' inboxes."""
        return await self._count(caller, "status")

    async def sent_list(self, request: web.Request, caller: Caller) -> web.Response:
        """The outbox of the system's agencies, one entry per (package, recipient). ``docId``
        filters only when it names a package the system sent (it is often stale)."""
        store = self.rt.store
        only = caller.args.get("docId", "").partition(".")[0]
        kind = self._kind(caller)
        data: list[dict[str, Any]] = []
        for agency in caller.agencies:
            cursor: str | None = None
            while len(data) < LIST_LIMIT:
                page = await store.outbox(agency, cursor=cursor, limit=LIST_LIMIT)
                for record, deliveries in page.items:
                    if kind is not None and str(record.kind) != kind:
                        continue
                    for d in deliveries:
                        data.append(
                            {
                                "serviceType": "eDoc",
                                "messageType": MESSAGE_TYPES.get(str(record.kind), ""),
                                "senderDocId": record.id,
                                "receiverDocId": receiver_doc_id(record.id, d.recipient),
                                "fromCode": record.sender,
                                "toCode": d.recipient,
                                "notation": record.document_id or "",
                                "sentTime": format_instant(record.accepted_at),
                                "sendStatus": "sent",
                                "sendStatusDesc": "accepted by the hub",
                                "receiveStatus": _vxp_state(d.state),
                                "receiveStatusDesc": d.last_error or str(d.state),
                                "receivedTime": format_instant(d.acked_at) if d.acked_at else "",
                            }
                        )
                if page.next is None:
                    break
                cursor = page.next
        if only and any(e["senderDocId"] == only for e in data):
            data = [e for e in data if e["senderDocId"] == only]
        return _json(answer(data=data[:LIST_LIMIT]))

    async def _visible(self, caller: Caller) -> tuple[PackageRecord, str | None]:
        """The package a ``docId`` names, if one of the system's agencies sent or receives
        it, with that recipient (``None``: the system is the sender). Else ``vxp.not_found``
        (never "forbidden": others must not learn that a document exists)."""
        doc_id = caller.args.get("docId", "")
        package_id, _, organ = doc_id.partition(".")
        record = await self.rt.store.get_package(package_id) if package_id else None
        if record is not None:
            mine = [r for r in record.recipients if r in caller.agencies]
            if organ:
                if organ in mine:
                    return record, organ
            elif len(mine) == 1:
                return record, mine[0]
            elif not mine and record.sender in caller.agencies:
                return record, None
            elif mine:
                raise ProtocolError(
                    "vxp.docid",
                    "the system receives this document for several agencies: "
                    "use the docId from getReceivedEdocList",
                )
        raise ProtocolError("vxp.not_found", f"no document {doc_id!r} for this system")

    async def _bytes(self, caller: Caller) -> tuple[PackageRecord, bytes]:
        record, recipient = await self._visible(caller)
        # The bytes and the recipient's delivery in one read.
        fetched = await self.rt.store.fetch_package(record.id, recipient)
        data = None if fetched is None else fetched.data
        if fetched is None or not data:
            raise ProtocolError("vxp.not_found", f"the bytes of {record.id} were purged")
        delivery = fetched.delivery
        if delivery is not None and delivery.state == DeliveryState.AVAILABLE:
            # Not awaited, as GET /v1/packages/{id} (docs/store-and-broker.md): the status
            # update that follows settles the delivery; a crash leaves it offered again.
            self.rt.settler.settle_soon(
                DeliveryChange(
                    record.id,
                    delivery.recipient,
                    DeliveryState.DELIVERED,
                    detail=self._via(caller),
                    only_from=frozenset({DeliveryState.AVAILABLE}),
                )
            )
        return record, data

    def _via(self, caller: Caller, **more: object) -> dict[str, object]:
        return {"via": "vxp", "system": caller.system.system_id, **more}

    async def get_edoc(self, request: web.Request, caller: Caller) -> web.Response:
        """The exact stored bytes, base64 (the SDK writes them to ``filePath`` itself)."""
        _, data = await self._bytes(caller)
        return _json(answer(data=base64.b64encode(data).decode("ascii")))

    async def download_edoc(self, request: web.Request, caller: Caller) -> web.Response:
        """The exact stored bytes as the body (the SDK streams them into its file). The
        unauthenticated ``downloadEdoc2`` never gets here: it carries no HMAC headers."""
        record, data = await self._bytes(caller)
        return web.Response(
            body=data,
            content_type="application/octet-stream",
            headers={"Hub-Package-Id": record.id, "ETag": f'"{record.sha256}"'},
        )

    async def update_status(self, request: web.Request, caller: Caller) -> web.Response:
        """``processing`` → delivered, ``done`` → acked (counted once; leaves the received
        list), ``fail`` → failed with the reason on the trace. Repeats are harmless."""
        status = caller.args.get("status", "").strip().lower()
        if status not in KNOWN_STATUSES:
            raise ProtocolError(
                "vxp.status_unknown",
                f"updateStatus {status!r} is not known (processing, done, fail); business "
                "statuses travel as edXML status packages: sendEdoc with messagetype status",
            )
        record, recipient = await self._visible(caller)
        if recipient is None:
            raise ProtocolError("vxp.not_found", "only a recipient updates a document's status")
        if status == "done":
            change = DeliveryChange(record.id, recipient, DeliveryState.ACKED, at=self.rt.clock())
        else:
            target = DeliveryState.DELIVERED if status == "processing" else DeliveryState.FAILED
            change = DeliveryChange(
                record.id,
                recipient,
                target,
                error="the recipient reported fail (VXP updateStatus)"
                if status == "fail"
                else None,
                detail=self._via(caller, updateStatus=status),
                # A repeat of the same status moves nothing and writes no event.
                only_from=frozenset(DeliveryState) - {target, DeliveryState.ACKED},
            )
        await self.rt.settler.settle(change)
        return _json(answer())

    # -- directory --------------------------------------------------------------------------

    async def _directory(self, call: str, caller: Caller) -> web.Response:
        """The directory calls read the same entries as ``GET /v1/agencies``
        (:mod:`hub.directory`): connected agencies and imported directory entries, with
        their QĐ 20 codes, names and parents (the mapping is in docs/directory.md)."""
        level = caller.args.get("level", "") if call == "getAgenciesListQD20" else ""
        return _json(answer(data=await vxp_directory(self.rt.directory, call, level=level)))

    async def agencies_list(self, request: web.Request, caller: Caller) -> web.Response:
        """``getAgenciesList``: ``code``/``id`` = OrganId, ``pid`` = parent code."""
        return await self._directory("getAgenciesList", caller)

    async def agencies_qd20(self, request: web.Request, caller: Caller) -> web.Response:
        """``getAgenciesListQD20``: ``code102`` beside the OrganId; ``level`` filters."""
        return await self._directory("getAgenciesListQD20", caller)

    async def synchronize_unit(self, request: web.Request, caller: Caller) -> web.Response:
        """``getSynchronizeUnit``: the same entries in the synchronisation shape."""
        return await self._directory("getSynchronizeUnit", caller)

    async def register_agency(self, request: web.Request, caller: Caller) -> web.Response:
        """Agencies are configuration (agencies.toml): refused unless an operator enabled
        ``[vxp] self_registration``, and then only recorded for an operator to act on."""
        if not self.settings.self_registration:
            raise ProtocolError(
                "vxp.registration_disabled",
                "agencies are registered by the hub's operators (agencies.toml), not by systems",
            )
        body = await read_body(request, 64 * 1024)
        await self.rt.store.append_event(
            Event(
                package_id=None,
                kind="vxp_register_request",
                at=self.rt.clock(),
                detail=self._via(caller, data=body.decode("utf-8", "replace")),
            )
        )
        return _json(answer(ErrorDesc="recorded for the hub's operators; not registered yet"))

    async def delete_agency(self, request: web.Request, caller: Caller) -> web.Response:
        """As registerAgency: agencies are configuration."""
        if not self.settings.self_registration:
            raise ProtocolError(
                "vxp.registration_disabled",
                "agencies are removed by the hub's operators (agencies.toml), not by systems",
            )
        await self.rt.store.append_event(
            Event(
                package_id=None,
                kind="vxp_delete_request",
                at=self.rt.clock(),
                detail=self._via(caller, agency=caller.args.get("AgencyCode", "")),
            )
        )
        return _json(answer(ErrorDesc="recorded for the hub's operators; not deleted yet"))


def receiver_doc_id(package_id: str, recipient: str) -> str:
    """A recipient's docId: the package id and the recipient's OrganId (one system may
    receive the same package for several of its agencies, each with its own state)."""
    return f"{package_id}.{recipient}"


def _vxp_state(state: DeliveryState | str) -> str:
    return {
        "available": "pending",
        "delivered": "processing",
        "acked": "done",
        "failed": "fail",
    }.get(str(state), str(state))


def _required(op: str) -> dict[str, Any]:
    # sendEdoc's result needs DocId even on failure, else the SDK returns null.
    return {"DocId": ""} if op == "sendEdoc" else {}


def _package_from(data: bytes) -> str:
    try:
        root = parse_xml(data, max_size=len(data))
    except HubError:
        return ""
    found = root.find(".//{*}From/{*}OrganId")
    return (found.text or "").strip() if found is not None else ""


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(body, ensure_ascii=False),
        status=status,
        content_type="application/json",
        charset="utf-8",
    )


def install(app: web.Application, runtime: Runtime) -> None:
    """Mount the facade under ``[vxp] base_path`` (nothing when ``[vxp] enabled = false``)."""
    settings = runtime.config.settings.vxp
    if not settings.enabled:
        return
    facade = Facade(runtime)
    app.router.add_route("*", settings.base_path + "/{op:.*}", facade.handle)
