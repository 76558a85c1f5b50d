"""build_document / build_status: shape, schema validity, round trips."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from lxml import etree

from hub.edxml import (
    EDXML_NS,
    SIGNATURE_PARENT,
    Attachment,
    Business,
    BusinessDocumentInfo,
    Code,
    DocumentType,
    EdxmlPackage,
    InvalidOrganId,
    ManifestReference,
    MessageHeader,
    Organ,
    OtherInfo,
    PromulgationInfo,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    TraceHeader,
    build_document,
    build_status,
    format_date,
    format_timestamp,
    make_document_id,
    parse_package,
    validate,
)
from hub.xmlsafe import parse_xml

from .conftest import WELL_FORMED, load

VPCP = Organ(
    organ_id="000.00.00.G22",
    organization_in_charge="Văn phòng Chính phủ",
    organ_name="Văn phòng Chính phủ",
    organ_add="Số 1 Hoàng Hoa Thám, Quận Ba Đình, Hà Nội",
    email="vpcp@gov.vn",
)
NGHE_AN = Organ(organ_id="000.00.00.H41", organ_name="UBND Tỉnh Nghệ An")
CAO_BANG = Organ(organ_id="000.00.00.H14", organ_name="UBND Tỉnh Cao Bằng", fax="")
DOC_ID = "000.00.00.G22,2024/03/15,123/VPCP-TTĐT"


def _header(**changes: object) -> MessageHeader:
    base: dict[str, object] = dict(
        from_=VPCP,
        to=(NGHE_AN, CAO_BANG),
        document_id=DOC_ID,
        code=Code(code_number="123", code_notation="VPCP-TTĐT"),
        promulgation_info=PromulgationInfo(place="Hà Nội", promulgation_date="2024/03/15"),
        document_type=DocumentType(type="1", type_detail="0", type_name="Công văn"),
        subject="V/v triển khai Nghị định 43/2011/NĐ-CP",
        content="Nội dung: Ưu tiên xử lý hồ sơ trực tuyến mức độ 3, 4",
        signer_info=SignerInfo(
            competence="KT. BỘ TRƯỞNG", position="Thứ trưởng", full_name="Trần Văn Ất"
        ),
        due_date="2024/04/01",
        to_places=("Các bộ, cơ quan ngang bộ", "UBND các tỉnh, TP"),
        other_info=OtherInfo(
            priority="1",
            sphere_of_promulgation="Liên thông văn bản quốc gia",
            promulgation_amount="2",
            page_amount="3",
            appendixes=("Phụ lục I", "Phụ lục II"),
        ),
        steering_type="1",
        response_for=ResponseFor(
            organ_id="000.00.00.H41",
            code="45/UBND-VX",
            promulgation_date="2024/03/01",
            document_id="000.00.00.H41,2024/03/01,45/UBND-VX",
        ),
    )
    base.update(changes)
    return MessageHeader(**base)  # type: ignore[arg-type]


def _roundtrip(data: bytes) -> EdxmlPackage:
    root = parse_xml(data)
    validate(root)
    return parse_package(root)


def test_document_round_trip_with_attachments() -> None:
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 40
    ref = ManifestReference(
        content_id="cid:1",
        content_type="application/pdf",
        attachment_name="Công văn 123.pdf",
        description="Bản ký số",
    )
    business = Business(
        document_id="000.00.00.G22,2024/03/10,120/VPCP-TTĐT",
        business_doc_type=3,
        business_doc_reason="Thay thế văn bản",
        paper="0",
        staff_info=StaffInfo(department="Văn thư", staff="Nguyễn Thị Ngọc Trâm", mobile="0912"),
        document_info=BusinessDocumentInfo(
            document_info="1",
            document_receiver="1",
            receivers=(Receiver(organ_id="000.00.00.H41", receiver_type="0"),),
        ),
        replacement_info_list=(
            ReplacementInfo(
                document_id="000.00.00.G22,2024/03/10,120/VPCP-TTĐT",
                organ_ids=("000.00.00.H41", "000.00.00.H14"),
            ),
        ),
    )
    traces = (TraceHeader(organ_id="000.00.00.G22", timestamp="2024/03/15 08:30:00"),)
    data = build_document(
        _header(), trace_headers=traces, business=business, attachments=[(ref, pdf)]
    )
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<edXML xmlns="')
    p = _roundtrip(data)
    assert p.header == _header()
    assert p.trace_headers == traces
    assert p.business == business
    assert p.manifest == (ref,)
    assert p.attachments[0].decode() == pdf
    assert p.attachments[0].attachment_name == "Công văn 123.pdf"
    assert p.warnings == ()
    assert p.business_doc_type == 3
    assert p.recipients == ("000.00.00.H41", "000.00.00.H14")


def test_document_round_trip_with_attachment_models() -> None:
    att = Attachment.from_bytes(
        content_id="cid:a",
        attachment_name="a.zip",
        content_type="application/zip",
        data=b"PK\x03\x04",
    )
    p = _roundtrip(build_document(_header(response_for=None), attachments=[att]))
    assert p.attachments == (att,)
    assert p.manifest[0].attachment_name == "a.zip"


def test_minimal_document_and_nfd_text_round_trip() -> None:
    nfd = "Ha\u0300 No\u0323\u0302i"
    h = MessageHeader(from_=VPCP, to=(NGHE_AN,), document_id=DOC_ID, subject=nfd)
    p = _roundtrip(build_document(h))
    assert p.header == h
    assert p.header.subject == nfd  # not NFC-normalised on the way
    assert p.trace_headers == () and p.business is None and p.attachments == ()


def test_sample_documents_rebuild_to_equal_models() -> None:
    for name in ("edoc_update.edxml", "edoc_revocation.edxml"):
        original = parse_package(load(name))
        rebuilt = _roundtrip(
            build_document(
                original.header,
                trace_headers=original.trace_headers,
                business=original.business,
                attachments=original.attachments,
            )
        )
        assert rebuilt == original


@pytest.mark.parametrize("code", list(StatusCode))
def test_status_round_trip(code: StatusCode) -> None:
    rf = ResponseFor(
        organ_id="000.00.00.G22",
        code="7816/VPCP-TTĐT",
        promulgation_date="2015/09/30",
        document_id="000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
    )
    staff = StaffInfo(department="Phòng Hành chính", staff="Nguyễn Thị Ngọc Trâm", email="a@b.vn")
    data = build_status(
        NGHE_AN,
        rf,
        code,
        description=code.description_vi,
        timestamp="2015/09/20 11:08:36",
        staff_info=staff,
    )
    p = _roundtrip(data)
    assert p.kind == "status"
    assert p.header == MessageHeader(
        from_=NGHE_AN,
        response_for=rf,
        staff_info=staff,
        status_code=code,
        description=code.description_vi,
        timestamp="2015/09/20 11:08:36",
    )
    assert p.recipients == ("000.00.00.G22",)
    assert p.warnings == ()


@pytest.mark.parametrize("name", WELL_FORMED)
def test_sample_statuses_rebuild(name: str) -> None:
    original = parse_package(load(name))
    h = original.header
    if h.status_code is None:
        return
    assert h.response_for is not None and h.description is not None and h.timestamp is not None
    rebuilt = _roundtrip(
        build_status(
            h.from_,
            h.response_for,
            h.status_code,
            description=h.description,
            timestamp=h.timestamp,
            staff_info=h.staff_info,
        )
    )
    assert rebuilt == original


def test_built_package_leaves_room_for_the_signature() -> None:
    data = build_document(
        _header(),
        trace_headers=(TraceHeader(organ_id="000.00.00.G22", timestamp="2024/03/15 08:30:00"),),
    )
    root = parse_xml(data)
    slot = root
    for tag in SIGNATURE_PARENT[1:]:
        found = slot.find(tag)
        assert found is not None
        slot = found
    ds = "http://www.w3.org/2000/09/xmldsig#"
    slot.append(etree.Element(f"{{{ds}}}Signature", nsmap={"ds": ds}))
    validate(root)


def test_output_shape_matches_the_samples() -> None:
    root = parse_xml(
        build_status(
            NGHE_AN,
            ResponseFor(organ_id="000.00.00.G22", document_id="x"),
            StatusCode.ARRIVED,
            description="",
            timestamp="2024/01/01 00:00:00",
        )
    )
    assert root.nsmap == {None: EDXML_NS}
    envelope = root[0]
    assert envelope.prefix == "edXML" and envelope.nsmap["edXML"] == EDXML_NS


def test_invalid_input_is_refused_at_build_time() -> None:
    with pytest.raises(ValueError, match="OrganId"):
        build_document(_header(to=(Organ(organ_id="000.00.H41"),)))
    with pytest.raises(ValueError):
        build_document(_header(to=()))
    with pytest.raises(ValueError):
        build_document(_header(document_id=None))
    with pytest.raises(ValueError):
        build_document(_header(status_code=StatusCode.ARRIVED))
    with pytest.raises(ValueError):
        build_status(
            NGHE_AN,
            ResponseFor(organ_id="G22", document_id="x"),
            StatusCode.ARRIVED,
            description="",
            timestamp="2024/01/01 00:00:00",
        )
    with pytest.raises(ValueError):
        build_status(
            NGHE_AN,
            ResponseFor(organ_id="000.00.00.G22", document_id="x"),
            StatusCode.ARRIVED,
            description="",
            timestamp="2024-01-01T00:00:00",
        )
    with pytest.raises(ValueError):  # control characters cannot be written in XML 1.0
        build_document(_header(subject="a\x00b"))
    with pytest.raises(ValueError):
        build_document(_header(), attachments=[(ManifestReference(content_id="cid:x"), b"x")])


def test_format_helpers_use_vietnam_time() -> None:
    assert format_date(date(2014, 2, 3)) == "2014/02/03"
    utc = datetime(2024, 3, 14, 18, 30, 5, tzinfo=UTC)
    assert format_timestamp(utc) == "2024/03/15 01:30:05"
    assert format_date(utc) == "2024/03/15"
    assert (
        format_timestamp(datetime(2024, 1, 1, 9, 0, 0, tzinfo=timezone(timedelta(hours=7))))
        == "2024/01/01 09:00:00"
    )
    with pytest.raises(ValueError):
        format_timestamp(datetime(2024, 1, 1))
    with pytest.raises(ValueError):
        format_date(datetime(2024, 1, 1))


def test_make_document_id() -> None:
    assert make_document_id(
        "000.00.00.G22", date(2015, 9, 30), 7816, "VPCP-TTĐT"
    ) == DOC_ID.replace("2024/03/15,123", "2015/09/30,7816")
    assert (
        make_document_id("000.00.00.H41", "2014/02/30", "5", "UBND")
        == "000.00.00.H41,2014/02/30,5/UBND"
    )
    with pytest.raises(InvalidOrganId):
        make_document_id("H41", date(2015, 9, 30), 1, "X")


def test_attachment_decode_is_strict() -> None:
    good = Attachment(
        content_id="c", attachment_name="n", content_type="t", content_b64="UEsD\nBBQA\r\n"
    )
    assert good.decode() == base64.b64decode("UEsDBBQA")
    bad = Attachment(
        content_id="c",
        attachment_name="n",
        content_type="t",
        content_b64="${__StringFromFile(test.txt,,,)}",
    )
    with pytest.raises(ValueError, match="base64"):
        bad.decode()


def test_round_trip_of_the_sdk_fields() -> None:
    """Several ResponseFor, ResponseForTask, ApplicationType, OtherInfo and StaffInfo ids."""
    rfs = tuple(
        ResponseFor(
            organ_id=o, code="45/UBND-VX", document_id="000.00.00.H41,2024/03/01,45/UBND-VX"
        )
        for o in ("000.00.00.H41", "000.00.00.H14")
    )
    header = _header(
        response_for=None,
        response_fors=rfs,
        response_for_task=("CV-1", "CV-2"),
        application_type="1",
        other_info=OtherInfo(priority="0", reply_fors="40/UBND", reference_codes="41/UBND"),
        signer_info=SignerInfo(position="Thứ trưởng"),
        code=Code(code_number="123"),
        promulgation_info=PromulgationInfo(promulgation_date="2024/03/15"),
    )
    business = Business(
        business_doc_type=0,
        staff_info=StaffInfo(department="Văn thư", department_id="VT01", staff_id="NV042"),
    )
    p = _roundtrip(build_document(header, business=business))
    assert p.header == header
    assert p.header.response_for == rfs[0]
    assert p.business == business
    assert p.warnings == ()
