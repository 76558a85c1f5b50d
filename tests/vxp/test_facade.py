"""The facade's rules over HTTP, with requests built exactly as the SDK builds them (the SDK's
own behaviour is covered end to end by test_sdk.py): the HMAC over the sign-header as
received, header/MAC agreement, hash-file binding, idempotent replay, downloadEdoc2, ``//op``,
disable and rotation on the next request, the network allow-list, envelope_signature on /v1."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from prometheus_client import REGISTRY

from hub.client import HubProblem
from hub.demo.workdir import vxp_system_id
from hub.operators import add_operator
from hub.vxp import protocol
from hub.vxp.systems import add_system, rotate_secret, set_enabled
from tests.api.conftest import RunningHub, start_hub
from tests.conftest import WorkdirFactory, shared_testdata
from tests.dashboard.conftest import PASSWORDS, Dashboard, Receiver
from tests.vxp.conftest import G22, H41, VXP_AGENCIES, available, register_demo_systems, secret

DOC_778 = shared_testdata("edxml-sdk", "sdk_doc_new_no_bussiness.edxml")
MOMENT = datetime(2026, 12, 5, 3, 11, 20, tzinfo=UTC)


def sdk_headers(
    system_id: str, key: str, args: dict[str, str], content_type: str = "application/json"
) -> dict[str, str]:
    """The headers the SDK sends (VnptService.addXroadVnptHashHeader), in its order."""
    fields = {"systemid": system_id, **args, "timestamp": "05122026T031120+0818"}
    fields["Content-Type"] = content_type
    obj = {f"XroadVnpt-{k}": v for k, v in fields.items()}
    sign_header = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    headers = {f"XroadVnpt-{k}": v for k, v in fields.items()}
    headers.update(
        {
            "Content-Type": content_type,
            "XroadVnpt-sign-header-key": ";".join(fields),
            "XroadVnpt-sign-header": sign_header,
            "XroadVnpt-hash-header": hmac.new(
                key.encode(), sign_header.encode(), hashlib.sha256
            ).hexdigest(),
            "User-Agent": "JAVASDKAgent/1.0.0 XRoad/VPCP",
            "XroadVnpt-version": "3.0.201608",
        }
    )
    return headers


async def call(
    hub: RunningHub,
    op: str,
    headers: dict[str, str],
    body: bytes = b"{}",
    method: str = "POST",
    base: str = "/vxp/",
) -> tuple[int, dict[str, Any]]:
    url = hub.url + base + op
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, headers=headers, data=body) as r,
    ):
        return r.status, json.loads(await r.read())


def unsigned_count(agency: str) -> float:
    value = REGISTRY.get_sample_value("hub_unsigned_envelopes_total", {"agency": agency})
    return value or 0.0


def as_system(hub: RunningHub, organ_id: str, **args: str) -> dict[str, str]:
    return sdk_headers(vxp_system_id(organ_id), secret(hub, organ_id), args)


def send_headers(hub: RunningHub, organ_id: str, data: bytes) -> dict[str, str]:
    args = {"from": organ_id, "servicetype": "eDoc", "messagetype": "edoc"}
    args["hash-file"] = protocol.sdk_file_hash(data)
    return sdk_headers(
        vxp_system_id(organ_id), secret(hub, organ_id), args, "application/octet-stream"
    )


def test_sdk_hash_is_unpadded_hex() -> None:
    digest = hashlib.sha256(b"abc").digest()
    expected = "".join(f"{b:x}" for b in digest)
    assert protocol.sdk_file_hash(b"abc") == expected
    assert len(expected) < 64  # this digest has bytes below 0x10: padding would differ
    assert protocol.sdk_file_hash(b"abc") != hashlib.sha256(b"abc").hexdigest()


def test_hmac_is_over_the_sign_header_text_as_received() -> None:
    # The wire capture's sign-header (PROTOCOL.md §3): HMAC-SHA256, secret as UTF-8 text.
    text = (
        '{"XroadVnpt-systemid":"vxp.g22","XroadVnpt-timestamp":"05122026T031121+0249",'
        '"XroadVnpt-Content-Type":"application/json"}'
    )
    signed = protocol.parse_signed(
        [
            ("XroadVnpt-sign-header", text),
            ("XroadVnpt-hash-header", protocol.sign("bí mật", text)),
            ("XroadVnpt-systemid", "vxp.g22"),
        ]
    )
    assert signed.system_id == "vxp.g22"
    assert protocol.verify(signed, "bí mật")
    assert not protocol.verify(signed, "bi mat")
    # Re-serialised in another field order it is another text, hence another MAC.
    reordered = json.dumps(dict(reversed(list(json.loads(text).items()))), separators=(",", ":"))
    assert protocol.sign("bí mật", reordered) != protocol.sign("bí mật", text)


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"XroadVnpt-systemid": "vxp.other"}, "vxp.header_mismatch"),
        ({"XroadVnpt-docId": "injected"}, "vxp.header_mismatch"),
    ],
)
def test_a_header_differing_from_the_macd_json_is_refused(extra: dict[str, str], code: str) -> None:
    headers = sdk_headers("vxp.g22", "k", {})
    headers.update(extra)
    with pytest.raises(protocol.ProtocolError) as caught:
        protocol.parse_signed(headers.items())
    assert caught.value.code == code


async def test_facade_rules_over_http(make_workdir: WorkdirFactory) -> None:
    wd = make_workdir(VXP_AGENCIES)
    async with start_hub(wd) as hub:
        rt = hub.runtime
        await register_demo_systems(hub, wd.pki_dir, now=MOMENT)
        # //op and /op both answer; the answer is the SDK's JSON.
        for base in ("/vxp/", "/vxp//"):
            status, body = await call(hub, "getAgenciesList", as_system(hub, G22), base=base)
            assert (status, body["status"], body["ErrorCode"]) == (200, "OK", "0")
        # A wrong secret, an unknown system: one refusal, SDK JSON, never "0".
        bad = sdk_headers(vxp_system_id(G22), "wrong", {})
        status, body = await call(hub, "getAgenciesList", bad)
        assert (status, body["status"], body["ErrorCode"]) == (401, "FAIL", "vxp.auth")
        status, body = await call(hub, "getAgenciesList", sdk_headers("nobody", "x", {}))
        assert body["ErrorCode"] == "vxp.auth"
        # A header changed after signing (the MAC still matches the JSON): refused.
        tampered = as_system(hub, H41, docId="a.b")
        tampered["XroadVnpt-docId"] = "c.d"
        status, body = await call(hub, "getEdoc", tampered)
        assert (status, body["ErrorCode"]) == (400, "vxp.header_mismatch")
        # downloadEdoc2: no SDK headers at all.
        status, body = await call(hub, "downloadEdoc", {}, body=b"", method="GET")
        assert (body["status"], body["ErrorCode"]) == ("FAIL", "vxp.auth")
        # sendEdoc: the body is the file plus the SDK's CRLF; hash-file binds it.
        data = DOC_778.read_bytes()
        headers = send_headers(hub, G22, data)
        status, body = await call(hub, "sendEdoc", headers, body=data + b"X\r\n")
        assert (status, body["ErrorCode"], body["DocId"]) == (400, "vxp.hash_file", "")
        status, first = await call(hub, "sendEdoc", headers, body=data + b"\r\n")
        assert (status, first["status"], first["created"]) == (201, "OK", True)
        assert "signature.envelope_unsigned" in first["warnings"]
        # The same signed request replayed: the same DocId, nothing stored twice.
        status, again = await call(hub, "sendEdoc", headers, body=data + b"\r\n")
        assert (status, again["DocId"], again["created"]) == (200, first["DocId"], False)
        assert await rt.store.count_packages() == 1
        assert await rt.store.get_bytes(first["DocId"]) == data  # the file, not the CRLF
        await available(hub, first["DocId"])
        # Another system may not send for G22.
        h41 = send_headers(hub, H41, data)
        status, body = await call(hub, "sendEdoc", h41, body=data + b"\r\n")
        assert body["status"] == "FAIL" and body["ErrorCode"] != "0"
        # Disable and rotation take effect on the next request.
        await set_enabled(rt.store, vxp_system_id(H41), False, reason="test", now=MOMENT)
        status, body = await call(hub, "getReceivedEdocList", as_system(hub, H41))
        assert (status, body["ErrorCode"]) == (403, "vxp.forbidden")
        await set_enabled(rt.store, vxp_system_id(H41), True, reason="test", now=MOMENT)
        old = as_system(hub, H41)
        status, body = await call(hub, "getReceivedEdocList", old)
        assert body["ErrorCode"] == "0" and len(body["data"]) == 1
        _, new_secret = await rotate_secret(
            rt.store, vxp_system_id(H41), data_dir=rt.config.settings.data_dir, now=MOMENT
        )
        status, body = await call(hub, "getReceivedEdocList", old)
        assert body["ErrorCode"] == "vxp.auth"
        fresh = sdk_headers(vxp_system_id(H41), new_secret, {})
        status, body = await call(hub, "getReceivedEdocList", fresh)
        assert body["ErrorCode"] == "0"
        # An unknown operation is SDK JSON too.
        status, body = await call(hub, "noSuchCall", as_system(hub, G22))
        assert (status, body["ErrorCode"]) == (404, "vxp.unknown_operation")


async def test_network_allow_list(make_workdir: WorkdirFactory) -> None:
    wd = make_workdir(VXP_AGENCIES, extra_hub_toml='[vxp]\nallowed_networks = ["10.0.0.0/8"]\n')
    async with start_hub(wd) as hub:
        status, body = await call(hub, "getAgenciesList", {})
        assert (status, body["status"], body["ErrorCode"]) == (403, "FAIL", "vxp.network")


async def test_envelope_signature_applies_on_v1(make_workdir: WorkdirFactory) -> None:
    """/v1 too: unsigned accepted with the warning for an ``optional`` agency (G22), refused
    ``signature.missing`` for a ``required`` one (H14)."""
    wd = make_workdir(VXP_AGENCIES)
    async with start_hub(wd) as hub:
        data = DOC_778.read_bytes()
        client = await hub.client(G22)
        before = unsigned_count(G22)
        accepted = await client.submit(data)
        assert unsigned_count(G22) == before + 1  # counted per agency
        record = await hub.runtime.store.get_package(accepted.package_id)
        assert record is not None and record.signer_fingerprint is None
        assert "signature.envelope_unsigned" in record.warnings
        other = data.replace(b"000.00.00.G22", b"000.00.00.H14")
        h14 = await hub.client("000.00.00.H14")
        with pytest.raises(HubProblem) as caught:
            await h14.submit(other)
        assert (caught.value.status, caught.value.code) == (403, "signature.missing")


async def test_a_provincial_centre_serves_several_agencies(make_workdir: WorkdirFactory) -> None:
    """One system for H41 and its department 000.00.01.H41 (routes.toml copies G22's
    documents to H41 to the department): one docId per recipient agency, each its own state."""
    sub = "000.00.01.H41"
    wd = make_workdir(VXP_AGENCIES)
    async with start_hub(wd) as hub:
        rt = hub.runtime
        await register_demo_systems(hub, wd.pki_dir, now=MOMENT)
        _, centre_secret = await add_system(
            rt.store,
            "vxp.nghean",
            (H41, sub),
            known_agencies=frozenset(rt.config.agencies),
            data_dir=rt.config.settings.data_dir,
            now=MOMENT,
        )
        data = DOC_778.read_bytes()
        _, sent = await call(hub, "sendEdoc", send_headers(hub, G22, data), body=data + b"\r\n")
        doc = sent["DocId"]
        await available(hub, doc)
        centre = sdk_headers("vxp.nghean", centre_secret, {"messagetype": "edoc"})
        _, listed = await call(hub, "getReceivedEdocList", centre)
        assert sorted(i["docId"] for i in listed["data"]) == sorted(
            [f"{doc}.{H41}", f"{doc}.{sub}"]
        )
        _, body = await call(
            hub, "getEdoc", sdk_headers("vxp.nghean", centre_secret, {"docId": doc})
        )
        assert body["ErrorCode"] == "vxp.docid"
        done = sdk_headers("vxp.nghean", centre_secret, {"docId": f"{doc}.{H41}", "status": "done"})
        _, body = await call(hub, "updateStatus", done)
        assert body["ErrorCode"] == "0"
        _, listed = await call(hub, "getReceivedEdocList", centre)
        assert [i["docId"] for i in listed["data"]] == [f"{doc}.{sub}"]
        _, count = await call(hub, "countReceiveEdoc", centre)
        assert count["count"] == 1


async def test_rate_limit_per_system(make_workdir: WorkdirFactory) -> None:
    wd = make_workdir(VXP_AGENCIES, extra_hub_toml="[vxp]\nrate_per_minute = 2\n")
    async with start_hub(wd) as hub:
        await register_demo_systems(hub, wd.pki_dir, now=MOMENT)
        codes = [
            (await call(hub, "getAgenciesList", as_system(hub, G22)))[1]["ErrorCode"]
            for _ in range(3)
        ]
        assert codes == ["0", "0", "vxp.rate_limited"]
        # another system has its own budget
        assert (await call(hub, "getAgenciesList", as_system(hub, H41)))[1]["ErrorCode"] == "0"


async def test_non_ascii_header_values_verify(vxp_hub: RunningHub) -> None:
    """The SDK's connection encodes headers in UTF-8; the MAC is over those bytes."""
    headers = as_system(vxp_hub, H41, docId="x", filePath="/srv/văn bản/đến")
    status, body = await call(vxp_hub, "getEdoc", headers)
    assert (status, body["ErrorCode"]) == (404, "vxp.not_found")  # authenticated, then no doc


