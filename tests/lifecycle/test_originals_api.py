"""Revocations, updates and replacements find their original as real packages name it
(issue 10), over HTTP through the real pipeline: ``Bussiness/DocumentId``, else
``ReplacementInfoList/ReplacementInfo/DocumentId``, else ``ResponseFor/DocumentId``.

Real material: ``../shared/testdata/edxml-sdk`` (VNPT SDK and PVN kit packages), signed with
the hub's signer and otherwise unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.demo.factory import Signer, document
from hub.edxml import (
    Business,
    Organ,
    ReplacementInfo,
    ResponseFor,
    build_document,
    parse_package,
)
from hub.packaging import sign_package
from hub.xmlsafe import parse_xml
from tests.api.conftest import RunningHub, hub, submit_refused
from tests.conftest import shared_testdata, skip_or_fail

__all__ = ["hub"]  # the running-hub fixture

G22, H41, H14, H29 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H14", "000.00.00.H29"
DOC_778 = "000.00.00.G22,2025/01/06,778/VPCP-TTĐT"
DOC_7806 = "000.00.00.G22,2014/01/30,7806/VPCP-TTĐT"
SDK = shared_testdata("edxml-sdk")


@pytest.fixture
def sdk_testdata() -> Path:
    """The shared SDK test data (skips with the reason printed, or fails under
    HUB_REQUIRE_SERVICES=1, when the checkout lacks it)."""
    if not SDK.is_dir():
        skip_or_fail(f"no shared SDK test data at {SDK}")
    return SDK


needs_sdk = pytest.mark.usefixtures("sdk_testdata")


def _sdk(signer: Signer, name: str) -> bytes:
    """A real package, signed by ``signer`` (placeholder replaced), nothing else changed."""
    data = (SDK / name).read_bytes()
    return sign_package(data, signer.key, signer.certificate, replace_placeholder=True)


def _rebuilt(
    signer: Signer,
    base: bytes,
    *,
    document_id: str | None = None,
    business: Business | None = None,
    response_fors: tuple[ResponseFor, ...] = (),
) -> bytes:
    """A factory document with another DocumentId, Bussiness or ResponseFor list, re-signed
    (packages of our own making: the real ones above are never re-serialised)."""
    pkg = parse_package(parse_xml(base))
    header = dataclasses.replace(
        pkg.header,
        document_id=document_id or pkg.header.document_id,
        response_for=response_fors[0] if response_fors else None,
        response_fors=response_fors,
    )
    built = build_document(
        header, trace_headers=pkg.trace_headers, business=business, attachments=pkg.attachments
    )
    return signer.sign(built)


def _change(bdt: int, **kw: object) -> Business:
    return Business(business_doc_type=bdt, business_doc_reason="Thay đổi văn bản", paper="0", **kw)  # type: ignore[arg-type]


async def _links(hub: RunningHub, package_id: str, kind: str) -> list[str]:
    trace = await (await hub.client(G22)).trace(package_id)
    return [e["detail"]["by_package"] for e in trace["events"] if e["kind"] == kind]


@needs_sdk
async def test_sdk_revocation_named_in_two_response_fors(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    g22 = signers(G22)
    revocation = _sdk(g22, "sdk_revocation_two_responsefor.edxml")
    # 778 never sent: the ResponseFor names a document the hub does not know.
    problem = await submit_refused(hub, G22, revocation)
    assert (problem.status, problem.code) == (422, "lifecycle.original_unknown")
    assert DOC_778 in problem.detail
    client = await hub.client(G22)
    original = await client.submit(_sdk(g22, "sdk_doc_new_no_bussiness.edxml"))
    assert {H41, H14} <= set(original.recipients)
    # The SDK's status 03 from H41 (no 01 before it) about 778.
    await (await hub.client(H41)).submit(_sdk(signers(H41), "sdk_status_03.edxml"))
    revoked = await client.submit(revocation)
    assert {H41, H14} <= set(revoked.recipients)  # routed to 778's recipients
    assert await _links(hub, original.package_id, "revoked") == [revoked.package_id]
    trace = await client.trace(revoked.package_id)
    assert {s["original_id"] for s in trace["lifecycle"]["states"]} == {DOC_778}
    trace = await client.trace(original.package_id)
    assert {s["recipient"]: s["state"] for s in trace["lifecycle"]["states"]}[H41] == "03"


@needs_sdk
async def test_pvn_replacement_named_in_replacement_info(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    g22 = signers(G22)
    replacement = _sdk(g22, "edoc_replacement.edxml")
    assert (await submit_refused(hub, G22, replacement)).code == "lifecycle.original_unknown"
    _, base = document(g22, [Organ(organ_id=H41), Organ(organ_id=H29)], number=7806)
    client = await hub.client(G22)
    original = await client.submit(_rebuilt(g22, base, document_id=DOC_7806))
    replaced = await client.submit(replacement)
    assert H29 in replaced.recipients  # not in its To: it had the original
    assert await _links(hub, original.package_id, "replaced") == [replaced.package_id]


async def test_update_and_revocation_by_each_naming(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    """Update (2) and revocation (1): by Bussiness/DocumentId, by ReplacementInfo, by
    ResponseFor; Bussiness/DocumentId wins over the others; refused when none names one."""
    g22 = signers(G22)
    client = await hub.client(G22)
    originals: dict[str, tuple[str, str]] = {}  # name → (DocumentId, package id)
    for n, name in enumerate(("a", "b", "c"), start=1):
        doc_id, data = document(g22, [Organ(organ_id=H41), Organ(organ_id=H29)], number=n)
        originals[name] = (doc_id, (await client.submit(data)).package_id)
    a, b, c = originals["a"][0], originals["b"][0], originals["c"][0]

    def rf(doc_id: str, to: str) -> ResponseFor:
        return ResponseFor(organ_id=to, document_id=doc_id)

    cases = [
        # (name, bdt, Bussiness fields, ResponseFors, expected originals linked)
        ("update by Bussiness/DocumentId", 2, {"document_id": a}, (), ["a"]),
        ("update by ReplacementInfo", 2,
         {"replacement_info_list": (ReplacementInfo(document_id=b),)}, (), ["b"]),
        ("revocation by ResponseFor", 1, {}, (rf(c, H41), rf(c, H29)), ["c"]),
        # Bussiness/DocumentId first, then ReplacementInfo, then ResponseFor.
        ("revocation, Bussiness/DocumentId wins", 1, {"document_id": a},
         (rf(b, H41),), ["a"]),
        ("update, ReplacementInfo before ResponseFor", 2,
         {"replacement_info_list": (ReplacementInfo(document_id=b),
                                    ReplacementInfo(document_id=c))},
         (rf(a, H41),), ["b", "c"]),
    ]  # fmt: skip
    kinds = {1: "revoked", 2: "updated"}
    for i, (what, bdt, fields, rfs, expected) in enumerate(cases):
        _, base = document(g22, [Organ(organ_id=H41)], number=100 + i)
        data = _rebuilt(g22, base, business=_change(bdt, **fields), response_fors=rfs)
        sent = await client.submit(data)
        assert H29 in sent.recipients, what  # routed to the original's recipients
        for name, (_, package_id) in originals.items():
            linked = sent.package_id in await _links(hub, package_id, kinds[bdt])
            assert linked == (name in expected), (what, name)
    # Naming none of them: refused, whatever the type.
    for bdt in (1, 2, 3):
        _, base = document(g22, [Organ(organ_id=H41)], number=200 + bdt)
        problem = await submit_refused(hub, G22, _rebuilt(g22, base, business=_change(bdt)))
        assert (problem.status, problem.code) == (422, "lifecycle.original_unknown")
    # A ReplacementInfo naming one unknown document among known ones: refused, naming it.
    _, base = document(g22, [Organ(organ_id=H41)], number=300)
    unknown = f"{G22},2026/01/01,999/XX"
    infos = (ReplacementInfo(document_id=a), ReplacementInfo(document_id=unknown))
    data = _rebuilt(g22, base, business=_change(3, replacement_info_list=infos))
    problem = await submit_refused(hub, G22, data)
    assert problem.code == "lifecycle.original_unknown" and unknown in problem.detail
    # Naming, by ResponseFor, a document of another agency: not its author.
    h41 = signers(H41)
    _, base = document(h41, [Organ(organ_id=G22)], number=400)
    data = _rebuilt(h41, base, business=_change(1), response_fors=(rf(a, G22),))
    assert (await submit_refused(hub, H41, data)).code == "lifecycle.not_author"
