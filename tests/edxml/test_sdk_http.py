"""Every package of ``../shared/testdata/edxml-sdk`` gets its documented verdict over HTTP.

The files are signed with the hub's signer (``sign_package``, the placeholder replaced where
there is one), nothing else changed; From/To are rewritten only where the README says so
(``edoc_new``). The revocation/replacement linking verdicts belong to the lifecycle tests;
here both must pass the submission checks (safe parse, XSD, signature, models) with every
ResponseFor and ReplacementInfo parsed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from hub.client import HubProblem
from hub.demo.factory import Signer
from hub.demo.workdir import Workdir
from hub.edxml import EdxmlPackage
from hub.packaging import sign_package
from tests.api.conftest import RunningHub, start_hub
from tests.conftest import skip_or_fail

from .conftest import TESTDATA

SDK_DIR = TESTDATA / "edxml-sdk"
G22, H41, H14 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H14"
DOC_778 = "000.00.00.G22,2025/01/06,778/VPCP-TTĐT"
MH = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader"

if not SDK_DIR.is_dir():  # pragma: no cover - depends on the checkout layout
    skip_or_fail(f"shared SDK test data not found at {SDK_DIR}", allow_module_level=True)


@pytest.fixture
async def hub(workdir: Workdir) -> AsyncIterator[RunningHub]:
    """A test hub over the default agencies (as in tests/api)."""
    async with start_hub(workdir) as running:
        yield running


def signed(name: str, signer: Signer, data: bytes | None = None) -> bytes:
    raw = (SDK_DIR / name).read_bytes() if data is None else data
    return sign_package(raw, signer.key, signer.certificate, replace_placeholder=True)


@pytest.mark.parametrize(
    "name", ["sdk_doc_new_with_bussiness.edxml", "sdk_doc_new_no_bussiness.edxml"]
)
async def test_sdk_new_document_is_accepted(
    hub: RunningHub, signers: Callable[[str], Signer], name: str
) -> None:
    submitted = await (await hub.client(G22)).submit(signed(name, signers(G22)))
    assert submitted.created
    assert {H41, H14} <= set(submitted.recipients)
    trace = await (await hub.client(G22)).trace(submitted.package_id)
    # Only the SDK's DocumentId dated 2025/01/06 vs PromulgationDate 2026/12/05 is flagged.
    assert [w.split(":")[0] for w in trace["warnings"]] == ["edxml.document_id_mismatch"]


async def test_sdk_status_03_after_778_reached_h41(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    doc = await (await hub.client(G22)).submit(
        signed("sdk_doc_new_no_bussiness.edxml", signers(G22))
    )
    assert H41 in doc.recipients
    answer = await (await hub.client(H41)).submit(signed("sdk_status_03.edxml", signers(H41)))
    assert answer.created and answer.recipients == (G22,)
    trace = await (await hub.client(G22)).trace(doc.package_id)
    assert [s["status_code"] for s in trace["statuses"]] == ["03"]


async def test_edoc_new_refused_at_to_organ_id_then_accepted_once_rewritten(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    client = await hub.client(G22)
    with pytest.raises(HubProblem) as info:
        await client.submit(signed("edoc_new.edxml", signers(G22)))
    assert (info.value.status, info.value.code) == (422, "schema.invalid")
    assert info.value.body["path"] == f"{MH}/To/OrganId"

    raw = (SDK_DIR / "edoc_new.edxml").read_bytes()
    rewritten = raw
    for old, new in (("000.00.00.A80", G22), ("28.22.H17", H41)):  # From, To (README)
        rewritten = rewritten.replace(_organ_id(old), _organ_id(new))
    assert rewritten.count(G22.encode()) > raw.count(G22.encode())
    submitted = await client.submit(signed("edoc_new.edxml", signers(G22), rewritten))
    assert submitted.created and H41 in submitted.recipients


def _organ_id(code: str) -> bytes:
    return f"<edXML:OrganId>{code}</edXML:OrganId>".encode()


async def _checked(hub: RunningHub, data: bytes) -> EdxmlPackage:
    # The moment the hub itself would stamp (its clock), as a submission would be checked.
    ingestor = hub.runtime.ingestor
    checked = await ingestor.executor.check(data, ingestor.clock())
    assert isinstance(checked.package, EdxmlPackage)
    return checked.package


async def test_sdk_revocation_passes_the_checks_with_both_response_for(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    pkg = await _checked(hub, signed("sdk_revocation_two_responsefor.edxml", signers(G22)))
    assert pkg.business_doc_type == 1
    assert [(rf.organ_id, rf.document_id) for rf in pkg.header.response_fors] == [
        (H41, DOC_778),
        (H14, DOC_778),
    ]
    assert pkg.business is not None and pkg.business.document_id is None


async def test_pvn_replacement_passes_the_checks_with_its_replacement_info(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    pkg = await _checked(hub, signed("edoc_replacement.edxml", signers(G22)))
    assert pkg.business is not None and pkg.business.business_doc_type == 3
    assert [(r.document_id, r.organ_ids) for r in pkg.business.replacement_info_list] == [
        ("000.00.00.G22,2014/01/30,7806/VPCP-TTĐT", (H41, H14))
    ] * 2
