"""Build the (unsigned) bytes of a dossier package from its models.

The result is schema-valid (checked here: building an invalid package is a programming error
and must fail at the sender, not at the recipient) and ready for
:func:`hub.dossier.sign_dossier`. Text is written exactly as given.
"""

from __future__ import annotations

from dataclasses import fields as dc_fields
from typing import Any

from lxml import etree

from hub.dossier import fields as F
from hub.dossier.models import BoSung, DossierPackage, GiayToKetQua, HoSo, LePhi, TaiLieu, TienDo
from hub.dossier.schema import DOSSIER_NS, ROOT_TAG, SCHEMA_VERSION, validate
from hub.errors import SchemaInvalid

__all__ = ["build_dossier"]

_NS = f"{{{DOSSIER_NS}}}"
_ITEM_TYPES: dict[str, type[Any]] = {
    "tai_lieu_nop": TaiLieu,
    "danh_sach_le_phi": LePhi,
    "danh_sach_ho_so_bo_sung": BoSung,
    "danh_sach_giay_to_ket_qua": GiayToKetQua,
}


def _el(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, _NS + name)
    if text is not None:
        child.text = text
    return child


def _struct(parent: etree._Element, obj: object, table: tuple[tuple[str, str], ...]) -> None:
    for xml_name, attr in table:
        value = getattr(obj, attr)
        if attr in F.LISTS:
            items: tuple[object, ...] = value
            if not items:
                continue
            list_name, item_name, item_table = F.LISTS[attr]
            lst = _el(parent, list_name)
            for item in items:
                _struct(_el(lst, item_name), item, item_table)
        elif value is not None:
            _el(parent, xml_name, str(value))


def build_dossier(package: DossierPackage) -> bytes:
    """The UTF-8 bytes of ``package`` (``warnings`` are not written), unsigned."""
    root = etree.Element(ROOT_TAG, nsmap={None: DOSSIER_NS})  # type: ignore[dict-item]
    root.set("version", SCHEMA_VERSION)
    h = package.header
    header = _el(root, "Header")
    _el(header, "PackageId", h.package_id)
    _el(header, "From", h.from_)
    for organ in h.to:
        _el(header, "To", organ)
    _el(header, "Kind", h.kind)
    _el(header, "CreatedAt", h.created_at)
    if h.ref_package_id is not None:
        _el(header, "RefPackageId", h.ref_package_id)
    body = _el(root, "Body")
    if package.ho_so is not None:
        _struct(_el(body, "HoSo"), package.ho_so, F.HO_SO)
    elif package.tien_do is not None:
        _struct(_el(body, "TienDo"), package.tien_do, F.TIEN_DO)
    try:
        validate(root)
    except SchemaInvalid as exc:
        raise ValueError(f"the built dossier package is not schema-valid: {exc}") from exc
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _check_tables() -> None:
    # The tables and the dataclasses must name the same attributes; checked at import so a
    # field added to a model without its XML name fails immediately, not in production.
    # An explicit raise, not assert: python -O must not skip it.
    pairs = [(cls.__name__, cls, table) for cls, table in ((HoSo, F.HO_SO), (TienDo, F.TIEN_DO))]
    pairs += [(attr, _ITEM_TYPES[attr], table) for attr, (_, _, table) in F.LISTS.items()]
    for name, cls, table in pairs:
        if {f.name for f in dc_fields(cls)} != {a for _, a in table}:
            raise RuntimeError(f"hub.dossier.fields and the model of {name} name other fields")


_check_tables()
