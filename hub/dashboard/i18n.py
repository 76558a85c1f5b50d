"""Vietnamese and English texts of the dashboard (Vietnamese first: it is the operators' own).

The texts live in gettext catalogues, ``hub/dashboard/locale/{vi,en}/LC_MESSAGES/dashboard.po``,
read with Babel (``babel.messages.pofile``) once per process: no ``.mo`` build step, so a
package installed from source can never run with a catalogue older than its ``.po``
(:func:`translations` compiles one in memory for code that wants the gettext API). msgids are stable
keys, not English sentences: plain keys for page texts, ``namespace:code`` for everything the
store or the pipeline names by an identifier (``state:dead``, ``event:accepted``,
``error:lifecycle.not_party``, ``warning:edxml.empty_element``, ``action:agency.disable``…), so
the English catalogue is a translation like the Vietnamese one and a missing entry is caught by
``tests/dashboard/test_i18n.py`` instead of leaking an identifier into a page.

Numbers and dates go through ``babel.numbers`` and ``babel.dates`` in the page's locale
(``1.234,5`` and ``05/12/2026 09:30`` in Vietnamese), times in Asia/Ho_Chi_Minh.

The language is chosen per browser with the ``hub_lang`` cookie (``/dashboard/lang/vi`` or
``/en``); the default is Vietnamese.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations

LANGUAGES = ("vi", "en")
DEFAULT = "vi"
LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "dashboard"

#: date-time patterns (CLDR): Vietnamese day first, as agencies write it; English spelled out
#: so that neither reader mistakes the day for the month
_DATETIME = {"vi": "dd/MM/yyyy HH:mm", "en": "d MMM yyyy HH:mm"}
_DATETIME_SECONDS = {"vi": "dd/MM/yyyy HH:mm:ss", "en": "d MMM yyyy HH:mm:ss"}


def po_path(lang: str) -> Path:
    """The catalogue source of ``lang``."""
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def messages(lang: str) -> Mapping[str, str]:
    """Every msgid → msgstr of ``lang`` (untranslated entries left out)."""
    with po_path(lang).open("rb") as fh:
        catalog = read_po(fh, locale=lang, domain=DOMAIN)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string}


@functools.cache
def translations(lang: str) -> Translations:
    """The catalogue of ``lang`` as gettext translations, compiled in memory from the ``.po``
    (for code that wants the gettext API, such as Jinja2's i18n extension)."""
    with po_path(lang).open("rb") as fh:
        catalog = read_po(fh, locale=lang, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def lang_of(value: str | None) -> str:
    """A supported language, else the default."""
    return value if value in LANGUAGES else DEFAULT


def t(lang: str, key: str, **kw: object) -> str:
    """The text for ``key`` in ``lang``; ``{name}`` placeholders filled from ``kw``."""
    # The parsed catalogue as a dict: a page makes hundreds of these look-ups, and the dict is
    # several times faster than gettext's fallback chain (same texts, same source).
    text = messages(lang_of(lang)).get(key, key)
    return text.format(**kw) if kw else text


def has(lang: str, key: str) -> bool:
    """Whether the catalogue of ``lang`` translates ``key``."""
    return key in messages(lang_of(lang))


def humanise(code: str) -> str:
    """Last resort for a code no catalogue knows (a newer hub wrote it): words, not
    ``snake_case`` or dotted identifiers."""
    return re.sub(r"[._]+", " ", code).strip()


def label(lang: str, namespace: str, code: str) -> str:
    """The translated name of a state, kind, event kind, code… (``namespace:code``)."""
    key = f"{namespace}:{code}"
    return t(lang, key) if has(lang, key) else humanise(code)


def code_text(lang: str, value: str) -> str:
    """A refusal or warning as the pipeline writes it (``code`` or ``code:path[:detail]``),
    in words: the code's text, then the path and detail as they are."""
    code, _, rest = value.partition(":")
    for namespace in ("warning", "error"):
        if has(lang, f"{namespace}:{code}"):
            text = t(lang, f"{namespace}:{code}")
            return f"{text} ({rest})" if rest else text
    return value


def catalogue(lang: str) -> dict[str, str]:
    """Every text in ``lang`` (for the browser script)."""
    return dict(messages(lang_of(lang)))


def number(lang: str, value: float) -> str:
    """A number in the locale's form (``1.234,5`` in Vietnamese, ``1,234.5`` in English)."""
    return str(format_decimal(value, locale=lang_of(lang)))


def percent(lang: str, ratio: float) -> str:
    """A ratio as a percentage with one decimal (``1,5 %`` in Vietnamese)."""
    return str(format_percent(ratio, format="#,##0.0 %", locale=lang_of(lang)))


def when(value: datetime | None, lang: str, *, seconds: bool = False) -> str:
    """Local time (Asia/Ho_Chi_Minh): ``05/12/2026 09:30`` in Vietnamese."""
    if value is None:
        return t(lang, "never")
    pattern = (_DATETIME_SECONDS if seconds else _DATETIME)[lang_of(lang)]
    return str(format_datetime(value, pattern, tzinfo=LOCAL, locale=lang_of(lang)))


def age_text(seconds: float, lang: str) -> str:
    """A short age: 45 giây, 12 phút, 3 giờ 5 phút, 2 ngày 4 giờ (d/h/min/s in English)."""
    s = max(0, int(seconds))
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    u = {k: t(lang, f"unit_{k}") for k in ("d", "h", "min", "s")}
    if d:
        return f"{number(lang, d)} {u['d']} {h} {u['h']}"
    if h:
        return f"{h} {u['h']} {m} {u['min']}"
    if m:
        return f"{m} {u['min']}"
    return f"{sec} {u['s']}"
