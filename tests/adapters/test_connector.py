"""Connectors with the iGate adapter against a real hub and two simulated iGates.

Hà Nội's one-stop system (H29) registers a dossier for Nghệ An (H41); H29's connector signs and
submits it; H41's connector verifies it and pushes it into H41's iGate; H41's officer records
progress, which flows back into H29's iGate. Exactly once at the edge across restarts and
failures; bad records kept with the field that failed; refusals kept with the hub's code.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.igate.simulator import Faults, IgateSimulator
from hub.adapter import FromPackageRequest, NativeRecord
from hub.adapter.connector import Connector, load_connector_config
from hub.client import InboxBatch
from hub.config import PACKAGE_KINDS
from hub.demo.workdir import DEFAULT_AGENCIES, Workdir
from hub.edxml import DocumentIdParts
from hub.errors import SchemaInvalid
from hub.models import DeliveryState
from tests.adapters.test_igate import API_KEY, igate_dossier, igate_progress
from tests.api.conftest import RunningHub, start_hub
from tests.conftest import WorkdirFactory

H29, H41 = "000.00.00.H29", "000.00.00.H41"
DOSSIER_AGENCIES = tuple(replace(a, may_send=PACKAGE_KINDS) for a in DEFAULT_AGENCIES)


def write_config(workdir: Workdir, organ_id: str, igate_url: str, data_dir: Path) -> Path:
    pki = workdir.pki_dir
    path = data_dir.parent / f"connector-{organ_id}.toml"
    path.write_text(
        f"""
organ_id = "{organ_id}"
hub_url = "{{hub_url}}"
token_file = "{pki}/agencies/{organ_id}/token"
key_file = "{pki}/agencies/{organ_id}/key.pem"
cert_file = "{pki}/agencies/{organ_id}/cert.pem"
trust_anchors = ["{pki}/ca.pem"]
data_dir = "{data_dir}"
retry_base = 0.01
poll_interval = 0.1
inbox_interval = 0.1

[adapter]
name = "igate"
[adapter.settings]
base_url = "{igate_url}"
api_key = "{API_KEY}"
retry_delay = 0.01
attempts = 2
""",
        encoding="utf-8",
    )
    return path


class Edge:
    """A running hub, two iGates and the means to make connectors for them."""

    def __init__(self, hub: RunningHub, igates: dict[str, IgateSimulator], tmp: Path) -> None:
        self.hub, self.igates, self.tmp = hub, igates, tmp

    def connector(self, organ_id: str) -> Connector:
        path = write_config(
            self.hub.workdir, organ_id, self.igates[organ_id].url, self.tmp / f"data-{organ_id}"
        )
        path.write_text(path.read_text().replace("{hub_url}", self.hub.url))
        return Connector.from_config(load_connector_config(path))

    async def cycle(self, organ_id: str) -> Any:
        await self.settle()
        async with self.connector(organ_id) as c:
            return await c.run_once()

    async def settle(self) -> None:
        """Wait until the hub's dispatcher has made every queued delivery available: a cycle
        right after a submission must not race the hub's own (asynchronous) delivery step."""
        store = self.hub.runtime.store
        for _ in range(500):
            busy = False
            for organ_id in self.hub.workdir.agencies:
                page = await store.outbox(organ_id, limit=1000)
                if any(
                    d.state in (DeliveryState.PENDING, DeliveryState.QUEUED)
                    for _, deliveries in page.items
                    for d in deliveries
                ):
                    busy = True
                    break
            if not busy:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the hub did not make its deliveries available in time")

    async def igate(self, organ_id: str, method: str, path: str, body: Any) -> None:
        url = self.igates[organ_id].url + path
        async with (
            aiohttp.ClientSession(headers={"X-API-Key": API_KEY}) as s,
            s.request(method, url, json=body) as r,
        ):
            assert r.status < 300, await r.text()


@pytest.fixture
async def edge(make_workdir: WorkdirFactory, tmp_path: Path) -> AsyncIterator[Edge]:
    workdir = make_workdir(DOSSIER_AGENCIES)
    async with (
        start_hub(workdir) as hub,
        IgateSimulator(api_key=API_KEY) as s29,
        IgateSimulator(api_key=API_KEY) as s41,
    ):
        yield Edge(hub, {H29: s29, H41: s41}, tmp_path)


