"""A simulated iGate (provincial one-stop system): a real aiohttp server with SQLite state.

It behaves like the integration API of such systems, failures included:

* every request needs ``X-API-Key``; a wrong or missing key is ``401`` with a JSON error;
* ``error_rate`` of requests fail with ``503`` before doing anything, ``lost_reply_rate`` of
  writes are *applied* and then answered ``502`` (the reply is lost: the caller must retry
  with the same ``Idempotency-Key`` and must not apply twice), ``slow_rate`` of requests take
  ``slow_seconds`` before answering (the caller's timeout decides);
* validation errors are ``422`` with the offending field, unknown dossiers ``404``.

API (JSON, UTF-8)::

    POST /api/v1/dossiers                 officer registers a dossier     → 201 {code, revision}
    PUT  /api/v1/dossiers/{code}          officer updates it (status …)   → 200 {code, revision}
    POST /api/v1/dossiers/{code}/progress officer records a step          → 201 {id}
    GET  /api/v1/dossiers/{code}          the dossier, its revision and progress history
    GET  /api/v1/changes?after=N&limit=M  the change feed: {"items": [{seq, type, revision,
                                          record}], "last": N}  (type dossier | progress)
    PUT  /api/v1/inbound/dossiers/{code}  a dossier from the hub  (Idempotency-Key required)
    POST /api/v1/inbound/progress         a progress step from the hub (Idempotency-Key)

What comes in through ``/inbound`` is stored but not echoed into the change feed (the system
does not send back what it was sent). Run it alone: ``python -m adapters.igate.simulator``.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from dataclasses import dataclass
from typing import Any

from aiohttp import web

__all__ = ["Faults", "IgateSimulator"]

_SCHEMA = """
CREATE TABLE dossiers (code TEXT PRIMARY KEY, revision INTEGER NOT NULL, record TEXT NOT NULL,
                       origin TEXT NOT NULL);
CREATE TABLE progress (id INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT NOT NULL,
                       record TEXT NOT NULL, origin TEXT NOT NULL);
CREATE TABLE feed (seq INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL,
                   revision INTEGER NOT NULL, record TEXT NOT NULL);
