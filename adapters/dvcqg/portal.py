"""The portal's own JSON, field by field as a real provincial integration sends it.

Reference: VietOpenCPS/opencps-v2 at commit 2c719850c86368c12636ea666ad3bce6ea34b441,
``modules/backend-dossiermgt/backend-dossiermgt-service/src/main/java/org/opencps/dossiermgt/
action/impl/DVCQGIntegrationActionImpl.java`` (``Impl``) and ``…/dossiermgt-api/…/constants/
DVCQGIntegrationActionTerm.java`` (``Term``). The line numbers in the tables below are
``Impl``'s; docs/adapters.md has the full table.

The hub's native DVCQG record (:mod:`adapters.dvcqg.mapping`, the dossier package's names) is
close to, but not, what the portal takes:

* every field the reference always sends is sent, as ``""`` when the hub has no value (the
  reference's ``convertDate2String`` gives ``StringPool.BLANK`` for a missing date, and it
  fills ``ThongTinKhac``, ``ThongTinTra``, ``NgayKetThucXuLy`` … the same way);
* submitted documents go **by URL** (``DuongDanTaiTepTin``, ``IsDeleted "False"``), result
  documents as ``DuongDanTepTinKetQua``: the content the package carries is put behind an
  expiring signed link (:class:`hub.adapter.FileLinkServer`) by the caller's ``link`` function;
* a progress step is ``CapNhatTienDoHoSoMC``'s body (``TrangThai``, ``ThoiDiemXuLy``,
  ``NgayBatDau``, ``NgayKetThucTheoQuyDinh`` …), not the package's ``TienDo``.

Hub fields the portal has no place for are not sent: ``DiaChi``, ``ContentType``,
``MaGiayToKetQua``; a progress step's ``DonViXuLy``, ``NgayTra`` and ``DanhSachGiayToKetQua``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "HO_SO_FIELDS",
    "PORTAL_ONLY_EMPTY",
    "TIEN_DO_FIELDS",
    "Link",
    "attach",
    "comparable",
    "dossier_from_portal",
    "ho_so_to_portal",
    "tien_do_to_portal",
]

#: ``link(data, name, content_type) -> url``: where the portal can download a document.
Link = Callable[[bytes, str, str], str]

# (portal name, native name or None for "always empty", Impl line)
HO_SO_FIELDS: tuple[tuple[str, str | None, int], ...] = (
    ("MaHoSo", "MaHoSo", 166),
    ("MaTTHC", "MaTTHC", 169),
    ("TenTTHC", "TenTTHC", 188),
    ("MaLinhVuc", "MaLinhVuc", 189),
    ("TenLinhVuc", "TenLinhVuc", 190),
    ("ChuHoSo", "ChuHoSo", 192),
    ("LoaiDoiTuong", "LoaiDoiTuong", 204),
    ("MaDoiTuong", "MaDoiTuong", 205),
    ("ThongTinKhac", None, 206),
    ("Email", "Email", 207),
    ("Fax", None, 208),
    ("SoDienThoai", "SoDienThoai", 209),
    ("TrichYeuHoSo", "TrichYeuHoSo", 210),
    ("NgayTiepNhan", "NgayTiepNhan", 211),
    ("NgayHenTra", "NgayHenTra", 212),
    ("TrangThaiHoSo", "TrangThaiHoSo", 213),
    ("NgayTra", "NgayTra", 214),
    ("ThongTinTra", None, 215),
    ("HinhThuc", "HinhThuc", 220),
    ("NgayKetThucXuLy", None, 221),
    ("DonViXuLy", "DonViXuLy", 222),
    ("GhiChu", "GhiChu", 223),
)
#: ``SoBienNhan`` is commented out in the reference (line 191, "ko bb": not required): sent
#: only when the hub has one.
OPTIONAL_HO_SO = ("SoBienNhan",)
#: Portal fields the hub has no value for; empty on the way in, so dropped then.
PORTAL_ONLY_EMPTY = ("ThongTinKhac", "Fax", "ThongTinTra", "NgayKetThucXuLy")

LE_PHI_FIELDS = ("TenPhiLePhi", "MaPhiLePhi", "HinhThucThu", "Gia", "LoaiPhiLePhi")  # 227–231
# 241–252; the hub's BoSung has six of them, the others go empty
BO_SUNG_FIELDS: tuple[tuple[str, str | None], ...] = (
    ("HoSoBoSungId", "HoSoBoSungId"),
    ("NguoiYeuCauBoSung", "NguoiYeuCauBoSung"),
    ("NoiDungBoSung", "NoiDungBoSung"),
    ("NgayBoSung", "NgayBoSung"),
    ("NguoiTiepNhanBoSung", None),
    ("ThongTinTiepNhan", None),
    ("NgayTiepNhanBoSung", "NgayTiepNhanBoSung"),
    ("TrangThaiBoSung", "TrangThaiBoSung"),
    ("DanhSachGiayToBoSung", None),
    ("DanhSachLePhiBoSung", None),
    ("NgayHenTraTruoc", None),
    ("NgayHenTraMoi", None),
)
_BO_SUNG_LISTS = ("DanhSachGiayToBoSung", "DanhSachLePhiBoSung")

# CapNhatTienDoHoSoMC, createSyncDossierStatusBodyRequest (lines 507–521)
TIEN_DO_FIELDS: tuple[tuple[str, str | None, int], ...] = (
    ("MaHoSo", "MaHoSo", 509),
    ("NguoiXuLy", "NguoiXuLy", 512),
    ("ChucDanh", "ChucDanh", 513),
    ("ThoiDiemXuLy", "NgayXuLy", 514),
    ("PhongBanXuLy", "PhongBanXuLy", 516),
    ("NoiDungXuLy", "NoiDungXuLy", 517),
    ("TrangThai", "TrangThaiHoSo", 518),
    ("NgayBatDau", None, 519),
    ("NgayKetThucTheoQuyDinh", "NgayHenTra", 520),
)

_LINK_FIELDS = ("DuongDanTaiTepTin", "DuongDanTepTinKetQua")


def _text(record: Mapping[str, Any], name: str | None) -> str:
    if name is None:
        return ""
    value = record.get(name)
    return "" if value is None else str(value)


def _content(item: Mapping[str, Any]) -> bytes:
    return base64.b64decode("".join(str(item.get("NoiDung", "")).split()))


def ho_so_to_portal(fields: Mapping[str, Any], link: Link) -> dict[str, Any]:
    """A native dossier → one ``DongBoHoSoMC`` ``data[]`` item (createSyncDossierBodyRequest,
    lines 149–327)."""
    out: dict[str, Any] = {}
    for portal, native, _ in HO_SO_FIELDS:
        out[portal] = _text(fields, native)
        if portal == "TenLinhVuc" and fields.get("SoBienNhan") is not None:
            out["SoBienNhan"] = str(fields["SoBienNhan"])
    if not out["HinhThuc"]:
        out["HinhThuc"] = "0"  # the reference's default (line 216)
    out["DanhSachLePhi"] = [
        {name: _text(item, name) for name in LE_PHI_FIELDS}
        for item in fields.get("DanhSachLePhi") or ()
    ]
    out["DanhSachTepDinhKemKhac"] = []  # line 234: TenGiayTo, SoLuong, LoaiGiayTo; none in hub
    out["DanhSachHoSoBoSung"] = [
        {
            portal: ([] if portal in _BO_SUNG_LISTS else _text(item, native))
            for portal, native in BO_SUNG_FIELDS
        }
        for item in fields.get("DanhSachHoSoBoSung") or ()
    ]
    results = []
    for item in fields.get("DanhSachGiayToKetQua") or ():
        url = _text(item, "DuongDanTepTin")
        if item.get("NoiDung") is not None:
            url = link(_content(item), _text(item, "TenGiayTo"), _ctype(item))
        results.append(
            {
                "TenGiayTo": _text(item, "TenGiayTo"),  # line 297
                "MaThanhPhanHoSo": "",  # line 299: the reference sends it empty
                "GiayToId": _text(item, "GiayToId"),  # line 300
                "DuongDanTepTinKetQua": url,  # line 301
            }
        )
    out["DanhSachGiayToKetQua"] = results
    out["TaiLieuNop"] = [
        {
            "TenTepDinhKem": _text(item, "TenTepDinhKem"),  # line 304
            "MaThanhPhanHoSo": _text(item, "MaThanhPhanHoSo"),  # line 306
            "TepDinhKemId": _text(item, "TepDinhKemId"),  # line 307
            "DuongDanTaiTepTin": link(
                _content(item), _text(item, "TenTepDinhKem"), _ctype(item)
            ),  # line 308
            "IsDeleted": "False",  # line 309
        }
        for item in fields.get("TaiLieuNop") or ()
    ]
    return out


def _ctype(item: Mapping[str, Any]) -> str:
    return _text(item, "ContentType") or "application/octet-stream"


def tien_do_to_portal(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A native progress step → one ``CapNhatTienDoHoSoMC`` ``data[]`` item."""
    return {portal: _text(fields, native) for portal, native, _ in TIEN_DO_FIELDS}


