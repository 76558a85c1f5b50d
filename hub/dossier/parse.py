"""Parse a (schema-valid, verified) dossier package tree into models.

The hub calls this on the tree returned by signature verification only. Text is taken exactly
as it stands (no stripping: free text is ``xs:string`` and byte-exact; codes and dates cannot
carry surrounding whitespace past the schema, except ``xs:token`` values, which are stripped).
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from hub.dossier import fields as F
from hub.dossier.models import (
    BoSung,
    DossierHeader,
    DossierKind,
    DossierPackage,
    GiayToKetQua,
    HoSo,
    LePhi,
    TaiLieu,
    TienDo,
    parse_dvc_time,
)
from hub.dossier.schema import DOSSIER_NS, ROOT_TAG
from hub.edxml.schema import element_path
from hub.errors import SchemaInvalid
from hub.warning_codes import documented

__all__ = ["parse_dossier"]

_NS = f"{{{DOSSIER_NS}}}"
# Warning code (hub.warning_codes.WARNINGS is the single list; documented() checks it).
W_IMPOSSIBLE_DATE = documented("date.impossible")
_ITEM_TYPES: dict[str, type[Any]] = {
    "tai_lieu_nop": TaiLieu,
    "danh_sach_le_phi": LePhi,
    "danh_sach_ho_so_bo_sung": BoSung,
    "danh_sach_giay_to_ket_qua": GiayToKetQua,
}
# Schema types that collapse whitespace (xs:token and patterns on it): strip those values.
_TOKENS = {
    "PackageId", "From", "To", "Kind", "CreatedAt", "LoaiDoiTuong", "TrangThaiHoSo",
    "SoDienThoai", "Email", "HinhThuc", "ContentType", "HinhThucThu", "Gia", "LoaiPhiLePhi",
    "TrangThaiBoSung", "NgayTiepNhan", "NgayHenTra", "NgayTra", "NgayXuLy", "NgayBoSung",
    "NgayTiepNhanBoSung",
}  # fmt: skip
_DATES = {"CreatedAt", "NgayTiepNhan", "NgayHenTra", "NgayTra", "NgayXuLy", "NgayBoSung",
          "NgayTiepNhanBoSung"}  # fmt: skip


def _text(el: etree._Element) -> str:
    text = el.text or ""
    name = etree.QName(el).localname
    return text.strip() if name in _TOKENS else text


def _struct(
    el: etree._Element,
    table: tuple[tuple[str, str], ...],
    warnings: list[str],
) -> dict[str, Any]:
    by_name = {xml: attr for xml, attr in table}
    values: dict[str, Any] = {}
    for child in el:
        if not isinstance(child.tag, str) or not child.tag.startswith(_NS):
            continue
        name = etree.QName(child).localname
        attr = by_name.get(name)
        if attr is None:
            continue
        if attr in F.LISTS:
            _, item_name, item_table = F.LISTS[attr]
            cls = _ITEM_TYPES[attr]
            values[attr] = tuple(
                cls(**_struct(item, item_table, warnings))
                for item in child
                if isinstance(item.tag, str) and item.tag == _NS + item_name
            )
        else:
            value = _text(child)
            if name in _DATES and parse_dvc_time(value) is None:
                # The pattern let it through (14 digits) but it is no real time: keep the
                # text as sent, flag it, as edXML does for impossible dates.
                warnings.append(f"{W_IMPOSSIBLE_DATE}:{element_path(child)}")
            values[attr] = value
    return values


def parse_dossier(root: etree._Element) -> DossierPackage:
    """Models of a dossier package tree (schema-valid).

    :raises SchemaInvalid: if the tree is not a dossier package.
    """
    if root.tag != ROOT_TAG:
        raise SchemaInvalid(f"not a dossier package: {root.tag}", path=element_path(root))
    header = root.find(_NS + "Header")
    body = root.find(_NS + "Body")
    if header is None or body is None:
        raise SchemaInvalid("Header and Body are required", path=element_path(root))
    warnings: list[str] = []

    def one(name: str) -> str:
        el = header.find(_NS + name)
        return _text(el) if el is not None else ""

    ref = header.find(_NS + "RefPackageId")
    kind: DossierKind = "dossier_progress" if one("Kind") == "dossier_progress" else "dossier"
    created_el = header.find(_NS + "CreatedAt")
    if created_el is not None and parse_dvc_time(one("CreatedAt")) is None:
        warnings.append(f"{W_IMPOSSIBLE_DATE}:{element_path(created_el)}")
    head = DossierHeader(
        package_id=one("PackageId"),
        from_=one("From"),
        to=tuple(_text(el) for el in header.iterfind(_NS + "To")),
        kind=kind,
        created_at=one("CreatedAt"),
        ref_package_id=_text(ref) if ref is not None else None,
    )
    ho_so_el, tien_do_el = body.find(_NS + "HoSo"), body.find(_NS + "TienDo")
    try:
        if ho_so_el is not None:
            ho_so = HoSo(**_struct(ho_so_el, F.HO_SO, warnings))
            return DossierPackage(header=head, ho_so=ho_so, warnings=tuple(warnings))
        if tien_do_el is not None:
            tien_do = TienDo(**_struct(tien_do_el, F.TIEN_DO, warnings))
            return DossierPackage(header=head, tien_do=tien_do, warnings=tuple(warnings))
    except (TypeError, ValueError) as exc:  # a required field missing, Kind ≠ body
        raise SchemaInvalid(str(exc), path=element_path(body)) from None
    raise SchemaInvalid("Body holds neither HoSo nor TienDo", path=element_path(body))
