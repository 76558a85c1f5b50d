"""The operators' dashboard under ``/dashboard/``: an aiohttp sub-application.

Access (see ``docs/dashboard.md``): operator accounts only (agency tokens and certificates are
ignored here); a session cookie that is ``HttpOnly``, ``SameSite=Strict``, ``Path=/dashboard``
and ``Secure`` over TLS; a per-session CSRF token checked in constant time on every POST (plus
a double-submit token on the login form); roles ``viewer`` (looks) and ``operator`` (also
re-sends, discards, disables and enables agencies). Every action, and every login and failed
login, is written to the store's operator audit.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from cryptography import x509

from hub.api.keys import RUNTIME
from hub.api.problems import Handler
from hub.audit.service import record_read
from hub.dashboard import render as r
from hub.dashboard.i18n import DEFAULT, LANGUAGES, catalogue, t
from hub.dashboard.live import Pulse
from hub.dashboard.model import (
    UNACKED_STATES,
    AuditEntry,
    DashboardStore,
    DeliveryRow,
    PackageQuery,
    PackageRow,
    Session,
)
from hub.dashboard.render import e, layout, table, when
from hub.directory import DirectoryEntry, DirectoryFilter
from hub.logs import package_context
from hub.metrics import OPERATOR_ACTIONS
from hub.models import AgencyOverride, DeliveryState, Event, PackageKind, PackageRecord
from hub.operators import LoginThrottle, authenticate, open_session, token_sha256
from hub.runtime import Runtime
from hub.warning_codes import LEGACY_ALGORITHM

log = logging.getLogger("hub.dashboard")

STATIC = Path(__file__).parent / "static"
COOKIE = "hub_session"
LOGIN_CSRF_COOKIE = "hub_login_csrf"
LANG_COOKIE = "hub_lang"
PAGE = 50

SESSION: web.RequestKey[Session] = web.RequestKey("dashboard_session", Session)
PULSE: web.AppKey[Pulse] = web.AppKey("dashboard_pulse", Pulse)
THROTTLE: web.AppKey[LoginThrottle] = web.AppKey("dashboard_throttle", LoginThrottle)

_PUBLIC = ("/dashboard/login", "/dashboard/static/", "/dashboard/lang/")
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _rt(request: web.Request) -> Runtime:
    return request.config_dict[RUNTIME]


def _store(request: web.Request) -> DashboardStore:
    return _rt(request).store.dashboard()


def _lang(request: web.Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, DEFAULT)
    return lang if lang in LANGUAGES else DEFAULT


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def _secure(request: web.Request) -> bool:
    return request.secure


def _client(request: web.Request) -> str:
    return request.remote or "unknown"


async def _audit(
    request: web.Request,
    username: str,
    action: str,
    target: str | None = None,
    **detail: object,
) -> None:
    detail.setdefault("address", _client(request))
    OPERATOR_ACTIONS.labels(action=action).inc()
    await _store(request).add_audit(
        AuditEntry(datetime.now(UTC), username, action, target, dict(detail))
    )
    log.info("operator action", extra={"operator": username, "action": action, "target": target})


# -- middleware: sessions, CSRF, roles, headers ------------------------------------------------


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every page but the login form, static files and the language switch needs a session;
    every POST needs the session's CSRF token and a same-origin ``Origin`` if one is sent."""
    response = await _guarded(request, handler)
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(_PUBLIC):
        return await handler(request)
    token = request.cookies.get(COOKIE)
    session = None
    if token:
        session = await _store(request).get_session(token_sha256(token), datetime.now(UTC))
    if session is None:
        if request.method == "GET" and not request.path.startswith("/dashboard/events"):
            raise web.HTTPSeeOther("/dashboard/login")
        return _html("<h1>401</h1>", status=401)
    if request.method not in ("GET", "HEAD"):
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            return _html("<h1>403 origin</h1>", status=403)
        form = await request.post()
        sent = str(form.get("csrf") or request.headers.get("X-CSRF-Token", ""))
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            await _audit(request, session.username, "csrf.refused", request.path)
            return _html("<h1>403 CSRF</h1>", status=403)
    request[SESSION] = session
    return await handler(request)


def _require_operator(request: web.Request) -> Session:
    session = request[SESSION]
    if session.role != "operator":
        raise web.HTTPForbidden(text=t(_lang(request), "forbidden_role"))
    return session


# -- login ---------------------------------------------------------------------------------------

routes = web.RouteTableDef()


def _login_page(lang: str, csrf: str, message: str = "") -> str:
    body = (
        f'<section class="login"><h1>{e(t(lang, "login"))}</h1>'
        '<form method="post" action="/dashboard/login" autocomplete="off">'
        f'<input type="hidden" name="csrf" value="{e(csrf)}">'
        f'<label>{e(t(lang, "username"))}<input name="username" required></label>'
        f'<label>{e(t(lang, "password"))}<input name="password" type="password" required>'
        f'</label><button type="submit">{e(t(lang, "login"))}</button></form></section>'
    )
    return layout(lang, None, "login", body, flash=message)


def _set_login_csrf(response: web.Response, request: web.Request, value: str) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        value,
        path="/dashboard/login",
        httponly=True,
        samesite="Strict",
        secure=_secure(request),
        max_age=3600,
    )


