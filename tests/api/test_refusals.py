"""Every refusal code over HTTP, each beside an accepted control, and nothing stored."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import pytest
from lxml import etree

from hub.demo.factory import Signer, document, status
from hub.demo.workdir import DEFAULT_AGENCIES, AgencySpec
from hub.edxml import Organ
from hub.edxml.schema import EDXML_NS
from signing.pki import create_ca, issue_certificate
from tests.api.conftest import RunningHub, start_hub, submit_refused
from tests.conftest import WorkdirFactory, shared_testdata

G22, H41, H14, G17 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H14", "000.00.00.G17"
E = f"{{{EDXML_NS}}}"


def organs(*ids: str) -> list[Organ]:
    return [Organ(organ_id=i, organ_name=i) for i in ids]


def edit(data: bytes, change: Callable[[etree._Element], None]) -> bytes:
    root = etree.fromstring(data)
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def header(root: etree._Element) -> etree._Element:
    found = root.find(f"{E}edXMLEnvelope/{E}edXMLHeader/{E}MessageHeader")
    assert found is not None
    return found


async def test_not_well_formed_samples_refused_with_line_and_column(hub: RunningHub) -> None:
    garbage = await submit_refused(
        hub, G22, shared_testdata("edxml", "malformed_leading_garbage.edxml").read_bytes()
    )
    assert (garbage.status, garbage.code) == (400, "xml.not_well_formed")
    assert garbage.body["line"] == 1 and garbage.body["column"] >= 1
    prefix = await submit_refused(
        hub, G22, shared_testdata("edxml", "malformed_undeclared_prefix.edxml").read_bytes()
    )
    assert (prefix.status, prefix.code) == (400, "xml.not_well_formed")
    assert prefix.body["line"] == 116


@pytest.mark.parametrize(
    "name",
    [
        "xmlbomb.xml",
        "xmlbomb2.xml",
        "quadratic.xml",
        "external.xml",
        "external_file.xml",
        "dtd.xml",
        "cyclic.xml",
    ],
)
async def test_dtd_and_entities_refused_before_parsing(hub: RunningHub, name: str) -> None:
    problem = await submit_refused(
        hub, G22, shared_testdata("xmldsig", "defusedxml-test-data", name).read_bytes()
    )
    assert (problem.status, problem.code) == (400, "xml.dtd_forbidden")


async def test_schema_negatives_name_the_element(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    _, data = document(signers(G22), organs(H41), number=1, attachments=0)

    def two_headers(root: etree._Element) -> None:
        mh = header(root)
        mh.addnext(etree.fromstring(etree.tostring(mh)))

    def bad_organ_id(root: etree._Element) -> None:
        el = header(root).find(f"{E}From/{E}OrganId")
        assert el is not None
        el.text = "G22.00.00.000"

    for change, where in ((two_headers, "MessageHeader"), (bad_organ_id, "OrganId")):
        problem = await submit_refused(hub, G22, edit(data, change))
        assert (problem.status, problem.code) == (422, "schema.invalid")
        assert where in problem.body["path"]

    answer = status(signers(H41), document_author=G22, document_id="x,2024/01/01,1/A", code="03")

    def unknown_status(root: etree._Element) -> None:
        el = header(root).find(f"{E}StatusCode")
        assert el is not None
        el.text = "07"

    problem = await submit_refused(hub, H41, edit(answer, unknown_status))
    assert problem.code == "schema.invalid" and "StatusCode" in problem.body["path"]
    # the control: the unedited document is accepted
    assert (await (await hub.client(G22)).submit(data)).created


async def test_signature_refusals(hub: RunningHub, signers: Callable[[str], Signer]) -> None:
    _, data = document(signers(G22), organs(H41), number=9, attachments=1)

    # tampered signed text
    tampered = data.replace("Hà Nội".encode(), "Hải Phòng".encode(), 1)
    assert tampered != data
    problem = await submit_refused(hub, G22, tampered)
    assert (problem.status, problem.code) == (403, "signature.invalid")

    # an edited attachment
    def edit_attachment(root: etree._Element) -> None:
        el = root.find(f".//{E}ContentTransferEncoded")
        assert el is not None and el.text
        el.text = el.text[:-8] + ("AAAAAAA=" if not el.text.endswith("AAAAAAA=") else "BBBBBBB=")

    problem = await submit_refused(hub, G22, edit(data, edit_attachment))
    assert problem.code == "signature.invalid"

    # the real SDK sample, unsigned status and placeholder signature
    problem = await submit_refused(hub, H41, shared_testdata("edxml", "status.edxml").read_bytes())
    assert (problem.status, problem.code) == (403, "signature.missing")
    problem = await submit_refused(
        hub, G22, shared_testdata("edxml", "edoc_update.edxml").read_bytes()
    )
    assert (problem.status, problem.code) == (403, "signature.profile")

    # a certificate from a CA the hub does not trust
    other_key, other_ca = create_ca("Untrusted CA")
    key, cert = issue_certificate(other_key, other_ca, "rogue", key_type="rsa2048")
    rogue = Signer(organ_id=G22, name="rogue", key=key, certificate=cert)
    _, rogue_doc = document(rogue, organs(H41), number=10)
    problem = await submit_refused(hub, G22, rogue_doc)
    assert (problem.status, problem.code) == (403, "signature.untrusted")

    # a trusted certificate that is not registered for the From agency (G17 signs as G22)
    impostor = Signer(
        organ_id=G22, name="impostor", key=signers(G17).key, certificate=signers(G17).certificate
    )
    _, forged = document(impostor, organs(H41), number=11)
    problem = await submit_refused(hub, G22, forged)
    assert (problem.status, problem.code) == (403, "signature.signer_mismatch")

    # control
    assert (await (await hub.client(G22)).submit(data)).created
    assert await hub.runtime.store.count_packages() == 1


async def test_routing_and_conflict_refusals(
    make_workdir: WorkdirFactory, signers: Callable[[str], Signer]
) -> None:
    agencies = (
        *DEFAULT_AGENCIES,
        AgencySpec("000.00.00.H57", "UBND Tỉnh Vĩnh Long", enabled=False),
    )
    workdir = make_workdir(agencies)
    async with start_hub(workdir) as hub:
        sender = await hub.client(G22)
        _, unknown = document(signers(G22), organs(H41, "000.00.00.H99"), number=20)
        problem = await submit_refused(hub, G22, unknown)
        assert (problem.status, problem.code) == (422, "route.unknown_recipient")
        assert problem.body["recipients"] == ["000.00.00.H99"]

        _, disabled = document(signers(G22), organs("000.00.00.H57"), number=21)
        problem = await submit_refused(hub, G22, disabled)
        assert problem.code == "route.unknown_recipient"

        doc_id, first = document(signers(G22), organs(H14), number=22, attachments=1)
        doc_id2, other = document(signers(G22), organs(H14), number=22, attachments=2)
        assert doc_id == doc_id2 and first != other
        assert (await sender.submit(first)).created
        problem = await submit_refused(hub, G22, other)
        assert (problem.status, problem.code) == (409, "package.conflict")
        assert await hub.runtime.store.count_packages() == 1


async def test_authentication_and_authorisation(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    _, data = document(signers(G22), organs(H41), number=30)
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{hub.url}/v1/packages", data=data) as resp:
            assert resp.status == 401
            assert resp.content_type == "application/problem+json"
            assert (await resp.json())["code"] == "auth.required"
        async with session.get(
            f"{hub.url}/v1/inbox", headers={"Authorization": "Bearer not-a-token"}
        ) as resp:
            assert resp.status == 401
            assert (await resp.json())["code"] == "auth.required"
    # G17 may not submit a package whose From is G22
    problem = await submit_refused(hub, G17, data)
    assert (problem.status, problem.code) == (403, "auth.forbidden")
    # nor claim identical bytes accepted for G22
    assert (await (await hub.client(G22)).submit(data)).created
    problem = await submit_refused(hub, G17, data)
    assert problem.code == "auth.forbidden"


async def test_size_limit_checked_before_reading(
    make_workdir: WorkdirFactory, signers: Callable[[str], Signer]
) -> None:
    workdir = make_workdir(max_package_bytes=40_000)
    async with start_hub(workdir) as hub:
        _, small = document(signers(G22), organs(H41), number=40, attachment_size=2_000)
        _, large = document(signers(G22), organs(H41), number=41, attachment_size=400_000)
        assert len(small) < 40_000 < len(large)
        problem = await submit_refused(hub, G22, large)
        assert (problem.status, problem.code) == (413, "package.too_large")
        assert (await (await hub.client(G22)).submit(small)).created


async def test_problem_bodies_for_unknown_routes(hub: RunningHub) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{hub.url}/v1/nothing-here",
            headers={"Authorization": f"Bearer {hub.workdir.token(G22)}"},
        ) as resp,
    ):
        assert resp.status == 404
        assert resp.content_type == "application/problem+json"
