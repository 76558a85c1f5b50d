"""The agency directory over the agency API (issue 11, ``docs/directory.md``).

``GET /v1/agencies`` lists every agency the hub knows — connected ones and directory entries —
in directory order (a parent before its units), paged like ``/v1/inbox``; ``GET
/v1/agencies/{code}`` returns one. Any authenticated agency may read it (it needs the codes to
address its documents); nothing secret is in it: no tokens, certificates or push addresses.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from hub.api.keys import RUNTIME
from hub.api.params import page_limit, text_query
from hub.directory import DirectoryEntry, DirectoryFilter
from hub.edxml.organ_id import is_valid_organ_id
from hub.errors import AgencyNotFound, BadCursor, BadParameter

routes = web.RouteTableDef()


def entry_json(entry: DirectoryEntry) -> dict[str, Any]:
    """The JSON of one agency (the ``Agency`` schema of the OpenAPI document)."""
    return {
        "code": entry.code,
        "name": entry.name,
        "parent": entry.parent,
        "level": entry.level,
        "connected": entry.connected,
        "enabled": entry.enabled,
        "may_send": list(entry.may_send),
        "delivery": entry.delivery,
        "code102": entry.code102,
        "old_code": entry.old_code,
        "represented_by": entry.represented_by,
    }


def _bool(request: web.Request, name: str) -> bool | None:
    """``true``/``false`` (or ``1``/``0``); absent is no filter, present but empty is refused."""
    if name not in request.query:
        return None
    raw = request.query[name]
    if raw in ("1", "true"):
        return True
    if raw in ("0", "false"):
        return False
    raise BadParameter(f"{name}: true or false, not {raw!r}", parameter=name)


def _filter(request: web.Request) -> DirectoryFilter:
    level: int | None = None
    if "level" in request.query:
        raw = request.query["level"]
        if raw not in ("1", "2", "3", "4"):
            raise BadParameter(f"level: 1, 2, 3 or 4, not {raw!r}", parameter="level")
        level = int(raw)
    parent = request.query.get("parent")
    if parent is not None and not is_valid_organ_id(parent):
        raise BadParameter(
            f"parent: an OrganId (NNN.NN.NN.XNN), not {parent!r}", parameter="parent"
        )
    q = text_query(request)
    return DirectoryFilter(level=level, parent=parent, connected=_bool(request, "connected"), q=q)


@routes.get("/v1/agencies")
async def agencies(request: web.Request) -> web.Response:
    """A page of the directory, filtered by ``level``, ``parent``, ``connected``, ``q``."""
    flt = _filter(request)
    try:
        page = await request.app[RUNTIME].directory.entries(
            flt, cursor=request.query.get("cursor") or None, limit=page_limit(request)
        )
    except ValueError:  # a malformed cursor
        raise BadCursor("cursor: pass back the 'next' value of the previous page") from None
    return web.json_response(
        {"items": [entry_json(e) for e in page.items], "next": page.next},
        dumps=_dumps,
    )


@routes.get("/v1/agencies/{code}")
async def agency(request: web.Request) -> web.Response:
    """One agency by code, connected or a directory entry."""
    code = request.match_info["code"]
    entry = await request.app[RUNTIME].directory.get(code)
    if entry is None:
        raise AgencyNotFound(f"no agency {code} in the directory")
    return web.json_response(entry_json(entry), dumps=_dumps)


def _dumps(value: Any) -> str:
    # Vietnamese names as UTF-8 text, not \u escapes: smaller and readable in a terminal.
    return json.dumps(value, ensure_ascii=False)


_PROBLEM: dict[str, Any] = {"$ref": "#/components/responses/Problem"}

AGENCY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["code", "name", "parent", "level", "connected"],
    "properties": {
        "code": {"type": "string", "description": "OrganId (NNN.NN.NN.XNN)"},
        "name": {"type": "string", "description": "Name (NFC)"},
        "parent": {
            "type": ["string", "null"],
            "description": "The parent body's OrganId; null at level 1",
        },
        "level": {"type": "integer", "minimum": 1, "maximum": 4},
        "connected": {
            "type": "boolean",
            "description": "Registered with the hub (has a system and credentials); false "
            "for a directory entry (known by code and name only)",
        },
        "enabled": {"type": "boolean", "description": "Connected and not disabled"},
        "may_send": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Package kinds a connected agency may send; [] otherwise",
        },
        "delivery": {
            "type": ["string", "null"],
            "enum": ["pull", "push", None],
            "description": "How a connected agency receives; null otherwise",
        },
        "code102": {"type": ["string", "null"], "description": "Code for QCVN 102 exchanges"},
        "old_code": {"type": ["string", "null"], "description": "Code before QĐ 20/2020"},
        "represented_by": {
            "type": ["string", "null"],
            "description": "Not connected: the connected agency its packages go to (its "
            "nearest registered ancestor, when that one represents its descendants); null "
            "when connected or when packages to it would be refused",
        },
    },
}

_CODE_PARAM = {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}

OPENAPI_PATHS: dict[str, Any] = {
    "/v1/agencies": {
        "get": {
            "summary": "The agency directory: connected agencies and directory entries",
            "operationId": "listAgencies",
            "description": (
                "Every agency the hub knows, in directory order (OrganId groups most "
                "significant first: a parent right before its units), paged by an opaque "
                "cursor like /v1/inbox. Directory entries come from `hub agency import`; "
                "they are never connected by it. No secrets are listed."
            ),
            "parameters": [
                {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                },
                {
                    "name": "level",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 4},
                },
                {
                    "name": "parent",
                    "in": "query",
                    "description": "Only the direct units of this OrganId",
                    "schema": {"type": "string"},
                },
                {"name": "connected", "in": "query", "schema": {"type": "boolean"}},
                {
                    "name": "q",
                    "in": "query",
                    "description": (
                        "Every word of q begins a word of the name or of the code, compared "
                        "without diacritics or case ('so tai chinh' finds 'Sở Tài chính'); "
                        "at most 16 words"
                    ),
                    "schema": {"type": "string"},
                },
            ],
            "responses": {
                "200": {
                    "description": "A page of the directory",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/AgencyPage"}}
                    },
                },
                "400": _PROBLEM,
                "401": _PROBLEM,
                "403": _PROBLEM,
                "503": _PROBLEM,
            },
        }
    },
    "/v1/agencies/{code}": {
        "get": {
            "summary": "One agency of the directory",
            "operationId": "getAgency",
            "parameters": [_CODE_PARAM],
            "responses": {
                "200": {
                    "description": "The agency",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Agency"}}
                    },
                },
                "401": _PROBLEM,
                "403": _PROBLEM,
                "404": _PROBLEM,
                "503": _PROBLEM,
            },
        }
    },
}
"""The routes above, for :func:`hub.api.openapi.openapi_document`."""

OPENAPI_SCHEMAS: dict[str, Any] = {
    "Agency": AGENCY_SCHEMA,
    "AgencyPage": {
        "type": "object",
        "required": ["items", "next"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Agency"}},
            "next": {"type": ["string", "null"]},
        },
    },
}
