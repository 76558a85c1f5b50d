"""Lifecycle endpoints for agencies: their report line, their open alarms, a dossier's state.

An agency sees only what concerns it: ``/v1/reports`` returns the caller's own line (the whole
province is ``hub report`` on the hub's host, and the operators' dashboard), ``/v1/alarms``
the alarms where the caller is the agency behind, ``/v1/dossiers/{MaHoSo}`` a dossier whose
submitter or handling agency it is. Everything is computed from the store at the hub's clock.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from hub.api.keys import CALLER, RUNTIME
from hub.errors import BadQuery, NotFound
from hub.lifecycle.alarms import evaluate
from hub.lifecycle.calendar import parse_day
from hub.lifecycle.reports import build_report
from hub.text import nfc

routes = web.RouteTableDef()


def _period(request: web.Request) -> tuple[Any, Any]:
    now = request.app[RUNTIME].clock()
    try:
        end = parse_day(request.query["to"]) if "to" in request.query else now
        start = (
            parse_day(request.query["from"])
            if "from" in request.query
            else end - timedelta(days=183)
        )
    except Exception as exc:
        raise BadQuery(f"from/to: {exc}") from exc
    return start, end


@routes.get("/v1/reports")
async def report(request: web.Request) -> web.Response:
    """The caller's figures for ``[from, to)`` (YYYY-MM-DD, Việt Nam days)."""
    rt, caller = request.app[RUNTIME], request[CALLER]
    start, end = _period(request)
    agency = rt.registry.get(caller)
    names = {caller: agency.name if agency else ""}
    result = await build_report(rt.store, rt.lifecycle_settings, names, start, end, rt.clock())
    row = result.row(caller)
    return web.json_response(
        {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "as_of": result.now.isoformat(),
            "agency": row.as_dict() if row else None,
        }
    )


@routes.get("/v1/alarms")
async def alarms(request: web.Request) -> web.Response:
    """The open alarms where the caller is the agency behind them."""
    rt, caller = request.app[RUNTIME], request[CALLER]
    found = await evaluate(rt.store, rt.lifecycle_settings, [caller], rt.clock())
    return web.json_response({"alarms": [a.as_dict() for a in found if a.agency == caller]})


@routes.get("/v1/dossiers/{ma_ho_so}")
async def dossier(request: web.Request) -> web.Response:
    """A dossier's state and history (its submitter and handling agency only)."""
    rt, caller = request.app[RUNTIME], request[CALLER]
    lc = rt.store.lifecycle()
    d = await lc.dossier(nfc(request.match_info["ma_ho_so"]))  # keys are NFC
    if d is None or caller not in (d.submitter, d.agency):
        raise NotFound("no such dossier for this agency")
    history = await lc.transitions(key=d.ma_ho_so)
    return web.json_response(
        {
            "ma_ho_so": d.ma_ho_so,
            "ma_tthc": d.ma_tthc,
            "state": d.state,
            "agency": d.agency,
            "submitter": d.submitter,
            "online": d.online,
            "submitted_at": d.submitted_at.isoformat(),
            "accepted_at": d.accepted_at.isoformat() if d.accepted_at else None,
            "due_at": d.due_at.isoformat() if d.due_at else None,
            "finished_at": d.finished_at.isoformat() if d.finished_at else None,
            "history": [
                {
                    "from": t.from_state,
                    "to": t.to_state,
                    "at": t.at.isoformat(),
                    "package_id": t.package_id,
                    "actor": t.actor,
                }
                for t in history
            ],
        }
    )


_OBJ: dict[str, Any] = {
    "description": "JSON",
    "content": {"application/json": {"schema": {"type": "object"}}},
}
_PROBLEM: dict[str, Any] = {"$ref": "#/components/responses/Problem"}
_Q = [
    {"name": n, "in": "query", "required": False, "schema": {"type": "string", "format": "date"}}
    for n in ("from", "to")
]
OPENAPI_PATHS: dict[str, Any] = {
    "/v1/reports": {
        "get": {
            "summary": "The caller's report line for a period (documents, dossiers, SLA)",
            "operationId": "report",
            "parameters": _Q,
            "responses": {"200": _OBJ, "400": _PROBLEM, "401": _PROBLEM},
        }
    },
    "/v1/alarms": {
        "get": {
            "summary": "Open SLA alarms where the caller is the agency behind",
            "operationId": "alarms",
            "responses": {"200": _OBJ, "401": _PROBLEM},
        }
    },
    "/v1/dossiers/{ma_ho_so}": {
        "get": {
            "summary": "A dossier's lifecycle (its submitter and handling agency only)",
            "operationId": "dossier",
            "parameters": [
                {"name": "ma_ho_so", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {"200": _OBJ, "401": _PROBLEM, "404": _PROBLEM},
        }
    },
}
"""The routes above, for :func:`hub.api.openapi.openapi_document`."""
