"""The API is strict (issue 13): media types, parameters, methods, problem types and the
codes the OpenAPI document names; metrics count only refused packages and are not public."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import hub
import signing.errors
from hub.api.openapi import openapi_document
from hub.api.problems import catalogue
from hub.config import load_settings
from hub.demo.factory import Signer, document
from hub.edxml import Organ
from hub.errors import ConfigError, HubError
from tests.api.conftest import RunningHub, start_hub
from tests.conftest import WorkdirFactory

G22, H41 = "000.00.00.G22", "000.00.00.H41"

#: codes never answered by the API: the command line's (configuration, key files, hub agency
#: import, adapter scaffold, evidence, database tools), the time-stamp authority's (logged by
#: the checkpointer), the agency-side client's refusals of what answered it, the alarm
#: webhook's failure
CLI_ONLY = {
    "config.invalid",
    "keys.refused",
    "directory.invalid",  # hub agency import
    "adapter.scaffold",  # hub adapter new
    "audit.evidence",  # hub evidence
    "audit.timestamp",  # the checkpointer and hub audit verify: logged, never answered
    "db.refused",  # hub db copy|backup|restore
    "client.answer_refused",
    "client.answer_too_large",
    "alarm.notify_failed",
}


def _auth(hub: RunningHub, organ_id: str = G22) -> dict[str, str]:
    return {"Authorization": f"Bearer {hub.workdir.token(organ_id)}"}


async def _call(
    hub: RunningHub, method: str, path: str, **kwargs: Any
) -> tuple[int, dict[str, str], dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, hub.url + path, **kwargs) as resp,
    ):
        json_type = resp.content_type.endswith("json")
        body = await resp.json(content_type=None) if json_type else {}
        return resp.status, dict(resp.headers), body


def _problem(status: int, headers: dict[str, str], body: dict[str, Any], code: str) -> None:
    assert headers["Content-Type"].startswith("application/problem+json"), headers
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["type"] == f"/docs/problems#{code}"


async def test_a_body_that_is_not_xml_is_refused_with_415(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    _, data = document(signers(G22), [Organ(organ_id=H41)], number=1)
    for content_type in ("application/json", "application/octet-stream", "text/plain"):
        status, headers, body = await _call(
            hub,
            "POST",
            "/v1/packages",
            data=data,
            headers={**_auth(hub), "Content-Type": content_type},
        )
        assert status == 415
        _problem(415, headers, body, "request.unsupported_media_type")
    status, headers, body = await _call(
        hub, "POST", "/v1/validate", data=b'{"a": 1}', headers=_auth(hub)
    )
    _problem(status, headers, body, "request.unsupported_media_type")
    # XML media types, with or without a charset, are taken
    for content_type in ("application/xml", "text/xml", "application/xml; charset=utf-8"):
        status, _, body = await _call(
            hub,
            "POST",
            "/v1/validate",
            data=data,
            headers={**_auth(hub), "Content-Type": content_type},
        )
        assert (status, body["valid"]) == (200, True), body
    # a body-less call (an unsigned ack) needs no Content-Type
    receipt = await (await hub.client(G22)).submit(data)
    status, _, body = await _call(
        hub, "POST", f"/v1/packages/{receipt.package_id}/ack", headers=_auth(hub, H41)
    )
    assert (status, body["signed"]) == (200, False)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("cursor=garbage", "request.bad_cursor"),
        ("cursor=%FF%FE", "request.bad_cursor"),
        ("cursor=czk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "request.bad_cursor"),  # "s9999…" > BIGINT
        ("limit=abc", "request.bad_limit"),
        ("limit=0", "request.bad_limit"),
        ("limit=1001", "request.bad_limit"),
        ("limit=-5", "request.bad_limit"),
        ("include_acked=maybe", "request.bad_parameter"),
        ("include_acked=", "request.bad_parameter"),
    ],
)
async def test_every_bad_parameter_is_a_400_with_its_own_code(
    hub: RunningHub, query: str, code: str
) -> None:
    path = "/v1/outbox" if "include_acked" not in query else "/v1/inbox"
    status, headers, body = await _call(hub, "GET", f"{path}?{query}", headers=_auth(hub))
    assert status == 400
    _problem(400, headers, body, code)


async def test_limits_at_the_bounds_are_taken(hub: RunningHub) -> None:
    for query in ("limit=1", "limit=1000", "include_acked=true", "include_acked=0"):
        status, _, body = await _call(hub, "GET", f"/v1/inbox?{query}", headers=_auth(hub))
        assert (status, body["items"]) == (200, []), query


async def test_method_not_allowed_names_the_allowed_methods(hub: RunningHub) -> None:
    status, headers, body = await _call(hub, "DELETE", "/v1/inbox", headers=_auth(hub))
    assert status == 405
    _problem(405, headers, body, "http.method_not_allowed")
    assert set(headers["Allow"].split(",")) == {"GET", "HEAD"}
    status, headers, body = await _call(hub, "GET", "/v1/packages", headers=_auth(hub))
    _problem(405, headers, body, "http.method_not_allowed")
    assert set(headers["Allow"].split(",")) == {"POST"}
    status, headers, body = await _call(hub, "GET", "/v1/nothing-here", headers=_auth(hub))
    _problem(404, headers, body, "http.not_found")


async def test_problem_types_point_at_the_hubs_problem_page(hub: RunningHub) -> None:
    status, _, body = await _call(hub, "GET", "/v1/packages/nope", headers=_auth(hub))
    assert status == 404 and body["type"] == "/docs/problems#package.not_found"
    async with (
        aiohttp.ClientSession() as session,
        session.get(hub.url + "/docs/problems") as resp,
    ):
        assert resp.status == 200 and resp.content_type == "text/html"
        page = await resp.text()
    anchors = set(re.findall(r'<tr id="([^"]+)">', page))
    assert anchors == {p.code for p in catalogue()}
    assert "request.bad_cursor" in anchors and "lifecycle.not_author" in anchors


async def test_an_unparsable_ack_is_not_titled_as_a_package_signature(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    _, data = document(signers(G22), [Organ(organ_id=H41)], number=2)
    receipt = await (await hub.client(G22)).submit(data)
    status, headers, body = await _call(
        hub,
        "POST",
        f"/v1/packages/{receipt.package_id}/ack",
        data=b"<Ack xmlns='urn:vnhub:ack:1'/>",
        headers={**_auth(hub, H41), "Content-Type": "application/xml"},
    )
    assert status == 403
    _problem(403, headers, body, "signature.missing")
    assert "package" not in body["title"].lower(), body["title"]


def _hub_error_classes() -> set[type[HubError]]:
    """Every HubError subclass defined anywhere under ``hub`` (every module imported)."""
    for info in pkgutil.walk_packages(hub.__path__, "hub."):
        if ".demo" in info.name or info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
    found: set[type[HubError]] = set()
    todo: list[type[HubError]] = [HubError]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo.extend(cls.__subclasses__())
    return found


def _documented_codes() -> set[str]:
    doc = openapi_document()
    anywhere = set(doc["x-problem-codes"])  # any path: unknown path or method, malformed
    return anywhere | {
        code
        for operations in doc["paths"].values()
        for operation in operations.values()
        for response in operation["responses"].values()
        for code in response.get("x-problem-codes", [])
    }


def test_openapi_names_every_code_the_api_can_answer() -> None:
    documented = _documented_codes()
    raised = {
        c.code
        for c in _hub_error_classes()
        # the VXP facade (/vxp) keeps the VXP SDK's conventions and is not in this document
        if not c.__module__.startswith("hub.vxp")
    } - CLI_ONLY
    assert raised <= documented, sorted(raised - documented)
    # the signing package's codes reach the API as signature.* / attachment.* refusals
    signing_codes = {
        cls.code
        for cls in vars(signing.errors).values()
        if isinstance(cls, type) and issubclass(cls, signing.errors.SigningError)
    }
    assert signing_codes <= documented, sorted(signing_codes - documented)
    # the codes the issue found missing
    for code in (
        "lifecycle.illegal_transition",
        "signature.profile",
        "signature.missing",
        "xml.encoding_forbidden",
    ):
        assert code in documented
    # every code in the document is explained on the problems page, with its status
    status_of = {p.code: p.status for p in catalogue()}
    for operations in openapi_document()["paths"].values():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                for code in response.get("x-problem-codes", []):
                    assert status_of[code] == int(status), (operation["operationId"], code)


def test_every_coded_refusal_in_the_source_is_in_the_catalogue() -> None:
    """Codes set per instance (``code="pdf.required"``) are variants of their class."""
    known = {p.code for p in catalogue()}
    root = Path(hub.__file__).parent
    for path in root.rglob("*.py"):
        for code in re.findall(r'\bcode="([a-z_]+\.[a-z_]+)"', path.read_text(encoding="utf-8")):
            assert code in known, (path, code)


def test_the_served_catalogue_holds_every_code_of_the_hub() -> None:
    """The problems page is built in the server from the ``HubError`` subclasses imported
    there: a fresh process that imports only the application must list every code that
    importing the whole of ``hub`` defines (this test process imports much more, so the
    check runs in a subprocess)."""
    script = textwrap.dedent(
        """
        import importlib, json, pkgutil
        import hub
        import hub.api.app
        from hub.api.problems import catalogue

        served = {p.code for p in catalogue()}
        for module in pkgutil.walk_packages(hub.__path__, "hub."):
            if not module.name.startswith(("hub.testing", "hub.demo")):
                importlib.import_module(module.name)
        print(json.dumps(sorted({p.code for p in catalogue()} - served)))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


