"""One table of the dossier fields: XML name ↔ attribute, in schema order.

The builder and the parser both walk these tables, so the two cannot drift apart, and adapters
may use them to map DVCQG-named native records field by field (the XML names *are* the DVCQG
names).
"""

from __future__ import annotations

from typing import Literal

FieldKind = Literal["text", "list"]

TAI_LIEU: tuple[tuple[str, str], ...] = (
    ("TepDinhKemId", "tep_dinh_kem_id"),
    ("TenTepDinhKem", "ten_tep_dinh_kem"),
    ("MaThanhPhanHoSo", "ma_thanh_phan_ho_so"),
    ("ContentType", "content_type"),
    ("NoiDung", "noi_dung_b64"),
)

LE_PHI: tuple[tuple[str, str], ...] = (
    ("TenPhiLePhi", "ten_phi_le_phi"),
    ("MaPhiLePhi", "ma_phi_le_phi"),
    ("HinhThucThu", "hinh_thuc_thu"),
    ("Gia", "gia"),
    ("LoaiPhiLePhi", "loai_phi_le_phi"),
)

BO_SUNG: tuple[tuple[str, str], ...] = (
    ("HoSoBoSungId", "ho_so_bo_sung_id"),
    ("NguoiYeuCauBoSung", "nguoi_yeu_cau_bo_sung"),
    ("NoiDungBoSung", "noi_dung_bo_sung"),
    ("NgayBoSung", "ngay_bo_sung"),
    ("NgayTiepNhanBoSung", "ngay_tiep_nhan_bo_sung"),
    ("TrangThaiBoSung", "trang_thai_bo_sung"),
)

GIAY_TO_KET_QUA: tuple[tuple[str, str], ...] = (
    ("GiayToId", "giay_to_id"),
    ("TenGiayTo", "ten_giay_to"),
    ("MaGiayToKetQua", "ma_giay_to_ket_qua"),
    ("DuongDanTepTin", "duong_dan_tep_tin"),
    ("ContentType", "content_type"),
    ("NoiDung", "noi_dung_b64"),
)

# (list element, item element, item fields)
LISTS: dict[str, tuple[str, str, tuple[tuple[str, str], ...]]] = {
    "tai_lieu_nop": ("TaiLieuNop", "TaiLieu", TAI_LIEU),
    "danh_sach_le_phi": ("DanhSachLePhi", "LePhi", LE_PHI),
    "danh_sach_ho_so_bo_sung": ("DanhSachHoSoBoSung", "HoSoBoSung", BO_SUNG),
    "danh_sach_giay_to_ket_qua": ("DanhSachGiayToKetQua", "GiayToKetQua", GIAY_TO_KET_QUA),
}

HO_SO: tuple[tuple[str, str], ...] = (
    ("MaHoSo", "ma_ho_so"),
    ("MaTTHC", "ma_tthc"),
    ("TenTTHC", "ten_tthc"),
    ("MaLinhVuc", "ma_linh_vuc"),
    ("TenLinhVuc", "ten_linh_vuc"),
    ("SoBienNhan", "so_bien_nhan"),
    ("ChuHoSo", "chu_ho_so"),
    ("LoaiDoiTuong", "loai_doi_tuong"),
    ("MaDoiTuong", "ma_doi_tuong"),
    ("SoDienThoai", "so_dien_thoai"),
    ("Email", "email"),
    ("DiaChi", "dia_chi"),
    ("TrichYeuHoSo", "trich_yeu_ho_so"),
    ("NgayTiepNhan", "ngay_tiep_nhan"),
    ("NgayHenTra", "ngay_hen_tra"),
    ("TrangThaiHoSo", "trang_thai_ho_so"),
    ("NgayTra", "ngay_tra"),
    ("HinhThuc", "hinh_thuc"),
    ("DonViXuLy", "don_vi_xu_ly"),
    ("GhiChu", "ghi_chu"),
    ("TaiLieuNop", "tai_lieu_nop"),
    ("DanhSachLePhi", "danh_sach_le_phi"),
    ("DanhSachHoSoBoSung", "danh_sach_ho_so_bo_sung"),
    ("DanhSachGiayToKetQua", "danh_sach_giay_to_ket_qua"),
)

TIEN_DO: tuple[tuple[str, str], ...] = (
    ("MaHoSo", "ma_ho_so"),
    ("TrangThaiHoSo", "trang_thai_ho_so"),
    ("NgayXuLy", "ngay_xu_ly"),
    ("NoiDungXuLy", "noi_dung_xu_ly"),
    ("DonViXuLy", "don_vi_xu_ly"),
    ("PhongBanXuLy", "phong_ban_xu_ly"),
    ("NguoiXuLy", "nguoi_xu_ly"),
    ("ChucDanh", "chuc_danh"),
    ("NgayHenTra", "ngay_hen_tra"),
    ("NgayTra", "ngay_tra"),
    ("DanhSachGiayToKetQua", "danh_sach_giay_to_ket_qua"),
)
