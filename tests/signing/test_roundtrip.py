"""Sign/verify round trips on the real edXML sample and on small documents."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree

from signing import (
    SignatureInvalid,
    SignatureMissing,
    SignaturePolicy,
    SignatureProfileViolation,
    sign_enveloped,
    verify_enveloped,
)
from signing.algorithms import (
    ECDSA_SHA256,
    ECDSA_SHA384,
    EXC_C14N,
    RSA_SHA256,
    RSA_SHA384,
    RSA_SHA512,
    SHA256,
    SHA384,
    SHA512,
)

from .conftest import EDXML_PARENT, DevPki, E, Signer
from .helpers import DS, parse

POLICY = SignaturePolicy(signature_parent=EDXML_PARENT)
SIMPLE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<doc xmlns="urn:example"><head><Subject>Quyết định số 7816</Subject></head></doc>'
).encode()
SIMPLE_PARENT = ("{urn:example}doc", "{urn:example}head")


def _cut_signature(signed: bytes) -> bytes:
    start = signed.index(b"<ds:Signature")
    end = signed.index(b"</ds:Signature>") + len(b"</ds:Signature>")
    return signed[:start] + signed[end:]


@pytest.mark.parametrize(
    ("signer_name", "digest", "method", "digest_uri"),
    [
        ("rsa", "sha256", RSA_SHA256, SHA256),
        ("rsa", "sha384", RSA_SHA384, SHA384),
        ("rsa", "sha512", RSA_SHA512, SHA512),
        ("ec256", "sha256", ECDSA_SHA256, SHA256),
        ("ec384", "sha384", ECDSA_SHA384, SHA384),
    ],
)
def test_round_trip_on_real_edxml(
    pki: DevPki, edoc_unsigned: bytes, signer_name: str, digest: str, method: str, digest_uri: str
) -> None:
    signer: Signer = getattr(pki, signer_name)
    signed = sign_enveloped(
        edoc_unsigned, signer.key, signer.cert, signature_parent=EDXML_PARENT, digest=digest
    )
    result = verify_enveloped(signed, POLICY)
    assert result.signature_method == method
    assert result.digest_method == digest_uri
    assert result.canonicalization == EXC_C14N
    assert result.legacy is False
    assert result.certificate == signer.cert
    der = signer.cert.public_bytes(serialization.Encoding.DER)
    assert result.fingerprint_sha256 == hashlib.sha256(der).hexdigest()
    # Everything but the inserted Signature is byte-for-byte the input (CRLF, Vietnamese).
    assert _cut_signature(signed) == edoc_unsigned
    # The signature is the last element child of edXMLHeader, in the XMLDSig namespace.
    header = parse(signed).find(f"{E}edXMLEnvelope/{E}edXMLHeader")
    assert header is not None and header[-1].tag == DS + "Signature"


def test_ec_signature_value_is_raw_r_s(pki: DevPki) -> None:
    signed = sign_enveloped(SIMPLE, pki.ec256.key, pki.ec256.cert, signature_parent=SIMPLE_PARENT)
    import base64

    value = parse(signed).find(f".//{DS}SignatureValue")
    assert value is not None and value.text is not None
    assert len(base64.b64decode(value.text)) == 64  # P-256: 32-byte r || 32-byte s, not DER


def test_vietnamese_text_reaches_signed_root(pki: DevPki, edoc_unsigned: bytes) -> None:
    signed = sign_enveloped(edoc_unsigned, pki.rsa.key, pki.rsa.cert, signature_parent=EDXML_PARENT)
    result = verify_enveloped(signed, POLICY)
    organ = result.signed_root.find(f".//{E}From/{E}OrganName")
    assert organ is not None and organ.text == "Văn phòng Chính phủ"
    # The signed view has no Signature in it: it is what the digest covered.
    assert next(result.signed_root.iter(DS + "Signature"), None) is None
    assert etree.tostring(result.signed_root, method="c14n", exclusive=True) == result.signed_xml


def test_original_sample_placeholder_is_refused_explicitly(edoc_sample: bytes) -> None:
    with pytest.raises(SignatureProfileViolation, match="not the XMLDSig namespace"):
        verify_enveloped(edoc_sample, POLICY)


def test_unsigned_package_is_missing(edoc_unsigned: bytes) -> None:
    with pytest.raises(SignatureMissing):
        verify_enveloped(edoc_unsigned, POLICY)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("Văn phòng Chính phủ".encode(), "Văn phòng Chính phu".encode()),  # one diacritic
        (b"000.00.00.H41", b"000.00.00.H42"),  # a recipient
        (b'<edXML:edXMLManifest version="1.0">', b'<edXML:edXMLManifest version="1.1">'),
        (b"UEsDBBQACAgIAO2TPE0", b"UEsDBBQACAgIAO2TPE1"),  # inside the attachment
    ],
)
def test_tampering_with_signed_content_is_invalid(
    pki: DevPki, edoc_unsigned: bytes, old: bytes, new: bytes
) -> None:
    signed = sign_enveloped(edoc_unsigned, pki.rsa.key, pki.rsa.cert, signature_parent=EDXML_PARENT)
    verify_enveloped(signed, POLICY)  # control
    assert old in signed
    with pytest.raises(SignatureInvalid, match="digest"):
        verify_enveloped(signed.replace(old, new, 1), POLICY)


def test_comment_splitting_a_signed_value_is_refused(pki: DevPki) -> None:
    """Comments are not signed (URI="" drops them).

    The classic attack turns ``<Subject>GoodEvil</Subject>`` into
    ``<Subject>Good<!-- -->Evil</Subject>``: the digest is unchanged so the signature
    still verifies, but a naive reader taking ``.text`` of the received tree sees "Good".
    The verifier refuses a comment (or PI) beside text inside an element.
    """
    doc = (
        b'<?xml version="1.0" encoding="UTF-8"?><doc xmlns="urn:example"><head>'
        b"<Subject>admin@evil.example.good.example</Subject></head></doc>"
    )
    policy = SignaturePolicy(signature_parent=SIMPLE_PARENT)
    signed = sign_enveloped(doc, pki.rsa.key, pki.rsa.cert, signature_parent=SIMPLE_PARENT)
    verify_enveloped(signed, policy)  # control
    for spliced in (
        signed.replace(b"admin@evil.example", b"admin@evil.example<!-- -->", 1),
        signed.replace(b"<Subject>", b"<Subject><!-- x -->", 1),
        signed.replace(b"admin@evil.example", b"admin@evil.example<?pi x?>", 1),
    ):
        with pytest.raises(SignatureProfileViolation, match="splits the text"):
            verify_enveloped(spliced, policy)


def test_comments_between_elements_are_allowed_and_absent_from_signed_root(
    pki: DevPki,
) -> None:
    """A comment standing between elements (real SDK packages have them) is harmless: it is
    not signed, and signed_root, re-parsed from the canonical bytes, does not carry it."""
    doc = (
        b'<?xml version="1.0" encoding="UTF-8"?><doc xmlns="urn:example"><head>'
        b"<Subject>admin@good.example</Subject></head></doc>"
    )
    signed = sign_enveloped(doc, pki.rsa.key, pki.rsa.cert, signature_parent=SIMPLE_PARENT)
    commented = signed.replace(b"<Subject>", b"<!-- note --><Subject>", 1)
    result = verify_enveloped(commented, SignaturePolicy(signature_parent=SIMPLE_PARENT))
    subject = result.signed_root.find("{urn:example}head/{urn:example}Subject")
    assert subject is not None and subject.text == "admin@good.example"
    assert not any(isinstance(n, etree._Comment) for n in result.signed_root.iter())
    assert b"<!--" not in result.signed_xml


def test_verify_accepts_an_element_and_leaves_it_untouched(
    pki: DevPki, edoc_unsigned: bytes
) -> None:
    signed = sign_enveloped(
        edoc_unsigned, pki.ec256.key, pki.ec256.cert, signature_parent=EDXML_PARENT
    )
    root = parse(signed)
    before = etree.tostring(root.getroottree())
    result = verify_enveloped(root, POLICY)
    assert etree.tostring(root.getroottree()) == before
    assert result.certificate == pki.ec256.cert
    # Verifying twice from the same tree works (the Signature was put back in place).
    verify_enveloped(root, POLICY)


def test_signature_tail_text_is_part_of_the_parent(pki: DevPki) -> None:
    """Whitespace after the Signature stays in the document (only the element is removed)."""
    signed = sign_enveloped(SIMPLE, pki.rsa.key, pki.rsa.cert, signature_parent=SIMPLE_PARENT)
    policy = SignaturePolicy(signature_parent=SIMPLE_PARENT)
    root = parse(signed)
    root[0][-1].tail = "\n  "
    with pytest.raises(SignatureInvalid):  # the tail is signed content: adding it is a change
        verify_enveloped(root, policy)
    assert root[0][-1].tail == "\n  "  # and the caller's tree is restored, tail included


def test_sign_accepts_element_input_and_refuses_a_second_signature(pki: DevPki) -> None:
    signed = sign_enveloped(
        parse(SIMPLE), pki.rsa.key, pki.rsa.cert, signature_parent=SIMPLE_PARENT
    )
    verify_enveloped(signed, SignaturePolicy(signature_parent=SIMPLE_PARENT))
    with pytest.raises(SignatureProfileViolation, match="already"):
        sign_enveloped(signed, pki.rsa.key, pki.rsa.cert, signature_parent=SIMPLE_PARENT)


def test_sign_refuses_the_placeholder_and_a_mismatched_key(pki: DevPki, edoc_sample: bytes) -> None:
    with pytest.raises(SignatureProfileViolation, match="already sits"):
        sign_enveloped(edoc_sample, pki.rsa.key, pki.rsa.cert, signature_parent=EDXML_PARENT)
    with pytest.raises(ValueError, match="does not match"):
        sign_enveloped(SIMPLE, pki.rsa.key, pki.ec256.cert, signature_parent=SIMPLE_PARENT)
    with pytest.raises(ValueError, match="digest"):
        sign_enveloped(
            SIMPLE, pki.rsa.key, pki.rsa.cert, signature_parent=SIMPLE_PARENT, digest="sha1"
        )


def test_sign_adds_a_declaration_and_handles_an_empty_parent(pki: DevPki) -> None:
    doc = b'<doc xmlns="urn:example"><head/></doc>'
    signed = sign_enveloped(doc, pki.ec256.key, pki.ec256.cert, signature_parent=SIMPLE_PARENT)
    assert signed.startswith(b"<?xml")
    verify_enveloped(signed, SignaturePolicy(signature_parent=SIMPLE_PARENT))
