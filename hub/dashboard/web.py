"""The operators' dashboard under ``/dashboard/``: an aiohttp sub-application.

Access (see ``docs/dashboard.md``): operator accounts only (agency tokens and certificates are
ignored here); a session cookie that is ``HttpOnly``, ``SameSite=Strict``, ``Path=/dashboard``
and ``Secure`` over TLS; a per-session CSRF token checked in constant time on every POST (plus
a double-submit token on the login form); roles ``viewer`` (looks) and ``operator`` (also
re-sends, discards, disables and enables agencies, each after a confirm page). Every action,
and every login and failed login, is written to the store's operator audit.

Pages are Jinja2 templates (``templates/``, autoescaped) in the operator's language; every
refusal under ``/dashboard/`` is an HTML page in that language too, never problem+json.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import re
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from yarl import URL

from hub.api.keys import RUNTIME
from hub.api.problems import Handler
from hub.audit.service import record_read
from hub.dashboard import render as r
from hub.dashboard.i18n import DEFAULT, LANGUAGES, LOCAL, catalogue, label, number, percent, t
from hub.dashboard.live import Pulse
from hub.directory import DirectoryEntry, DirectoryFilter
from hub.logs import package_context
from hub.metrics import OPERATOR_ACTIONS
from hub.models import AgencyOverride, DeliveryState, Event, PackageKind, PackageRecord
from hub.operators import LoginThrottle, authenticate, open_session, token_sha256
from hub.runtime import Runtime
from hub.store.facets import DashboardStore
from hub.store.records import (
    UNACKED_STATES,
    AuditEntry,
    DeliveryRow,
    PackageQuery,
    PackageRow,
    Session,
)
from hub.warning_codes import LEGACY_ALGORITHM

log = logging.getLogger("hub.dashboard")

STATIC = Path(__file__).parent / "static"
COOKIE = "hub_session"
LOGIN_CSRF_COOKIE = "hub_login_csrf"
LANG_COOKIE = "hub_lang"
PAGE = 50
MAX_SELECTION = 500

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


class DashboardRefusal(web.HTTPException):
    """A refusal with the catalogue key of its explanation (rendered as an HTML page)."""

    def __init__(self, status: int, key: str) -> None:
        self.status_code = status
        super().__init__()
        self.key = key


def _rt(request: web.Request) -> Runtime:
    return request.config_dict[RUNTIME]


def _store(request: web.Request) -> DashboardStore:
    return _rt(request).store.dashboard()


def _lang(request: web.Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, DEFAULT)
    return lang if lang in LANGUAGES else DEFAULT


def _organ_namer(request: web.Request) -> Callable[[str], str]:
    registry = _rt(request).registry

    def name(code: str) -> str:
        agency = registry.get(code)
        return agency.name if agency is not None else ""

    return name


def _page(
    request: web.Request, template: str, *, active: str = "", status: int = 200, **ctx: Any
) -> web.Response:
    """Render a page in the operator's language with the session (if any) in the header."""
    return r.page(
        request,
        template,
        _lang(request),
        request.get(SESSION),
        _organ_namer(request),
        active=active,
        status=status,
        **ctx,
    )


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


# -- middleware: errors, sessions, CSRF, roles, headers ------------------------------------------


