"""The receipt's optional ``Warnings`` (schemas/receipt/v1, added compatibly): receipts with
and without it validate, verify and parse; receipts issued before it existed still do."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from hub.demo.workdir import Workdir
from hub.receipts import (
    RECEIPT_NS,
    RECEIPT_POLICY,
    SIGNATURE_PARENT,
    ReceiptFacts,
    ReceiptSigner,
    build_receipt,
    parse_receipt,
    receipt_schema,
)
from signing import sign_enveloped, verify_enveloped
from signing.errors import SignatureInvalid
from tests.api.conftest import xmlsec1_verify

R = f"{{{RECEIPT_NS}}}"
FACTS = ReceiptFacts(
    package_id="0f" * 16,
    hub_id="hub-test",
    sender="000.00.00.G22",
    recipients=("000.00.00.H41", "000.00.00.H14"),
    kind="document",
    document_id="000.00.00.G22,2026/03/02,7/VPCP-KSTT",
    accepted_at=datetime(2026, 3, 2, 8, 30, 0, 123456, tzinfo=UTC),
    sha256="ab" * 32,
    size=4096,
)
WARNED = replace(
    FACTS,
    warnings=(
        "edxml.impossible_date:/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList/Bussiness/"
        "DocumentId:2014/02/30",
        "signature.legacy_algorithm",
        "pdf.unsigned:Tờ trình số 7 — bản ký.pdf",
    ),
)


@pytest.fixture
def signer(workdir: Workdir) -> ReceiptSigner:
    pki = workdir.pki_dir / "hub"
    return ReceiptSigner.from_files(pki / "key.pem", pki / "cert.pem")


def test_without_warnings_the_receipt_is_as_before() -> None:
    root = etree.fromstring(build_receipt(FACTS))
    assert root.find(f"{R}Header/{R}Warnings") is None
    receipt_schema().assertValid(root)
    assert parse_receipt(root) == FACTS and parse_receipt(root).warnings == ()


def test_with_warnings_signed_valid_verified_and_read_back_byte_exact(
    signer: ReceiptSigner,
) -> None:
    signed = signer.sign(WARNED)
    root = etree.fromstring(signed)
    receipt_schema().assertValid(root)
    warnings = root.findall(f"{R}Header/{R}Warnings/{R}Warning")
    assert [w.get("code") for w in warnings] == [
        "edxml.impossible_date",
        "signature.legacy_algorithm",
        "pdf.unsigned",
    ]
    # Warnings sit before the signature, the last child of Header (the enveloped profile).
    header = root.find(f"{R}Header")
    assert header is not None and [c.tag for c in header][-2:] == [
        f"{R}Warnings",
        "{http://www.w3.org/2000/09/xmldsig#}Signature",
    ]
    verified = verify_enveloped(signed, RECEIPT_POLICY)
    assert parse_receipt(verified.signed_root) == WARNED  # Vietnamese path unchanged
    assert "Tờ trình số 7 — bản ký.pdf".encode() in signed

    tampered = signed.replace(b"signature.legacy_algorithm<", b"signature.legacy_algorithX<")
    with pytest.raises(SignatureInvalid):
        verify_enveloped(tampered, RECEIPT_POLICY)


def test_a_receipt_issued_before_warnings_still_verifies_and_parses(
    signer: ReceiptSigner,
) -> None:
    """What the hub signed before issue 10, built by hand from the old layout."""
    old = etree.Element(f"{R}Receipt", nsmap={None: RECEIPT_NS}, version="1")  # type: ignore[dict-item]
    header = etree.SubElement(old, f"{R}Header")
    for name, text in (
        ("PackageId", FACTS.package_id),
        ("Hub", FACTS.hub_id),
        ("From", FACTS.sender),
    ):
        etree.SubElement(header, f"{R}{name}").text = text
    recipients = etree.SubElement(header, f"{R}Recipients")
    for organ_id in FACTS.recipients:
        etree.SubElement(recipients, f"{R}OrganId").text = organ_id
    for name, text in (
        ("Kind", FACTS.kind),
        ("DocumentId", FACTS.document_id or ""),
        ("AcceptedAt", "2026-03-02T08:30:00.123456Z"),
        ("Sha256", FACTS.sha256),
        ("Size", str(FACTS.size)),
    ):
        etree.SubElement(header, f"{R}{name}").text = text
    data = etree.tostring(old, xml_declaration=True, encoding="UTF-8")
    assert data == build_receipt(FACTS)  # no warnings: byte for byte what it always was
    key, cert = signer.current()
    signed = sign_enveloped(data, key, cert, signature_parent=SIGNATURE_PARENT)
    receipt_schema().assertValid(etree.fromstring(signed))
    assert parse_receipt(verify_enveloped(signed, RECEIPT_POLICY).signed_root) == FACTS


@pytest.mark.parametrize(
    "change",
    ["empty list", "no code", "bad code", "out of order"],
)
def test_the_schema_refuses_malformed_warnings(change: str) -> None:
    root = etree.fromstring(build_receipt(WARNED))
    header = root.find(f"{R}Header")
    warnings = root.find(f"{R}Header/{R}Warnings")
    assert header is not None and warnings is not None
    first = warnings[0]
    if change == "empty list":
        for w in list(warnings):
            warnings.remove(w)
    elif change == "no code":
        del first.attrib["code"]
    elif change == "bad code":
        first.set("code", "Not A Code")
    else:
        header.remove(warnings)
        header.insert(0, copy.deepcopy(warnings))
    assert not receipt_schema().validate(root)


def test_xmlsec1_verifies_a_receipt_with_vietnamese_warnings(
    signer: ReceiptSigner, workdir: Workdir, xmlsec1: str, tmp_path: Path
) -> None:
    ok = xmlsec1_verify(
        xmlsec1, workdir.pki_dir / "ca.pem", signer.sign(WARNED), tmp_path / "receipt.xml"
    )
    assert ok.returncode == 0, ok.stderr
