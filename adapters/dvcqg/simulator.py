"""A simulator of the national public-service portal's dossier synchronisation (DVCQG), speaking
what a real provincial integration sends and reads (VietOpenCPS/opencps-v2,
``DVCQGIntegrationActionImpl.java``; the field table is in docs/adapters.md).

A real aiohttp server on loopback:

* ``POST {auth_endpoint}`` (``/login``) ``{"username", "password"}`` → ``{"error_code": 0,
  "session"}``. A session lasts ``session_ttl`` seconds (or until :meth:`expire_sessions`).
* ``POST {integration_endpoint}`` (``/api``) ``{"session", "madonvi", "service", …}``:

  - ``DongBoHoSoMC`` ``{"isUpdating": "True"|"False", "data": [dossier, …]}`` — the strings,
    as the reference sends them; every field the reference always sends must be there (empty
    strings included), nothing else (``SoBienNhan`` may be); ``TaiLieuNop[]`` items are
    ``{TenTepDinhKem, MaThanhPhanHoSo, TepDinhKemId, DuongDanTaiTepTin, IsDeleted}`` and the
    portal **downloads** each ``DuongDanTaiTepTin`` (kept in :attr:`files`); result documents
    are ``{TenGiayTo, MaThanhPhanHoSo, GiayToId, DuongDanTepTinKetQua}``. Answers
    ``error_code "0"`` (the string).
  - ``CapNhatTienDoHoSoMC`` ``{"data": [step, …]}`` with exactly the reference's nine fields
    (``MaHoSo, NguoiXuLy, ChucDanh, ThoiDiemXuLy, PhongBanXuLy, NoiDungXuLy, TrangThai,
    NgayBatDau, NgayKetThucTheoQuyDinh``); the dossier's ``TrangThaiHoSo`` follows
    ``TrangThai``. Answers ``error_code`` 0 (the number).
  - ``TraCuuHoSo`` ``{"mahoso"}`` → ``{"error_code": "0", "result": [dossier]}``, ``result``
    empty when the portal does not hold it (the reference only asks whether it is empty).
  - ``LayThuTuc`` ``{"maTTHC"}`` → ``result[0]`` with ``TENTTHC`` and
    ``LINHVUCTHUCHIEN[0].MALINHVUC/TENLINHVUC`` from :attr:`procedures`.

* ``dstcode``: when set, requests whose ``dstcode`` header differs get HTTP 404 (the gateway
  routes by it).

**Simulator-only** (the reference shows no error code but 0): refusals use the numbers of
:data:`SIM_ERRORS` with a Vietnamese ``message``; faults queued with :meth:`inject` or drawn by
``failure_rate`` — ``"http500"``, ``"http503"``, ``"busy"`` (``error_code`` 99),
``"timeout"``, ``"lost_response"`` (applied, then 502), ``"expire_session"`` (also for one
service's calls only: ``inject(..., service="DongBoHoSoMC")``);
:meth:`put_dossier` / :meth:`put_file` to hold a dossier submitted on the portal (with
documents served at ``/tep/{id}``); ``answer_form`` (``"NFC"``/``"NFD"``) makes ``TraCuuHoSo``
answer every text in that Unicode normal form, as a portal on another stack that re-normalises
what it stores would (default ``None``: as received). :attr:`sends` counts every
``(MaHoSo, state)`` received (links compared without their expiry and signature) and
:meth:`duplicate_sends` lists those received twice: the portal accepts duplicates silently,
as the real one does.

Not imitated: HTTPS and the LGSP gateway, account provisioning, rate limits, the national
procedure catalogue beyond :attr:`procedures`, payments, the portal's push of online
submissions to the province.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import secrets
import time
import unicodedata
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from aiohttp import web

__all__ = ["SIM_ERRORS", "DvcqgSimulator", "FaultKind", "state_hash"]

FaultKind = Literal["http500", "http503", "busy", "timeout", "lost_response", "expire_session"]

#: The simulator's own error codes (the real portal's numbering is not public).
SIM_ERRORS: dict[int, str] = {
    0: "Thành công",
    1: "Sai tên đăng nhập hoặc mật khẩu",
    2: "Phiên làm việc đã hết hạn hoặc không hợp lệ",
    3: "Dữ liệu không hợp lệ",
    4: "Không tìm thấy hồ sơ",
    5: "Hồ sơ đã tồn tại",
    6: "Đơn vị không được phép đồng bộ",
    99: "Hệ thống đang bận, vui lòng thử lại sau",
}

_TIME = re.compile(r"\d{14}")
# the fields createSyncDossierBodyRequest always puts (lines 166–322)
HO_SO_KEYS = frozenset(
    [
        "MaHoSo",
        "MaTTHC",
        "TenTTHC",
        "MaLinhVuc",
        "TenLinhVuc",
        "ChuHoSo",
        "LoaiDoiTuong",
        "MaDoiTuong",
        "ThongTinKhac",
        "Email",
        "Fax",
        "SoDienThoai",
        "TrichYeuHoSo",
        "NgayTiepNhan",
        "NgayHenTra",
        "TrangThaiHoSo",
        "NgayTra",
        "ThongTinTra",
        "HinhThuc",
        "NgayKetThucXuLy",
        "DonViXuLy",
        "GhiChu",
        "DanhSachLePhi",
        "DanhSachTepDinhKemKhac",
        "DanhSachHoSoBoSung",
        "DanhSachGiayToKetQua",
        "TaiLieuNop",
    ]
)
HO_SO_OPTIONAL = frozenset({"SoBienNhan"})
TAI_LIEU_KEYS = frozenset(
    ["TenTepDinhKem", "MaThanhPhanHoSo", "TepDinhKemId", "DuongDanTaiTepTin", "IsDeleted"]
)
KET_QUA_KEYS = frozenset(["TenGiayTo", "MaThanhPhanHoSo", "GiayToId", "DuongDanTepTinKetQua"])
LE_PHI_KEYS = frozenset(["TenPhiLePhi", "MaPhiLePhi", "HinhThucThu", "Gia", "LoaiPhiLePhi"])
TIEN_DO_KEYS = frozenset(
    [
        "MaHoSo",
        "NguoiXuLy",
        "ChucDanh",
        "ThoiDiemXuLy",
        "PhongBanXuLy",
        "NoiDungXuLy",
        "TrangThai",
        "NgayBatDau",
        "NgayKetThucTheoQuyDinh",
    ]
)
_REQUIRED_HO_SO = ("MaHoSo", "MaTTHC", "ChuHoSo", "LoaiDoiTuong", "NgayTiepNhan", "TrangThaiHoSo")
_REQUIRED_TIEN_DO = ("MaHoSo", "ThoiDiemXuLy", "TrangThai")
_DATES = ("NgayTiepNhan", "NgayHenTra", "NgayTra", "NgayKetThucXuLy", "ThoiDiemXuLy",
          "NgayBatDau", "NgayKetThucTheoQuyDinh")  # fmt: skip


def _stable(record: Any) -> Any:
    """A record without its links' expiry and signature (they change on every send)."""
    if isinstance(record, dict):
        return {
            k: (v.split("?", 1)[0] if k.startswith("DuongDan") and isinstance(v, str)
                else _stable(v))
            for k, v in record.items()
        }  # fmt: skip
    if isinstance(record, list):
        return [_stable(v) for v in record]
    return record


