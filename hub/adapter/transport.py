"""One HTTP seam for every adapter, and the LGSP authentication options in front of it.

Provinces reach national systems through their LGSP (local government service platform), which
authenticates callers in one of two ways (often both at once):

* **OAuth2 client credentials** — ``POST token_url`` ``grant_type=client_credentials`` →
  ``{"access_token", "expires_in"}``; every call then carries ``Authorization: Bearer …``.
  :class:`OAuth2ClientCredentials` caches the token until ``expires_in`` (less a margin) has
  passed on its clock, and fetches a new one once when an API answers 401 to the cached one.
* **the ``lgspaccesstoken`` header** — base64 of the JSON ``{"AccessKey", "SecretKey",
  "AppName", "PartnerCode"}`` (in that order, no spaces, as provincial integrations build it);
  :class:`LgspAccessToken` adds it to every request, the token request included.

Adapters never open an :class:`aiohttp.ClientSession` themselves: they call
:func:`open_transport` with their :class:`~hub.adapter.AdapterConfig` and send
:class:`HttpRequest` values through the :class:`Transport` it returns. A test (or a developer
trying a mapping without a server) puts a :class:`MockTransport` — a function from request to
response, in the style of httpx's ``MockTransport`` — in ``AdapterConfig.transport`` instead.

Failures are split by what the caller may do next: :class:`ConnectFailed` (the request never
left: repeating it is always safe) and :class:`NoAnswer` (timeout, dropped connection: it may
have been applied). Both are :class:`~hub.adapter.ExternalUnavailable`, so an adapter that does
not care lets the connector retry later. :class:`~hub.adapter.AuthRefused` (the token endpoint
refused the credentials) is a configuration error.

Settings (``[adapter.settings]``, read by :func:`transport_from_settings`):
``timeout_seconds`` (10); ``oauth2_token_url``, ``oauth2_client_id``, ``oauth2_client_secret``
(or ``oauth2_client_secret_file``), ``oauth2_scope``, ``oauth2_client_auth`` (``"basic"``,
default, or ``"body"``); ``lgsp_access_key``, ``lgsp_secret_key`` (or ``lgsp_secret_key_file``),
``lgsp_app_name``, ``lgsp_partner_code``.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

import aiohttp

from hub.adapter.contract import (
    AdapterConfig,
    AdapterSettings,
    AuthRefused,
    ExternalUnavailable,
)

__all__ = [
    "AiohttpTransport",
    "AuthRefused",
    "AuthTransport",
    "ConnectFailed",
    "HttpRequest",
    "HttpResponse",
    "LgspAccessToken",
    "MockTransport",
    "NoAnswer",
    "OAuth2ClientCredentials",
    "RequestAuth",
    "Transport",
    "lgsp_access_token",
    "open_transport",
    "transport_from_settings",
]

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One HTTP request; ``timeout`` (seconds) overrides the transport's for this call."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    timeout: float | None = None

    @classmethod
    def json(
        cls,
        method: str,
        url: str,
        payload: Any,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> HttpRequest:
        """A request with a UTF-8 JSON body (Vietnamese text as is, not ``\\u`` escaped)."""
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        merged = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        return cls(method, url, merged, body, timeout)

    def with_headers(self, extra: Mapping[str, str]) -> HttpRequest:
        """The same request with ``extra`` headers added (replacing same-named ones)."""
        return replace(self, headers={**self.headers, **extra})


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """An HTTP answer, read completely. Header names are lower-case."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def text(self) -> str:
        """The body as UTF-8 text (undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; :class:`ValueError` if it is not JSON."""
        return json.loads(self.body.decode("utf-8"))

    @classmethod
    def of_json(cls, payload: Any, status: int = 200) -> HttpResponse:
        """A JSON answer (for :class:`MockTransport` handlers)."""
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return cls(status, {"content-type": "application/json; charset=utf-8"}, body)


class ConnectFailed(ExternalUnavailable):
    """The request never reached the server (refused, unresolvable): safe to repeat."""


class NoAnswer(ExternalUnavailable):
    """Sent, but no complete answer (timeout, dropped connection): it may have been applied."""


