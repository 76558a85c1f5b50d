"""The ``qlvb`` adapter: a document-management system that already speaks edXML.

Mapping: the native record *is* the edXML package — ``fields = {"edxml": bytes}`` — so the
mapping is the identity and Vietnamese text cannot change. Outgoing, :meth:`to_package` checks
the system's unsigned document (safe parse, the project's edXML schema, not already signed: the
connector signs) and passes its bytes through; a problem is a
:class:`~hub.adapter.NativeInvalid` naming the edXML element path. Incoming,
:meth:`from_package` hands over the exact signed bytes, so the system can verify the sender's
signature itself, end to end.

Transport, two modes (``mode`` setting):

* ``push`` — :meth:`deliver` posts the signed bytes to ``{url}/api/edxml/receive`` with
  ``X-Package-Id``; the system de-duplicates by that id, so a retry after a timeout or a lost
  response cannot register a document twice (``200 duplicate`` → ``applied=False``).
* ``pull`` — :meth:`deliver` writes the package into a spool (SQLite, ``data_dir``, keyed by
  package id) and the adapter serves it on ``listen_host:listen_port``: ``GET /edxml/pending``,
  ``GET /edxml/{id}``, ``POST /edxml/{id}/ack`` (bearer ``pull_token``). A package stays pending
  until the system acknowledges it.

Outgoing in both modes: :meth:`poll` reads ``{url}/api/edxml/outbox?after=SEQ`` (cursor: the
last sequence number).

Settings: ``url``, ``token`` (sent as a bearer token unless LGSP OAuth2 is configured),
``mode`` (``push``), ``listen_host`` (127.0.0.1), ``listen_port``
(0: any), ``pull_token``, ``timeout_seconds`` (10), ``max_attempts`` (5), ``backoff_seconds``
(0.5), and the LGSP options of :mod:`hub.adapter.transport` (the HTTP client is
:func:`hub.adapter.open_transport`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any, Literal

from aiohttp import web

from hub.adapter import (
    AdapterConfig,
    AdapterError,
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
    check_unsigned,
    open_transport,
)
from hub.edxml import EdxmlPackage

__all__ = ["QlvbAdapter", "check_edxml", "create_adapter"]


def check_edxml(data: Any, *, key: str | None = None) -> EdxmlPackage:
    """An unsigned edXML package the connector may sign, or :class:`NativeInvalid`."""
    model = check_unsigned(data, key=key, dossiers=False).model
    assert isinstance(model, EdxmlPackage)  # dossiers=False: edXML only
    return model


class _Spool:
    """Pull mode: packages waiting for the system to fetch and acknowledge them."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS spool (package_id TEXT PRIMARY KEY, sender TEXT,"
            " kind TEXT, data BLOB NOT NULL, stored_at REAL NOT NULL, acked_at REAL)"
        )

    def put(self, package_id: str, sender: str, kind: str, data: bytes) -> bool:
        cur = self._db.execute(
            "INSERT OR IGNORE INTO spool VALUES (?, ?, ?, ?, ?, NULL)",
            (package_id, sender, kind, data, time.time()),
        )
        return cur.rowcount == 1

    def pending(self, limit: int) -> list[tuple[str, str, str]]:
        rows = self._db.execute(
            "SELECT package_id, sender, kind FROM spool WHERE acked_at IS NULL"
            " ORDER BY stored_at, package_id LIMIT ?",
            (limit,),
        )
        return [(str(a), str(b), str(c)) for a, b, c in rows.fetchall()]

    def get(self, package_id: str) -> bytes | None:
        row = self._db.execute("SELECT data FROM spool WHERE package_id = ?", (package_id,))
        found = row.fetchone()
        return bytes(found[0]) if found else None

    def ack(self, package_id: str) -> bool:
        cur = self._db.execute(
            "UPDATE spool SET acked_at = ? WHERE package_id = ? AND acked_at IS NULL",
            (time.time(), package_id),
        )
        return cur.rowcount == 1

    def close(self) -> None:
        self._db.close()


class Settings(TransportSettings):
    """``[adapter.settings]`` of a document-management-system connector."""

    url: str = ""
    token: str = ""
    mode: Literal["push", "pull"] = "push"
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    pull_token: str | None = None  # default: a random one per start
    timeout_seconds: float = 10.0
    max_attempts: int = 5
    backoff_seconds: float = 0.5