async def test_dossier_and_progress_flow_both_ways_exactly_once(edge: Edge) -> None:
    dossier = igate_dossier("H29-0001")
    await edge.igate(H29, "POST", "/api/v1/dossiers", dossier)
    sent = await edge.cycle(H29)
    assert (sent.sent, sent.rejected, sent.refused) == (1, 0, 0)
    got = await edge.cycle(H41)
    assert got.delivered == 1
    assert edge.igates[H41].dossier("H29-0001") == dossier  # byte-exact Vietnamese, all fields

    step = igate_progress("H29-0001")
    step["to"] = [H29]
    await edge.igate(H41, "POST", "/api/v1/dossiers/H29-0001/progress", step)
    assert (await edge.cycle(H41)).sent == 1
    assert (await edge.cycle(H29)).delivered == 1
    assert edge.igates[H29].progress_of("H29-0001") == [step]
    assert edge.igates[H29].dossier("H29-0001")["status"] == step["status"]  # type: ignore[index]

    # restarts: nothing is sent or delivered twice
    again29, again41 = await edge.cycle(H29), await edge.cycle(H41)
    assert again29.sent == again29.resent == again29.delivered == 0
    assert again41.sent == again41.delivered == 0

    # the hub holds dossier packages with their MaHoSo and state, acked by the recipient
    client = await edge.hub.client(H29)
    outbox = await client.outbox_page()
    kinds = {(i["kind"], i["document_id"]) for i in outbox["items"]}
    assert ("dossier", "H29-0001") in kinds


async def test_update_is_a_new_version_sent_once(edge: Edge) -> None:
    dossier = igate_dossier("H29-0002")
    await edge.igate(H29, "POST", "/api/v1/dossiers", dossier)
    await edge.cycle(H29)
    dossier["status"] = 4
    await edge.igate(H29, "PUT", "/api/v1/dossiers/H29-0002", dossier)
    report = await edge.cycle(H29)
    assert report.sent == 1
    await edge.cycle(H41)
    assert edge.igates[H41].dossier("H29-0002")["status"] == 4  # type: ignore[index]


async def test_bad_record_is_kept_with_its_field_and_the_rest_flows(edge: Edge) -> None:
    bad = igate_dossier("H29-BAD")
    del bad["applicant"]["fullname"]
    await edge.igate(H29, "POST", "/api/v1/dossiers", bad)
    await edge.igate(H29, "POST", "/api/v1/dossiers", igate_dossier("H29-GOOD"))
    async with edge.connector(H29) as c:
        report = await c.run_once()
        assert (report.sent, report.rejected) == (1, 1)
        assert c.state.rejected() == [("H29-BAD", "r1", "applicant.fullname", "is required")]


async def test_dossier_without_handling_agency_is_refused_and_kept(edge: Edge) -> None:
    orphan = igate_dossier("H29-ORPHAN")
    del orphan["to"]
    await edge.igate(H29, "POST", "/api/v1/dossiers", orphan)
    async with edge.connector(H29) as c:
        report = await c.run_once()
        assert report.refused == 1
        state = c.state.sent_state("H29-ORPHAN", "r1")
        assert state is not None and state[0] == "refused"
        # Since the procedure catalogue (issue 5): an uncatalogued MaTTHC names no agency.
        assert state[1] is not None and state[1].startswith("lifecycle.procedure_unknown")
        assert "procedure catalogue" in state[1]


async def test_flaky_igate_and_restarts_still_deliver_exactly_once(edge: Edge) -> None:
    codes = [f"H29-F{i:02d}" for i in range(6)]
    for code in codes:
        await edge.igate(H29, "POST", "/api/v1/dossiers", igate_dossier(code))
    for sim in edge.igates.values():
        sim.faults = Faults(error_rate=0.35, lost_reply_rate=0.3, seed=7)
        sim._random.seed(7)
    for _ in range(25):  # each cycle is a fresh process: restart after every cycle
        await edge.cycle(H29)
        await edge.cycle(H41)
        if all(edge.igates[H41].dossier(c) for c in codes):
            break
    for sim in edge.igates.values():
        sim.faults = Faults()
    assert all(edge.igates[H41].dossier(c) == igate_dossier(c) for c in codes)
    assert edge.igates[H41].failures > 0 and edge.igates[H29].failures > 0
    # every package reached H41 exactly once and was acknowledged
    client = await edge.hub.client(H41)
    inbox = await client.inbox_page()
    assert inbox["items"] == []
    outbox = await (await edge.hub.client(H29)).outbox_page()
    assert sorted(i["document_id"] for i in outbox["items"]) == sorted(codes)


