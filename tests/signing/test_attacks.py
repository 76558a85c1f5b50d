"""Attacks on the enveloped profile: each refused with its specific code beside a control."""

from __future__ import annotations

import copy

import pytest
from lxml import etree

from signing import (
    AlgorithmForbidden,
    SignatureInvalid,
    SignaturePolicy,
    SignatureProfileViolation,
    SigningError,
    UnsafeXml,
    sign_enveloped,
    verify_enveloped,
)
from signing.algorithms import HMAC_SHA1, RSA_SHA1, RSA_SHA256, SHA1, SHA256, XPATH, XSLT

from .conftest import EDXML_PARENT, DevPki, E
from .helpers import C14N10, DS, ENVELOPED, dump, parse, resign, signature_of

POLICY = SignaturePolicy(signature_parent=EDXML_PARENT)
LEGACY = SignaturePolicy(signature_parent=EDXML_PARENT, allow_legacy=True)


@pytest.fixture(scope="module")
def signed(pki: DevPki, edoc_unsigned: bytes) -> bytes:
    out = sign_enveloped(edoc_unsigned, pki.rsa.key, pki.rsa.cert, signature_parent=EDXML_PARENT)
    verify_enveloped(out, POLICY)  # the control every attack below is derived from
    return out


def _header(root: etree._Element) -> etree._Element:
    header = root.find(f"{E}edXMLEnvelope/{E}edXMLHeader")
    assert header is not None
    return header


def _refused(
    data: bytes | etree._Element, code: type[SigningError], policy: SignaturePolicy = POLICY
) -> str:
    with pytest.raises(code) as info:
        verify_enveloped(data, policy)
    assert info.value.code == code.code
    return info.value.detail


# ------------------------------------------------------------------ wrapping & placement


def test_wrapping_a_second_fake_header_is_profile(signed: bytes) -> None:
    root = parse(signed)
    envelope = root.find(f"{E}edXMLEnvelope")
    assert envelope is not None
    fake = copy.deepcopy(_header(root))
    fake.remove(signature_of(fake))
    fake.find(f".//{E}Subject").text = "Evil"  # type: ignore[union-attr]
    envelope.insert(0, fake)  # evil header first, the genuine signed one second
    assert "exactly one" in _refused(dump(root), SignatureProfileViolation)


def test_wrapping_signed_header_moved_into_a_wrapper_is_invalid(signed: bytes) -> None:
    """Evil header in place with the genuine Signature; genuine header hidden in the body."""
    root = parse(signed)
    envelope = root.find(f"{E}edXMLEnvelope")
    assert envelope is not None
    genuine = _header(root)
    signature = signature_of(root)
    evil = copy.deepcopy(genuine)
    evil.remove(signature_of(evil))
    evil.find(f".//{E}Subject").text = "Evil"  # type: ignore[union-attr]
    evil.append(signature)  # the genuine signature, at the expected place
    envelope.replace(genuine, evil)
    wrapper = etree.SubElement(root.find(f"{E}edXMLEnvelope/{E}edXMLBody"), "{urn:x}Wrapper")  # type: ignore[arg-type]
    wrapper.append(genuine)
    # URI="" covers the whole document, so hiding the original anywhere changes the digest.
    _refused(dump(root), SignatureInvalid)


def test_second_signature_is_profile(signed: bytes) -> None:
    root = parse(signed)
    body = root.find(f"{E}edXMLEnvelope/{E}edXMLBody")
    assert body is not None
    body.append(copy.deepcopy(signature_of(root)))
    assert "exactly one" in _refused(dump(root), SignatureProfileViolation)


def test_signature_not_last_child_is_profile(signed: bytes) -> None:
    root = parse(signed)
    etree.SubElement(_header(root), f"{E}Extra")
    assert "last element child" in _refused(dump(root), SignatureProfileViolation)


def test_signature_under_wrong_parent_is_profile(signed: bytes) -> None:
    root = parse(signed)
    envelope = root.find(f"{E}edXMLEnvelope")
    assert envelope is not None
    envelope.append(signature_of(root))
    _refused(dump(root), SignatureProfileViolation)


def test_signature_as_root_is_profile(signed: bytes) -> None:
    sig = etree.tostring(copy.deepcopy(signature_of(parse(signed))))
    policy = SignaturePolicy(signature_parent=(DS + "Signature",))
    assert "enveloping" in _refused(sig, SignatureProfileViolation, policy)


# -------------------------------------------------------------------- SignedInfo profile


def _mutate(signed: bytes, xpath: str, change: object) -> bytes:
    root = parse(signed)
    found = root.xpath(xpath, namespaces={"ds": DS[1:-1]})
    assert isinstance(found, list) and len(found) == 1 and isinstance(found[0], etree._Element)
    change(found[0])  # type: ignore[operator]
    return dump(root)


