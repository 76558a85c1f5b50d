"""RFC 9457 problem+json responses for every refusal, and the catalogue of problem codes.

Every refusal of the API is a :class:`~hub.errors.HubError` (or an aiohttp routing error
mapped onto one here), answered as problem+json whose ``type`` is the code's anchor on the
hub's own page ``/docs/problems`` — generated from the error tree by :func:`catalogue`, so
the page, the OpenAPI document and the answers cannot disagree.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from hub.adapter.scaffold import ScaffoldError
from hub.api.keys import CALLER
from hub.audit.acks import AckInvalid
from hub.audit.evidence import EvidenceError
from hub.client import AnswerRefused
from hub.dbtools import DbToolError
from hub.errors import (
    PROBLEMS_PAGE,
    AuthForbidden,
    AuthRequired,
    HubError,
    MethodNotAllowed,
    PackageTooLarge,
    RequestError,
    RouteNotFound,
    UnsupportedMediaType,
)
from hub.storage_crypto import StorageKeyError

log = logging.getLogger("hub.api")

PROBLEM_JSON = "application/problem+json"

#: the media types a request body may have (parameters such as charset are allowed)
XML_MEDIA_TYPES = frozenset({"application/xml", "text/xml"})
#: the ``/v1`` paths whose body is JSON instead (the batch ack: a list of ids)
JSON_BODY_PATHS = frozenset({"/v1/inbox/acks"})
JSON_MEDIA_TYPES = frozenset({"application/json"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Defined outside the modules the API imports anyway (some raised by the command line only);
# named here so that the catalogue, which walks ``HubError``'s subclasses, always holds them.
_ELSEWHERE: tuple[type[HubError], ...] = (
    AckInvalid,
    AnswerRefused,  # and its subclass AnswerTooLarge: the agency-side client's
    DbToolError,
    EvidenceError,
    ScaffoldError,
    StorageKeyError,
)


@dataclass(frozen=True, slots=True)
class ProblemCode:
    """One stable code: what the API answers with, and what it means."""

    code: str
    status: int
    title: str
    meaning: str


def _subclasses(cls: type[HubError]) -> Iterator[type[HubError]]:
    yield cls
    for sub in cls.__subclasses__():
        yield from _subclasses(sub)


def _meaning(cls: type[HubError]) -> str:
    # The class's own docstring only (an inherited one would explain the parent's code).
    own: str = cls.__dict__.get("__doc__") or ""
    return " ".join(own.split())


def codes_of(*classes: type[HubError]) -> list[str]:
    """Every code the given classes (and their subclasses and variants) can carry, sorted."""
    found: set[str] = set()
    for root in classes:
        for cls in _subclasses(root):
            found.update(code for code, _, _ in cls.codes())
    return sorted(found)


def catalogue() -> list[ProblemCode]:
    """Every problem code of the hub, sorted: walked from :class:`HubError`'s subclasses."""
    entries: dict[str, ProblemCode] = {}
    for cls in _subclasses(HubError):
        meaning = _meaning(cls)
        for code, status, title in cls.codes():
            if code not in entries:
                own = meaning if code == cls.code else ""
                entries[code] = ProblemCode(code, status, title, own)
    return [entries[c] for c in sorted(entries)]


def problems_html() -> str:
    """The ``/docs/problems`` page: one row (and anchor) per code."""
    rows = "\n".join(
        f'<tr id="{html.escape(p.code)}"><td><a href="#{html.escape(p.code)}">'
        f"<code>{html.escape(p.code)}</code></a></td><td>{p.status}</td>"
        f"<td>{html.escape(p.title)}</td><td>{html.escape(p.meaning)}</td></tr>"
        for p in catalogue()
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Hub problem codes</title><style>body{font-family:sans-serif;margin:2em}"
        "td,th{border-bottom:1px solid #ccc;padding:.3em .6em;text-align:left;"
        "vertical-align:top}:target{background:#ffd}</style></head><body>"
        "<h1>Problem codes</h1><p>Every refusal of the hub's API is an RFC 9457 "
        "<code>application/problem+json</code> body whose <code>code</code> is one of these "
        f"(stable: integrators match on them) and whose <code>type</code> is "
        f"<code>{PROBLEMS_PAGE}#&lt;code&gt;</code>.</p>"
        "<table><thead><tr><th>Code</th><th>Status</th><th>Title</th><th>Meaning</th></tr>"
        f"</thead><tbody>\n{rows}\n</tbody></table></body></html>"
    )


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    """A problem+json response with the body's status."""
    return web.Response(
        status=int(body["status"]),
        body=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        content_type=PROBLEM_JSON,
        charset="utf-8",
        headers=headers,
    )


def _answer(request: web.Request, exc: HubError, headers: dict[str, str] | None) -> web.Response:
    body = exc.to_problem()
    body["instance"] = request.path
    log.info(
        "refused", extra={"code": exc.code, "path": request.path, "caller": request.get(CALLER)}
    )
    if exc.status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="hub"'}
    return problem_response(body, headers)


def _from_http(exc: web.HTTPException) -> tuple[HubError, dict[str, str] | None]:
    """aiohttp's own refusals (routing, its body limit) as problems with stable codes."""
    if exc.status == 404:
        return RouteNotFound(exc.text or "no such resource"), None
    if exc.status == 405:
        allow = exc.headers.get("Allow", "")
        return MethodNotAllowed(f"allowed: {allow}"), {"Allow": allow}
    if exc.status == 413:
        return PackageTooLarge(exc.text or "the body exceeds the size limit"), None
    if exc.status == 401:
        return AuthRequired(exc.text or "authentication required"), None
    if exc.status == 403:
        return AuthForbidden(exc.text or "forbidden"), None
    error = RequestError(exc.text or exc.reason)
    error.status = exc.status  # type: ignore[misc]  # the HTTP status aiohttp chose
    return error, None


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn :class:`HubError` and aiohttp's HTTP errors into problem+json."""
    try:
        return await handler(request)
    except HubError as exc:
        return _answer(request, exc, None)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error, headers = _from_http(exc)
        return _answer(request, error, headers)
    except Exception:
        # A bug: logged with its traceback, answered as a problem like every other refusal
        # (never aiohttp's plain-text 500, never the exception's text).
        log.exception("internal error", extra={"path": request.path})
        return _answer(request, HubError("internal error; see the hub's log"), None)


def has_body(request: web.Request) -> bool:
    """Whether the request declares a non-empty body (a length, or chunked encoding)."""
    if request.content_length is not None:
        return request.content_length > 0
    return "chunked" in request.headers.get("Transfer-Encoding", "").lower()


@web.middleware
async def media_type_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``415`` for a non-empty body on ``/v1/`` that is not XML (JSON on
    :data:`JSON_BODY_PATHS`), before anything reads it (body-less calls, such as an unsigned
    ack, need no Content-Type)."""
    if request.path.startswith("/v1/") and has_body(request):
        if request.path in JSON_BODY_PATHS:
            if request.content_type not in JSON_MEDIA_TYPES:
                raise UnsupportedMediaType(
                    f"Content-Type {request.content_type!r}: send application/json"
                )
        elif request.content_type not in XML_MEDIA_TYPES:
            raise UnsupportedMediaType(
                f"Content-Type {request.content_type!r}: send application/xml "
                "(or text/xml), optionally with charset=utf-8"
            )
    return await handler(request)
