"""Each leniency of issue 10 (what real systems write) and each refusal that stays.

Derived from the real samples: one edit each, then the hub's schema check and parser.
Accepted edits state the exact warnings added; refusals state their code and element path.
"""

from __future__ import annotations

import copy

import pytest
from lxml import etree

from hub.edxml import EdxmlPackage, SignerInfo, parse_package, validate
from hub.errors import HubError, SchemaInvalid
from hub.warning_codes import WARNINGS
from hub.xmlsafe import parse_xml

from .conftest import HEADER_PATH, MESSAGE_HEADER_PATH, find, load, q, read

MH = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader"
THL = "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList"
EMPTY = "edxml.empty_element"


def accepted(root: etree._Element) -> EdxmlPackage:
    validate(root)
    return parse_package(root)


def added_warnings(name: str, root: etree._Element) -> list[str]:
    """Warnings of the edited tree that the unedited sample does not have."""
    before = set(accepted(load(name)).warnings)
    return [w for w in accepted(root).warnings if w not in before]


def refused(root: etree._Element) -> SchemaInvalid:
    """The refusal, from the XSD or (for what XSD 1.0 cannot say) from the parser."""
    with pytest.raises(SchemaInvalid) as info:
        accepted(root)
    return info.value


def sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, q(name))
    el.text = text
    return el


def header(root: etree._Element) -> etree._Element:
    return find(root, *MESSAGE_HEADER_PATH)


def test_warning_code_is_documented() -> None:
    assert EMPTY in WARNINGS


# -- Bussiness and TraceHeaderList ------------------------------------------------------------


def test_bussiness_before_the_trace_headers() -> None:
    root = load("edoc_update.edxml")
    thl = find(root, *HEADER_PATH, "TraceHeaderList")
    bussiness = find(thl, "Bussiness")
    thl.remove(bussiness)
    thl.insert(0, bussiness)
    moved = accepted(root)
    original = accepted(load("edoc_update.edxml"))
    assert moved.business == original.business
    assert moved.trace_headers == original.trace_headers


def test_bussiness_alone_and_trace_header_list_empty() -> None:
    root = load("edoc_update.edxml")
    thl = find(root, *HEADER_PATH, "TraceHeaderList")
    for th in thl.findall(q("TraceHeader")):
        thl.remove(th)
    assert accepted(root).business is not None
    for child in list(thl):
        thl.remove(child)
    assert accepted(root).business is None


def test_bussiness_before_and_after_is_refused() -> None:
    root = load("edoc_update.edxml")
    thl = find(root, *HEADER_PATH, "TraceHeaderList")
    thl.insert(0, copy.deepcopy(find(thl, "Bussiness")))
    assert refused(root).path == f"{THL}/Bussiness[2]"


def test_trace_header_list_id_and_version() -> None:
    root = load("edoc_update.edxml")
    thl = find(root, *HEADER_PATH, "TraceHeaderList")
    thl.set("id", "trace-1")
    thl.set("version", "1.0")
    assert added_warnings("edoc_update.edxml", root) == []
    thl.set("other", "x")
    err = refused(root)
    assert err.path == THL and "other" in err.detail


# -- fields the SDK writes -------------------------------------------------------------------


def test_application_type_and_response_for_task() -> None:
    root = load("edoc_update.edxml")
    mh = header(root)
    task = sub(mh, "ResponseForTask")
    sub(task, "TaskCode", "CV-1")
    sub(task, "TaskCode", "CV-2")
    sub(mh, "ApplicationType", "1")
    h = accepted(root).header
    assert (h.application_type, h.response_for_task) == ("1", ("CV-1", "CV-2"))


def test_second_application_type_is_refused() -> None:
    root = load("edoc_update.edxml")
    mh = header(root)
    sub(mh, "ApplicationType", "1")
    sub(mh, "ApplicationType", "2")
    assert refused(root).path == f"{MH}/ApplicationType[2]"


def test_second_response_for_task_is_refused_by_the_parser() -> None:
    root = load("edoc_update.edxml")
    mh = header(root)
    sub(mh, "ResponseForTask")
    sub(mh, "ResponseForTask")
    validate(root)  # XSD 1.0 cannot count an element without a required child
    assert refused(root).path == f"{MH}/ResponseForTask[2]"


