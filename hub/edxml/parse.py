"""Build :class:`~hub.edxml.models.EdxmlPackage` models from a schema-valid tree.

This is on the hub's hot path: it walks direct children once and dispatches on Clark names
(no XPath, no per-call compilation), and it never decodes attachments.

The input is expected to be schema-valid (``hub.edxml.schema.validate``); in production it is
the verified, comment-free tree the signature layer returns. Comments and processing
instructions inside a text-only element are nevertheless handled (their surrounding text
pieces are joined), so an unverified tree parses to the same values.

Leniencies — things real systems send that are harmless to accept — are recorded in
``EdxmlPackage.warnings`` as ``"<code>:<path>[:<detail>]"``; ``docs/edxml.md`` lists them.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from hub.edxml.models import (
    Attachment,
    Business,
    BusinessDocumentInfo,
    Code,
    DocumentIdParts,
    DocumentType,
    EdxmlPackage,
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
    parse_date,
    parse_timestamp,
)
from hub.edxml.schema import EDXML_NS, element_path
from hub.errors import SchemaInvalid
from hub.warning_codes import documented

__all__ = ["parse_package"]

_NS = "{" + EDXML_NS + "}"
_XML_WS = " \t\r\n"

# Warning codes (stable: operators and dashboards match on them).
# documented(): hub.warning_codes.WARNINGS is the single list; an undocumented code fails here.
W_IMPOSSIBLE_DATE = documented("edxml.impossible_date")
W_DOCUMENT_ID_FORMAT = documented("edxml.document_id_format")
W_DOCUMENT_ID_MISMATCH = documented("edxml.document_id_mismatch")
W_MANIFEST_ATTACHMENT_MISMATCH = documented("edxml.manifest_attachment_mismatch")
W_DUPLICATE_CONTENT_ID = documented("edxml.duplicate_content_id")
W_DUPLICATE_RECIPIENT = documented("edxml.duplicate_recipient")
W_REPEATED_ELEMENT = documented("edxml.repeated_element")
W_EMPTY_ELEMENT = documented("edxml.empty_element")


def _q(name: str) -> str:
    return _NS + name


T_ENVELOPE = _q("edXMLEnvelope")
T_HEADER = _q("edXMLHeader")
T_BODY = _q("edXMLBody")
T_MANIFEST = _q("edXMLManifest")
T_MESSAGE_HEADER = _q("MessageHeader")
T_TRACE_HEADER_LIST = _q("TraceHeaderList")
T_TRACE_HEADER = _q("TraceHeader")
T_BUSSINESS = _q("Bussiness")
T_ATTACHMENT_ENCODED = _q("AttachmentEncoded")
T_REFERENCE = _q("Reference")


def _text(el: etree._Element) -> str:
    """Element text without surrounding XML whitespace (space, tab, CR, LF only).

    Fast path: an element without children. Otherwise the text pieces around comment/PI
    children are joined, so ``<A>x<!-- c -->y</A>`` reads ``xy`` as an XML processor would.
    NBSP and other Unicode spaces are content, not XML whitespace, and are kept.
    """
    if len(el) == 0:
        t = el.text
        return t.strip(_XML_WS) if t else ""
    pieces = [el.text or ""]
    for child in el:
        if not isinstance(child.tag, str):  # comment or PI
            pieces.append(child.tail or "")
    return "".join(pieces).strip(_XML_WS)


def _fields(el: etree._Element, names: dict[str, str]) -> dict[str, str]:
    """Text of the children of ``el`` whose Clark tag is in ``names``, keyed by field name."""
    out: dict[str, str] = {}
    for child in el:
        key = names.get(child.tag) if isinstance(child.tag, str) else None
        if key is not None:
            out[key] = _text(child)
    return out


def _names(**fields: str) -> dict[str, str]:
    return {_q(local): field for field, local in fields.items()}


_ORGAN = _names(
    organ_id="OrganId",
    organization_in_charge="OrganizationInCharge",
    organ_name="OrganName",
    organ_add="OrganAdd",
    email="Email",
    telephone="Telephone",
    fax="Fax",
    website="Website",
)
_CODE = _names(code_number="CodeNumber", code_notation="CodeNotation")
_PROMULGATION = _names(place="Place", promulgation_date="PromulgationDate")
_DOCTYPE = _names(type="Type", type_detail="TypeDetail", type_name="TypeName")
_SIGNER = _names(competence="Competence", position="Position", full_name="FullName")
_OTHER = _names(
    priority="Priority",
    sphere_of_promulgation="SphereOfPromulgation",
    typer_notation="TyperNotation",
    promulgation_amount="PromulgationAmount",
    page_amount="PageAmount",
    reply_fors="ReplyFors",
    direction="Direction",
    reference_codes="ReferenceCodes",
)
_RESPONSE_FOR = _names(
    organ_id="OrganId", code="Code", promulgation_date="PromulgationDate", document_id="DocumentId"
)
_STAFF = _names(
    department="Department",
    department_id="DepartmentId",
    staff="Staff",
    staff_id="StaffId",
    email="Email",
    mobile="Mobile",
)
_TRACE = _names(organ_id="OrganId", timestamp="Timestamp")
_RECEIVER = _names(organ_id="OrganId", receiver_type="ReceiverType")
_REFERENCE = _names(
    content_id="ContentId",
    content_type="ContentType",
    attachment_name="AttachmentName",
    description="Description",
)
_ATTACHMENT = _names(
    content_id="ContentId",
    attachment_name="AttachmentName",
    description="Description",
    content_type="ContentType",
    content_b64="ContentTransferEncoded",
)
_T_APPENDIXES = _q("Appendixes")
_T_TASK_CODE = _q("TaskCode")
_T_STATUS_CODE = _q("StatusCode")
_T_CODE_NOTATION = _q("CodeNotation")
_T_FULL_NAME = _q("FullName")
_T_PLACE = _q("Place")
_T_ORGAN_ID = _q("OrganId")
_T_DOCUMENT_ID = _q("DocumentId")
_T_PROMULGATION_DATE = _q("PromulgationDate")
_T_TIMESTAMP = _q("Timestamp")
_T_BUSSINESS_DOC_TYPE = _q("BussinessDocType")
_T_BUSSINESS_DOC_REASON = _q("BussinessDocReason")
_T_PAPER = _q("Paper")
_T_STAFF_INFO = _q("StaffInfo")
_T_BUSSINESS_DOCUMENT_INFO = _q("BussinessDocumentInfo")
_T_REPLACEMENT_INFO_LIST = _q("ReplacementInfoList")
_T_REPLACEMENT_INFO = _q("ReplacementInfo")
_T_ORGAN_ID_LIST = _q("OrganIdList")
_T_RECEIVER_LIST = _q("ReceiverList")
_T_RECEIVER = _q("Receiver")
_T_ATTACHMENT = _q("Attachment")
_BDI = _names(document_info="DocumentInfo", document_receiver="DocumentReceiver")


class _Ctx:
    """Collects warnings while a package is parsed."""

    __slots__ = ("warnings",)

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warn(self, code: str, el: etree._Element | None, detail: str | None = None) -> None:
        path = element_path(el) if el is not None else ""
        self.warnings.append(f"{code}:{path}" if detail is None else f"{code}:{path}:{detail}")

    def check_date(self, el: etree._Element, value: str) -> None:
        if parse_date(value) is None:
            self.warn(W_IMPOSSIBLE_DATE, el, value)

    def check_timestamp(self, el: etree._Element, value: str) -> None:
        if parse_timestamp(value) is None:
            self.warn(W_IMPOSSIBLE_DATE, el, value)

    def document_id(self, el: etree._Element, value: str) -> DocumentIdParts | None:
        parts = DocumentIdParts.try_parse(value)
        if parts is None:
            self.warn(W_DOCUMENT_ID_FORMAT, el, value)
        elif parts.date_value is None:
            self.warn(W_IMPOSSIBLE_DATE, el, parts.date)
        return parts


def _child(el: etree._Element, tag: str) -> etree._Element | None:
    for child in el:
        if child.tag == tag:
            return child
    return None


def _organ(el: etree._Element) -> Organ:
    return Organ(**_fields(el, _ORGAN))


def _staff(el: etree._Element) -> StaffInfo:
    return StaffInfo(**_fields(el, _STAFF))


def _other_info(el: etree._Element) -> OtherInfo:
    appendixes: tuple[str, ...] = ()
    box = _child(el, _T_APPENDIXES)
    if box is not None:
        appendixes = tuple(_text(a) for a in box if isinstance(a.tag, str))
    return OtherInfo(**_fields(el, _OTHER), appendixes=appendixes)


def _line(el: etree._Element) -> int | None:
    line = el.sourceline
    return line if isinstance(line, int) else None


def _parent(el: etree._Element) -> etree._Element:
    parent = el.getparent()
    assert parent is not None
    return parent


def _has_children(el: etree._Element) -> bool:
    return any(isinstance(child.tag, str) for child in el)


def _warn_empty_child(el: etree._Element, tag: str, value: str | None, ctx: _Ctx) -> None:
    """Flag a child that is present but empty (``value == ""``); absent ones are not flagged."""
    if value == "":
        ctx.warn(W_EMPTY_ELEMENT, _child(el, tag))


def _once(el: etree._Element, key: str, out: dict[str, object]) -> None:
    # SignerInfo (FullName optional since issue 10) and ResponseForTask have no required child
    # that an xs:unique field could count, so "at most once" is enforced here, as a schema
    # refusal naming the second occurrence.
    if key in out:
        name = etree.QName(el).localname
        raise SchemaInvalid(
            f"Element '{name}': may occur at most once in MessageHeader",
            path=element_path(el),
            line=_line(el),
        )


def _response_for(el: etree._Element, ctx: _Ctx) -> ResponseFor:
    rf = ResponseFor(**_fields(el, _RESPONSE_FOR))
    for child in el:
        if child.tag == _T_PROMULGATION_DATE and rf.promulgation_date is not None:
            ctx.check_date(child, rf.promulgation_date)
        elif child.tag == _T_DOCUMENT_ID:
            parts = ctx.document_id(child, rf.document_id)
            if parts is not None and rf.promulgation_date and parts.date != rf.promulgation_date:
                ctx.warn(
                    W_DOCUMENT_ID_MISMATCH, child, f"date:{parts.date}!={rf.promulgation_date}"
                )
            if parts is not None and rf.code and parts.number_notation != rf.code:
                ctx.warn(W_DOCUMENT_ID_MISMATCH, child, f"code:{parts.number_notation}!={rf.code}")
    return rf


_Setter = Callable[[etree._Element, dict[str, object], _Ctx], None]


def _set_simple(key: str) -> _Setter:
    def setter(el: etree._Element, out: dict[str, object], ctx: _Ctx) -> None:
        out[key] = _text(el)

    return setter


def _set_to(el: etree._Element, out: dict[str, object], ctx: _Ctx) -> None:
    to = out.setdefault("to", [])
    assert isinstance(to, list)
    to.append(_organ(el))


def _set_to_places(el: etree._Element, out: dict[str, object], ctx: _Ctx) -> None:
    places = [_text(p) for p in el if p.tag == _T_PLACE]
    if "to_places" in out:
        # Only ToPlaces may repeat at schema level (XSD 1.0 cannot say "at most once" for an
        # element without a required child); joining is harmless, so accept and flag.
        ctx.warn(W_REPEATED_ELEMENT, el)
        prev = out["to_places"]
        assert isinstance(prev, tuple)
        out["to_places"] = prev + tuple(places)
    else:
        out["to_places"] = tuple(places)


def _set_date(key: str) -> _Setter:
    def setter(el: etree._Element, out: dict[str, object], ctx: _Ctx) -> None:
        value = _text(el)
        if value:
            ctx.check_date(el, value)
        else:  # <DueDate/>: real software writes it when there is no due date
            ctx.warn(W_EMPTY_ELEMENT, el)
        out[key] = value

    return setter


def _set_promulgation(el: etree._Element, out: dict[str, object], ctx: _Ctx) -> None:
    info = PromulgationInfo(**_fields(el, _PROMULGATION))
    _warn_empty_child(el, _T_PLACE, info.place, ctx)
    date_el = _child(el, _T_PROMULGATION_DATE)
    if date_el is not None:
        ctx.check_date(date_el, info.promulgation_date)
    out["promulgation_info"] = info


def _set_response_for(el: etree._Element, out: dict[str, object], ctx: _Ctx) -> None:
    # Several ResponseFor are legitimate: the SDK names the revoked/answered document once
    # per recipient. All are kept, in order; MessageHeader.response_for is the first.
    rfs = out.setdefault("_response_fors", [])
    assert isinstance(rfs, list)
    if not _has_children(el):
        # <ResponseFor/> (the SDK with null fields) names nothing. In a document it is flagged
        # and dropped; a status must name the document it is about (it is routed by it).
        if _child(_parent(el), _T_STATUS_CODE) is not None:
            raise SchemaInvalid(
                "Element 'ResponseFor': a status package must name the document it answers "
                "(OrganId and DocumentId)",
                path=element_path(el),
                line=_line(el),
            )
        ctx.warn(W_EMPTY_ELEMENT, el)
        return
    rfs.append(_response_for(el, ctx))


def _set_code(el: etree._Element, out: dict[str, object], ctx: _Ctx) -> None:
    code = Code(**_fields(el, _CODE))
    _warn_empty_child(el, _T_CODE_NOTATION, code.code_notation, ctx)
    out["code"] = code


def _set_signer(el: etree._Element, out: dict[str, object], ctx: _Ctx) -> None:
    _once(el, "signer_info", out)
    signer = SignerInfo(**_fields(el, _SIGNER))
    if not _has_children(el):
        ctx.warn(W_EMPTY_ELEMENT, el)
    else:
        _warn_empty_child(el, _T_FULL_NAME, signer.full_name, ctx)
    out["signer_info"] = signer


def _set_response_for_task(el: etree._Element, out: dict[str, object], ctx: _Ctx) -> None:
    _once(el, "response_for_task", out)
    out["response_for_task"] = tuple(_text(t) for t in el if t.tag == _T_TASK_CODE)


def _set_timestamp(el: etree._Element, out: dict[str, object], ctx: _Ctx) -> None:
    value = _text(el)
    ctx.check_timestamp(el, value)
    out["timestamp"] = value


def _set_status(el: etree._Element, out: dict[str, object], ctx: _Ctx) -> None:
    out["status_code"] = StatusCode(_text(el))


def _set_document_id(el: etree._Element, out: dict[str, object], ctx: _Ctx) -> None:
    value = _text(el)
    out["document_id"] = value
    out["_document_id_el"] = el
    out["_document_id_parts"] = ctx.document_id(el, value)


def _set_struct(key: str, build: Callable[[etree._Element], object]) -> _Setter:
    def setter(el: etree._Element, out: dict[str, object], ctx: _Ctx) -> None:
        out[key] = build(el)

    return setter


_HEADER_SETTERS: dict[str, _Setter] = {
    _q("From"): _set_struct("from_", _organ),
    _q("To"): _set_to,
    _q("DocumentId"): _set_document_id,
    _q("Code"): _set_code,
    _q("PromulgationInfo"): _set_promulgation,
    _q("DocumentType"): _set_struct(
        "document_type", lambda e: DocumentType(**_fields(e, _DOCTYPE))
    ),
    _q("Subject"): _set_simple("subject"),
    _q("Content"): _set_simple("content"),
    _q("SignerInfo"): _set_signer,
    _q("DueDate"): _set_date("due_date"),
    _q("ToPlaces"): _set_to_places,
    _q("OtherInfo"): _set_struct("other_info", _other_info),
    _q("SteeringType"): _set_simple("steering_type"),
    _q("ResponseFor"): _set_response_for,
    _q("ResponseForTask"): _set_response_for_task,
    _q("ApplicationType"): _set_simple("application_type"),
    _q("StaffInfo"): _set_struct("staff_info", _staff),
    _q("StatusCode"): _set_status,
    _q("Description"): _set_simple("description"),
    _q("Timestamp"): _set_timestamp,
}


def _message_header(el: etree._Element, ctx: _Ctx) -> MessageHeader:
    out: dict[str, object] = {}
    for child in el:
        setter = _HEADER_SETTERS.get(child.tag) if isinstance(child.tag, str) else None
        if setter is not None:
            setter(child, out, ctx)
    doc_el = out.pop("_document_id_el", None)
    parts = out.pop("_document_id_parts", None)
    to = out.pop("to", [])
    assert isinstance(to, list)
    rfs = out.pop("_response_fors", [])
    assert isinstance(rfs, list)
    header = MessageHeader(to=tuple(to), response_fors=tuple(rfs), **out)  # type: ignore[arg-type]
    if isinstance(parts, DocumentIdParts) and isinstance(doc_el, etree._Element):
        _check_document_id(header, parts, doc_el, ctx)
    seen: set[str] = set()
    for organ in header.to:
        if organ.organ_id in seen:
            ctx.warn(W_DUPLICATE_RECIPIENT, el, organ.organ_id)
        seen.add(organ.organ_id)
    return header


def _check_document_id(
    header: MessageHeader, parts: DocumentIdParts, el: etree._Element, ctx: _Ctx
) -> None:
    # Real packages carry DocumentIds whose date or agency differ from the header's own
    # fields (the SDK samples: DocumentId dated 2015/09/30, PromulgationDate 2018/09/28).
    # The DocumentId is an opaque key for de-duplication; the difference is only flagged.
    if parts.organ_id != header.from_.organ_id:
        ctx.warn(W_DOCUMENT_ID_MISMATCH, el, f"organ:{parts.organ_id}!={header.from_.organ_id}")
    info = header.promulgation_info
    if info is not None and parts.date != info.promulgation_date:
        ctx.warn(W_DOCUMENT_ID_MISMATCH, el, f"date:{parts.date}!={info.promulgation_date}")
    code = header.code
    if code is not None:
        if code.code_notation:
            expected, actual = f"{code.code_number}/{code.code_notation}", parts.number_notation
        else:  # no notation to compare: the number alone
            expected, actual = code.code_number, parts.number
        if actual != expected:
            ctx.warn(W_DOCUMENT_ID_MISMATCH, el, f"code:{actual}!={expected}")


def _business(el: etree._Element, ctx: _Ctx) -> Business:
    kwargs: dict[str, object] = {}
    for child in el:
        tag = child.tag
        if tag == _T_DOCUMENT_ID:
            value = _text(child)
            ctx.document_id(child, value)
            kwargs["document_id"] = value
        elif tag == _T_BUSSINESS_DOC_TYPE:
            kwargs["business_doc_type"] = int(_text(child))
        elif tag == _T_BUSSINESS_DOC_REASON:
            kwargs["business_doc_reason"] = _text(child)
        elif tag == _T_PAPER:
            kwargs["paper"] = _text(child)
        elif tag == _T_STAFF_INFO:
            kwargs["staff_info"] = _staff(child)
        elif tag == _T_BUSSINESS_DOCUMENT_INFO:
            kwargs["document_info"] = _business_document_info(child)
        elif tag == _T_REPLACEMENT_INFO_LIST:
            kwargs["replacement_info_list"] = tuple(
                _replacement_info(r, ctx) for r in child if r.tag == _T_REPLACEMENT_INFO
            )
    return Business(**kwargs)  # type: ignore[arg-type]


def _business_document_info(el: etree._Element) -> BusinessDocumentInfo:
    info = _fields(el, _BDI)
    receivers: tuple[Receiver, ...] = ()
    box = _child(el, _T_RECEIVER_LIST)
    if box is not None:
        receivers = tuple(Receiver(**_fields(r, _RECEIVER)) for r in box if r.tag == _T_RECEIVER)
    return BusinessDocumentInfo(**info, receivers=receivers)


def _replacement_info(el: etree._Element, ctx: _Ctx) -> ReplacementInfo:
    document_id = ""
    organ_ids: tuple[str, ...] = ()
    for child in el:
        if child.tag == _T_DOCUMENT_ID:
            document_id = _text(child)
            ctx.document_id(child, document_id)
        elif child.tag == _T_ORGAN_ID_LIST:
            organ_ids = tuple(_text(o) for o in child if o.tag == _T_ORGAN_ID)
    return ReplacementInfo(document_id=document_id, organ_ids=organ_ids)


def _trace_header_list(
    el: etree._Element, ctx: _Ctx
) -> tuple[tuple[TraceHeader, ...], Business | None]:
    traces: list[TraceHeader] = []
    business: Business | None = None
    for child in el:
        if child.tag == T_TRACE_HEADER:
            trace = TraceHeader(**_fields(child, _TRACE))
            if parse_timestamp(trace.timestamp) is None:
                ctx.warn(W_IMPOSSIBLE_DATE, _child(child, _T_TIMESTAMP), trace.timestamp)
            traces.append(trace)
        elif child.tag == T_BUSSINESS:
            business = _business(child, ctx)
    return tuple(traces), business


def _manifest(body: etree._Element) -> list[tuple[ManifestReference, etree._Element]]:
    manifest = _child(body, T_MANIFEST)
    if manifest is None:
        return []
    return [
        (ManifestReference(**_fields(ref, _REFERENCE)), ref)
        for ref in manifest
        if ref.tag == T_REFERENCE
    ]


def _attachments(el: etree._Element) -> list[tuple[Attachment, etree._Element]]:
    # ContentTransferEncoded is read as one string; nothing is decoded here.
    return [(Attachment(**_fields(a, _ATTACHMENT)), a) for a in el if a.tag == _T_ATTACHMENT]


def _check_manifest(
    manifest: list[tuple[ManifestReference, etree._Element]],
    attachments: list[tuple[Attachment, etree._Element]],
    ctx: _Ctx,
) -> None:
    # A Reference without its Attachment (or the reverse) is what the SDK's own examples do
    # when a file is sent out of band; routing does not depend on it, so flag, do not refuse.
    listed = {ref.content_id for ref, _ in manifest}
    seen: set[str] = set()
    for att, el in attachments:
        if att.content_id in seen:
            ctx.warn(W_DUPLICATE_CONTENT_ID, el, att.content_id)
        seen.add(att.content_id)
        if att.content_id not in listed:
            ctx.warn(W_MANIFEST_ATTACHMENT_MISMATCH, el, f"not_in_manifest:{att.content_id}")
    for ref, el in manifest:
        if ref.content_id not in seen:
            ctx.warn(W_MANIFEST_ATTACHMENT_MISMATCH, el, f"no_attachment:{ref.content_id}")


def parse_package(root: etree._Element) -> EdxmlPackage:
    """Build the package model from a schema-valid edXML tree.

    :raises ValueError: when the tree lacks what the schema guarantees (not validated first).
    """
    try:
        return _parse(root)
    except (TypeError, KeyError) as exc:
        # A missing required child reaches a model constructor; only unvalidated trees do.
        raise ValueError(f"not a schema-valid edXML package: {exc}") from exc


def _parse(root: etree._Element) -> EdxmlPackage:
    ctx = _Ctx()
    header: MessageHeader | None = None
    traces: tuple[TraceHeader, ...] = ()
    business: Business | None = None
    manifest: list[tuple[ManifestReference, etree._Element]] = []
    attachments: list[tuple[Attachment, etree._Element]] = []
    for part in root:
        if part.tag == T_ENVELOPE:
            for env_child in part:
                if env_child.tag == T_HEADER:
                    for h in env_child:
                        if h.tag == T_MESSAGE_HEADER:
                            header = _message_header(h, ctx)
                        elif h.tag == T_TRACE_HEADER_LIST:
                            traces, business = _trace_header_list(h, ctx)
                elif env_child.tag == T_BODY:
                    manifest = _manifest(env_child)
        elif part.tag == T_ATTACHMENT_ENCODED:
            attachments = _attachments(part)
    if header is None:
        raise ValueError("not an edXML package: no edXMLEnvelope/edXMLHeader/MessageHeader")
    if manifest or attachments:
        _check_manifest(manifest, attachments, ctx)
    return EdxmlPackage(
        header=header,
        trace_headers=traces,
        business=business,
        manifest=tuple(ref for ref, _ in manifest),
        attachments=tuple(att for att, _ in attachments),
        warnings=tuple(ctx.warnings),
    )
