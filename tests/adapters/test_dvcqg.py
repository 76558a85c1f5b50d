"""The ``dvcqg`` adapter against its portal simulator: mapping, sessions, faults, exactly once."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.dvcqg import DvcqgAdapter, create_adapter
from adapters.dvcqg.mapping import fields_from_ho_so, fields_from_tien_do, normalise
from adapters.dvcqg.simulator import DvcqgSimulator
from hub.adapter import (
    Adapter,
    AdapterConfig,
    DeliverRequest,
    ExternalUnavailable,
    NativeInvalid,
    NativeRecord,
    PollRequest,
    StartRequest,
    StopRequest,
    ToPackageRequest,
)
from hub.dossier import VN_TZ, HoSo
from hub.testing import AdapterContract, sample_ho_so, sample_tien_do
from tests.adapters.sim_fixtures import G22, H41, dossier, progress, record, round_trip

PORTAL = G22


@pytest.fixture
async def portal() -> AsyncIterator[DvcqgSimulator]:
    async with DvcqgSimulator(accounts={"hub": ("mật-khẩu", (H41,))}, timeout_delay=1.0) as sim:
        yield sim


def make_adapter(portal: DvcqgSimulator, tmp_path: Path, **extra: Any) -> DvcqgAdapter:
    settings = {
        "url": portal.url,
        "username": "hub",
        "password": "mật-khẩu",
        "madonvi": H41,
        "timeout_seconds": 0.3,
        "max_attempts": 6,
        "backoff_seconds": 0.01,
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


async def test_create_update_progress_and_lookup(
    adapter: DvcqgAdapter, portal: DvcqgSimulator
) -> None:
    d = dossier()
    assert await deliver(adapter, "p1", d)
    assert portal.dossier(H41, d["MaHoSo"]) == d
    updated = {**d, "TrangThaiHoSo": "2", "GhiChu": "Đã tiếp nhận"}
    assert await deliver(adapter, "p2", updated)
    assert portal.dossier(H41, d["MaHoSo"]) == updated
    step = progress(d["MaHoSo"], "4", "20250102090000")
    assert await deliver(adapter, "p3", step, "dossier_progress")
    stored = portal.dossier(H41, d["MaHoSo"])
    assert stored is not None and stored["TrangThaiHoSo"] == "4"
    assert portal.progress[(H41, d["MaHoSo"])] == [step]
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


@pytest.mark.parametrize("fault", ["http500", "http503", "busy", "timeout", "lost_response"])
async def test_failures_are_retried_without_duplicates(
    adapter: DvcqgAdapter, portal: DvcqgSimulator, fault: Any
) -> None:
    d = dossier()
    portal.inject(fault, fault)
    assert await deliver(adapter, "p1", d)
    assert portal.dossier(H41, d["MaHoSo"]) == d
    step = progress(d["MaHoSo"], "4", "20250102090000")
    portal.inject(fault)
    assert await deliver(adapter, "p2", step, "dossier_progress")
    assert portal.progress[(H41, d["MaHoSo"])] == [step]
    assert portal.duplicate_sends() == {}, portal.duplicate_sends()


async def test_lost_response_is_reconciled_not_resent(
    adapter: DvcqgAdapter, portal: DvcqgSimulator
) -> None:
    d = dossier()
    portal.inject("lost_response")
    assert await deliver(adapter, "p1", d)
    # applied by the unanswered call, confirmed by TraCuuHoSo, never sent a second time
    assert portal.calls["DongBoHoSoMC"] == 1
    assert portal.calls["TraCuuHoSo"] >= 1


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
    portal.inject(*["http503"] * 20)
    with pytest.raises(ExternalUnavailable):
        await deliver(adapter, "p1", dossier())
    assert portal.dossiers == {}


async def test_portal_refusal_names_the_field(adapter: DvcqgAdapter) -> None:
    bad = {k: v for k, v in dossier().items() if k != "ChuHoSo"}
    with pytest.raises(NativeInvalid) as info:
        await deliver(adapter, "p1", bad)
    assert info.value.field == "ChuHoSo"


async def test_poll_online_submissions(adapter: DvcqgAdapter, portal: DvcqgSimulator) -> None:
    for i in range(5):
        portal.submit_online(H41, {**dossier(f"DVC-{i}"), "TrangThaiHoSo": 1, "NgayTra": None})
    portal.submit_online("000.00.00.H29", dossier("other-unit"))
    first = await adapter.poll(PollRequest(cursor=None, limit=3))
    assert [r.key for r in first.records] == ["DVC-0", "DVC-1", "DVC-2"] and first.more
    assert first.records[0].fields["TrangThaiHoSo"] == "1"
    assert "NgayTra" not in first.records[0].fields
    rest = await adapter.poll(PollRequest(cursor=first.cursor, limit=3))
    assert [r.key for r in rest.records] == ["DVC-3", "DVC-4"] and not rest.more
    again = await adapter.poll(PollRequest(cursor=rest.cursor))
    assert again.records == ()
    # every polled record maps, and round-trips
    for r in first.records + rest.records:
        assert round_trip(adapter, r).fields == r.fields


async def test_wrong_password_is_a_configuration_error(
    portal: DvcqgSimulator, tmp_path: Path
) -> None:
    a = make_adapter(portal, tmp_path, password="sai")
    with pytest.raises(Exception, match="01"):
        await a.start(StartRequest(datetime.now(VN_TZ)))
    await a.stop(StopRequest())


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
        settings = {"url": self.sim.url, "username": "hub", "password": "mật-khẩu", "madonvi": H41}
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
        self.sim.submit_online(H41, dict(record.fields))