def test_reference_by_id_is_profile(signed: bytes) -> None:
    data = _mutate(signed, "//ds:Reference", lambda r: r.set("URI", "#x"))
    assert 'URI must be ""' in _refused(data, SignatureProfileViolation)


def test_reference_without_uri_is_profile(signed: bytes) -> None:
    data = _mutate(signed, "//ds:Reference", lambda r: r.attrib.pop("URI"))
    _refused(data, SignatureProfileViolation)


def test_reference_type_is_profile(signed: bytes) -> None:
    data = _mutate(signed, "//ds:Reference", lambda r: r.set("Type", DS[1:-1] + "Object"))
    _refused(data, SignatureProfileViolation)


def test_second_reference_is_profile(signed: bytes) -> None:
    data = _mutate(signed, "//ds:SignedInfo", lambda si: si.append(copy.deepcopy(si[-1])))
    _refused(data, SignatureProfileViolation)


@pytest.mark.parametrize("algorithm", [XPATH, XSLT])
def test_xpath_and_xslt_transforms_are_profile(signed: bytes, algorithm: str) -> None:
    def add(transforms: etree._Element) -> None:
        t = etree.SubElement(transforms, DS + "Transform", Algorithm=algorithm)
        if algorithm == XPATH:
            etree.SubElement(t, DS + "XPath").text = "not(ancestor-or-self::ds:Signature)"

    data = _mutate(signed, "//ds:Transforms", add)
    assert "Transforms" in _refused(data, SignatureProfileViolation)


def test_transform_replacing_exc_c14n_is_profile(signed: bytes) -> None:
    data = _mutate(signed, "//ds:Transforms/ds:Transform[2]", lambda t: t.set("Algorithm", XPATH))
    _refused(data, SignatureProfileViolation)


def test_object_is_profile(signed: bytes) -> None:
    data = _mutate(
        signed,
        "//ds:Signature",
        lambda s: etree.SubElement(s, DS + "Object").append(etree.Element(DS + "Foo")),
    )
    assert "Object" in _refused(data, SignatureProfileViolation)


def test_manifest_is_profile(signed: bytes) -> None:
    def add(sig: etree._Element) -> None:
        obj = etree.SubElement(sig, DS + "Object")
        manifest = etree.SubElement(obj, DS + "Manifest")
        reference = sig.find(f"{DS}SignedInfo/{DS}Reference")
        assert reference is not None
        manifest.append(copy.deepcopy(reference))

    _refused(_mutate(signed, "//ds:Signature", add), SignatureProfileViolation)


def test_retrieval_method_is_profile(signed: bytes) -> None:
    def add(key_info: etree._Element) -> None:
        etree.SubElement(key_info, DS + "RetrievalMethod", URI="http://attacker.example/cert")

    assert "RetrievalMethod" in _refused(
        _mutate(signed, "//ds:KeyInfo", add), SignatureProfileViolation
    )


def test_keyname_only_keyinfo_is_profile(signed: bytes) -> None:
    def swap(key_info: etree._Element) -> None:
        for child in list(key_info):
            key_info.remove(child)
        etree.SubElement(key_info, DS + "KeyName").text = "vpcp"

    _refused(_mutate(signed, "//ds:KeyInfo", swap), SignatureProfileViolation)


def test_placeholder_in_edxml_namespace_is_profile_even_when_signed_elsewhere(
    pki: DevPki, edoc_sample: bytes
) -> None:
    """The kit's default-namespace Signature is not a signature: explicit profile refusal."""
    detail = _refused(edoc_sample, SignatureProfileViolation)
    assert "placeholder" in detail


# ------------------------------------------------------------------------- algorithms


def test_hmac_is_algorithm_forbidden(signed: bytes) -> None:
    data = _mutate(signed, "//ds:SignatureMethod", lambda m: m.set("Algorithm", HMAC_SHA1))
    assert "HMAC" in _refused(data, AlgorithmForbidden)


def test_sha1_needs_the_legacy_flag(pki: DevPki, signed: bytes) -> None:
    legacy = resign(
        signed, pki.rsa.key, signature_method=RSA_SHA1, digest_method=SHA1, hash_name="sha1"
    )
    _refused(legacy, AlgorithmForbidden)
    result = verify_enveloped(legacy, LEGACY)
    assert result.legacy is True
    assert result.signature_method == RSA_SHA1 and result.digest_method == SHA1


def test_sha1_digest_alone_needs_the_legacy_flag(pki: DevPki, signed: bytes) -> None:
    data = resign(
        signed, pki.rsa.key, signature_method=RSA_SHA256, digest_method=SHA1, hash_name="sha1"
    )
    _refused(data, AlgorithmForbidden)


