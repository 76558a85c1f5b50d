"""Validation of dossier packages against ``schemas/dossier/v1/dossier.xsd``.

Same approach as :mod:`hub.edxml.schema`: lxml's ``XMLSchema`` on the hot path, one compiled
schema per thread (an lxml schema must not validate in two threads at once).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from lxml import etree

from hub.edxml.schema import element_path
from hub.errors import SchemaInvalid

__all__ = [
    "DOSSIER_NS",
    "ROOT_TAG",
    "SCHEMA_VERSION",
    "SIGNATURE_PARENT",
    "schema_path",
    "validate",
]

DOSSIER_NS = "urn:vnhub:dossier:1"
"""The dossier package namespace (version 1)."""

SCHEMA_VERSION = "1"
"""The schema version this code validates against (folder ``schemas/dossier/v<N>``)."""

ROOT_TAG = f"{{{DOSSIER_NS}}}DossierPackage"
"""Clark name of the document element."""

SIGNATURE_PARENT: tuple[str, ...] = (ROOT_TAG, f"{{{DOSSIER_NS}}}Header")
"""The enveloped ``ds:Signature`` is the last child of ``Header`` (the edXML profile's shape)."""

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_local = threading.local()


def schema_path() -> Path:
    """Path of the XSD for :data:`SCHEMA_VERSION`."""
    return _PROJECT_ROOT / "schemas" / "dossier" / f"v{SCHEMA_VERSION}" / "dossier.xsd"


def _schema() -> etree.XMLSchema:
    schema: etree.XMLSchema | None = getattr(_local, "schema", None)
    if schema is None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        schema = etree.XMLSchema(etree.parse(str(schema_path()), parser))
        _local.schema = schema
    return schema


def validate(root: etree._Element) -> None:
    """Validate a dossier package tree.

    :raises SchemaInvalid: with the first error's message, the offending element's path
        (``/DossierPackage/Body/HoSo/MaTTHC``) and its line.
    """
    schema = _schema()
    if schema.validate(root):
        return
    log: Any = schema.error_log
    errors = list(log)
    if not errors:
        raise SchemaInvalid("the package does not conform to the dossier schema", path=None)
    err = errors[0]
    path: str | None = None
    if err.line:
        # libxml2 reports prefixed paths; the element at the reported line is clearer.
        for el in root.iter():
            if isinstance(el.tag, str) and el.sourceline == err.line:
                path = element_path(el)
                break
    raise SchemaInvalid(err.message, path=path or err.path, line=err.line or None)