class Transport(Protocol):
    """Sends requests; the only way adapters speak HTTP."""

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request`` and read the whole answer; raises :class:`ConnectFailed` or
        :class:`NoAnswer`, never an :mod:`aiohttp` exception."""
        ...

    async def aclose(self) -> None:
        """Release connections (the transport may be used again afterwards)."""
        ...


class AiohttpTransport:
    """The real transport: one :class:`aiohttp.ClientSession`, opened on first use."""

    def __init__(self, *, timeout: float = 10.0, headers: Mapping[str, str] | None = None) -> None:
        self.timeout = timeout
        self._headers = dict(headers or {})
        self._session: aiohttp.ClientSession | None = None

    async def send(self, request: HttpRequest) -> HttpResponse:
        """See :meth:`Transport.send`."""
        if self._session is None:
            # created here, inside the running loop, as aiohttp requires
            self._session = aiohttp.ClientSession(headers=self._headers)
        timeout = aiohttp.ClientTimeout(total=request.timeout or self.timeout)
        try:
            async with self._session.request(
                request.method,
                request.url,
                data=request.body or None,
                headers=dict(request.headers),
                timeout=timeout,
            ) as answer:
                body = await answer.read()
                headers = {k.lower(): v for k, v in answer.headers.items()}
                return HttpResponse(answer.status, headers, body)
        except aiohttp.ClientConnectorError as exc:
            raise ConnectFailed(f"{request.method} {request.url}: cannot connect: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise NoAnswer(f"{request.method} {request.url}: no answer: {exc!r}") from exc

    async def aclose(self) -> None:
        """See :meth:`Transport.aclose`."""
        if self._session is not None:
            await self._session.close()
            self._session = None


Handler = Callable[[HttpRequest], "HttpResponse | Awaitable[HttpResponse]"]


class MockTransport:
    """A transport answered by a function, as httpx's ``MockTransport``: ``handler(request)``
    returns (or awaits to) an :class:`HttpResponse`, or raises :class:`ConnectFailed` /
    :class:`NoAnswer` to play a network failure. Every request is kept in :attr:`requests`."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[HttpRequest] = []
        self.closed = 0

    async def send(self, request: HttpRequest) -> HttpResponse:
        """See :meth:`Transport.send`."""
        self.requests.append(request)
        answer = self.handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        assert isinstance(answer, HttpResponse), "a MockTransport handler returns HttpResponse"
        return answer

    async def aclose(self) -> None:
        """Counts the calls (nothing to release)."""
        self.closed += 1


# ------------------------------------------------------------------------------ auth


class RequestAuth(Protocol):
    """Adds credentials to a request; ``refresh`` after the server answered 401."""

    async def apply(self, request: HttpRequest, inner: Transport) -> HttpRequest:
        """``request`` with its credentials (fetching a token through ``inner`` if needed)."""
        ...

    async def refresh(self, refused: HttpRequest, inner: Transport) -> bool:
        """Forget credentials the server refused; ``True`` if a retry may succeed."""
        ...