CREATE TABLE idempotency (key TEXT PRIMARY KEY, status INTEGER NOT NULL, body TEXT NOT NULL);
"""


@dataclass
class Faults:
    """How often the simulated system misbehaves (0 = never); ``seed`` makes it repeatable."""

    error_rate: float = 0.0
    lost_reply_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 2.0
    seed: int = 0


class IgateSimulator:
    """``async with IgateSimulator(api_key="k") as sim: sim.url`` — or :meth:`app` to mount."""

    def __init__(
        self,
        *,
        api_key: str,
        faults: Faults | None = None,
        db_path: str = ":memory:",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.faults = faults or Faults()
        self._random = random.Random(self.faults.seed)
        self.db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        if not self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'feed'").fetchone():
            self.db.executescript(_SCHEMA)
        self.host, self.port = host, port
        self._runner: web.AppRunner | None = None
        self.requests = 0
        self.failures = 0

    # -- lifecycle -----------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/api/v1/dossiers", self._create)
        app.router.add_put("/api/v1/dossiers/{code}", self._update)
        app.router.add_get("/api/v1/dossiers/{code}", self._get)
        app.router.add_post("/api/v1/dossiers/{code}/progress", self._add_progress)
        app.router.add_get("/api/v1/changes", self._changes)
        app.router.add_put("/api/v1/inbound/dossiers/{code}", self._inbound_dossier)
        app.router.add_post("/api/v1/inbound/progress", self._inbound_progress)
        return app

    async def __aenter__(self) -> IgateSimulator:
        self._runner = web.AppRunner(self.app())
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        return f"http://{self.host}:{self.port}"

    # -- behaviour -----------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests += 1
        if request.headers.get("X-API-Key") != self.api_key:
            return web.json_response(
                {"error": "unauthorized", "message": "bad API key"}, status=401
            )
        if self._random.random() < self.faults.error_rate:
            self.failures += 1
            return web.json_response({"error": "service unavailable"}, status=503)
        if self._random.random() < self.faults.slow_rate:
            await asyncio.sleep(self.faults.slow_seconds)
        response: web.StreamResponse = await handler(request)
        if (
            request.method in ("POST", "PUT")
            and response.status < 300
            and self._random.random() < self.faults.lost_reply_rate
        ):
            self.failures += 1  # applied, but the caller never learns it
            return web.json_response({"error": "bad gateway"}, status=502)
        return response

    async def _json(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise web.HTTPBadRequest(
                text=json.dumps({"error": "invalid JSON", "message": str(exc)}),
                content_type="application/json",
            ) from exc
        if not isinstance(body, dict):
            raise _invalid("", "expected a JSON object")
        return body

    def _append_feed(self, type_: str, revision: int, record: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO feed (type, revision, record) VALUES (?, ?, ?)",
            (type_, revision, json.dumps(record, ensure_ascii=False)),
        )

    async def _create(self, request: web.Request) -> web.Response:
        record = await self._json(request)
        code = record.get("code")
        if not isinstance(code, str) or not code:
            raise _invalid("code", "required")
        if self.db.execute("SELECT 1 FROM dossiers WHERE code = ?", (code,)).fetchone():
            return web.json_response({"error": "conflict", "field": "code"}, status=409)
        self.db.execute("BEGIN")
        self.db.execute(
            "INSERT INTO dossiers VALUES (?, 1, ?, 'local')",
            (code, json.dumps(record, ensure_ascii=False)),
        )
        self._append_feed("dossier", 1, record)
        self.db.execute("COMMIT")
        return web.json_response({"code": code, "revision": 1}, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        code = request.match_info["code"]
        record = await self._json(request)
        if record.get("code", code) != code:
            raise _invalid("code", "differs from the URL")
        row = self.db.execute("SELECT revision FROM dossiers WHERE code = ?", (code,)).fetchone()
        if row is None:
            return web.json_response({"error": "not found", "field": "code"}, status=404)
        revision = int(row[0]) + 1
        self.db.execute("BEGIN")
        self.db.execute(
            "UPDATE dossiers SET revision = ?, record = ? WHERE code = ?",
            (revision, json.dumps(record, ensure_ascii=False), code),
        )
        self._append_feed("dossier", revision, record)
        self.db.execute("COMMIT")
        return web.json_response({"code": code, "revision": revision})

    async def _add_progress(self, request: web.Request) -> web.Response:
        code = request.match_info["code"]
        record = await self._json(request)
        record["dossierCode"] = code
        if self.db.execute("SELECT 1 FROM dossiers WHERE code = ?", (code,)).fetchone() is None:
            return web.json_response({"error": "not found", "field": "dossierCode"}, status=404)
        self.db.execute("BEGIN")
        cur = self.db.execute(
            "INSERT INTO progress (code, record, origin) VALUES (?, ?, 'local')",
            (code, json.dumps(record, ensure_ascii=False)),
        )
        self._append_feed("progress", int(cur.lastrowid or 0), record)
        self.db.execute("COMMIT")
        return web.json_response({"id": cur.lastrowid}, status=201)

    async def _get(self, request: web.Request) -> web.Response:
        code = request.match_info["code"]
        row = self.db.execute(
            "SELECT revision, record, origin FROM dossiers WHERE code = ?", (code,)
        ).fetchone()
        if row is None:
            return web.json_response({"error": "not found", "field": "code"}, status=404)
        steps = [
            json.loads(r[0])
            for r in self.db.execute(
                "SELECT record FROM progress WHERE code = ? ORDER BY id", (code,)
            )
        ]
        return web.json_response(
            {"revision": row[0], "origin": row[2], "record": json.loads(row[1]), "progress": steps}
        )

    async def _changes(self, request: web.Request) -> web.Response:
        try:
            after = int(request.query.get("after", "0"))
            limit = min(max(int(request.query.get("limit", "50")), 1), 500)
        except ValueError:
            raise _invalid("after", "must be an integer") from None
        rows = self.db.execute(
            "SELECT seq, type, revision, record FROM feed WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit),
        ).fetchall()
        items = [
            {"seq": s, "type": t, "revision": r, "record": json.loads(rec)} for s, t, r, rec in rows
        ]
        return web.json_response({"items": items, "last": rows[-1][0] if rows else after})

    def _replay(self, request: web.Request) -> tuple[str, web.Response | None]:
        key = request.headers.get("Idempotency-Key", "")
        if not key:
            raise _invalid("Idempotency-Key", "header required")
        row = self.db.execute(
            "SELECT status, body FROM idempotency WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return key, None
        body = json.loads(row[1])
        body["duplicate"] = True
        return key, web.json_response(body, status=int(row[0]))

    async def _inbound_dossier(self, request: web.Request) -> web.Response:
        code = request.match_info["code"]
        key, replay = self._replay(request)
        if replay is not None:
            return replay
        record = await self._json(request)
        if record.get("code") != code:
            raise _invalid("code", "differs from the URL")
        row = self.db.execute("SELECT revision FROM dossiers WHERE code = ?", (code,)).fetchone()
        revision = int(row[0]) + 1 if row else 1
        body = {"code": code, "revision": revision}
        self.db.execute("BEGIN")
        self.db.execute(
            "INSERT OR REPLACE INTO dossiers VALUES (?, ?, ?, 'hub')",
            (code, revision, json.dumps(record, ensure_ascii=False)),
        )
        self.db.execute("INSERT INTO idempotency VALUES (?, 200, ?)", (key, json.dumps(body)))
        self.db.execute("COMMIT")
        return web.json_response(body)

    async def _inbound_progress(self, request: web.Request) -> web.Response:
        key, replay = self._replay(request)
        if replay is not None:
            return replay
        record = await self._json(request)
        code = record.get("dossierCode")
        if not isinstance(code, str) or not code:
            raise _invalid("dossierCode", "required")
        row = self.db.execute("SELECT record FROM dossiers WHERE code = ?", (code,)).fetchone()
        if row is None:
            return web.json_response({"error": "not found", "field": "dossierCode"}, status=404)
        self.db.execute("BEGIN")
        cur = self.db.execute(
            "INSERT INTO progress (code, record, origin) VALUES (?, ?, 'hub')",
            (code, json.dumps(record, ensure_ascii=False)),
        )
        dossier = json.loads(row[0])
        if isinstance(record.get("status"), int):
            dossier["status"] = record["status"]  # the dossier follows its latest step
        self.db.execute(
            "UPDATE dossiers SET record = ? WHERE code = ?",
            (json.dumps(dossier, ensure_ascii=False), code),
        )
        body = {"id": cur.lastrowid}
        self.db.execute("INSERT INTO idempotency VALUES (?, 201, ?)", (key, json.dumps(body)))
        self.db.execute("COMMIT")
        return web.json_response(body, status=201)

    # -- for tests and the demo ----------------------------------------------------------------

    def dossier(self, code: str) -> dict[str, Any] | None:
        """The stored dossier record, or ``None``."""
        row = self.db.execute("SELECT record FROM dossiers WHERE code = ?", (code,)).fetchone()
        return json.loads(row[0]) if row else None

    def progress_of(self, code: str) -> list[dict[str, Any]]:
        """Every progress step of a dossier, in order."""
        rows = self.db.execute("SELECT record FROM progress WHERE code = ? ORDER BY id", (code,))
        return [json.loads(r[0]) for r in rows]


def _invalid(field: str, message: str) -> web.HTTPUnprocessableEntity:
    return web.HTTPUnprocessableEntity(
        text=json.dumps({"error": "validation", "field": field, "message": message}),
        content_type="application/json",
    )


def main() -> None:  # pragma: no cover - manual use
    """``python -m adapters.igate.simulator --port 8900 --api-key demo``."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--api-key", default="demo-igate-key")
    parser.add_argument("--db", default=":memory:")
    parser.add_argument("--error-rate", type=float, default=0.0)
    args = parser.parse_args()
    sim = IgateSimulator(
        api_key=args.api_key, db_path=args.db, faults=Faults(error_rate=args.error_rate)
    )
    web.run_app(sim.app(), host="127.0.0.1", port=args.port)


if __name__ == "__main__":  # pragma: no cover
    main()
