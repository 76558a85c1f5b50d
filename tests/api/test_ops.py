"""Probes, metrics and the OpenAPI document."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import aiohttp
import pytest
from openapi_spec_validator import validate

from hub.api.app import build_app
from hub.client import HubProblem
from hub.errors import Unavailable
from tests.api.conftest import RunningHub, start_hub
from tests.conftest import WorkdirFactory


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


#: what the PostgreSQL store and RabbitMQ broker put in their errors (masked, still internal)
STORE_TEXT = (
    "PostgreSQL store unavailable during ping (postgresql://hub:***@db.internal:5432/hub, "
    "schema hub): OperationalError: connection refused"
)
BROKER_TEXT = "RabbitMQ at amqp://hub:***@mq.internal:5672/hub: ping: AMQPConnectionError"


def _break_backends(hub: RunningHub, monkeypatch: pytest.MonkeyPatch) -> None:
    async def store_down() -> None:
        raise Unavailable(STORE_TEXT)

    async def broker_hangs() -> None:
        await asyncio.Event().wait()  # never set: only the probe's bound ends it

    monkeypatch.setattr(hub.runtime.store, "ping", store_down)
    monkeypatch.setattr(hub.runtime.broker, "ping", broker_hangs)
    monkeypatch.setattr("hub.api.ops.PROBE_SECONDS", 0.01)


async def _readyz(url: str) -> tuple[int, str, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/readyz") as resp:
        text = await resp.text()
        return resp.status, text, json.loads(text)


async def test_readyz_tells_the_public_a_code_per_check_and_no_internals(
    make_workdir: WorkdirFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The test client comes from 127.0.0.1: outside the networks that may read /metrics.
    workdir = make_workdir(extra_hub_toml='[metrics]\nallow = ["10.0.0.0/8"]\n')
    async with start_hub(workdir) as running:
        _break_backends(running, monkeypatch)
        with caplog.at_level(logging.WARNING, logger="hub.api"):
            status, text, body = await _readyz(running.url)
    assert status == 503
    assert body["checks"]["store"] == "failed: hub.unavailable"
    assert body["checks"]["broker"] == "failed: timeout"
    assert "detail" not in body
    for internal in ("db.internal", "mq.internal", "postgresql", "amqp", "OperationalError"):
        assert internal not in text, text
    # the words are the operators': in the log
    assert "db.internal" in caplog.text and "readiness: broker failed: timeout" in caplog.text


async def test_readyz_detail_is_for_those_who_may_read_metrics(
    hub: RunningHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    _break_backends(hub, monkeypatch)
    status, _, body = await _readyz(hub.url)  # loopback: in [metrics] allow by default
    assert status == 503
    assert body["checks"]["store"] == "failed: hub.unavailable"
    assert body["detail"] == {"store": f"Unavailable: {STORE_TEXT}", "broker": "timeout"}


async def test_readyz_bounds_the_package_count(
    hub: RunningHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The count behind ``hub_packages_stored`` runs within the probe's bound; a count that
    does not finish leaves the gauge and readiness alone."""
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def count_hangs() -> int:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return 0

    async def ping() -> None:  # instant: only the count meets the (shortened) bound
        return None

    monkeypatch.setattr(hub.runtime.store, "ping", ping)
    monkeypatch.setattr(hub.runtime.broker, "ping", ping)
    monkeypatch.setattr(hub.runtime.store, "count_packages", count_hangs)
    monkeypatch.setattr("hub.api.ops.PROBE_SECONDS", 0.01)
    async with asyncio.timeout(60):  # a safety net: before the bound the probe never answered
        status, _, body = await _readyz(hub.url)
    assert status == 200, body
    assert started.is_set() and cancelled.is_set()


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
