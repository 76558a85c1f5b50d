"""Probes, metrics and the OpenAPI document."""

from __future__ import annotations

import contextlib

import aiohttp
from openapi_spec_validator import validate

from hub.api.app import build_app
from hub.client import HubProblem
from tests.api.conftest import RunningHub


async def test_healthz_and_readyz(hub: RunningHub) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{hub.url}/healthz") as resp:
            assert resp.status == 200
            assert (await resp.json())["status"] == "ok"
        async with session.get(f"{hub.url}/readyz") as resp:
            body = await resp.json()
            assert resp.status == 200, body
            assert body["checks"]["store"] == "ok"
            assert body["checks"]["broker"] == "ok"
            assert body["checks"]["receipt_certificate"].startswith("ok")


async def test_readyz_reports_a_broken_store(hub: RunningHub) -> None:
    await hub.runtime.store.close()
    async with aiohttp.ClientSession() as session, session.get(f"{hub.url}/readyz") as resp:
        body = await resp.json()
        assert resp.status == 503
        assert body["checks"]["store"].startswith("failed")


async def test_openapi_document_is_valid_and_complete(hub: RunningHub) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{hub.url}/v1/openapi.json") as resp,
    ):
        assert resp.status == 200
        doc = await resp.json()
    validate(doc)  # raises on an invalid OpenAPI 3.1 document
    app = build_app(hub.runtime)
    served = {
        (r.method.lower(), r.resource.canonical)
        for r in app.router.routes()
        if r.resource is not None
        and r.method != "HEAD"
        # the operators' dashboard is a web UI behind its own login, not the agency API
        and not r.resource.canonical.startswith("/dashboard")
        # the VXP facade speaks the national axis SDK's protocol (docs/vxp.md), not this API
        and not r.resource.canonical.startswith(hub.runtime.config.settings.vxp.base_path + "/")
    }
    described = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert served == described


async def test_metrics_count_acceptances_and_refusals(hub: RunningHub) -> None:
    client = await hub.client("000.00.00.G22")
    with contextlib.suppress(HubProblem):
        await client.submit(b"<oops")
    async with aiohttp.ClientSession() as session, session.get(f"{hub.url}/metrics") as resp:
        text = await resp.text()
    assert 'hub_packages_refused_total{code="xml.not_well_formed"}' in text