async def test_refused_counter_counts_submissions_only(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    from hub.metrics import REFUSED

    def refused(code: str) -> float:
        return REFUSED.labels(code=code)._value.get()

    before = {c: refused(c) for c in ("package.not_found", "auth.required", "xml.not_well_formed")}
    await _call(hub, "GET", "/v1/packages/nope", headers=_auth(hub))  # 404
    await _call(hub, "GET", "/v1/inbox")  # 401
    await _call(
        hub,
        "POST",
        "/v1/validate",
        data=b"<oops",
        headers={**_auth(hub), "Content-Type": "application/xml"},
    )  # a dry run
    assert {c: refused(c) for c in before} == before
    status, _, _ = await _call(
        hub,
        "POST",
        "/v1/packages",
        data=b"<oops",
        headers={**_auth(hub), "Content-Type": "application/xml"},
    )
    assert status == 400
    assert refused("xml.not_well_formed") == before["xml.not_well_formed"] + 1


async def test_one_alarm_gauge(hub: RunningHub) -> None:
    async with aiohttp.ClientSession() as session, session.get(hub.url + "/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    assert "hub_alarms_open" in text
    assert "hub_open_alarms" not in text


async def test_metrics_outside_the_allowed_networks_need_the_token(
    make_workdir: WorkdirFactory, tmp_path: Path
) -> None:
    token_file = tmp_path / "metrics.token"
    token_file.write_text("s3cret-scraper-token\n", encoding="utf-8")
    # The test client comes from 127.0.0.1: outside the configured network.
    workdir = make_workdir(
        extra_hub_toml=f'[metrics]\nallow = ["10.0.0.0/8"]\ntoken_file = "{token_file}"\n'
    )
    async with start_hub(workdir) as running:
        status, headers, body = await _call(running, "GET", "/metrics")
        _problem(status, headers, body, "auth.required")
        assert status == 401 and "WWW-Authenticate" in headers
        status, headers, body = await _call(
            running, "GET", "/metrics", headers={"Authorization": "Bearer wrong"}
        )
        _problem(status, headers, body, "auth.required")
        # an agency's token is not the metrics token
        status, _, _ = await _call(running, "GET", "/metrics", headers=_auth(running))
        assert status == 401
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                running.url + "/metrics",
                headers={"Authorization": "Bearer s3cret-scraper-token"},
            ) as resp,
        ):
            assert resp.status == 200
            assert "hub_packages_accepted_total" in await resp.text()
        # the token file gone: nobody from outside reads (and nothing breaks)
        token_file.unlink()
        status, headers, body = await _call(
            running, "GET", "/metrics", headers={"Authorization": "Bearer s3cret-scraper-token"}
        )
        _problem(status, headers, body, "auth.forbidden")
    # No token configured and a peer outside the networks: 403, nothing to try.
    workdir = make_workdir(extra_hub_toml='[metrics]\nallow = ["10.0.0.0/8"]\n')
    async with start_hub(workdir) as running:
        status, headers, body = await _call(running, "GET", "/metrics")
        _problem(status, headers, body, "auth.forbidden")


