"""Query parameters more than one ``/v1`` listing takes, checked once (400 per bad one)."""

from __future__ import annotations

from aiohttp import web

from hub.errors import BadLimit, BadParameter
from hub.store.textsearch import MAX_QUERY_WORDS
from hub.text import words


def page_limit(request: web.Request) -> int:
    """``?limit=``: 1 to 1000, default 100."""
    raw = request.query.get("limit", "100")
    try:
        limit = int(raw)
    except ValueError:
        raise BadLimit(f"limit {raw!r} is not an integer") from None
    if not 1 <= limit <= 1000:
        raise BadLimit(f"limit {limit} is outside 1–1000")
    return limit


def text_query(request: web.Request) -> str | None:
    """``?q=``: words to search for (folded; every one must match), or ``None``."""
    q = request.query.get("q", "").strip()
    if len(words(q)) > MAX_QUERY_WORDS:
        raise BadParameter(f"q: at most {MAX_QUERY_WORDS} words", parameter="q")
    return q or None