def _error_key(status: int) -> str:
    return f"error_{status}" if status in (400, 401, 403, 404, 405, 500) else "error_other"


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal under ``/dashboard/`` as an HTML page in the operator's language (a 404
    for a missing package included): problem+json is for agencies' software, not people."""
    try:
        response = await handler(request)
    except DashboardRefusal as exc:
        response = _page(
            request, "error.html", status=exc.status, message=t(_lang(request), exc.key)
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _page(
            request,
            "error.html",
            status=exc.status,
            message=t(_lang(request), _error_key(exc.status)),
        )
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("dashboard page failed", extra={"path": request.path})
        response = _page(request, "error.html", status=500, message=t(_lang(request), "error_500"))
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every page but the login form, static files and the language switch needs a session;
    every POST needs the session's CSRF token and a same-origin ``Origin`` if one is sent."""
    if request.path.startswith(_PUBLIC):
        return await handler(request)
    token = request.cookies.get(COOKIE)
    session = None
    if token:
        session = await _store(request).get_session(token_sha256(token), datetime.now(UTC))
    if session is None:
        if request.method == "GET" and not request.path.startswith("/dashboard/events"):
            raise web.HTTPSeeOther("/dashboard/login")
        raise DashboardRefusal(401, "login_required")
    if request.method not in ("GET", "HEAD"):
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            request[SESSION] = session
            raise DashboardRefusal(403, "error_403_origin")
        form = await request.post()
        sent = str(form.get("csrf") or request.headers.get("X-CSRF-Token", ""))
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            await _audit(request, session.username, "csrf.refused", request.path)
            request[SESSION] = session
            raise DashboardRefusal(403, "error_403_csrf")
    request[SESSION] = session
    return await handler(request)


def _require_operator(request: web.Request) -> Session:
    session = request[SESSION]
    if session.role != "operator":
        raise DashboardRefusal(403, "forbidden_role")
    return session


# -- login ---------------------------------------------------------------------------------------

routes = web.RouteTableDef()


def _login_page(
    request: web.Request, csrf: str, message: str = "", status: int = 200
) -> web.Response:
    response = _page(request, "login.html", status=status, login_csrf=csrf, flash=message)
    _set_login_csrf(response, request, csrf)
    return response


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
    return _login_page(request, secrets.token_urlsafe(24))


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    """Check the double-submit token, the throttle, then the password."""
    lang = _lang(request)
    form = await request.post()
    sent, cookie = str(form.get("csrf", "")), request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(sent.encode(), cookie.encode()):
        raise DashboardRefusal(403, "error_403_csrf")
    username = str(form.get("username", "")).strip()[:64]
    password = str(form.get("password", ""))
    throttle = request.app[THROTTLE]
    keys = (f"user:{username}", f"addr:{_client(request)}")
    wait = throttle.blocked(*keys)
    csrf = secrets.token_urlsafe(24)
    if wait > 0:
        await _audit(request, username or "?", "login.throttled")
        message = t(lang, "login_throttled", s=number(lang, int(wait) + 1))
        return _login_page(request, csrf, message, status=429)
    operator = await authenticate(_store(request), username, password)
    if operator is None:
        throttle.failed(*keys)
        await _audit(request, username or "?", "login.failed")
        return _login_page(request, csrf, t(lang, "login_failed"), status=401)
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
    lang = _lang(request)
    snap = await _snapshot(request)
    states = snap["states"]
    alarms = snap["alarms"]
    cards = [
        ("packages", t(lang, "packages_stored"), number(lang, snap["packages"])),
        ("dead", t(lang, "dead_letters"), number(lang, snap["dead"])),
        (
            "alarms",
            t(lang, "open_alarms"),
            number(lang, alarms) if alarms is not None else t(lang, "alarms_none"),
        ),
        ("refusal_rate", t(lang, "refusal_rate"), percent(lang, snap["refusal_rate"])),
    ] + [
        (f"state-{s}", label(lang, "state", s), number(lang, states.get(s, 0)))
        for s in ("queued", "available", "failed")
    ]
    health = snap["health"]
    rows = [
        (t(lang, "store"), health["store"], health["store"] == "ok"),
        (t(lang, "broker"), health["broker"], health["broker"] == "ok"),
    ]
    health_rows = [(name, t(lang, "ok") if good else value, good) for name, value, good in rows]
    days = int(health["signing_cert_days"])
    health_rows.append(
        (t(lang, "signing_cert"), t(lang, "expires_in", d=number(lang, days)), days > 30)
    )
    # Every configured agency has a row from the start, so the live updates have a cell
    # to write into when its first package arrives.
    by_organ = {a["organ_id"]: a for a in snap["agencies"]}
    zero = {"backlog": 0, "unacked": 0, "dead": 0}
    organs = sorted(set(by_organ) | {a.organ_id for a in _rt(request).registry.all()})
    depth = [
        (
            o,
            by_organ.get(o, zero)["backlog"],
            by_organ.get(o, zero)["unacked"],
            by_organ.get(o, zero)["dead"],
        )
        for o in organs
    ]
    return _page(
        request,
        "overview.html",
        active="overview",
        cards=cards,
        health=health_rows,
        depth=depth,
        snapshot=snap,
    )


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


@routes.get("/agencies")
async def agencies(request: web.Request) -> web.Response:
    """Each configured (or seen) agency with health, activity, backlog and certificate."""
    session, rt = request[SESSION], _rt(request)
    now = datetime.now(UTC)
    activity = {a.organ_id: a for a in await _store(request).agency_activity()}
    organs = sorted(set(activity) | {a.organ_id for a in rt.registry.all()})
    rows = []
    for organ in organs:
        cfg = rt.registry.get(organ)
        act = activity.get(organ)
        oldest = act.oldest_undelivered_at if act else None
        last_id = act.last_sent_id if act else None
        rows.append(
            {
                "organ": organ,
                "configured": cfg is not None,
                "enabled": bool(cfg and cfg.enabled),
                "behind": (oldest is not None and now - oldest > timedelta(hours=1))
                or (act is not None and act.by_state.get("dead", 0) > 0),
                "seen": max(
                    (x for x in (act.last_sent_at, act.last_ack_at) if x is not None)
                    if act
                    else (),
                    default=None,
                ),
                "backlog": act.backlog if act else 0,
                "unacked": act.unacked if act else 0,
                "oldest": oldest,
                "oldest_id": act.oldest_undelivered_id if act else None,
                "expiry": await _signing_cert_expiry(rt, last_id),
                "profile": rt.registry.signature_profile(organ),
                "latest_legacy": await _legacy_signed(rt, last_id),
            }
        )
    return _page(
        request,
        "agencies.html",
        active="agencies",
        rows=rows,
        operator=session.role == "operator",
        flash=_flash(request),
    )


def _flash(request: web.Request) -> str:
    """The result of the last action, named by a catalogue key and a count or an agency (never
    free text from the URL, which anyone could craft)."""
    lang, q = _lang(request), request.query
    done = q.get("done", "")
    if done in ("resend", "discard") and q.get("n", "").isdigit():
        return t(lang, f"done_{done}", n=number(lang, int(q["n"])))
    if done == "agency" and q.get("o", "") in {a.organ_id for a in _rt(request).registry.all()}:
        return t(lang, "done_agency", o=q["o"])
    return ""


@routes.get("/agencies/{organ_id}/{verb:(disable|enable)}")
async def agency_confirm(request: web.Request) -> web.Response:
    """The confirm step (works without JavaScript): a page with the reason and the POST form."""
    _require_operator(request)
    organ, verb = request.match_info["organ_id"], request.match_info["verb"]
    if _rt(request).registry.get(organ) is None:
        raise web.HTTPNotFound()
    return _page(request, "agency_confirm.html", active="agencies", organ=organ, verb=verb)


@routes.post("/agencies/{organ_id}/{verb:(disable|enable)}")
async def agency_state(request: web.Request) -> web.StreamResponse:
    """Disable or enable an agency: stored as a runtime override, audited twice (the
    operator audit says who; the event log keeps the agency's history). Without the confirm
    page's ``confirmed=yes`` it only shows that page."""
    session = _require_operator(request)
    rt = _rt(request)
    organ, verb = request.match_info["organ_id"], request.match_info["verb"]
    if rt.registry.get(organ) is None:
        raise web.HTTPNotFound()
    form = await request.post()
    if form.get("confirmed") != "yes":
        raise web.HTTPSeeOther(f"/dashboard/agencies/{organ}/{verb}")
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
    raise web.HTTPSeeOther(f"/dashboard/agencies?done=agency&o={organ}")


# -- the agency directory (issue 11, docs/directory.md) -----------------------------------------


@routes.get("/directory")
async def directory(request: web.Request) -> web.Response:
    """Danh bạ / Directory: connected agencies first, then the imported directory entries
    (known by code and name, not connected), each with who receives its packages; searched
    by name without diacritics, paged like the API (:class:`hub.directory.Directory`)."""
    q = request.query
    shown = q.get("show", "") if q.get("show") in ("connected", "entries") else ""
    words_q = q.get("q", "").strip() or None
    cursor = q.get("cursor") or None
    listing = _rt(request).directory
    # Connected agencies first (the ones that receive; a few hundred at most, all at once,
    # on the first page), then the directory entries, paged, each in directory order.
    items: list[DirectoryEntry] = []
    if shown != "entries" and cursor is None:
        items += await listing.all(DirectoryFilter(connected=True, q=words_q))
    next_url = ""
    if shown != "connected":
        try:
            page = await listing.entries(
                DirectoryFilter(connected=False, q=words_q), cursor=cursor, limit=PAGE
            )
        except ValueError as exc:  # a malformed cursor (an error page, in words)
            raise web.HTTPBadRequest() from exc
        items += page.items
        if page.next is not None:
            params = {k: v for k, v in q.items() if k != "cursor"} | {"cursor": page.next}
            next_url = str(request.rel_url.with_query(params))
    return _page(
        request,
        "directory.html",
        active="directory",
        q={"q": q.get("q", ""), "show": shown},
        rows=items,
        next_url=next_url,
    )


# -- packages ------------------------------------------------------------------------------------


def _subject_text(package: PackageRecord, encrypted: bool, lang: str) -> str:
    """The Subject as sent, or a note that it is kept encrypted (with encryption at rest only
    its keyed word hashes are stored, see docs/audit-and-evidence.md)."""
    if package.subject is not None:
        return package.subject
    if encrypted and package.kind == PackageKind.DOCUMENT:
        return t(lang, "subject_encrypted")
    return ""


def _parse_day(value: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return None
    return day.replace(tzinfo=LOCAL).astimezone(UTC)


@routes.get("/packages")
async def packages(request: web.Request) -> web.Response:
    """Search by DocumentId/MaHoSo, Subject words, OrganId (from/to), period, kind, delivery
    state."""
    lang, q = _lang(request), request.query
    until = _parse_day(q.get("until", ""))
    kinds = [k.value for k in PackageKind]
    states = [s.value for s in DeliveryState]
    query = PackageQuery(
        document_id=q.get("document_id", "").strip() or None,
        organ_id=q.get("organ_id", "").strip() or None,
        role=q.get("role", "any") if q.get("role") in ("any", "from", "to") else "any",
        since=_parse_day(q.get("since", "")),
        until=until + timedelta(days=1) if until else None,
        kind=q.get("kind") if q.get("kind") in kinds else None,
        state=q.get("state") if q.get("state") in states else None,
        subject=q.get("subject", "").strip() or None,
    )
    before = int(q["before"]) if q.get("before", "").isdigit() else None
    try:
        listing = await _store(request).search_packages(query, before=before, limit=PAGE)
    except ValueError as exc:  # too many Subject words (hub.store.textsearch)
        raise DashboardRefusal(400, "error_subject_words") from exc
    encrypted = _rt(request).store.blob_cipher is not None
    next_url = ""
    if listing.next is not None:
        params = {k: v for k, v in q.items() if k != "before"}
        params["before"] = str(listing.next)
        next_url = str(request.rel_url.with_query(params))
    fields = ("document_id", "subject", "organ_id", "since", "until", "kind", "state")
    form = {k: q.get(k, "") for k in fields}
    form["role"] = query.role
    return _page(
        request,
        "packages.html",
        active="packages",
        q=form,
        kinds=kinds,
        states=states,
        agency_choices=[(a.organ_id, a.name) for a in _rt(request).registry.all()],
        rows=[
            (row, _subject_text(row.package, encrypted, lang))
            for row in listing.rows
            if isinstance(row, PackageRow)
        ],
        next_url=next_url,
    )


@routes.get("/packages/{package_id}")
async def package_detail(request: web.Request) -> web.Response:
    """The trace timeline: accepted, verification, deliveries and attempts, statuses."""
    lang, rt = _lang(request), _rt(request)
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
    return _page(
        request,
        "package.html",
        active="packages",
        package=package,
        subject=_subject_text(package, rt.store.blob_cipher is not None, lang),
        deliveries=deliveries,
        trace=[r.event_view(lang, ev, _organ_namer(request)) for ev in trace],
        statuses=statuses,
    )


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


@routes.get("/stuck")
async def stuck(request: web.Request) -> web.Response:
    """Unaccepted dossiers, overdue dossiers (lifecycle seam), unacknowledged documents."""
    store = _store(request)
    after_d = int(request.query["after_d"]) if request.query.get("after_d", "").isdigit() else None
    after_u = int(request.query["after_u"]) if request.query.get("after_u", "").isdigit() else None
    dossiers = await store.unaccepted_dossiers(after=after_d, limit=PAGE)
    unacked = await store.deliveries_in(UNACKED_STATES, after=after_u, limit=PAGE)
    alarms = open_alarms(_rt(request))
    return _page(
        request,
        "stuck.html",
        active="stuck",
        alarms=alarms,
        overdue=[a for a in alarms or () if a.kind == "dossier_overdue"],
        dossiers=[row for row in dossiers.rows if isinstance(row, PackageRow)],
        unacked=[row for row in unacked.rows if isinstance(row, DeliveryRow)],
        next_d=dossiers.next,
        next_u=unacked.next,
    )


# -- dead letters ---------------------------------------------------------------------------------


@routes.get("/dead")
async def dead_letters(request: web.Request) -> web.Response:
    """Dead letters with reason and attempts; select some, then re-send or discard them."""
    session = request[SESSION]
    after = int(request.query["after"]) if request.query.get("after", "").isdigit() else None
    listing = await _store(request).deliveries_in(("dead",), after=after, limit=PAGE)
    return _page(
        request,
        "dead.html",
        active="dead",
        rows=[row for row in listing.rows if isinstance(row, DeliveryRow)],
        operator=session.role == "operator",
        next_after=listing.next,
        flash=_flash(request),
    )


def _action_of(value: object) -> str:
    action = str(value or "")
    if action not in ("resend", "discard"):
        raise web.HTTPBadRequest()
    return action


@routes.get("/dead/confirm")
async def dead_confirm(request: web.Request) -> web.Response:
    """The confirm step of re-send and discard: what was selected, and the POST form."""
    _require_operator(request)
    rt = _rt(request)
    action = _action_of(request.query.get("action"))
    items = []
    for key in request.query.getall("key", [])[:MAX_SELECTION]:
        package_id, sep, recipient = key.partition("|")
        if not sep:
            continue
        delivery = await rt.store.get_delivery(package_id, recipient)
        if delivery is None or delivery.state != DeliveryState.DEAD:
            continue
        record = await rt.store.get_package(package_id)
        items.append((package_id, record.document_id if record else "", recipient))
    return _page(request, "dead_confirm.html", active="dead", action=action, items=items)


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
    """Re-send or discard one or many dead letters (operators only; audited). Without the
    confirm page's ``confirmed=yes`` it only shows that page."""
    session = _require_operator(request)
    rt = _rt(request)
    form = await request.post()
    action = _action_of(form.get("action"))
    keys = [str(k) for k in form.getall("key", [])][:MAX_SELECTION]
    if form.get("confirmed") != "yes":
        query = [("action", action), *(("key", k) for k in keys)]
        raise web.HTTPSeeOther(str(URL("/dashboard/dead/confirm").with_query(query)))
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
    await _audit(request, session.username, f"dead.{action}", None, keys=done)
    raise web.HTTPSeeOther(f"/dashboard/dead?done={action}&n={len(done)}")


# -- audit ----------------------------------------------------------------------------------------


@routes.get("/audit")
async def audit(request: web.Request) -> web.Response:
    """Who did what, newest first: dashboard actions and the command line's (``hub agency``,
    ``hub operator``, ``hub evidence``), each with the person or the OS user and host."""
    lang, rt = _lang(request), _rt(request)
    before = int(request.query["before"]) if request.query.get("before", "").isdigit() else None
    listing = await _store(request).audit(before=before, limit=PAGE)

    def is_organ(code: str) -> bool:
        return rt.registry.get(code) is not None

    rows = [
        r.audit_view(
            lang,
            a,
            is_organ,
            is_package=a.action.startswith(("download.", "evidence.")),
            organ_name=_organ_namer(request),
        )
        for a in listing.rows
        if isinstance(a, AuditEntry)
    ]
    return _page(request, "audit.html", active="audit", rows=rows, next_before=listing.next)


@routes.route("*", "/{tail:.*}")
async def not_found(request: web.Request) -> web.StreamResponse:
    """Anything else under ``/dashboard/``: an HTML 404 (the sub-application's middlewares
    only run for its own routes, so this catch-all keeps problem+json out of the console)."""
    raise web.HTTPNotFound()


# -- assembly -------------------------------------------------------------------------------------


def dashboard_app(runtime: Runtime, *, pulse_interval: float = 2.0) -> web.Application:
    """The dashboard sub-application (mounted at ``/dashboard`` by :func:`install`)."""
    app = web.Application(middlewares=[error_middleware, session_middleware])
    r.setup(app)
    app[PULSE] = Pulse(
        runtime.store.dashboard(),
        lambda: health_of(runtime),
        alarms=lambda: open_alarms(runtime),
        interval=pulse_interval,
    )
    app[THROTTLE] = LoginThrottle()

    async def pulse_running(_app: web.Application) -> AsyncIterator[None]:
        async with app[PULSE]:
            yield

    app.cleanup_ctx.append(pulse_running)
    app.add_routes(routes)
    return app


def install(app: web.Application, runtime: Runtime) -> None:
    """Mount the dashboard on the hub's application."""
    app.add_subapp("/dashboard", dashboard_app(runtime))

    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently("/dashboard/")

    app.router.add_get("/dashboard", redirect)
