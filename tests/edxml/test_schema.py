"""The v1 XSD: every real sample validates; edits derived from them are refused precisely."""

from __future__ import annotations

import copy

import pytest
from lxml import etree

from hub.edxml import EDXML_NS, SCHEMA_VERSION, SIGNATURE_PARENT, explain, schema_path, validate
from hub.errors import SchemaInvalid

from .conftest import HEADER_PATH, MESSAGE_HEADER_PATH, WELL_FORMED, find, load, q

DS = "http://www.w3.org/2000/09/xmldsig#"
MH = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader"


@pytest.mark.parametrize("name", WELL_FORMED)
def test_every_well_formed_sample_validates(name: str) -> None:
    validate(load(name))


def test_schema_file_and_version() -> None:
    path = schema_path()
    assert path.is_file()
    assert path.parent.name == f"v{SCHEMA_VERSION}"
    xsd = etree.parse(str(path)).getroot()
    assert xsd.get("targetNamespace") == EDXML_NS
    assert xsd.get("elementFormDefault") == "qualified"
    # self-contained: nothing imported or included, so nothing can be fetched
    assert not xsd.findall("{http://www.w3.org/2001/XMLSchema}import")
    assert not xsd.findall("{http://www.w3.org/2001/XMLSchema}include")


def _invalid(root: etree._Element) -> SchemaInvalid:
    with pytest.raises(SchemaInvalid) as info:
        validate(root)
    return info.value


def test_two_message_headers() -> None:
    root = load("edoc_update.edxml")
    header = find(root, *HEADER_PATH)
    mh = find(root, *MESSAGE_HEADER_PATH)
    header.insert(1, copy.deepcopy(mh))
    err = _invalid(root)
    assert err.path == "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader[2]"
    assert err.line is not None
    assert err.to_problem()["code"] == "schema.invalid"


def test_bad_organ_id() -> None:
    root = load("edoc_update.edxml")
    find(root, *MESSAGE_HEADER_PATH, "From", "OrganId").text = "00.00.00.G22"
    err = _invalid(root)
    assert err.path == f"{MH}/From/OrganId"
    assert "pattern" in err.detail


def test_bad_organ_id_in_second_recipient() -> None:
    root = load("edoc_update.edxml")
    mh = find(root, *MESSAGE_HEADER_PATH)
    to2 = mh.findall(q("To"))[1]
    find(to2, "OrganId").text = "000.00.00.x14"
    assert _invalid(root).path == f"{MH}/To[2]/OrganId"


@pytest.mark.parametrize("code", ["07", "1", "00", "14", ""])
def test_unknown_status_code(code: str) -> None:
    root = load("status.edxml")
    find(root, *MESSAGE_HEADER_PATH, "StatusCode").text = code
    assert _invalid(root).path == f"{MH}/StatusCode"


def test_missing_from() -> None:
    root = load("edoc_update.edxml")
    mh = find(root, *MESSAGE_HEADER_PATH)
    mh.remove(find(mh, "From"))
    err = _invalid(root)
    assert err.path is not None and err.path.startswith(MH)
    assert "From" in err.detail


def test_missing_from_in_status() -> None:
    root = load("status_finish_06.edxml")
    mh = find(root, *MESSAGE_HEADER_PATH)
    mh.remove(find(mh, "From"))
    err = _invalid(root)
    assert err.path is not None and err.path.startswith(MH)


@pytest.mark.parametrize("value", ["9", "4", "-1", "two"])
def test_bad_business_doc_type(value: str) -> None:
    root = load("edoc_update.edxml")
    find(root, *HEADER_PATH, "TraceHeaderList", "Bussiness", "BussinessDocType").text = value
    err = _invalid(root)
    assert err.path == "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList/Bussiness/BussinessDocType"


def test_duplicate_single_valued_field_is_refused() -> None:
    root = load("edoc_update.edxml")
    mh = find(root, *MESSAGE_HEADER_PATH)
    mh.append(copy.deepcopy(find(mh, "Subject")))
    assert _invalid(root).path == f"{MH}/Subject[2]"


def test_duplicate_complex_field_is_refused() -> None:
    root = load("edoc_revocation.edxml")
    mh = find(root, *MESSAGE_HEADER_PATH)
    mh.append(copy.deepcopy(find(mh, "SignerInfo")))
    err = _invalid(root)
    assert err.path is not None and "SignerInfo[2]" in err.path


def test_several_response_for_in_a_document_are_accepted() -> None:
    # The SDK names a revoked document once per recipient (issue 10): a v1 change.
    root = load("edoc_revocation.edxml")
    mh = find(root, *MESSAGE_HEADER_PATH)
    mh.append(copy.deepcopy(find(mh, "ResponseFor")))
    validate(root)