def lgsp_access_token(access_key: str, secret_key: str, app_name: str, partner_code: str) -> str:
    """The ``lgspaccesstoken`` header value: base64 of the compact JSON of the four keys."""
    text = json.dumps(
        {
            "AccessKey": access_key,
            "SecretKey": secret_key,
            "AppName": app_name,
            "PartnerCode": partner_code,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


@dataclass(frozen=True, slots=True)
class LgspAccessToken:
    """The static ``lgspaccesstoken`` header (nothing to refresh)."""

    access_key: str
    secret_key: str = field(repr=False)
    app_name: str
    partner_code: str

    @property
    def header(self) -> str:
        """The header's value."""
        return lgsp_access_token(self.access_key, self.secret_key, self.app_name, self.partner_code)

    async def apply(self, request: HttpRequest, inner: Transport) -> HttpRequest:
        """See :meth:`RequestAuth.apply`."""
        return request.with_headers({"lgspaccesstoken": self.header})

    async def refresh(self, refused: HttpRequest, inner: Transport) -> bool:
        """A static header cannot be renewed: the 401 stands."""
        return False


class OAuth2ClientCredentials:
    """OAuth2 client credentials (RFC 6749 §4.4) with a cached bearer token.

    The token is kept until ``expires_in`` seconds (less ``margin``) have passed on ``clock``
    (monotonic by default; tests inject their own), then fetched again. A 401 from an API
    drops the cached token — unless a newer one was fetched meanwhile — and the request is
    repeated once with a fresh one. ``extra`` (for example a :class:`LgspAccessToken`) also
    authenticates the token request itself, as LGSP gateways require.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | None = None,
        client_auth: str = "basic",
        margin: float = 30.0,
        clock: Clock = time.monotonic,
        extra: RequestAuth | None = None,
    ) -> None:
        if client_auth not in ("basic", "body"):
            raise ValueError("oauth2_client_auth must be 'basic' or 'body'")
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self.scope = scope
        self.client_auth = client_auth
        self.margin = margin
        self.clock = clock
        self.extra = extra
        self.tokens_fetched = 0
        self._token: str | None = None
        self._until = 0.0
        self._lock = asyncio.Lock()

    async def token(self, inner: Transport) -> str:
        """The cached token, or a new one if there is none or it expired."""
        async with self._lock:
            if self._token is None or self.clock() >= self._until:
                await self._fetch(inner)
            assert self._token is not None
            return self._token

    async def _fetch(self, inner: Transport) -> None:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        if self.client_auth == "basic":
            pair = f"{self.client_id}:{self._secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        else:
            form.update(client_id=self.client_id, client_secret=self._secret)
        request = HttpRequest("POST", self.token_url, headers, urlencode(form).encode("ascii"))
        if self.extra is not None:
            request = await self.extra.apply(request, inner)
        started = self.clock()
        answer = await inner.send(request)
        if answer.status >= 500 or answer.status == 429:
            raise ExternalUnavailable(f"token endpoint answered {answer.status}")
        if answer.status != 200:
            raise AuthRefused(
                f"token endpoint refused the client credentials: {answer.status}"
                f" {answer.text()[:200]}"
            )
        try:
            payload = answer.json()
            token = str(payload["access_token"])
            expires_in = float(payload.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError) as exc:
            raise ExternalUnavailable(f"token endpoint answer is not a token: {exc!r}") from exc
        self.tokens_fetched += 1
        self._token = token
        # counted from when we asked: the server's clock started no later than that
        self._until = started + max(0.0, expires_in - self.margin)

    async def apply(self, request: HttpRequest, inner: Transport) -> HttpRequest:
        """See :meth:`RequestAuth.apply`."""
        token = await self.token(inner)
        if self.extra is not None:
            request = await self.extra.apply(request, inner)
        return request.with_headers({"Authorization": f"Bearer {token}"})

    async def refresh(self, refused: HttpRequest, inner: Transport) -> bool:
        """See :meth:`RequestAuth.refresh`."""
        async with self._lock:
            # another request may have renewed it already: only drop the token that failed
            if refused.headers.get("Authorization") == f"Bearer {self._token}":
                self._token = None
        return True


class AuthTransport:
    """``inner`` with credentials: every request goes through ``auth.apply``; a 401 answer is
    followed by ``auth.refresh`` and, if it allows, one more attempt."""

    def __init__(self, inner: Transport, auth: RequestAuth) -> None:
        self.inner = inner
        self.auth = auth

    async def send(self, request: HttpRequest) -> HttpResponse:
        """See :meth:`Transport.send`."""
        authed = await self.auth.apply(request, self.inner)
        answer = await self.inner.send(authed)
        if answer.status == 401 and await self.auth.refresh(authed, self.inner):
            answer = await self.inner.send(await self.auth.apply(request, self.inner))
        return answer

    async def aclose(self) -> None:
        """See :meth:`Transport.aclose`."""
        await self.inner.aclose()


# ------------------------------------------------------------------------------ settings


class TransportSettings(AdapterSettings):
    """The ``[adapter.settings]`` keys of the HTTP transport (:func:`transport_from_settings`),
    for an adapter's ``Settings`` to extend: the request timeout and the LGSP authentication
    options (``lgspaccesstoken`` header, OAuth2 client credentials). Secrets may be given
    inline or as ``<name>_file`` (read once, stripped)."""

    timeout_seconds: float = 10.0
    lgsp_access_key: str | None = None
    lgsp_secret_key: str | None = None
    lgsp_secret_key_file: str | None = None
    lgsp_app_name: str = ""
    lgsp_partner_code: str = ""
    oauth2_token_url: str | None = None
    oauth2_client_id: str = ""
    oauth2_client_secret: str | None = None
    oauth2_client_secret_file: str | None = None
    oauth2_scope: str | None = None
    oauth2_client_auth: str = "basic"


def _secret(settings: Mapping[str, Any], name: str) -> str:
    value = settings.get(name)
    if value is None and f"{name}_file" in settings:
        value = Path(str(settings[f"{name}_file"])).read_text("utf-8").strip()
    return str(value or "")


def auth_from_settings(
    settings: Mapping[str, Any], *, clock: Clock = time.monotonic
) -> RequestAuth | None:
    """The LGSP authentication the settings ask for (``None``: none).

    ``lgsp_access_key`` turns the ``lgspaccesstoken`` header on; ``oauth2_token_url`` turns
    OAuth2 client credentials on. With both, the header goes on the token request and on
    every API call, beside the bearer token.
    """
    lgsp: LgspAccessToken | None = None
    if settings.get("lgsp_access_key"):
        lgsp = LgspAccessToken(
            str(settings["lgsp_access_key"]),
            _secret(settings, "lgsp_secret_key"),
            str(settings.get("lgsp_app_name", "")),
            str(settings.get("lgsp_partner_code", "")),
        )
    if settings.get("oauth2_token_url"):
        return OAuth2ClientCredentials(
            str(settings["oauth2_token_url"]),
            str(settings.get("oauth2_client_id", "")),
            _secret(settings, "oauth2_client_secret"),
            scope=str(settings["oauth2_scope"]) if settings.get("oauth2_scope") else None,
            client_auth=str(settings.get("oauth2_client_auth", "basic")),
            clock=clock,
            extra=lgsp,
        )
    return lgsp


def transport_from_settings(
    settings: Mapping[str, Any], *, base: Transport | None = None, clock: Clock = time.monotonic
) -> Transport:
    """``base`` (default: an :class:`AiohttpTransport` with ``timeout_seconds``) wrapped in
    the authentication the settings configure."""
    inner: Transport = base or AiohttpTransport(
        timeout=float(settings.get("timeout_seconds", 10.0))
    )
    auth = auth_from_settings(settings, clock=clock)
    return inner if auth is None else AuthTransport(inner, auth)


def open_transport(config: AdapterConfig) -> Transport:
    """The transport an adapter uses: ``config.transport`` if the caller supplied one (a
    :class:`MockTransport` in tests), else a real one; the settings' authentication either
    way. ``config`` is the adapter's :class:`~hub.adapter.AdapterConfig`."""
    return transport_from_settings(config.settings, base=config.transport)
