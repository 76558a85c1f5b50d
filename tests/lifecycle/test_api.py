"""Both lifecycles through the real pipeline over HTTP: signed packages, stable codes,
refusals recorded on the trace, revocations routed to the original's recipients.

This test runs the ``strict`` policy (``[lifecycle] policy = "strict"``); ``compatible`` (the
default) is tested in ``test_policy_api.py``."""

from __future__ import annotations

from collections.abc import Callable

from hub.demo.factory import Signer, document, status
from hub.edxml import Organ
from tests.api.conftest import RunningHub, start_hub, submit_refused
from tests.conftest import WorkdirFactory

G22, H41, H29 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H29"


async def test_document_lifecycle_enforced_and_traced(
    make_workdir: WorkdirFactory, signers: Callable[[str], Signer]
) -> None:
    workdir = make_workdir(extra_hub_toml='[lifecycle]\npolicy = "strict"\n')
    async with start_hub(workdir) as hub:
        await _strict(hub, signers)


async def _strict(hub: RunningHub, signers: Callable[[str], Signer]) -> None:
    g22, h41, h29 = signers(G22), signers(H41), signers(H29)
    doc_id, data = document(g22, [Organ(organ_id=H41), Organ(organ_id=H29)], number=1)
    sent = await (await hub.client(G22)).submit(data)
    h41c = await hub.client(H41)
    # 05 before 01/03 is not allowed: 409 with a stable code, recorded on the document's trace.
    problem = await submit_refused(
        hub, H41, status(h41, document_author=G22, document_id=doc_id, code="05")
    )
    assert (problem.status, problem.code) == (409, "lifecycle.illegal_transition")
    for code in ("01", "03", "05", "06"):
        await h41c.submit(status(h41, document_author=G22, document_id=doc_id, code=code))
    trace = await (await hub.client(G22)).trace(sent.package_id)
    states = {s["recipient"]: s["state"] for s in trace["lifecycle"]["states"]}
    assert states == {H41: "06", H29: "none", "000.00.01.H41": "none"}, states  # + copy rule
    moves = [(h["party"], h["from"], h["to"]) for h in trace["lifecycle"]["history"]]
    assert (H41, "05", "06") in moves and (H29, "", "none") in moves
    refused = [e for e in trace["events"] if e["kind"] == "refused"]
    assert refused and refused[0]["detail"]["code"] == "lifecycle.illegal_transition"
    # A status from an agency that never received the document.
    g12 = signers("000.00.00.G12")
    problem = await submit_refused(
        hub, "000.00.00.G12", status(g12, document_author=G22, document_id=doc_id, code="01")
    )
    assert problem.code == "lifecycle.not_party"
    # Revocation: unknown original, not the author, then routed to the original's recipients.
    _, unknown = document(g22, [Organ(organ_id=H41)], number=2, business_doc_type=1,
                          original_document_id=f"{G22},2026/01/01,999/XX")  # fmt: skip
    assert (await submit_refused(hub, G22, unknown)).code == "lifecycle.original_unknown"
    _, foreign = document(h41, [Organ(organ_id=G22)], number=3, business_doc_type=1,
                          original_document_id=doc_id)  # fmt: skip
    assert (await submit_refused(hub, H41, foreign)).code == "lifecycle.not_author"
    revocation_id, revocation = document(g22, [Organ(organ_id=H41)], number=4, business_doc_type=1,
                             original_document_id=doc_id)  # fmt: skip
    revoked = await (await hub.client(G22)).submit(revocation)
    assert set(revoked.recipients) >= {H41, H29}  # To named H41 only: H29 had the original
    trace = await (await hub.client(G22)).trace(sent.package_id)
    links = [e for e in trace["events"] if e["kind"] == "revoked"]
    assert links and links[0]["detail"]["by_package"] == revoked.package_id
    # The recipients answer the revocation itself with 15/16.
    await (await hub.client(H29)).submit(
        status(h29, document_author=G22, document_id=revocation_id, code="15")
    )
