"""Build edXML packages (documents and status messages) from the models.

The output has the shape of the SDK's samples: UTF-8 with an XML declaration, the default
namespace declared on the root ``edXML``, the ``edXML:`` prefix declared on ``edXMLEnvelope``
and used inside it, attachments outside the envelope in the default namespace. Children are
written in the standard's order.

Room for the signature: ``edXMLHeader`` ends with ``MessageHeader`` (and ``TraceHeaderList``
when there is one), so the signer appends ``ds:Signature`` as its last child, which is
exactly where the XSD accepts it.

Every package built here is validated against the XSD before it is returned: a builder that
can emit an invalid package would make the hub send what it refuses to receive.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from lxml import etree

from hub.edxml.models import (
    VN_TZ,
    Attachment,
    Business,
    ManifestReference,
    MessageHeader,
    Organ,
    ResponseFor,
    StaffInfo,
    StatusCode,
    TraceHeader,
)
from hub.edxml.organ_id import OrganId
from hub.edxml.schema import EDXML_NS, validate
from hub.errors import SchemaInvalid

__all__ = [
    "build_document",
    "build_status",
    "format_date",
    "format_timestamp",
    "make_document_id",
]

_NS = "{" + EDXML_NS + "}"
_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_DEFAULT_CONTENT_TYPE = "application/octet-stream"


def format_date(value: date) -> str:
    """``yyyy/MM/dd``. An aware datetime is first converted to Asia/Ho_Chi_Minh.

    :raises ValueError: for a naive datetime (its day in Việt Nam is unknown).
    """
    if isinstance(value, datetime):
        value = _to_vn(value).date()
    return f"{value.year:04d}/{value.month:02d}/{value.day:02d}"


def format_timestamp(value: datetime) -> str:
    """``yyyy/MM/dd HH:mm:ss`` in Asia/Ho_Chi_Minh local time.

    :raises ValueError: for a naive datetime (refused rather than guessed).
    """
    v = _to_vn(value)
    return f"{v.year:04d}/{v.month:02d}/{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}"


def _to_vn(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required (edXML times are local to VN)")
    return value.astimezone(VN_TZ)


def make_document_id(
    organ_id: str | OrganId, date_: date | str, number: str | int, notation: str
) -> str:
    """A DocumentId ``OrganId,yyyy/MM/dd,Number/Notation``.

    :raises InvalidOrganId: when ``organ_id`` is not a valid agency code.
    """
    organ = organ_id if isinstance(organ_id, OrganId) else OrganId.parse(organ_id)
    day = date_ if isinstance(date_, str) else format_date(date_)
    return f"{organ},{day},{number}/{notation}"


# -- tree helpers ----------------------------------------------------------------------------


def _el(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, _NS + name)
    if text is not None:
        child.text = text
    return child


def _opt(parent: etree._Element, name: str, text: str | None) -> None:
    if text is not None:
        _el(parent, name, text)


def _organ(parent: etree._Element, name: str, organ: Organ) -> None:
    el = _el(parent, name)
    _el(el, "OrganId", organ.organ_id)
    _opt(el, "OrganizationInCharge", organ.organization_in_charge)
    _opt(el, "OrganName", organ.organ_name)
    _opt(el, "OrganAdd", organ.organ_add)
    _opt(el, "Email", organ.email)
    _opt(el, "Telephone", organ.telephone)
    _opt(el, "Fax", organ.fax)
    _opt(el, "Website", organ.website)


def _response_for(parent: etree._Element, rf: ResponseFor) -> None:
    el = _el(parent, "ResponseFor")
    _el(el, "OrganId", rf.organ_id)
    _opt(el, "Code", rf.code)
    _opt(el, "PromulgationDate", rf.promulgation_date)
    _el(el, "DocumentId", rf.document_id)


def _staff(parent: etree._Element, staff: StaffInfo) -> None:
    el = _el(parent, "StaffInfo")
    _opt(el, "Department", staff.department)
    _opt(el, "DepartmentId", staff.department_id)
    _opt(el, "Staff", staff.staff)
    _opt(el, "StaffId", staff.staff_id)
    _opt(el, "Email", staff.email)
    _opt(el, "Mobile", staff.mobile)


def _skeleton() -> tuple[etree._Element, etree._Element, etree._Element]:
    # Default namespace on the root, as the SDK writes it (lxml-stubs reject the None key).
    root = etree.Element(_NS + "edXML", nsmap={None: EDXML_NS})  # type: ignore[dict-item]
    envelope = etree.SubElement(root, _NS + "edXMLEnvelope", nsmap={"edXML": EDXML_NS})
    header = _el(envelope, "edXMLHeader")
    return root, envelope, header


def _document_header(parent: etree._Element, h: MessageHeader) -> None:
    mh = _el(parent, "MessageHeader")
    _organ(mh, "From", h.from_)
    for organ in h.to:
        _organ(mh, "To", organ)
    assert h.document_id is not None
    _el(mh, "DocumentId", h.document_id)
    if h.code is not None:
        code = _el(mh, "Code")
        _el(code, "CodeNumber", h.code.code_number)
        _opt(code, "CodeNotation", h.code.code_notation)
    if h.promulgation_info is not None:
        info = _el(mh, "PromulgationInfo")
        _opt(info, "Place", h.promulgation_info.place)
        _el(info, "PromulgationDate", h.promulgation_info.promulgation_date)
    if h.document_type is not None:
        dt = _el(mh, "DocumentType")
        _el(dt, "Type", h.document_type.type)
        _opt(dt, "TypeDetail", h.document_type.type_detail)
        _opt(dt, "TypeName", h.document_type.type_name)
    _opt(mh, "Subject", h.subject)
    _opt(mh, "Content", h.content)
    if h.signer_info is not None:
        si = _el(mh, "SignerInfo")
        _opt(si, "Competence", h.signer_info.competence)
        _opt(si, "Position", h.signer_info.position)
        _opt(si, "FullName", h.signer_info.full_name)
    _opt(mh, "DueDate", h.due_date)
    if h.to_places:
        places = _el(mh, "ToPlaces")
        for place in h.to_places:
            _el(places, "Place", place)
    if h.other_info is not None:
        oi = h.other_info
        el = _el(mh, "OtherInfo")
        _el(el, "Priority", oi.priority)
        _opt(el, "SphereOfPromulgation", oi.sphere_of_promulgation)
        _opt(el, "TyperNotation", oi.typer_notation)
        _opt(el, "PromulgationAmount", oi.promulgation_amount)
        _opt(el, "PageAmount", oi.page_amount)
        _opt(el, "ReplyFors", oi.reply_fors)
        _opt(el, "Direction", oi.direction)
        _opt(el, "ReferenceCodes", oi.reference_codes)
        if oi.appendixes:
            box = _el(el, "Appendixes")
            for appendix in oi.appendixes:
                _el(box, "Appendix", appendix)
    _opt(mh, "SteeringType", h.steering_type)
    for rf in h.response_fors:
        _response_for(mh, rf)
    if h.response_for_task is not None:
        task = _el(mh, "ResponseForTask")
        for task_code in h.response_for_task:
            _el(task, "TaskCode", task_code)
    _opt(mh, "ApplicationType", h.application_type)


def _trace_header_list(
    parent: etree._Element, traces: Sequence[TraceHeader], business: Business | None
) -> None:
    if not traces and business is None:
        return
    el = _el(parent, "TraceHeaderList")
    for trace in traces:
        th = _el(el, "TraceHeader")
        _el(th, "OrganId", trace.organ_id)
        _el(th, "Timestamp", trace.timestamp)
    if business is None:
        return
    b = _el(el, "Bussiness")
    _opt(b, "DocumentId", business.document_id)
    _el(b, "BussinessDocType", str(business.business_doc_type))
    _opt(b, "BussinessDocReason", business.business_doc_reason)
    _opt(b, "Paper", business.paper)
    if business.document_info is not None:
        info = business.document_info
        bdi = _el(b, "BussinessDocumentInfo")
        _opt(bdi, "DocumentInfo", info.document_info)
        _opt(bdi, "DocumentReceiver", info.document_receiver)
        if info.receivers:
            rl = _el(bdi, "ReceiverList")
            for receiver in info.receivers:
                r = _el(rl, "Receiver")
                _el(r, "OrganId", receiver.organ_id)
                _el(r, "ReceiverType", receiver.receiver_type)
    if business.staff_info is not None:
        _staff(b, business.staff_info)
    if business.replacement_info_list:
        ril = _el(b, "ReplacementInfoList")
        for info_ in business.replacement_info_list:
            ri = _el(ril, "ReplacementInfo")
            _el(ri, "DocumentId", info_.document_id)
            if info_.organ_ids:
                ol = _el(ri, "OrganIdList")
                for organ_id in info_.organ_ids:
                    _el(ol, "OrganId", organ_id)


def _normalise_attachments(
    attachments: Sequence[tuple[ManifestReference, bytes]] | Sequence[Attachment],
) -> list[tuple[ManifestReference, Attachment]]:
    out: list[tuple[ManifestReference, Attachment]] = []
    for item in attachments:
        if isinstance(item, Attachment):
            ref = ManifestReference(
                content_id=item.content_id,
                content_type=item.content_type,
                attachment_name=item.attachment_name,
                description=item.description,
            )
            out.append((ref, item))
            continue
        ref, data = item
        if not ref.attachment_name:
            raise ValueError(f"attachment {ref.content_id!r} needs an attachment_name")
        att = Attachment.from_bytes(
            content_id=ref.content_id,
            attachment_name=ref.attachment_name,
            content_type=ref.content_type or _DEFAULT_CONTENT_TYPE,
            data=data,
            description=ref.description,
        )
        out.append((ref, att))
    return out


def _finish(root: etree._Element) -> bytes:
    # Validate the in-memory tree: building an invalid package is a programming error, and
    # it must fail here rather than at the recipient.
    try:
        validate(root)
    except SchemaInvalid as exc:
        raise ValueError(f"the built package is not schema-valid at {exc.path}: {exc}") from exc
    return _XML_DECLARATION + etree.tostring(
        root, encoding="UTF-8", xml_declaration=False, pretty_print=True
    )


def build_document(
    header: MessageHeader,
    *,
    trace_headers: Sequence[TraceHeader] = (),
    business: Business | None = None,
    attachments: Sequence[tuple[ManifestReference, bytes]] | Sequence[Attachment] = (),
) -> bytes:
    """Serialise a document package (unsigned) to UTF-8 bytes.

    ``attachments`` are either ready :class:`Attachment` models or ``(reference, bytes)``
    pairs (the bytes are base64-encoded here; a missing content type becomes
    ``application/octet-stream``). Each attachment gets a manifest ``Reference``.

    :raises ValueError: a header with a status code, without recipients or DocumentId, or
        anything else that would not be schema-valid.
    """
    if header.status_code is not None:
        raise ValueError("a document header must not carry a StatusCode (use build_status)")
    if not header.to:
        raise ValueError("a document needs at least one recipient (To)")
    if header.document_id is None:
        raise ValueError("a document needs a DocumentId")
    root, envelope, head = _skeleton()
    _document_header(head, header)
    _trace_header_list(head, trace_headers, business)
    pairs = _normalise_attachments(attachments)
    if pairs:
        body = _el(envelope, "edXMLBody")
        manifest = _el(body, "edXMLManifest")
        manifest.set("version", "1.0")
        for ref, _ in pairs:
            r = _el(manifest, "Reference")
            _el(r, "ContentId", ref.content_id)
            _opt(r, "ContentType", ref.content_type)
            _opt(r, "Description", ref.description)
            _opt(r, "AttachmentName", ref.attachment_name)
        encoded = _el(root, "AttachmentEncoded")
        for _, att in pairs:
            a = _el(encoded, "Attachment")
            _el(a, "ContentId", att.content_id)
            _el(a, "AttachmentName", att.attachment_name)
            _opt(a, "Description", att.description)
            _el(a, "ContentType", att.content_type)
            _el(a, "ContentTransferEncoded", att.content_b64)
    return _finish(root)


def build_status(
    from_: Organ,
    response_for: ResponseFor,
    status_code: StatusCode,
    *,
    description: str,
    timestamp: str,
    staff_info: StaffInfo | None = None,
) -> bytes:
    """Serialise a status package (unsigned) to UTF-8 bytes.

    ``timestamp`` is ``yyyy/MM/dd HH:mm:ss`` (see :func:`format_timestamp`).

    :raises ValueError: when the result would not be schema-valid (e.g. a bad agency code).
    """
    root, _envelope, head = _skeleton()
    mh = _el(head, "MessageHeader")
    _organ(mh, "From", from_)
    _response_for(mh, response_for)
    if staff_info is not None:
        _staff(mh, staff_info)
    _el(mh, "StatusCode", StatusCode(status_code).value)
    _el(mh, "Description", description)
    _el(mh, "Timestamp", timestamp)
    return _finish(root)