async def test_tampered_package_is_quarantined_not_acked(edge: Edge) -> None:
    await edge.igate(H29, "POST", "/api/v1/dossiers", igate_dossier("H29-T"))
    await edge.cycle(H29)
    # the recipient's trust anchors do not include the hub CA: verification must fail
    other = edge.tmp / "other-ca.pem"
    from signing.pki import create_ca, save_certificate

    save_certificate(other, create_ca("Somebody else")[1])
    conn = edge.connector(H41)
    conn._trust = type(conn._trust)(  # the connector trusts a different CA only
        [__import__("signing.pki", fromlist=["x"]).load_certificates(other)[0]]
    )
    async with conn as c:
        report = await c.run_once()
        assert report.quarantined == 1 and report.delivered == 0
        ((code, _detail),) = c.state.quarantined().values()
        assert code.startswith("certificate") or code.startswith("signature")
    inbox = await (await edge.hub.client(H41)).inbox_page()
    assert len(inbox["items"]) == 1  # still there, not acknowledged
    assert json.dumps(edge.igates[H41].dossier("H29-T")) == "null"


async def test_hub_connector_command_runs_one_cycle(edge: Edge) -> None:
    import sys

    await edge.igate(H29, "POST", "/api/v1/dossiers", igate_dossier("H29-CLI"))
    path = write_config(edge.hub.workdir, H29, edge.igates[H29].url, edge.tmp / "data-cli")
    path.write_text(path.read_text().replace("{hub_url}", edge.hub.url))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.cli", "connector", "--config", str(path), "--once",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, stderr.decode()
    assert json.loads(stdout.decode().strip().splitlines()[-1])["sent"] == 1
    assert (await edge.cycle(H41)).delivered == 1


# -- deliver errors, the sent hook and receipt verification -----------------------------------


async def test_deliver_errors_are_quarantined_or_deferred_and_the_loop_goes_on(
    edge: Edge,
) -> None:
    from hub.adapter import AdapterError, DeliverRequest, DeliverResult, ExternalUnavailable
    from hub.adapter import NativeInvalid as Invalid

    codes = ["H29-E-CONFIG", "H29-E-INVALID", "H29-E-BUSY", "H29-E-OK"]
    for code in codes:
        await edge.igate(H29, "POST", "/api/v1/dossiers", igate_dossier(code))
    assert (await edge.cycle(H29)).sent == 4

    busy_once = {"H29-E-BUSY"}
    conn = edge.connector(H41)
    real_deliver = conn.adapter.deliver

    async def deliver(request: DeliverRequest) -> DeliverResult:
        code = str(request.record.fields["code"])
        if code == "H29-E-CONFIG":  # e.g. the portal's 06: unit not allowed for the account
            raise AdapterError("DVCQG error_code 06: unit not allowed")
        if code == "H29-E-INVALID":  # e.g. the portal's 03 or a QLVB's 422
            raise Invalid("MaTTHC", "the portal does not know this procedure")
        if code in busy_once:
            busy_once.discard(code)
            raise ExternalUnavailable("503 from the system")
        return await real_deliver(request)

    setattr(conn.adapter, "deliver", deliver)  # noqa: B010 - replace one method for the test
    async with conn as c:
        first = await c.inbound_once()
        # the two refused packages are kept; the unavailable one ends the cycle, kept in order
        assert (first.quarantined, first.deferred, first.delivered) == (2, 1, 0)
        second = await c.inbound_once()
        assert (second.delivered, second.quarantined) == (2, 0)
        codes_kept = sorted(code for code, _ in c.state.quarantined().values())
        assert codes_kept == ["adapter.error: AdapterError", "native.invalid: MaTTHC"]
        assert (await c.inbound_once()).delivered == 0  # quarantined: not retried

        # an unexpected failure of a whole cycle does not end the loop
        async def broken() -> Any:
            raise RuntimeError("a bug in an adapter")

        setattr(c, "inbound_once", broken)  # noqa: B010
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.35, stop.set)
        total = await c.run(stop)
        assert total.errors >= 2  # it kept cycling
    assert edge.igates[H41].dossier("H29-E-OK") is not None
    assert edge.igates[H41].dossier("H29-E-BUSY") is not None
    inbox = await (await edge.hub.client(H41)).inbox_page()
    assert len(inbox["items"]) == 2  # the quarantined ones, not acknowledged


