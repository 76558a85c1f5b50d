"""Realistic edXML packages for the demo, tests and benchmarks, signed like agencies sign.

Documents carry Vietnamese subjects, the national document-type names, attachments, and the
DocumentId shape ``OrganId,yyyy/MM/dd,Number/Notation``; status packages answer them with the
real status codes.
"""

from __future__ import annotations

import io
import random
import zipfile
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from cryptography import x509

from hub.edxml import (
    Attachment,
    Business,
    Code,
    DocumentType,
    ManifestReference,
    MessageHeader,
    Organ,
    OtherInfo,
    PromulgationInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    TraceHeader,
    build_document,
    build_status,
)
from hub.packaging import sign_package
from signing.pki import PrivateKey

VN = ZoneInfo("Asia/Ho_Chi_Minh")

SUBJECTS = (
    "V/v kết nối, liên thông phần mềm quản lý văn bản",
    "V/v triển khai Cổng Dịch vụ công quốc gia",
    "V/v báo cáo tình hình giải quyết thủ tục hành chính quý III",
    "V/v đôn đốc cập nhật hồ sơ một cửa điện tử cấp xã",
    "V/v tăng cường bảo đảm an toàn thông tin mạng",
    "Về việc ban hành Quy chế tiếp nhận hồ sơ trực tuyến mức độ 3, 4",
    "V/v chuẩn hóa mã định danh cơ quan, đơn vị",
    "Thông báo kết luận của Thủ tướng Chính phủ tại cuộc họp trực tuyến",
)
TYPES = (("1", "Công văn"), ("2", "Quyết định"), ("3", "Thông báo"), ("4", "Báo cáo"))
NOTATIONS = ("VPCP-TTĐT", "UBND-VX", "UBND-KSTT", "STTTT-BCVT", "BTTTT-THH")
SIGNERS = ("Nguyễn Văn An", "Trần Thị Bích Ngọc", "Lê Hoàng Phúc", "Phạm Thị Thu Hà")
STATUS_TEXT = {
    StatusCode("01"): "Đã đến - Phần mềm QLVB đã nhận nhưng văn thư chưa xử lý",
    StatusCode("02"): "Từ chối tiếp nhận văn bản",
    StatusCode("03"): "Tiếp nhận văn bản điện tử, vào sổ văn bản đến của đơn vị",
    StatusCode("04"): "Đã phân công xử lý",
    StatusCode("05"): "Đang xử lý",
    StatusCode("06"): "Đã hoàn thành xử lý",
    StatusCode("13"): "Đề nghị lấy lại văn bản",
    StatusCode("15"): "Đồng ý cập nhật/lấy lại văn bản",
    StatusCode("16"): "Từ chối cập nhật/lấy lại văn bản",
}


@dataclass(frozen=True, slots=True)
class Signer:
    """An agency's signing identity (held at the agency's edge, never by the hub)."""

    organ_id: str
    name: str
    key: PrivateKey
    certificate: x509.Certificate

    def sign(self, data: bytes) -> bytes:
        """Sign a built package with this agency's key."""
        return sign_package(data, self.key, self.certificate)

    @property
    def organ(self) -> Organ:
        """This agency as an edXML ``Organ``."""
        return Organ(organ_id=self.organ_id, organ_name=self.name, organization_in_charge=self.name)


def _zip(name: str, text: str, payload: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, text)
        # Scanned pages and signed PDFs do not compress: keep the attachment's size honest.
        zf.writestr(name.replace(".txt", ".pdf"), payload)
    return buf.getvalue()


def vn_now() -> datetime:
    """Local time in Hà Nội (edXML dates are local)."""
    return datetime.now(VN)