@routes.get("/login")
async def login_form(request: web.Request) -> web.Response:
    """The login form with a fresh double-submit token."""
    csrf = secrets.token_urlsafe(24)
    response = _html(_login_page(_lang(request), csrf))
    _set_login_csrf(response, request, csrf)
    return response


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    """Check the double-submit token, the throttle, then the password."""
    lang = _lang(request)
    form = await request.post()
    sent, cookie = str(form.get("csrf", "")), request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(sent.encode(), cookie.encode()):
        return _html("<h1>403 CSRF</h1>", status=403)
    username = str(form.get("username", "")).strip()[:64]
    password = str(form.get("password", ""))
    throttle = request.app[THROTTLE]
    keys = (f"user:{username}", f"addr:{_client(request)}")
    wait = throttle.blocked(*keys)
    csrf = secrets.token_urlsafe(24)
    if wait > 0:
        await _audit(request, username or "?", "login.throttled")
        response = _html(
            _login_page(lang, csrf, t(lang, "login_throttled", s=int(wait) + 1)), status=429
        )
        _set_login_csrf(response, request, csrf)
        return response
    operator = await authenticate(_store(request), username, password)
    if operator is None:
        throttle.failed(*keys)
        await _audit(request, username or "?", "login.failed")
        response = _html(_login_page(lang, csrf, t(lang, "login_failed")), status=401)
        _set_login_csrf(response, request, csrf)
        return response
    throttle.succeeded(keys[0])
    token, _session = await open_session(_store(request), operator)
    await _audit(request, operator.username, "login", role=operator.role)
    response = web.HTTPSeeOther("/dashboard/")
    response.set_cookie(
        COOKIE,
        token,
        path="/dashboard",
        httponly=True,
        samesite="Strict",
        secure=_secure(request),
    )
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/dashboard/login")
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    """End the session in the store, not only in the browser."""
    token = request.cookies.get(COOKIE, "")
    await _store(request).delete_session(token_sha256(token))
    await _audit(request, request[SESSION].username, "logout")
    response = web.HTTPSeeOther("/dashboard/login")
    response.del_cookie(COOKIE, path="/dashboard")
    raise response


@routes.get("/lang/{lang}")
async def set_language(request: web.Request) -> web.StreamResponse:
    """Switch the language and go back to where the operator was (same site only)."""
    lang = request.match_info["lang"]
    if lang not in LANGUAGES:
        raise web.HTTPNotFound()
    back = request.headers.get("Referer", "")
    target = "/dashboard/"
    match = re.match(
        rf"^{re.escape(f'{request.scheme}://{request.host}')}(/dashboard/[^\s]*)$", back
    )
    if match:
        target = match.group(1)
    response = web.HTTPSeeOther(target)
    response.set_cookie(LANG_COOKIE, lang, path="/dashboard", samesite="Strict", max_age=31536000)
    raise response


@routes.get("/static/{name}")
async def static(request: web.Request) -> web.StreamResponse:
    """The script and the stylesheet (served by the hub: the dashboard works offline)."""
    name = request.match_info["name"]
    if name not in ("dashboard.js", "dashboard.css"):
        raise web.HTTPNotFound()
    content_type = "text/javascript" if name.endswith(".js") else "text/css"
    return web.Response(
        body=(STATIC / name).read_bytes(), content_type=content_type, charset="utf-8"
    )


# -- overview and live updates --------------------------------------------------------------------


async def health_of(rt: Runtime) -> dict[str, Any]:
    """The hub's own health: store, broker, receipt-signing certificate."""
    result: dict[str, Any] = {}
    for name, probe in (("store", rt.store.ping), ("broker", rt.broker.ping)):
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # that races its inner future, which kept the pulse task alive at shutdown.
            async with asyncio.timeout(2.0):
                await probe()
            result[name] = "ok"
        except Exception as exc:
            result[name] = f"{type(exc).__name__}: {exc}"[:200]
    cert = rt.signer.certificate
    result["signing_cert_days"] = (cert.not_valid_after_utc - datetime.now(UTC)).days
    result["signing_cert_subject"] = cert.subject.rfc4514_string()
    return result


def open_alarms(rt: Runtime) -> list[Any] | None:
    """The lifecycle evaluator's open alarms (issue 5), ``None`` when it is not running."""
    evaluator = getattr(rt, "alarms", None)
    return None if evaluator is None else list(evaluator.last)


async def _snapshot(request: web.Request) -> dict[str, Any]:
    pulse = request.app[PULSE]
    if pulse.latest is None:
        return await pulse.tick()
    return pulse.latest


@routes.get("/")
async def overview(request: web.Request) -> web.Response:
    """Counters, charts, queue depth per agency, health; the script keeps it live."""
    lang, session = _lang(request), request[SESSION]
    snap = await _snapshot(request)
    states = snap["states"]
    alarms = snap["alarms"]
    cards = [
        ("packages", t(lang, "packages_stored"), snap["packages"]),
        ("dead", t(lang, "dead_letters"), snap["dead"]),
        (
            "alarms",
            t(lang, "open_alarms"),
            alarms if alarms is not None else t(lang, "alarms_none"),
        ),
        ("refusal_rate", t(lang, "refusal_rate"), f"{snap['refusal_rate'] * 100:.1f} %"),
    ] + [(f"state-{s}", s, states.get(s, 0)) for s in ("queued", "available", "failed")]
    cards_html = "".join(
        f'<div class="card"><span class="label">{e(label)}</span>'
        f'<span class="value" data-live="{e(key)}">{e(value)}</span></div>'
        for key, label, value in cards
    )
    health = snap["health"]
    ok = t(lang, "ok")
    health_rows = [
        (e(t(lang, "store")), e(ok if health["store"] == "ok" else health["store"])),
        (e(t(lang, "broker")), e(ok if health["broker"] == "ok" else health["broker"])),
        (
            e(t(lang, "signing_cert")),
            e(t(lang, "expires_in", d=health["signing_cert_days"])),
        ),
    ]
    # Every configured agency has a row from the start, so the live updates have a cell
    # to write into when its first package arrives.
    by_organ = {a["organ_id"]: a for a in snap["agencies"]}
    zero = {"backlog": 0, "unacked": 0, "dead": 0}
    organs = sorted(set(by_organ) | {a.organ_id for a in _rt(request).registry.all()})
    depth = table(
        [t(lang, "agency"), t(lang, "backlog"), t(lang, "unacked"), t(lang, "dead_letters")],
        (
            (
                f'<a href="/dashboard/packages?organ_id={e(o)}&amp;role=to">{e(o)}</a>',
                f'<span data-live="backlog-{e(o)}">{by_organ.get(o, zero)["backlog"]}</span>',
                f'<span data-live="unacked-{e(o)}">{by_organ.get(o, zero)["unacked"]}</span>',
                f'<span data-live="dead-{e(o)}">{by_organ.get(o, zero)["dead"]}</span>',
            )
            for o in organs
        ),
        empty=t(lang, "no_rows"),
        attrs='id="queue-depth"',
    )
    # "<" escaped so that no text in the data can close the script element
    snap_json = json.dumps(snap, ensure_ascii=False).replace("<", "\\u003c")
    body = (
        f'<h1>{e(t(lang, "overview"))} <small class="live" id="live-dot">'
        f"● {e(t(lang, 'live'))}</small></h1>"
        f'<div class="cards">{cards_html}</div>'
        '<div class="charts">'
        f"<figure><figcaption>{e(t(lang, 'throughput'))}</figcaption>"
        '<svg id="chart-accepted" class="chart" viewBox="0 0 600 120"></svg></figure>'
        f"<figure><figcaption>{e(t(lang, 'refusals'))}</figcaption>"
        '<svg id="chart-refused" class="chart refused" viewBox="0 0 600 120"></svg></figure>'
        "</div>"
        f'<div class="cols"><section><h2>{e(t(lang, "queue_depth"))}</h2>{depth}</section>'
        f"<section><h2>{e(t(lang, 'health'))}</h2>"
        f"{table([t(lang, 'health_col'), ''], health_rows, empty='')}</section></div>"
        f'<script type="application/json" id="snapshot">{snap_json}</script>'
    )
    return _html(layout(lang, session, "overview", body, csrf=session.csrf))


