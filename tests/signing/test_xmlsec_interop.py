"""Interop with xmlsec1 (an independent XMLDSig implementation), both ways, on the real sample."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from signing import (
    AlgorithmForbidden,
    SignatureInvalid,
    SignaturePolicy,
    sign_enveloped,
    verify_enveloped,
)
from signing.pki import save_certificate, save_private_key

from .conftest import EDXML_PARENT, DevPki, Signer

POLICY = SignaturePolicy(signature_parent=EDXML_PARENT)
END_HEADER = b"</edXML:edXMLHeader>"


def _template(
    unsigned: bytes,
    signature_method: str,
    *,
    c14n: str = "http://www.w3.org/2001/10/xml-exc-c14n#",
    digest: str = "http://www.w3.org/2001/04/xmlenc#sha256",
) -> bytes:
    """The sample with an empty enveloped Signature template where real packages carry it."""
    tmpl = (
        '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
        "<ds:SignedInfo>"
        f'<ds:CanonicalizationMethod Algorithm="{c14n}"/>'
        f'<ds:SignatureMethod Algorithm="{signature_method}"/>'
        '<ds:Reference URI="">'
        "<ds:Transforms>"
        '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
        '<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
        "</ds:Transforms>"
        f'<ds:DigestMethod Algorithm="{digest}"/>'
        "<ds:DigestValue/>"
        "</ds:Reference>"
        "</ds:SignedInfo>"
        "<ds:SignatureValue/>"
        "<ds:KeyInfo><ds:X509Data/></ds:KeyInfo>"
        "</ds:Signature>"
    ).encode()
    assert unsigned.count(END_HEADER) == 1
    return unsigned.replace(END_HEADER, tmpl + END_HEADER)


def _xmlsec_sign(xmlsec1: str, tmp_path: Path, signer: Signer, template: bytes) -> bytes:
    key, cert = _write_signer(tmp_path, signer)
    tmpl, out = tmp_path / "tmpl.xml", tmp_path / "out.xml"
    tmpl.write_bytes(template)
    proc = subprocess.run(
        [xmlsec1, "--sign", "--privkey-pem", f"{key},{cert}", "--output", str(out), str(tmpl)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return out.read_bytes()


def _write_signer(tmp_path: Path, signer: Signer) -> tuple[Path, Path]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    save_private_key(key, signer.key)
    save_certificate(cert, signer.cert)
    return key, cert


@pytest.mark.parametrize(
    ("signer_name", "method"),
    [
        ("rsa", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"),
        ("ec256", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"),
    ],
)
def test_xmlsec1_signed_package_verifies_here(
    xmlsec1: str, tmp_path: Path, pki: DevPki, edoc_unsigned: bytes, signer_name: str, method: str
) -> None:
    signer: Signer = getattr(pki, signer_name)
    out = _xmlsec_sign(xmlsec1, tmp_path, signer, _template(edoc_unsigned, method))
    result = verify_enveloped(out, POLICY)
    assert result.certificate == signer.cert
    assert result.signature_method == method
    # And a tampered copy of xmlsec1's output is refused.
    with pytest.raises(SignatureInvalid, match="digest"):
        verify_enveloped(out.replace(b"H41", b"H42", 1), POLICY)


def test_xmlsec1_legacy_package_needs_the_flag(
    xmlsec1: str, tmp_path: Path, pki: DevPki, edoc_unsigned: bytes
) -> None:
    """What old partners send (as in the samples' placeholders): C14N 1.0 SignedInfo, RSA-SHA1.

    The inclusive canonical SignedInfo carries the edXML namespaces in scope, so this also
    checks our C14N 1.0 of a subtree against xmlsec1's.
    """
    template = _template(
        edoc_unsigned,
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        c14n="http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        digest="http://www.w3.org/2000/09/xmldsig#sha1",
    )
    out = _xmlsec_sign(xmlsec1, tmp_path, pki.rsa, template)
    with pytest.raises(AlgorithmForbidden):
        verify_enveloped(out, POLICY)
    legacy = SignaturePolicy(signature_parent=EDXML_PARENT, allow_legacy=True)
    result = verify_enveloped(out, legacy)
    assert result.legacy is True
    assert result.certificate == pki.rsa.cert


@pytest.mark.parametrize("signer_name", ["rsa", "ec256"])
def test_package_signed_here_verifies_with_xmlsec1(
    xmlsec1: str, tmp_path: Path, pki: DevPki, edoc_unsigned: bytes, signer_name: str
) -> None:
    signer: Signer = getattr(pki, signer_name)
    signed = tmp_path / "signed.xml"
    signed.write_bytes(
        sign_enveloped(edoc_unsigned, signer.key, signer.cert, signature_parent=EDXML_PARENT)
    )
    ca = tmp_path / "ca.pem"
    save_certificate(ca, pki.ca)
    base = [xmlsec1, "--verify", "--enabled-reference-uris", "empty", "--trusted-pem", str(ca)]
    proc = subprocess.run([*base, str(signed)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "OK" in proc.stdout + proc.stderr
    # Control: xmlsec1 refuses it once tampered, so the success above means something.
    tampered = tmp_path / "tampered.xml"
    tampered.write_bytes(signed.read_bytes().replace(b"H41", b"H42", 1))
    proc = subprocess.run([*base, str(tampered)], capture_output=True, text=True, check=False)
    assert proc.returncode != 0
