"""Frozen models of a dossier package (``urn:vnhub:dossier:1``).

A dossier package carries one administrative-procedure dossier record (``HoSo``) or one
progress update of a dossier (``TienDo``), with the field names of the national public-service
portal's dossier synchronisation (DVCQG ``DongBoHoSoMC`` / ``CapNhatTienDoHoSoMC``). Python
attribute names are the DVCQG names in snake case (``MaHoSo`` → ``ma_ho_so``).

As for edXML, text is kept exactly as sent (Vietnamese byte-exact, never normalised) and dates
stay text in the DVCQG form ``yyyyMMddHHmmss`` (local time, Asia/Ho_Chi_Minh):
:func:`parse_dvc_time` and :func:`format_dvc_time` convert. ``None`` means "absent".
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = [
    "DOSSIER_KINDS",
    "VN_TZ",
    "BoSung",
    "DossierHeader",
    "DossierKind",
    "DossierPackage",
    "GiayToKetQua",
    "HoSo",
    "LePhi",
    "LoaiDoiTuong",
    "TaiLieu",
    "TienDo",
    "TrangThaiHoSo",
    "format_dvc_time",
    "parse_dvc_time",
]

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
"""DVCQG times are local time in Việt Nam."""

_DVC_TIME = re.compile(r"\d{14}")

DossierKind = Literal["dossier", "dossier_progress"]
"""``dossier``: a whole dossier record; ``dossier_progress``: one progress step of a dossier."""

DOSSIER_KINDS: tuple[DossierKind, ...] = ("dossier", "dossier_progress")


def parse_dvc_time(text: str) -> datetime | None:
    """``yyyyMMddHHmmss`` as an aware datetime in Asia/Ho_Chi_Minh, or ``None`` if malformed."""
    if not _DVC_TIME.fullmatch(text) or not text.isascii():
        return None
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=VN_TZ)
    except ValueError:
        return None


def format_dvc_time(value: datetime) -> str:
    """An aware datetime as ``yyyyMMddHHmmss`` in Việt Nam local time (naive: taken as local)."""
    if value.tzinfo is not None:
        value = value.astimezone(VN_TZ)
    return value.strftime("%Y%m%d%H%M%S")


class TrangThaiHoSo(enum.StrEnum):
    """DVCQG dossier states (``TrangThaiHoSo``), value as written."""

    MOI_DANG_KY = "1"
    DA_TIEP_NHAN = "2"
    KHONG_TIEP_NHAN = "3"
    DANG_XU_LY = "4"
    YEU_CAU_BO_SUNG = "5"
    YEU_CAU_NGHIA_VU_TAI_CHINH = "6"
    CONG_DAN_YEU_CAU_RUT = "7"
    DUNG_XU_LY = "8"
    DA_XU_LY = "9"
    DA_TRA_KET_QUA = "10"

    @property
    def description_vi(self) -> str:
        """What the state means, in Vietnamese."""
        return _STATE_TEXT[self]


_STATE_TEXT: dict[TrangThaiHoSo, str] = {
    TrangThaiHoSo.MOI_DANG_KY: "Mới đăng ký",
    TrangThaiHoSo.DA_TIEP_NHAN: "Được tiếp nhận",
    TrangThaiHoSo.KHONG_TIEP_NHAN: "Không được tiếp nhận",
    TrangThaiHoSo.DANG_XU_LY: "Đang xử lý",
    TrangThaiHoSo.YEU_CAU_BO_SUNG: "Yêu cầu bổ sung giấy tờ",
    TrangThaiHoSo.YEU_CAU_NGHIA_VU_TAI_CHINH: "Yêu cầu thực hiện nghĩa vụ tài chính",
    TrangThaiHoSo.CONG_DAN_YEU_CAU_RUT: "Công dân yêu cầu rút hồ sơ",
    TrangThaiHoSo.DUNG_XU_LY: "Dừng xử lý",
    TrangThaiHoSo.DA_XU_LY: "Đã xử lý xong",
    TrangThaiHoSo.DA_TRA_KET_QUA: "Đã trả kết quả",
}


class LoaiDoiTuong(enum.StrEnum):
    """Who owns the dossier (``LoaiDoiTuong``)."""

    CONG_DAN = "1"
    DOANH_NGHIEP = "2"


@dataclass(frozen=True, slots=True)
class TaiLieu:
    """A submitted document (``TaiLieuNop/TaiLieu``), its content kept base64 as sent."""

    tep_dinh_kem_id: str
    ten_tep_dinh_kem: str
    content_type: str
    noi_dung_b64: str = field(repr=False)
    ma_thanh_phan_ho_so: str | None = None

    @classmethod
    def from_bytes(
        cls,
        *,
        tep_dinh_kem_id: str,
        ten_tep_dinh_kem: str,
        content_type: str,
        data: bytes,
        ma_thanh_phan_ho_so: str | None = None,
    ) -> TaiLieu:
        """A document holding ``data`` (one line of base64)."""
        return cls(
            tep_dinh_kem_id=tep_dinh_kem_id,
            ten_tep_dinh_kem=ten_tep_dinh_kem,
            content_type=content_type,
            noi_dung_b64=base64.b64encode(data).decode("ascii"),
            ma_thanh_phan_ho_so=ma_thanh_phan_ho_so,
        )

    def decode(self) -> bytes:
        """The document's bytes (line breaks ignored, anything else strict)."""
        try:
            return base64.b64decode("".join(self.noi_dung_b64.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"TaiLieu {self.tep_dinh_kem_id}: invalid base64") from exc


@dataclass(frozen=True, slots=True)
class LePhi:
    """A fee or charge (``DanhSachLePhi/LePhi``)."""

    ten_phi_le_phi: str
    gia: str  # VND as written (an integer string): never a float
    ma_phi_le_phi: str | None = None
    hinh_thuc_thu: str | None = None
    loai_phi_le_phi: str | None = None


@dataclass(frozen=True, slots=True)
class BoSung:
    """A supplement request (``DanhSachHoSoBoSung/HoSoBoSung``)."""

    ho_so_bo_sung_id: str
    noi_dung_bo_sung: str
    ngay_bo_sung: str  # yyyyMMddHHmmss
    nguoi_yeu_cau_bo_sung: str | None = None
    ngay_tiep_nhan_bo_sung: str | None = None
    trang_thai_bo_sung: str | None = None


@dataclass(frozen=True, slots=True)
class GiayToKetQua:
    """A result document (``DanhSachGiayToKetQua/GiayToKetQua``); content optional."""

    giay_to_id: str
    ten_giay_to: str
    ma_giay_to_ket_qua: str | None = None
    duong_dan_tep_tin: str | None = None
    content_type: str | None = None
    noi_dung_b64: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class HoSo:
    """A dossier record with the DVCQG field names."""

    ma_ho_so: str
    ma_tthc: str
    ten_tthc: str
    chu_ho_so: str
    loai_doi_tuong: str  # LoaiDoiTuong: "1" citizen, "2" business
    trich_yeu_ho_so: str
    ngay_tiep_nhan: str  # yyyyMMddHHmmss
    trang_thai_ho_so: str  # TrangThaiHoSo "1".."10"
    ma_linh_vuc: str | None = None
    ten_linh_vuc: str | None = None
    so_bien_nhan: str | None = None
    ma_doi_tuong: str | None = None
    so_dien_thoai: str | None = None
    email: str | None = None
    dia_chi: str | None = None
    ngay_hen_tra: str | None = None
    ngay_tra: str | None = None
    hinh_thuc: str | None = None
    don_vi_xu_ly: str | None = None
    ghi_chu: str | None = None
    tai_lieu_nop: tuple[TaiLieu, ...] = ()
    danh_sach_le_phi: tuple[LePhi, ...] = ()
    danh_sach_ho_so_bo_sung: tuple[BoSung, ...] = ()
    danh_sach_giay_to_ket_qua: tuple[GiayToKetQua, ...] = ()


@dataclass(frozen=True, slots=True)
class TienDo:
    """One progress step of a dossier (DVCQG ``CapNhatTienDoHoSoMC``)."""

    ma_ho_so: str
    trang_thai_ho_so: str  # TrangThaiHoSo "1".."10"
    ngay_xu_ly: str  # yyyyMMddHHmmss
    noi_dung_xu_ly: str
    don_vi_xu_ly: str | None = None
    phong_ban_xu_ly: str | None = None
    nguoi_xu_ly: str | None = None
    chuc_danh: str | None = None
    ngay_hen_tra: str | None = None
    ngay_tra: str | None = None
    danh_sach_giay_to_ket_qua: tuple[GiayToKetQua, ...] = ()


@dataclass(frozen=True, slots=True)
class DossierHeader:
    """The package header: who sends to whom, and the sender's package id."""

    package_id: str
    from_: str  # OrganId
    to: tuple[str, ...]  # OrganIds; empty: the procedure catalogue decides (lifecycle issue)
    kind: DossierKind
    created_at: str  # yyyyMMddHHmmss
    ref_package_id: str | None = None  # the package this one follows up (progress → dossier)


@dataclass(frozen=True, slots=True)
class DossierPackage:
    """A parsed dossier package: its header and exactly one of ``ho_so`` / ``tien_do``."""

    header: DossierHeader
    ho_so: HoSo | None = None
    tien_do: TienDo | None = None
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.ho_so is None) == (self.tien_do is None):
            raise ValueError("a dossier package holds exactly one of HoSo or TienDo")
        expected: DossierKind = "dossier" if self.ho_so is not None else "dossier_progress"
        if self.header.kind != expected:
            raise ValueError(f"Kind {self.header.kind} does not match the body ({expected})")

    @property
    def kind(self) -> DossierKind:
        """``dossier`` or ``dossier_progress``."""
        return self.header.kind

    @property
    def sender(self) -> str:
        """The ``From`` agency code."""
        return self.header.from_

    @property
    def recipients(self) -> tuple[str, ...]:
        """The ``To`` codes in order, de-duplicated (may be empty)."""
        return tuple(dict.fromkeys(self.header.to))

    @property
    def reference_document_id(self) -> str:
        """The dossier code (MaHoSo): the reference the hub records, as DocumentId for edXML."""
        return self.ma_ho_so

    @property
    def ma_ho_so(self) -> str:
        """The dossier's code (MaHoSo), whichever the body."""
        if self.ho_so is not None:
            return self.ho_so.ma_ho_so
        assert self.tien_do is not None
        return self.tien_do.ma_ho_so

    @property
    def trang_thai_ho_so(self) -> str:
        """The dossier state the package reports."""
        if self.ho_so is not None:
            return self.ho_so.trang_thai_ho_so
        assert self.tien_do is not None
        return self.tien_do.trang_thai_ho_so
