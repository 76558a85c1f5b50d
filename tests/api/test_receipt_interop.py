"""Receipts the hub signs verify with xmlsec1, an independent XMLDSig implementation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lxml import etree

from hub.demo.factory import Signer, document
from hub.edxml import Organ
from hub.receipts import receipt_schema
from tests.api.conftest import RunningHub, xmlsec1_verify


async def test_receipt_verifies_with_xmlsec1_and_matches_its_schema(
    hub: RunningHub, signers: Callable[[str], Signer], xmlsec1: str, tmp_path: Path
) -> None:
    _, data = document(signers("000.00.00.G22"), [Organ(organ_id="000.00.00.H41")], number=3)
    submitted = await (await hub.client("000.00.00.G22")).submit(data)
    receipt_schema().assertValid(etree.fromstring(submitted.receipt))

    ca = hub.workdir.pki_dir / "ca.pem"
    ok = xmlsec1_verify(xmlsec1, ca, submitted.receipt, tmp_path / "receipt.xml")
    assert ok.returncode == 0, ok.stderr

    forged = submitted.receipt.replace(b"000.00.00.H41", b"000.00.00.H14", 1)
    bad = xmlsec1_verify(xmlsec1, ca, forged, tmp_path / "tampered.xml")
    assert bad.returncode != 0