def document(
    sender: Signer,
    recipients: list[Organ],
    *,
    number: int,
    rng: random.Random | None = None,
    business_doc_type: int = 0,
    original_document_id: str | None = None,
    attachments: int = 1,
    attachment_size: int = 8_000,
    when: datetime | None = None,
    document_id: str | None = None,
    subject: str | None = None,
    signed: bool = True,
) -> tuple[str, bytes]:
    """A signed document package (unsigned with ``signed=False``, for ``hub sign``); returns
    ``(DocumentId, bytes)``. ``document_id`` and ``subject`` replace the generated ones
    (exactly as given: NFD stays NFD)."""
    rng = rng or random.Random(number)
    when = when or vn_now()
    notation = rng.choice(NOTATIONS)
    day = when.strftime("%Y/%m/%d")
    document_id = document_id or f"{sender.organ_id},{day},{number}/{notation}"
    type_code, type_name = rng.choice(TYPES)
    subject = subject or rng.choice(SUBJECTS)
    header = MessageHeader(
        from_=sender.organ,
        to=tuple(recipients),
        document_id=document_id,
        code=Code(code_number=str(number), code_notation=notation),
        promulgation_info=PromulgationInfo(place="Hà Nội", promulgation_date=day),
        document_type=DocumentType(type=type_code, type_detail="0", type_name=type_name),
        subject=subject,
        content=subject,
        signer_info=SignerInfo(
            competence="TL. BỘ TRƯỞNG", position="Chánh Văn phòng", full_name=rng.choice(SIGNERS)
        ),
        due_date=day,
        to_places=("Các bộ và cơ quan ngang bộ", "Ủy ban nhân dân các tỉnh, thành phố"),
        other_info=OtherInfo(
            priority="0",
            sphere_of_promulgation="Liên thông văn bản quốc gia",
            typer_notation="TVC",
            promulgation_amount="1",
            page_amount="2",
            direction="false",
        ),
        steering_type="1",
    )
    business = Business(
        document_id=original_document_id,
        business_doc_type=business_doc_type,
        business_doc_reason={
            0: None,
            1: "Thu hồi văn bản",
            2: "Cập nhật văn bản điện tử",
            3: "Thay thế văn bản",
        }.get(business_doc_type),
        paper="0",
        staff_info=StaffInfo(
            department="Văn thư văn phòng",
            staff="Nguyễn Thị Ngọc Trâm",
            email="vanthu@gov.vn",
            mobile="84912000001",
        ),
    )
    files: list[Attachment] = []
    for i in range(attachments):
        data = _zip(
            f"van-ban-{number}-{i + 1}.txt",
            f"Nội dung văn bản: {subject}",
            rng.randbytes(attachment_size),
        )
        files.append(
            Attachment.from_bytes(
                content_id=f"cid:{number}-{i + 1}",
                attachment_name=f"van-ban-{number}-{i + 1}.zip",
                content_type="application/zip",
                data=data,
                description=f"Văn bản số {number} phần {i + 1}",
            )
        )
    built = build_document(
        header,
        trace_headers=(
            TraceHeader(organ_id=sender.organ_id, timestamp=when.strftime("%Y/%m/%d %H:%M:%S")),
        ),
        business=business,
        attachments=files,
    )
    return document_id, sender.sign(built) if signed else built


def manifest_of(attachments: list[Attachment]) -> tuple[ManifestReference, ...]:
    """Manifest entries for attachments (the builder writes these itself)."""
    return tuple(
        ManifestReference(
            content_id=a.content_id,
            content_type=a.content_type,
            attachment_name=a.attachment_name,
            description=a.description,
        )
        for a in attachments
    )


def status(
    sender: Signer,
    *,
    document_author: str,
    document_id: str,
    code: str,
    when: datetime | None = None,
) -> bytes:
    """A signed status package answering ``document_id`` of ``document_author``."""
    when = when or vn_now()
    status_code = StatusCode(code)
    parts = document_id.split(",")
    built = build_status(
        sender.organ,
        ResponseFor(
            organ_id=document_author,
            code=parts[2] if len(parts) == 3 else None,
            promulgation_date=parts[1] if len(parts) == 3 else None,
            document_id=document_id,
        ),
        status_code,
        description=STATUS_TEXT[status_code],
        timestamp=when.strftime("%Y/%m/%d %H:%M:%S"),
        staff_info=StaffInfo(department="Văn thư", staff="Nguyễn Thị Ngọc Trâm"),
    )
    return sender.sign(built)
