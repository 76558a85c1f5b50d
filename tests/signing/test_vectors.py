"""Every third-party XMLDSig vector and XML attack is refused with its expected code.

The vectors are valid or invalid as XMLDSig, but the hub's profile is one enveloped
signature over the whole document (URI="", exc-c14n, X509 certificate). Run with a
generic policy whose signature_parent is the document element of each file, none may be
accepted and none may crash with anything but a SigningError. The table gives the code
per file; the comment says why.
"""

from __future__ import annotations

import io
import re

import pytest
from lxml import etree

from signing import SignaturePolicy, SigningError, verify_enveloped

from .conftest import TESTDATA

XMLDSIG = TESTDATA / "xmldsig"
PROFILE = "signature.profile"
ALGO = "signature.algorithm_forbidden"
UNSAFE = "signature.unsafe_xml"
MISSING = "signature.missing"
INVALID = "signature.invalid"

# Enveloping signatures: the ds:Signature is the document element (profile), whatever
# their algorithm (HMAC, DSA, MD5, ECDSA…). Listed by pattern, expanded per file below.
_ENVELOPING_PATTERNS = [
    r"interop/TR2012/signature-enveloping-.*\.xml",
    r"interop/aleksey-xmldsig-01/enveloping-.*\.xml",
    r"interop/enveloping-rsa-x509chain\.xml",
    r"interop/merlin-xmldsig-twenty-three/signature-(enveloping|external)-.*\.xml",
    r"interop/merlin-xmldsig-twenty-three/signature-(keyname|retrievalmethod-rawx509crt)\.xml",
    r"interop/merlin-xmldsig-twenty-three/signature-x509-(crt|crt-crl|is|ski|sn)\.xml",
    r"interop/phaos-xmldsig-three/signature-(big|dsa-detached|dsa-enveloping|dsa-manifest)\.xml",
    r"interop/phaos-xmldsig-three/signature-hmac-.*-(detached|enveloping)\.xml",
    r"interop/phaos-xmldsig-three/signature-rsa-(detached|enveloping|manifest).*\.xml",
]

# Explicit codes for every other file.
EXPECTED: dict[str, str] = {
    # defusedxml: DOCTYPE/entity attacks refused before parsing; benign controls unsigned.
    "defusedxml-test-data/cyclic.xml": UNSAFE,
    "defusedxml-test-data/dtd.xml": UNSAFE,
    "defusedxml-test-data/external.xml": UNSAFE,
    "defusedxml-test-data/external_file.xml": UNSAFE,
    "defusedxml-test-data/quadratic.xml": UNSAFE,
    "defusedxml-test-data/xmlbomb.xml": UNSAFE,
    "defusedxml-test-data/xmlbomb2.xml": UNSAFE,
    "defusedxml-test-data/simple.xml": MISSING,
    "defusedxml-test-data/simple-ns.xml": MISSING,
    # aleksey enveloped (URI="#parent", C14N 1.1): Signature not the last child of the root.
    **{
        f"interop/aleksey-xmldsig-01-enveloped/enveloped-sha256-rsa-sha256-test-{i}.xml": PROFILE
        for i in range(1, 9)
    },
    # Enveloping variant of the invalid-transform vector: profile before anything else.
    "interop/aleksey-xmldsig-01-enveloped/invalid_enveloped_transform.xml": PROFILE,
    # XPath filter 2.0 transform instead of enveloped-signature.
    "interop/aleksey-xmldsig-01/x509data-test.xml": PROFILE,
    "interop/aleksey-xmldsig-01/x509data-sn-test.xml": PROFILE,
    # Internal DTD (ID attribute declaration) in the input.
    "interop/aleksey-xmldsig-01/xpointer-hmac.xml": UNSAFE,
    "interop/merlin-xmldsig-twenty-three/signature.xml": UNSAFE,
    # Enveloped DSA with a bare KeyValue: KeyInfo must be an X509Data.
    "interop/merlin-xmldsig-twenty-three/signature-enveloped-dsa.xml": PROFILE,
    # Documents referenced by detached signatures: no signature at all.
    "interop/phaos-xmldsig-three/document.xml": MISSING,
    "interop/phaos-xmldsig-three/document-stylesheet.xml": MISSING,
    # Enveloped, URI="", but inclusive C14N 1.0 + SHA-1 (legacy) and DSA / 1024-bit RSA.
    "interop/phaos-xmldsig-three/signature-dsa-enveloped.xml": ALGO,
    "interop/phaos-xmldsig-three/signature-rsa-enveloped.xml": ALGO,
    "interop/phaos-xmldsig-three/signature-rsa-enveloped-bad-digest-val.xml": ALGO,
    # Two References in SignedInfo.
    "interop/phaos-xmldsig-three/signature-rsa-enveloped-bad-sig.xml": PROFILE,
    # XPath transform.
    "interop/phaos-xmldsig-three/signature-rsa-xpath-transform-enveloped.xml": PROFILE,
    # Enveloped HMAC without KeyInfo: structure fails first.
    "interop/phaos-xmldsig-three/signature-hmac-sha1-exclusive-c14n-enveloped.xml": PROFILE,
    # Detached XSLT with RetrievalMethod in KeyInfo.
    "interop/phaos-xmldsig-three/"
    "signature-rsa-detached-xslt-transform-bad-retrieval-method.xml": PROFILE,
    # WS-Security: the Signature sits in the SOAP header, not as last child of the Envelope.
    "interop/ws-security/ws.js/test/unit/client/files/valid wss resp.xml": PROFILE,
    "interop/ws-security/ws.js/test/unit/client/files/"
    "invalid wss resp - changed content.xml": PROFILE,
    # SAML / metadata: Signature by Id reference, not the last child of the document element.
    "interop/xml-crypto/signature_with_inclusivenamespaces.xml": PROFILE,
    "interop/xml-crypto/wsfederation_metadata.xml": PROFILE,
    # No KeyInfo at all.
    "interop/xml-crypto/windows_store_signature.xml": PROFILE,
}


