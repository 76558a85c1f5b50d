"""Recipients in batches: ``GET /v1/inbox/packages`` (multipart/mixed, the exact bytes of the
oldest waiting packages) and ``POST /v1/inbox/acks`` (many acks in one grouped write)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from prometheus_client import REGISTRY

from hub.api import packages as api_packages
from hub.client import HubProblem, InboxBatch
from hub.demo.factory import Signer, document
from hub.edxml import Organ
from hub.models import DeliveryChange, DeliveryState
from tests.api.conftest import RunningHub, inbox_with

G22, H41, H14, G17, H29 = (
    "000.00.00.G22",
    "000.00.00.H41",
    "000.00.00.H14",
    "000.00.00.G17",
    "000.00.00.H29",
)
H29_DEPT = "000.00.13.H29"  # a Hà Nội department without a system of its own


def organs(*ids: str) -> list[Organ]:
    return [Organ(organ_id=i, organ_name=i) for i in ids]


async def send(
    hub: RunningHub, signers: Callable[[str], Signer], to: str, n: int, first: int = 1
) -> list[tuple[str, bytes]]:
    """``n`` documents from G22 to ``to``: (package id, exact bytes), in submission order."""
    client = await hub.client(G22)
    sent = []
    for i in range(n):
        _, data = document(signers(G22), organs(to), number=first + i, attachments=0)
        sent.append(((await client.submit(data)).package_id, data))
    return sent


async def settled(hub: RunningHub) -> None:
    """Wait until every change queued in the settler before now is committed: a later
    ``settle`` call is never settled before them (no clock involved)."""
    (outcome,) = await hub.runtime.settler.settle(
        DeliveryChange("no-such-package", H14, DeliveryState.DELIVERED)
    )
    assert outcome.record is None


def acks_counted() -> float:
    return REGISTRY.get_sample_value("hub_acks_total") or 0.0


async def test_batch_fetch_gives_the_exact_bytes_and_marks_delivered(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    sent = await send(hub, signers, H14, 3)
    assert "Hà Nội".encode() in sent[0][1]  # Vietnamese text, byte for byte
    await inbox_with(hub, H14, 3)
    recipient = await hub.client(H14)

    got = (await recipient.fetch_batch()).items
    assert [(p.id, p.data) for p in got] == sent  # oldest first, untouched
    for package in got:
        assert package.sender == G22 and package.kind == "document"
        assert package.sha256 == hashlib.sha256(package.data).hexdigest()
        assert package.stands_for == ()
        # the same bytes and headers a single fetch gives
        assert await recipient.fetch(package.id) == package.data

    await settled(hub)
    items = (await recipient.inbox_page())["items"]
    assert [(i["id"], i["state"]) for i in items] == [(i, "delivered") for i, _ in sent]
    # Not acked: offered again, still delivered, marked once.
    assert [p.id for p in (await recipient.fetch_batch()).items] == [i for i, _ in sent]
    await settled(hub)
    trace = await (await hub.client(G22)).trace(sent[0][0])
    assert [e["kind"] for e in trace["events"]].count("delivered") == 1

    before = acks_counted()
    answer = await recipient.ack_batch([i for i, _ in sent])
    assert answer["organ_id"] == H14
    assert (answer["acked"], answer["already_acked"], answer["not_found"]) == (3, 0, 0)
    assert [(i["id"], i["already_acked"]) for i in answer["items"]] == [(i, False) for i, _ in sent]
    assert all(i["acked_at"] and "code" not in i for i in answer["items"])
    assert acks_counted() == before + 3
    assert await recipient.fetch_batch() == InboxBatch((), None)  # nothing waits: 204

    again = await recipient.ack_batch([i for i, _ in sent])
    assert (again["acked"], again["already_acked"]) == (0, 3)
    assert [i["acked_at"] for i in again["items"]] == [i["acked_at"] for i in answer["items"]]
    assert acks_counted() == before + 3  # counted once
    # a single ack agrees
    assert (await recipient.ack(sent[1][0]))["already_acked"] is True


async def test_the_raw_answer_is_multipart_mixed_with_a_single_fetchs_headers(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    ((package_id, data),) = await send(hub, signers, H14, 1)
    await inbox_with(hub, H14, 1)
    auth = {"Authorization": f"Bearer {hub.workdir.token(H14)}"}
    async with aiohttp.ClientSession(headers=auth) as session:
        async with session.get(f"{hub.url}/v1/packages/{package_id}") as single:
            assert single.status == 200
            single_headers = single.headers.copy()
        async with session.get(f"{hub.url}/v1/inbox/packages") as resp:
            assert resp.status == 200
            assert resp.content_type == "multipart/mixed"
            boundary = resp.headers["Content-Type"].split("boundary=")[1]
            after = resp.headers["Hub-Next-Cursor"]  # the position of the last package
            body = await resp.read()
        # nothing after it: 204, no body and no cursor (the caller keeps its own)
        async with session.get(f"{hub.url}/v1/inbox/packages?cursor={after}") as resp:
            assert resp.status == 204 and "Hub-Next-Cursor" not in resp.headers
            assert await resp.read() == b""
    assert body.startswith(f"--{boundary}\r\n".encode())
    assert body.endswith(f"\r\n--{boundary}--\r\n".encode())
    head, rest = body[len(boundary) + 4 :].split(b"\r\n\r\n", 1)
    assert rest == data + f"\r\n--{boundary}--\r\n".encode()
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
    for name in ("Hub-Package-Id", "Hub-Sender", "Hub-Kind", "ETag", "Content-Type"):
        assert headers[name] == single_headers[name], name
    assert headers["Content-Length"] == str(len(data))


async def test_only_the_callers_packages(hub: RunningHub, signers: Callable[[str], Signer]) -> None:
    ((to_h14, _),) = await send(hub, signers, H14, 1)
    ((to_h41, _),) = await send(hub, signers, H41, 1, first=10)
    await inbox_with(hub, H14, 1)
    await inbox_with(hub, H41, 1)
    assert [p.id for p in (await (await hub.client(H14)).fetch_batch()).items] == [to_h14]
    assert (await (await hub.client(G17)).fetch_batch()).items == ()
    assert (
        await (await hub.client(G22)).fetch_batch()
    ).items == ()  # a sender's own: not its inbox

    # Acks of what the caller does not receive: per item, never a hint that they exist.
    outsider = await (await hub.client(G17)).ack_batch([to_h14, "no-such-package"])
    assert outsider["not_found"] == 2 and outsider["acked"] == 0
    assert [(i["id"], i["code"], i["acked_at"]) for i in outsider["items"]] == [
        (to_h14, "package.not_found", None),
        ("no-such-package", "package.not_found", None),
    ]
    sender = await (await hub.client(G22)).ack_batch([to_h14])
    assert sender["items"][0]["code"] == "package.not_found"
    # ... and they fail nothing else; a repeated id is answered once.
    mixed = await (await hub.client(H14)).ack_batch([to_h14, to_h41, to_h14])
    assert [(i["id"], i.get("code")) for i in mixed["items"]] == [
        (to_h14, None),
        (to_h41, "package.not_found"),
    ]
    assert (mixed["acked"], mixed["not_found"]) == (1, 1)
    (h41_item,) = (await (await hub.client(H41)).inbox_page())["items"]
    assert h41_item["id"] == to_h41 and h41_item["state"] == "available"
    assert await (await hub.client(H41)).ack_batch([]) == {
        "organ_id": H41,
        "items": [],
        "acked": 0,
        "already_acked": 0,
        "not_found": 0,
    }


async def test_limit_and_byte_budget(
    hub: RunningHub, signers: Callable[[str], Signer], monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = await send(hub, signers, H14, 5)
    ids = [i for i, _ in sent]
    sizes = [len(d) for _, d in sent]
    await inbox_with(hub, H14, 5)
    recipient = await hub.client(H14)
    assert [p.id for p in (await recipient.fetch_batch(limit=2)).items] == ids[:2]
    assert [p.id for p in (await recipient.fetch_batch(limit=1000)).items] == ids
    monkeypatch.setattr(api_packages, "BATCH_MAX_PACKAGES", 3)
    assert [p.id for p in (await recipient.fetch_batch(limit=1000)).items] == ids[:3]
    monkeypatch.setattr(api_packages, "BATCH_MAX_PACKAGES", 100)
    # whole packages up to the budget, and always the first
    monkeypatch.setattr(api_packages, "BATCH_MAX_BYTES", sizes[0] + sizes[1])
    assert [p.id for p in (await recipient.fetch_batch()).items] == ids[:2]
    monkeypatch.setattr(api_packages, "BATCH_MAX_BYTES", sizes[0] + sizes[1] - 1)
    assert [p.id for p in (await recipient.fetch_batch()).items] == ids[:1]
    monkeypatch.setattr(api_packages, "BATCH_MAX_BYTES", 1)
    assert [p.data for p in (await recipient.fetch_batch()).items] == [sent[0][1]]
    # acked ones make room for the next
    await recipient.ack_batch(ids[:1])
    assert [p.id for p in (await recipient.fetch_batch()).items] == ids[1:2]


async def test_a_cursor_pages_through_more_than_a_batch_holds(
    hub: RunningHub, signers: Callable[[str], Signer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch carries the position of its last package; passed back, the next batch
    starts strictly after it, in the same order, until a 204."""
    sent = await send(hub, signers, H14, 7)
    ids = [i for i, _ in sent]
    await inbox_with(hub, H14, 7)
    recipient = await hub.client(H14)

    walked: list[list[str]] = []
    cursor: str | None = None
    while (batch := await recipient.fetch_batch(limit=3, cursor=cursor)).items:
        walked.append([p.id for p in batch.items])
        assert batch.next is not None
        cursor = batch.next
    assert walked == [ids[:3], ids[3:6], ids[6:]]
    assert batch.next is None
    # nothing was acked: without a cursor the walk starts at the oldest again
    assert [p.id for p in (await recipient.fetch_batch(limit=2)).items] == ids[:2]
    # the hub's own cap pages the same way (limit asks for more than a batch holds)
    monkeypatch.setattr(api_packages, "BATCH_MAX_PACKAGES", 4)
    batches = [[p.id for p in b.items] async for b in recipient.inbox_batches(limit=1000)]
    assert batches == [ids[:4], ids[4:]]
    # as does the byte budget: one package a batch
    monkeypatch.setattr(api_packages, "BATCH_MAX_BYTES", 1)
    batches = [[p.id for p in b.items] async for b in recipient.inbox_batches()]
    assert batches == [[i] for i in ids]
    # the cursor is the inbox's: a listing page's next is a position the batch takes
    page = await recipient.inbox_page(limit=5)
    after = await recipient.fetch_batch(cursor=page["next"])
    assert [p.id for p in after.items] == ids[5:6]