@routes.get("/api/snapshot")
async def snapshot_json(request: web.Request) -> web.Response:
    """The latest snapshot as JSON (the script's fallback when events are blocked)."""
    return web.json_response(await _snapshot(request))


@routes.get("/api/texts")
async def texts(request: web.Request) -> web.Response:
    """The texts in the operator's language, for the script."""
    return web.json_response(catalogue(_lang(request)))


@routes.get("/events")
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: one ``snapshot`` event per change, a comment every 15 s."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    pulse = request.app[PULSE]
    async with pulse.subscribe() as queue:
        while True:
            try:
                async with asyncio.timeout(15.0):
                    data = await queue.get()
                await response.write(f"event: snapshot\ndata: {data}\n\n".encode())
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
            except ConnectionResetError:
                break
    return response


# -- agencies -----------------------------------------------------------------------------------


_CERT_CACHE: dict[str, datetime | None] = {}
_X509 = re.compile(rb"<(?:\w+:)?X509Certificate>([A-Za-z0-9+/=\s]+)</(?:\w+:)?X509Certificate>")


async def _signing_cert_expiry(rt: Runtime, package_id: str | None) -> datetime | None:
    """Expiry of the certificate that signed the agency's latest package (the hub keeps
    fingerprints, not certificates; the package carries its signer's certificate)."""
    if package_id is None:
        return None
    if package_id not in _CERT_CACHE:
        data = await rt.store.get_bytes(package_id)
        found = _X509.search(data or b"")
        expiry = None
        if found:
            try:
                der = base64.b64decode(b"".join(found.group(1).split()))
                expiry = x509.load_der_x509_certificate(der).not_valid_after_utc
            except (ValueError, binascii.Error):
                expiry = None
        if len(_CERT_CACHE) > 10000:
            _CERT_CACHE.clear()
        _CERT_CACHE[package_id] = expiry
    return _CERT_CACHE[package_id]


_LEGACY_CACHE: dict[str, bool] = {}


async def _legacy_signed(rt: Runtime, package_id: str | None) -> bool:
    """Whether the agency's latest package was admitted under the legacy signing profile
    (its warnings, which never change once stored, say so)."""
    if package_id is None:
        return False
    if package_id not in _LEGACY_CACHE:
        record = await rt.store.get_package(package_id)
        if len(_LEGACY_CACHE) > 10000:
            _LEGACY_CACHE.clear()
        _LEGACY_CACHE[package_id] = record is not None and LEGACY_ALGORITHM in record.warnings
    return _LEGACY_CACHE[package_id]


def _profile_cell(lang: str, profile: str, latest_legacy: bool) -> str:
    """The agency's signature profile; legacy and a latest package signed so are flagged, so
    operators see who still has to upgrade."""
    text = e(t(lang, f"profile_{profile}"))
    cell = f'<span class="{"bad" if profile == "legacy" else "good"}">{text}</span>'
    if latest_legacy:
        cell += f' <span class="bad">⚠ {e(t(lang, "latest_legacy"))}</span>'
    return f'<span data-profile="{e(profile)}">{cell}</span>'