def comparable(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item without the parts that change from one send to the next (a link's expiry and
    signature), so that "does the portal hold this state" compares content only."""
    out: dict[str, Any] = {}
    for name, value in item.items():
        if isinstance(value, list):
            out[name] = [comparable(v) if isinstance(v, Mapping) else v for v in value]
        elif name in _LINK_FIELDS and isinstance(value, str):
            out[name] = value.split("?", 1)[0]
        else:
            out[name] = value
    return out


def dossier_from_portal(item: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[int, str]]]:
    """A dossier as ``TraCuuHoSo`` returns it → (native fields without the documents' content,
    ``[(index in TaiLieuNop, URL to download)]``).

    Empty strings and empty lists are the portal's "no value" and are dropped; portal-only
    fields that are empty are dropped too, non-empty ones are kept (the native mapping then
    refuses them by name, rather than the hub losing them). Deleted documents
    (``IsDeleted "True"``) are left out.
    """
    fields: dict[str, Any] = {}
    for name, value in item.items():
        if value in ("", None, []):
            continue
        if name in ("TaiLieuNop", "DanhSachGiayToKetQua", "DanhSachHoSoBoSung", "DanhSachLePhi"):
            continue
        fields[name] = value if isinstance(value, str | list | dict) else str(value)
    downloads: list[tuple[int, str]] = []
    files: list[dict[str, Any]] = []
    for entry in item.get("TaiLieuNop") or ():
        if str(entry.get("IsDeleted", "False")) == "True":
            continue
        native = {
            k: entry[k]
            for k in ("TepDinhKemId", "TenTepDinhKem", "MaThanhPhanHoSo")
            if entry.get(k) not in (None, "")
        }
        downloads.append((len(files), str(entry.get("DuongDanTaiTepTin", ""))))
        files.append(native)
    if files:
        fields["TaiLieuNop"] = files
    results: list[dict[str, Any]] = []
    for entry in item.get("DanhSachGiayToKetQua") or ():
        native = {k: entry[k] for k in ("GiayToId", "TenGiayTo") if entry.get(k) not in (None, "")}
        if entry.get("DuongDanTepTinKetQua"):
            native["DuongDanTepTin"] = entry["DuongDanTepTinKetQua"]
        results.append(native)
    if results:
        fields["DanhSachGiayToKetQua"] = results
    fees = [
        {k: v for k, v in entry.items() if v not in ("", None)}
        for entry in item.get("DanhSachLePhi") or ()
    ]
    if fees:
        fields["DanhSachLePhi"] = fees
    extra = [
        {k: v for k, v in entry.items() if v not in ("", None, [])}
        for entry in item.get("DanhSachHoSoBoSung") or ()
    ]
    if extra:
        fields["DanhSachHoSoBoSung"] = extra
    return fields, downloads


def attach(fields: dict[str, Any], index: int, data: bytes, content_type: str) -> None:
    """Put a downloaded document's content into ``TaiLieuNop[index]``."""
    item = fields["TaiLieuNop"][index]
    item["ContentType"] = content_type or "application/octet-stream"
    item["NoiDung"] = base64.b64encode(data).decode("ascii")
