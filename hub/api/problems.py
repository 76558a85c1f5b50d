"""RFC 9457 problem+json responses for every refusal."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from hub.api.keys import CALLER
from hub.errors import HubError
from hub.metrics import REFUSED

log = logging.getLogger("hub.api")

PROBLEM_JSON = "application/problem+json"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    """A problem+json response with the body's status."""
    return web.Response(
        status=int(body["status"]),
        body=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        content_type=PROBLEM_JSON,
        charset="utf-8",
        headers=headers,
    )


def http_problem(status: int, code: str, title: str, detail: str) -> web.Response:
    """A problem response for refusals that are not :class:`HubError` (routing, methods)."""
    return problem_response(
        {
            "type": f"https://hub.example/problems/{code}",
            "title": title,
            "status": status,
            "code": code,
            "detail": detail,
        }
    )


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn :class:`HubError` and aiohttp's HTTP errors into problem+json."""
    try:
        return await handler(request)
    except HubError as exc:
        REFUSED.labels(code=exc.code).inc()
        body = exc.to_problem()
        body["instance"] = request.path
        log.info(
            "refused",
            extra={"code": exc.code, "path": request.path, "caller": request.get(CALLER)},
        )
        headers = {"WWW-Authenticate": 'Bearer realm="hub"'} if exc.status == 401 else None
        return problem_response(body, headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "http.not_found", 405: "http.method_not_allowed"}.get(
            exc.status, f"http.{exc.status}"
        )
        return http_problem(exc.status, code, exc.reason, exc.text or exc.reason)