async def test_metrics_are_open_to_loopback_by_default(hub: RunningHub) -> None:
    status, _, _ = await _call(hub, "GET", "/metrics")
    assert status == 200


def test_metrics_settings_are_checked(tmp_path: Path) -> None:
    (tmp_path / "hub.toml").write_text('[metrics]\nallow = ["not-a-network"]\n', encoding="utf-8")
    with pytest.raises(ConfigError):
        load_settings(tmp_path, env={})
    (tmp_path / "hub.toml").write_text(
        '[metrics]\nallow = ["10.0.0.0/8"]\ntoken_file = "m.token"\n', encoding="utf-8"
    )
    metrics = load_settings(tmp_path, env={}).metrics
    assert metrics.allow == ("10.0.0.0/8",)
    assert metrics.token_file == (tmp_path / "m.token").resolve()
    (tmp_path / "empty").mkdir()
    assert load_settings(tmp_path / "empty", env={}).metrics.allow == ("127.0.0.0/8", "::1/128")


async def test_a_store_that_cannot_be_read_fails_closed_with_503(hub: RunningHub) -> None:
    """The overrides are read before authenticating: without them, nobody is let in."""
    status, _, _ = await _call(hub, "GET", "/v1/inbox", headers=_auth(hub))
    assert status == 200
    await hub.runtime.store.close()
    status, headers, body = await _call(hub, "GET", "/v1/inbox", headers=_auth(hub))
    _problem(503, headers, body, "hub.unavailable")