async def test_packages_set_aside_are_walked_past(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    """A quarantine: the caller leaves some packages unacknowledged and goes on with the
    cursor; it gets the next ones, never the set-aside ones again within the walk, and acks
    in between do not move its position. A new walk from the oldest offers them again."""
    sent = await send(hub, signers, H14, 7)
    ids = [i for i, _ in sent]
    await inbox_with(hub, H14, 7)
    recipient = await hub.client(H14)
    aside = {ids[0], ids[1], ids[4]}  # the head of the inbox, and one further on

    seen: list[str] = []
    cursor: str | None = None
    while (batch := await recipient.fetch_batch(limit=2, cursor=cursor)).items:
        got = [p.id for p in batch.items]
        seen.extend(got)
        taken = [i for i in got if i not in aside]
        if taken:
            answer = await recipient.ack_batch(taken)
            assert answer["acked"] == len(taken)
        cursor = batch.next
    assert seen == ids  # each once, in order, although the first batch was all set aside
    # the set-aside ones still wait, the oldest first, for the next walk or an operator
    again = [p.id for p in (await recipient.fetch_batch()).items]
    assert again == [ids[0], ids[1], ids[4]]
    await settled(hub)
    states = {i["id"]: i["state"] for i in (await recipient.inbox_page())["items"]}
    assert states == dict.fromkeys(sorted(aside, key=ids.index), "delivered")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "bm90LWEtY3Vyc29y",  # base64 of something that is not "s<seq>"
        "cy0x",  # "s-1"
        "czE4NDQ2NzQ0MDczNzA5NTUxNjE2",  # "s18446744073709551616": past any seq
    ],
)
async def test_a_malformed_cursor_is_a_problem(hub: RunningHub, cursor: str) -> None:
    status, content_type, problem = await _raw(hub, "GET", f"/v1/inbox/packages?cursor={cursor}")
    assert (status, content_type) == (400, "application/problem+json")
    assert problem["code"] == "request.bad_cursor"
    assert problem["type"] == "/docs/problems#request.bad_cursor"
    assert "Hub-Next-Cursor" in problem["detail"]
    with pytest.raises(HubProblem) as info:
        await (await hub.client(H14)).fetch_batch(cursor=cursor)
    assert (info.value.status, info.value.code) == (400, "request.bad_cursor")