async def test_a_refused_api_key_is_reported_as_configuration_not_quarantined(
    edge: Edge,
) -> None:
    """iGate refuses the connector's API key: a configuration problem. Nothing is quarantined,
    rejected or counted as a crash; the work stays where it is (records unsent, packages in the
    inbox) and goes through once the key is right again."""
    await edge.igate(H29, "POST", "/api/v1/dossiers", igate_dossier("H29-KEY-1"))
    assert (await edge.cycle(H29)).sent == 1
    answer = igate_dossier("H41-KEY-2")
    answer["to"] = [H29]
    await edge.igate(H41, "POST", "/api/v1/dossiers", answer)
    conn = edge.connector(H41)
    good = dict(conn.adapter._headers)  # type: ignore[attr-defined]
    conn.adapter._headers = {"X-API-Key": "revoked"}  # type: ignore[attr-defined]
    async with conn as c:
        out = await c.outbound_once()
        assert (out.misconfigured, out.errors, out.rejected, out.sent) == (1, 0, 0, 0)
        await edge.settle()
        inbound = await c.inbound_once()
        assert (inbound.misconfigured, inbound.quarantined, inbound.delivered) == (1, 0, 0)
        assert c.state.quarantined() == {} and c.state.rejected() == []
        # fixed: the same connector state sends and delivers what waited
        c.adapter._headers = good  # type: ignore[attr-defined]
        report = await c.run_once()
        assert (report.sent, report.delivered, report.misconfigured) == (1, 1, 0)
    assert edge.igates[H41].dossier("H29-KEY-1") is not None
    assert (await (await edge.hub.client(H41)).inbox_page())["items"] == []


async def test_a_bug_in_a_mapping_surfaces_and_only_validation_errors_quarantine(
    edge: Edge,
) -> None:
    """A ValueError out of ``from_package`` that no validation documents (a programming error)
    is a failure of the cycle, not a verdict on the package: it stays in the inbox, and
    goes through once the bug is fixed. The models' documented validation errors still
    quarantine, under stable codes (not Python class names)."""
    for code in ("H29-BUG-1", "H29-BUG-2"):
        await edge.igate(H29, "POST", "/api/v1/dossiers", igate_dossier(code))
    assert (await edge.cycle(H29)).sent == 2
    conn = edge.connector(H41)
    real = conn.adapter.from_package

    def buggy(request: FromPackageRequest) -> NativeRecord:
        return NativeRecord("k", str(int("v1")), "dossier", {})  # a bug: int() of text

    setattr(conn.adapter, "from_package", buggy)  # noqa: B010 - one method for the test
    async with conn as c:
        with pytest.raises(ValueError, match="invalid literal"):
            await c.inbound_once()
        assert c.state.quarantined() == {}  # no package blamed for the bug

        def document_id_check(request: FromPackageRequest) -> NativeRecord:
            record = real(request)
            if record.key == "H29-BUG-1":  # a mapping that parses what the package states
                DocumentIdParts.parse("not a DocumentId")
            return record

        setattr(c.adapter, "from_package", document_id_check)  # noqa: B010
        report = await c.inbound_once()
        assert (report.quarantined, report.delivered) == (1, 1)
        ((code, detail),) = c.state.quarantined().values()
        assert code == "model.invalid_document_id" and "not a DocumentId" in detail
    assert edge.igates[H41].dossier("H29-BUG-2") is not None
    assert edge.igates[H41].dossier("H29-BUG-1") is None


async def test_a_package_of_no_known_format_is_a_coded_refusal(edge: Edge) -> None:
    """The inbound path's documented refusals are coded (quarantined as ``schema.invalid``),
    never a bare ValueError that would now be taken for a bug."""
    async with edge.connector(H41) as c:
        with pytest.raises(SchemaInvalid, match="not a package format"):
            c._verify(b"<Unknown>not a package</Unknown>")