@routes.get("/agencies")
async def agencies(request: web.Request) -> web.Response:
    """Each configured (or seen) agency with health, activity, backlog and certificate."""
    lang, session, rt = _lang(request), request[SESSION], _rt(request)
    now = datetime.now(UTC)
    activity = {a.organ_id: a for a in await _store(request).agency_activity()}
    organs = sorted(set(activity) | {a.organ_id for a in rt.registry.all()})
    operator = session.role == "operator"
    rows = []
    for organ in organs:
        cfg = rt.registry.get(organ)
        act = activity.get(organ)
        enabled = bool(cfg and cfg.enabled)
        seen = max(
            (x for x in (act.last_sent_at, act.last_ack_at) if x is not None) if act else (),
            default=None,
        )
        backlog = act.backlog if act else 0
        unacked = act.unacked if act else 0
        oldest = act.oldest_undelivered_at if act else None
        behind = (oldest is not None and now - oldest > timedelta(hours=1)) or (
            act is not None and act.by_state.get("dead", 0) > 0
        )
        health = (
            t(lang, "disabled")
            if not enabled
            else ("⚠ " + t(lang, "backlog") if behind else t(lang, "ok"))
        )
        expiry = await _signing_cert_expiry(rt, act.last_sent_id if act else None)
        profile = _profile_cell(
            lang,
            rt.registry.signature_profile(organ),
            await _legacy_signed(rt, act.last_sent_id if act else None),
        )
        action = ""
        if operator and cfg is not None:
            verb = "disable" if enabled else "enable"
            action = (
                f'<form method="post" action="/dashboard/agencies/{e(organ)}/{verb}" '
                f'class="inline">{r.hidden_csrf(session)}'
                f'<input name="reason" placeholder="{e(t(lang, "reason"))}" required>'
                f'<button type="submit" data-action="{verb}-{e(organ)}">'
                f"{e(t(lang, verb))}</button></form>"
            )
        oldest_html = ""
        if oldest is not None and act is not None:
            oldest_html = (
                f'<a href="/dashboard/packages/{e(act.oldest_undelivered_id)}">'
                f"{e(r.age(oldest, now, lang))}</a>"
            )
        rows.append(
            (
                f'<a href="/dashboard/packages?organ_id={e(organ)}">{e(organ)}</a>',
                e(cfg.name if cfg else ""),
                f'<span class="{"bad" if not enabled or behind else "good"}">{e(health)}</span>',
                e(r.age(seen, now, lang) if seen else t(lang, "never")),
                str(backlog),
                oldest_html,
                str(unacked),
                e(when(expiry, lang) if expiry else ""),
                profile,
                action,
            )
        )
    body = f"<h1>{e(t(lang, 'agencies'))}</h1>" + table(
        [
            t(lang, "organ_id"),
            t(lang, "name"),
            t(lang, "health_col"),
            t(lang, "last_seen"),
            t(lang, "backlog"),
            t(lang, "oldest_undelivered"),
            t(lang, "unacked"),
            t(lang, "cert_expiry"),
            t(lang, "signature_profile"),
            "",
        ],
        rows,
        empty=t(lang, "no_rows"),
        attrs='id="agencies"',
    )
    flash = request.query.get("done", "")
    return _html(layout(lang, session, "agencies", body, flash=flash, csrf=session.csrf))


@routes.post("/agencies/{organ_id}/{verb:(disable|enable)}")
async def agency_state(request: web.Request) -> web.StreamResponse:
    """Disable or enable an agency: stored as a runtime override, audited twice (the
    operator audit says who; the event log keeps the agency's history)."""
    session = _require_operator(request)
    rt = _rt(request)
    organ, verb = request.match_info["organ_id"], request.match_info["verb"]
    if rt.registry.get(organ) is None:
        raise web.HTTPNotFound()
    form = await request.post()
    reason = str(form.get("reason", "")).strip()[:500] or "dashboard"
    enabled = verb == "enable"
    at = datetime.now(UTC)
    await rt.store.set_agency_override(
        AgencyOverride(organ_id=organ, enabled=enabled, changed_at=at, reason=reason)
    )
    await rt.store.append_event(
        Event(
            package_id=None,
            kind="agency.enabled" if enabled else "agency.disabled",
            at=at,
            detail={"organ_id": organ, "reason": reason, "operator": session.username},
        )
    )
    rt.registry.reload(await rt.store.agency_overrides())
    await _audit(request, session.username, f"agency.{verb}", organ, reason=reason)
    done = t(_lang(request), "done_agency", o=organ)
    raise web.HTTPSeeOther(f"/dashboard/agencies?done={done}")


# -- the agency directory (issue 11, docs/directory.md) -----------------------------------------


@routes.get("/directory")
async def directory(request: web.Request) -> web.Response:
    """Danh bạ / Directory: connected agencies first, then the imported directory entries
    (known by code and name, not connected), each with who receives its packages; searched
    by name without diacritics, paged like the API (:class:`hub.directory.Directory`)."""
    lang, session, q = _lang(request), request[SESSION], request.query
    shown = q.get("show", "") if q.get("show") in ("connected", "entries") else ""
    words_q = q.get("q", "").strip() or None
    cursor = q.get("cursor") or None
    directory = _rt(request).directory
    # Connected agencies first (the ones that receive; a few hundred at most, all at once,
    # on the first page), then the directory entries, paged, each in directory order.
    items: list[DirectoryEntry] = []
    if shown != "entries" and cursor is None:
        items += await directory.all(DirectoryFilter(connected=True, q=words_q))
    next_cursor: str | None = None
    if shown != "connected":
        try:
            page = await directory.entries(
                DirectoryFilter(connected=False, q=words_q), cursor=cursor, limit=PAGE
            )
        except ValueError as exc:  # a malformed cursor
            raise web.HTTPBadRequest(reason=str(exc)) from exc
        items += page.items
        next_cursor = page.next

    def receives(entry: DirectoryEntry) -> str:
        if entry.connected:
            state = t(lang, "enabled") if entry.enabled else t(lang, "disabled")
            css = "good" if entry.enabled else "bad"
            return f'<span class="{css}">{e(t(lang, "dir_itself"))} ({e(state)})</span>'
        if entry.represented_by is not None:
            return e(t(lang, "dir_through", o=entry.represented_by))
        return f'<span class="bad">{e(t(lang, "dir_unreachable"))}</span>'

    rows = [
        (
            e(x.code),
            e(x.name),
            str(x.level),
            e(x.parent or ""),
            e(t(lang, "dir_connected") if x.connected else t(lang, "dir_entry")),
            receives(x),
            e(x.code102 or ""),
            e(x.old_code or ""),
        )
        for x in items
    ]
    choices = "".join(
        f'<option value="{v}"{" selected" if v == shown else ""}>{e(t(lang, label))}</option>'
        for v, label in (("", "any"), ("connected", "dir_connected"), ("entries", "dir_entry"))
    )
    form = (
        '<form method="get" action="/dashboard/directory" class="search">'
        f'<label>{e(t(lang, "name"))}<input name="q" title="{e(t(lang, "dir_q_hint"))}" '
        f'value="{e(q.get("q", ""))}"></label>'
        f'<label>&nbsp;<select name="show">{choices}</select></label>'
        f'<button type="submit">{e(t(lang, "search"))}</button></form>'
    )
    result = table(
        [
            t(lang, "organ_id"),
            t(lang, "name"),
            t(lang, "dir_level"),
            t(lang, "dir_parent"),
            t(lang, "dir_kind"),
            t(lang, "dir_receives"),
            "code102",
            t(lang, "dir_old_code"),
        ],
        rows,
        empty=t(lang, "no_rows"),
        attrs='id="directory"',
    )
    more = ""
    if next_cursor is not None:
        params = {k: v for k, v in q.items() if k != "cursor"} | {"cursor": next_cursor}
        more = (
            f'<p><a href="/dashboard/directory?{e(urlencode(params))}">'
            f"{e(t(lang, 'next_page'))}</a></p>"
        )
    body = f"<h1>{e(t(lang, 'directory'))}</h1><p>{e(t(lang, 'dir_intro'))}</p>{form}{result}{more}"
    return _html(layout(lang, session, "directory", body, csrf=session.csrf))


