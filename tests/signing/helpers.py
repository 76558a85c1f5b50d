"""Test-only tools to forge signature variants that are cryptographically valid.

The attacks must be refused for the *right* reason, so where an attack needs a valid
SignatureValue/DigestValue (legacy algorithms, for instance) this module recomputes them
with an independent little signer built straight on lxml and cryptography.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from lxml import etree

from signing.pki import PrivateKey

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
DS = "{" + DS_NS + "}"
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
C14N10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

_HASH: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
}


def parse(data: bytes) -> etree._Element:
    return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))


def dump(root: etree._Element) -> bytes:
    return etree.tostring(root.getroottree(), encoding="UTF-8", xml_declaration=True)


def signature_of(root: etree._Element) -> etree._Element:
    return next(root.iter(DS + "Signature"))


def resign(
    data: bytes,
    key: PrivateKey,
    *,
    signature_method: str,
    digest_method: str,
    hash_name: str,
    c14n_method: str = EXC,
    transforms: tuple[str, ...] = (ENVELOPED, EXC),
) -> bytes:
    """Rewrite the algorithms of the (single) ds:Signature and recompute both values."""
    root = parse(data)
    sig = signature_of(root)
    si = sig.find(DS + "SignedInfo")
    assert si is not None
    si.find(DS + "CanonicalizationMethod").set("Algorithm", c14n_method)  # type: ignore[union-attr]
    si.find(DS + "SignatureMethod").set("Algorithm", signature_method)  # type: ignore[union-attr]
    ref = si.find(DS + "Reference")
    assert ref is not None
    tr = ref.find(DS + "Transforms")
    assert tr is not None
    for t in list(tr):
        tr.remove(t)
    for alg in transforms:
        etree.SubElement(tr, DS + "Transform", Algorithm=alg)
    ref.find(DS + "DigestMethod").set("Algorithm", digest_method)  # type: ignore[union-attr]

    # Digest: the document without the Signature (no tail to care about: signatures made
    # by sign_enveloped have none).
    parent = sig.getparent()
    assert parent is not None and not (sig.tail or "").strip()
    index = parent.index(sig)
    parent.remove(sig)
    exclusive = transforms[-1] == EXC
    octets = etree.tostring(
        root.getroottree(), method="c14n", exclusive=exclusive, with_comments=False
    )
    parent.insert(index, sig)
    ref.find(DS + "DigestValue").text = base64.b64encode(  # type: ignore[union-attr]
        hashlib.new(hash_name, octets).digest()
    ).decode()

    si_octets = etree.tostring(si, method="c14n", exclusive=c14n_method == EXC, with_comments=False)
    algorithm = _HASH[hash_name]()
    if isinstance(key, rsa.RSAPrivateKey):
        value = key.sign(si_octets, padding.PKCS1v15(), algorithm)
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        r, s = decode_dss_signature(key.sign(si_octets, ec.ECDSA(algorithm)))
        n = (key.curve.key_size + 7) // 8
        value = r.to_bytes(n, "big") + s.to_bytes(n, "big")
    sig.find(DS + "SignatureValue").text = base64.b64encode(value).decode()  # type: ignore[union-attr]
    return dump(root)
