"""Sample native records shared by the adapter tests (Vietnamese text on purpose)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.adapter import (
    Adapter,
    FromPackageRequest,
    NativeRecord,
    ToPackageRequest,
    model_from_verified,
)
from hub.dossier import VN_TZ
from hub.xmlsafe import parse_xml

H41 = "000.00.00.H41"
H29 = "000.00.00.H29"
G22 = "000.00.00.G22"


def dossier(ma: str = "H41.01-250101-0001", state: str = "1") -> dict[str, Any]:
    """A dossier as a one-stop system writes it (DVCQG names)."""
    return {
        "MaHoSo": ma,
        "MaTTHC": "1.000494.000.00.00.H41",
        "TenTTHC": "Đăng ký khai sinh",
        "MaLinhVuc": "HT",
        "TenLinhVuc": "Hộ tịch",
        "SoBienNhan": "0001/BN",
        "ChuHoSo": "Nguyễn Thị Hằng",
        "LoaiDoiTuong": "1",
        "MaDoiTuong": "040190000123",
        # a decomposed "ế" + combining acute: must come back unnormalised
        "TrichYeuHoSo": "Đăng ký khai sinh cho con: Nguyễn Minh Khôi — \u1ebf\u0301",
        "NgayTiepNhan": "20250101083000",
        "NgayHenTra": "20250106170000",
        "TrangThaiHoSo": state,
        "HinhThuc": "1",
        "DonViXuLy": "UBND xã Hưng Lộc",
        "GhiChu": "  khoảng trắng giữ nguyên \n",
        "TaiLieuNop": [
            {
                "TepDinhKemId": "TL1",
                "TenTepDinhKem": "Giấy chứng sinh.pdf",
                "ContentType": "application/pdf",
                "NoiDung": "JVBERi0xLjQK",
            }
        ],
        "DanhSachLePhi": [{"TenPhiLePhi": "Lệ phí hộ tịch", "Gia": "8000"}],
    }


def progress(ma: str, state: str, when: str) -> dict[str, Any]:
    """A processing step (``CapNhatTienDoHoSoMC``)."""
    return {
        "MaHoSo": ma,
        "TrangThaiHoSo": state,
        "NgayXuLy": when,
        "NoiDungXuLy": "Chuyển phòng Tư pháp – Hộ tịch xử lý",
        "NguoiXuLy": "Trần Văn Bình",
    }


def record(fields: dict[str, Any], kind: str = "dossier", version: str = "1") -> NativeRecord:
    """A record keyed like the adapters key them."""
    key = fields["MaHoSo"] if kind == "dossier" else f"{fields['MaHoSo']}/{fields['NgayXuLy']}"
    return NativeRecord(key=key, version=version, kind=kind, fields=fields)  # type: ignore[arg-type]


def round_trip(adapter: Adapter, rec: NativeRecord, sender: str = G22) -> NativeRecord:
    """native → package bytes → parsed model → native."""
    out = adapter.to_package(
        ToPackageRequest(
            rec,
            sender,
            "pkg-1",
            datetime(2025, 1, 1, 9, 0, tzinfo=VN_TZ),
            default_recipients=(H41,),
        )
    )
    parsed = model_from_verified(parse_xml(out.data))
    return adapter.from_package(
        FromPackageRequest("pkg-1", sender, parsed.kind, parsed.model, out.data)
    )
