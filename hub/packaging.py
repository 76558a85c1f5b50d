"""Sender-side helpers: sign an edXML package with the hub's profile.

Used by agencies' connectors, the demo and ``hub sign``. The hub itself never signs packages
(it only signs receipts) and never holds an agency's private key.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from lxml import etree

from hub.edxml.schema import EDXML_NS, SIGNATURE_PARENT
from hub.xmlsafe import parse_xml
from signing import sign_enveloped
from signing.pki import PrivateKey

PLACEHOLDER_SIGNATURE = f"{{{EDXML_NS}}}Signature"


def strip_placeholder_signature(data: bytes) -> bytes:
    """Remove the edXML-namespace ``Signature`` placeholder some SDKs write (re-serialises)."""
    root = parse_xml(data)
    header = root.find("/".join(SIGNATURE_PARENT[1:]))
    if header is None:
        return data
    removed = False
    for child in list(header):
        if child.tag == PLACEHOLDER_SIGNATURE:
            tail = child.tail
            prev = child.getprevious()
            header.remove(child)
            if prev is not None:
                prev.tail = tail
            removed = True
    if not removed:
        return data
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def sign_package(
    data: bytes,
    key: PrivateKey,
    certificate: x509.Certificate,
    *,
    replace_placeholder: bool = False,
) -> bytes:
    """Sign an edXML package: one ``ds:Signature``, the last child of ``edXMLHeader``."""
    if not isinstance(key, RSAPrivateKey | EllipticCurvePrivateKey):
        raise ValueError("agency keys are RSA or EC")
    if replace_placeholder:
        data = strip_placeholder_signature(data)
    return sign_enveloped(data, key, certificate, signature_parent=SIGNATURE_PARENT)
