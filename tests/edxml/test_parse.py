"""parse_package on the real samples: concrete values, kinds, warnings."""

from __future__ import annotations

import copy
import io
import zipfile

import pytest
from lxml import etree

from hub.edxml import (
    DocumentIdParts,
    EdxmlPackage,
    InvalidDocumentId,
    StatusCode,
    nfc,
    parse_date,
    parse_package,
    parse_timestamp,
    validate,
)

from .conftest import HEADER_PATH, MESSAGE_HEADER_PATH, STATUS_FILES, find, load, q

BUSINESS_DOC_ID = "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList/Bussiness/DocumentId"


def _package(name: str) -> EdxmlPackage:
    root = load(name)
    validate(root)
    return parse_package(root)


def test_edoc_update_values() -> None:
    p = _package("edoc_update.edxml")
    h = p.header
    assert p.kind == "document"
    assert p.sender == "000.00.00.G22"
    assert p.recipients == ("000.00.00.H41", "000.00.00.H14", "000.00.00.G17")
    assert p.reference_document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert p.business_doc_type == 2
    assert h.from_.organ_name == "Văn phòng Chính phủ"
    assert h.from_.organ_add == "Số 1 Hoàng Hoa Thám, Quận Ba Đình, Hà Nội"
    assert h.to[0].organization_in_charge == "UBND Tỉnh Nghệ An"
    assert h.to[2].organ_name == "Sở Thông tin truyền thông Hải Phòng"
    assert h.code is not None and (h.code.code_number, h.code.code_notation) == (
        "7816",
        "VPCP-TTĐT",
    )
    assert h.promulgation_info is not None
    assert h.promulgation_info.place == "Hà Nội"
    assert h.promulgation_info.promulgation_date == "2018/09/28"
    assert h.document_type is not None and h.document_type.type_name == "Công văn"
    assert h.subject == "V/v kết nối, liên thông phần mềm quản lý văn bản"
    assert h.signer_info is not None and h.signer_info.full_name == "Nguyen Thanh Phuc"
    assert h.due_date == "2018/09/28"
    assert h.to_places == ("Cac bo va co quan ngang bo", "Uy ban nhan dan cac tinh, TP")
    assert h.other_info is not None
    assert h.other_info.page_amount == "22"
    assert h.other_info.direction == "false"
    assert h.other_info.appendixes == (
        "Công văn về việc kết nối, liên thông phần mềm quản lý văn bản",
    )
    assert h.steering_type == "1"
    assert h.response_for is None and h.status_code is None
    assert [(t.organ_id, t.timestamp) for t in p.trace_headers] == [
        ("000.00.00.G22", "2018/09/28 00:00:00")
    ]
    b = p.business
    assert b is not None
    assert b.document_id == "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT"
    assert b.business_doc_reason == "Cập nhật văn bản điện tử"
    assert b.paper == "0"
    assert b.staff_info is not None and b.staff_info.staff == "Nguyễn Thị Ngọc Trâm"
    assert b.document_info is not None
    assert (b.document_info.document_info, b.document_info.document_receiver) == ("1", "1")
    assert [(r.organ_id, r.receiver_type) for r in b.document_info.receivers] == [
        ("000.00.00.H41", "0"),
        ("000.00.00.H14", "1"),
    ]


def test_edoc_update_attachment_is_a_zip() -> None:
    p = _package("edoc_update.edxml")
    assert len(p.manifest) == 1 and len(p.attachments) == 1
    ref, att = p.manifest[0], p.attachments[0]
    assert ref.content_id == att.content_id == "cid:209"
    assert ref.content_type == att.content_type == "application/zip"
    assert att.attachment_name == "1896_QD-TTg_m_294779.doc"
    assert att.description == "1896_QD-TTg_m_294779.doc"
    data = att.decode()
    assert data.startswith(b"PK")
    assert zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "content_b64" not in repr(att)  # never dump 20 MB of base64 into a log line


def test_edoc_update_warnings() -> None:
    p = _package("edoc_update.edxml")
    assert f"edxml.impossible_date:{BUSINESS_DOC_ID}:2014/02/30" in p.warnings
    assert (
        "edxml.document_id_mismatch:/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/DocumentId"
        ":date:2015/09/30!=2018/09/28"
    ) in p.warnings
    assert not any(w.startswith("edxml.manifest_attachment_mismatch") for w in p.warnings)


