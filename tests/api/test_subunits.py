"""Sub-units over HTTP (issue 10): a province's system receives, answers and sends for the
departments and communes below it that have no system of their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hub.demo.factory import Signer, document, status
from hub.demo.workdir import DEFAULT_AGENCIES, AgencySpec
from hub.edxml import Organ
from tests.api.conftest import RunningHub, inbox_with, start_hub, submit_refused
from tests.conftest import WorkdirFactory

G22, H29, H41 = "000.00.00.G22", "000.00.00.H29", "000.00.00.H41"
H29_DEPT, H29_DEPT2 = "000.00.13.H29", "000.00.14.H29"  # Hà Nội departments, unregistered
H41_HOME = "000.00.01.H41"  # registered sub-unit of Nghệ An (represents itself)


def organs(*ids: str) -> list[Organ]:
    return [Organ(organ_id=i, organ_name=i) for i in ids]


def as_subunit(signer: Signer, organ_id: str) -> Signer:
    """The representative's signing identity, with a sub-unit's code in From."""
    return Signer(organ_id=organ_id, name=organ_id, key=signer.key, certificate=signer.certificate)


def states(trace: dict[str, Any]) -> dict[str, str]:
    return {s["recipient"]: s["state"] for s in trace["lifecycle"]["states"]}


async def test_document_to_a_subunit_goes_to_its_province(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    doc_id, data = document(signers(G22), organs(H29_DEPT), number=1301)
    sender = await hub.client(G22)
    submitted = await sender.submit(data)
    assert submitted.created and submitted.recipients == (H29,)

    (item,) = await inbox_with(hub, H29, 1)
    assert item["id"] == submitted.package_id and item["document_id"] == doc_id
    assert item["stands_for"] == [H29_DEPT]

    trace = await sender.trace(submitted.package_id)
    assert [(r["organ_id"], r["stands_for"]) for r in trace["recipients"]] == [(H29, [H29_DEPT])]
    (represented,) = [e for e in trace["events"] if e["kind"] == "represented"]
    assert represented["recipient"] == H29
    assert represented["detail"]["text"] == f"delivered to {H29} for {H29_DEPT}"
    available = [e for e in trace["events"] if e["kind"] == "available"]
    assert available and available[0]["detail"]["for"] == [H29_DEPT]
    assert states(trace) == {H29_DEPT: "none"}  # one state per original code

    # H29 fetches and acks in its own name: the delivery is one, to H29.
    recipient = await hub.client(H29)
    assert await recipient.fetch(submitted.package_id) == data
    assert (await recipient.ack(submitted.package_id))["already_acked"] is False
    (acked,) = [
        e for e in (await sender.trace(submitted.package_id))["events"] if e["kind"] == "acked"
    ]
    assert acked["detail"] == {"for": [H29_DEPT]}


async def test_two_subunits_one_delivery_and_answers_per_subunit_or_for_all(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    doc_id, data = document(signers(G22), organs(H29_DEPT, H41, H29_DEPT2), number=1302)
    sender = await hub.client(G22)
    submitted = await sender.submit(data)
    assert submitted.recipients == (H29, H41, H41_HOME)  # H41_HOME: the copy rule
    (item,) = await inbox_with(hub, H29, 1)
    assert item["stands_for"] == [H29_DEPT, H29_DEPT2]
    assert states(await sender.trace(submitted.package_id)) == {
        H29_DEPT: "none",
        H29_DEPT2: "none",
        H41: "none",
        H41_HOME: "none",
    }

    province = await hub.client(H29)
    # From = H29 itself: the answer is for every sub-unit H29 received the document for.
    arrived = await province.submit(
        status(signers(H29), document_author=G22, document_id=doc_id, code="01")
    )
    assert arrived.recipients == (G22,)
    # From = one sub-unit, sent and signed by H29's system: that sub-unit's answer only.
    accepted = await province.submit(
        status(
            as_subunit(signers(H29), H29_DEPT), document_author=G22, document_id=doc_id, code="03"
        )
    )
    assert accepted.created

    trace = await sender.trace(submitted.package_id)
    assert states(trace) == {H29_DEPT: "03", H29_DEPT2: "01", H41: "none", H41_HOME: "none"}
    moves = [
        (h["party"], h["to"], h["actor"])
        for h in trace["lifecycle"]["history"]
        if h["to"] != "none"
    ]
    assert moves == [(H29_DEPT, "01", H29), (H29_DEPT2, "01", H29), (H29_DEPT, "03", H29_DEPT)]
    assert [s["status_code"] for s in trace["statuses"]] == ["01", "03"]

    # An illegal move for one sub-unit refuses the answer for all (nothing half-applied):
    # under the default `compatible` policy a 03 is new for H29_DEPT2 but a repeat for
    # H29_DEPT, which already sent it.
    problem = await submit_refused(
        hub, H29, status(signers(H29), document_author=G22, document_id=doc_id, code="03")
    )
    assert (problem.status, problem.code) == (409, "lifecycle.illegal_transition")
    assert states(await sender.trace(submitted.package_id))[H29_DEPT2] == "01"

    # Another province's system may not answer for Hà Nội's sub-units.
    problem = await submit_refused(
        hub,
        H41,
        status(
            as_subunit(signers(H41), H29_DEPT2), document_author=G22, document_id=doc_id, code="03"
        ),
    )
    assert (problem.status, problem.code) == (403, "signature.signer_mismatch")

    # The author asks the document back from the province: from every sub-unit it stood for.
    take_back = await sender.submit(
        status(signers(G22), document_author=H29, document_id=doc_id, code="13")
    )
    assert take_back.recipients == (H29,)
    after = states(await sender.trace(submitted.package_id))
    assert (after[H29_DEPT], after[H29_DEPT2], after[H41]) == ("13", "13", "none")


async def test_registered_subunit_gets_its_own_delivery(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    _, data = document(signers(G22), organs(H41_HOME, "000.00.02.H41"), number=1303)
    submitted = await (await hub.client(G22)).submit(data)
    assert submitted.recipients == (H41_HOME, H41)
    (own,) = await inbox_with(hub, H41_HOME, 1)
    assert own["stands_for"] == []
    (folded,) = await inbox_with(hub, H41, 1)
    assert folded["stands_for"] == ["000.00.02.H41"]


async def test_represents_self_keeps_refusing(
    make_workdir: WorkdirFactory, signers: Callable[[str], Signer]
) -> None:
    agencies = tuple(
        AgencySpec(a.organ_id, a.name, represents="self") if a.organ_id == H29 else a
        for a in DEFAULT_AGENCIES
    )
    async with start_hub(make_workdir(agencies)) as hub:
        _, data = document(signers(G22), organs(H29_DEPT), number=1304)
        problem = await submit_refused(hub, G22, data)
        assert (problem.status, problem.code) == (422, "route.unknown_recipient")
        assert problem.body["recipients"] == [H29_DEPT]


async def test_subunit_sends_through_its_province_and_answers_come_back(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    dept = as_subunit(signers(H29), H29_DEPT)
    doc_id, data = document(dept, organs(G22), number=1305)
    province = await hub.client(H29)
    submitted = await province.submit(data)
    assert submitted.created and submitted.recipients == (G22,)
    (item,) = await inbox_with(hub, G22, 1)
    assert item["from"] == H29_DEPT and item["stands_for"] == []
    # The province sees its sub-unit's package (trace, receipt) and may submit it again.
    assert states(await province.trace(submitted.package_id)) == {G22: "none"}
    assert (await province.submit(data)).package_id == submitted.package_id

    # The Government Office answers the sub-unit: the status goes to H29, for the sub-unit.
    answer = await (await hub.client(G22)).submit(
        status(signers(G22), document_author=H29_DEPT, document_id=doc_id, code="03")
    )
    assert answer.recipients == (H29,)
    (back,) = await inbox_with(hub, H29, 1)
    assert back["kind"] == "status" and back["stands_for"] == [H29_DEPT]
    assert states(await province.trace(submitted.package_id)) == {G22: "03"}


async def test_only_the_representing_ancestor_may_send_for_a_subunit(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    # A sibling province's system, with Hà Nội's signature: not its sub-unit.
    _, data = document(as_subunit(signers(H29), H29_DEPT), organs(G22), number=1306)
    problem = await submit_refused(hub, H41, data)
    assert (problem.status, problem.code) == (403, "auth.forbidden")
    # … and with its own signature: the certificate is not bound to the sub-unit's province.
    _, data = document(as_subunit(signers(H41), H29_DEPT), organs(G22), number=1307)
    problem = await submit_refused(hub, H41, data)
    assert (problem.status, problem.code) == (403, "signature.signer_mismatch")
    # A registered sub-unit never speaks for its parent (nor the parent for it).
    _, data = document(signers(H41), organs(G22), number=1308)
    problem = await submit_refused(hub, H41_HOME, data)
    assert (problem.status, problem.code) == (403, "auth.forbidden")
    _, data = document(signers(H41_HOME), organs(G22), number=1309)
    problem = await submit_refused(hub, H41, data)
    assert (problem.status, problem.code) == (403, "auth.forbidden")
    assert await hub.runtime.store.count_packages() == 0
