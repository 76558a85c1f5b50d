"""Validation of edXML packages against the project's own XSD (``schemas/edxml/v1``).

The hot path uses lxml's ``XMLSchema`` (libxml2, tens of microseconds per package). The
``xmlschema`` package is much slower but explains errors better; :func:`explain` offers it for
integrator-facing reports and tooling, never for ingest.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from lxml import etree

from hub.errors import SchemaInvalid

__all__ = [
    "EDXML_NS",
    "SCHEMA_VERSION",
    "SIGNATURE_PARENT",
    "element_path",
    "explain",
    "schema_path",
    "validate",
]

EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
"""The edXML namespace (QCVN 102:2016)."""

SCHEMA_VERSION = "1"
"""The schema version this code validates against (folder ``schemas/edxml/v<N>``)."""

SIGNATURE_PARENT: tuple[str, ...] = (
    f"{{{EDXML_NS}}}edXML",
    f"{{{EDXML_NS}}}edXMLEnvelope",
    f"{{{EDXML_NS}}}edXMLHeader",
)
"""Clark names from the root down to the element whose last child is the enveloped signature."""

_PROJECT_ROOT = Path(__file__).resolve().parents[2]

# An lxml XMLSchema keeps validation state in its C context and must not validate in two
# threads at once, so each thread compiles its own (once; ~ms) and reuses it.
_local = threading.local()
_xmlschema_lock = threading.Lock()
_xmlschema_cache: list[Any] = []


def schema_path() -> Path:
    """Path of the XSD for :data:`SCHEMA_VERSION`."""
    return _PROJECT_ROOT / "schemas" / "edxml" / f"v{SCHEMA_VERSION}" / "edxml.xsd"


def _schema() -> etree.XMLSchema:
    schema: etree.XMLSchema | None = getattr(_local, "schema", None)
    if schema is None:
        # The XSD is our own file, but parse it as carefully as anything else: no network,
        # no entities. It imports nothing, so nothing can be fetched while compiling it.
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        schema = etree.XMLSchema(etree.parse(str(schema_path()), parser))
        _local.schema = schema
    return schema


def element_path(el: etree._Element) -> str:
    """A readable path of local names, e.g. ``/edXML/edXMLEnvelope/edXMLHeader/MessageHeader[2]``.

    A position ``[n]`` is added only when the parent has several children of the same name.
    """
    parts: list[str] = []
    node: etree._Element | None = el
    while node is not None:
        tag = node.tag
        if not isinstance(tag, str):  # comment or PI
            parts.append("node()")
            node = node.getparent()
            continue
        name = etree.QName(tag).localname
        parent = node.getparent()
        if parent is not None:
            same = [c for c in parent if c.tag == tag]
            if len(same) > 1:
                name = f"{name}[{same.index(node) + 1}]"
        parts.append(name)
        node = parent
    return "/" + "/".join(reversed(parts))


_STEP = re.compile(r"(?:[^:/\[\]]+:)?([^:/\[\]]+)(?:\[(\d+)\])?")


def _resolve(root: etree._Element, path: str | None) -> str | None:
    """Turn libxml2's error path into :func:`element_path` form.

    libxml2 writes paths such as ``/*/edXML:edXMLEnvelope/edXML:edXMLHeader/*[2]`` using the
    document's own prefixes, which cannot be evaluated as XPath without its prefix map; the
    path is walked step by step instead (local names, 1-based positions).
    """
    if not path or not path.startswith("/"):
        return path
    steps = path[1:].split("/")
    node: etree._Element | None = None
    for step in steps:
        m = _STEP.fullmatch(step)
        if m is None:
            return path
        name, index = m.group(1), int(m.group(2) or 1)
        if node is None:
            candidates = [root.getroottree().getroot()]
        else:
            candidates = [c for c in node if isinstance(c.tag, str)]
        if name != "*":
            candidates = [c for c in candidates if etree.QName(c).localname == name]
        if index > len(candidates):
            return path
        node = candidates[index - 1]
    return element_path(node) if node is not None else path


def validate(root: etree._Element) -> None:
    """Validate a package tree against the edXML XSD.

    :raises SchemaInvalid: with the first error's message, the path of the offending element
        (``/edXML/edXMLEnvelope/edXMLHeader/MessageHeader[2]``) and its line.
    """
    schema = _schema()
    if schema.validate(root):
        return
    log: Any = schema.error_log  # lxml-stubs do not describe _ErrorLog
    errors = list(log)
    if not errors:  # not expected from libxml2, but never report "invalid" without a reason
        raise SchemaInvalid("the package does not conform to the edXML schema", path=None)
    err = errors[0]
    raise SchemaInvalid(err.message, path=_resolve(root, err.path), line=err.line or None)


def explain(root: etree._Element) -> list[str]:
    """Every schema error, explained by the ``xmlschema`` package (slow: tooling only).

    Returns an empty list for a valid package. Each entry is ``"<path>: <reason>"``.
    """
    import xmlschema  # local import: tooling only, keeps the hot path's imports light

    with _xmlschema_lock:
        if not _xmlschema_cache:
            _xmlschema_cache.append(xmlschema.XMLSchema(str(schema_path())))
        xs = _xmlschema_cache[0]
    out: list[str] = []
    for err in xs.iter_errors(root):
        out.append(f"{err.path or '/'}: {err.reason or err.message}")
    return out
