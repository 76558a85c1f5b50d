"""The adapters' HTTP seam and the LGSP authentication options, against local servers.

Real aiohttp servers on 127.0.0.1: a token endpoint that counts the tokens it issued, an API
that answers 401 to an expired or unknown token, and an API that checks the ``lgspaccesstoken``
header. Token lifetimes run on injected clocks, never on sleeps.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web

from hub.adapter import (
    AdapterConfig,
    AiohttpTransport,
    AuthRefused,
    AuthTransport,
    ConnectFailed,
    ExternalUnavailable,
    HttpRequest,
    HttpResponse,
    LgspAccessToken,
    MockTransport,
    NoAnswer,
    OAuth2ClientCredentials,
    PollRequest,
    StartRequest,
    StopRequest,
    lgsp_access_token,
    open_transport,
    transport_from_settings,
)

LGSP = {
    "AccessKey": "khoa-truy-cap",
    "SecretKey": "bí-mật",
    "AppName": "hub-liên-thông",
    "PartnerCode": "000.00.00.H29",
}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Lgsp:
    """An LGSP gateway: token endpoint + API, tokens expiring on the gateway's own clock."""

    clock: Clock
    lifetime: float = 300.0
    require_header: bool = False
    issued: int = 0
    tokens: dict[str, float] = field(default_factory=dict)
    api_calls: int = 0
    refusals: int = 0
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def _header_ok(self, request: web.Request) -> bool:
        raw = request.headers.get("lgspaccesstoken")
        if raw is None:
            return False
        try:
            return bool(json.loads(base64.b64decode(raw)) == LGSP)
        except ValueError:
            return False

    async def token(self, request: web.Request) -> web.Response:
        form = parse_qs((await request.read()).decode())
        self.token_requests.append({"form": form, "auth": request.headers.get("Authorization")})
        if self.require_header and not self._header_ok(request):
            return web.json_response({"error": "lgspaccesstoken"}, status=401)
        basic = "Basic " + base64.b64encode(b"hub:s3cret").decode()
        body_ok = form.get("client_id") == ["hub"] and form.get("client_secret") == ["s3cret"]
        if form.get("grant_type") != ["client_credentials"]:
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if request.headers.get("Authorization") != basic and not body_ok:
            return web.json_response({"error": "invalid_client"}, status=401)
        self.issued += 1
        token = f"tok-{self.issued}"
        self.tokens[token] = self.clock() + self.lifetime
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": int(self.lifetime)}
        )

    async def api(self, request: web.Request) -> web.Response:
        self.api_calls += 1
        if self.require_header and not self._header_ok(request):
            return web.json_response({"error": "lgspaccesstoken missing or wrong"}, status=401)
        auth = request.headers.get("Authorization", "")
        if self.tokens or auth:
            token = auth.removeprefix("Bearer ")
            if self.tokens.get(token, 0.0) <= self.clock():
                self.refusals += 1
                return web.json_response({"error": "invalid_token"}, status=401)
        return web.json_response({"ok": True, "echo": (await request.read()).decode()})


@pytest.fixture
async def gateway() -> AsyncIterator[Lgsp]:
    lgsp = Lgsp(Clock())
    app = web.Application()
    app.router.add_post("/token", lgsp.token)
    app.router.add_post("/api", lgsp.api)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    lgsp.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield lgsp
    await runner.cleanup()


def oauth(gateway: Lgsp, clock: Clock, **kw: Any) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials(
        gateway.url + "/token", "hub", "s3cret", clock=clock, margin=30.0, **kw
    )


async def call(transport: Any, gateway: Lgsp, payload: Any = None) -> HttpResponse:
    answer: HttpResponse = await transport.send(
        HttpRequest.json("POST", gateway.url + "/api", payload or {"a": 1})
    )
    return answer


async def test_token_is_cached_until_it_expires(gateway: Lgsp) -> None:
    clock = gateway.clock  # one clock for the gateway and the client
    transport = AuthTransport(AiohttpTransport(timeout=5), oauth(gateway, clock))
    try:
        for _ in range(5):
            assert (await call(transport, gateway)).status == 200
        assert gateway.issued == 1
        clock.now += 300 - 30  # within the margin before expiry: renewed before it is refused
        assert (await call(transport, gateway)).status == 200
        assert gateway.issued == 2
        assert gateway.refusals == 0
    finally:
        await transport.aclose()