async def test_stands_for_travels_with_the_part(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    _, data = document(signers(G22), organs(H29_DEPT), number=1301)
    submitted = await (await hub.client(G22)).submit(data)
    await inbox_with(hub, H29, 1)
    (got,) = (await (await hub.client(H29)).fetch_batch()).items
    assert got.id == submitted.package_id and got.data == data
    assert got.stands_for == (H29_DEPT,)


async def _raw(
    hub: RunningHub, method: str, path: str, **kwargs: Any
) -> tuple[int, str, dict[str, Any]]:
    auth = {"Authorization": f"Bearer {hub.workdir.token(H14)}"}
    headers = {**auth, **kwargs.pop("headers", {})}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, hub.url + path, headers=headers, **kwargs) as resp,
    ):
        return resp.status, resp.content_type, await resp.json(content_type=None)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"not json", "application/json", 400, "request.bad_body"),
        (b"", "application/json", 400, "request.bad_body"),
        (b"[]", "application/json", 400, "request.bad_body"),
        (b'{"id": ["x"]}', "application/json", 400, "request.bad_body"),
        (b'{"ids": "x"}', "application/json", 400, "request.bad_body"),
        (b'{"ids": [1]}', "application/json", 400, "request.bad_body"),
        (b'{"ids": [""]}', "application/json", 400, "request.bad_body"),
        (b'{"ids": ["' + b"x" * 129 + b'"]}', "application/json", 400, "request.bad_body"),
        (json.dumps({"ids": ["x"] * 1001}).encode(), "application/json", 400, "request.bad_body"),
        (b"\xff\xfe", "application/json", 400, "request.bad_body"),
        (b"[" * 50_000 + b"]" * 50_000, "application/json", 400, "request.bad_body"),
        (b'{"ids": ["x"]}', "application/xml", 415, "request.unsupported_media_type"),
        (b'{"ids": ["x"]}', "text/plain", 415, "request.unsupported_media_type"),
        (b" " * (200 * 1024), "application/json", 413, "package.too_large"),
    ],
)
async def test_bad_ack_bodies_are_problems(
    hub: RunningHub, body: bytes, content_type: str, status: int, code: str
) -> None:
    got_status, got_type, problem = await _raw(
        hub, "POST", "/v1/inbox/acks", data=body, headers={"Content-Type": content_type}
    )
    assert (got_status, got_type, problem["code"]) == (status, "application/problem+json", code)
    assert problem["type"] == f"/docs/problems#{code}"


async def test_a_body_less_batch_ack_and_a_bad_limit_are_problems(hub: RunningHub) -> None:
    status, _, problem = await _raw(hub, "POST", "/v1/inbox/acks")
    assert (status, problem["code"]) == (400, "request.bad_body")
    for limit in ("0", "1001", "many"):
        status, _, problem = await _raw(hub, "GET", f"/v1/inbox/packages?limit={limit}")
        assert (status, problem["code"]) == (400, "request.bad_limit")
    with pytest.raises(HubProblem) as info:
        await (await hub.client(H14)).fetch_batch(limit=0)
    assert info.value.code == "request.bad_limit"
