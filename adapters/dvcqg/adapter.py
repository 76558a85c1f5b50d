"""The ``dvcqg`` adapter: the national public-service portal's dossier synchronisation, spoken
as a real provincial integration speaks it (VietOpenCPS/opencps-v2,
``DVCQGIntegrationActionImpl.java``; see :mod:`adapters.dvcqg.portal` and docs/adapters.md).

Transport (through :func:`hub.adapter.open_transport`, so the LGSP's OAuth2 or
``lgspaccesstoken`` can sit in front): ``POST {adapter_url}{auth_endpoint}``
``{"username", "password"}`` → ``{"error_code": 0, "session"}``; then
``POST {adapter_url}{integration_endpoint}`` ``{"session", "madonvi", "service", …}``. Both carry
the ``dstcode`` header. Success is ``error_code`` 0, as a number or the string ``"0"``.

* :meth:`DvcqgAdapter.deliver` sends a dossier with ``DongBoHoSoMC`` — ``isUpdating`` the
  string ``"True"`` when ``TraCuuHoSo`` finds the dossier (a non-empty ``result``), else
  ``"False"`` — and a progress step with ``CapNhatTienDoHoSoMC``. Submitted documents go by
  URL (``DuongDanTaiTepTin``): the adapter serves them itself behind expiring signed links
  (:class:`hub.adapter.FileLinkServer`).
* :meth:`DvcqgAdapter.poll`: the reference has no service that lists a province's dossiers
  (the portal *pushes* online submissions to the province's own API). So the inbound side is
  what the reference does: look-ups. Every ``MaHoSo`` in the look-up list (``lookup_file``,
  one per line, or :meth:`DvcqgAdapter.add_lookup`) is read with ``TraCuuHoSo``; a dossier the
  portal holds, in a version not sent before, becomes a record (its documents downloaded from
  ``DuongDanTaiTepTin``).

Never the same state twice: a ledger (SQLite in ``data_dir``) records, per unit and dossier, the
hash of every state the portal confirmed (of its text in Unicode NFC; see :func:`_hashes`).
After an attempt without an answer (timeout, 5xx, lost response) the adapter asks
``TraCuuHoSo`` whether the portal already holds the state before sending it again.

Failures. The reference knows no error code but 0, so: a non-zero answer may be an expired
session — the adapter logs in again and repeats the call once (for a dossier after looking it
up again, in case ``isUpdating`` was wrong); a second non-zero answer is :class:`DvcqgRefused`
(quarantined by the connector), unless its code is in ``transient_error_codes`` (then retried,
then :class:`~hub.adapter.ExternalUnavailable`). 5xx, timeouts and refused connections →
retry with backoff, then ``ExternalUnavailable``.

Settings (``[adapter.settings]``): ``adapter_url``, ``auth_endpoint`` (``/login``),
``integration_endpoint`` (``/api``), ``dstcode``, ``username``, ``password`` (or
``password_file``), ``madonvi`` (default: the connector's OrganId), ``transient_error_codes``
([]), ``timeout_seconds`` (10), ``max_attempts`` (5), ``backoff_seconds`` (0.5),
``lookup_file`` (``dvcqg-lookups.txt``), the file links' ``files_listen_host`` (127.0.0.1),
``files_listen_port`` (0), ``files_public_url`` (default: the listening address),
``files_link_ttl_seconds`` (7 days), ``files_link_key_file`` (``dvcqg-link.key``) — relative
paths under ``data_dir`` — and
the LGSP options of :mod:`hub.adapter.transport`.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from adapters.dvcqg.mapping import (
    fields_from_ho_so,
    fields_from_tien_do,
    ho_so_from_fields,
    nfc_text,
    raw_state_hash,
    state_hash,
    tien_do_from_fields,
)
from adapters.dvcqg.portal import (
    Link,
    attach,
    comparable,
    dossier_from_portal,
    ho_so_to_portal,
    tien_do_to_portal,
)
from hub.adapter import (
    AdapterConfig,
    AdapterError,
    ConnectFailed,
    DeliverRequest,
    DeliverResult,
    ExternalUnavailable,
    FileLinkServer,
    FromPackageRequest,
    HttpRequest,
    LinkSigner,
    NativeInvalid,
    NativeRecord,
    NoAnswer,
    OutgoingPackage,
    PollRequest,
    PollResult,
    StartRequest,
    StopRequest,
    ToPackageRequest,
    Transport,
    TransportSettings,
    load_link_key,
    open_transport,
)
from hub.dossier import (
    DossierHeader,
    DossierKind,
    DossierPackage,
    build_dossier,
    format_dvc_time,
)

__all__ = ["DvcqgAdapter", "DvcqgClient", "DvcqgRefused", "create_adapter", "is_success"]


class DvcqgRefused(AdapterError):
    """The portal answered with a non-zero ``error_code`` that logging in again did not fix."""

    def __init__(self, service: str, code: str, message: str) -> None:
        super().__init__(f"DVCQG {service}: error_code {code}: {message}")
        self.service = service
        self.code = code


class _Ambiguous(Exception):
    """No answer: the portal may or may not have applied the request."""


class _Transient(Exception):
    """Refused before applying (connection refused, a transient code): safe to repeat."""


def is_success(answer: Mapping[str, Any]) -> bool:
    """``error_code`` 0, as the number or the string ``"0"`` (the reference reads it with
    ``getInt`` and with ``GetterUtil.getInteger(getString(...))``, lines 1130 and 2142)."""
    code = answer.get("error_code")
    if isinstance(code, bool):
        return False
    if isinstance(code, int):
        return code == 0
    # a string is read as the integer it spells ("0", "00"), never as a default on garbage
    # (GetterUtil.getInteger would turn "abc" into 0: taken as a failure here)
    return isinstance(code, str) and code.strip().lstrip("+-").isdigit() and int(code) == 0


class DvcqgClient:
    """One account's session with the portal, over a :class:`hub.adapter.Transport`."""

    def __init__(
        self,
        transport: Transport,
        *,
        adapter_url: str,
        auth_endpoint: str = "/login",
        integration_endpoint: str = "/api",
        dstcode: str = "",
        username: str,
        password: str,
        timeout: float = 10.0,
        max_attempts: int = 5,
        backoff: float = 0.5,
        transient_codes: Sequence[str] = (),
    ) -> None:
        self.transport = transport
        self.auth_url = adapter_url.rstrip("/") + auth_endpoint
        self.api_url = adapter_url.rstrip("/") + integration_endpoint
        self.dstcode = dstcode
        self._username = username
        self._password = password
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.transient_codes = frozenset(str(c) for c in transient_codes)
        self.session: str | None = None
        self.logins = 0

    async def _post(self, url: str, body: Mapping[str, Any]) -> dict[str, Any]:
        # the headers of getAccessToken / getSharingData (lines 1099–1102, 1687–1690)
        headers = {"Accept": "application/json", "Charset": "utf-8", "dstcode": self.dstcode}
        request = HttpRequest.json("POST", url, body, headers, timeout=self.timeout)
        try:
            answer = await self.transport.send(request)
        except ConnectFailed as exc:
            raise _Transient(str(exc)) from exc
        except NoAnswer as exc:
            raise _Ambiguous(str(exc)) from exc
        if answer.status >= 500 or answer.status == 429:
            raise _Ambiguous(f"HTTP {answer.status}")
        if answer.status != 200:
            raise DvcqgRefused(str(body.get("service", "login")), f"HTTP {answer.status}",
                               answer.text()[:300])  # fmt: skip
        try:
            payload = answer.json()
        except ValueError as exc:
            raise _Ambiguous(f"not JSON: {answer.text()[:200]!r}") from exc
        if not isinstance(payload, dict) or "error_code" not in payload:
            raise _Ambiguous(f"not a DVCQG answer: {payload!r}"[:200])
        return payload

    async def login(self) -> None:
        """``auth_endpoint``; :class:`DvcqgRefused` if the portal refuses the account."""
        answer = await self._post(
            self.auth_url, {"username": self._username, "password": self._password}
        )
        if not is_success(answer) or not answer.get("session"):
            raise DvcqgRefused("login", str(answer.get("error_code")), _message(answer))
        self.session = str(answer["session"])
        self.logins += 1

    async def call_once(
        self, madonvi: str, service: str, params: Mapping[str, Any], *, relogin: bool = True
    ) -> dict[str, Any]:
        """One call. A non-zero answer: log in again and repeat once (the reference has no
        code that says "session expired"); then :class:`DvcqgRefused`, or ``_Transient`` for
        a code in ``transient_codes``. ``relogin=False`` returns the first answer as is."""
        answer: dict[str, Any] = {}
        for attempt in range(2 if relogin else 1):
            if self.session is None or attempt:
                await self.login()
            body = {"session": self.session, "madonvi": madonvi, "service": service, **params}
            answer = await self._post(self.api_url, body)
            if is_success(answer):
                return answer
        code = str(answer.get("error_code"))
        if code in self.transient_codes:
            raise _Transient(f"{service}: transient error_code {code}")
        if not relogin:
            return answer
        raise DvcqgRefused(service, code, _message(answer))

    async def call(self, madonvi: str, service: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """A read-only call, retried on anything transient (safe to repeat)."""
        last: Exception | None = None
        for attempt in range(self.max_attempts):
            if attempt:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                return await self.call_once(madonvi, service, params)
            except (_Ambiguous, _Transient) as exc:
                last = exc
        raise ExternalUnavailable(f"DVCQG {service}: {last}")

    async def download(self, url: str) -> tuple[bytes, str]:
        """A document the portal links to (``DuongDanTaiTepTin``)."""
        try:
            answer = await self.transport.send(HttpRequest("GET", url, timeout=self.timeout))
        except (ConnectFailed, NoAnswer) as exc:
            raise ExternalUnavailable(f"DVCQG document {url}: {exc}") from exc
        if answer.status != 200:
            raise ExternalUnavailable(f"DVCQG document {url}: HTTP {answer.status}")
        ctype = answer.headers.get("content-type", "").split(";")[0].strip()
        return answer.body, ctype


def _message(answer: Mapping[str, Any]) -> str:
    return str(answer.get("message") or answer.get("error_message") or answer.get("detail") or "")


class _Ledger:
    """What the portal confirmed: (unit, kind, dossier, state hash) and the carrying package;
    and which look-up versions were handed to the connector."""

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
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS pulled (ma_ho_so TEXT, version TEXT,"
            " PRIMARY KEY (ma_ho_so, version))"
        )

    def package_seen(self, package_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM packages WHERE package_id = ?", (package_id,))
        return row.fetchone() is not None

    def state_sent(self, madonvi: str, kind: str, ma_ho_so: str, states: tuple[str, ...]) -> bool:
        """Whether the state was confirmed, under either of its hashes (:func:`_hashes`)."""
        row = self._db.execute(
            "SELECT 1 FROM sent WHERE madonvi=? AND kind=? AND ma_ho_so=? AND state IN (?, ?)",
            (madonvi, kind, ma_ho_so, states[0], states[-1]),
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

    def pulled(self, ma_ho_so: str, versions: tuple[str, ...]) -> bool:
        """Whether the version was handed over, under either of its hashes (:func:`_hashes`)."""
        row = self._db.execute(
            "SELECT 1 FROM pulled WHERE ma_ho_so = ? AND version IN (?, ?)",
            (ma_ho_so, versions[0], versions[-1]),
        )
        return row.fetchone() is not None

    def mark_pulled(self, pairs: Sequence[tuple[str, str]]) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR IGNORE INTO pulled VALUES (?, ?)", pairs)

    def close(self) -> None:
        self._db.close()


class Settings(TransportSettings):
    """``[adapter.settings]`` of the DVCQG adapter (docs/adapters.md, DVCQG section)."""

    adapter_url: str = ""
    url: str = ""  # the former name of adapter_url, still read
    auth_endpoint: str = "/login"
    integration_endpoint: str = "/api"
    dstcode: str = ""
    username: str = ""
    password: str | None = None  # or password_file
    password_file: str | None = None
    madonvi: str | None = None  # default: the connector's OrganId
    max_attempts: int = 5
    backoff_seconds: float = 0.5
    transient_error_codes: list[str] = Field(default_factory=list)
    lookup_file: str | None = None
    files_link_key_file: str | None = None
    files_link_ttl_seconds: float = 7 * 24 * 3600.0
    files_listen_host: str = "127.0.0.1"
    files_listen_port: int = 0
    files_public_url: str | None = None


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
        # "url" was this adapter's name for adapter_url before it followed the reference
        self.adapter_url = str(s.get("adapter_url") or s.get("url") or "")
        self._client_args: dict[str, Any] = {
            "adapter_url": self.adapter_url,
            "auth_endpoint": str(s.get("auth_endpoint", "/login")),
            "integration_endpoint": str(s.get("integration_endpoint", "/api")),
            "dstcode": str(s.get("dstcode", "")),
            "username": str(s.get("username", "")),
            "password": str(password or ""),
            "timeout": float(s.get("timeout_seconds", 10.0)),
            "max_attempts": int(s.get("max_attempts", 5)),
            "backoff": float(s.get("backoff_seconds", 0.5)),
            "transient_codes": tuple(str(c) for c in s.get("transient_error_codes", ())),
        }
        # relative paths are under data_dir (joining an absolute path keeps it as is)
        self.lookup_file = config.data_dir / str(s.get("lookup_file") or "dvcqg-lookups.txt")
        key_file = config.data_dir / str(s.get("files_link_key_file") or "dvcqg-link.key")
        self._files_args: dict[str, Any] = {
            "ttl": float(s.get("files_link_ttl_seconds", 7 * 24 * 3600.0)),
            "host": str(s.get("files_listen_host", "127.0.0.1")),
            "port": int(s.get("files_listen_port", 0)),
            "public_url": s.get("files_public_url") or None,
        }
        self._key_file = key_file
        self.client: DvcqgClient | None = None
        self.files: FileLinkServer | None = None
        self._ledger: _Ledger | None = None
        self._lock = asyncio.Lock()

    # ---------------------------------------------------------------- lifecycle

    async def start(self, request: StartRequest) -> None:
        """Open the ledger, the file-link endpoint and the transport; log in
        (``ExternalUnavailable`` if the portal is down, :class:`DvcqgRefused` if it refuses
        the account)."""
        self._ledger = _Ledger(self.config.data_dir / "dvcqg-ledger.sqlite3")
        signer = LinkSigner(load_link_key(self._key_file))
        self.files = FileLinkServer(
            self.config.data_dir / "dvcqg-files", signer, **self._files_args
        )
        await self.files.start()
        self.client = DvcqgClient(open_transport(self.config), **self._client_args)
        try:
            await self.client.login()
        except (_Ambiguous, _Transient) as exc:
            raise ExternalUnavailable(f"DVCQG login: {exc}") from exc

    async def stop(self, request: StopRequest) -> None:
        """Close the transport, the file-link endpoint and the ledger."""
        if self.client is not None:
            await self.client.transport.aclose()
            self.client = None
        if self.files is not None:
            await self.files.stop()
            self.files = None
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

    # ---------------------------------------------------------------- inbound: look-ups

    def add_lookup(self, ma_ho_so: str) -> None:
        """Ask :meth:`poll` to look ``ma_ho_so`` up on the portal (appends to ``lookup_file``)."""
        self.lookup_file.parent.mkdir(parents=True, exist_ok=True)
        with self.lookup_file.open("a", encoding="utf-8") as out:
            out.write(ma_ho_so.strip() + "\n")

    def _lookups(self) -> list[str]:
        if not self.lookup_file.exists():
            return []
        seen: dict[str, None] = {}
        for line in self.lookup_file.read_text("utf-8").splitlines():
            code = line.strip()
            if code and not code.startswith("#"):
                seen.setdefault(code, None)
        return list(seen)

    async def poll(self, request: PollRequest) -> PollResult:
        """The look-up list read with ``TraCuuHoSo``: each dossier the portal holds in a
        version not handed over before. The cursor lists the ``MaHoSo@version`` returned;
        the next poll (made after the connector dealt with them) marks them handed over."""
        ledger, client = self._ledger, self.client
        if ledger is None or client is None:
            raise AdapterError("poll before start")
        if request.cursor:
            ledger.mark_pulled([tuple(p) for p in json.loads(request.cursor)])
        records: list[NativeRecord] = []
        returned: list[list[str]] = []
        more = False
        for code in self._lookups():
            if len(records) >= request.limit:
                more = True
                break
            answer = await client.call(self.madonvi, "TraCuuHoSo", {"mahoso": code})
            result = answer.get("result") or []
            if not isinstance(result, list) or not result or not isinstance(result[0], dict):
                continue  # the portal does not hold it (yet)
            fields, downloads = dossier_from_portal(result[0])
            portal = {"portal": comparable(result[0])}
            # the same dossier answered in another Unicode normal form is the same version
            version = _version(portal)
            if ledger.pulled(code, _hashes(portal, 20)):
                continue
            for index, url in downloads:
                data, ctype = await client.download(url)
                attach(fields, index, data, ctype)
            records.append(NativeRecord(key=code, version=version, kind="dossier", fields=fields))
            returned.append([code, version])
        cursor = json.dumps(returned) if returned else None
        return PollResult(records=tuple(records), cursor=cursor, more=more)

    # ---------------------------------------------------------------- outbound: deliver

    async def deliver(self, request: DeliverRequest) -> DeliverResult:
        """Apply a dossier or progress record to the portal, each state at most once."""
        ledger = self._ledger
        if ledger is None or self.client is None:
            raise AdapterError("deliver before start")
        record = request.record
        fields = dict(record.fields)
        ma_ho_so = str(fields.get("MaHoSo", ""))
        # one state whatever the normal form of its text: recorded as its NFC hash, matched
        # also by the raw hash an older adapter recorded (see _hashes)
        state = state_hash(fields)
        states = _hashes(fields)
        madonvi = self.madonvi
        # one delivery at a time: two packages carrying the same state must not race past the
        # ledger check together
        async with self._lock:
            if ledger.package_seen(request.package_id):
                return DeliverResult(applied=False, external_id=ma_ho_so)
            if ledger.state_sent(madonvi, record.kind, ma_ho_so, states):
                ledger.record(madonvi, record.kind, ma_ho_so, state, request.package_id)
                return DeliverResult(applied=False, external_id=ma_ho_so)
            if record.kind not in ("dossier", "dossier_progress"):
                raise NativeInvalid("kind", f"the portal has no {record.kind!r} records")
            await self._send(madonvi, record.kind, ma_ho_so, fields)
            ledger.record(madonvi, record.kind, ma_ho_so, state, request.package_id)
            return DeliverResult(applied=True, external_id=ma_ho_so)

    @property
    def _link(self) -> Link:
        assert self.files is not None, "start() first"
        return self.files.put

    async def _send(self, madonvi: str, kind: str, ma_ho_so: str, fields: dict[str, Any]) -> None:
        client = self.client
        assert client is not None
        ambiguous = False
        last: Exception | None = None
        for attempt in range(client.max_attempts):
            if attempt:
                await asyncio.sleep(client.backoff * 2 ** (attempt - 1))
            # built for each attempt, so that every attempt carries links fresh for their TTL
            if kind == "dossier":
                item = ho_so_to_portal(fields, self._link)
            else:
                item = tien_do_to_portal(fields)
            try:
                if ambiguous:
                    ambiguous = False
                    if await self._portal_has(madonvi, kind, ma_ho_so, item):
                        return  # the unanswered attempt did apply it: do not send it again
                if kind == "dossier":
                    await self._sync_dossier(madonvi, ma_ho_so, item)
                else:
                    await client.call_once(madonvi, "CapNhatTienDoHoSoMC", {"data": [item]})
                return
            except _Ambiguous as exc:
                ambiguous, last = True, exc
            except _Transient as exc:
                last = exc
        raise ExternalUnavailable(f"DVCQG: {ma_ho_so} not confirmed: {last}")

    async def _sync_dossier(self, madonvi: str, ma_ho_so: str, item: dict[str, Any]) -> None:
        """``DongBoHoSoMC`` as syncDossierAndDossierStatus sends it (lines 2124–2141):
        ``isUpdating`` "True" if ``TraCuuHoSo`` found the dossier, else "False"."""
        client = self.client
        assert client is not None
        for attempt in range(2):
            updating = "True" if await self._lookup(madonvi, ma_ho_so) is not None else "False"
            params = {"isUpdating": updating, "data": [item]}
            answer = await client.call_once(madonvi, "DongBoHoSoMC", params, relogin=False)
            if is_success(answer):
                return
            # not applied: the session may have expired, or the dossier appeared/vanished
            # between the look-up and the call; log in again, look again, once
            if attempt == 0:
                await client.login()
                continue
            raise DvcqgRefused("DongBoHoSoMC", str(answer.get("error_code")), _message(answer))

    async def _lookup(self, madonvi: str, ma_ho_so: str) -> dict[str, Any] | None:
        """``TraCuuHoSo``: the dossier as the portal holds it (``result[0]``), or ``None``."""
        assert self.client is not None
        answer = await self.client.call_once(madonvi, "TraCuuHoSo", {"mahoso": ma_ho_so})
        result = answer.get("result") or []
        if isinstance(result, list) and result and isinstance(result[0], dict):
            return dict(result[0])
        return None

    async def _portal_has(
        self, madonvi: str, kind: str, ma_ho_so: str, item: dict[str, Any]
    ) -> bool:
        held = await self._lookup(madonvi, ma_ho_so)
        if held is None:
            return False
        if kind == "dossier":
            # in NFC: the portal may answer the text it applied in another normal form than
            # it was sent in, and a mismatch here means sending the dossier a second time
            return bool(nfc_text(comparable(held)) == nfc_text(comparable(item)))
        # TraCuuHoSo returns the dossier, not its steps: the step arrived if the dossier is
        # now in the step's state (a repeated state cannot be told apart; see docs)
        return str(held.get("TrangThaiHoSo")) == str(item["TrangThai"])


def _version(fields: Mapping[str, Any]) -> str:
    """A record's version: the hash of its content (it changes whenever the content does,
    not with the Unicode normal form of its text)."""
    return state_hash(dict(fields))[:20]


def _hashes(content: Mapping[str, Any], length: int = 64) -> tuple[str, ...]:
    """What the ledger may hold for ``content``: its hash (:func:`state_hash`, of NFC text)
    and, when that differs, the hash of the raw text that adapters recorded before they
    normalised (:func:`raw_state_hash`).

    Upgrade: a ledger row written before keeps counting for the same text as it came then,
    so nothing it recorded is sent or handed over again. Text that is NFC (nearly all) hashes
    the same both ways. What no ledger can tell is that an older row of decomposed text and
    a new arrival of the same text composed are one state: the older adapter did not know it
    either, so at worst that state goes once more, as it would have before."""
    new, old = state_hash(content)[:length], raw_state_hash(content)[:length]
    return (new,) if new == old else (new, old)


def create_adapter(config: AdapterConfig) -> DvcqgAdapter:
    """The connector's entry point."""
    return DvcqgAdapter(config)