async def test_401_fetches_a_new_token_once(gateway: Lgsp) -> None:
    client_clock = Clock()  # the client believes its token is fresh…
    transport = AuthTransport(AiohttpTransport(timeout=5), oauth(gateway, client_clock))
    try:
        assert (await call(transport, gateway)).status == 200
        gateway.tokens.clear()  # …but the gateway revoked it (restart, rotation)
        answer = await call(transport, gateway, {"text": "Hồ sơ số 1"})
        assert answer.status == 200
        assert json.loads(answer.json()["echo"]) == {"text": "Hồ sơ số 1"}
        assert gateway.issued == 2 and gateway.refusals == 1
    finally:
        await transport.aclose()


async def test_a_second_401_is_returned_not_looped(gateway: Lgsp) -> None:
    gateway.lifetime = 0.0  # every token the gateway issues is already expired
    transport = AuthTransport(
        AiohttpTransport(timeout=5),
        oauth(
            gateway,
            Clock(),
        ),
    )
    try:
        answer = await call(transport, gateway)
        assert answer.status == 401
        assert gateway.issued == 2 and gateway.api_calls == 2
    finally:
        await transport.aclose()


async def test_client_credentials_in_the_body(gateway: Lgsp) -> None:
    transport = AuthTransport(
        AiohttpTransport(timeout=5), oauth(gateway, Clock(), client_auth="body", scope="dvc")
    )
    try:
        assert (await call(transport, gateway)).status == 200
        sent = gateway.token_requests[0]
        assert sent["auth"] is None and sent["form"]["scope"] == ["dvc"]
    finally:
        await transport.aclose()


async def test_wrong_client_secret_is_a_configuration_error(gateway: Lgsp) -> None:
    auth = OAuth2ClientCredentials(gateway.url + "/token", "hub", "sai", clock=Clock())
    transport = AuthTransport(AiohttpTransport(timeout=5), auth)
    try:
        with pytest.raises(AuthRefused, match="401"):
            await call(transport, gateway)
        assert gateway.api_calls == 0
    finally:
        await transport.aclose()


def test_lgsp_access_token_value() -> None:
    value = lgsp_access_token("khoa-truy-cap", "bí-mật", "hub-liên-thông", "000.00.00.H29")
    decoded = base64.b64decode(value).decode("utf-8")
    assert decoded == json.dumps(LGSP, ensure_ascii=False, separators=(",", ":"))
    assert list(json.loads(decoded)) == ["AccessKey", "SecretKey", "AppName", "PartnerCode"]


async def test_lgsp_header_is_checked_by_the_gateway(gateway: Lgsp) -> None:
    gateway.require_header = True
    plain = AiohttpTransport(timeout=5)
    good = AuthTransport(AiohttpTransport(timeout=5), LgspAccessToken(*LGSP.values()))
    wrong = AuthTransport(
        AiohttpTransport(timeout=5), LgspAccessToken("khoa-truy-cap", "sai", "hub", "H29")
    )
    try:
        assert (await call(plain, gateway)).status == 401
        assert (await call(good, gateway)).status == 200
        assert (await call(wrong, gateway)).status == 401
    finally:
        for t in (plain, good, wrong):
            await t.aclose()


async def test_settings_combine_lgsp_header_and_oauth2(gateway: Lgsp, tmp_path: Path) -> None:
    gateway.require_header = True  # on the token request and on the API call
    (tmp_path / "secret").write_text("s3cret\n")
    (tmp_path / "lgsp").write_text("bí-mật\n", "utf-8")
    settings = {
        "timeout_seconds": 5,
        "oauth2_token_url": gateway.url + "/token",
        "oauth2_client_id": "hub",
        "oauth2_client_secret_file": str(tmp_path / "secret"),
        "lgsp_access_key": "khoa-truy-cap",
        "lgsp_secret_key_file": str(tmp_path / "lgsp"),
        "lgsp_app_name": "hub-liên-thông",
        "lgsp_partner_code": "000.00.00.H29",
    }
    transport = transport_from_settings(settings)
    try:
        assert (await call(transport, gateway)).status == 200
        assert (await call(transport, gateway)).status == 200
        assert gateway.issued == 1
    finally:
        await transport.aclose()


