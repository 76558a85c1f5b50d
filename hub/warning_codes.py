"""The hub's warning codes: leniencies it applied to a package it accepted.

A refusal is a :class:`hub.errors.HubError`; a warning is a package the hub accepted while
noting something the sender should fix or an operator should see (a legacy signature, an empty
optional element, a PDF that is not validly signed). Every warning is a string
``"<code>"`` or ``"<code>:<path>[:<detail>]"``; the ``code`` part is one of :data:`WARNINGS`
and, like error codes, part of the public contract: integrators match on it, so never rename
one. Warnings appear in the signed receipt (``Warnings``), the package JSON and the trace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WarningCode:
    """One documented warning code."""

    code: str
    en: str
    vi: str


def _table(*codes: WarningCode) -> Mapping[str, WarningCode]:
    return {c.code: c for c in codes}


WARNINGS: Mapping[str, WarningCode] = _table(
    # edXML leniencies (hub.edxml.parse)
    WarningCode(
        "edxml.impossible_date",
        "a date matches yyyy/MM/dd but names no real day (2014/02/30)",
        "ngày tháng đúng dạng nhưng không có thật",
    ),
    WarningCode(
        "edxml.document_id_format",
        "DocumentId is not OrganId,yyyy/MM/dd,Number/Notation",
        "DocumentId không theo dạng Mã cơ quan,yyyy/MM/dd,Số/Ký hiệu",
    ),
    WarningCode(
        "edxml.document_id_mismatch",
        "DocumentId disagrees with From, PromulgationDate or Code",
        "DocumentId không khớp với From, ngày ban hành hoặc số/ký hiệu",
    ),
    WarningCode(
        "edxml.manifest_attachment_mismatch",
        "the manifest and the attachments do not list the same ContentIds",
        "danh mục và tệp đính kèm không khớp ContentId",
    ),
    WarningCode(
        "edxml.duplicate_content_id",
        "two attachments share one ContentId",
        "hai tệp đính kèm trùng ContentId",
    ),
    WarningCode(
        "edxml.duplicate_recipient",
        "the same To OrganId is named twice",
        "một cơ quan nhận được ghi hai lần",
    ),
    WarningCode(
        "edxml.repeated_element",
        "an element the standard allows once is repeated; the hub joined the values",
        "một phần tử chỉ được phép một lần bị lặp lại",
    ),
    WarningCode(
        "edxml.empty_element",
        "an optional element is present but empty (real software writes them so)",
        "phần tử tùy chọn có mặt nhưng rỗng",
    ),
    # Signatures
    WarningCode(
        "signature.legacy_algorithm",
        "signed with the legacy profile (C14N 1.0 or RSA-SHA1), admitted for this sender",
        "ký theo chuẩn cũ (C14N 1.0 hoặc RSA-SHA1), được chấp nhận cho cơ quan gửi này",
    ),
    WarningCode(
        "signature.revocation_unknown",
        "the revocation status of the signer's certificate path could not be had (source "
        "unreachable); accepted under the soft-fail revocation policy",
        "không xác định được tình trạng thu hồi chứng thư số của người ký (nguồn không truy "
        "cập được); vẫn chấp nhận theo chính sách soft-fail",
    ),
    WarningCode(
        "signature.envelope_unsigned",
        "the edXML envelope carries no signature; accepted for this sender by its policy",
        "gói tin không có chữ ký số; được chấp nhận theo chính sách của cơ quan gửi",
    ),
    # PDF attachments under the "warn" policy (hub.pipeline.facts.pdf_warnings)
    WarningCode(
        "pdf.invalid",
        "a PDF attachment's signature is invalid",
        "chữ ký trên tệp PDF đính kèm không hợp lệ",
    ),
    WarningCode(
        "pdf.indeterminate",
        "a PDF attachment's signature could not be validated either way",
        "chưa xác định được chữ ký trên tệp PDF đính kèm",
    ),
    WarningCode(
        "pdf.unsigned",
        "a PDF attachment carries no signature",
        "tệp PDF đính kèm không có chữ ký số",
    ),
    WarningCode(
        "pdf.unsafe",
        "an attachment archive was not unpacked (unsafe or undecodable); its PDFs unchecked",
        "tệp nén đính kèm không an toàn hoặc không giải mã được; chưa kiểm tra PDF bên trong",
    ),
    # Dossier packages (hub.dossier.parse): the code predates this table, kept as sent.
    WarningCode(
        "date.impossible",
        "a dossier date matches its format but names no real day",
        "ngày tháng trong hồ sơ đúng dạng nhưng không có thật",
    ),
)
"""Every warning code the hub attaches, with its meaning in English and Vietnamese."""


def documented(code: str) -> str:
    """``code`` itself, once :data:`WARNINGS` is known to document it: modules define their
    warning constants with it (``W_X = documented("edxml.x")``), so an undocumented code fails
    at import rather than reaching a receipt."""
    if code not in WARNINGS:
        raise KeyError(f"warning code {code!r} is not documented in hub.warning_codes")
    return code


LEGACY_ALGORITHM = documented("signature.legacy_algorithm")
"""A package signed with the legacy profile, admitted for its sender."""
REVOCATION_UNKNOWN = documented("signature.revocation_unknown")
"""Soft-fail admitted a signer whose certificate's revocation status could not be had."""
ENVELOPE_UNSIGNED = documented("signature.envelope_unsigned")
"""An unsigned envelope, admitted because the sender's ``envelope_signature`` is optional."""


def pdf_warning(verdict: str) -> str:
    """The warning code for a PDF verdict other than ``valid`` (``pdf.<verdict>``)."""
    return documented(f"pdf.{verdict}")


def warning_code(warning: str) -> str:
    """The code part of a warning string (``"edxml.empty_element:/edXML/…"`` → its code)."""
    return warning.split(":", 1)[0]


def unknown_codes(warnings: Sequence[str]) -> list[str]:
    """The codes in ``warnings`` that :data:`WARNINGS` does not document (a test keeps this
    empty for everything the hub emits)."""
    return [c for c in (warning_code(w) for w in warnings) if c not in WARNINGS]
