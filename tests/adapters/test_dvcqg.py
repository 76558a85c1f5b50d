"""The ``dvcqg`` adapter against its portal simulator: mapping, sessions, faults, exactly once."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import unicodedata
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pytest

from adapters.dvcqg import DvcqgAdapter, create_adapter
from adapters.dvcqg.adapter import DvcqgRefused, is_success
from adapters.dvcqg.mapping import fields_from_ho_so, fields_from_tien_do, normalise
from adapters.dvcqg.portal import comparable, ho_so_to_portal
from adapters.dvcqg.simulator import (
    HO_SO_KEYS,
    KET_QUA_KEYS,
    TAI_LIEU_KEYS,
    DvcqgSimulator,
    FaultKind,
)
from hub.adapter import (
    Adapter,
    AdapterConfig,
    AdapterError,
    DeliverRequest,
    ExternalUnavailable,
    HttpRequest,
    HttpResponse,
    MockTransport,
    NativeInvalid,
    NativeRecord,
    PollRequest,
    StartRequest,
    StopRequest,
    ToPackageRequest,
    lgsp_access_token,
)
from hub.dossier import VN_TZ, HoSo
from hub.testing import AdapterContract, sample_ho_so, sample_tien_do
from tests.adapters.sim_fixtures import G22, H41, dossier, progress, record, round_trip

PORTAL = G22

#: The adapter's client timeout. The simulator runs in the test's own event loop, so every
#: ordinary call must finish within it on a busy machine: a spurious timeout makes the adapter
#: re-send a request that was in fact applied (a duplicate the assertions would count).
CLIENT_TIMEOUT_SECONDS = 2.0
#: How long the "timeout" fault keeps its answer: past the client timeout, so that fault
#: always times out (the server keeps the handler that long, so teardown waits for it).
TIMEOUT_FAULT_SECONDS = CLIENT_TIMEOUT_SECONDS + 1.0


@pytest.fixture
async def portal() -> AsyncIterator[DvcqgSimulator]:
    async with DvcqgSimulator(
        accounts={"hub": ("mật-khẩu", (H41,))}, timeout_delay=TIMEOUT_FAULT_SECONDS
    ) as sim:
        yield sim


def make_adapter(portal: DvcqgSimulator, tmp_path: Path, **extra: Any) -> DvcqgAdapter:
    settings = {
        "adapter_url": portal.url,
        "username": "hub",
        "password": "mật-khẩu",
        "madonvi": H41,
        "timeout_seconds": CLIENT_TIMEOUT_SECONDS,
        "max_attempts": 6,
        "backoff_seconds": 0.01,
        "transient_error_codes": ["99"],  # the simulator's "busy"
        **extra,
    }
    return create_adapter(AdapterConfig("dvcqg", PORTAL, settings, tmp_path / "state"))


@pytest.fixture
async def adapter(portal: DvcqgSimulator, tmp_path: Path) -> AsyncIterator[DvcqgAdapter]:
    a = make_adapter(portal, tmp_path)
    await a.start(StartRequest(datetime.now(VN_TZ)))
    yield a
    await a.stop(StopRequest())


def test_round_trip_byte_exact(tmp_path: Path) -> None:
    a = create_adapter(AdapterConfig("dvcqg", PORTAL, {"madonvi": H41}, tmp_path))
    rec = record(dossier())
    back = round_trip(a, rec)
    assert back.fields == rec.fields
    assert back.fields["TrichYeuHoSo"].encode() == rec.fields["TrichYeuHoSo"].encode()
    step = record(progress("H41.01-250101-0001", "4", "20250102090000"), "dossier_progress")
    assert round_trip(a, step).fields == step.fields


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"NgayTiepNhan": "2025-01-01"}, "NgayTiepNhan"),
        ({"TrangThaiHoSo": "11"}, "TrangThaiHoSo"),
        ({"LoaiDoiTuong": "3"}, "LoaiDoiTuong"),
        ({"MaTTHC": None}, "MaTTHC"),
        ({"SoGhe": "12"}, "SoGhe"),
        ({"ChuHoSo": "Nguyễn\x00"}, "ChuHoSo"),
        ({"TaiLieuNop": [{"TepDinhKemId": "TL1", "TenTepDinhKem": "a.pdf",
                          "ContentType": "application/pdf", "NoiDung": "không-phải-base64"}]},
         "TaiLieuNop[0].NoiDung"),
        ({"DanhSachLePhi": [{"TenPhiLePhi": "Lệ phí", "Gia": "8.000,5"}]}, "DanhSachLePhi[0].Gia"),
    ],
)  # fmt: skip
def test_bad_native_input_names_the_field(
    tmp_path: Path, change: dict[str, Any], field: str
) -> None:
    a = create_adapter(AdapterConfig("dvcqg", PORTAL, {"madonvi": H41}, tmp_path))
    fields = {**dossier(), **change}
    fields = {k: v for k, v in fields.items() if v is not None}
    with pytest.raises(NativeInvalid) as info:
        a.to_package(ToPackageRequest(record(fields), PORTAL, "p", datetime.now(VN_TZ)))
    assert info.value.field == field
    assert info.value.key == fields["MaHoSo"]


def test_normalise_integer_codes_and_absent_values() -> None:
    raw = {**dossier(), "TrangThaiHoSo": 4, "NgayTra": None, "DanhSachHoSoBoSung": []}
    fields = normalise(raw)
    assert fields["TrangThaiHoSo"] == "4"
    assert "NgayTra" not in fields and "DanhSachHoSoBoSung" not in fields


async def deliver(
    a: DvcqgAdapter, package_id: str, fields: dict[str, Any], kind: str = "dossier"
) -> bool:
    result = await a.deliver(DeliverRequest(package_id, "000.00.00.H41", record(fields, kind)))
    return result.applied


def last_request(portal: DvcqgSimulator, service: str) -> dict[str, Any]:
    return [r for r in portal.requests if r.get("service") == service][-1]


@pytest.mark.parametrize(
    ("code", "ok"),
    [(0, True), ("0", True), ("00", True), (1, False), ("1", False), ("", False),
     (None, False), (True, False), (False, False), ("abc", False), (-1, False)],
)  # fmt: skip
def test_success_is_error_code_zero_number_or_string(code: Any, ok: bool) -> None:
    assert is_success({"error_code": code}) is ok
    assert is_success({}) is False


async def test_dossier_as_the_portal_takes_it(
    adapter: DvcqgAdapter, portal: DvcqgSimulator
) -> None:
    d = {
        **dossier(),
        "DanhSachGiayToKetQua": [
            {"GiayToId": "KQ1", "TenGiayTo": "Giấy khai sinh bản chính",
             "ContentType": "application/pdf", "NoiDung": "JVBERi0xLjcK"}
        ],
    }  # fmt: skip
    assert await deliver(adapter, "p1", d)
    body = last_request(portal, "DongBoHoSoMC")
    assert body["isUpdating"] == "False"  # a string, as the reference sends it
    assert body["madonvi"] == H41 and body["session"]
    (item,) = body["data"]
    assert set(item) == set(HO_SO_KEYS) | {"SoBienNhan"}
    # what the hub has no value for goes as the reference sends it: empty strings
    for name in ("ThongTinKhac", "Fax", "ThongTinTra", "NgayKetThucXuLy", "NgayTra"):
        assert item[name] == "", name
    assert item["DanhSachTepDinhKemKhac"] == []
    assert item["TrichYeuHoSo"].encode() == d["TrichYeuHoSo"].encode()
    assert item["DanhSachLePhi"] == [
        {"TenPhiLePhi": "Lệ phí hộ tịch", "MaPhiLePhi": "", "HinhThucThu": "", "Gia": "8000",
         "LoaiPhiLePhi": ""}
    ]  # fmt: skip
    (doc,) = item["TaiLieuNop"]
    assert set(doc) == set(TAI_LIEU_KEYS) and doc["IsDeleted"] == "False"
    assert doc["TenTepDinhKem"] == "Giấy chứng sinh.pdf" and doc["TepDinhKemId"] == "TL1"
    assert adapter.files is not None
    assert doc["DuongDanTaiTepTin"].startswith(adapter.files.public_url + "/files/")
    assert "exp=" in doc["DuongDanTaiTepTin"] and "sig=" in doc["DuongDanTaiTepTin"]
    # the portal downloaded the document by its signed link: the exact bytes
    assert portal.files[f"{d['MaHoSo']}/TL1"] == base64.b64decode("JVBERi0xLjQK")
    (result,) = item["DanhSachGiayToKetQua"]
    assert set(result) == set(KET_QUA_KEYS) and result["MaThanhPhanHoSo"] == ""
    assert result["DuongDanTepTinKetQua"].startswith(adapter.files.public_url + "/files/")
    # an update: TraCuuHoSo finds it, so isUpdating is "True"
    assert await deliver(adapter, "p2", {**d, "TrangThaiHoSo": "2"})
    assert last_request(portal, "DongBoHoSoMC")["isUpdating"] == "True"
    held = portal.dossier(H41, d["MaHoSo"])
    assert held is not None and held["TrangThaiHoSo"] == "2"


async def test_progress_as_the_portal_takes_it(
    adapter: DvcqgAdapter, portal: DvcqgSimulator
) -> None:
    d = dossier()
    assert await deliver(adapter, "p1", d)
    step = {**progress(d["MaHoSo"], "4", "20250102090000"), "NgayHenTra": "20250106170000",
            "PhongBanXuLy": "Phòng Tư pháp", "DonViXuLy": "UBND xã Hưng Lộc"}  # fmt: skip
    assert await deliver(adapter, "p2", step, "dossier_progress")
    (item,) = last_request(portal, "CapNhatTienDoHoSoMC")["data"]
    assert item == {
        "MaHoSo": d["MaHoSo"],
        "NguoiXuLy": "Trần Văn Bình",
        "ChucDanh": "",
        "ThoiDiemXuLy": "20250102090000",
        "PhongBanXuLy": "Phòng Tư pháp",
        "NoiDungXuLy": "Chuyển phòng Tư pháp – Hộ tịch xử lý",
        "TrangThai": "4",
        "NgayBatDau": "",
        "NgayKetThucTheoQuyDinh": "20250106170000",
    }
    held = portal.dossier(H41, d["MaHoSo"])
    assert held is not None and held["TrangThaiHoSo"] == "4"


async def test_dstcode_header_and_configurable_endpoints(tmp_path: Path) -> None:
    async with DvcqgSimulator(
        accounts={"hub": ("mật-khẩu", (H41,))},
        auth_endpoint="/dvcqg/auth",
        integration_endpoint="/dvcqg/integration",
        dstcode="VN:GOV:000.00.00.G22:DVCQG",
    ) as sim:
        a = make_adapter(
            sim, tmp_path, auth_endpoint="/dvcqg/auth", integration_endpoint="/dvcqg/integration",
            dstcode="VN:GOV:000.00.00.G22:DVCQG",
        )  # fmt: skip
        await a.start(StartRequest(datetime.now(VN_TZ)))
        try:
            assert await deliver(a, "p1", dossier())
        finally:
            await a.stop(StopRequest())
        wrong = make_adapter(
            sim, tmp_path / "w", auth_endpoint="/dvcqg/auth", dstcode="VN:GOV:khac",
        )  # fmt: skip
        with pytest.raises(DvcqgRefused, match="HTTP 404"):
            await wrong.start(StartRequest(datetime.now(VN_TZ)))
        await wrong.stop(StopRequest())


async def test_create_update_progress_and_lookup(
    adapter: DvcqgAdapter, portal: DvcqgSimulator
) -> None:
    d = dossier()
    assert await deliver(adapter, "p1", d)
    updated = {**d, "TrangThaiHoSo": "2", "GhiChu": "Đã tiếp nhận"}
    assert await deliver(adapter, "p2", updated)
    held = portal.dossier(H41, d["MaHoSo"])
    assert held is not None and held["GhiChu"] == "Đã tiếp nhận"
    step = progress(d["MaHoSo"], "4", "20250102090000")
    assert await deliver(adapter, "p3", step, "dossier_progress")
    assert [s["TrangThai"] for s in portal.progress[(H41, d["MaHoSo"])]] == ["4"]
    assert portal.duplicate_sends() == {}


async def test_same_state_is_never_sent_twice(
    adapter: DvcqgAdapter, portal: DvcqgSimulator
) -> None:
    d = dossier()
    assert await deliver(adapter, "p1", d)
    assert not await deliver(adapter, "p1", d)  # the hub redelivers the same package
    assert not await deliver(adapter, "p9", copy.deepcopy(d))  # another package, same state
    step = progress(d["MaHoSo"], "4", "20250102090000")
    assert await deliver(adapter, "p2", step, "dossier_progress")
    assert not await deliver(adapter, "p2", step, "dossier_progress")
    assert portal.calls["DongBoHoSoMC"] == 1
    assert portal.calls["CapNhatTienDoHoSoMC"] == 1
    assert portal.duplicate_sends() == {}


async def test_ledger_survives_a_restart(portal: DvcqgSimulator, tmp_path: Path) -> None:
    d = dossier()
    for _ in range(2):
        a = make_adapter(portal, tmp_path)
        await a.start(StartRequest(datetime.now(VN_TZ)))
        await deliver(a, "p1", d)
        await a.stop(StopRequest())
    assert portal.calls["DongBoHoSoMC"] == 1


async def test_session_expiry_logs_in_again(adapter: DvcqgAdapter, portal: DvcqgSimulator) -> None:
    logins = portal.logins
    portal.expire_sessions()
    assert await deliver(adapter, "p1", dossier())
    assert portal.logins == logins + 1
    portal.inject("expire_session")
    assert await deliver(adapter, "p2", dossier("H41.01-250101-0002"))
    assert portal.logins == logins + 2
    assert portal.duplicate_sends() == {}


async def test_refusal_after_logging_in_again_is_quarantined(
    portal: DvcqgSimulator, tmp_path: Path
) -> None:
    a = make_adapter(portal, tmp_path, madonvi="000.00.00.H29")  # not this account's unit
    await a.start(StartRequest(datetime.now(VN_TZ)))
    try:
        logins = portal.logins
        with pytest.raises(DvcqgRefused) as info:
            await deliver(a, "p1", dossier())
        assert info.value.code == "6" and isinstance(info.value, AdapterError)
        assert not isinstance(info.value, ExternalUnavailable)
        assert portal.logins == logins + 1  # one new session tried, then refused
    finally:
        await a.stop(StopRequest())
    assert portal.dossiers == {}


@pytest.mark.parametrize("fault", ["http500", "http503", "busy", "timeout", "lost_response"])
async def test_failures_are_retried_without_duplicates(
    adapter: DvcqgAdapter, portal: DvcqgSimulator, fault: Any
) -> None:
    d = dossier()
    portal.inject(fault, fault)
    assert await deliver(adapter, "p1", d)
    assert portal.dossier(H41, d["MaHoSo"]) is not None
    step = progress(d["MaHoSo"], "4", "20250102090000")
    portal.inject(fault)
    assert await deliver(adapter, "p2", step, "dossier_progress")
    assert [s["TrangThai"] for s in portal.progress[(H41, d["MaHoSo"])]] == ["4"]
    assert portal.duplicate_sends() == {}, portal.duplicate_sends()


async def test_lost_response_is_reconciled_not_resent(
    adapter: DvcqgAdapter, portal: DvcqgSimulator
) -> None:
    d = dossier()
    portal.inject("lost_response", service="DongBoHoSoMC")
    lookups = portal.calls["TraCuuHoSo"]
    assert await deliver(adapter, "p1", d)
    # applied by the unanswered call, confirmed by TraCuuHoSo, never sent a second time
    assert portal.faults_served["lost_response"] == 1
    assert portal.calls["DongBoHoSoMC"] == 1
    assert portal.calls["TraCuuHoSo"] >= lookups + 2


def _in_form(fields: dict[str, Any], form: Literal["NFC", "NFD"]) -> dict[str, Any]:
    """The record with every text in ``form`` (what another system's stack may hand over)."""
    return {
        k: unicodedata.normalize(form, v)
        if isinstance(v, str)
        else [_in_form(i, form) for i in v]
        if isinstance(v, list)
        else v
        for k, v in fields.items()
    }


@pytest.mark.parametrize(("sent", "answered"), [("NFC", "NFD"), ("NFD", "NFC")])
async def test_lost_response_reconciled_whatever_form_the_portal_answers_in(
    adapter: DvcqgAdapter,
    portal: DvcqgSimulator,
    sent: Literal["NFC", "NFD"],
    answered: Literal["NFC", "NFD"],
) -> None:
    """The portal (another stack) answers TraCuuHoSo with the same Vietnamese text in another
    normal form than it was sent in: still the state sent, so it is not sent a second time."""
    d = _in_form(dossier(), sent)
    assert _in_form(d, answered) != d
    portal.answer_form = answered
    portal.inject("lost_response", service="DongBoHoSoMC")  # applied, then no answer
    assert await deliver(adapter, "p1", d)
    assert portal.faults_served["lost_response"] == 1
    assert portal.calls["DongBoHoSoMC"] == 1
    assert portal.duplicate_sends() == {}, portal.duplicate_sends()
    held = portal.dossier(H41, d["MaHoSo"])
    assert held is not None and held["TrichYeuHoSo"] == d["TrichYeuHoSo"]  # sent as it was


async def test_one_state_in_two_normal_forms_is_sent_once(
    adapter: DvcqgAdapter, portal: DvcqgSimulator
) -> None:
    d = dossier()
    assert await deliver(adapter, "p1", _in_form(d, "NFC"))
    assert not await deliver(adapter, "p2", _in_form(d, "NFD"))  # another package, same state
    step = progress(d["MaHoSo"], "4", "20250102090000")
    assert await deliver(adapter, "p3", _in_form(step, "NFD"), "dossier_progress")
    assert not await deliver(adapter, "p4", _in_form(step, "NFC"), "dossier_progress")
    assert portal.calls["DongBoHoSoMC"] == 1
    assert portal.calls["CapNhatTienDoHoSoMC"] == 1


def _legacy_hash(value: Any) -> str:
    """How the ledger hashed before it hashed NFC text: the raw text's JSON."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


async def test_ledger_rows_of_the_raw_text_hash_still_count(
    portal: DvcqgSimulator, tmp_path: Path
) -> None:
    """After an upgrade, the ledger rows an older adapter wrote (hashes of the raw text) still
    keep their state from being sent again and their look-up version from being handed over
    again, for text that is not NFC as well."""
    d = _in_form(dossier(), "NFD")  # not NFC: the raw and the NFC hash differ
    assert _in_form(d, "NFC") != d
    online = ho_so_to_portal(d, lambda data, name, ctype: portal.put_file(data, ctype))
    portal.put_dossier(H41, online)
    a = make_adapter(portal, tmp_path)
    await a.start(StartRequest(datetime.now(VN_TZ)))
    try:
        ledger = a._ledger
        assert ledger is not None
        # what the older adapter recorded: the sent state, and the portal version pulled
        ledger.record(H41, "dossier", d["MaHoSo"], _legacy_hash(d), "p-old")
        portal_item = portal.dossier(H41, d["MaHoSo"])
        assert portal_item is not None
        version = _legacy_hash({"portal": comparable(portal_item)})[:20]
        ledger.mark_pulled([(d["MaHoSo"], version)])
        assert not await deliver(a, "p-new", d)
        assert portal.calls["DongBoHoSoMC"] == 0
        a.add_lookup(d["MaHoSo"])
        assert (await a.poll(PollRequest(cursor=None))).records == ()
    finally:
        await a.stop(StopRequest())


async def test_portal_version_does_not_change_with_the_normal_form(
    adapter: DvcqgAdapter, portal: DvcqgSimulator
) -> None:
    online = ho_so_to_portal(dossier("DVC-5"), lambda d, n, c: portal.put_file(d, c))
    portal.put_dossier(H41, online)
    adapter.add_lookup("DVC-5")
    first = await adapter.poll(PollRequest(cursor=None))
    assert [r.key for r in first.records] == ["DVC-5"]
    portal.answer_form = "NFD"  # the same dossier, read back decomposed
    again = await adapter.poll(PollRequest(cursor=first.cursor))
    assert again.records == ()
    portal.answer_form = "NFC"
    assert (await adapter.poll(PollRequest(cursor=again.cursor))).records == ()


async def test_random_failures_many_dossiers(portal: DvcqgSimulator, tmp_path: Path) -> None:
    portal.failure_rate = 0.3
    a = make_adapter(portal, tmp_path, max_attempts=12)
    await a.start(StartRequest(datetime.now(VN_TZ)))
    try:
        for i in range(15):
            d = dossier(f"H41.01-250101-{i:04d}")
            assert await deliver(a, f"d{i}", d)
            step = progress(d["MaHoSo"], "4", "20250102090000")
            assert await deliver(a, f"s{i}", step, "dossier_progress")
    finally:
        await a.stop(StopRequest())
    assert sum(portal.faults_served.values()) > 0
    assert len(portal.dossiers) == 15
    assert portal.duplicate_sends() == {}


async def test_portal_down_is_external_unavailable(
    adapter: DvcqgAdapter, portal: DvcqgSimulator
) -> None:
    down: list[FaultKind] = ["http503"] * 20
    portal.inject(*down)
    with pytest.raises(ExternalUnavailable):
        await deliver(adapter, "p1", dossier())
    assert portal.dossiers == {}


async def test_poll_reads_the_lookup_list_with_tracuuhoso(
    adapter: DvcqgAdapter, portal: DvcqgSimulator
) -> None:
    pdf = b"%PDF-1.4 t\xe1\xbb\x9d khai"
    online = ho_so_to_portal(
        {**dossier("DVC-1"), "TaiLieuNop": [{"TepDinhKemId": "TL9", "TenTepDinhKem": "Tờ khai.pdf",
                                             "ContentType": "application/pdf", "NoiDung": "eA=="}]},
        lambda data, name, ctype: portal.put_file(pdf, ctype),
    )  # fmt: skip
    portal.put_dossier(H41, online)
    adapter.add_lookup("DVC-1")
    adapter.add_lookup("DVC-404")  # not on the portal (yet): skipped
    adapter.add_lookup("DVC-1")  # listed twice: looked up once
    first = await adapter.poll(PollRequest(cursor=None))
    (rec,) = first.records
    assert rec.key == "DVC-1" and rec.kind == "dossier"
    assert rec.fields["TaiLieuNop"] == [
        {"TepDinhKemId": "TL9", "TenTepDinhKem": "Tờ khai.pdf", "ContentType": "application/pdf",
         "NoiDung": base64.b64encode(pdf).decode()}
    ]  # fmt: skip
    assert "ThongTinKhac" not in rec.fields and "NgayTra" not in rec.fields
    assert rec.fields["TrichYeuHoSo"].encode() == dossier()["TrichYeuHoSo"].encode()
    assert round_trip(adapter, rec).fields == rec.fields
    again = await adapter.poll(PollRequest(cursor=first.cursor))
    assert again.records == ()
    # the portal's copy changes: a new version is handed over
    portal.dossiers[(H41, "DVC-1")]["TrangThaiHoSo"] = "2"
    changed = await adapter.poll(PollRequest(cursor=again.cursor))
    assert [(r.key, r.fields["TrangThaiHoSo"]) for r in changed.records] == [("DVC-1", "2")]
    assert "LayDanhSachHoSo" not in portal.calls


async def test_lookup_leaves_deleted_documents_and_names_portal_only_fields(
    adapter: DvcqgAdapter, portal: DvcqgSimulator
) -> None:
    item = ho_so_to_portal(dossier("DVC-2"), lambda d, n, c: portal.put_file(d, c))
    item["TaiLieuNop"].append(
        {"TenTepDinhKem": "cũ.pdf", "MaThanhPhanHoSo": "", "TepDinhKemId": "TL0",
         "DuongDanTaiTepTin": portal.url + "/tep/da-xoa", "IsDeleted": "True"}
    )  # fmt: skip
    item["Fax"] = "0243 825 1234"  # the reference puts the phone number here
    portal.put_dossier(H41, item)
    adapter.add_lookup("DVC-2")
    (rec,) = (await adapter.poll(PollRequest(cursor=None))).records
    assert [d["TepDinhKemId"] for d in rec.fields["TaiLieuNop"]] == ["TL1"]
    assert rec.fields["Fax"] == "0243 825 1234"
    with pytest.raises(NativeInvalid) as info:  # kept and named, not silently dropped
        adapter.to_package(ToPackageRequest(rec, PORTAL, "p", datetime.now(VN_TZ)))
    assert info.value.field == "Fax"


async def test_wrong_password_is_a_configuration_error(
    portal: DvcqgSimulator, tmp_path: Path
) -> None:
    a = make_adapter(portal, tmp_path, password="sai")
    with pytest.raises(DvcqgRefused, match="error_code 1"):
        await a.start(StartRequest(datetime.now(VN_TZ)))
    await a.stop(StopRequest())


async def test_lgsp_header_reaches_the_portal_through_the_seam(tmp_path: Path) -> None:
    seen: list[HttpRequest] = []

    def portal_behind_lgsp(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        if request.url.endswith("/login"):
            return HttpResponse.of_json({"error_code": 0, "session": "phiên-1"})
        body = json.loads(request.body)
        if body["service"] == "TraCuuHoSo":
            return HttpResponse.of_json({"error_code": "0", "result": []})
        return HttpResponse.of_json({"error_code": "0"})

    settings = {"adapter_url": "https://lgsp.hanoi.gov.vn/dvcqg", "username": "hub",
                "password": "p", "madonvi": H41, "dstcode": "DVCQG",
                "lgsp_access_key": "k", "lgsp_secret_key": "s", "lgsp_app_name": "hub",
                "lgsp_partner_code": "H29"}  # fmt: skip
    config = AdapterConfig(
        "dvcqg", PORTAL, settings, tmp_path, transport=MockTransport(portal_behind_lgsp)
    )
    a = create_adapter(config)
    await a.start(StartRequest(datetime.now(VN_TZ)))
    try:
        assert await deliver(a, "p1", {k: v for k, v in dossier().items() if k != "TaiLieuNop"})
    finally:
        await a.stop(StopRequest())
    assert [json.loads(r.body).get("service", "login") for r in seen] == [
        "login", "TraCuuHoSo", "DongBoHoSoMC"
    ]  # fmt: skip
    for r in seen:
        assert r.headers["dstcode"] == "DVCQG"
        assert r.headers["lgspaccesstoken"] == lgsp_access_token("k", "s", "hub", "H29")
    assert seen[0].url == "https://lgsp.hanoi.gov.vn/dvcqg/login"


# ------------------------------------------------------------------ the shared contract suite


class TestDvcqgContract(AdapterContract):
    """The shared adapter contract against the portal simulator."""

    sim: DvcqgSimulator
    recipient = H41

    @pytest.fixture(autouse=True)
    async def simulator(self) -> AsyncIterator[DvcqgSimulator]:
        async with DvcqgSimulator(accounts={"hub": ("mật-khẩu", (H41,))}) as sim:
            self.sim = sim
            yield sim

    async def open_adapter(self, data_dir: Path) -> Adapter:
        settings = {"adapter_url": self.sim.url, "username": "hub", "password": "mật-khẩu",
                    "madonvi": H41}  # fmt: skip
        adapter = create_adapter(AdapterConfig("dvcqg", G22, settings, data_dir))
        await adapter.start(StartRequest(datetime.now(VN_TZ)))
        return adapter

    def valid_records(self) -> list[NativeRecord]:
        full = fields_from_ho_so(sample_ho_so("D-1"))
        minimal = fields_from_ho_so(
            HoSo("M-1", "1.000494.000.00.00.H29", "Khai sinh", "Lê Văn Tám", "1",
                 "Đăng ký khai sinh", "20240315083000", "1")
        )  # fmt: skip
        step = fields_from_tien_do(sample_tien_do("D-1"))
        return [
            NativeRecord("D-1", "v1", "dossier", full),
            NativeRecord("M-1", "v1", "dossier", minimal),
            NativeRecord("D-1/20240316091500", "v1", "dossier_progress", step),
        ]

    def invalid_records(self) -> list[tuple[NativeRecord, str]]:
        base = fields_from_ho_so(sample_ho_so("D-1"))

        def bad(**change: Any) -> NativeRecord:
            fields = {k: v for k, v in {**base, **change}.items() if v is not None}
            return NativeRecord("D-1", "bad", "dossier", fields)

        files = copy.deepcopy(base["TaiLieuNop"])
        files[0]["NoiDung"] = "@@@"
        return [
            (bad(NgayTiepNhan="15/03/2024"), "NgayTiepNhan"),
            (bad(TrangThaiHoSo="0"), "TrangThaiHoSo"),
            (bad(ChuHoSo=None), "ChuHoSo"),
            (bad(MaHoSo=" D-1"), "MaHoSo"),
            (bad(TaiLieuNop=files), "TaiLieuNop[0].NoiDung"),
            (bad(SoTien="1"), "SoTien"),
        ]

    async def add_native(self, adapter: Adapter, record: NativeRecord) -> None:
        # a dossier the portal holds (documents on its own server), then looked up
        item = ho_so_to_portal(
            record.fields, lambda data, name, ctype: self.sim.put_file(data, ctype)
        )
        self.sim.put_dossier(H41, item)
        assert isinstance(adapter, DvcqgAdapter)
        adapter.add_lookup(record.key)
