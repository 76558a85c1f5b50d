"""Frozen models of an edXML package (QCVN 102:2016).

Text is kept exactly as the document has it, minus surrounding XML whitespace: Vietnamese is
byte-exact and never Unicode-normalised, because the signed bytes are the evidence and a
value that differs from them (even only in NFC/NFD form) is a value nobody sent. Compare or
index through :func:`nfc` instead.

Dates stay text (``yyyy/MM/dd``, ``yyyy/MM/dd HH:mm:ss``) for the same reason and because
real traffic contains impossible dates (``2014/02/30``); :func:`parse_date` and
:func:`parse_timestamp` give a value or ``None``.

``None`` means "the element is absent"; ``""`` means "present and empty".
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import date as _Date  # the name `date` is shadowed by a field below
from typing import Literal
from zoneinfo import ZoneInfo

from hub.text import nfc  # re-exported: the models' public NFC helper is the hub's one

__all__ = [
    "VN_TZ",
    "Attachment",
    "Business",
    "BusinessDocumentInfo",
    "Code",
    "DocumentIdParts",
    "DocumentType",
    "EdxmlPackage",
    "InvalidDocumentId",
    "ManifestReference",
    "MessageHeader",
    "Organ",
    "OtherInfo",
    "PromulgationInfo",
    "Receiver",
    "ReplacementInfo",
    "ResponseFor",
    "SignerInfo",
    "StaffInfo",
    "StatusCode",
    "TraceHeader",
    "nfc",
    "parse_date",
    "parse_timestamp",
]

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
"""edXML dates and timestamps are local time in Việt Nam."""

_DATE = re.compile(r"(\d{4})/(\d{2})/(\d{2})")
_TIMESTAMP = re.compile(r"(\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})")
_DOCUMENT_ID = re.compile(r"(\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}),(\d{4}/\d{2}/\d{2}),(.+)", re.DOTALL)


def parse_date(text: str) -> date | None:
    """``yyyy/MM/dd`` as a :class:`~datetime.date`, or ``None`` if malformed or impossible."""
    m = _DATE.fullmatch(text)
    if m is None or not text.isascii():
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def parse_timestamp(text: str) -> datetime | None:
    """``yyyy/MM/dd HH:mm:ss`` as an aware datetime in Asia/Ho_Chi_Minh, or ``None``."""
    m = _TIMESTAMP.fullmatch(text)
    if m is None or not text.isascii():
        return None
    try:
        y, mo, d, h, mi, s = (int(g) for g in m.groups())
        return datetime(y, mo, d, h, mi, s, tzinfo=VN_TZ)
    except ValueError:
        return None


class StatusCode(enum.StrEnum):
    """Status codes of a status package (QCVN 102:2016), value as written (``"01"``)."""

    ARRIVED = "01"
    REJECTED = "02"
    ACCEPTED = "03"
    ASSIGNED = "04"
    PROCESSING = "05"
    FINISHED = "06"
    TAKE_BACK_REQUESTED = "13"
    TAKE_BACK_AGREED = "15"
    TAKE_BACK_REFUSED = "16"

    @property
    def description_vi(self) -> str:
        """What the code means, in Vietnamese."""
        return _STATUS_TEXT[self][0]

    @property
    def description_en(self) -> str:
        """What the code means, in English."""
        return _STATUS_TEXT[self][1]


_STATUS_TEXT: dict[StatusCode, tuple[str, str]] = {
    StatusCode.ARRIVED: (
        "Đã đến: phần mềm đã nhận, văn thư chưa xử lý",
        "Arrived: the software received it, the clerk has not acted yet",
    ),
    StatusCode.REJECTED: ("Từ chối tiếp nhận", "Rejected"),
    StatusCode.ACCEPTED: (
        "Đã tiếp nhận, vào sổ văn bản đến",
        "Accepted and registered in the incoming-documents book",
    ),
    StatusCode.ASSIGNED: ("Phân công xử lý", "Assigned for processing"),
    StatusCode.PROCESSING: ("Đang xử lý", "Being processed"),
    StatusCode.FINISHED: ("Hoàn thành xử lý", "Processing finished"),
    StatusCode.TAKE_BACK_REQUESTED: (
        "Bên gửi yêu cầu cập nhật, lấy lại văn bản",
        "The sender asks to update or take back the document",
    ),
    StatusCode.TAKE_BACK_AGREED: (
        "Bên nhận đồng ý cập nhật, lấy lại",
        "The recipient agrees to the update or take-back",
    ),
    StatusCode.TAKE_BACK_REFUSED: (
        "Bên nhận từ chối cập nhật, lấy lại",
        "The recipient refuses the update or take-back",
    ),
}


class InvalidDocumentId(ValueError):
    """A DocumentId that is not ``OrganId,yyyy/MM/dd,Number/Notation``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentIdParts:
    """The parts of a DocumentId ``OrganId,yyyy/MM/dd,Number/Notation``.

    ``date`` is the text as written; it may be impossible (``2014/02/30`` is in real traffic),
    which :attr:`date_value` reports as ``None`` rather than failing the parse.
    """

    organ_id: str
    date: str
    number_notation: str

    @classmethod
    def parse(cls, text: str) -> DocumentIdParts:
        """Split a DocumentId; impossible dates are kept, not refused.

        :raises InvalidDocumentId: when the text does not have the three parts.
        """
        m = _DOCUMENT_ID.fullmatch(text)
        if m is None or not m[1].isascii() or not m[2].isascii():
            raise InvalidDocumentId(
                f"invalid DocumentId {text!r}: expected OrganId,yyyy/MM/dd,Number/Notation"
            )
        return cls(organ_id=m[1], date=m[2], number_notation=m[3])

    @classmethod
    def try_parse(cls, text: str) -> DocumentIdParts | None:
        """Like :meth:`parse` but ``None`` instead of an exception."""
        try:
            return cls.parse(text)
        except InvalidDocumentId:
            return None

    @property
    def date_value(self) -> _Date | None:
        """The date, or ``None`` when it is impossible (e.g. 30 February)."""
        return parse_date(self.date)

    @property
    def number(self) -> str:
        """The part before the first ``/`` of ``Number/Notation``."""
        return self.number_notation.partition("/")[0]

    @property
    def notation(self) -> str:
        """The part after the first ``/`` of ``Number/Notation`` (may be empty)."""
        return self.number_notation.partition("/")[2]

    def __str__(self) -> str:
        return f"{self.organ_id},{self.date},{self.number_notation}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Organ:
    """An agency (``From`` / ``To``)."""

    organ_id: str
    organization_in_charge: str | None = None
    organ_name: str | None = None
    organ_add: str | None = None
    email: str | None = None
    telephone: str | None = None
    fax: str | None = None
    website: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Code:
    """Số và ký hiệu: the document's number and notation (``None``: the notation is absent)."""

    code_number: str
    code_notation: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PromulgationInfo:
    """Where and when the document was promulgated (``place`` ``None``: absent)."""

    place: str | None = None
    promulgation_date: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentType:
    """Kind of document (``Type``), its detail and its name (e.g. "Công văn")."""

    type: str
    type_detail: str | None = None
    type_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SignerInfo:
    """Who signed the paper document (every field may be absent: the SDK drops null ones)."""

    competence: str | None = None
    position: str | None = None
    full_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OtherInfo:
    """Priority, circulation, page counts and appendixes.

    ``reply_fors`` and ``reference_codes`` are the national SDK's free-text fields (the
    numbers of the documents answered or referred to), kept as written.
    """

    priority: str
    sphere_of_promulgation: str | None = None
    typer_notation: str | None = None
    promulgation_amount: str | None = None
    page_amount: str | None = None
    reply_fors: str | None = None
    direction: str | None = None
    reference_codes: str | None = None
    appendixes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseFor:
    """The document a status package (or a reply document) refers to."""

    organ_id: str
    code: str | None = None
    promulgation_date: str | None = None
    document_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StaffInfo:
    """The clerk or officer acting (``*_id``: the SDK's identifiers in the sender's system)."""

    department: str | None = None
    department_id: str | None = None
    staff: str | None = None
    staff_id: str | None = None
    email: str | None = None
    mobile: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceHeader:
    """One hop of the package's trace (agency and time)."""

    organ_id: str
    timestamp: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Receiver:
    """A recipient named in ``BussinessDocumentInfo/ReceiverList``."""

    organ_id: str
    receiver_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BusinessDocumentInfo:
    """What an update changes: document info (``"1"``), receivers (``"1"``), and who."""

    document_info: str | None = None
    document_receiver: str | None = None
    receivers: tuple[Receiver, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplacementInfo:
    """A replaced document and the agencies it had been sent to."""

    document_id: str
    organ_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Business:
    """``Bussiness`` (sic): what the package does to a document (0 new … 3 replacement)."""

    document_id: str | None = None
    business_doc_type: int
    business_doc_reason: str | None = None
    paper: str | None = None
    staff_info: StaffInfo | None = None
    document_info: BusinessDocumentInfo | None = None
    replacement_info_list: tuple[ReplacementInfo, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestReference:
    """An entry of ``edXMLManifest``."""

    content_id: str
    content_type: str | None = None
    attachment_name: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    """An attachment, kept base64-encoded as sent (decoding is on demand)."""

    content_id: str
    attachment_name: str
    content_type: str
    content_b64: str = field(repr=False)
    description: str | None = None

    @classmethod
    def from_bytes(
        cls,
        *,
        content_id: str,
        attachment_name: str,
        content_type: str,
        data: bytes,
        description: str | None = None,
    ) -> Attachment:
        """An attachment holding ``data`` (encoded as one line of base64)."""
        return cls(
            content_id=content_id,
            attachment_name=attachment_name,
            content_type=content_type,
            content_b64=base64.b64encode(data).decode("ascii"),
            description=description,
        )

    def decode(self) -> bytes:
        """The attachment's bytes. Whitespace (line breaks) is ignored, anything else strict.

        :raises ValueError: when the content is not valid base64.
        """
        compact = "".join(self.content_b64.split())
        try:
            return base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"attachment {self.content_id!r} is not valid base64: {exc}") from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageHeader:
    """``MessageHeader``: document fields, or status fields (a status has a status code).

    ``response_fors`` is every ``ResponseFor`` in document order; ``response_for`` is the
    first of them (or ``None``). Give either to the constructor; the other is derived. An empty
    ``<ResponseFor/>`` names nothing and is not among them (the parser flags it).

    ``response_for_task`` is the TaskCodes of the SDK's ``ResponseForTask`` (``None``: absent);
    ``application_type`` its ``ApplicationType``, kept as written.
    """

    from_: Organ
    to: tuple[Organ, ...] = ()
    document_id: str | None = None
    code: Code | None = None
    promulgation_info: PromulgationInfo | None = None
    document_type: DocumentType | None = None
    subject: str | None = None
    content: str | None = None
    signer_info: SignerInfo | None = None
    due_date: str | None = None
    to_places: tuple[str, ...] = ()
    other_info: OtherInfo | None = None
    steering_type: str | None = None
    response_for: ResponseFor | None = None
    response_fors: tuple[ResponseFor, ...] = ()
    response_for_task: tuple[str, ...] | None = None
    application_type: str | None = None
    staff_info: StaffInfo | None = None
    status_code: StatusCode | None = None
    description: str | None = None
    timestamp: str | None = None

    def __post_init__(self) -> None:
        # ``response_fors`` holds every ResponseFor in document order (the SDK writes one per
        # recipient of the document a revocation or reply names); ``response_for`` stays the
        # first one for callers written when only one was accepted. Either may be given.
        if self.response_fors:
            if self.response_for is None:
                object.__setattr__(self, "response_for", self.response_fors[0])
            elif self.response_for != self.response_fors[0]:
                raise ValueError("response_for must be the first of response_fors")
        elif self.response_for is not None:
            object.__setattr__(self, "response_fors", (self.response_for,))


@dataclass(frozen=True, slots=True, kw_only=True)
class EdxmlPackage:
    """A parsed edXML package.

    ``warnings`` lists the leniencies applied, as stable strings ``"<code>:<path>[:<detail>]"``
    (see ``docs/edxml.md``).
    """

    header: MessageHeader
    trace_headers: tuple[TraceHeader, ...] = ()
    business: Business | None = None
    manifest: tuple[ManifestReference, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def kind(self) -> Literal["document", "status"]:
        """``"status"`` iff the header has a StatusCode, else ``"document"``."""
        return "status" if self.header.status_code is not None else "document"

    @property
    def sender(self) -> str:
        """The ``From`` agency code."""
        return self.header.from_.organ_id

    @property
    def recipients(self) -> tuple[str, ...]:
        """Documents: the ``To`` codes in order, de-duplicated. Statuses: ResponseFor's code."""
        if self.header.status_code is not None:
            rf = self.header.response_for
            return (rf.organ_id,) if rf is not None else ()
        return tuple(dict.fromkeys(o.organ_id for o in self.header.to))

    @property
    def reference_document_id(self) -> str | None:
        """Documents: their DocumentId. Statuses: the DocumentId they answer (ResponseFor)."""
        if self.header.status_code is not None:
            rf = self.header.response_for
            return rf.document_id if rf is not None else None
        return self.header.document_id

    @property
    def business_doc_type(self) -> int:
        """BussinessDocType (0 new, 1 revocation, 2 update, 3 replacement); 0 when absent."""
        return self.business.business_doc_type if self.business is not None else 0