def test_two_response_for_in_a_status_are_refused() -> None:
    root = load("status.edxml")
    rf = find(root, *MESSAGE_HEADER_PATH, "ResponseFor")
    rf.addnext(copy.deepcopy(rf))
    err = _invalid(root)
    assert err.path == f"{MH}/ResponseFor[2]"


def test_document_fields_in_another_order_are_accepted() -> None:
    # ToPlaces after DueDate (the standard's order) instead of last (the SDK's)
    root = load("edoc_update.edxml")
    mh = find(root, *MESSAGE_HEADER_PATH)
    places = find(mh, "ToPlaces")
    mh.remove(places)
    find(mh, "DueDate").addnext(places)
    validate(root)


def test_missing_document_id_is_refused() -> None:
    root = load("edoc_update.edxml")
    mh = find(root, *MESSAGE_HEADER_PATH)
    mh.remove(find(mh, "DocumentId"))
    assert _invalid(root).path == f"{MH}/Code"


def test_status_without_timestamp_is_refused() -> None:
    root = load("status.edxml")
    mh = find(root, *MESSAGE_HEADER_PATH)
    mh.remove(find(mh, "Timestamp"))
    assert _invalid(root).path == MH


def test_impossible_date_passes_schema_but_bad_month_does_not() -> None:
    root = load("edoc_update.edxml")
    date_el = find(root, *MESSAGE_HEADER_PATH, "PromulgationInfo", "PromulgationDate")
    date_el.text = "2014/02/30"
    validate(root)
    date_el.text = "2014/13/01"
    assert _invalid(root).path == f"{MH}/PromulgationInfo/PromulgationDate"
    date_el.text = "2014-02-01"
    _invalid(root)


def test_bad_timestamp() -> None:
    root = load("status.edxml")
    find(root, *MESSAGE_HEADER_PATH, "Timestamp").text = "2018/09/28T17:25:11"
    assert _invalid(root).path == f"{MH}/Timestamp"


def test_wrong_root_and_wrong_namespace() -> None:
    _invalid(etree.fromstring(b"<edXML/>"))
    _invalid(etree.fromstring(f'<MessageHeader xmlns="{EDXML_NS}"/>'.encode()))


def _signature_slot(root: etree._Element) -> etree._Element:
    el = root
    assert el.tag == SIGNATURE_PARENT[0]
    for tag in SIGNATURE_PARENT[1:]:
        found = el.find(tag)
        assert found is not None
        el = found
    return el


def _ds_signature() -> etree._Element:
    sig = etree.Element(f"{{{DS}}}Signature", nsmap={"ds": DS})
    etree.SubElement(sig, f"{{{DS}}}SignedInfo")
    return sig


def test_xmldsig_signature_as_last_child_of_header() -> None:
    root = load("status.edxml")
    _signature_slot(root).append(_ds_signature())
    validate(root)


def test_xmldsig_signature_replacing_the_placeholder() -> None:
    root = load("edoc_update.edxml")
    slot = _signature_slot(root)
    placeholder = find(slot, "Signature")
    slot.replace(placeholder, _ds_signature())
    validate(root)


def test_signature_must_be_last_and_single() -> None:
    root = load("edoc_update.edxml")
    slot = _signature_slot(root)
    slot.insert(1, _ds_signature())  # before TraceHeaderList
    _invalid(root)

    root = load("edoc_update.edxml")
    _signature_slot(root).append(_ds_signature())  # placeholder + ds:Signature
    _invalid(root)


def test_foreign_elements_are_refused() -> None:
    root = load("status.edxml")
    _signature_slot(root).append(etree.Element("{urn:evil}Signature"))
    _invalid(root)
    root = load("status.edxml")
    find(root, *MESSAGE_HEADER_PATH).append(etree.Element(q("Unknown")))
    _invalid(root)


def test_xlink_attribute_tolerated_on_reference() -> None:
    root = load("edoc_update.edxml")
    ref = find(root, "edXMLEnvelope", "edXMLBody", "edXMLManifest", "Reference")
    ref.set("{http://www.w3.org/1999/xlink}href", "")
    validate(root)
    ref.set("other", "x")
    _invalid(root)


def test_manifest_reference_children_in_any_order() -> None:
    root = load("edoc_update.edxml")
    ref = find(root, "edXMLEnvelope", "edXMLBody", "edXMLManifest", "Reference")
    ref[:] = list(reversed(list(ref)))
    validate(root)


def test_explain_lists_errors_for_integrators() -> None:
    assert explain(load("status.edxml")) == []
    root = load("status.edxml")
    find(root, *MESSAGE_HEADER_PATH, "StatusCode").text = "07"
    messages = explain(root)
    assert messages and any("StatusCode" in m for m in messages)


def test_validation_from_several_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    roots = [load("edoc_update.edxml") for _ in range(4)]

    def work(i: int) -> bool:
        validate(roots[i % 4])
        return True

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(work, range(32)))