async def test_quarantined_packages_at_the_head_do_not_hold_back_later_batches(
    edge: Edge,
) -> None:
    """More quarantined packages at the head of the inbox than a batch holds: the connector
    walks past them with the batch cursor and delivers the ones after them, this cycle and
    the next, across several batches; the quarantined stay unacknowledged."""
    from hub.adapter import DeliverRequest, DeliverResult
    from hub.adapter import NativeInvalid as Invalid

    refused = [f"H29-Q-{i}" for i in range(3)]
    later = [f"H29-L-{i}" for i in range(3)]
    for code in [*refused, *later]:
        await edge.igate(H29, "POST", "/api/v1/dossiers", igate_dossier(code))
    assert (await edge.cycle(H29)).sent == 6
    await edge.settle()
    waiting = (await (await edge.hub.client(H41)).inbox_page())["items"]
    assert [i["document_id"] for i in waiting] == [*refused, *later]  # oldest first

    conn = edge.connector(H41)
    conn.config = replace(conn.config, batch=2)  # the three refused fill more than a batch
    real_deliver = conn.adapter.deliver

    async def deliver(request: DeliverRequest) -> DeliverResult:
        if str(request.record.fields["code"]) in refused:
            raise Invalid("MaTTHC", "the portal does not know this procedure")
        return await real_deliver(request)

    setattr(conn.adapter, "deliver", deliver)  # noqa: B010 - replace one method for the test
    async with conn as c:
        c.full_walk_cycles = 3
        fetched: list[list[str]] = []  # the ids of every batch, cycle after cycle
        real_fetch = c.client.fetch_batch

        async def fetch_batch(limit: int = 100, cursor: str | None = None) -> InboxBatch:
            batch = await real_fetch(limit, cursor)
            fetched[-1].extend(i.id for i in batch.items)
            return batch

        setattr(c.client, "fetch_batch", fetch_batch)  # noqa: B010 - count what comes down
        fetched.append([])
        first = await c.inbound_once()
        assert (first.quarantined, first.delivered, first.deferred) == (3, 3, 0)
        quarantined = set(c.state.quarantined())
        assert len(quarantined) == 3 and quarantined <= set(fetched[0])
        # the next cycle goes on from where the first stopped: what arrived since is
        # delivered, and the three quarantined (a whole batch and half the next) are not
        # downloaded again
        newer = [f"H29-N-{i}" for i in range(3)]
        for code in newer:
            await edge.igate(H29, "POST", "/api/v1/dossiers", igate_dossier(code))
        assert (await edge.cycle(H29)).sent == 3
        await edge.settle()
        fetched.append([])
        second = await c.inbound_once()
        assert (second.quarantined, second.delivered, second.deferred) == (0, 3, 0)
        assert len(fetched[1]) == 3 and not quarantined & set(fetched[1])
        fetched.append([])
        assert (await c.inbound_once()).delivered == 0
        assert fetched[2] == []  # nothing new: one empty answer
        # every third cycle walks from the oldest: the quarantined come down again, and stay
        # set aside
        fetched.append([])
        fourth = await c.inbound_once()
        assert (fourth.quarantined, fourth.delivered) == (0, 0)
        assert set(fetched[3]) == quarantined
        assert len(c.state.quarantined()) == 3
    for code in [*later, *newer]:
        assert edge.igates[H41].dossier(code) == igate_dossier(code)
    for code in refused:
        assert edge.igates[H41].dossier(code) is None
    inbox = await (await edge.hub.client(H41)).inbox_page()
    assert sorted(i["document_id"] for i in inbox["items"]) == refused  # not acknowledged