async def test_an_unexpected_failure_is_still_sdk_json(vxp_hub: RunningHub) -> None:
    """A secret file gone missing: logged, answered FAIL as JSON (never an HTML 500, which the
    SDK would read as an empty success)."""
    system = await vxp_hub.runtime.store.get_vxp_system(vxp_system_id(H41))
    assert system is not None and system.secret_file is not None  # no storage key here
    headers = as_system(vxp_hub, H41)
    os.unlink(system.secret_file)
    status, body = await call(vxp_hub, "getReceivedEdocList", headers)
    assert (status, body["status"], body["ErrorCode"]) == (500, "FAIL", "hub.error")


async def test_dashboard_shows_an_unsigned_package_as_not_signed(vxp_hub: RunningHub) -> None:
    data = DOC_778.read_bytes()
    _, sent = await call(vxp_hub, "sendEdoc", send_headers(vxp_hub, G22, data), body=data + b"\r\n")
    await add_operator(vxp_hub.runtime.store.dashboard(), "viewer", PASSWORDS["viewer"], "viewer")
    session = await Dashboard(vxp_hub, Receiver()).login("viewer")
    async with session, session.get(f"{vxp_hub.url}/dashboard/packages/{sent['DocId']}") as r:
        page = await r.text()
    assert "Không có chữ ký số" in page or "Not signed" in page
    assert "signature.envelope_unsigned" in page
    assert "Hợp lệ, người ký" not in page and "Valid, signed by" not in page


async def test_self_registration_only_records_a_request(make_workdir: WorkdirFactory) -> None:
    wd = make_workdir(VXP_AGENCIES, extra_hub_toml="[vxp]\nself_registration = true\n")
    async with start_hub(wd) as hub:
        rt = hub.runtime
        await register_demo_systems(hub, wd.pki_dir, now=MOMENT)
        body = '{"code":"000.00.09.H41","name":"Sở Mới"}'.encode()
        _, answer = await call(hub, "registerAgency", as_system(hub, H41), body=body, method="POST")
        assert (answer["status"], answer["ErrorCode"]) == ("OK", "0")
        assert "not registered" in answer["ErrorDesc"]
        assert rt.registry.get("000.00.09.H41") is None  # agencies stay configuration
        _, listed = await call(hub, "getAgenciesList", as_system(hub, H41))
        assert "000.00.09.H41" not in {a["code"] for a in listed["data"]}
