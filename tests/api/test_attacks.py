"""Attack packages made from a real sample, signed in the test, submitted over HTTP.

The control is the real ``edoc_update.edxml`` (Văn phòng Chính phủ → Nghệ An, Cao Bằng, Hải
Phòng) with the SDK's placeholder removed and signed for real by G22: it is accepted. Each
attack is derived from the signed control and refused with its specific code. Its
BussinessDocType is set to 0 (new): as an update (2) of an original this hub never carried it
is refused with ``lifecycle.original_unknown`` (tests/lifecycle).
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable

import pytest
from lxml import etree

from hub.client import HubProblem
from hub.demo.factory import Signer
from hub.edxml.schema import EDXML_NS
from hub.packaging import sign_package
from tests.api.conftest import RunningHub, start_hub
from tests.conftest import WorkdirFactory, shared_testdata
from tests.signing.helpers import DS, ENVELOPED, dump, parse, resign, signature_of

G22, H41 = "000.00.00.G22", "000.00.00.H41"
E = f"{{{EDXML_NS}}}"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"


@pytest.fixture
def control(signers: Callable[[str], Signer]) -> bytes:
    sample = shared_testdata("edxml", "edoc_update.edxml").read_bytes()
    sample = sample.replace(b"BussinessDocType>2<", b"BussinessDocType>0<")
    g22 = signers(G22)
    return sign_package(sample, g22.key, g22.certificate, replace_placeholder=True)


def _edit(data: bytes, change: Callable[[etree._Element], None]) -> bytes:
    root = parse(data)
    change(root)
    return dump(root)


def wrapping(root: etree._Element) -> None:
    """A forged MessageHeader placed first, the signed one pushed behind it."""
    header = root.find(f"{E}edXMLEnvelope/{E}edXMLHeader")
    assert header is not None
    forged = copy.deepcopy(header.find(f"{E}MessageHeader"))
    subject = forged.find(f"{E}Subject")
    assert subject is not None
    subject.text = "Lệnh chuyển tiền khẩn"
    header.insert(0, forged)


def comment_in_value(root: etree._Element) -> None:
    subject = root.find(f".//{E}MessageHeader/{E}Subject")
    assert subject is not None and subject.text
    text = subject.text
    subject.text = text[:10]
    comment = etree.Comment(" ")
    comment.tail = text[10:]
    subject.append(comment)


def second_signature(root: etree._Element) -> None:
    sig = signature_of(root)
    sig.addprevious(copy.deepcopy(sig))


def relocated_signature(root: etree._Element) -> None:
    sig = signature_of(root)
    header = sig.getparent()
    assert header is not None
    header.remove(sig)
    header.insert(0, sig)


def reference_by_id(root: etree._Element) -> None:
    ref = signature_of(root).find(f"{DS}SignedInfo/{DS}Reference")
    assert ref is not None
    ref.set("URI", "#edXMLHeader")


def xpath_transform(root: etree._Element) -> None:
    transforms = signature_of(root).find(f"{DS}SignedInfo/{DS}Reference/{DS}Transforms")
    assert transforms is not None
    xpath = etree.SubElement(transforms, f"{DS}Transform", Algorithm=XPATH)
    etree.SubElement(xpath, f"{DS}XPath").text = "not(ancestor-or-self::*)"


def edited_attachment(root: etree._Element) -> None:
    content = root.find(f".//{E}ContentTransferEncoded")
    assert content is not None and content.text
    raw = bytearray(base64.b64decode("".join(content.text.split())))
    raw[100] ^= 0xFF
    content.text = base64.b64encode(bytes(raw)).decode()


ATTACKS: dict[str, tuple[Callable[[etree._Element], None], int, str]] = {
    "signature wrapping": (wrapping, 422, "schema.invalid"),
    "comment inside a signed value": (comment_in_value, 403, "signature.profile"),
    "second signature": (second_signature, 422, "schema.invalid"),
    "relocated signature": (relocated_signature, 422, "schema.invalid"),
    "reference by id": (reference_by_id, 403, "signature.profile"),
    "xpath transform": (xpath_transform, 403, "signature.profile"),
    "edited attachment": (edited_attachment, 403, "signature.invalid"),
}


async def submit(hub: RunningHub, data: bytes) -> HubProblem | None:
    try:
        await (await hub.client(G22)).submit(data)
    except HubProblem as exc:
        return exc
    return None


@pytest.mark.parametrize("name", sorted(ATTACKS))
async def test_attack_refused_beside_accepted_control(
    hub: RunningHub, control: bytes, name: str
) -> None:
    change, status, code = ATTACKS[name]
    problem = await submit(hub, _edit(control, change))
    assert problem is not None, f"{name} was accepted"
    assert (problem.status, problem.code) == (status, code), problem.detail
    assert await submit(hub, control) is None  # the control is accepted
    assert await hub.runtime.store.count_packages() == 1


async def test_key_substitution(
    hub: RunningHub, control: bytes, signers: Callable[[str], Signer]
) -> None:
    """Swap in another trusted agency's certificate: the signature no longer verifies."""
    from cryptography.hazmat.primitives.serialization import Encoding

    other = base64.b64encode(signers(H41).certificate.public_bytes(Encoding.DER)).decode()

    def swap(root: etree._Element) -> None:
        cert = signature_of(root).find(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
        assert cert is not None
        cert.text = other

    problem = await submit(hub, _edit(control, swap))
    assert problem is not None and problem.code == "signature.invalid"
    assert await submit(hub, control) is None


async def test_sha1_needs_the_legacy_flag(
    hub: RunningHub, control: bytes, signers: Callable[[str], Signer]
) -> None:
    legacy = resign(
        control,
        signers(G22).key,
        signature_method=RSA_SHA1,
        digest_method=SHA1,
        hash_name="sha1",
        transforms=(ENVELOPED, "http://www.w3.org/2001/10/xml-exc-c14n#"),
    )
    problem = await submit(hub, legacy)
    assert problem is not None
    assert (problem.status, problem.code) == (403, "signature.algorithm_forbidden")
    assert await submit(hub, control) is None


async def test_legacy_flag_admits_sha1_and_flags_it(
    make_workdir: WorkdirFactory, signers: Callable[[str], Signer]
) -> None:
    sample = shared_testdata("edxml", "edoc_revocation.edxml").read_bytes()
    # As a revocation naming no original it would be refused (lifecycle.original_unknown).
    sample = sample.replace(b"BussinessDocType>1<", b"BussinessDocType>0<")
    g22 = signers(G22)
    signed = sign_package(sample, g22.key, g22.certificate, replace_placeholder=True)
    legacy = resign(
        signed, g22.key, signature_method=RSA_SHA1, digest_method=SHA1, hash_name="sha1"
    )
    async with start_hub(make_workdir(allow_legacy=True)) as hub:
        submitted = await (await hub.client(G22)).submit(legacy)
        trace = await (await hub.client(G22)).trace(submitted.package_id)
        assert "signature.legacy_algorithm" in trace["warnings"]