def test_edoc_revocation_values() -> None:
    p = _package("edoc_revocation.edxml")
    assert p.kind == "document"
    assert p.business_doc_type == 1
    assert p.business is not None and p.business.document_id is None
    assert p.business.business_doc_reason == "Thu hồi văn bản điện tử"
    rf = p.header.response_for
    assert rf is not None
    assert (rf.organ_id, rf.code, rf.document_id, rf.promulgation_date) == (
        "000.00.00.H14",
        "267/VPCP-TTĐT",
        "000.00.04.G14,2012/08/06,267/VPCP-TTĐT",
        "2018/09/28",
    )
    assert p.reference_document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert len(p.attachments) == 1 and p.attachments[0].decode()[:2] == b"PK"


@pytest.mark.parametrize(("name", "code"), sorted(STATUS_FILES.items()))
def test_status_samples(name: str, code: str) -> None:
    p = _package(name)
    assert p.kind == "status"
    assert p.header.status_code is StatusCode(code)
    assert p.header.status_code == code
    assert p.business_doc_type == 0
    assert p.reference_document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert p.manifest == () and p.attachments == () and p.header.to == ()
    assert p.header.timestamp is not None and parse_timestamp(p.header.timestamp) is not None
    assert p.header.staff_info is not None and p.header.staff_info.mobile == "84912000001"
    if code == "13":  # the sender asks the recipient (H41) to give the document back
        assert (p.sender, p.recipients) == ("000.00.00.G22", ("000.00.00.H41",))
    else:
        assert (p.sender, p.recipients) == ("000.00.00.H41", ("000.00.00.G22",))


def test_status_description_and_tabs() -> None:
    p = _package("status_acceptance_03.edxml")  # tab-indented, StaffInfo children reordered
    assert p.header.description == (
        "Văn thư cơ - Phòng Văn thư - Lưu trữ: Tiếp nhận văn bản điện tử, "
        "vào sổ văn bản đến của đơn vị"
    )
    assert p.header.staff_info is not None
    assert p.header.staff_info.department == "Phong hanh chinh"
    assert p.header.from_.organ_name == "UBND Tỉnh Nghệ An"
    assert p.header.response_for is not None
    assert p.header.response_for.promulgation_date == "2015/09/30"
    assert p.warnings == ()


def test_status_edxml_flags_its_response_for_date() -> None:
    p = _package("status.edxml")
    assert p.warnings == (
        "edxml.document_id_mismatch:/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/ResponseFor"
        "/DocumentId:date:2015/09/30!=2018/09/28",
    )


def test_status_code_descriptions() -> None:
    assert len(StatusCode) == 9
    for code in StatusCode:
        assert code.description_vi and code.description_en
    assert StatusCode("01").description_en.startswith("Arrived")


def test_text_is_stripped_but_not_normalised() -> None:
    root = load("edoc_update.edxml")
    subject = find(root, *MESSAGE_HEADER_PATH, "Subject")
    nfd = "Ha\u0300 No\u0323\u0302i"  # "Hà Nội" decomposed
    subject.text = f"\n\t  {nfd}\u00a0 \r\n"
    p = parse_package(root)
    assert p.header.subject == f"{nfd}\u00a0"  # XML whitespace only; NBSP is content
    assert p.header.subject != "Hà Nội\u00a0"
    assert nfc(p.header.subject) == "Hà Nội\u00a0"


def test_comments_inside_text_are_skipped() -> None:
    root = load("status.edxml")
    desc = find(root, *MESSAGE_HEADER_PATH, "Description")
    desc.text = "Văn thư "
    comment = etree.Comment(" x ")
    comment.tail = "đã nhận"
    desc.append(comment)
    find(root, *MESSAGE_HEADER_PATH).insert(0, etree.Comment("between elements"))
    validate(root)
    assert parse_package(root).header.description == "Văn thư đã nhận"


