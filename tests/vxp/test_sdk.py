"""The real national SDK (SDKVXP 2.0.1) against a running hub, unchanged: only its endpoint
and credentials point at the hub. One JVM per scenario."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hub.demo.workdir import vxp_system_id
from hub.models import DeliveryState
from tests.api.conftest import RunningHub
from tests.conftest import shared_testdata
from tests.vxp.conftest import G22, H14, H29, H41, Sdk, secret, step

DOC_777 = shared_testdata("edxml-sdk", "sdk_doc_new_with_bussiness.edxml")  # Bussiness block
DOC_778 = shared_testdata("edxml-sdk", "sdk_doc_new_no_bussiness.edxml")
STATUS_03 = shared_testdata("edxml-sdk", "sdk_status_03.edxml")  # H41 accepts 778


def as_(hub: RunningHub, organ_id: str, tmp: Path, *, wrong: bool = False) -> str:
    store = tmp / f"store-{organ_id}"
    store.mkdir(exist_ok=True)
    key = "not-the-secret" if wrong else secret(hub, organ_id)
    return f"as|{vxp_system_id(organ_id)}|{key}|{store}"


@pytest.fixture
def sdk(sdk_classes: Path, vxp_hub: RunningHub, tmp_path: Path) -> Sdk:
    # A trailing slash on purpose: the SDK then calls <base>//op, which the facade accepts.
    return Sdk(sdk_classes, vxp_hub.url + "/vxp/", tmp_path)


def ok(result: dict[str, object]) -> None:
    assert (result.get("status"), result.get("errorCode")) == ("OK", "0"), result


async def test_sdk_exchange_end_to_end(vxp_hub: RunningHub, sdk: Sdk, tmp_path: Path) -> None:
    """The whole exchange in one JVM run, each agency's system with its own SDK objects."""
    hub, tmp = vxp_hub, tmp_path
    edoc = {"servicetype": "eDoc", "messagetype": "edoc"}
    statuses = {"servicetype": "eDoc", "messagetype": "status"}
    files = tmp / "files"
    files.mkdir()
    results = await sdk.run(
        # G22 sends two SDK-written, unsigned documents (one with a Bussiness block), the
        # first once more (a replay), lists what it sent; the directory; what is refused.
        as_(hub, G22, tmp),
        step("d777=send", {"from": G22, **edoc}, str(DOC_777)),
        step("d778=send", {"from": G22, **edoc}, str(DOC_778)),
        step("replay=send", {"from": G22, **edoc}, str(DOC_777)),
        step("g22sent=sent", edoc),
        step("agencies=agencies"),
        step("qd20=qd20", {"level": "1"}),
        step("sync=sync"),
        step("register=register", {}, '{"code":"000.00.09.H41","name":"x"}'),
        step("download2=download2", {"docId": "x"}),
        # H41 polls until both arrive, counts, fetches (exact bytes, also by downloadEdoc),
        # marks processing then done (twice: harmless), answers 778 with the SDK's status 03.
        as_(hub, H41, tmp),
        step("h41list=wait", edoc, "2"),
        step("h41count=countEdoc"),
        step("get777=get", {"docId": f"${{d777}}.{H41}", "filePath": str(files)}),
        step("dl778=download", {"docId": f"${{d778}}.{H41}", "filePath": str(files)}),
        step("processing=update", {"docId": f"${{d777}}.{H41}", "status": "processing"}),
        step("done=update", {"docId": f"${{d777}}.{H41}", "status": "done"}),
        step("doneagain=update", {"docId": f"${{d777}}.{H41}", "status": "done"}),
        step("done778=update", {"docId": f"${{d778}}.{H41}", "status": "done"}),
        step("inbox=update", {"docId": f"${{d778}}.{H41}", "status": "inbox"}),
        # stale status/docId headers from updateStatus are ignored as filters
        step("h41empty=received", edoc),
        step(
            "st03=send",
            {"from": H41, "servicetype": "eDoc", "messagetype": "status"},
            str(STATUS_03),
        ),
        # G22 polls for the status, fetches it, marks it done; sees H41 done in its sent list.
        as_(hub, G22, tmp),
        step("gst=wait", statuses, "1"),
        step("g22count=countStatus"),
        step("g22sent2=sent", edoc),
        step("getst=get", {"docId": "${gst}"}),
        step("donest=update", {"docId": "${gst}", "status": "done"}),
        step("g22empty=received", statuses),
        # A third agency cannot read; a wrong secret is refused; H14 marks 777 fail.
        as_(hub, H29, tmp),
        step("h29get=get", {"docId": f"${{d777}}.{H41}"}),
        step("h29bare=get", {"docId": "${d777}"}),
        step("h29update=update", {"docId": f"${{d777}}.{H41}", "status": "done"}),
        as_(hub, H41, tmp, wrong=True),
        step("wrong=received", edoc),
        as_(hub, H14, tmp),
        step("h14list=wait", edoc, "2"),
        step("h14fail=update", {"docId": f"${{d777}}.{H14}", "status": "fail"}),
    )
    r = {x["name"]: x for x in results if "name" in x}
    for name in ("d777", "d778", "replay", "g22sent", "agencies", "qd20", "sync"):
        ok(r[name])
    doc777, doc778 = r["d777"]["docId"], r["d778"]["docId"]
    assert r["replay"]["docId"] == doc777  # replay answered idempotently, same DocId
    assert doc777 != doc778
    sent = r["g22sent"]["items"]
    assert {(i["senderDocId"], i["toCode"]) for i in sent} >= {(doc777, H41), (doc777, H14)}
    agencies = {a["code"]: a for a in r["agencies"]["items"]}
    assert agencies[H41]["name"] == "UBND Tỉnh Nghệ An"  # Vietnamese survives the SDK
    assert agencies["000.00.01.H41"]["pid"] == H41
    assert all(a["code102"] == a["code"] for a in r["qd20"]["items"])
    assert "000.00.01.H41" not in {a["code"] for a in r["qd20"]["items"]}  # level 1 only
    assert r["sync"]["size"] == len(agencies)
    assert (r["register"]["status"], r["register"]["errorCode"]) == (
        "FAIL",
        "vxp.registration_disabled",
    )
    assert r["download2"]["status"] != "OK"  # downloadEdoc2 carries no authentication
    record = await hub.runtime.store.get_package(doc777)
    assert record is not None and record.signer_fingerprint is None
    assert "signature.envelope_unsigned" in record.warnings

    id777, id778 = f"{doc777}.{H41}", f"{doc778}.{H41}"
    ok(r["h41list"])
    assert {i["docId"] for i in r["h41list"]["items"]} == {id777, id778}
    assert all(i["from"] == G22 and i["messageType"] == "edoc" for i in r["h41list"]["items"])
    ok(r["h41count"])
    assert r["h41count"]["count"] == 2
    sha = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (DOC_777, DOC_778, STATUS_03)}
    ok(r["get777"])
    assert r["get777"]["dataSha256"] == r["get777"]["fileSha256"] == sha[DOC_777]
    assert r["dl778"]["fileSha256"] == sha[DOC_778]
    for name in ("processing", "done", "doneagain", "done778", "h41empty", "st03"):
        ok(r[name])
    assert (r["inbox"]["status"], r["inbox"]["errorCode"]) == ("FAIL", "vxp.status_unknown")
    assert r["h41empty"]["items"] == []
    store = hub.runtime.store
    delivery = await store.get_delivery(doc777, H41)
    assert delivery is not None and delivery.state == DeliveryState.ACKED

    ok(r["gst"])
    (item,) = r["gst"]["items"]
    assert item["from"] == H41 and item["messageType"] == "status"
    assert item["docId"] == f"{r['st03']['docId']}.{G22}"
    assert r["g22count"]["count"] == 1
    receive = {(i["senderDocId"], i["toCode"]): i["receiveStatus"] for i in r["g22sent2"]["items"]}
    assert receive[(doc777, H41)] == "done"
    ok(r["getst"])
    assert r["getst"]["dataSha256"] == sha[STATUS_03]
    ok(r["donest"])
    ok(r["g22empty"])
    assert r["g22empty"]["items"] == []

    for name in ("h29get", "h29bare", "h29update"):
        assert (r[name]["status"], r[name]["errorCode"]) == ("FAIL", "vxp.not_found"), r[name]
    assert (r["wrong"]["status"], r["wrong"]["errorCode"]) == ("FAIL", "vxp.auth")
    ok(r["h14fail"])
    failed = await store.get_delivery(doc777, H14)
    assert failed is not None and failed.state == DeliveryState.FAILED
    assert failed.last_error is not None and "fail" in failed.last_error
