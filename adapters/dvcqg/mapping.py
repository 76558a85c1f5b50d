"""DVCQG-named native records (JSON-like mappings) ↔ the hub's dossier models.

The national portal, provincial one-stop systems and agency databases that follow the DVCQG
synchronisation all name dossier fields the same way (``MaHoSo``, ``TrangThaiHoSo``,
``TaiLieuNop[]`` …), and those names are the dossier package's XML names
(:mod:`hub.dossier.fields`). So one mapping serves the ``dvcqg`` and ``sqldb`` adapters.

A native record here is a ``dict`` with the DVCQG names as keys and strings as values (lists of
such dicts for the four lists). ``None`` and empty lists mean "absent" and are dropped by
:func:`normalise`, so that ``fields_from_ho_so(ho_so_from_fields(r)) == r`` for every normalised
record: the round trip the contract demands. Everything is checked before building, and every
refusal is a :class:`~hub.adapter.NativeInvalid` naming the field by its DVCQG path
(``TaiLieuNop[1].NoiDung``); unknown fields are refused rather than silently dropped, because
dropping them would lose data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import MISSING
from dataclasses import fields as dc_fields
from typing import Any

from hub.adapter import NativeInvalid
from hub.dossier import (
    BoSung,
    GiayToKetQua,
    HoSo,
    LePhi,
    TaiLieu,
    TienDo,
    parse_dvc_time,
)
from hub.dossier import fields as F

__all__ = [
    "fields_from_ho_so",
    "fields_from_tien_do",
    "ho_so_from_fields",
    "nfc_text",
    "normalise",
    "raw_state_hash",
    "state_hash",
    "tien_do_from_fields",
]

Fields = dict[str, Any]

_ITEM_TYPES: dict[str, type[Any]] = {
    "tai_lieu_nop": TaiLieu,
    "danh_sach_le_phi": LePhi,
    "danh_sach_ho_so_bo_sung": BoSung,
    "danh_sach_giay_to_ket_qua": GiayToKetQua,
}
_LIST_NAMES = {xml for xml, _, _ in F.LISTS.values()}

# Value rules of schemas/dossier/v1/dossier.xsd, checked here so that a refusal names the
# native field instead of surfacing as a schema error of the built package.
_DATES = {"NgayTiepNhan", "NgayHenTra", "NgayTra", "NgayXuLy", "NgayBoSung", "NgayTiepNhanBoSung"}
_CODES = {
    "MaHoSo", "MaTTHC", "MaLinhVuc", "SoBienNhan", "MaDoiTuong", "TepDinhKemId",
    "MaThanhPhanHoSo", "MaPhiLePhi", "HoSoBoSungId", "GiayToId", "MaGiayToKetQua",
}  # fmt: skip
# xs:token values: the parser strips them, so surrounding or doubled whitespace would not
# survive the round trip: refused rather than altered.
_TOKENS = {
    "SoDienThoai", "Email", "HinhThuc", "ContentType", "HinhThucThu", "LoaiPhiLePhi",
    "TrangThaiBoSung", "DuongDanTepTin",
}  # fmt: skip
_NON_EMPTY = {
    "TenTTHC", "ChuHoSo", "TrichYeuHoSo", "NoiDungXuLy", "TenTepDinhKem", "TenPhiLePhi",
    "NoiDungBoSung", "TenGiayTo",
}  # fmt: skip
_BASE64 = {"NoiDung"}
_TRANG_THAI = {str(n) for n in range(1, 11)}
_CODE = re.compile(r"\S(.*\S)?", re.DOTALL)
_TOKEN = re.compile(r"(\S+( \S+)*)?")
_MONEY = re.compile(r"\d{1,15}")
# Characters XML 1.0 cannot carry at all (they could not be written into a package).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def nfc_text(value: Any) -> Any:
    """``value`` with every string in it (keys too, through mappings and lists) in Unicode
    NFC. For comparing and hashing only: what is sent keeps its text exactly as it came.

    Systems on other stacks may hand back the same Vietnamese text in another normal form
    (decomposed "ệ" is three code points, composed one); compared raw, it would look like
    other content."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, Mapping):
        return {nfc_text(k): nfc_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [nfc_text(v) for v in value]
    return value


def _sha256_json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def state_hash(record: Mapping[str, Any]) -> str:
    """A stable hash of a record's content: key order, JSON spacing and the Unicode normal
    form of its text do not matter (the text is hashed in NFC).

    A record whose text is NFC already (nearly all Vietnamese text is typed so) hashes exactly
    as it did before the text was normalised, so ledgers written by an older adapter keep
    matching it; for other text, :func:`raw_state_hash` is what they hold."""
    return _sha256_json(nfc_text(record))


def raw_state_hash(record: Mapping[str, Any]) -> str:
    """The hash an older adapter recorded: of the text as it came, not normalised. Equal to
    :func:`state_hash` when the text is NFC; the ledger checks both after an upgrade."""
    return _sha256_json(record)


def normalise(record: Mapping[str, Any]) -> Fields:
    """A record as JSON gave it → the canonical native form (what adapters put in records).

    Drops ``None`` and empty lists (absent), turns integer codes (``TrangThaiHoSo: 4``, as some
    systems send) into their text. Anything else is left for the checks to refuse.
    """
    out: Fields = {}
    for name, value in record.items():
        if value is None or (isinstance(value, list | tuple) and not value):
            continue
        if isinstance(value, list | tuple):
            out[name] = [normalise(v) if isinstance(v, Mapping) else v for v in value]
        elif isinstance(value, int) and not isinstance(value, bool):
            out[name] = str(value)
        else:
            out[name] = value
    return out


def _check_value(path: str, name: str, value: Any, key: str | None) -> str:
    if not isinstance(value, str):
        raise NativeInvalid(path, f"must be text, got {type(value).__name__}", key=key)
    bad = _NOT_XML.search(value)
    if bad:
        raise NativeInvalid(path, f"character U+{ord(bad.group()):04X} is not allowed", key=key)
    if name in _DATES and parse_dvc_time(value) is None:
        raise NativeInvalid(path, f"{value!r} is not a date yyyyMMddHHmmss", key=key)
    if name in _CODES and (len(value) > 200 or not _CODE.fullmatch(value)):
        raise NativeInvalid(path, "must be 1–200 characters without surrounding spaces", key=key)
    if name in _TOKENS and not _TOKEN.fullmatch(value):
        raise NativeInvalid(path, "must not have surrounding or repeated spaces", key=key)
    if name in _NON_EMPTY and not value:
        raise NativeInvalid(path, "must not be empty", key=key)
    if name == "TrangThaiHoSo" and value not in _TRANG_THAI:
        raise NativeInvalid(path, f"{value!r} is not a dossier state 1..10", key=key)
    if name == "LoaiDoiTuong" and value not in ("1", "2"):
        raise NativeInvalid(path, f"{value!r} is not 1 (citizen) or 2 (business)", key=key)
    if name == "Gia" and not _MONEY.fullmatch(value):
        raise NativeInvalid(path, f"{value!r} is not an amount in VND (digits only)", key=key)
    if name in _BASE64:
        try:
            base64.b64decode("".join(value.split()), validate=True)
        except (binascii.Error, ValueError):
            raise NativeInvalid(path, "is not base64", key=key) from None
    return value


def _to_model(
    cls: type[Any],
    table: tuple[tuple[str, str], ...],
    record: Mapping[str, Any],
    prefix: str,
    key: str | None,
) -> Any:
    if not isinstance(record, Mapping):
        raise NativeInvalid(prefix or "record", "must be an object", key=key)
    by_xml = dict(table)
    for name in record:
        if name not in by_xml:
            raise NativeInvalid(f"{prefix}{name}", "unknown field (it would be lost)", key=key)
    required = {f.name for f in dc_fields(cls) if f.default is MISSING}
    kwargs: dict[str, Any] = {}
    for xml, attr in table:
        path = f"{prefix}{xml}"
        value = record.get(xml)
        if value is None or (xml in _LIST_NAMES and isinstance(value, list | tuple) and not value):
            if attr in required:
                raise NativeInvalid(path, "is required", key=key)
            continue
        if attr in F.LISTS:
            if not isinstance(value, list | tuple):
                raise NativeInvalid(path, "must be a list", key=key)
            _, _, item_table = F.LISTS[attr]
            kwargs[attr] = tuple(
                _to_model(_ITEM_TYPES[attr], item_table, item, f"{path}[{i}].", key)
                for i, item in enumerate(value)
            )
        else:
            kwargs[attr] = _check_value(path, xml, value, key)
    return cls(**kwargs)


def _from_model(obj: Any, table: tuple[tuple[str, str], ...]) -> Fields:
    out: Fields = {}
    for xml, attr in table:
        value = getattr(obj, attr)
        if attr in F.LISTS:
            if value:
                _, _, item_table = F.LISTS[attr]
                out[xml] = [_from_model(item, item_table) for item in value]
        elif value is not None:
            out[xml] = value
    return out


def ho_so_from_fields(record: Mapping[str, Any], *, key: str | None = None) -> HoSo:
    """A DVCQG dossier record → :class:`HoSo`; :class:`NativeInvalid` names a bad field."""
    result: HoSo = _to_model(HoSo, F.HO_SO, record, "", key)
    return result


def tien_do_from_fields(record: Mapping[str, Any], *, key: str | None = None) -> TienDo:
    """A DVCQG progress step → :class:`TienDo`; :class:`NativeInvalid` names a bad field."""
    result: TienDo = _to_model(TienDo, F.TIEN_DO, record, "", key)
    return result


def fields_from_ho_so(ho_so: HoSo) -> Fields:
    """:class:`HoSo` → the DVCQG record (absent fields and empty lists left out)."""
    return _from_model(ho_so, F.HO_SO)


def fields_from_tien_do(tien_do: TienDo) -> Fields:
    """:class:`TienDo` → the DVCQG progress step (absent fields and empty lists left out)."""
    return _from_model(tien_do, F.TIEN_DO)
