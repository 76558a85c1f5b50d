"""A simulator of the national public-service portal's dossier synchronisation (DVCQG).

A real aiohttp server on loopback that behaves like the portal as provincial systems see it:

* ``POST /login`` ``{"username", "password"}`` → ``{"error_code": "00", "session": …,
  "expires_in": seconds}``; a session expires after ``session_ttl`` seconds (or when
  :meth:`DvcqgSimulator.expire_sessions` is called) and is then refused with ``error_code "02"``.
* ``POST /api`` ``{"session", "madonvi", "service", …}`` with the services

  - ``DongBoHoSoMC`` ``{"isUpdating": bool, "data": [HoSo, …]}``: create (``isUpdating``
    false) or update (true) dossiers. Creating an existing dossier answers ``"05"``, updating a
    missing one ``"04"``.
  - ``CapNhatTienDoHoSoMC`` ``{"data": [TienDo, …]}``: append progress steps; the dossier's
    ``TrangThaiHoSo`` follows the last step.
  - ``TraCuuHoSo`` ``{"mahoso"}``: the dossier as stored, with its progress steps.
  - ``LayDanhSachHoSo`` ``{"tuSoThuTu", "soLuong"}``: dossiers citizens submitted on the portal
    for ``madonvi``, in arrival order after a sequence number (the simulator's name for the
    portal's feed of online submissions; the brief does not name that service).

Error codes (``error_code`` with a Vietnamese ``message``; ``field`` names the offending field):
``00`` success, ``01`` wrong username or password, ``02`` session expired or unknown, ``03``
invalid request or record, ``04`` dossier not found, ``05`` dossier already exists, ``06``
``madonvi`` not allowed for the account, ``99`` system busy (transient).

Failures, as the real portal has them: :meth:`DvcqgSimulator.inject` queues faults for the next
API calls — ``"http500"``, ``"http503"``, ``"busy"`` (``99``), ``"timeout"`` (answers after the
client gave up), ``"lost_response"`` (applies the request, then answers 502: the client cannot
know it worked), ``"expire_session"``; ``failure_rate`` draws such faults at random from a
seeded generator.

Duplicate detection: every dossier or progress state received is hashed; :attr:`sends` counts
how often each ``(MaHoSo, state)`` arrived, and :meth:`duplicate_sends` lists the states that
arrived more than once. The portal accepts duplicates silently (as the real one does), so only
this record shows a client that sends the same state twice.

Not imitated: HTTPS and the LGSP gateway in front of the portal, the real account provisioning,
rate limiting, the portal's full validation catalogue (procedure codes are checked for shape
only, not against the national catalogue), payment, and file uploads by URL.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import secrets
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

__all__ = ["DVCQG_ERRORS", "DvcqgSimulator", "FaultKind", "state_hash"]

FaultKind = Literal["http500", "http503", "busy", "timeout", "lost_response", "expire_session"]

DVCQG_ERRORS: dict[str, str] = {
    "00": "Thành công",
    "01": "Sai tên đăng nhập hoặc mật khẩu",
    "02": "Phiên làm việc đã hết hạn hoặc không hợp lệ",
    "03": "Dữ liệu không hợp lệ",
    "04": "Không tìm thấy hồ sơ",
    "05": "Hồ sơ đã tồn tại",
    "06": "Đơn vị không được phép đồng bộ",
    "99": "Hệ thống đang bận, vui lòng thử lại sau",
}

_TIME = re.compile(r"\d{14}")
_REQUIRED_HO_SO = ("MaHoSo", "MaTTHC", "TenTTHC", "ChuHoSo", "LoaiDoiTuong", "NgayTiepNhan")
_REQUIRED_TIEN_DO = ("MaHoSo", "TrangThaiHoSo", "NgayXuLy", "NoiDungXuLy")
_TIME_FIELDS = ("NgayTiepNhan", "NgayHenTra", "NgayTra", "NgayXuLy")
_LIST_FIELDS = ("TaiLieuNop", "DanhSachLePhi", "DanhSachHoSoBoSung", "DanhSachGiayToKetQua")


def state_hash(record: dict[str, Any]) -> str:
    """A stable hash of a record's content (key order and JSON spacing do not matter)."""
    text = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _Invalid(Exception):
    def __init__(self, code: str, field_name: str | None, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.field_name = field_name
        self.detail = detail


@dataclass
class _Session:
    username: str
    expires_at: float


@dataclass
class _Account:
    password: str
    units: frozenset[str]


@dataclass
class DvcqgSimulator:
    """The portal: accounts, sessions, dossiers, progress, the online-submission feed, faults.

    Use as ``async with DvcqgSimulator(...) as sim:`` and point the adapter at ``sim.url``.
    """

    accounts: dict[str, tuple[str, tuple[str, ...]]] = field(
        default_factory=lambda: {"igate": ("matkhau", ("000.00.00.H41",))}
    )
    session_ttl: float = 1800.0
    failure_rate: float = 0.0
    seed: int = 0
    timeout_delay: float = 2.0
    host: str = "127.0.0.1"
    port: int = 0

    dossiers: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict, init=False)
    progress: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict, init=False)
    sends: Counter[tuple[str, str]] = field(default_factory=Counter, init=False)
    calls: Counter[str] = field(default_factory=Counter, init=False)
    logins: int = field(default=0, init=False)
    faults_served: Counter[str] = field(default_factory=Counter, init=False)

    def __post_init__(self) -> None:
        self._accounts = {
            user: _Account(password, frozenset(units))
            for user, (password, units) in self.accounts.items()
        }
        self._sessions: dict[str, _Session] = {}
        self._faults: deque[FaultKind] = deque()
        self._rng = random.Random(self.seed)
        self._feed: list[tuple[int, str, dict[str, Any]]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        """Listen on loopback; returns the base URL."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/login", self._login)
        app.router.add_post("/api", self._api)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.url = f"http://{self.host}:{self.port}"
        return self.url

    async def stop(self) -> None:
        """Stop listening (state stays inspectable)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DvcqgSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ test controls

    def inject(self, *faults: FaultKind) -> None:
        """Queue faults for the next API calls, one per call, in order."""
        self._faults.extend(faults)

    def expire_sessions(self) -> None:
        """Every session expires now (the portal restarted, or the TTL passed)."""
        for session in self._sessions.values():
            session.expires_at = 0.0

    def submit_online(self, madonvi: str, dossier: dict[str, Any]) -> int:
        """A citizen submits ``dossier`` on the portal for ``madonvi``; returns its sequence."""
        seq = len(self._feed) + 1
        self._feed.append((seq, madonvi, dict(dossier)))
        return seq

    def duplicate_sends(self) -> dict[tuple[str, str], int]:
        """``(MaHoSo, state hash) → count`` for every state received more than once."""
        return {key: count for key, count in self.sends.items() if count > 1}

    def dossier(self, madonvi: str, ma_ho_so: str) -> dict[str, Any] | None:
        """The dossier as the portal stores it."""
        return self.dossiers.get((madonvi, ma_ho_so))

    # ------------------------------------------------------------------ handlers

    @staticmethod
    def _answer(code: str, **extra: Any) -> web.Response:
        body = {"error_code": code, "message": DVCQG_ERRORS[code], **extra}
        return web.json_response(body, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    async def _json(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json(loads=json.loads)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _Invalid("03", None, f"thân yêu cầu không phải JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise _Invalid("03", None, "thân yêu cầu phải là một đối tượng JSON")
        return body

    async def _login(self, request: web.Request) -> web.Response:
        try:
            body = await self._json(request)
        except _Invalid as exc:
            return self._answer(exc.code, detail=exc.detail)
        account = self._accounts.get(str(body.get("username", "")))
        password = str(body.get("password", ""))
        if account is None or not secrets.compare_digest(
            account.password.encode(), password.encode()
        ):
            return self._answer("01")
        self.logins += 1
        token = secrets.token_urlsafe(24)
        self._sessions[token] = _Session(str(body["username"]), time.monotonic() + self.session_ttl)
        return self._answer("00", session=token, expires_in=int(self.session_ttl))

    def _next_fault(self) -> FaultKind | None:
        if self._faults:
            return self._faults.popleft()
        if self.failure_rate and self._rng.random() < self.failure_rate:
            kinds: tuple[FaultKind, ...] = (
                "http500",
                "http503",
                "busy",
                "timeout",
                "lost_response",
            )
            return self._rng.choice(kinds)
        return None

    async def _api(self, request: web.Request) -> web.Response:
        fault = self._next_fault()
        if fault is not None:
            self.faults_served[fault] += 1
        if fault == "http500":
            return web.Response(status=500, text="Internal Server Error")
        if fault == "http503":
            return web.Response(status=503, text="Service Unavailable")
        if fault == "busy":
            return self._answer("99")
        if fault == "expire_session":
            self.expire_sessions()
        try:
            body = await self._json(request)
            service = str(body.get("service", ""))
            self.calls[service] = self.calls[service] + 1
            madonvi = self._authorise(body)
            answer = self._dispatch(service, madonvi, body)
        except _Invalid as exc:
            extra: dict[str, Any] = {"detail": exc.detail}
            if exc.field_name is not None:
                extra["field"] = exc.field_name
            answer = {"error_code": exc.code, **extra}
        if fault == "timeout":
            # the client gives up first; whether the request was applied is unknown to it
            await asyncio.sleep(self.timeout_delay)
        if fault == "lost_response":
            return web.Response(status=502, text="Bad Gateway")
        code = str(answer.pop("error_code"))
        return self._answer(code, **answer)

    def _authorise(self, body: dict[str, Any]) -> str:
        session = self._sessions.get(str(body.get("session", "")))
        if session is None or session.expires_at <= time.monotonic():
            raise _Invalid("02", "session", "phiên làm việc đã hết hạn")
        madonvi = str(body.get("madonvi", ""))
        if madonvi not in self._accounts[session.username].units:
            raise _Invalid("06", "madonvi", f"tài khoản không quản lý đơn vị {madonvi}")
        return madonvi

    def _dispatch(self, service: str, madonvi: str, body: dict[str, Any]) -> dict[str, Any]:
        if service == "DongBoHoSoMC":
            return self._dong_bo(madonvi, body)
        if service == "CapNhatTienDoHoSoMC":
            return self._tien_do(madonvi, body)
        if service == "TraCuuHoSo":
            return self._tra_cuu(madonvi, body)
        if service == "LayDanhSachHoSo":
            return self._feed_page(madonvi, body)
        raise _Invalid("03", "service", f"dịch vụ không tồn tại: {service!r}")

    # ------------------------------------------------------------------ services

    @staticmethod
    def _data(body: dict[str, Any]) -> list[dict[str, Any]]:
        data = body.get("data")
        if not isinstance(data, list) or not data:
            raise _Invalid("03", "data", "data phải là một danh sách không rỗng")
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                raise _Invalid("03", f"data[{i}]", "mỗi phần tử phải là một đối tượng")
        return data

    @staticmethod
    def _check(record: dict[str, Any], index: int, required: tuple[str, ...]) -> None:
        for name in required:
            value = record.get(name)
            if not isinstance(value, str) or not value.strip():
                raise _Invalid("03", f"data[{index}].{name}", f"thiếu {name}")
        for name in _TIME_FIELDS:
            value = record.get(name)
            if value not in (None, "") and not (isinstance(value, str) and _TIME.fullmatch(value)):
                raise _Invalid("03", f"data[{index}].{name}", "ngày phải có dạng yyyyMMddHHmmss")
        state = record.get("TrangThaiHoSo")
        if state is not None and str(state) not in {str(n) for n in range(1, 11)}:
            raise _Invalid("03", f"data[{index}].TrangThaiHoSo", "trạng thái phải từ 1 đến 10")
        kind = record.get("LoaiDoiTuong")
        if kind is not None and str(kind) not in ("1", "2"):
            raise _Invalid("03", f"data[{index}].LoaiDoiTuong", "loại đối tượng phải là 1 hoặc 2")
        for name in _LIST_FIELDS:
            if name in record and not isinstance(record[name], list):
                raise _Invalid("03", f"data[{index}].{name}", "phải là một danh sách")

    def _dong_bo(self, madonvi: str, body: dict[str, Any]) -> dict[str, Any]:
        updating = body.get("isUpdating")
        if not isinstance(updating, bool):
            raise _Invalid("03", "isUpdating", "isUpdating phải là true hoặc false")
        data = self._data(body)
        for i, record in enumerate(data):
            self._check(record, i, _REQUIRED_HO_SO)
            exists = (madonvi, record["MaHoSo"]) in self.dossiers
            if exists and not updating:
                raise _Invalid("05", f"data[{i}].MaHoSo", f"hồ sơ {record['MaHoSo']} đã tồn tại")
            if not exists and updating:
                raise _Invalid("04", f"data[{i}].MaHoSo", f"không có hồ sơ {record['MaHoSo']}")
        # all or nothing, as the portal validates the whole batch before storing it
        results = []
        for record in data:
            key = (madonvi, record["MaHoSo"])
            self.sends[(record["MaHoSo"], "HoSo:" + state_hash(record))] += 1
            self.dossiers[key] = dict(record)
            self.progress.setdefault(key, [])
            results.append({"MaHoSo": record["MaHoSo"], "error_code": "00"})
        return {"error_code": "00", "result": results}

    def _tien_do(self, madonvi: str, body: dict[str, Any]) -> dict[str, Any]:
        data = self._data(body)
        for i, record in enumerate(data):
            self._check(record, i, _REQUIRED_TIEN_DO)
            if (madonvi, record["MaHoSo"]) not in self.dossiers:
                raise _Invalid("04", f"data[{i}].MaHoSo", f"không có hồ sơ {record['MaHoSo']}")
        for record in data:
            key = (madonvi, record["MaHoSo"])
            self.sends[(record["MaHoSo"], "TienDo:" + state_hash(record))] += 1
            self.progress[key].append(dict(record))
            self.dossiers[key]["TrangThaiHoSo"] = record["TrangThaiHoSo"]
        return {"error_code": "00", "result": [{"MaHoSo": r["MaHoSo"]} for r in data]}

    def _tra_cuu(self, madonvi: str, body: dict[str, Any]) -> dict[str, Any]:
        ma = body.get("mahoso")
        if not isinstance(ma, str) or not ma:
            raise _Invalid("03", "mahoso", "thiếu mahoso")
        dossier = self.dossiers.get((madonvi, ma))
        if dossier is None:
            raise _Invalid("04", "mahoso", f"không có hồ sơ {ma}")
        return {
            "error_code": "00",
            "data": dict(dossier),
            "TienDo": [dict(p) for p in self.progress.get((madonvi, ma), [])],
        }

    def _feed_page(self, madonvi: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            after = int(body.get("tuSoThuTu", 0))
            limit = max(1, min(500, int(body.get("soLuong", 100))))
        except (TypeError, ValueError) as exc:
            raise _Invalid("03", "tuSoThuTu", "tuSoThuTu và soLuong phải là số") from exc
        rows = [(seq, d) for seq, unit, d in self._feed if unit == madonvi and seq > after]
        page = rows[:limit]
        return {
            "error_code": "00",
            "data": [{"SoThuTu": seq, **d} for seq, d in page],
            "conLai": len(rows) - len(page),
        }
