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
from tests.vxp.conftest import G22, H14, H29, H41, Sdk, available, secret, step

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
    hub, tmp = vxp_hub, tmp_path
    edoc = {"servicetype": "eDoc", "messagetype": "edoc"}
    # 1. G22 sends two SDK-written, unsigned documents (one with a Bussiness block), once more
    #    the first (a replay), and lists what it sent; the directory calls.
    r = await sdk.run(
        as_(hub, G22, tmp),
        step("send", {"from": G22, **edoc}, str(DOC_777)),
        step("send", {"from": G22, **edoc}, str(DOC_778)),
        step("send", {"from": G22, **edoc}, str(DOC_777)),
        step("sent", edoc),
        step("agencies"),
        step("qd20", {"level": "1"}),
        step("sync"),
        step("register", {}, '{"code":"000.00.09.H41","name":"x"}'),
        step("download2", {"docId": "x"}),
    )
    for res in r[1:4]:
        ok(res)
    doc777, doc778 = r[1]["docId"], r[2]["docId"]
    assert r[3]["docId"] == doc777  # replay answered idempotently, same DocId
    assert doc777 != doc778
    sent = r[4]["items"]
    assert {(i["senderDocId"], i["toCode"]) for i in sent} >= {(doc777, H41), (doc777, H14)}
    ok(r[5])
    agencies = {a["code"]: a for a in r[5]["items"]}
    assert agencies[H41]["name"] == "UBND Tỉnh Nghệ An"  # Vietnamese survives the SDK
    assert agencies["000.00.01.H41"]["pid"] == H41
    ok(r[6])
    assert all(a["code102"] == a["code"] for a in r[6]["items"])
    assert "000.00.01.H41" not in {a["code"] for a in r[6]["items"]}  # level 1 only
    ok(r[7])
    assert r[7]["size"] == len(agencies)
    assert (r[8]["status"], r[8]["errorCode"]) == ("FAIL", "vxp.registration_disabled")
    assert r[9]["status"] != "OK"  # downloadEdoc2 carries no authentication
    record = await hub.runtime.store.get_package(doc777)
    assert record is not None and record.signer_fingerprint is None
    for doc in (doc777, doc778):
        await available(hub, doc)
    assert "signature.envelope_unsigned" in record.warnings

    # 2. H41 lists, counts, fetches (exact bytes, also by downloadEdoc), marks processing then
    #    done (twice: harmless), answers 778 with the SDK's status 03; the list is empty after.
    r = await sdk.run(as_(hub, H41, tmp), step("received", edoc), step("countEdoc"))
    ok(r[1])
    ok(r[2])
    ids = {i["docId"] for i in r[1]["items"]}
    id777, id778 = f"{doc777}.{H41}", f"{doc778}.{H41}"
    assert ids == {id777, id778} and r[2]["count"] == 2
    assert all(i["from"] == G22 and i["messageType"] == "edoc" for i in r[1]["items"])
    store_dir = tmp / "files"
    store_dir.mkdir()
    r = await sdk.run(
        as_(hub, H41, tmp),
        step("get", {"docId": id777, "filePath": str(store_dir)}),
        step("download", {"docId": id778, "filePath": str(store_dir)}),
        step("update", {"docId": id777, "status": "processing"}),
        step("update", {"docId": id777, "status": "done"}),
        step("update", {"docId": id777, "status": "done"}),
        step("update", {"docId": id778, "status": "done"}),
        step("update", {"docId": id778, "status": "inbox"}),
        step("received", edoc),
        step("send", {"from": H41, "servicetype": "eDoc", "messagetype": "status"}, str(STATUS_03)),
        step("received", edoc),
    )
    ok(r[1])
    assert r[1]["dataSha256"] == hashlib.sha256(DOC_777.read_bytes()).hexdigest()
    assert r[1]["fileSha256"] == hashlib.sha256(DOC_777.read_bytes()).hexdigest()
    assert r[2]["fileSha256"] == hashlib.sha256(DOC_778.read_bytes()).hexdigest()
    for res in r[3:7]:
        ok(res)
    assert (r[7]["status"], r[7]["errorCode"]) == ("FAIL", "vxp.status_unknown")
    ok(r[8])  # stale status/docId headers from updateStatus are ignored as filters
    assert r[8]["items"] == []
    ok(r[9])
    ok(r[10])
    assert r[10]["items"] == []
    delivery = await hub.runtime.store.get_delivery(doc777, H41)
    assert delivery is not None and delivery.state == DeliveryState.ACKED
    assert (await hub.runtime.store.get_delivery(doc777, H14)).state != DeliveryState.ACKED  # type: ignore[union-attr]

    await available(hub, r[9]["docId"])

    # 3. G22 receives the status, fetches it, marks it done; sees H41 done in its sent list.
    status_list = {"servicetype": "eDoc", "messagetype": "status"}
    r = await sdk.run(
        as_(hub, G22, tmp), step("countStatus"), step("received", status_list), step("sent", edoc)
    )
    ok(r[1])
    assert r[1]["count"] == 1
    (item,) = r[2]["items"]
    assert item["from"] == H41 and item["messageType"] == "status"
    receive = {(i["senderDocId"], i["toCode"]): i["receiveStatus"] for i in r[3]["items"]}
    assert receive[(doc777, H41)] == "done"
    r = await sdk.run(
        as_(hub, G22, tmp),
        step("get", {"docId": item["docId"]}),
        step("update", {"docId": item["docId"], "status": "done"}),
        step("received", status_list),
    )
    ok(r[1])
    assert r[1]["dataSha256"] == hashlib.sha256(STATUS_03.read_bytes()).hexdigest()
    ok(r[2])
    assert r[3]["items"] == []

    # 4. A third agency cannot read, a wrong secret is refused, H14 marks 777 fail.
    r = await sdk.run(
        as_(hub, H29, tmp),
        step("get", {"docId": id777}),
        step("get", {"docId": doc777}),
        step("update", {"docId": id777, "status": "done"}),
        as_(hub, H41, tmp, wrong=True),
        step("received", edoc),
        as_(hub, H14, tmp),
        step("update", {"docId": f"{doc777}.{H14}", "status": "fail"}),
    )
    for res in r[1:4]:
        assert (res["status"], res["errorCode"]) == ("FAIL", "vxp.not_found"), res
    assert (r[5]["status"], r[5]["errorCode"]) == ("FAIL", "vxp.auth")
    ok(r[7])
    failed = await hub.runtime.store.get_delivery(doc777, H14)
    assert failed is not None and failed.state == DeliveryState.FAILED
