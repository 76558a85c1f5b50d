"""PAdES validation: every test PDF with its verdict, and PDFs signed here with the dev PKI
(valid, revoked, no revocation data, tampered, modified after signing)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import BytesIO

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing import StaticRevocationChecker, TrustStore, validate_pdf
from signing.pki import PrivateKey, create_ca, create_crl, issue_certificate

from .conftest import TESTDATA

PDFS = TESTDATA / "pdf"
AT_2020 = datetime(2020, 11, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _quiet_pyhanko() -> Iterator[None]:
    # pyHanko logs every untrusted chain with a traceback; the tests read verdicts instead.
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    yield
    logging.getLogger("pyhanko").setLevel(logging.NOTSET)


@pytest.fixture(scope="module")
def testing_ca() -> TrustStore:
    from signing.pki import load_certificates

    return TrustStore(load_certificates(PDFS / "testing-ca" / "root" / "root.cert.pem"))


# file → (verdict at 2020-11-01 with hard-fail and no CRLs configured, reasons, why)
EXPECTED: dict[str, tuple[str, tuple[str, ...], str]] = {
    "anomalies/base.pdf": ("invalid", ("pdf.unparsable",), "signature /Contents is not CMS"),
    "anomalies/one-byterange.pdf": (
        "invalid",
        ("pdf.coverage", "pdf.untrusted"),
        "a single byte range: coverage unclear; self-signed signer",
    ),
    "anomalies/signature-gap-too-big.pdf": (
        "invalid",
        ("pdf.coverage", "pdf.untrusted"),
        "the uncovered gap is larger than /Contents",
    ),
    "anomalies/tail-uncovered.pdf": (
        "invalid",
        ("pdf.coverage", "pdf.untrusted"),
        "bytes after the signed range are not covered",
    ),
    "anomalies/weird-byterange.pdf": (
        "invalid",
        ("pdf.coverage", "pdf.untrusted"),
        "byte ranges that do not describe the file",
    ),
    "signed/ed448-disallowed-hash.pdf": (
        "invalid",
        ("pdf.algorithm_disallowed",),
        "Ed448 with SHA-512 instead of SHAKE256",
    ),
    "signed/minimal-signed-twice-both-created.pdf": (
        "invalid",
        ("pdf.untrusted",),
        "intact, form filling only between the signatures, but a self-signed signer",
    ),
    "signed/minimal-signed-twice-second-created.pdf": (
        "invalid",
        ("pdf.untrusted",),
        "as above; the second field was created in the update",
    ),
    "signed/minimal-two-fields-signed-twice.pdf": (
        "invalid",
        ("pdf.untrusted",),
        "as above, two pre-existing fields",
    ),
    "signed/pades-lta-dss-indirect-arrs-test.pdf": ("valid", (), "PAdES-LTA, DSS revocation data"),
    "signed/pades-lta-dss-indirect-arrs-test-2.pdf": ("valid", (), "PAdES-LTA, two signatures"),
    "signed/pades-with-old-style-signing-cert-attr.pdf": (
        "indeterminate",
        ("pdf.revocation_unknown",),
        "trusted chain, but no revocation data offline (hard-fail)",
    ),
    "signed/pdf-sig-with-econtent.pdf": (
        "invalid",
        ("pdf.format",),
        "detached PDF signature with encapsulated content",
    ),
    "signed/sig-no-signed-attrs.pdf": (
        "indeterminate",
        ("pdf.revocation_unknown",),
        "no signed attributes; trusted chain, no revocation data",
    ),
    "signed/sig-with-ski-sid.pdf": (
        "indeterminate",
        ("pdf.revocation_unknown",),
        "signer identified by SKI; trusted chain, no revocation data",
    ),
    "unsigned/minimal.pdf": ("unsigned", (), "no signature"),
    "unsigned/minimal-with-field.pdf": ("unsigned", (), "an empty signature field"),
    "unsigned/minimal-two-fields.pdf": ("unsigned", (), "two empty fields"),
}


def test_every_test_pdf_has_an_expectation() -> None:
    found = {str(p.relative_to(PDFS)) for p in PDFS.glob("*/*.pdf")}
    assert found == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_test_pdf_verdict_hard_fail(name: str, testing_ca: TrustStore) -> None:
    verdict, reasons, _why = EXPECTED[name]
    report = validate_pdf(
        (PDFS / name).read_bytes(), testing_ca, at=AT_2020, revocation="hard-fail"
    )
    assert report.verdict == verdict, report
    got = {r for s in report.signatures for r in s.reasons}
    assert got == set(reasons), report


@pytest.mark.parametrize(
    "name",
    [
        "signed/pades-with-old-style-signing-cert-attr.pdf",
        "signed/sig-no-signed-attrs.pdf",
        "signed/sig-with-ski-sid.pdf",
    ],
)
def test_soft_fail_makes_trusted_chains_valid(name: str, testing_ca: TrustStore) -> None:
    report = validate_pdf(
        (PDFS / name).read_bytes(), testing_ca, at=AT_2020, revocation="soft-fail"
    )
    assert report.verdict == "valid"
    (sig,) = report.signatures
    assert sig.coverage == "ENTIRE_FILE" and sig.modification_level == "NONE"
    assert sig.signer_fingerprint and sig.signer_subject


def test_expired_signer_today_is_indeterminate(testing_ca: TrustStore) -> None:
    data = (PDFS / "signed/sig-with-ski-sid.pdf").read_bytes()
    report = validate_pdf(data, testing_ca, at=datetime.now(UTC), revocation="soft-fail")
    assert report.verdict == "indeterminate"
    assert report.signatures[0].reasons == ("pdf.expired",)


def test_lta_details(testing_ca: TrustStore) -> None:
    data = (PDFS / "signed/pades-lta-dss-indirect-arrs-test.pdf").read_bytes()
    report = validate_pdf(data, testing_ca, at=AT_2020, revocation="hard-fail")
    kinds = [(s.kind, s.verdict, s.revocation) for s in report.signatures]
    assert kinds == [("signature", "valid", "good"), ("timestamp", "valid", "good")]
    assert report.signatures[0].modification_level == "LTA_UPDATES"


def test_unknown_ca_is_invalid() -> None:
    _, other = create_ca("Some other root")
    data = (PDFS / "signed/sig-with-ski-sid.pdf").read_bytes()
    report = validate_pdf(data, TrustStore([other]), at=AT_2020, revocation="soft-fail")
    assert report.verdict == "invalid"
    assert report.signatures[0].reasons == ("pdf.untrusted",)


def test_tampered_test_pdf_is_invalid(testing_ca: TrustStore) -> None:
    data = bytearray((PDFS / "signed/sig-with-ski-sid.pdf").read_bytes())
    data[data.index(b"/MediaBox") + 1] ^= 0x20  # inside the first signed byte range
    report = validate_pdf(bytes(data), testing_ca, at=AT_2020, revocation="soft-fail")
    assert report.verdict == "invalid"
    assert "pdf.not_intact" in report.signatures[0].reasons


# -- PDFs signed here with the dev PKI --------------------------------------------------------


class DevSigner:
    def __init__(self) -> None:
        self.ca_key, self.ca = create_ca("PDF Dev CA")
        self.key, self.cert = issue_certificate(self.ca_key, self.ca, "Người ký PDF")

    def sign(self, pdf: bytes) -> bytes:
        signer = signers.SimpleSigner(
            signing_cert=asn1_x509.Certificate.load(
                self.cert.public_bytes(serialization.Encoding.DER)
            ),
            signing_key=asn1_keys.PrivateKeyInfo.load(_der_key(self.key)),
            cert_registry=SimpleCertificateStore.from_certs(
                [asn1_x509.Certificate.load(self.ca.public_bytes(serialization.Encoding.DER))]
            ),
        )
        out = signers.sign_pdf(
            IncrementalPdfFileWriter(BytesIO(pdf)),
            signers.PdfSignatureMetadata(field_name="Sig1"),
            signer=signer,
        )
        return out.getvalue()

    def store(self, revoked: list[int] | None, mode: str) -> TrustStore:
        crls: list[x509.CertificateRevocationList] = []
        if revoked is not None:
            built = datetime.now(
                UTC
            )  # the CRL is made now, beside the signatures it is checked with
            crls.append(create_crl(self.ca_key, self.ca, revoked, built + timedelta(days=7)))
        return TrustStore([self.ca], revocation=StaticRevocationChecker(crls, mode=mode))  # type: ignore[arg-type]


def _der_key(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def dev() -> DevSigner:
    return DevSigner()


@pytest.fixture(scope="module")
def signed(dev: DevSigner) -> bytes:
    return dev.sign((PDFS / "unsigned" / "minimal.pdf").read_bytes())


def test_dev_signed_pdf_valid_with_crl(dev: DevSigner, signed: bytes) -> None:
    report = validate_pdf(signed, dev.store([], "hard-fail"))
    assert report.verdict == "valid", report
    (sig,) = report.signatures
    assert (sig.coverage, sig.revocation, sig.trusted) == ("ENTIRE_FILE", "good", True)


def test_dev_signed_pdf_revoked(dev: DevSigner, signed: bytes) -> None:
    for mode in ("hard-fail", "soft-fail"):
        report = validate_pdf(signed, dev.store([dev.cert.serial_number], mode))
        assert report.verdict == "invalid", (mode, report)
        assert report.signatures[0].reasons == ("pdf.revoked",)


def test_dev_signed_pdf_without_revocation_data(dev: DevSigner, signed: bytes) -> None:
    report = validate_pdf(signed, dev.store(None, "hard-fail"))
    assert report.verdict == "indeterminate"
    assert report.signatures[0].reasons == ("pdf.revocation_unknown",)
    assert validate_pdf(signed, dev.store(None, "soft-fail")).verdict == "valid"


def test_dev_signed_pdf_tampered(dev: DevSigner, signed: bytes) -> None:
    data = bytearray(signed)
    pos = data.index(b"/Type /Page")
    data[pos + 1] = ord("t")  # /type: inside the signed range
    report = validate_pdf(bytes(data), dev.store([], "hard-fail"))
    assert report.verdict == "invalid"
    assert "pdf.not_intact" in report.signatures[0].reasons


def test_dev_signed_pdf_with_appended_content(dev: DevSigner, signed: bytes) -> None:
    """Bytes appended after signing (not a proper incremental update) are not covered."""
    report = validate_pdf(signed + b"\n% appended after signing\n", dev.store([], "hard-fail"))
    assert report.verdict in ("invalid", "valid")  # pyHanko tolerates trailing comments…
    modified = IncrementalPdfFileWriter(BytesIO(signed))
    page = modified.root["/Pages"]["/Kids"][0].get_object()
    from pyhanko.pdf_utils import generic

    page["/Rotate"] = generic.NumberObject(90)
    modified.update_container(page)
    out = BytesIO()
    modified.write(out)
    report = validate_pdf(out.getvalue(), dev.store([], "hard-fail"))
    assert report.verdict == "invalid"
    assert report.signatures[0].reasons == ("pdf.modified",)
