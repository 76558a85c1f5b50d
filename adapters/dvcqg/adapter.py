"""The ``dvcqg`` adapter: the national public-service portal's dossier synchronisation.

Transport: log in (``POST /login``) for a ``session``, then ``POST /api`` with
``{session, madonvi, service, …}``; ``error_code "00"`` is success.

* :meth:`DvcqgAdapter.deliver` applies a dossier package with ``DongBoHoSoMC`` (``isUpdating``
  false for a dossier the portal does not have yet, true otherwise) and a progress package with
  ``CapNhatTienDoHoSoMC``.
* :meth:`DvcqgAdapter.poll` reads the dossiers citizens submitted on the portal for ``madonvi``
  (``LayDanhSachHoSo`` after a sequence number); they go to the unit's one-stop system.

Never the same state twice: a ledger (SQLite in the adapter's ``data_dir``) records, per unit and
dossier, the hash of every state the portal confirmed and the package that carried it. A state
already in the ledger is not sent again (a redelivered package, or another package carrying the
same state). When an attempt ends without an answer (timeout, 5xx, a lost response), the request
may have been applied: before trying again the adapter looks the dossier up (``TraCuuHoSo``) and,
if the portal already holds that state, records it instead of sending it again.

Failures: ``02`` (session expired) → log in again and repeat; ``99``, 5xx, timeouts, refused
connections → retry with backoff, then :class:`~hub.adapter.ExternalUnavailable` for the
connector to retry later; ``05``/``04`` on create/update → switch ``isUpdating`` and repeat;
``03`` → :class:`~hub.adapter.NativeInvalid` naming the portal's field; ``01``/``06``
(credentials, unit not allowed) → :class:`~hub.adapter.AdapterError` (configuration).

Settings (``[adapter.settings]``): ``url``, ``username``, ``password`` (or ``password_file``),
``madonvi`` (default: the connector's OrganId), ``timeout_seconds`` (10), ``max_attempts`` (5),
``backoff_seconds`` (0.5).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

from adapters.dvcqg.mapping import (
    fields_from_ho_so,
    fields_from_tien_do,
    ho_so_from_fields,
    normalise,
    state_hash,
    tien_do_from_fields,
)
from hub.adapter import (
    AdapterConfig,
    AdapterError,
    AdapterSettings,
    DeliverRequest,
    DeliverResult,
    ExternalUnavailable,
    FromPackageRequest,
    NativeInvalid,
    NativeRecord,
    OutgoingPackage,
    PollRequest,
    PollResult,
    StartRequest,
    StopRequest,
    ToPackageRequest,
)
from hub.dossier import (
    DossierHeader,
    DossierKind,
    DossierPackage,
    build_dossier,
    format_dvc_time,
)

__all__ = ["DvcqgAdapter", "DvcqgClient", "DvcqgRefused", "create_adapter"]


class DvcqgRefused(AdapterError):
    """The portal answered with an error code that retrying cannot fix."""

    def __init__(self, code: str, message: str, field: str | None) -> None:
        super().__init__(f"DVCQG error_code {code}: {message}" + (f" ({field})" if field else ""))
        self.code = code
        self.field = field


class _Ambiguous(Exception):
    """No answer: the portal may or may not have applied the request."""


class _Transient(Exception):
    """Refused before applying (busy, connection refused): safe to repeat as is."""


class DvcqgClient:
    """One account's session with the portal; logs in again when the session expires."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        timeout: float = 10.0,
        max_attempts: int = 5,
        backoff: float = 0.5,
    ) -> None:
        self.url = url.rstrip("/")
        self._username = username
        self._password = password
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.max_attempts = max_attempts
        self.backoff = backoff
        self._http: aiohttp.ClientSession | None = None
        self._session: str | None = None
        self._session_until = 0.0

    async def open(self) -> None:
        """Create the HTTP client (the first login happens on first use)."""
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=self._timeout)

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self._http is not None, "DvcqgClient.open() first"
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            async with self._http.post(
                self.url + path, data=data, headers={"Content-Type": "application/json"}
            ) as response:
                if response.status >= 500:
                    raise _Ambiguous(f"HTTP {response.status}")
                if response.status != 200:
                    raise DvcqgRefused(f"HTTP {response.status}", await response.text(), None)
                answer = await response.json(content_type=None)
        except (TimeoutError, aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
            raise _Ambiguous(f"no answer: {exc!r}") from exc
        except aiohttp.ClientConnectorError as exc:
            # never reached the portal: nothing can have been applied
            raise _Transient(f"cannot connect: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise _Ambiguous(f"HTTP client error: {exc!r}") from exc
        if not isinstance(answer, dict) or "error_code" not in answer:
            raise _Ambiguous(f"not a DVCQG answer: {answer!r}"[:200])
        return answer

    async def login(self) -> None:
        """``POST /login``; :class:`DvcqgRefused` for wrong credentials."""
        answer = await self._post(
            "/login", {"username": self._username, "password": self._password}
        )
        if answer["error_code"] != "00":
            raise DvcqgRefused(str(answer["error_code"]), str(answer.get("message", "")), None)
        self._session = str(answer["session"])
        # renew a little before the portal would refuse it
        ttl = float(answer.get("expires_in", 1800))
        self._session_until = time.monotonic() + max(0.0, ttl - 5.0)

    async def call_once(self, madonvi: str, service: str, **params: Any) -> dict[str, Any]:
        """One call, logging in again once on ``02``. Raises ``_Ambiguous`` / ``_Transient``
        for the caller's retry logic; returns the answer (any error_code but 02/99)."""
        for _ in range(2):
            if self._session is None or time.monotonic() >= self._session_until:
                await self.login()
            body = {"session": self._session, "madonvi": madonvi, "service": service, **params}
            answer = await self._post("/api", body)
            code = str(answer["error_code"])
            if code == "02":
                self._session = None
                continue
            if code == "99":
                raise _Transient("portal busy (99)")
            return answer
        raise _Transient("session refused right after logging in (02)")

    async def call(self, madonvi: str, service: str, **params: Any) -> dict[str, Any]:
        """A read-only call with retries (safe to repeat whatever happened)."""
        last: Exception | None = None
        for attempt in range(self.max_attempts):
            if attempt:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                return await self.call_once(madonvi, service, **params)
            except (_Ambiguous, _Transient) as exc:
                last = exc
        raise ExternalUnavailable(f"DVCQG {service}: {last}")


def _raise_for(answer: Mapping[str, Any], key: str) -> None:
    code = str(answer["error_code"])
    if code == "00":
        return
    field = answer.get("field")
    message = str(answer.get("detail") or answer.get("message") or "")
    if code == "03":
        # the portal names data[i].Field: report the record's own field
        name = str(field).split(".", 1)[-1] if field else "record"
        raise NativeInvalid(name, f"refused by the portal: {message}", key=key)
    raise DvcqgRefused(code, message, str(field) if field else None)


class _Ledger:
    """What the portal confirmed: (unit, kind, dossier, state hash) and the carrying package."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS sent (madonvi TEXT, kind TEXT, ma_ho_so TEXT,"
            " state TEXT, package_id TEXT, sent_at REAL,"
            " PRIMARY KEY (madonvi, kind, ma_ho_so, state))"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS packages (package_id TEXT PRIMARY KEY, state TEXT)"
        )

    def package_seen(self, package_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM packages WHERE package_id = ?", (package_id,))
        return row.fetchone() is not None

    def state_sent(self, madonvi: str, kind: str, ma_ho_so: str, state: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM sent WHERE madonvi=? AND kind=? AND ma_ho_so=? AND state=?",
            (madonvi, kind, ma_ho_so, state),
        )
        return row.fetchone() is not None

    def record(self, madonvi: str, kind: str, ma_ho_so: str, state: str, package_id: str) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR IGNORE INTO sent VALUES (?, ?, ?, ?, ?, ?)",
                (madonvi, kind, ma_ho_so, state, package_id, time.time()),
            )
            self._db.execute("INSERT OR IGNORE INTO packages VALUES (?, ?)", (package_id, state))

    def close(self) -> None:
        self._db.close()


class Settings(AdapterSettings):
    """``[adapter.settings]`` of a DVCQG connector."""

    url: str = ""
    username: str = ""
    password: str | None = None  # or password_file
    password_file: str | None = None
    madonvi: str | None = None  # default: the connector's OrganId
    timeout_seconds: float = 10.0
    max_attempts: int = 5
    backoff_seconds: float = 0.5


class DvcqgAdapter:
    """The national portal as an agency system (see the module docstring)."""

    name = "dvcqg"

    def __init__(self, config: AdapterConfig) -> None:
        s = config.settings
        self.config = config
        self.madonvi = str(s.get("madonvi") or config.organ_id)
        password = s.get("password")
        if password is None and "password_file" in s:
            password = Path(str(s["password_file"])).read_text("utf-8").strip()
        self.client = DvcqgClient(
            str(s.get("url", "")),
            str(s.get("username", "")),
            str(password or ""),
            timeout=float(s.get("timeout_seconds", 10.0)),
            max_attempts=int(s.get("max_attempts", 5)),
            backoff=float(s.get("backoff_seconds", 0.5)),
        )
        self._ledger: _Ledger | None = None
        self._lock = asyncio.Lock()

    # ---------------------------------------------------------------- lifecycle

    async def start(self, request: StartRequest) -> None:
        """Open the ledger and the HTTP client; log in (``ExternalUnavailable`` if down)."""
        self._ledger = _Ledger(self.config.data_dir / "dvcqg-ledger.sqlite3")
        await self.client.open()
        try:
            await self.client.login()
        except (_Ambiguous, _Transient) as exc:
            raise ExternalUnavailable(f"DVCQG login: {exc}") from exc

    async def stop(self, request: StopRequest) -> None:
        """Close the HTTP client and the ledger."""
        await self.client.close()
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    # ---------------------------------------------------------------- translation

    def to_package(self, request: ToPackageRequest) -> OutgoingPackage:
        """A DVCQG dossier or progress record → an unsigned dossier package."""
        record = request.record
        to = request.default_recipients or (self.madonvi,)

        def header(kind: DossierKind) -> DossierHeader:
            return DossierHeader(
                package_id=request.package_id,
                from_=request.sender,
                to=tuple(to),
                kind=kind,
                created_at=format_dvc_time(request.created_at),
            )

        if record.kind == "dossier":
            ho_so = ho_so_from_fields(record.fields, key=record.key)
            package = DossierPackage(header("dossier"), ho_so=ho_so)
        elif record.kind == "dossier_progress":
            tien_do = tien_do_from_fields(record.fields, key=record.key)
            package = DossierPackage(header("dossier_progress"), tien_do=tien_do)
        else:
            raise NativeInvalid(
                "kind", f"the portal has no {record.kind!r} records", key=record.key
            )
        try:
            data = build_dossier(package)
        except ValueError as exc:  # a rule the field checks above do not know
            raise NativeInvalid("record", str(exc), key=record.key) from exc
        return OutgoingPackage(data=data, kind=record.kind, recipients=tuple(to))

    def from_package(self, request: FromPackageRequest) -> NativeRecord:
        """A verified dossier package → the DVCQG record it carries."""
        model = request.model
        if not isinstance(model, DossierPackage):
            raise NativeInvalid("package", "the portal takes dossier packages, not edXML")
        if model.ho_so is not None:
            fields = fields_from_ho_so(model.ho_so)
            return NativeRecord(
                key=model.ho_so.ma_ho_so, version=_version(fields), kind="dossier", fields=fields
            )
        assert model.tien_do is not None
        fields = fields_from_tien_do(model.tien_do)
        key = f"{model.tien_do.ma_ho_so}/{model.tien_do.ngay_xu_ly}"
        return NativeRecord(
            key=key, version=_version(fields), kind="dossier_progress", fields=fields
        )

    # ---------------------------------------------------------------- transport

    async def poll(self, request: PollRequest) -> PollResult:
        """Dossiers submitted on the portal for ``madonvi`` after the cursor (a sequence)."""
        after = int(request.cursor or 0)
        answer = await self.client.call(
            self.madonvi, "LayDanhSachHoSo", tuSoThuTu=after, soLuong=request.limit
        )
        _raise_for(answer, "LayDanhSachHoSo")
        records = []
        last = after
        for item in answer.get("data", []):
            item = dict(item)
            last = max(last, int(item.pop("SoThuTu")))
            fields = normalise(item)
            key = str(fields.get("MaHoSo", f"seq-{last}"))
            records.append(
                NativeRecord(key=key, version=_version(fields), kind="dossier", fields=fields)
            )
        more = int(answer.get("conLai", 0)) > 0
        return PollResult(records=tuple(records), cursor=str(last), more=more)

    async def deliver(self, request: DeliverRequest) -> DeliverResult:
        """Apply a dossier or progress record to the portal, each state at most once."""
        ledger = self._ledger
        if ledger is None:
            raise AdapterError("deliver before start")
        record = request.record
        fields = dict(record.fields)
        ma_ho_so = str(fields.get("MaHoSo", ""))
        state = state_hash(fields)
        madonvi = self.madonvi
        # one delivery at a time: two packages carrying the same state must not race past the
        # ledger check together
        async with self._lock:
            if ledger.package_seen(request.package_id):
                return DeliverResult(applied=False, external_id=ma_ho_so)
            if ledger.state_sent(madonvi, record.kind, ma_ho_so, state):
                ledger.record(madonvi, record.kind, ma_ho_so, state, request.package_id)
                return DeliverResult(applied=False, external_id=ma_ho_so)
            await self._send(madonvi, record.kind, ma_ho_so, fields, state, record.key)
            ledger.record(madonvi, record.kind, ma_ho_so, state, request.package_id)
            return DeliverResult(applied=True, external_id=ma_ho_so)

    async def _send(
        self, madonvi: str, kind: str, ma_ho_so: str, fields: dict[str, Any], state: str, key: str
    ) -> None:
        client = self.client
        updating: bool | None = None
        ambiguous = False
        last: Exception | None = None
        for attempt in range(client.max_attempts):
            if attempt:
                await asyncio.sleep(client.backoff * 2 ** (attempt - 1))
            try:
                if ambiguous:
                    ambiguous = False
                    if await self._portal_has(madonvi, kind, ma_ho_so, fields, state):
                        return  # the unanswered attempt did apply it: do not send it again
                if kind == "dossier":
                    if updating is None:
                        updating = await self._portal_has_dossier(madonvi, ma_ho_so)
                    answer = await client.call_once(
                        madonvi, "DongBoHoSoMC", isUpdating=updating, data=[fields]
                    )
                    code = str(answer["error_code"])
                    if code in ("04", "05"):
                        # someone else created/removed it meanwhile: switch and repeat now
                        updating = code == "05"
                        answer = await client.call_once(
                            madonvi, "DongBoHoSoMC", isUpdating=updating, data=[fields]
                        )
                else:
                    answer = await client.call_once(madonvi, "CapNhatTienDoHoSoMC", data=[fields])
                _raise_for(answer, key)
                return
            except _Ambiguous as exc:
                ambiguous, last = True, exc
            except _Transient as exc:
                last = exc
        raise ExternalUnavailable(f"DVCQG: {ma_ho_so} not confirmed: {last}")

    async def _portal_has_dossier(self, madonvi: str, ma_ho_so: str) -> bool:
        answer = await self.client.call_once(madonvi, "TraCuuHoSo", mahoso=ma_ho_so)
        code = str(answer["error_code"])
        if code == "04":
            return False
        _raise_for(answer, ma_ho_so)
        return True

    async def _portal_has(
        self, madonvi: str, kind: str, ma_ho_so: str, fields: dict[str, Any], state: str
    ) -> bool:
        answer = await self.client.call_once(madonvi, "TraCuuHoSo", mahoso=ma_ho_so)
        if str(answer["error_code"]) == "04":
            return False
        _raise_for(answer, ma_ho_so)
        if kind == "dossier":
            return state_hash(dict(answer.get("data") or {})) == state
        return any(state_hash(dict(step)) == state for step in answer.get("TienDo") or [])


def _version(fields: Mapping[str, Any]) -> str:
    """A record's version: the hash of its content (it changes whenever the content does)."""
    return state_hash(dict(fields))[:20]


def create_adapter(config: AdapterConfig) -> DvcqgAdapter:
    """The connector's entry point."""
    return DvcqgAdapter(config)
