"""Helpers for adapter tests: a throw-away signing identity, sign-and-verify like a connector,
and realistic Vietnamese dossier records."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509

from hub.adapter import ParsedPackage, model_from_verified, sign_outgoing
from hub.adapter.formats import signature_policy
from hub.dossier import BoSung, GiayToKetQua, HoSo, LePhi, TaiLieu, TienDo
from hub.xmlsafe import parse_xml
from signing import TrustStore, verify_enveloped
from signing.pki import PrivateKey, create_ca, issue_certificate

__all__ = ["TestIdentity", "sample_ho_so", "sample_tien_do", "sign_and_verify", "test_identity"]


@dataclass(frozen=True)
class TestIdentity:
    """An agency key and certificate issued by a throw-away CA (the only trust anchor)."""

    __test__ = False  # not a pytest test class despite the name

    organ_id: str
    key: PrivateKey
    certificate: x509.Certificate
    ca: x509.Certificate

    def sign(self, data: bytes) -> bytes:
        """Sign an edXML or dossier package as this agency's connector would."""
        return sign_outgoing(data, self.key, self.certificate)


@functools.cache
def test_identity(organ_id: str = "000.00.00.H29") -> TestIdentity:
    """A cached identity per OrganId (RSA key generation is the slow part)."""
    ca_key, ca_cert = create_ca("Adapter test CA")
    key, cert = issue_certificate(
        ca_key, ca_cert, organ_id, key_type="rsa2048", organizational_unit=organ_id
    )
    return TestIdentity(organ_id=organ_id, key=key, certificate=cert, ca=ca_cert)


test_identity.__test__ = False  # type: ignore[attr-defined]  # keep pytest from collecting it


def sign_and_verify(data: bytes, identity: TestIdentity | None = None) -> ParsedPackage:
    """Sign unsigned package bytes, verify them under the hub's strict profile and return the
    models built from the verified tree — what a receiving connector hands ``from_package``."""
    identity = identity or test_identity()
    signed = identity.sign(data)
    root = parse_xml(signed)
    verified = verify_enveloped(root, signature_policy(str(root.tag)))
    TrustStore([identity.ca]).validate(
        verified.certificate, at=datetime.now(UTC), intermediates=verified.intermediates
    )
    return model_from_verified(verified.signed_root)


def sample_ho_so(ma_ho_so: str = "000.00.01.H29-240315-0001", state: str = "2") -> HoSo:
    """A complete dossier with Vietnamese text in both Unicode forms a real system may hold."""
    return HoSo(
        ma_ho_so=ma_ho_so,
        ma_tthc="1.000494.000.00.00.H29",
        ten_tthc="Cấp giấy phép xây dựng đối với công trình nhà ở riêng lẻ",
        ma_linh_vuc="G11",
        ten_linh_vuc="Xây dựng",
        so_bien_nhan="BN-2024-000123",
        chu_ho_so="Nguyễn Thị Ánh Tuyết",
        loai_doi_tuong="1",
        ma_doi_tuong="001190012345",
        so_dien_thoai="0912345678",
        email="tuyet.nguyen@example.vn",
        dia_chi="Số 12, ngõ 34 phố Hàng Bạc, phường Hàng Bạc, quận Hoàn Kiếm, Hà Nội",
        trich_yeu_ho_so="Xin cấp phép xây dựng nhà ở 4 tầng — diện tích 68,5 m²",
        ngay_tiep_nhan="20240315083000",
        ngay_hen_tra="20240329170000",
        trang_thai_ho_so=state,
        hinh_thuc="1",
        don_vi_xu_ly="Ủy ban nhân dân quận Hoàn Kiếm",
        ghi_chu="Hồ sơ nộp trực tuyến mức độ 4",
        tai_lieu_nop=(
            TaiLieu.from_bytes(
                tep_dinh_kem_id="TL1",
                ten_tep_dinh_kem="Đơn đề nghị cấp giấy phép.pdf",
                content_type="application/pdf",
                data=b"%PDF-1.4 test",
                ma_thanh_phan_ho_so="TP01",
            ),
        ),
        danh_sach_le_phi=(LePhi(ten_phi_le_phi="Lệ phí cấp giấy phép xây dựng", gia="75000"),),
        danh_sach_ho_so_bo_sung=(
            BoSung(
                ho_so_bo_sung_id="BS1",
                noi_dung_bo_sung="Bổ sung bản vẽ mặt bằng",
                ngay_bo_sung="20240318100000",
            ),
        ),
        danh_sach_giay_to_ket_qua=(
            GiayToKetQua(giay_to_id="KQ1", ten_giay_to="Giấy phép xây dựng số 123/GPXD"),
        ),
    )


def sample_tien_do(ma_ho_so: str = "000.00.01.H29-240315-0001", state: str = "4") -> TienDo:
    """A progress step of :func:`sample_ho_so`."""
    return TienDo(
        ma_ho_so=ma_ho_so,
        trang_thai_ho_so=state,
        ngay_xu_ly="20240316091500",
        noi_dung_xu_ly="Chuyển phòng Quản lý đô thị thẩm định",
        don_vi_xu_ly="Ủy ban nhân dân quận Hoàn Kiếm",
        phong_ban_xu_ly="Phòng Quản lý đô thị",
        nguoi_xu_ly="Trần Văn Đức",
        chuc_danh="Chuyên viên",
    )