class QlvbAdapter:
    """A document-management system speaking edXML (see the module docstring)."""

    name = "qlvb"

    def __init__(self, config: AdapterConfig) -> None:
        s = config.settings
        self.config = config
        self.url = str(s.get("url", "")).rstrip("/")
        self.token = str(s.get("token", ""))
        self.mode = str(s.get("mode", "push"))
        if self.mode not in ("push", "pull"):
            raise AdapterError(f"qlvb mode must be push or pull, not {self.mode!r}")
        self.listen_host = str(s.get("listen_host", "127.0.0.1"))
        self.listen_port = int(s.get("listen_port", 0))
        self.pull_token = str(s.get("pull_token") or secrets.token_urlsafe(16))
        self.timeout = float(s.get("timeout_seconds", 10.0))
        self.max_attempts = int(s.get("max_attempts", 5))
        self.backoff = float(s.get("backoff_seconds", 0.5))
        self.pull_url = ""
        self._http: Transport | None = None
        self._spool: _Spool | None = None
        self._runner: web.AppRunner | None = None

    # ---------------------------------------------------------------- lifecycle

    async def start(self, request: StartRequest) -> None:
        """HTTP client; in pull mode the spool and the endpoint the system pulls from."""
        # the LGSP options (if any) wrap it; with OAuth2 the LGSP's bearer replaces the token
        self._http = open_transport(self.config)
        if self.mode == "pull":
            self._spool = _Spool(self.config.data_dir / "qlvb-spool.sqlite3")
            app = web.Application(middlewares=[self._auth])
            app.router.add_get("/edxml/pending", self._pending)
            app.router.add_get("/edxml/{id}", self._get)
            app.router.add_post("/edxml/{id}/ack", self._ack)
            self._runner = web.AppRunner(app, handle_signals=False)
            await self._runner.setup()
            await web.TCPSite(self._runner, self.listen_host, self.listen_port).start()
            port = int(self._runner.addresses[0][1])
            self.pull_url = f"http://{self.listen_host}:{port}"

    async def stop(self, request: StopRequest) -> None:
        """Close the client, the endpoint and the spool."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    # ---------------------------------------------------------------- translation

    def to_package(self, request: ToPackageRequest) -> OutgoingPackage:
        """The system's edXML document, checked, unchanged."""
        record = request.record
        data = record.fields.get("edxml")
        package = check_edxml(data, key=record.key)
        assert isinstance(data, bytes)
        if set(record.fields) != {"edxml"}:
            extra = sorted(set(record.fields) - {"edxml"})[0]
            raise NativeInvalid(extra, "unknown field (it would be lost)", key=record.key)
        if package.sender != request.sender:
            raise NativeInvalid(
                "From/OrganId",
                f"{package.sender} is not this connector's agency {request.sender}",
                key=record.key,
            )
        return OutgoingPackage(data=data, kind=package.kind, recipients=package.recipients)

    def from_package(self, request: FromPackageRequest) -> NativeRecord:
        """The exact signed bytes, for the system to register (and verify) itself."""
        if not isinstance(request.model, EdxmlPackage):
            raise NativeInvalid("package", "a document-management system takes edXML only")
        header = request.model.header
        key = header.document_id or request.package_id
        return NativeRecord(
            key=key,
            version=request.package_id,
            kind=request.model.kind,
            fields={"edxml": request.data},
        )

    # ---------------------------------------------------------------- transport

    def _auth_header(self) -> dict[str, str]:
        """The system's own bearer token, unless an LGSP OAuth2 token takes its place."""
        if self.config.settings.get("oauth2_token_url") or not self.token:
            return {}
        return {"Authorization": f"Bearer {self.token}"}

    async def poll(self, request: PollRequest) -> PollResult:
        """Documents the system issued after the cursor (its outbox sequence)."""
        after = int(request.cursor or 0)
        answer = await self._get_json(
            f"{self.url}/api/edxml/outbox?after={after}&limit={request.limit}"
        )
        records = []
        last = after
        for item in answer.get("items", []):
            last = max(last, int(item["seq"]))
            try:
                data = base64.b64decode(str(item["edxml"]), validate=True)
            except (binascii.Error, ValueError):
                data = b""  # to_package names the field; the record is kept by the connector
            version = hashlib.sha256(data).hexdigest()[:20]
            kind: Literal["document", "status"] = "document"
            # a status package the clerk answered with; if it does not parse, to_package names
            # the field and the connector keeps the record
            with contextlib.suppress(NativeInvalid):
                kind = check_edxml(data).kind
            records.append(
                NativeRecord(
                    key=str(item["id"]), version=version, kind=kind, fields={"edxml": data}
                )
            )
        return PollResult(records=tuple(records), cursor=str(last), more=bool(answer.get("more")))

    async def _get_json(self, url: str) -> dict[str, Any]:
        assert self._http is not None, "start() first"
        last: Exception | None = None
        for attempt in range(self.max_attempts):
            if attempt:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = await self._http.send(
                    HttpRequest("GET", url, self._auth_header(), timeout=self.timeout)
                )
            except ExternalUnavailable as exc:  # ConnectFailed, NoAnswer
                last = exc
                continue
            if response.status >= 500:
                last = ExternalUnavailable(f"HTTP {response.status}")
                continue
            if response.status != 200:
                raise AdapterError(f"QLVB {url}: HTTP {response.status} {response.text()}")
            try:
                body = response.json()
            except ValueError as exc:
                raise AdapterError(f"QLVB {url}: not JSON") from exc
            if not isinstance(body, dict):
                raise AdapterError(f"QLVB {url}: not a JSON object")
            return body
        raise ExternalUnavailable(f"QLVB {url}: {last}")

    async def deliver(self, request: DeliverRequest) -> DeliverResult:
        """Push to the system, or spool for it to pull; once per package id either way."""
        data = request.record.fields.get("edxml")
        if not isinstance(data, bytes):
            raise NativeInvalid("edxml", "must be the package bytes", key=request.record.key)
        if self.mode == "pull":
            assert self._spool is not None, "start() first"
            new = self._spool.put(request.package_id, request.sender, request.record.kind, data)
            return DeliverResult(applied=new, external_id=request.package_id)
        return await self._push(request.package_id, data, request.record.key)

    async def _push(self, package_id: str, data: bytes, key: str) -> DeliverResult:
        assert self._http is not None, "start() first"
        headers = {
            "Content-Type": "application/xml",
            "X-Package-Id": package_id,
            **self._auth_header(),
        }
        request = HttpRequest(
            "POST", f"{self.url}/api/edxml/receive", headers, data, timeout=self.timeout
        )
        last: Exception | str | None = None
        retried = False
        for attempt in range(self.max_attempts):
            if attempt:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = await self._http.send(request)
            except ExternalUnavailable as exc:  # ConnectFailed, NoAnswer
                last, retried = exc, True
                continue
            if response.status >= 500:
                last, retried = f"HTTP {response.status}", True
                continue
            try:
                body = response.json()
            except ValueError:
                body = {"error": response.text()[:200]}
            if response.status in (200, 201):
                # "duplicate" after our own unanswered attempt is still our first
                # application: report it as applied once
                new = response.status == 201 or retried
                return DeliverResult(applied=new, external_id=str(body.get("docId")))
            if response.status == 422:
                raise NativeInvalid(
                    str(body.get("field", "edxml")),
                    f"refused by the system: {body.get('error')}",
                    key=key,
                )
            raise AdapterError(f"QLVB receive: HTTP {response.status} {body}")
        raise ExternalUnavailable(f"QLVB receive {package_id}: {last}")

    # ---------------------------------------------------------------- pull endpoint

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode()
        if not secrets.compare_digest(given, f"Bearer {self.pull_token}".encode()):
            return web.json_response({"error": "unauthorized"}, status=401)
        response: web.StreamResponse = await handler(request)
        return response

    async def _pending(self, request: web.Request) -> web.Response:
        assert self._spool is not None
        limit = max(1, min(500, int(request.query.get("limit", "100"))))
        items = [{"id": p, "sender": s, "kind": k} for p, s, k in self._spool.pending(limit)]
        return web.json_response({"items": items})

    async def _get(self, request: web.Request) -> web.Response:
        assert self._spool is not None
        data = self._spool.get(request.match_info["id"])
        if data is None:
            return web.json_response({"error": "not found"}, status=404)
        return web.Response(body=data, content_type="application/xml")

    async def _ack(self, request: web.Request) -> web.Response:
        assert self._spool is not None
        package_id = request.match_info["id"]
        if self._spool.get(package_id) is None:
            return web.json_response({"error": "not found"}, status=404)
        self._spool.ack(package_id)
        return web.Response(status=204)


def create_adapter(config: AdapterConfig) -> QlvbAdapter:
    """The connector's entry point."""
    return QlvbAdapter(config)