async def test_refused_connection_is_connect_failed() -> None:
    # Bound but never listening, for the whole test: a connect is refused, and no other
    # process can take the port meanwhile (as it could once a probe socket is closed).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        transport = AiohttpTransport(timeout=5)
        try:
            with pytest.raises(ConnectFailed):
                await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}/"))
        finally:
            await transport.aclose()
    assert issubclass(ConnectFailed, ExternalUnavailable)


async def test_server_that_never_answers_is_no_answer() -> None:
    never = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await never.wait()  # released at cleanup; the client gives up first
        return web.Response()

    app = web.Application()
    app.router.add_post("/api", hang)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    transport = AiohttpTransport(timeout=5)
    try:
        with pytest.raises(NoAnswer):
            url = f"http://127.0.0.1:{runner.addresses[0][1]}/api"
            await transport.send(HttpRequest("POST", url, body=b"{}", timeout=0.2))
    finally:
        never.set()
        await transport.aclose()
        await runner.cleanup()
    assert issubclass(NoAnswer, ExternalUnavailable)


async def test_mock_transport_stands_in_through_adapter_config(tmp_path: Path) -> None:
    def handler(request: HttpRequest) -> HttpResponse:
        if request.headers.get("lgspaccesstoken") is None:
            return HttpResponse(401)
        return HttpResponse.of_json({"seen": json.loads(request.body)})

    mock = MockTransport(handler)
    settings = {"lgsp_access_key": "k", "lgsp_secret_key": "s", "lgsp_app_name": "a"}
    config = AdapterConfig("x", "000.00.00.H29", settings, tmp_path, transport=mock)
    transport = open_transport(config)
    answer = await transport.send(HttpRequest.json("POST", "http://lgsp/api", {"x": "Việt"}))
    assert answer.json() == {"seen": {"x": "Việt"}}
    assert mock.requests[0].headers["lgspaccesstoken"] == lgsp_access_token("k", "s", "a", "")
    await transport.aclose()
    assert mock.closed == 1


@pytest.mark.parametrize("adapter_name", ["igate", "qlvb"])
async def test_every_http_adapter_goes_through_the_seam(adapter_name: str, tmp_path: Path) -> None:
    """iGate and a QLVB behind the LGSP: their calls go through the transport given in
    AdapterConfig, with the lgspaccesstoken header the settings ask for."""
    seen: list[HttpRequest] = []

    def system(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        if adapter_name == "igate":
            return HttpResponse.of_json({"items": [], "last": 0})
        return HttpResponse.of_json({"items": [], "more": False})

    lgsp = {
        "lgsp_access_key": LGSP["AccessKey"],
        "lgsp_secret_key": LGSP["SecretKey"],
        "lgsp_app_name": LGSP["AppName"],
        "lgsp_partner_code": LGSP["PartnerCode"],
    }
    own = (
        {"base_url": "https://lgsp.example/igate", "api_key": "k"}
        if adapter_name == "igate"
        else {"url": "https://lgsp.example/qlvb", "token": "t"}
    )
    module = importlib.import_module(f"adapters.{adapter_name}")
    config = AdapterConfig(
        adapter_name, "000.00.00.H29", {**own, **lgsp}, tmp_path, transport=MockTransport(system)
    )
    adapter = module.create_adapter(config)
    await adapter.start(StartRequest(datetime.now(UTC)))
    try:
        await adapter.poll(PollRequest(cursor=None))
    finally:
        await adapter.stop(StopRequest())
    (request,) = seen
    assert request.url.startswith(str(own.get("base_url", own.get("url"))))
    assert json.loads(base64.b64decode(request.headers["lgspaccesstoken"])) == LGSP
