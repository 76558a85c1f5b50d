"""template_name records ↔ dossier package models.

The default native format is DVCQG-named JSON: ``{"MaHoSo": "...", "MaTTHC": "...", ...,
"TaiLieuNop": [{"TepDinhKemId": "...", ...}], "To": ["000.00.00.H41"]}``, every value a
string, dates ``yyyyMMddHHmmss``. The tables of :mod:`hub.dossier.fields` drive both
directions. If your system names fields differently, change :data:`RENAME` (native name →
DVCQG name) or write the conversion here; errors must name the *native* field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from hub.adapter import NativeInvalid
from hub.dossier import BoSung, GiayToKetQua, HoSo, LePhi, TaiLieu, TienDo, parse_dvc_time
from hub.dossier import fields as F

RENAME: dict[str, str] = {}
"""Native field name → DVCQG name, for systems that differ only in names."""

_ITEM_TYPES: dict[str, type[Any]] = {
    "tai_lieu_nop": TaiLieu,
    "danh_sach_le_phi": LePhi,
    "danh_sach_ho_so_bo_sung": BoSung,
    "danh_sach_giay_to_ket_qua": GiayToKetQua,
}
_DATES = {"NgayTiepNhan", "NgayHenTra", "NgayTra", "NgayXuLy", "NgayBoSung", "NgayTiepNhanBoSung"}
_NATIVE = {dvcqg: native for native, dvcqg in RENAME.items()}


def _required(cls: type[Any]) -> set[str]:
    return {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }


def _from_native(
    record: Mapping[str, Any], table: tuple[tuple[str, str], ...], cls: type[Any], prefix: str
) -> Any:
    required = _required(cls)
    values: dict[str, Any] = {}
    for dvcqg, attr in table:
        name = _NATIVE.get(dvcqg, dvcqg)
        field = prefix + name
        value = record.get(name)
        if attr in F.LISTS:
            _, _, item_table = F.LISTS[attr]
            if value is None:
                values[attr] = ()
                continue
            if not isinstance(value, list):
                raise NativeInvalid(field, "expected a list")
            values[attr] = tuple(
                _from_native(_object(item, f"{field}[{i}]"), item_table, _ITEM_TYPES[attr],
                             f"{field}[{i}].")
                for i, item in enumerate(value)
            )  # fmt: skip
            continue
        if value is None:
            if attr in required:
                raise NativeInvalid(field, "is required")
            values[attr] = None
            continue
        if not isinstance(value, str):
            raise NativeInvalid(field, f"expected a string, got {type(value).__name__}")
        if attr in required and not value:
            raise NativeInvalid(field, "must not be empty")
        if dvcqg in _DATES and parse_dvc_time(value) is None:
            raise NativeInvalid(field, f"not a yyyyMMddHHmmss time: {value!r}")
        values[attr] = value
    return cls(**values)


def _object(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise NativeInvalid(field, "expected an object")
    return value


def _to_native(obj: Any, table: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dvcqg, attr in table:
        value = getattr(obj, attr)
        name = _NATIVE.get(dvcqg, dvcqg)
        if attr in F.LISTS:
            if value:
                out[name] = [_to_native(item, F.LISTS[attr][2]) for item in value]
        elif value is not None:
            out[name] = value
    return out


def ho_so_from_native(record: Mapping[str, Any]) -> HoSo:
    """A native dossier → :class:`HoSo`; :class:`NativeInvalid` names the bad field."""
    ho_so: HoSo = _from_native(record, F.HO_SO, HoSo, "")
    return ho_so


def tien_do_from_native(record: Mapping[str, Any]) -> TienDo:
    """A native progress step → :class:`TienDo`."""
    tien_do: TienDo = _from_native(record, F.TIEN_DO, TienDo, "")
    return tien_do


def recipients_from_native(record: Mapping[str, Any]) -> tuple[str, ...]:
    """The optional ``To`` list of agency codes."""
    to = record.get("To")
    if to is None:
        return ()
    if not isinstance(to, list) or not all(isinstance(t, str) and t for t in to):
        raise NativeInvalid("To", "expected a list of agency codes")
    return tuple(to)


def ho_so_to_native(ho_so: HoSo, to: tuple[str, ...] = ()) -> dict[str, Any]:
    """:class:`HoSo` → a native dossier."""
    out = _to_native(ho_so, F.HO_SO)
    if to:
        out["To"] = list(to)
    return out


def tien_do_to_native(tien_do: TienDo, to: tuple[str, ...] = ()) -> dict[str, Any]:
    """:class:`TienDo` → a native progress step."""
    out = _to_native(tien_do, F.TIEN_DO)
    if to:
        out["To"] = list(to)
    return out