def state_hash(record: dict[str, Any]) -> str:
    """A stable hash of a record's content (key order, spacing and link signatures aside)."""
    text = json.dumps(_stable(record), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _in_form(value: Any, form: Literal["NFC", "NFD"] | None) -> Any:
    """``value`` with every text in the normal form ``form`` (``None``: as it is)."""
    if form is None:
        return value
    if isinstance(value, str):
        return unicodedata.normalize(form, value)
    if isinstance(value, dict):
        return {k: _in_form(v, form) for k, v in value.items()}
    if isinstance(value, list):
        return [_in_form(v, form) for v in value]
    return value


class _Invalid(Exception):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(detail)
        self.code = code
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
    """The portal: accounts, sessions, dossiers, progress, documents, faults.

    Use as ``async with DvcqgSimulator(...) as sim:`` and point the adapter at ``sim.url``.
    """

    accounts: dict[str, tuple[str, tuple[str, ...]]] = field(
        default_factory=lambda: {"igate": ("matkhau", ("000.00.00.H41",))}
    )
    session_ttl: float = 1800.0
    failure_rate: float = 0.0
    seed: int = 0
    timeout_delay: float = 2.0
    auth_endpoint: str = "/login"
    integration_endpoint: str = "/api"
    dstcode: str | None = None
    fetch_files: bool = True
    answer_form: Literal["NFC", "NFD"] | None = None
    host: str = "127.0.0.1"
    port: int = 0

    dossiers: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict, init=False)
    progress: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict, init=False)
    files: dict[str, bytes] = field(default_factory=dict, init=False)
    procedures: dict[str, tuple[str, str, str]] = field(default_factory=dict, init=False)
    sends: Counter[tuple[str, str]] = field(default_factory=Counter, init=False)
    calls: Counter[str] = field(default_factory=Counter, init=False)
    requests: list[dict[str, Any]] = field(default_factory=list, init=False)
    logins: int = field(default=0, init=False)
    faults_served: Counter[str] = field(default_factory=Counter, init=False)

    def __post_init__(self) -> None:
        self._accounts = {
            user: _Account(password, frozenset(units))
            for user, (password, units) in self.accounts.items()
        }
        self._sessions: dict[str, _Session] = {}
        self._faults: deque[FaultKind] = deque()
        self._service_faults: dict[str, deque[FaultKind]] = {}
        self._rng = random.Random(self.seed)
        self._own_files: dict[str, tuple[bytes, str]] = {}
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.url = ""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        """Listen on loopback; returns the base URL (the adapter's ``adapter_url``)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(self.auth_endpoint, self._login)
        app.router.add_post(self.integration_endpoint, self._api)
        app.router.add_get("/tep/{id}", self._own_file)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.url = f"http://{self.host}:{self.port}"
        return self.url

    async def stop(self) -> None:
        """Stop listening (state stays inspectable)."""
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DvcqgSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ test controls

    def inject(self, *faults: FaultKind, service: str | None = None) -> None:
        """Queue faults for the next API calls, one per call, in order; with ``service``,
        for the next calls of that service only (e.g. ``DongBoHoSoMC``, not the look-up the
        adapter makes before it)."""
        if service is None:
            self._faults.extend(faults)
        else:
            self._service_faults.setdefault(service, deque()).extend(faults)

    def expire_sessions(self) -> None:
        """Every session expires now (the portal restarted, or the TTL passed)."""
        for session in self._sessions.values():
            session.expires_at = 0.0

    def put_dossier(self, madonvi: str, dossier: dict[str, Any]) -> None:
        """The portal holds ``dossier`` (in its own JSON) for ``madonvi``, e.g. submitted
        online by a citizen; ``TraCuuHoSo`` finds it."""
        self.dossiers[(madonvi, str(dossier["MaHoSo"]))] = dict(dossier)

    def put_file(self, data: bytes, content_type: str) -> str:
        """A document the portal serves itself (for :meth:`put_dossier`); returns its URL."""
        ident = hashlib.sha256(data).hexdigest()[:24]
        self._own_files[ident] = (data, content_type)
        return f"{self.url}/tep/{ident}"

    def duplicate_sends(self) -> dict[tuple[str, str], int]:
        """``(MaHoSo, state hash) → count`` for every state received more than once."""
        return {key: count for key, count in self.sends.items() if count > 1}

    def dossier(self, madonvi: str, ma_ho_so: str) -> dict[str, Any] | None:
        """The dossier as the portal stores it."""
        return self.dossiers.get((madonvi, ma_ho_so))

    # ------------------------------------------------------------------ handlers

    @staticmethod
    def _answer(code: int | str, **extra: Any) -> web.Response:
        body = {"error_code": code, "message": SIM_ERRORS.get(int(code), ""), **extra}
        return web.json_response(body, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    def _wrong_dstcode(self, request: web.Request) -> web.Response | None:
        if self.dstcode is not None and request.headers.get("dstcode") != self.dstcode:
            return web.json_response({"error": "unknown dstcode"}, status=404)
        return None

    async def _json(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json(loads=json.loads)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _Invalid(3, f"thân yêu cầu không phải JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise _Invalid(3, "thân yêu cầu phải là một đối tượng JSON")
        return body

    async def _login(self, request: web.Request) -> web.Response:
        wrong = self._wrong_dstcode(request)
        if wrong is not None:
            return wrong
        try:
            body = await self._json(request)
        except _Invalid as exc:
            return self._answer(exc.code, detail=exc.detail)
        account = self._accounts.get(str(body.get("username", "")))
        password = str(body.get("password", ""))
        if account is None or not secrets.compare_digest(
            account.password.encode(), password.encode()
        ):
            return self._answer(1)
        self.logins += 1
        token = secrets.token_urlsafe(24)
        self._sessions[token] = _Session(str(body["username"]), time.monotonic() + self.session_ttl)
        return self._answer(0, session=token)

    async def _own_file(self, request: web.Request) -> web.Response:
        found = self._own_files.get(request.match_info["id"])
        if found is None:
            return web.Response(status=404)
        return web.Response(body=found[0], headers={"Content-Type": found[1]})

    def _next_fault(self, service: str) -> FaultKind | None:
        own = self._service_faults.get(service)
        if own:
            return own.popleft()
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
        wrong = self._wrong_dstcode(request)
        if wrong is not None:
            return wrong
        try:
            body: dict[str, Any] | None = await self._json(request)
            invalid: _Invalid | None = None
        except _Invalid as exc:
            body, invalid = None, exc
        fault = self._next_fault(str((body or {}).get("service", "")))
        if fault is not None:
            self.faults_served[fault] += 1
        if fault == "http500":
            return web.Response(status=500, text="Internal Server Error")
        if fault == "http503":
            return web.Response(status=503, text="Service Unavailable")
        if fault == "busy":
            return self._answer(99)
        if fault == "expire_session":
            self.expire_sessions()
        try:
            if invalid is not None:
                raise invalid
            assert body is not None
            self.requests.append(body)
            service = str(body.get("service", ""))
            self.calls[service] = self.calls[service] + 1
            madonvi = self._authorise(body)
            answer = await self._dispatch(service, madonvi, body)
        except _Invalid as exc:
            answer = {"error_code": exc.code, "detail": exc.detail}
        if fault == "timeout":
            # the client gives up first; whether the request was applied is unknown to it
            await asyncio.sleep(self.timeout_delay)
        if fault == "lost_response":
            return web.Response(status=502, text="Bad Gateway")
        code = answer.pop("error_code")
        return self._answer(code, **answer)

    def _authorise(self, body: dict[str, Any]) -> str:
        session = self._sessions.get(str(body.get("session", "")))
        if session is None or session.expires_at <= time.monotonic():
            raise _Invalid(2, "phiên làm việc đã hết hạn")
        madonvi = str(body.get("madonvi", ""))
        if madonvi not in self._accounts[session.username].units:
            raise _Invalid(6, f"tài khoản không quản lý đơn vị {madonvi}")
        return madonvi

    async def _dispatch(self, service: str, madonvi: str, body: dict[str, Any]) -> dict[str, Any]:
        if service == "DongBoHoSoMC":
            return await self._dong_bo(madonvi, body)
        if service == "CapNhatTienDoHoSoMC":
            return self._tien_do(madonvi, body)
        if service == "TraCuuHoSo":
            return self._tra_cuu(madonvi, body)
        if service == "LayThuTuc":
            return self._thu_tuc(body)
        raise _Invalid(3, f"dịch vụ không tồn tại: {service!r}")

    # ------------------------------------------------------------------ services

    @staticmethod
    def _data(body: dict[str, Any]) -> list[dict[str, Any]]:
        data = body.get("data")
        if not isinstance(data, list) or not data:
            raise _Invalid(3, "data phải là một danh sách không rỗng")
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                raise _Invalid(3, f"data[{i}]: mỗi phần tử phải là một đối tượng")
        return data

    @staticmethod
    def _keys(where: str, item: dict[str, Any], must: frozenset[str], may: frozenset[str]) -> None:
        missing = sorted(must - item.keys())
        if missing:
            raise _Invalid(3, f"{where}: thiếu trường {', '.join(missing)}")
        unknown = sorted(item.keys() - must - may)
        if unknown:
            raise _Invalid(3, f"{where}: trường không có trong đặc tả {', '.join(unknown)}")

    @staticmethod
    def _texts(where: str, item: dict[str, Any], required: tuple[str, ...]) -> None:
        for name, value in item.items():
            if not isinstance(value, str | list):
                raise _Invalid(3, f"{where}.{name}: phải là chuỗi")
        for name in required:
            if not str(item.get(name, "")).strip():
                raise _Invalid(3, f"{where}.{name}: không được để trống")
        for name in _DATES:
            value = item.get(name)
            if value not in (None, "") and not _TIME.fullmatch(str(value)):
                raise _Invalid(3, f"{where}.{name}: ngày phải có dạng yyyyMMddHHmmss")

    async def _fetch(self, where: str, url: str) -> bytes:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        try:
            async with self._http.get(url) as answer:
                if answer.status != 200:
                    raise _Invalid(3, f"{where}: không tải được tệp (HTTP {answer.status})")
                return await answer.read()
        except aiohttp.ClientError as exc:
            raise _Invalid(3, f"{where}: không tải được tệp ({exc})") from exc

    async def _dong_bo(self, madonvi: str, body: dict[str, Any]) -> dict[str, Any]:
        updating = body.get("isUpdating")
        if updating not in ("True", "False"):
            raise _Invalid(3, f'isUpdating phải là chuỗi "True" hoặc "False": {updating!r}')
        data = self._data(body)
        fetched: dict[str, bytes] = {}
        for i, record in enumerate(data):
            where = f"data[{i}]"
            self._keys(where, record, HO_SO_KEYS, HO_SO_OPTIONAL)
            self._texts(where, record, _REQUIRED_HO_SO)
            if record["TrangThaiHoSo"] not in {str(n) for n in range(1, 11)}:
                raise _Invalid(3, f"{where}.TrangThaiHoSo: trạng thái phải từ 1 đến 10")
            if record["LoaiDoiTuong"] not in ("1", "2"):
                raise _Invalid(3, f"{where}.LoaiDoiTuong: phải là 1 hoặc 2")
            for name, keys in (("TaiLieuNop", TAI_LIEU_KEYS), ("DanhSachGiayToKetQua",
                               KET_QUA_KEYS), ("DanhSachLePhi", LE_PHI_KEYS)):  # fmt: skip
                items = record[name]
                if not isinstance(items, list):
                    raise _Invalid(3, f"{where}.{name}: phải là một danh sách")
                for j, item in enumerate(items):
                    self._keys(f"{where}.{name}[{j}]", item, keys, frozenset())
            for j, item in enumerate(record["TaiLieuNop"]):
                if item["IsDeleted"] not in ("True", "False"):
                    raise _Invalid(3, f'{where}.TaiLieuNop[{j}].IsDeleted: "True"/"False"')
                if self.fetch_files and item["IsDeleted"] == "False":
                    url = item["DuongDanTaiTepTin"]
                    fetched[url] = await self._fetch(f"{where}.TaiLieuNop[{j}]", url)
            exists = (madonvi, record["MaHoSo"]) in self.dossiers
            if exists and updating == "False":
                raise _Invalid(5, f"{where}.MaHoSo: hồ sơ {record['MaHoSo']} đã tồn tại")
            if not exists and updating == "True":
                raise _Invalid(4, f"{where}.MaHoSo: không có hồ sơ {record['MaHoSo']}")
        # all or nothing, as the portal validates the whole batch before storing it
        for record in data:
            key = (madonvi, record["MaHoSo"])
            self.sends[(record["MaHoSo"], "HoSo:" + state_hash(record))] += 1
            self.dossiers[key] = dict(record)
            self.progress.setdefault(key, [])
            for item in record["TaiLieuNop"]:
                if item["DuongDanTaiTepTin"] in fetched:
                    name = f"{record['MaHoSo']}/{item['TepDinhKemId']}"
                    self.files[name] = fetched[item["DuongDanTaiTepTin"]]
        return {"error_code": "0"}

    def _tien_do(self, madonvi: str, body: dict[str, Any]) -> dict[str, Any]:
        data = self._data(body)
        for i, record in enumerate(data):
            where = f"data[{i}]"
            self._keys(where, record, TIEN_DO_KEYS, frozenset())
            self._texts(where, record, _REQUIRED_TIEN_DO)
            if record["TrangThai"] not in {str(n) for n in range(1, 11)}:
                raise _Invalid(3, f"{where}.TrangThai: trạng thái phải từ 1 đến 10")
            if (madonvi, record["MaHoSo"]) not in self.dossiers:
                raise _Invalid(4, f"{where}.MaHoSo: không có hồ sơ {record['MaHoSo']}")
        for record in data:
            key = (madonvi, record["MaHoSo"])
            self.sends[(record["MaHoSo"], "TienDo:" + state_hash(record))] += 1
            self.progress.setdefault(key, []).append(dict(record))
            self.dossiers[key]["TrangThaiHoSo"] = record["TrangThai"]
        return {"error_code": 0}

    def _tra_cuu(self, madonvi: str, body: dict[str, Any]) -> dict[str, Any]:
        ma = body.get("mahoso")
        if not isinstance(ma, str) or not ma:
            raise _Invalid(3, "thiếu mahoso")
        dossier = self.dossiers.get((madonvi, ma))
        if dossier is None:
            return {"error_code": "0", "result": []}
        return {"error_code": "0", "result": [_in_form(dict(dossier), self.answer_form)]}

    def _thu_tuc(self, body: dict[str, Any]) -> dict[str, Any]:
        code = str(body.get("maTTHC", ""))
        found = self.procedures.get(code)
        if found is None:
            return {"error_code": 0, "result": []}
        name, field_code, field_name = found
        return {
            "error_code": 0,
            "result": [
                {
                    "MATTHC": code,
                    "TENTTHC": name,
                    "LINHVUCTHUCHIEN": [{"MALINHVUC": field_code, "TENLINHVUC": field_name}],
                }
            ],
        }