def _all_vectors() -> list[str]:
    return sorted(p.relative_to(XMLDSIG).as_posix() for p in XMLDSIG.rglob("*.xml"))


def _expected(name: str) -> str:
    if name in EXPECTED:
        return EXPECTED[name]
    if any(re.fullmatch(pattern, name) for pattern in _ENVELOPING_PATTERNS):
        return PROFILE
    raise AssertionError(f"no expected code for {name}: add it to the table")


def _root_tag(data: bytes) -> str:
    """The document element's tag, found without ever letting a DTD be processed."""
    for _event, element in etree.iterparse(
        io.BytesIO(data),
        events=("start",),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    ):
        return str(element.tag)
    raise AssertionError("empty document")


def test_every_vector_has_an_expected_code() -> None:
    names = _all_vectors()
    assert len(names) > 100
    for name in names:
        _expected(name)
    # The table has no stale entries.
    assert set(EXPECTED) <= set(names)


@pytest.mark.parametrize("name", _all_vectors())
def test_vector_is_refused_with_its_code(name: str) -> None:
    data = (XMLDSIG / name).read_bytes()
    try:
        tag = _root_tag(data)
    except etree.XMLSyntaxError:
        tag = "unparsable"  # the DOCTYPE attacks: verify refuses them before parsing anyway
    policy = SignaturePolicy(signature_parent=(tag,))
    with pytest.raises(SigningError) as info:
        verify_enveloped(data, policy)
    assert info.value.code == _expected(name), info.value.detail


# ------------------------------------------------------- primitives against real vectors

PHAOS = XMLDSIG / "interop" / "phaos-xmldsig-three"
# The phaos enveloped RSA vector is inside the profile except for its legacy algorithms
# (C14N 1.0, RSA-SHA1, SHA-1, the enveloped transform alone) and its 1024-bit key. With
# those admitted it must verify: our inclusive c14n, digest and RSA agree with Phaos'.
PHAOS_POLICY = SignaturePolicy(signature_parent=("player",), allow_legacy=True, min_rsa_bits=1024)


def test_primitives_agree_with_phaos_enveloped_vector() -> None:
    result = verify_enveloped((PHAOS / "signature-rsa-enveloped.xml").read_bytes(), PHAOS_POLICY)
    assert result.legacy is True
    assert b"<!--" not in result.signed_xml  # URI="" drops the vector's comment
    name = result.signed_root.find("name")
    assert name is not None and name.text == "Alfonso Soriano"
    assert "Test Client (RSA)" in result.certificate.subject.rfc4514_string()


@pytest.mark.parametrize(
    "name", ["signature-rsa-enveloped-bad-digest-val.xml", "signature-rsa-enveloped-bad-sig.xml"]
)
def test_phaos_invalid_vectors_fail_also_under_legacy(name: str) -> None:
    with pytest.raises(SigningError) as info:
        verify_enveloped((PHAOS / name).read_bytes(), PHAOS_POLICY)
    # bad-digest-val: its SignedInfo no longer matches the SignatureValue; bad-sig: a
    # second Reference that the profile refuses before any crypto.
    assert info.value.code == (INVALID if "digest" in name else PROFILE)
