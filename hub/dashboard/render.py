"""Server-side HTML for the dashboard: Jinja2 templates (``hub/dashboard/templates/``) rendered
through aiohttp-jinja2 with autoescaping on for every template, so no value reaches a page
unescaped unless a template says so (none does: the one JSON island goes through ``tojson``).

This module builds the environment and turns store records into what the templates show:
every identifier (state, kind, event kind, refusal or warning code, audit action, detail key)
is translated here or in the templates through :mod:`hub.dashboard.i18n`, never printed raw,
and event details become label/value pairs instead of JSON. No inline script or style: the
Content-Security-Policy allows only the hub's own ``/dashboard/static/`` files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from hub.dashboard.i18n import age_text, code_text, has, label, number, t, when
from hub.models import Event
from hub.store.records import AuditEntry, Session

NAV = (
    ("overview", "/dashboard/"),
    ("agencies", "/dashboard/agencies"),
    ("directory", "/dashboard/directory"),  # issue 11
    ("packages", "/dashboard/packages"),
    ("stuck", "/dashboard/stuck"),
    ("dead", "/dashboard/dead"),
    ("audit", "/dashboard/audit"),
)

#: detail keys never shown: the ``text`` of a ``represented`` event repeats its sentence, and
#: ``stands_for``/``for`` are shown beside the recipient
_HIDDEN = frozenset({"text", "for"})


def setup(app: web.Application) -> None:
    """Give the dashboard sub-application its template environment."""
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("hub.dashboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name fails a test, not a page silently
        trim_blocks=True,
        lstrip_blocks=True,
    )


def page(
    request: web.Request,
    template: str,
    lang: str,
    session: Session | None,
    organ_name: Callable[[str], str],
    *,
    active: str = "",
    status: int = 200,
    **context: Any,
) -> web.Response:
    """Render ``template`` with the helpers every page uses (texts, labels, numbers, dates,
    agency names) bound to the operator's language."""
    now = datetime.now(UTC)
    base: dict[str, Any] = {
        "lang": lang,
        "other_lang": "en" if lang == "vi" else "vi",
        "session": session,
        "active": active,
        "nav": NAV,
        "flash": "",
        "status": status,
        "_": partial(t, lang),
        "label": partial(label, lang),
        "code_text": partial(code_text, lang),
        "num": partial(number, lang),
        "when": lambda value, seconds=False: when(value, lang, seconds=seconds),
        "age": lambda value: "" if value is None else age_text((now - value).total_seconds(), lang),
        "organ_name": organ_name,
    }
    base.update(context)
    return aiohttp_jinja2.render_template(template, request, base, status=status)


def _scalar(lang: str, key: str, value: object) -> str:
    if isinstance(value, bool):
        return t(lang, "yes" if value else "no")
    if isinstance(value, int | float):
        return number(lang, value)
    text = "" if value is None else str(value)
    if key in ("code", "error") or key.endswith("_code"):
        return code_text(lang, text)
    if key in ("role",):
        return label(lang, "role", text)
    if key == "kind":
        return label(lang, "kind", text)
    return t(lang, f"value:{text}") if has(lang, f"value:{text}") else text


#: detail keys whose value is an OrganId: shown with the agency's name beside it
_ORGAN_KEYS = frozenset({"organ_id", "sender", "recipient", "from", "to"})


def value_text(lang: str, key: str, value: object) -> str:
    """A detail value as words: codes translated, numbers in the locale's form, lists joined,
    mappings as ``label: value`` (never JSON)."""
    if isinstance(value, Mapping):
        if "content_id" in value and "verdict" in value:  # one checked attachment
            return t(
                lang,
                "attachment_line",
                cid=value["content_id"],
                verdict=label(lang, "value", str(value["verdict"])),
            )
        return "; ".join(
            f"{label(lang, 'field', str(k))}: {value_text(lang, str(k), v)}"
            for k, v in value.items()
            if v not in (None, "", [], {})
        )
    if isinstance(value, list | tuple):
        return ", ".join(value_text(lang, key, v) for v in value)
    return _scalar(lang, key, value)


def detail_pairs(
    lang: str,
    detail: Mapping[str, object],
    skip: frozenset[str] = _HIDDEN,
    organ_name: Callable[[str], str] | None = None,
) -> list[tuple[str, str]]:
    """``(label, value)`` for each meaningful detail entry, translated; an OrganId gets its
    agency's name beside it."""
    pairs = []
    for key, value in detail.items():
        if key in skip or value in (None, "", [], {}):
            continue
        text = value_text(lang, key, value)
        if key in _ORGAN_KEYS and isinstance(value, str) and organ_name and organ_name(value):
            text = f"{text} {organ_name(value)}"
        pairs.append((label(lang, "field", key), text))
    return pairs


@dataclass(frozen=True, slots=True)
class EventView:
    """One trace entry as the timeline shows it."""

    kind: str
    css: str
    at: datetime
    recipient: str | None
    attempt: int | None
    stands_for: tuple[str, ...]
    sentence: str
    pairs: list[tuple[str, str]]


def event_view(lang: str, ev: Event, organ_name: Callable[[str], str] | None = None) -> EventView:
    """A trace event in words (``represented`` gets its sentence, the rest label/value pairs)."""
    raw_for = ev.detail.get("for")
    stands_for = tuple(str(c) for c in raw_for) if isinstance(raw_for, list) else ()
    sentence = ""
    if ev.kind == "represented" and ev.recipient and stands_for:
        sentence = t(lang, "represented_sentence", r=ev.recipient, codes=", ".join(stands_for))
    return EventView(
        kind=ev.kind,
        css=ev.kind.replace(".", "-"),
        at=ev.at,
        recipient=ev.recipient,
        attempt=ev.attempt,
        stands_for=stands_for,
        sentence=sentence,
        pairs=detail_pairs(lang, ev.detail, organ_name=organ_name),
    )


@dataclass(frozen=True, slots=True)
class AuditView:
    """One audit entry as the Audit page shows it."""

    at: datetime
    who: str
    via: str
    action: str
    target: str
    target_organ: bool
    target_package: bool
    target_text: str
    pairs: list[tuple[str, str]]


def audit_view(
    lang: str,
    entry: AuditEntry,
    is_organ: Callable[[str], bool],
    is_package: bool = False,
    organ_name: Callable[[str], str] | None = None,
) -> AuditView:
    """Who (the operator, or for the command line the ``--actor`` or OS user, with the host),
    what (translated), on what (an agency with its name, a package, or a count)."""
    detail = dict(entry.detail)
    via = ""
    if detail.get("via") == "cli":
        where = "@".join(str(detail[k]) for k in ("os_user", "host") if detail.get(k))
        via = t(lang, "via_cli", where=where)
        for key in ("via", "os_user", "host"):
            detail.pop(key, None)
    target = entry.target or ""
    target_text = target
    raw_keys = detail.pop("keys", None)
    if entry.action.startswith("dead.") and isinstance(raw_keys, list):
        keys = [str(k).replace("|", " → ") for k in raw_keys]
        target_text = t(lang, "n_deliveries", n=number(lang, len(keys)))
        if keys:
            detail["keys"] = keys
    elif raw_keys is not None:
        detail["keys"] = raw_keys
    return AuditView(
        at=entry.at,
        who=entry.username,
        via=via,
        action=entry.action,
        target=target,
        target_organ=bool(target) and is_organ(target),
        target_package=is_package,
        target_text=target_text,
        pairs=detail_pairs(lang, detail, frozenset(), organ_name),
    )
