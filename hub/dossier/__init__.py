"""Dossier packages (``urn:vnhub:dossier:1``): DVCQG-named dossier records and progress.

Typical use::

    data = build_dossier(DossierPackage(header=DossierHeader(...), ho_so=HoSo(...)))
    signed = sign_dossier(data, key, certificate)          # at the agency's edge
    root = hub.xmlsafe.parse_xml(signed); validate(root)   # at the hub
    package = parse_dossier(verified_root)                 # models from the verified tree

The XSD is ``schemas/dossier/v1/dossier.xsd``; see ``docs/adapters.md``.
"""

from hub.dossier.build import build_dossier
from hub.dossier.models import (
    DOSSIER_KINDS,
    VN_TZ,
    BoSung,
    DossierHeader,
    DossierKind,
    DossierPackage,
    GiayToKetQua,
    HoSo,
    LePhi,
    LoaiDoiTuong,
    TaiLieu,
    TienDo,
    TrangThaiHoSo,
    format_dvc_time,
    parse_dvc_time,
)
from hub.dossier.parse import parse_dossier
from hub.dossier.schema import (
    DOSSIER_NS,
    ROOT_TAG,
    SCHEMA_VERSION,
    SIGNATURE_PARENT,
    schema_path,
    validate,
)
from hub.dossier.sign import sign_dossier

__all__ = [
    "DOSSIER_KINDS",
    "DOSSIER_NS",
    "ROOT_TAG",
    "SCHEMA_VERSION",
    "SIGNATURE_PARENT",
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
    "build_dossier",
    "format_dvc_time",
    "parse_dossier",
    "parse_dvc_time",
    "schema_path",
    "sign_dossier",
    "validate",
]
