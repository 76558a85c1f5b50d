"""Authentication: per-agency bearer tokens, or TLS client certificates where configured."""

from __future__ import annotations

import hashlib
import ssl

from aiohttp import web

from hub.api.keys import CALLER, RUNTIME
from hub.api.problems import Handler
from hub.errors import AuthForbidden, AuthRequired

#: paths anyone may read (probes, the API description, metrics for the local scraper)
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
    registry = request.app[RUNTIME].registry
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
