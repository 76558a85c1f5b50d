"""``GET /v1/agencies`` (issue 11): connected agencies and imported directory entries over
HTTP, and routing to an imported sub-unit unchanged (it still goes to its province)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from hub.client import HubProblem
from hub.demo.factory import Signer, document
from hub.directory import vxp_agency
from hub.directory_import import import_directory
from hub.edxml import Organ
from tests.api.conftest import RunningHub
from tests.directory_sample import H29, H29_TC, SAMPLE, sample_csv

G22, H41, H17_YTE = "000.00.00.G22", "000.00.00.H41", "000.00.05.H17"
T = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)

AGENCY_KEYS = {
    "code",
    "name",
    "parent",
    "level",
    "connected",
    "enabled",
    "may_send",
    "delivery",
    "code102",
    "old_code",
    "represented_by",
}


async def get(hub: RunningHub, path: str, organ: str = G22) -> tuple[int, Any, str]:
    headers = {"Authorization": f"Bearer {hub.workdir.token(organ)}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{hub.url}{path}", headers=headers) as resp,
    ):
        return resp.status, await resp.json(content_type=None), resp.content_type


async def imported(hub: RunningHub, tmp_path: Path) -> None:
    data = sample_csv(tmp_path / "directory.csv").read_bytes()
    plan = await import_directory(
        hub.runtime.store, hub.runtime.registry, data, "csv", at=T, source="directory.csv"
    )
    assert plan.written == len(SAMPLE)


async def test_the_directory_lists_connected_agencies_and_entries(
    hub: RunningHub, tmp_path: Path
) -> None:
    status, before, _ = await get(hub, "/v1/agencies")
    assert status == 200
    connected = [a for a in before["items"] if a["connected"]]
    assert len(connected) == len(before["items"]) == len(hub.runtime.registry.all())

    await imported(hub, tmp_path)
    status, body, _ = await get(hub, "/v1/agencies?limit=1000")
    assert status == 200 and body["next"] is None
    items = {a["code"]: a for a in body["items"]}
    assert all(set(a) == AGENCY_KEYS for a in body["items"])  # no tokens, certs, push URLs
    # the registered agencies, plus every sample code not registered
    registered = {a.organ_id for a in hub.runtime.registry.all()}
    assert set(items) == registered | {c for c, *_ in SAMPLE}

    tc = items[H29_TC]
    assert tc == {
        "code": H29_TC,
        "name": "Sở Tài chính Thành phố Hà Nội",
        "parent": H29,
        "level": 2,
        "connected": False,
        "enabled": False,
        "may_send": [],
        "delivery": None,
        "code102": H29_TC,
        "old_code": "STC.HN",
        "represented_by": H29,
    }
    h29 = items[H29]
    assert (h29["connected"], h29["enabled"], h29["delivery"]) == (True, True, "pull")
    assert h29["may_send"] and h29["represented_by"] is None
    # a registered sub-unit named in the file stays what agencies.toml says, with the codes
    snv = items["000.00.01.H41"]
    assert (snv["connected"], snv["name"], snv["old_code"]) == (
        True,
        "Sở Nội vụ Tỉnh Nghệ An",
        "SNV.NA",
    )
    assert items[H17_YTE]["represented_by"] is None  # Đắk Lắk has no system here

    # directory order: a province, then its units
    codes = [a["code"] for a in body["items"]]
    assert codes.index(H29) < codes.index("000.00.01.H29") < codes.index(H29_TC)
    assert codes.index(H29_TC) < codes.index("001.00.13.H29") < codes.index("000.00.14.H29")

    # the VXP mapping sees the same entries
    entry = await hub.runtime.directory.get(H29_TC)
    assert entry is not None
    assert vxp_agency(entry)["pid"] == H29 and vxp_agency(entry)["name"] == tc["name"]


async def test_filters_and_paging(hub: RunningHub, tmp_path: Path) -> None:
    await imported(hub, tmp_path)
    _, body, _ = await get(hub, "/v1/agencies?connected=false&q=so%20tai%20chinh")
    assert [a["code"] for a in body["items"]] == [H29_TC, "001.00.13.H29"]  # "— Sở Tài chính"
    # "Sở Tài chính Thành" as typed, with diacritics: the same folded words, one more
    _, body, _ = await get(hub, "/v1/agencies?q=S%E1%BB%9F%20T%C3%A0i%20ch%C3%ADnh%20Th%C3%A0nh")
    assert [a["code"] for a in body["items"]] == [H29_TC]
    _, body, _ = await get(hub, f"/v1/agencies?parent={H29_TC}")
    assert [a["code"] for a in body["items"]] == ["001.00.13.H29"]
    _, body, _ = await get(hub, "/v1/agencies?level=1&connected=true")
    assert all(a["level"] == 1 and a["connected"] for a in body["items"])
    _, body, _ = await get(hub, "/v1/agencies?q=h17")
    assert [a["code"] for a in body["items"]] == ["000.00.00.H17", H17_YTE]

    _, whole, _ = await get(hub, "/v1/agencies?limit=1000")
    paged: list[str] = []
    cursor = ""
    while True:
        _, page, _ = await get(hub, f"/v1/agencies?limit=4&cursor={cursor}")
        paged.extend(a["code"] for a in page["items"])
        if page["next"] is None:
            break
        cursor = page["next"]
    assert paged == [a["code"] for a in whole["items"]]


async def test_one_agency_and_refusals(hub: RunningHub, tmp_path: Path) -> None:
    await imported(hub, tmp_path)
    status, body, _ = await get(hub, f"/v1/agencies/{H29_TC}")
    assert status == 200 and body["represented_by"] == H29
    status, body, ctype = await get(hub, "/v1/agencies/000.00.99.H29")
    assert (status, body["code"], ctype) == (404, "agency.not_found", "application/problem+json")
    for query, code in (
        ("level=5", "request.bad_parameter"),
        ("level=", "request.bad_parameter"),
        ("connected=maybe", "request.bad_parameter"),
        ("parent=H29", "request.bad_parameter"),
        ("cursor=%21%21", "request.bad_cursor"),
        ("limit=x", "request.bad_limit"),
        ("limit=0", "request.bad_limit"),
    ):
        status, body, ctype = await get(hub, f"/v1/agencies?{query}")
        assert (status, body["code"], ctype) == (400, code, "application/problem+json"), query
    async with aiohttp.ClientSession() as session, session.get(f"{hub.url}/v1/agencies") as resp:
        assert resp.status == 401
        assert (await resp.json(content_type=None))["code"] == "auth.required"


async def test_a_document_to_an_imported_subunit_still_goes_to_its_province(
    hub: RunningHub, tmp_path: Path, signers: Callable[[str], Signer]
) -> None:
    """Importing 000.00.13.H29 never connects it: the hub delivers to 000.00.00.H29, which
    stands for it, exactly as before the import; a unit of a province with no system stays
    refused."""
    await imported(hub, tmp_path)
    _, data = document(signers(G22), [Organ(organ_id=H29_TC, organ_name=H29_TC)], number=1101)
    sender = await hub.client(G22)
    submitted = await sender.submit(data)
    assert submitted.recipients == (H29,)
    trace = await sender.trace(submitted.package_id)
    assert [(r["organ_id"], r["stands_for"]) for r in trace["recipients"]] == [(H29, [H29_TC])]

    recipient = await hub.client(H29)
    for _ in range(500):
        items = [i async for i in recipient.inbox_items()]
        if items:
            break
        await asyncio.sleep(0.02)
    assert [(i["id"], i["stands_for"]) for i in items] == [(submitted.package_id, [H29_TC])]

    _, refused = document(signers(G22), [Organ(organ_id=H17_YTE, organ_name="Sở Y tế")], number=2)
    try:
        await sender.submit(refused)
    except HubProblem as problem:
        assert problem.body["code"] == "route.unknown_recipient"
    else:
        raise AssertionError("a unit of a province without a system was accepted")