def test_manifest_attachment_mismatch_is_flagged() -> None:
    root = load("edoc_update.edxml")
    encoded = find(root, "AttachmentEncoded")
    extra = copy.deepcopy(find(encoded, "Attachment"))
    find(extra, "ContentId").text = "cid:extra"
    encoded.append(extra)
    ref = find(root, "edXMLEnvelope", "edXMLBody", "edXMLManifest", "Reference")
    ghost = copy.deepcopy(ref)
    find(ghost, "ContentId").text = "cid:ghost"
    ref.addnext(ghost)
    validate(root)
    w = parse_package(root).warnings
    assert (
        "edxml.manifest_attachment_mismatch:/edXML/AttachmentEncoded/Attachment[2]"
        ":not_in_manifest:cid:extra"
    ) in w
    assert (
        "edxml.manifest_attachment_mismatch:/edXML/edXMLEnvelope/edXMLBody/edXMLManifest"
        "/Reference[2]:no_attachment:cid:ghost"
    ) in w


def test_duplicate_recipient_is_deduplicated_and_flagged() -> None:
    root = load("edoc_update.edxml")
    mh = find(root, *MESSAGE_HEADER_PATH)
    first_to = mh.find(q("To"))
    assert first_to is not None
    first_to.addnext(copy.deepcopy(first_to))
    validate(root)
    p = parse_package(root)
    assert len(p.header.to) == 4
    assert p.recipients == ("000.00.00.H41", "000.00.00.H14", "000.00.00.G17")
    assert any(w.startswith("edxml.duplicate_recipient:") for w in p.warnings)


def test_non_conforming_document_id_is_flagged_not_refused() -> None:
    root = load("edoc_update.edxml")
    find(root, *MESSAGE_HEADER_PATH, "DocumentId").text = "9fbfbad2-f1f8-4256-a2eb-50fb1061cddb"
    validate(root)
    p = parse_package(root)
    assert p.reference_document_id == "9fbfbad2-f1f8-4256-a2eb-50fb1061cddb"
    assert any(w.startswith("edxml.document_id_format:") for w in p.warnings)


def test_impossible_dates_everywhere_are_flagged() -> None:
    root = load("edoc_revocation.edxml")
    find(root, *MESSAGE_HEADER_PATH, "PromulgationInfo", "PromulgationDate").text = "2019/02/29"
    find(root, *MESSAGE_HEADER_PATH, "DueDate").text = "2018/04/31"
    find(
        root, *HEADER_PATH, "TraceHeaderList", "TraceHeader", "Timestamp"
    ).text = "2018/02/30 10:00:00"
    validate(root)
    w = parse_package(root).warnings
    assert f"edxml.impossible_date:{'/edXML/edXMLEnvelope/edXMLHeader/MessageHeader'}" in " ".join(
        w
    )
    dates = sorted(x.rsplit(":", 1)[-1] for x in w if x.startswith("edxml.impossible_date"))
    assert "2019/02/29" in dates and "2018/04/31" in dates
    assert any(x.endswith("TraceHeader/Timestamp:2018/02/30 10:00:00") for x in w)


def test_document_id_parts() -> None:
    parts = DocumentIdParts.parse("000.00.00.G22,2014/02/30,7806/VPCP-TTĐT")
    assert (parts.organ_id, parts.date, parts.number_notation) == (
        "000.00.00.G22",
        "2014/02/30",
        "7806/VPCP-TTĐT",
    )
    assert parts.date_value is None  # impossible, flagged rather than raised
    assert (parts.number, parts.notation) == ("7806", "VPCP-TTĐT")
    assert str(parts) == "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT"
    ok = DocumentIdParts.parse("000.00.04.G14,2012/08/06,267/VPCP-TTĐT")
    assert ok.date_value is not None and ok.date_value.isoformat() == "2012-08-06"
    for bad in ["", "9fbfbad2-f1f8", "000.00.00.G22,2014-02-03,1/A", "G22,2014/02/03,1/A"]:
        assert DocumentIdParts.try_parse(bad) is None
        with pytest.raises(InvalidDocumentId):
            DocumentIdParts.parse(bad)


def test_date_helpers() -> None:
    assert parse_date("2014/02/30") is None
    assert parse_date("2024/02/29") is not None
    assert parse_date("2024-02-29") is None
    ts = parse_timestamp("2018/09/28 17:25:11")
    assert ts is not None and ts.utcoffset() is not None and ts.hour == 17
    assert parse_timestamp("2018/09/28 24:00:00") is None


def test_unvalidated_garbage_raises_value_error() -> None:
    with pytest.raises(ValueError):
        parse_package(etree.fromstring(b"<edXML/>"))
