"""The iGate adapter: a provincial one-stop system's JSON REST API ↔ dossier packages.

Outbound, the change feed (``GET /api/v1/changes``) gives new and updated dossiers and
progress steps; each becomes a signed dossier package (``dossier`` or ``dossier_progress``).
Inbound, dossiers and progress steps from the hub are pushed into iGate with the hub's package
id as ``Idempotency-Key``, so a redelivery (or a retry after a lost reply) is applied once.

Settings (``[adapter.settings]``): ``base_url``, ``api_key`` (or ``api_key_file``),
``timeout`` (seconds, default 10), ``attempts`` (per call, default 3), ``retry_delay``, and the
LGSP options of :mod:`hub.adapter.transport` (HTTP goes through
:func:`hub.adapter.open_transport`).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from adapters.igate import mapping
from hub.adapter import (
    AdapterConfig,
    AuthRefused,
    DeliverRequest,
    DeliverResult,
    ExternalUnavailable,
    FromPackageRequest,
    HttpRequest,
    NativeInvalid,
    NativeRecord,
    OutgoingPackage,
    PollRequest,
    PollResult,
    StartRequest,
    StopRequest,
    ToPackageRequest,
    Transport,
    TransportSettings,
    open_transport,
)
from hub.dossier import DossierHeader, DossierPackage, build_dossier, format_dvc_time

__all__ = ["IgateAdapter", "create_adapter"]


class Settings(TransportSettings):
    """``[adapter.settings]`` of an iGate connector."""

    base_url: str
    api_key: str | None = None  # or api_key_file
    api_key_file: str | None = None
    timeout: float = 10.0
    attempts: int = 3
    retry_delay: float = 0.2


class IgateAdapter:
    """The :class:`hub.adapter.Adapter` for iGate."""

    name = "igate"

    def __init__(self, config: AdapterConfig) -> None:
        settings = config.settings
        if "base_url" not in settings:
            raise ValueError("igate: settings.base_url is required")
        key = settings.get("api_key")
        if key is None and "api_key_file" in settings:
            key = Path(str(settings["api_key_file"])).read_text().strip()
        if not key:
            raise ValueError("igate: settings.api_key or api_key_file is required")
        self.config = config
        self.base_url = str(settings["base_url"]).rstrip("/")
        self._headers = {"X-API-Key": str(key)}
        self.timeout = float(settings.get("timeout", 10.0))
        self.attempts = int(settings.get("attempts", 3))
        self.retry_delay = float(settings.get("retry_delay", 0.2))
        self._session: Transport | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, request: StartRequest) -> None:
        """Open the HTTP transport (:func:`hub.adapter.open_transport`: LGSP options apply)."""
        if self._session is None:
            self._session = open_transport(self.config)

    async def stop(self, request: StopRequest) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.aclose()
            self._session = None

    # -- transport -----------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """One call with retries of 5xx, timeouts and refused connections (same request, same
        Idempotency-Key). 401 is a configuration error, never retried."""
        assert self._session is not None, "start() first"
        url = self.base_url + path + ("?" + urlencode(params) if params else "")
        all_headers = {
            "Content-Type": "application/json; charset=utf-8",
            **self._headers,
            **(headers or {}),
        }
        data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        request = HttpRequest(method, url, all_headers, data, timeout=self.timeout)
        reason = ""
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1))
            try:
                resp = await self._session.send(request)
                payload: dict[str, Any] = (resp.json() if resp.body else None) or {}
            except (ExternalUnavailable, ValueError) as exc:  # ConnectFailed, NoAnswer, not JSON
                reason = f"{type(exc).__name__}: {exc}"
                continue
            if resp.status >= 500:
                reason = f"iGate answered {resp.status}: {payload.get('error', '')}"
                continue
            if resp.status == 401:  # this connector's key, not the record: configuration
                raise AuthRefused("iGate refused the API key (401): check api_key")
            return resp.status, payload
        raise ExternalUnavailable(f"{method} {path}: {reason}")

    async def poll(self, request: PollRequest) -> PollResult:
        """New and changed dossiers and progress steps after the cursor (a feed sequence)."""
        status, body = await self._call(
            "GET",
            "/api/v1/changes",
            params={"after": request.cursor or "0", "limit": str(request.limit)},
        )
        if status != 200:
            raise ExternalUnavailable(f"changes feed answered {status}: {body}")
        records = []
        for item in body["items"]:
            record = item["record"]
            if item["type"] == "dossier":
                records.append(
                    NativeRecord(
                        key=str(record.get("code", f"seq-{item['seq']}")),
                        version=f"r{item['revision']}",
                        kind="dossier",
                        fields=record,
                    )
                )
            else:
                records.append(
                    NativeRecord(
                        key=f"{record.get('dossierCode')}#p{item['revision']}",
                        version="1",
                        kind="dossier_progress",
                        fields=record,
                    )
                )
        return PollResult(
            records=tuple(records),
            cursor=str(body["last"]),
            more=len(records) >= request.limit,
        )

    async def deliver(self, request: DeliverRequest) -> DeliverResult:
        """Push a dossier or progress step into iGate, once per hub package id."""
        fields = dict(request.record.fields)
        headers = {"Idempotency-Key": request.package_id}
        if request.record.kind == "dossier":
            path = f"/api/v1/inbound/dossiers/{fields['code']}"
            status, body = await self._call("PUT", path, body=fields, headers=headers)
        else:
            path = "/api/v1/inbound/progress"
            status, body = await self._call("POST", path, body=fields, headers=headers)
        if status in (404, 422):
            raise NativeInvalid(str(body.get("field", "record")), str(body))
        if status >= 300:
            raise ExternalUnavailable(f"{path} answered {status}: {body}")
        return DeliverResult(
            applied=not body.get("duplicate", False),
            external_id=str(body.get("id", body.get("revision", ""))),
        )

    # -- translation ---------------------------------------------------------------------------

    def to_package(self, request: ToPackageRequest) -> OutgoingPackage:
        """An iGate record → an unsigned dossier package."""
        record = request.record
        to = mapping.recipients_from_native(record.fields) or request.default_recipients
        header = DossierHeader(
            package_id=request.package_id,
            from_=request.sender,
            to=to,
            kind="dossier" if record.kind == "dossier" else "dossier_progress",
            created_at=format_dvc_time(request.created_at),
        )
        if record.kind == "dossier":
            package = DossierPackage(header=header, ho_so=mapping.ho_so_from_native(record.fields))
        elif record.kind == "dossier_progress":
            package = DossierPackage(
                header=header, tien_do=mapping.tien_do_from_native(record.fields)
            )
        else:
            raise NativeInvalid("type", f"iGate sends dossiers and progress, not {record.kind}")
        try:
            data = build_dossier(package)
        except ValueError as exc:  # what only the XSD knows (patterns): name its element
            raise NativeInvalid("record", str(exc), key=record.key) from None
        return OutgoingPackage(data=data, kind=package.kind, recipients=to)

    def from_package(self, request: FromPackageRequest) -> NativeRecord:
        """A verified dossier package → an iGate record."""
        model = request.model
        if not isinstance(model, DossierPackage):
            raise NativeInvalid("kind", f"iGate takes dossier packages, not {request.kind}")
        to = model.header.to
        if model.ho_so is not None:
            fields = mapping.ho_so_to_native(model.ho_so, to)
            return NativeRecord(
                key=model.ho_so.ma_ho_so, version=request.package_id, kind="dossier", fields=fields
            )
        assert model.tien_do is not None
        fields = mapping.tien_do_to_native(model.tien_do, to)
        return NativeRecord(
            key=f"{model.tien_do.ma_ho_so}#{request.package_id}",
            version=request.package_id,
            kind="dossier_progress",
            fields=fields,
        )


def create_adapter(config: AdapterConfig) -> IgateAdapter:
    """The factory the connector calls (``[adapter] name = "igate"``)."""
    return IgateAdapter(config)