def test_inclusive_c14n_needs_the_legacy_flag(pki: DevPki, signed: bytes) -> None:
    # The real samples' placeholders declare C14N 1.0 for SignedInfo: accepted only as legacy.
    data = resign(
        signed,
        pki.rsa.key,
        signature_method=RSA_SHA256,
        digest_method=SHA256,
        hash_name="sha256",
        c14n_method=C14N10,
    )
    assert "legacy" in _refused(data, AlgorithmForbidden)
    assert verify_enveloped(data, LEGACY).legacy is True


@pytest.mark.parametrize("transforms", [(ENVELOPED, C14N10), (ENVELOPED,)])
def test_inclusive_reference_transforms_need_the_legacy_flag(
    pki: DevPki, signed: bytes, transforms: tuple[str, ...]
) -> None:
    data = resign(
        signed,
        pki.rsa.key,
        signature_method=RSA_SHA256,
        digest_method=SHA256,
        hash_name="sha256",
        transforms=transforms,
    )
    _refused(data, AlgorithmForbidden)
    result = verify_enveloped(data, LEGACY)
    assert result.legacy is True
    # In inclusive mode the signed bytes carry the in-scope namespace declarations.
    assert result.signed_xml.startswith(b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">')


def test_legacy_flag_still_checks_the_crypto(pki: DevPki, signed: bytes) -> None:
    legacy = resign(
        signed, pki.rsa.key, signature_method=RSA_SHA1, digest_method=SHA1, hash_name="sha1"
    )
    _refused(legacy.replace(b"H41", b"H42", 1), SignatureInvalid, LEGACY)


# --------------------------------------------------------------------------- crypto


def test_key_substitution_is_invalid(pki: DevPki, signed: bytes) -> None:
    import base64

    from cryptography.hazmat.primitives import serialization

    other = base64.b64encode(pki.rsa_other.cert.public_bytes(serialization.Encoding.DER)).decode()
    data = _mutate(signed, "//ds:X509Certificate", lambda c: setattr(c, "text", other))
    assert "SignatureValue" in _refused(data, SignatureInvalid)


def test_ec_certificate_for_rsa_method_is_invalid(pki: DevPki, signed: bytes) -> None:
    import base64

    from cryptography.hazmat.primitives import serialization

    ec_cert = base64.b64encode(pki.ec256.cert.public_bytes(serialization.Encoding.DER)).decode()
    data = _mutate(signed, "//ds:X509Certificate", lambda c: setattr(c, "text", ec_cert))
    _refused(data, SignatureInvalid)


def test_garbage_certificate_and_values_are_invalid(signed: bytes) -> None:
    _refused(
        _mutate(signed, "//ds:X509Certificate", lambda c: setattr(c, "text", "AAAA")),
        SignatureInvalid,
    )
    _refused(
        _mutate(signed, "//ds:SignatureValue", lambda c: setattr(c, "text", "not base64!")),
        SignatureInvalid,
    )
    _refused(
        _mutate(signed, "//ds:DigestValue", lambda c: setattr(c, "text", "AAAA")), SignatureInvalid
    )


def test_wrapped_base64_is_accepted(signed: bytes) -> None:
    def wrap(el: etree._Element) -> None:
        text = el.text or ""
        el.text = "\r\n".join(text[i : i + 64] for i in range(0, len(text), 64)) + "\n"

    data = _mutate(signed, "//ds:X509Certificate", wrap)
    data = _mutate(data, "//ds:SignatureValue", wrap)
    verify_enveloped(data, POLICY)


# ---------------------------------------------------------------------- unsafe bytes


def test_doctype_is_refused_before_parsing(signed: bytes) -> None:
    evil = signed.replace(b"?>", b'?><!DOCTYPE edXML [<!ENTITY x SYSTEM "file:///etc/passwd">]>', 1)
    assert "DOCTYPE" in _refused(evil, UnsafeXml)


def test_non_utf8_declaration_is_refused(signed: bytes) -> None:
    _refused(signed.replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"', 1), UnsafeXml)
    _refused(signed.decode().encode("utf-16"), UnsafeXml)


def test_malformed_bytes_are_refused_with_position() -> None:
    assert "line" in _refused(b"<edXML><unclosed></edXML>", UnsafeXml)


def test_oversized_document_is_refused(signed: bytes) -> None:
    small = SignaturePolicy(signature_parent=EDXML_PARENT, max_document_bytes=1000)
    _refused(signed, UnsafeXml, small)


def test_stray_text_inside_signature_is_profile(signed: bytes) -> None:
    data = _mutate(signed, "//ds:SignedInfo", lambda si: setattr(si[0], "tail", "junk"))
    _refused(data, SignatureProfileViolation)
