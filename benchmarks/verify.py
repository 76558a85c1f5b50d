"""Micro-benchmark: strict enveloped verifies per second for a ~20 KB signed edXML package.

Run: .venv/bin/python benchmarks/verify.py [--seconds 2]
Prints verifies/s for RSA-2048 SHA-256 and EC P-256 SHA-256, from bytes (parse included,
the hub's hot path) and from an already parsed tree.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lxml import etree

from signing import SignaturePolicy, sign_enveloped, verify_enveloped
from signing.pki import create_ca, issue_certificate

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
E = "{" + NS + "}"
PARENT = (E + "edXML", E + "edXMLEnvelope", E + "edXMLHeader")


def package(size: int = 20_000) -> bytes:
    """An edXML-shaped package of about ``size`` bytes with Vietnamese text and base64."""
    to = "".join(
        f"<edXML:To><edXML:OrganId>000.00.{i:02d}.H41</edXML:OrganId>"
        f"<edXML:OrganName>UBND Tỉnh Nghệ An — đơn vị {i}</edXML:OrganName></edXML:To>"
        for i in range(10)
    )
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<edXML xmlns="{NS}"><edXML:edXMLEnvelope xmlns:edXML="{NS}"><edXML:edXMLHeader>'
        "<edXML:MessageHeader><edXML:From><edXML:OrganId>000.00.00.G22</edXML:OrganId>"
        "<edXML:OrganName>Văn phòng Chính phủ</edXML:OrganName></edXML:From>"
        f"{to}<edXML:Subject>Về việc cập nhật văn bản</edXML:Subject></edXML:MessageHeader>"
        "</edXML:edXMLHeader><edXML:edXMLBody/></edXML:edXMLEnvelope>"
        "<AttachmentEncoded><Attachment><ContentId>cid:1</ContentId>"
        '<edXML:ContentTransferEncoded xmlns:edXML="' + NS + '">'
    )
    tail = "</edXML:ContentTransferEncoded></Attachment></AttachmentEncoded></edXML>"
    filler = ("UEsDBBQACAgIAO2TPE0AAAAAAAAAAAAAAAAqAAAAM2VkM2NjOTAtMWRjYi00MzgyLTk3" * 1000)[
        : max(0, size - len((head + tail).encode()) - 1500)
    ]
    return (head + filler + tail).encode()


def rate(fn: object, seconds: float) -> float:
    call = fn  # type: ignore[assignment]
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(50):
            call()  # type: ignore[operator]
        n += 50
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    ca_key, ca = create_ca("bench CA")
    policy = SignaturePolicy(signature_parent=PARENT)
    doc = package()
    for key_type, label in (("rsa2048", "RSA-2048 SHA-256"), ("ec-p256", "EC P-256 SHA-256")):
        key, cert = issue_certificate(ca_key, ca, "bench", key_type=key_type)  # type: ignore[arg-type]
        signed = sign_enveloped(doc, key, cert, signature_parent=PARENT)
        tree = etree.fromstring(signed)
        from_bytes = rate(lambda s=signed: verify_enveloped(s, policy), args.seconds)
        from_tree = rate(lambda t=tree: verify_enveloped(t, policy), args.seconds)
        print(
            f"{label}: {len(signed)} bytes signed package: "
            f"{from_bytes:,.0f} verifies/s from bytes, {from_tree:,.0f} verifies/s from a tree"
        )


if __name__ == "__main__":
    main()