def test_other_info_reply_fors_and_reference_codes_in_the_sdk_order() -> None:
    root = load("edoc_update.edxml")
    oi = find(header(root), "OtherInfo")
    direction = find(oi, "Direction")
    direction.addprevious(etree.Element(q("ReplyFors")))
    oi.find(q("ReplyFors")).text = "700/VPCP"  # type: ignore[union-attr]
    direction.addnext(etree.Element(q("ReferenceCodes")))
    oi.find(q("ReferenceCodes")).text = "701/VPCP;702/VPCP"  # type: ignore[union-attr]
    info = accepted(root).header.other_info
    assert info is not None
    assert (info.reply_fors, info.reference_codes) == ("700/VPCP", "701/VPCP;702/VPCP")


def test_unknown_other_info_child_is_still_refused() -> None:
    root = load("edoc_update.edxml")
    sub(find(header(root), "OtherInfo"), "ReplyFor", "x")
    assert refused(root).path == f"{MH}/OtherInfo/ReplyFor"


def test_staff_ids_in_bussiness_and_in_a_status() -> None:
    root = load("edoc_update.edxml")
    staff = find(root, *HEADER_PATH, "TraceHeaderList", "Bussiness", "StaffInfo")
    sub(staff, "DepartmentId", "VT01")
    sub(staff, "StaffId", "NV042")
    business = accepted(root).business
    assert business is not None and business.staff_info is not None
    assert (business.staff_info.department_id, business.staff_info.staff_id) == ("VT01", "NV042")

    status = load("status_acceptance_03.edxml")
    mh = header(status)
    staff = mh.find(q("StaffInfo"))
    if staff is None:
        staff = etree.Element(q("StaffInfo"))
        find(mh, "ResponseFor").addnext(staff)
    sub(staff, "StaffId", "NV7")
    sub(staff, "DepartmentId", "VT2")
    info = accepted(status).header.staff_info
    assert info is not None and (info.department_id, info.staff_id) == ("VT2", "NV7")


def test_several_response_for_are_kept_in_order() -> None:
    root = load("edoc_revocation.edxml")
    mh = header(root)
    rf = find(mh, "ResponseFor")
    second = copy.deepcopy(rf)
    find(second, "OrganId").text = "000.00.00.H14"
    rf.addnext(second)
    h = accepted(root).header
    assert [r.organ_id for r in h.response_fors] == [find(rf, "OrganId").text, "000.00.00.H14"]
    assert h.response_for == h.response_fors[0]


# -- elements real packages leave empty or omit -----------------------------------------------


def test_empty_due_date() -> None:
    root = load("edoc_update.edxml")
    find(header(root), "DueDate").text = None
    assert added_warnings("edoc_update.edxml", root) == [f"{EMPTY}:{MH}/DueDate"]
    assert accepted(root).header.due_date == ""


def test_absent_due_date() -> None:
    root = load("edoc_update.edxml")
    header(root).remove(find(header(root), "DueDate"))
    assert added_warnings("edoc_update.edxml", root) == []
    assert accepted(root).header.due_date is None


def test_empty_response_for_in_a_document_is_flagged_and_dropped() -> None:
    root = load("edoc_revocation.edxml")
    rf = find(header(root), "ResponseFor")
    for child in list(rf):
        rf.remove(child)
    rf.text = "\n  "
    assert added_warnings("edoc_revocation.edxml", root) == [f"{EMPTY}:{MH}/ResponseFor"]
    assert accepted(root).header.response_fors == ()


def test_partial_response_for_is_refused() -> None:
    root = load("edoc_revocation.edxml")
    rf = find(header(root), "ResponseFor")
    rf.remove(find(rf, "DocumentId"))
    err = refused(root)
    assert err.path == f"{MH}/ResponseFor" and "DocumentId" in err.detail


def test_empty_response_for_in_a_status_is_refused() -> None:
    root = load("status.edxml")
    rf = find(header(root), "ResponseFor")
    for child in list(rf):
        rf.remove(child)
    validate(root)  # one ResponseFor type for both parts (Element Declarations Consistent)
    err = refused(root)
    assert err.path == f"{MH}/ResponseFor" and "status" in err.detail


