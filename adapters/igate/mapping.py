"""iGate JSON ↔ dossier package models, field by field, both ways from one table.

iGate (a provincial one-stop system) speaks camelCase JSON with nested objects, ISO 8601 times
with the +07:00 offset and integers for codes; the dossier package speaks DVCQG names, text
and ``yyyyMMddHHmmss``. Each row of :data:`DOSSIER_FIELDS` / :data:`PROGRESS_FIELDS` names the
native path, the model attribute and the conversion, so the two directions cannot disagree
and every error names the native field (``applicant.fullname``, ``files[1].data``).

Absent and ``null`` native values are both "absent" (``None`` in the model) and are omitted
when writing native JSON; text is never trimmed or normalised.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import fields as dc_fields
from datetime import datetime
from typing import Any, Literal

from hub.adapter import NativeInvalid
from hub.dossier import (
    VN_TZ,
    BoSung,
    GiayToKetQua,
    HoSo,
    LePhi,
    TaiLieu,
    TienDo,
    format_dvc_time,
    parse_dvc_time,
)

Conv = Literal["str", "int", "time", "b64"]
Row = tuple[str, str, Conv, bool]  # native dotted path, model attribute, conversion, required

FILE_FIELDS: tuple[Row, ...] = (
    ("id", "tep_dinh_kem_id", "str", True),
    ("name", "ten_tep_dinh_kem", "str", True),
    ("formCode", "ma_thanh_phan_ho_so", "str", False),
    ("mimeType", "content_type", "str", True),
    ("data", "noi_dung_b64", "b64", True),
)
FEE_FIELDS: tuple[Row, ...] = (
    ("name", "ten_phi_le_phi", "str", True),
    ("code", "ma_phi_le_phi", "str", False),
    ("method", "hinh_thuc_thu", "str", False),
    ("amount", "gia", "int", True),
    ("type", "loai_phi_le_phi", "str", False),
)
SUPPLEMENT_FIELDS: tuple[Row, ...] = (
    ("id", "ho_so_bo_sung_id", "str", True),
    ("requester", "nguoi_yeu_cau_bo_sung", "str", False),
    ("content", "noi_dung_bo_sung", "str", True),
    ("requestedDate", "ngay_bo_sung", "time", True),
    ("receivedDate", "ngay_tiep_nhan_bo_sung", "time", False),
    ("status", "trang_thai_bo_sung", "str", False),
)
RESULT_FIELDS: tuple[Row, ...] = (
    ("id", "giay_to_id", "str", True),
    ("name", "ten_giay_to", "str", True),
    ("code", "ma_giay_to_ket_qua", "str", False),
    ("url", "duong_dan_tep_tin", "str", False),
    ("mimeType", "content_type", "str", False),
    ("data", "noi_dung_b64", "b64", False),
)
LISTS: dict[str, tuple[str, type[Any], tuple[Row, ...]]] = {
    "files": ("tai_lieu_nop", TaiLieu, FILE_FIELDS),
    "fees": ("danh_sach_le_phi", LePhi, FEE_FIELDS),
    "supplements": ("danh_sach_ho_so_bo_sung", BoSung, SUPPLEMENT_FIELDS),
    "results": ("danh_sach_giay_to_ket_qua", GiayToKetQua, RESULT_FIELDS),
}

DOSSIER_FIELDS: tuple[Row, ...] = (
    ("code", "ma_ho_so", "str", True),
    ("procedure.code", "ma_tthc", "str", True),
    ("procedure.name", "ten_tthc", "str", True),
    ("sector.code", "ma_linh_vuc", "str", False),
    ("sector.name", "ten_linh_vuc", "str", False),
    ("receiptNumber", "so_bien_nhan", "str", False),
    ("applicant.fullname", "chu_ho_so", "str", True),
    ("applicant.type", "loai_doi_tuong", "int", True),
    ("applicant.identityNumber", "ma_doi_tuong", "str", False),
    ("applicant.phone", "so_dien_thoai", "str", False),
    ("applicant.email", "email", "str", False),
    ("applicant.address", "dia_chi", "str", False),
    ("summary", "trich_yeu_ho_so", "str", True),
    ("acceptedDate", "ngay_tiep_nhan", "time", True),
    ("appointmentDate", "ngay_hen_tra", "time", False),
    ("status", "trang_thai_ho_so", "int", True),
    ("completedDate", "ngay_tra", "time", False),
    ("applyMethod", "hinh_thuc", "int", False),
    ("agency.name", "don_vi_xu_ly", "str", False),
    ("note", "ghi_chu", "str", False),
)

PROGRESS_FIELDS: tuple[Row, ...] = (
    ("dossierCode", "ma_ho_so", "str", True),
    ("status", "trang_thai_ho_so", "int", True),
    ("date", "ngay_xu_ly", "time", True),
    ("content", "noi_dung_xu_ly", "str", True),
    ("agency", "don_vi_xu_ly", "str", False),
    ("department", "phong_ban_xu_ly", "str", False),
    ("officer", "nguoi_xu_ly", "str", False),
    ("position", "chuc_danh", "str", False),
    ("appointmentDate", "ngay_hen_tra", "time", False),
    ("completedDate", "ngay_tra", "time", False),
)

STATUS_RANGE = range(1, 11)


# -- native → model --------------------------------------------------------------------------


def _get(record: Mapping[str, Any], path: str, where: str) -> Any:
    node: Any = record
    for part in path.split("."):
        if node is None:
            return None
        if not isinstance(node, Mapping):
            raise NativeInvalid(where + part, "expected an object")
        node = node.get(part)
    return node


def iso_to_dvc(value: str, field: str) -> str:
    """``2024-01-02T08:30:00+07:00`` → ``20240102083000`` (Việt Nam local time)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise NativeInvalid(field, f"not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise NativeInvalid(field, f"time without an offset: {value!r}")
    return format_dvc_time(parsed)


def dvc_to_iso(value: str) -> str:
    """``20240102083000`` → ``2024-01-02T08:30:00+07:00``."""
    parsed = parse_dvc_time(value)
    if parsed is None:
        raise NativeInvalid("date", f"not a yyyyMMddHHmmss time: {value!r}")
    return parsed.astimezone(VN_TZ).isoformat()


def _convert(value: Any, conv: Conv, field: str) -> str:
    if conv == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise NativeInvalid(field, f"expected an integer, got {value!r}")
        if value < 0:
            raise NativeInvalid(field, f"must not be negative: {value}")
        return str(value)
    if not isinstance(value, str):
        raise NativeInvalid(field, f"expected a string, got {type(value).__name__}")
    if conv == "time":
        return iso_to_dvc(value, field)
    if conv == "b64":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise NativeInvalid(field, "not valid base64") from None
    return value


def _struct(record: Mapping[str, Any], rows: Sequence[Row], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, attr, conv, required in rows:
        value = _get(record, path, prefix)
        field = prefix + path
        if value is None:
            if required:
                raise NativeInvalid(field, "is required")
            out[attr] = None
            continue
        out[attr] = _convert(value, conv, field)
        if required and out[attr] == "":
            raise NativeInvalid(field, "must not be empty")
    return out


def _lists(record: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        attr, cls, rows = LISTS[name]
        items = record.get(name)
        if items is None:
            out[attr] = ()
            continue
        if not isinstance(items, list):
            raise NativeInvalid(name, "expected a list")
        built = []
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise NativeInvalid(f"{name}[{i}]", "expected an object")
            built.append(cls(**_struct(item, rows, f"{name}[{i}].")))
        out[attr] = tuple(built)
    return out


def _check_status(value: str, field: str = "status") -> None:
    if int(value) not in STATUS_RANGE:
        raise NativeInvalid(field, f"TrangThaiHoSo must be 1..10, got {value}")


def ho_so_from_native(record: Mapping[str, Any]) -> HoSo:
    """An iGate dossier → :class:`HoSo`; :class:`NativeInvalid` names the bad field."""
    values = _struct(record, DOSSIER_FIELDS)
    _check_status(values["trang_thai_ho_so"])
    if values["loai_doi_tuong"] not in ("1", "2"):
        raise NativeInvalid("applicant.type", "must be 1 (citizen) or 2 (business)")
    values.update(_lists(record, ("files", "fees", "supplements", "results")))
    return HoSo(**values)


def tien_do_from_native(record: Mapping[str, Any]) -> TienDo:
    """An iGate progress step → :class:`TienDo`."""
    values = _struct(record, PROGRESS_FIELDS)
    _check_status(values["trang_thai_ho_so"])
    values.update(_lists(record, ("results",)))
    return TienDo(**values)


def recipients_from_native(record: Mapping[str, Any]) -> tuple[str, ...]:
    """The optional ``to`` list of OrganIds (iGate's connection targets for the record)."""
    to = record.get("to")
    if to is None:
        return ()
    if not isinstance(to, list) or not all(isinstance(t, str) and t for t in to):
        raise NativeInvalid("to", "expected a list of agency codes")
    return tuple(to)


# -- model → native --------------------------------------------------------------------------


def _put(out: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = out
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _native_value(value: str, conv: Conv) -> Any:
    if conv == "int":
        return int(value)
    if conv == "time":
        return dvc_to_iso(value)
    return value


def _native_struct(obj: object, rows: Sequence[Row]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, attr, conv, _ in rows:
        value = getattr(obj, attr)
        if value is not None:
            _put(out, path, _native_value(value, conv))
    return out


def _native_lists(obj: object, names: Sequence[str], out: dict[str, Any]) -> None:
    for name in names:
        attr, _, rows = LISTS[name]
        items: tuple[object, ...] = getattr(obj, attr)
        if items:
            out[name] = [_native_struct(item, rows) for item in items]


def ho_so_to_native(ho_so: HoSo, to: Sequence[str] = ()) -> dict[str, Any]:
    """:class:`HoSo` → an iGate dossier (``to`` written when given)."""
    out = _native_struct(ho_so, DOSSIER_FIELDS)
    _native_lists(ho_so, ("files", "fees", "supplements", "results"), out)
    if to:
        out["to"] = list(to)
    return out


def tien_do_to_native(tien_do: TienDo, to: Sequence[str] = ()) -> dict[str, Any]:
    """:class:`TienDo` → an iGate progress step."""
    out = _native_struct(tien_do, PROGRESS_FIELDS)
    _native_lists(tien_do, ("results",), out)
    if to:
        out["to"] = list(to)
    return out


def _check_tables() -> None:
    # Every model attribute is mapped exactly once: a field added to the dossier model
    # without a native counterpart fails at import, not silently at an agency.
    for cls, rows, lists in (
        (HoSo, DOSSIER_FIELDS, ("files", "fees", "supplements", "results")),
        (TienDo, PROGRESS_FIELDS, ("results",)),
    ):
        mapped = {attr for _, attr, _, _ in rows} | {LISTS[n][0] for n in lists}
        assert mapped == {f.name for f in dc_fields(cls)}, cls
    for _, cls, rows in LISTS.values():
        assert {attr for _, attr, _, _ in rows} == {f.name for f in dc_fields(cls)}, cls


_check_tables()
