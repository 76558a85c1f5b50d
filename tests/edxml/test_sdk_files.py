"""The real SDK/PVN packages of ``../shared/testdata/edxml-sdk``: schema and model (issue 10).

Verdicts over HTTP are in ``test_sdk_http.py``; these tests pin what the parser makes of them.
"""

from __future__ import annotations

import pytest

from hub.edxml import EdxmlPackage, MessageHeader, Organ, ResponseFor, parse_package, validate
from hub.xmlsafe import parse_xml
from tests.conftest import skip_or_fail

from .conftest import TESTDATA

SDK_DIR = TESTDATA / "edxml-sdk"
DOC_778 = "000.00.00.G22,2025/01/06,778/VPCP-TTĐT"

if not SDK_DIR.is_dir():  # pragma: no cover - depends on the checkout layout
    skip_or_fail(f"shared SDK test data not found at {SDK_DIR}", allow_module_level=True)


def _package(name: str) -> EdxmlPackage:
    root = parse_xml((SDK_DIR / name).read_bytes())
    validate(root)
    return parse_package(root)


def test_bussiness_before_trace_header_is_parsed() -> None:
    p = _package("sdk_doc_new_with_bussiness.edxml")
    assert p.business is not None
    assert p.business.business_doc_type == 0
    assert p.business.paper == "0"
    assert p.business.staff_info is not None
    assert p.business.staff_info.staff == "Nguyễn Thị B"
    assert [t.organ_id for t in p.trace_headers] == ["000.00.00.G22"]
    assert p.recipients == ("000.00.00.H41", "000.00.00.H14")


def test_revocation_keeps_every_response_for_in_order() -> None:
    p = _package("sdk_revocation_two_responsefor.edxml")
    assert p.business_doc_type == 1
    rfs = p.header.response_fors
    assert [rf.organ_id for rf in rfs] == ["000.00.00.H41", "000.00.00.H14"]
    assert {rf.document_id for rf in rfs} == {DOC_778}
    assert p.header.response_for == rfs[0]


def test_status_has_one_response_for() -> None:
    p = _package("sdk_status_03.edxml")
    assert p.kind == "status"
    assert p.header.response_fors == (p.header.response_for,)
    assert p.reference_document_id == DOC_778
    assert p.recipients == ("000.00.00.G22",)


def test_replacement_info_from_the_pvn_layout() -> None:
    p = _package("edoc_replacement.edxml")
    assert p.business_doc_type == 3
    assert p.business is not None
    infos = p.business.replacement_info_list
    assert [i.document_id for i in infos] == ["000.00.00.G22,2014/01/30,7806/VPCP-TTĐT"] * 2
    assert infos[0].organ_ids == ("000.00.00.H41", "000.00.00.H14")


def test_message_header_response_for_and_response_fors_agree() -> None:
    a = ResponseFor(organ_id="000.00.00.H41", document_id=DOC_778)
    b = ResponseFor(organ_id="000.00.00.H14", document_id=DOC_778)
    g22 = Organ(organ_id="000.00.00.G22")
    assert MessageHeader(from_=g22, response_for=a).response_fors == (a,)
    assert MessageHeader(from_=g22, response_fors=(a, b)).response_for == a
    assert MessageHeader(from_=g22, response_for=a, response_fors=(a, b)).response_fors == (a, b)
    assert MessageHeader(from_=g22).response_fors == ()
    with pytest.raises(ValueError, match="first of response_fors"):
        MessageHeader(from_=g22, response_for=b, response_fors=(a, b))