def test_signer_info_full_name_empty_absent_or_everything_empty() -> None:
    root = load("edoc_update.edxml")
    signer = find(header(root), "SignerInfo")
    find(signer, "FullName").text = ""
    assert added_warnings("edoc_update.edxml", root) == [f"{EMPTY}:{MH}/SignerInfo/FullName"]
    signer.remove(find(signer, "FullName"))
    assert added_warnings("edoc_update.edxml", root) == []
    info = accepted(root).header.signer_info
    assert info is not None and info.full_name is None
    for child in list(signer):
        signer.remove(child)
    assert added_warnings("edoc_update.edxml", root) == [f"{EMPTY}:{MH}/SignerInfo"]
    assert accepted(root).header.signer_info == SignerInfo()


def test_second_signer_info_is_refused_with_or_without_full_name() -> None:
    root = load("edoc_update.edxml")
    mh = header(root)
    mh.append(copy.deepcopy(find(mh, "SignerInfo")))
    assert refused(root).path == f"{MH}/SignerInfo[2]/FullName"  # XSD: a second FullName
    for signer in mh.findall(q("SignerInfo")):
        signer.remove(find(signer, "FullName"))
    validate(root)
    assert refused(root).path == f"{MH}/SignerInfo[2]"  # parser


def test_promulgation_place_empty_or_absent() -> None:
    root = load("edoc_update.edxml")
    info = find(header(root), "PromulgationInfo")
    find(info, "Place").text = None
    assert added_warnings("edoc_update.edxml", root) == [f"{EMPTY}:{MH}/PromulgationInfo/Place"]
    info.remove(find(info, "Place"))
    assert added_warnings("edoc_update.edxml", root) == []
    promulgation = accepted(root).header.promulgation_info
    assert promulgation is not None and promulgation.place is None


def test_code_notation_empty_or_absent() -> None:
    root = load("edoc_update.edxml")
    code = find(header(root), "Code")
    find(code, "CodeNotation").text = " "
    added = added_warnings("edoc_update.edxml", root)
    assert added[0] == f"{EMPTY}:{MH}/Code/CodeNotation"
    code.remove(find(code, "CodeNotation"))
    # Without a notation, DocumentId's number alone is compared with CodeNumber (7816).
    assert added_warnings("edoc_update.edxml", root) == []
    h = accepted(root).header
    assert h.code is not None and h.code.code_notation is None


# -- refusals that stay ------------------------------------------------------------------------


def test_not_well_formed_is_refused_with_its_line() -> None:
    with pytest.raises(HubError) as info:
        parse_xml(read("malformed_undeclared_prefix.edxml"))
    assert info.value.code == "xml.not_well_formed"
    assert "line 116" in str(info.value)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("From", "OrganId"), "G22"),
        (("To[1]", "OrganId"), "28.22.H17"),
        (("ResponseFor", "OrganId"), "000.00.00.g22"),
    ],
)
def test_organ_codes_not_nnn_nn_nn_xnn_are_refused(path: tuple[str, ...], value: str) -> None:
    root = load("edoc_revocation.edxml")
    mh = header(root)
    find(mh, *(p.removesuffix("[1]") for p in path)).text = value
    err = refused(root)
    assert (err.code, err.path) == ("schema.invalid", f"{MH}/{'/'.join(path)}")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("PromulgationInfo", "PromulgationDate"), "2018-09-28"),
        (("DueDate",), "28/09/2018"),
        (("ResponseFor", "PromulgationDate"), "2018/9/28"),
    ],
)
def test_dates_not_yyyy_mm_dd_are_refused(path: tuple[str, ...], value: str) -> None:
    root = load("edoc_revocation.edxml")
    find(header(root), *path).text = value
    err = refused(root)
    assert (err.code, err.path) == ("schema.invalid", f"{MH}/{'/'.join(path)}")


@pytest.mark.parametrize("code", ["07", "14", "3", ""])
def test_unknown_status_codes_are_refused(code: str) -> None:
    root = load("status_acceptance_03.edxml")
    find(header(root), "StatusCode").text = code
    err = refused(root)
    assert (err.code, err.path) == ("schema.invalid", f"{MH}/StatusCode")


def test_two_message_headers_are_refused() -> None:
    root = load("edoc_revocation.edxml")
    header(root).addnext(copy.deepcopy(header(root)))
    err = refused(root)
    assert (err.code, err.path) == ("schema.invalid", f"{MH}[2]")


def test_two_response_for_in_a_status_are_refused() -> None:
    root = load("status_acceptance_03.edxml")
    rf = find(header(root), "ResponseFor")
    rf.addnext(copy.deepcopy(rf))
    assert refused(root).path == f"{MH}/ResponseFor[2]"