async def test_sent_hook_gets_the_verified_receipt_once(edge: Edge) -> None:
    import hashlib

    from hub.adapter import ExternalUnavailable, SentRequest, sent_hook, stable_package_id
    from hub.receipts import RECEIPT_POLICY, parse_receipt
    from signing import verify_enveloped

    await edge.igate(H29, "POST", "/api/v1/dossiers", igate_dossier("H29-S1"))
    calls: list[SentRequest] = []
    fail_first = [True]

    async def sent(request: SentRequest) -> None:
        if fail_first[0]:  # the agency's database is locked: the receipt waits in the state
            fail_first[0] = False
            raise ExternalUnavailable("database is locked")
        calls.append(request)

    conn = edge.connector(H29)
    setattr(conn.adapter, "sent", sent)  # noqa: B010 - an adapter that has the optional hook
    assert sent_hook(conn.adapter) is not None
    async with conn as c:
        report = await c.run_once()
        assert (report.sent, report.notified, report.deferred) == (1, 0, 1)
        again = await c.run_once()
        assert (again.sent, again.notified) == (0, 1)
        assert (await c.run_once()).notified == 0  # taken once
        kept = c.state.receipt_of("H29-S1", "r1")
    (call,) = calls
    outbox = await (await edge.hub.client(H29)).outbox_page()
    (item,) = outbox["items"]
    assert call.package_id == item["id"]  # the hub's id, not the connector's
    assert call.sender_package_id == stable_package_id(H29, "H29-S1", "r1")
    assert (call.record_key, call.version, call.kind) == ("H29-S1", "r1", "dossier")
    assert call.receipt == kept and call.receipt_sha256 == hashlib.sha256(call.receipt).hexdigest()
    facts = parse_receipt(verify_enveloped(call.receipt, RECEIPT_POLICY).signed_root)
    assert facts.package_id == call.package_id and call.recipients == (H41,)
    assert call.accepted_at == facts.accepted_at


async def test_a_receipt_that_does_not_verify_leaves_the_record_unsent(edge: Edge) -> None:
    from hub.adapter.connector import ReceiptInvalid
    from signing import TrustStore
    from signing.pki import create_ca

    await edge.igate(H29, "POST", "/api/v1/dossiers", igate_dossier("H29-R1"))
    conn = edge.connector(H29)
    good_trust = conn._receipt_trust
    conn._receipt_trust = TrustStore([create_ca("Not the hub's CA")[1]])
    async with conn as c:
        report = await c.run_once()
        assert (report.sent, report.receipt_invalid, report.deferred) == (0, 1, 1)
        assert c.state.sent_state("H29-R1", "r1") == ("signed", None)
        assert c.state.get_cursor() is None  # the poll cursor did not move past it

        c._receipt_trust = good_trust
        fixed = await c.run_once()
        assert (fixed.resent, fixed.receipt_invalid) == (1, 0)
        state = c.state.sent_state("H29-R1", "r1")
        assert state is not None and state[0] == "accepted"

        # a receipt for other bytes (or naming another package) is refused
        outbox = await (await edge.hub.client(H29)).outbox_page()
        (item,) = outbox["items"]  # the same bytes again were de-duplicated by the hub
        receipt = await c.client.receipt(str(item["id"]))
        from hub.client import Submitted

        with pytest.raises(ReceiptInvalid, match="sha256"):
            c.check_receipt(Submitted(str(item["id"]), False, receipt, (H41,)), b"<x/>")


async def test_an_answer_the_client_refuses_is_the_hub_being_unavailable(
    edge: Edge, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A receipt or a batch over the client's limits (``client.answer_too_large``) leaves the
    record signed-not-sent and the package in the inbox, and no cycle fails: the next cycle,
    with answers within the limits, sends and delivers as usual."""
    await edge.igate(H29, "POST", "/api/v1/dossiers", igate_dossier("H29-BIG"))
    monkeypatch.setattr("hub.client.RECEIPT_MAX_BYTES", 100)  # every real receipt is larger
    conn = edge.connector(H29)
    conn.config = replace(conn.config, submit_attempts=2)
    async with conn as c:
        report = await c.run_once()
        assert (report.sent, report.deferred, report.errors) == (0, 1, 0)
        assert c.state.sent_state("H29-BIG", "r1") == ("signed", None)
        monkeypatch.undo()
        assert (await c.run_once()).resent == 1
    await edge.settle()
    small = edge.connector(H41)
    small.config = replace(small.config, max_package_bytes=100)  # the dossier is larger
    async with small as c:
        report = await c.run_once()
        assert (report.delivered, report.deferred, report.errors) == (0, 1, 0)
    assert (await edge.cycle(H41)).delivered == 1


def test_the_package_limit_is_read_from_the_config(workdir: Workdir, tmp_path: Path) -> None:
    path = write_config(workdir, H29, "http://127.0.0.1:1", tmp_path / "data")
    assert load_connector_config(path).max_package_bytes == 20 * 1024 * 1024  # the hub's
    text = path.read_text().replace(
        "retry_base = 0.01", "retry_base = 0.01\nmax_package_bytes = 50000000"
    )
    path.write_text(text)
    assert load_connector_config(path).max_package_bytes == 50_000_000
