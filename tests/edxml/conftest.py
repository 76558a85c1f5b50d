"""Shared fixtures: third-party samples are read in place from ``../shared/testdata``."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from hub.xmlsafe import parse_xml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TESTDATA = PROJECT_ROOT.parent / "shared" / "testdata"
EDXML_DIR = TESTDATA / "edxml"
DEFUSED_DIR = TESTDATA / "xmldsig" / "defusedxml-test-data"

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"

# status sample file -> the StatusCode it carries (from the file name; status.edxml is 01)
STATUS_FILES = {
    "status.edxml": "01",
    "status_inbox__01.edxml": "01",
    "status_rejection_02.edxml": "02",
    "status_acceptance_03.edxml": "03",
    "status_assignment_04.edxml": "04",
    "status_processing_05.edxml": "05",
    "status_finish_06.edxml": "06",
    "status_cancellation_13.edxml": "13",
    "status_change-acceptance_15.edxml": "15",
    "status_change-rejection_16.edxml": "16",
}
DOCUMENT_FILES = ("edoc_update.edxml", "edoc_revocation.edxml")
WELL_FORMED = DOCUMENT_FILES + tuple(STATUS_FILES)

if not EDXML_DIR.is_dir():  # pragma: no cover - depends on the checkout layout
    pytest.skip(f"shared test data not found at {TESTDATA}", allow_module_level=True)


def q(name: str) -> str:
    """Clark name in the edXML namespace."""
    return f"{{{NS}}}{name}"


def read(name: str) -> bytes:
    return (EDXML_DIR / name).read_bytes()


def load(name: str) -> etree._Element:
    return parse_xml(read(name))


def find(root: etree._Element, *path: str) -> etree._Element:
    """Walk direct children by local names (test helper; fails loudly when absent)."""
    el = root
    for name in path:
        found = el.find(q(name))
        assert found is not None, f"{name} not found under {el.tag}"
        el = found
    return el


HEADER_PATH = ("edXMLEnvelope", "edXMLHeader")
MESSAGE_HEADER_PATH = (*HEADER_PATH, "MessageHeader")
