"""The whole path over HTTP: submit → receipt → inbox → fetch → ack → status back → trace."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from lxml import etree

from hub.client import HubProblem
from hub.demo.factory import Signer, document, status
from hub.edxml import Organ
from hub.receipts import RECEIPT_POLICY, parse_receipt
from signing import TrustStore, verify_enveloped
from signing.pki import load_certificates
from tests.api.conftest import RunningHub, inbox_with, start_hub
from tests.conftest import WorkdirFactory

G22, H41, H14, G17 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H14", "000.00.00.G17"
H41_HOME = "000.00.01.H41"  # routes.toml copies G22 → H41 documents here


def organs(*ids: str) -> list[Organ]:
    return [Organ(organ_id=i, organ_name=i) for i in ids]


async def test_document_is_receipted_delivered_acked_and_answered(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    doc_id, data = document(signers(G22), organs(H41, H14), number=7816)
    sender = await hub.client(G22)

    submitted = await sender.submit(data)
    assert submitted.created
    # The copy rule in routes.toml adds Nghệ An's Department of Home Affairs.
    assert submitted.recipients == (H41, H14, H41_HOME)

    # The receipt is signed by the hub, chains to the dev CA, and states the facts.
    verified = verify_enveloped(submitted.receipt, RECEIPT_POLICY)
    anchors = load_certificates(hub.workdir.pki_dir / "ca.pem")
    TrustStore(anchors).validate(verified.certificate, at=datetime.now(UTC))
    facts = parse_receipt(verified.signed_root)
    assert facts.package_id == submitted.package_id
    assert facts.sender == G22
    assert facts.sha256 == hashlib.sha256(data).hexdigest()
    assert facts.size == len(data)
    assert facts.document_id == doc_id
    assert facts.kind == "document"

    # Identical bytes again: the same receipt, 200 instead of 202.
    again = await sender.submit(data)
    assert not again.created
    assert again.package_id == submitted.package_id
    assert again.receipt == submitted.receipt

    # The recipient pulls it: the exact bytes, then acks once.
    recipient = await hub.client(H41)
    items = await inbox_with(hub, H41, 1)
    assert [i["id"] for i in items] == [submitted.package_id]
    assert items[0]["from"] == G22 and items[0]["document_id"] == doc_id
    assert items[0]["sha256"] == facts.sha256 and items[0]["size"] == len(data)
    assert await recipient.fetch(submitted.package_id) == data
    first = await recipient.ack(submitted.package_id)
    second = await recipient.ack(submitted.package_id)
    assert first["already_acked"] is False and second["already_acked"] is True
    assert first["acked_at"] == second["acked_at"]
    assert (await recipient.inbox_page())["items"] == []

    # Status packages flow back to the sender: 01 → 03 → 05 → 06.
    for code in ("01", "03", "05", "06"):
        answer = status(signers(H41), document_author=G22, document_id=doc_id, code=code)
        result = await recipient.submit(answer)
        assert result.recipients == (G22,)
    sender_inbox = await inbox_with(hub, G22, 4)
    assert {i["kind"] for i in sender_inbox} == {"status"}
    assert {i["document_id"] for i in sender_inbox} == {doc_id}

    trace = await sender.trace(submitted.package_id)
    states = {d["organ_id"]: d["state"] for d in trace["recipients"]}
    assert states == {H41: "acked", H14: "available", H41_HOME: "available"}
    assert [s["status_code"] for s in trace["statuses"]] == ["01", "03", "05", "06"]
    kinds = [e["kind"] for e in trace["events"]]
    assert kinds[0] == "accepted"
    assert "acked" in kinds
    assert trace["signer"]["fingerprint_sha256"] == hub.workdir.agencies[G22].cert_sha256

    # The outbox shows per-recipient state.
    outbox = await sender.outbox_page()
    (entry,) = [i for i in outbox["items"] if i["id"] == submitted.package_id]
    assert {r["organ_id"]: r["state"] for r in entry["recipients"]}[H41] == "acked"


async def test_only_sender_and_recipients_see_a_package(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    _, data = document(signers(G22), organs(H41), number=1)
    submitted = await (await hub.client(G22)).submit(data)
    outsider = await hub.client(G17)
    for call in (outsider.fetch, outsider.trace, outsider.ack, outsider.receipt):
        with pytest.raises(HubProblem) as info:
            await call(submitted.package_id)
        assert info.value.status == 404
    # The sender may read the receipt and trace but may not ack its own package.
    sender = await hub.client(G22)
    assert await sender.receipt(submitted.package_id) == submitted.receipt
    with pytest.raises(HubProblem) as info:
        await sender.ack(submitted.package_id)
    assert info.value.status == 404
    with pytest.raises(HubProblem) as info:
        await sender.fetch("no-such-package")
    assert info.value.status == 404


async def test_inbox_pages_with_a_stable_cursor(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    sender = await hub.client(G17)
    ids = []
    for n in range(7):
        _, data = document(signers(G17), organs(H14), number=100 + n, attachments=0)
        ids.append((await sender.submit(data)).package_id)
    await inbox_with(hub, H14, 7)
    client = await hub.client(H14)
    seen: list[str] = []
    cursor = None
    while True:
        page = await client.inbox_page(cursor, limit=3)
        assert len(page["items"]) <= 3
        seen += [i["id"] for i in page["items"]]
        cursor = page["next"]
        if not cursor:
            break
    assert seen == ids


async def test_validate_is_a_dry_run(hub: RunningHub, signers: Callable[[str], Signer]) -> None:
    doc_id, data = document(signers(G22), organs(H14), number=42)
    client = await hub.client(G22)
    report = await client.validate(data)
    assert report["valid"] is True
    assert report["recipients"] == [H14]
    assert report["document_id"] == doc_id
    assert await hub.runtime.store.count_packages() == 0
    with pytest.raises(HubProblem) as info:
        await client.validate(b"<not-xml")
    assert info.value.code == "xml.not_well_formed"


async def test_vietnamese_bytes_round_trip_exactly(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    _, data = document(signers(G22), organs(H14), number=5)
    assert "Hà Nội".encode() in data
    submitted = await (await hub.client(G22)).submit(data)
    await inbox_with(hub, H14, 1)
    got = await (await hub.client(H14)).fetch(submitted.package_id)
    assert got == data
    root = etree.fromstring(got)
    assert root.nsmap  # still the sender's document, namespaces and all


async def test_verification_in_worker_processes(
    make_workdir: WorkdirFactory, signers: Callable[[str], Signer]
) -> None:
    """The real process pool: checks and refusals (with their codes) cross the boundary."""
    async with start_hub(make_workdir(ingest_processes=2)) as hub:
        assert hub.runtime.executor.processes == 2
        client = await hub.client(G22)
        _, data = document(signers(G22), organs(H14), number=77)
        assert (await client.submit(data)).created
        with pytest.raises(HubProblem) as info:
            await client.submit(data.replace(b"<edXML:Subject>", b"<edXML:Subject>x", 1))
        assert info.value.code == "signature.invalid"
        with pytest.raises(HubProblem) as info:
            await client.submit(b"<edXML>\n<unclosed>")
        assert info.value.code == "xml.not_well_formed"
        assert info.value.body["line"] == 2
