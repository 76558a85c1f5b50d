"""Authentication: per-agency bearer tokens, or TLS client certificates where configured."""

from __future__ import annotations

import hashlib
import ssl

from aiohttp import web

from hub.api.keys import CALLER, RUNTIME
from hub.api.problems import Handler
from hub.errors import AuthForbidden, AuthRequired

#: paths without an agency's credentials (probes, the API description; /metrics has its own
#: access rule, see hub.api.ops)
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/v1/openapi.json", "/metrics"})


def _client_certificate_fingerprint(request: web.Request) -> str | None:
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    if not isinstance(ssl_object, ssl.SSLObject):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest() if der else None


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve the caller's OrganId, or refuse with ``401 auth.required``."""
    if request.path in PUBLIC_PATHS or not request.path.startswith("/v1/"):
        return await handler(request)
    runtime = request.app[RUNTIME]
    # An operator's change (disable, rotate-token, set-profile) applies to the next request:
    # the overrides are read from the store before authenticating (shared by concurrent
    # requests, see FreshOverrides).
    await runtime.overrides.sync()
    registry = runtime.registry
    caller: str | None = None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthRequired("use 'Authorization: Bearer <token>'")
        caller = registry.authenticate_token(token.strip())
        if caller is None:
            raise AuthRequired("unknown bearer token")
    else:
        fingerprint = _client_certificate_fingerprint(request)
        if fingerprint is not None:
            caller = registry.authenticate_certificate(fingerprint)
            if caller is None:
                raise AuthRequired("the client certificate is not registered")
    if caller is None:
        raise AuthRequired("credentials required: a bearer token or a client certificate")
    if not registry.is_active(caller):
        raise AuthForbidden(f"{caller} is disabled")
    request[CALLER] = caller
    return await handler(request)
