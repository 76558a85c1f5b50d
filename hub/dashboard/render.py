"""Server-side HTML for the dashboard: a layout, tables and forms, every value escaped.

No template engine: the pages are few and simple, and plain functions keep the escaping rule
visible (``e()`` on every value that did not come from this module). No inline script or style:
the Content-Security-Policy allows only the hub's own ``/dashboard/static/`` files.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hub.dashboard.i18n import age_text, t
from hub.dashboard.model import Session

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
NAV = (
    ("overview", "/dashboard/"),
    ("agencies", "/dashboard/agencies"),
    ("directory", "/dashboard/directory"),  # issue 11
    ("packages", "/dashboard/packages"),
    ("stuck", "/dashboard/stuck"),
    ("dead", "/dashboard/dead"),
    ("audit", "/dashboard/audit"),
)


def e(value: object) -> str:
    """Escape for HTML text and attribute values."""
    return html.escape("" if value is None else str(value), quote=True)


def when(value: datetime | None, lang: str) -> str:
    """Local time (Asia/Ho_Chi_Minh) as ``yyyy/MM/dd HH:mm:ss``, the format agencies use."""
    if value is None:
        return t(lang, "never")
    return value.astimezone(LOCAL).strftime("%Y/%m/%d %H:%M:%S")


def age(value: datetime | None, now: datetime, lang: str) -> str:
    """How long ago."""
    return "" if value is None else age_text((now - value).total_seconds(), lang)


def layout(
    lang: str,
    session: Session | None,
    active: str,
    body: str,
    *,
    flash: str = "",
    csrf: str = "",
) -> str:
    """The page around ``body``: navigation, language switch, who is logged in."""
    nav = "".join(
        f'<a href="{href}" class="{"active" if key == active else ""}" '
        f'data-nav="{key}">{e(t(lang, key))}</a>'
        for key, href in NAV
    )
    user = ""
    if session is not None:
        user = (
            f'<span class="user" data-role="{e(session.role)}">{e(session.username)} '
            f"({e(session.role)})</span>"
            f'<form method="post" action="/dashboard/logout" class="inline">'
            f'<input type="hidden" name="csrf" value="{e(session.csrf)}">'
            f'<button type="submit" data-action="logout">{e(t(lang, "logout"))}</button></form>'
        )
    flash_html = f'<p class="flash" role="status">{e(flash)}</p>' if flash else ""
    other = "en" if lang == "vi" else "vi"
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(t(lang, active if active in dict(NAV) else 'login'))} · "
        f"{e(t(lang, 'title'))}</title>"
        '<link rel="stylesheet" href="/dashboard/static/dashboard.css">'
        '<script src="/dashboard/static/dashboard.js" defer></script></head>'
        f'<body data-lang="{lang}" data-csrf="{e(csrf)}">'
        f"<header><strong>{e(t(lang, 'title'))}</strong>"
        f"<nav>{nav if session else ''}</nav>"
        f'<a class="lang" href="/dashboard/lang/{other}" data-lang-switch="{other}">'
        f"{'English' if other == 'en' else 'Tiếng Việt'}</a>{user}</header>"
        f"<main>{flash_html}{body}</main></body></html>"
    )


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, empty: str, attrs: str = ""
) -> str:
    """A table; cells are already-escaped HTML."""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="empty">{e(empty)}</p>'
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    return f"<table {attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def hidden_csrf(session: Session) -> str:
    """The CSRF field every state-changing form carries."""
    return f'<input type="hidden" name="csrf" value="{e(session.csrf)}">'


def now_utc() -> datetime:
    """The current instant (UTC)."""
    return datetime.now(UTC)