# -- packages ------------------------------------------------------------------------------------


def _parse_day(value: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return None
    return day.replace(tzinfo=r.LOCAL).astimezone(UTC)


def _delivery_badges(row: PackageRow) -> str:
    return " ".join(
        f'<span class="state {e(d.state.value)}" title="{e(d.recipient)}">'
        f"{e(d.recipient)}: {e(d.state.value)}</span>"
        for d in row.deliveries
    )


def _subject_text(package: PackageRecord, encrypted: bool, lang: str) -> str:
    """The Subject column: as sent, or a note that it is kept encrypted (only its keyed word
    hashes are stored, see docs/audit-and-evidence.md)."""
    if package.subject is not None:
        return package.subject
    if encrypted and package.kind == PackageKind.DOCUMENT:
        return t(lang, "subject_encrypted")
    return ""


@routes.get("/packages")
async def packages(request: web.Request) -> web.Response:
    """Search by DocumentId/MaHoSo, Subject words, OrganId (from/to), period, kind, delivery
    state."""
    lang, session = _lang(request), request[SESSION]
    q = request.query
    until = _parse_day(q.get("until", ""))
    query = PackageQuery(
        document_id=q.get("document_id", "").strip() or None,
        organ_id=q.get("organ_id", "").strip() or None,
        role=q.get("role", "any") if q.get("role") in ("any", "from", "to") else "any",
        since=_parse_day(q.get("since", "")),
        until=until + timedelta(days=1) if until else None,
        kind=q.get("kind") if q.get("kind") in {k.value for k in PackageKind} else None,
        state=q.get("state") if q.get("state") in {s.value for s in DeliveryState} else None,
        subject=q.get("subject", "").strip() or None,
    )
    before = int(q["before"]) if q.get("before", "").isdigit() else None
    try:
        listing = await _store(request).search_packages(query, before=before, limit=PAGE)
    except ValueError as exc:  # too many Subject words
        raise web.HTTPBadRequest(reason=str(exc)) from exc
    encrypted = _rt(request).store.blob_cipher is not None

    def options(name: str, values: list[str], labels: dict[str, str] | None = None) -> str:
        current = q.get(name, "")
        return "".join(
            f'<option value="{e(v)}"{" selected" if v == current else ""}>'
            f"{e((labels or {}).get(v, v) or t(lang, 'any'))}</option>"
            for v in values
        )

    form = (
        '<form method="get" action="/dashboard/packages" class="search">'
        f'<label>{e(t(lang, "document_id"))}<input name="document_id" '
        f'value="{e(q.get("document_id", ""))}"></label>'
        f'<label>{e(t(lang, "subject"))}<input name="subject" '
        f'title="{e(t(lang, "subject_hint"))}" value="{e(q.get("subject", ""))}"></label>'
        f'<label>{e(t(lang, "organ_id"))}<input name="organ_id" '
        f'value="{e(q.get("organ_id", ""))}"></label>'
        f'<label>&nbsp;<select name="role">'
        + options(
            "role",
            ["any", "from", "to"],
            {"any": t(lang, "role_any"), "from": t(lang, "role_from"), "to": t(lang, "role_to")},
        )
        + "</select></label>"
        f'<label>{e(t(lang, "since"))}<input type="date" name="since" '
        f'value="{e(q.get("since", ""))}"></label>'
        f'<label>{e(t(lang, "until"))}<input type="date" name="until" '
        f'value="{e(q.get("until", ""))}"></label>'
        f'<label>{e(t(lang, "kind"))}<select name="kind">'
        + options("kind", ["", *[k.value for k in PackageKind]])
        + f'</select></label><label>{e(t(lang, "state"))}<select name="state">'
        + options("state", ["", *[s.value for s in DeliveryState]])
        + f'</select></label><button type="submit">{e(t(lang, "search"))}</button></form>'
    )
    rows = (
        (
            f'<a href="/dashboard/packages/{e(row.package.id)}" class="pkg">'
            f"{e(row.package.document_id or row.package.id)}</a>",
            e(_subject_text(row.package, encrypted, lang)),
            e(row.package.kind.value)
            + (f" {e(row.package.status_code)}" if row.package.status_code else ""),
            e(row.package.sender),
            _delivery_badges(row),
            e(when(row.package.accepted_at, lang)),
        )
        for row in listing.rows
        if isinstance(row, PackageRow)
    )
    result = table(
        [
            t(lang, "document_id"),
            t(lang, "subject"),
            t(lang, "kind"),
            t(lang, "sender"),
            t(lang, "recipients"),
            t(lang, "accepted_at"),
        ],
        rows,
        empty=t(lang, "no_rows"),
        attrs='id="results"',
    )
    more = ""
    if listing.next is not None:
        params = {k: v for k, v in q.items() if k != "before"}
        params["before"] = str(listing.next)
        query_string = "&amp;".join(f"{e(k)}={e(v)}" for k, v in params.items())
        more = f'<p><a href="/dashboard/packages?{query_string}">{e(t(lang, "next_page"))}</a></p>'
    body = f"<h1>{e(t(lang, 'packages'))}</h1>{form}{result}{more}"
    return _html(layout(lang, session, "packages", body, csrf=session.csrf))


@routes.get("/packages/{package_id}")
async def package_detail(request: web.Request) -> web.Response:
    """The trace timeline: accepted, verification, deliveries and attempts, statuses."""
    lang, session, rt = _lang(request), request[SESSION], _rt(request)
    package_id = request.match_info["package_id"]
    package = await rt.store.get_package(package_id)
    if package is None:
        raise web.HTTPNotFound()
    with package_context(package_id):
        deliveries = await rt.store.deliveries_for(package_id)
        trace = await rt.store.events_for(package_id)
        statuses = (
            await rt.store.related_statuses(package.sender, package.document_id)
            if package.document_id and package.kind == PackageKind.DOCUMENT
            else ()
        )
    facts = table(
        ["", ""],
        (
            (e(t(lang, "document_id")), e(package.document_id)),
            (
                e(t(lang, "subject")),
                e(_subject_text(package, rt.store.blob_cipher is not None, lang)),
            ),
            (e(t(lang, "kind")), e(package.kind.value)),
            (e(t(lang, "sender")), e(package.sender)),
            (e(t(lang, "recipients")), e(", ".join(package.recipients))),
            (e(t(lang, "accepted_at")), e(when(package.accepted_at, lang))),
            (
                e(t(lang, "verification")),
                f'<span class="good">{e(t(lang, "verified_by"))}: '
                f"{e(package.signer_subject)}</span>"
                if package.signer_fingerprint is not None
                # issue 11: accepted unsigned under envelope_signature = "optional"
                else f'<span class="bad">{e(t(lang, "envelope_unsigned"))}</span>',
            ),
            (e(t(lang, "fingerprint")), f"<code>{e(package.signer_fingerprint)}</code>"),
            (e(t(lang, "warnings")), e(", ".join(package.warnings) or "—")),
        ),
        empty="",
        attrs='class="facts"',
    )
    delivery_table = table(
        [
            t(lang, "agency"),
            t(lang, "state"),
            t(lang, "attempts"),
            t(lang, "updated_at"),
            t(lang, "last_error"),
        ],
        (
            (
                e(d.recipient)
                + (
                    f' <span class="stands-for">({e(t(lang, "stands_for"))} '
                    f"{e(', '.join(d.stands_for))})</span>"
                    if d.stands_for
                    else ""
                ),
                f'<span class="state {e(d.state.value)}" data-delivery="{e(d.recipient)}">'
                f"{e(d.state.value)}</span>",
                str(d.attempts),
                e(when(d.updated_at, lang)),
                e(d.last_error or ""),
            )
            for d in deliveries
        ),
        empty=t(lang, "no_rows"),
        attrs='id="deliveries"',
    )
    timeline = "".join(
        f'<li class="ev {e(ev.kind)}"><time>{e(when(ev.at, lang))}</time> '
        f"<strong>{e(ev.kind)}</strong>"
        + (f" → {e(ev.recipient)}" if ev.recipient else "")
        + (
            f' <span class="stands-for">({e(t(lang, "stands_for"))} '
            f"{e(', '.join(str(c) for c in for_codes))})</span>"
            if isinstance(for_codes := ev.detail.get("for"), list)
            else ""
        )
        + (f" #{ev.attempt}" if ev.attempt else "")
        + (
            f' <span class="detail">{e(json.dumps(ev.detail, ensure_ascii=False))}</span>'
            if ev.detail
            else ""
        )
        + "</li>"
        for ev in trace
    )
    status_rows = (
        (
            f'<a href="/dashboard/packages/{e(s.id)}">{e(s.status_code)}</a>',
            e(s.sender),
            e(when(s.accepted_at, lang)),
        )
        for s in statuses
    )
    body = (
        f"<h1>{e(package.document_id or package.id)}</h1>"
        f'<p class="downloads"><a href="/dashboard/packages/{e(package.id)}/original" '
        f"download>{e(t(lang, 'download_original'))}</a> · "
        f'<a href="/dashboard/packages/{e(package.id)}/receipt" download>'
        f"{e(t(lang, 'download_receipt'))}</a></p>{facts}"
        f"<h2>{e(t(lang, 'deliveries'))}</h2>{delivery_table}"
        f'<h2>{e(t(lang, "trace"))}</h2><ol class="timeline" id="timeline">{timeline}</ol>'
        f"<h2>{e(t(lang, 'status_packages'))}</h2>"
        + table(
            [t(lang, "state"), t(lang, "sender"), t(lang, "accepted_at")],
            status_rows,
            empty=t(lang, "no_rows"),
        )
    )
    return _html(layout(lang, session, "packages", body, csrf=session.csrf))


@routes.get("/packages/{package_id}/{what:(original|receipt)}")
async def package_download(request: web.Request) -> web.Response:
    """The exact bytes received, or the receipt the hub signed (audited: operators read
    agencies' documents only with a trace)."""
    rt, session = _rt(request), request[SESSION]
    package_id, what = request.match_info["package_id"], request.match_info["what"]
    data = await (rt.store.get_bytes if what == "original" else rt.store.get_receipt)(package_id)
    if data is None:
        raise web.HTTPNotFound()
    await _audit(request, session.username, f"download.{what}", package_id)
    record = await rt.store.get_package(package_id) if what == "original" else None
    if record is not None:
        # Decree 13/2023: reading a package's content is traceable in the package's own
        # chained trace too (evidence), not only in the operators' audit table.
        await record_read(
            rt.store,
            package_id,
            f"operator:{session.username}",
            "dashboard download",
            (record.sender, *record.recipients),
        )
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", package_id)
    name = f"{safe}.edxml" if what == "original" else f"{safe}.receipt.xml"
    return web.Response(
        body=data,
        content_type="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- stuck and overdue -----------------------------------------------------------------------------


@routes.get("/stuck")
async def stuck(request: web.Request) -> web.Response:
    """Unaccepted dossiers, overdue dossiers (lifecycle seam), unacknowledged documents."""
    lang, session = _lang(request), request[SESSION]
    now = datetime.now(UTC)
    store = _store(request)
    after_d = int(request.query["after_d"]) if request.query.get("after_d", "").isdigit() else None
    after_u = int(request.query["after_u"]) if request.query.get("after_u", "").isdigit() else None
    dossiers = await store.unaccepted_dossiers(after=after_d, limit=PAGE)
    unacked = await store.deliveries_in(UNACKED_STATES, after=after_u, limit=PAGE)
    d_rows = (
        (
            f'<a href="/dashboard/packages/{e(row.package.id)}">{e(row.package.document_id)}</a>',
            e(row.package.sender),
            e(", ".join(row.package.recipients)),
            e(when(row.package.accepted_at, lang)),
            f'<span class="age">{e(r.age(row.package.accepted_at, now, lang))}</span>',
        )
        for row in dossiers.rows
        if isinstance(row, PackageRow)
    )
    u_rows = (
        (
            f'<a href="/dashboard/packages/{e(row.package.id)}">'
            f"{e(row.package.document_id or row.package.id)}</a>",
            e(row.delivery.recipient),
            e(row.delivery.state.value),
            e(when(row.package.accepted_at, lang)),
            f'<span class="age">{e(r.age(row.package.accepted_at, now, lang))}</span>',
        )
        for row in unacked.rows
        if isinstance(row, DeliveryRow)
    )
    alarms = open_alarms(_rt(request))
    alarm_rows = (
        (
            f"<code>{e(a.kind)}</code>",
            e(a.agency),
            e(a.subject),
            e(when(a.since, lang) if a.since else ""),
            e(a.age_days if a.age_days is not None else ""),
        )
        for a in alarms or ()
    )
    overdue_rows = [
        (
            e(a.key),
            e(a.agency),
            e(a.subject),
            e(when(a.since, lang) if a.since else ""),
            e(a.age_days if a.age_days is not None else ""),
        )
        for a in alarms or ()
        if a.kind == "dossier_overdue"
    ]
    alarm_head = [
        t(lang, "what"),
        t(lang, "agency"),
        t(lang, "detail"),
        t(lang, "since"),
        t(lang, "age") + " (ngày làm việc / working days)",
    ]
    body = (
        f"<h1>{e(t(lang, 'stuck'))}</h1>"
        f"<h2>{e(t(lang, 'open_alarms'))}</h2>"
        + (
            f'<p class="alarms">{e(t(lang, "alarms_none"))}</p>'
            if alarms is None
            else table(alarm_head, alarm_rows, empty=t(lang, "no_rows"), attrs='id="alarms"')
        )
        + f"<h2>{e(t(lang, 'unaccepted_dossiers'))}</h2>"
        + table(
            [
                "MaHoSo",
                t(lang, "sender"),
                t(lang, "recipients"),
                t(lang, "accepted_at"),
                t(lang, "age"),
            ],
            d_rows,
            empty=t(lang, "no_rows"),
            attrs='id="unaccepted"',
        )
        + (
            f'<p><a href="/dashboard/stuck?after_d={dossiers.next}">{e(t(lang, "next_page"))}'
            "</a></p>"
            if dossiers.next
            else ""
        )
        + f"<h2>{e(t(lang, 'overdue_dossiers'))}</h2>"
        + (
            f'<p class="empty" id="overdue">{e(t(lang, "overdue_none"))}</p>'
            if alarms is None
            else table(alarm_head, overdue_rows, empty=t(lang, "no_rows"), attrs='id="overdue"')
        )
        + f"<h2>{e(t(lang, 'unacked_documents'))}</h2>"
        + table(
            [
                t(lang, "document_id"),
                t(lang, "agency"),
                t(lang, "state"),
                t(lang, "accepted_at"),
                t(lang, "age"),
            ],
            u_rows,
            empty=t(lang, "no_rows"),
            attrs='id="unacked"',
        )
        + (
            f'<p><a href="/dashboard/stuck?after_u={unacked.next}">{e(t(lang, "next_page"))}'
            "</a></p>"
            if unacked.next
            else ""
        )
    )
    return _html(layout(lang, session, "stuck", body, csrf=session.csrf))


# -- dead letters ---------------------------------------------------------------------------------


@routes.get("/dead")
async def dead_letters(request: web.Request) -> web.Response:
    """Dead letters with reason and attempts; re-send or discard the selected ones."""
    lang, session = _lang(request), request[SESSION]
    after = int(request.query["after"]) if request.query.get("after", "").isdigit() else None
    listing = await _store(request).deliveries_in(("dead",), after=after, limit=PAGE)
    operator = session.role == "operator"
    rows = []
    for row in listing.rows:
        if not isinstance(row, DeliveryRow):
            continue
        key = f"{row.package.id}|{row.delivery.recipient}"
        check = (
            f'<input type="checkbox" name="key" value="{e(key)}" form="dead-form" '
            f'aria-label="{e(key)}">'
            if operator
            else ""
        )
        rows.append(
            (
                check,
                f'<a href="/dashboard/packages/{e(row.package.id)}">'
                f"{e(row.package.document_id or row.package.id)}</a>",
                e(row.package.sender),
                e(row.delivery.recipient),
                str(row.delivery.attempts),
                f'<span class="reason">{e(row.delivery.last_error or "")}</span>',
                e(when(row.delivery.updated_at, lang)),
            )
        )
    actions = ""
    if operator:
        actions = (
            f'<form method="post" action="/dashboard/dead" id="dead-form" class="actions">'
            f"{r.hidden_csrf(session)}"
            f'<button type="submit" name="action" value="resend" data-action="resend">'
            f"{e(t(lang, 'resend'))}</button> "
            f'<button type="submit" name="action" value="discard" data-action="discard">'
            f"{e(t(lang, 'discard'))}</button> <span>{e(t(lang, 'selected'))}</span></form>"
        )
    more = (
        f'<p><a href="/dashboard/dead?after={listing.next}">{e(t(lang, "next_page"))}</a></p>'
        if listing.next
        else ""
    )
    body = (
        f"<h1>{e(t(lang, 'dead'))}</h1>{actions}"
        + table(
            [
                "",
                t(lang, "document_id"),
                t(lang, "sender"),
                t(lang, "agency"),
                t(lang, "attempts"),
                t(lang, "last_error"),
                t(lang, "updated_at"),
            ],
            rows,
            empty=t(lang, "no_rows"),
            attrs='id="dead-letters"',
        )
        + more
    )
    flash = request.query.get("done", "")
    return _html(layout(lang, session, "dead", body, flash=flash, csrf=session.csrf))


async def resend(rt: Runtime, package_id: str, recipient: str, username: str) -> bool:
    """Put a dead delivery back in the queue.

    The delivery goes to ``pending`` first and is then published: if the broker does not
    confirm, the hub's re-publish loop finds it ``pending`` and publishes it later, so a
    re-send is never lost between the store and the broker.
    """
    delivery = await rt.store.get_delivery(package_id, recipient)
    if delivery is None or delivery.state != DeliveryState.DEAD:
        return False
    with package_context(package_id):
        await rt.store.set_delivery_state(
            package_id,
            recipient,
            DeliveryState.PENDING,
            event_detail={"action": "resend", "operator": username},
        )
        await rt.store.dashboard().undiscard(package_id, recipient)
        try:
            await rt.ingestor.enqueue(package_id, [recipient])
        except Exception as exc:  # stays pending: the re-publish loop takes it from here
            log.warning("re-send of %s to %s not confirmed yet: %s", package_id, recipient, exc)
        log.info("re-sent", extra={"recipient": recipient, "operator": username})
    return True


@routes.post("/dead")
async def dead_action(request: web.Request) -> web.StreamResponse:
    """Re-send or discard one or many dead letters (operators only; audited)."""
    session = _require_operator(request)
    rt = _rt(request)
    form = await request.post()
    action = str(form.get("action", ""))
    if action not in ("resend", "discard"):
        raise web.HTTPBadRequest(text="action must be resend or discard")
    keys = [str(k) for k in form.getall("key", [])][:500]
    done: list[str] = []
    for key in keys:
        package_id, sep, recipient = key.partition("|")
        if not sep:
            continue
        if action == "resend":
            ok = await resend(rt, package_id, recipient, session.username)
        else:
            ok = await rt.store.dashboard().discard_dead(
                package_id, recipient, session.username, datetime.now(UTC)
            )
            if ok:
                await rt.store.append_event(
                    Event(
                        package_id=package_id,
                        kind="dead.discarded",
                        at=datetime.now(UTC),
                        recipient=recipient,
                        detail={"operator": session.username},
                    )
                )
        if ok:
            done.append(key)
    await _audit(request, session.username, f"dead.{action}", f"{len(done)} deliveries", keys=done)
    text = t(_lang(request), "done_resend" if action == "resend" else "done_discard", n=len(done))
    raise web.HTTPSeeOther(f"/dashboard/dead?done={text}")


# -- audit ----------------------------------------------------------------------------------------


@routes.get("/audit")
async def audit(request: web.Request) -> web.Response:
    """Who did what on the dashboard, newest first."""
    lang, session = _lang(request), request[SESSION]
    before = int(request.query["before"]) if request.query.get("before", "").isdigit() else None
    listing = await _store(request).audit(before=before, limit=PAGE)
    rows = (
        (
            e(when(a.at, lang)),
            e(a.username),
            f"<code>{e(a.action)}</code>",
            e(a.target or ""),
            e(json.dumps(a.detail, ensure_ascii=False)),
        )
        for a in listing.rows
        if isinstance(a, AuditEntry)
    )
    more = (
        f'<p><a href="/dashboard/audit?before={listing.next}">{e(t(lang, "next_page"))}</a></p>'
        if listing.next
        else ""
    )
    body = (
        f"<h1>{e(t(lang, 'audit'))}</h1>"
        + table(
            [
                t(lang, "when"),
                t(lang, "who"),
                t(lang, "what"),
                t(lang, "target"),
                t(lang, "detail"),
            ],
            rows,
            empty=t(lang, "no_rows"),
            attrs='id="audit"',
        )
        + more
    )
    return _html(layout(lang, session, "audit", body, csrf=session.csrf))


# -- assembly -------------------------------------------------------------------------------------


def dashboard_app(runtime: Runtime, *, pulse_interval: float = 2.0) -> web.Application:
    """The dashboard sub-application (mounted at ``/dashboard`` by :func:`install`)."""
    app = web.Application(middlewares=[session_middleware])
    app[PULSE] = Pulse(
        runtime.store.dashboard(),
        lambda: health_of(runtime),
        alarms=lambda: open_alarms(runtime),
        interval=pulse_interval,
    )
    app[THROTTLE] = LoginThrottle()

    async def start(_app: web.Application) -> None:
        await app[PULSE].start()

    async def stop(_app: web.Application) -> None:
        await app[PULSE].stop()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.add_routes(routes)
    return app


def install(app: web.Application, runtime: Runtime) -> None:
    """Mount the dashboard on the hub's application."""
    app.add_subapp("/dashboard", dashboard_app(runtime))

    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently("/dashboard/")

    app.router.add_get("/dashboard", redirect)
