"""Large texts spliced into the canonical form (``_digest_spliced``, issue 10): the digest
and ``signed_root`` are exactly those of libxml2's canonicalisation, refusals unchanged."""

from __future__ import annotations

import pytest
from lxml import etree

import signing.xmldsig as xmldsig
from signing import SignatureInvalid, SignaturePolicy, sign_enveloped, verify_enveloped

from .conftest import EDXML_PARENT, DevPki

PARENT = ("{urn:example}doc", "{urn:example}head")
POLICY = SignaturePolicy(signature_parent=PARENT)
# Every character C14N escapes in text, Vietnamese text, CR from a character reference, and a
# element holding only a comment (not spliced: the text is not its only content).
DOC = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<?xml-stylesheet href="s.xsl"?>\n'
    '<doc xmlns="urn:example" xmlns:x="urn:x"><head><Subject>Quyết định</Subject></head>'
    "<body><Data>a&amp;b&lt;c&gt;d&#13;\ne\"f'g Hà Nội</Data><x:Empty/>"
    "<Mixed><!-- c --></Mixed><Long>" + "QUJD" * 3000 + "</Long></body></doc>"
).encode()


@pytest.fixture
def spliced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Splice every text of 5 characters or more."""
    monkeypatch.setattr(xmldsig, "_SPLICE_MIN", 5)


def _parse(data: bytes) -> etree._Element:
    return etree.fromstring(data, etree.XMLParser(huge_tree=True))


@pytest.mark.usefixtures("spliced")
def test_spliced_digest_and_tree_equal_libxml2s(pki: DevPki) -> None:
    signed = sign_enveloped(DOC, pki.rsa.key, pki.rsa.cert, signature_parent=PARENT)
    plain = verify_enveloped(_parse(signed), POLICY)  # caller's tree: libxml2's C14N
    received = _parse(signed)
    spliced = verify_enveloped(received, POLICY, consume=True)
    assert spliced.signed_xml == plain.signed_xml
    assert etree.tostring(spliced.signed_root) == etree.tostring(plain.signed_root)
    assert len(received) == 0 and received.text is None  # the consumed tree is emptied
    owned = verify_enveloped(signed, POLICY)  # bytes: parsed here, spliced too
    assert owned.signed_xml == plain.signed_xml


@pytest.mark.usefixtures("spliced")
def test_spliced_real_edxml(pki: DevPki, edoc_unsigned: bytes) -> None:
    signed = sign_enveloped(edoc_unsigned, pki.rsa.key, pki.rsa.cert, signature_parent=EDXML_PARENT)
    policy = SignaturePolicy(signature_parent=EDXML_PARENT)
    plain = verify_enveloped(_parse(signed), policy)
    spliced = verify_enveloped(_parse(signed), policy, consume=True)
    assert spliced.signed_xml == plain.signed_xml


@pytest.mark.usefixtures("spliced")
@pytest.mark.parametrize(
    ("old", "new"),
    [(b"QUJDQUJD", b"QUJDQUJE"), (b"a&amp;b", b"a&amp;c"), (b"&#13;", b"&#10;")],
)
def test_spliced_text_tampering_is_refused(pki: DevPki, old: bytes, new: bytes) -> None:
    signed = sign_enveloped(DOC, pki.rsa.key, pki.rsa.cert, signature_parent=PARENT)
    tampered = signed.replace(old, new, 1)
    assert tampered != signed
    with pytest.raises(SignatureInvalid, match="digest does not match"):
        verify_enveloped(_parse(tampered), POLICY, consume=True)
