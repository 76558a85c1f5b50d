"""Every dashboard page, in Vietnamese and English, at 1280 px and at 390 px (a phone), in
headless Debian chromium: no raw identifier or JSON in the text a person reads (no ``{"``, no
``snake_case`` state or code, no dotted refusal/warning/action codes), numbers in the page's
locale, and nothing wider than the screen (wide tables scroll inside their own box)."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from hub.cli import main
from tests.dashboard.conftest import G12, G22, H41, PASSWORDS, Dashboard
from tests.dashboard.test_browser import (  # noqa: F401  (fixtures)
    browser,
    chromium,
    send,
    use_timeouts,
)
from tests.polling import until

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

#: the outermost element that reaches past the right edge (for the failure message)
WIDEST = """(() => { const w = document.documentElement.clientWidth;
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest(".scroll") && !el.classList.contains("scroll")) continue;
    if (el.getBoundingClientRect().right > w + 1) return el.tagName + "." + el.className;
  } return ""; })()"""

RAW = [
    re.compile(r'\{"'),  # JSON
    re.compile(r"\b[a-z]+_[a-z_]+\b"),  # snake_case identifiers (dead_letter, organ_id…)
    re.compile(
        r"\b(?:lifecycle|signature|edxml|agency|dead|login|download|evidence|operator|package"
        r"|xml|pdf|route|auth|csrf|state|event|error|warning|action|kind)\.[a-z_]+"
    ),
]
#: delivery states as raw words: none of these may stand alone in a Vietnamese page
RAW_STATES_VI = re.compile(r"\b(?:pending|queued|available|delivered|acked|failed|dead)\b")


async def prepared(dash: Dashboard) -> tuple[str, str]:
    """A hub with traffic: available documents, a dead letter, dashboard and CLI actions."""
    ok = await send(dash, 1)
    await send(dash, 2)
    dead = await send(dash, 3, to=G12)

    async def is_dead() -> bool:
        d = await dash.hub.runtime.store.get_delivery(dead, G12)
        return d is not None and d.state.value == "dead"

    await until(is_dead, what="dead letter")
    config = str(dash.hub.workdir.config_dir)
    for args in (
        ["agency", "disable", H41, "--reason", "bảo trì", "--actor", "lan.nguyen"],
        ["agency", "enable", H41, "--reason", "xong"],
        ["agency", "set-profile", G22, "legacy"],
    ):
        result = await asyncio.to_thread(CliRunner().invoke, main, [*args, "--config", config])
        assert result.exit_code == 0, result.output
    return ok, dead


async def logged_in(browser: Browser, dash: Dashboard, width: int, lang: str) -> Page:  # noqa: F811
    page = await browser.new_page(viewport={"width": width, "height": 900})
    use_timeouts(page)
    await page.goto(dash.url + "/login")
    await page.fill('input[name="username"]', "ops")
    await page.fill('input[name="password"]', PASSWORDS["ops"])
    await page.click('button[type="submit"]')
    await page.wait_for_url(dash.url + "/")
    if lang == "en":
        await page.click("a[data-lang-switch=en]")
    return page


def check_text(text: str, lang: str, where: str) -> None:
    for pattern in RAW:
        found = pattern.search(text)
        assert found is None, f"{where}: raw {found.group(0)!r} in {text[:3000]}"
    if lang == "vi":
        found = RAW_STATES_VI.search(text)
        assert found is None, f"{where}: raw state {found.group(0)!r}"


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("lang", ["vi", "en"])
async def test_every_page_in_words_and_on_a_phone(
    dash: Dashboard,
    browser: Browser,  # noqa: F811
    lang: str,
    width: int,
) -> None:
    ok, dead = await prepared(dash)
    page = await logged_in(browser, dash, width, lang)
    paths = {
        "overview": "/",
        "agencies": "/agencies",
        "directory": "/directory",
        "packages": "/packages",
        "packages-dead": "/packages?state=dead",
        "trace": f"/packages/{ok}",
        "trace-dead": f"/packages/{dead}",
        "stuck": "/stuck",
        "dead-letters": "/dead",
        "confirm-resend": f"/dead/confirm?action=resend&key={dead}%7C{G12}",
        "confirm-disable": f"/agencies/{G22}/disable",
        "audit": "/audit",
        "missing-package": "/packages/no-such-package",
        "missing-page": "/no-such-page",
    }
    for name, path in paths.items():
        response = await page.goto(dash.url + path)
        assert response is not None
        expected = 404 if name.startswith("missing") else 200
        assert response.status == expected, (name, response.status)
        assert response.headers["content-type"].startswith("text/html"), name
        assert await page.get_attribute("html", "lang") == lang
        text = await page.inner_text("body")
        check_text(text, lang, f"{name} ({lang}, {width} px)")
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        widest = await page.evaluate(WIDEST) if overflow > 1 else ""
        assert overflow <= 1, f"{name} ({lang}, {width} px): {overflow} px too wide ({widest})"
        if name == "missing-package":
            assert ("Không tìm thấy" if lang == "vi" else "No such page") in text
    # the live overview writes numbers in the page's locale (no decimal point in Vietnamese)
    await page.goto(dash.url + "/")
    await page.wait_for_function("document.body.dataset.updated !== undefined")
    rate = await page.inner_text('[data-live="refusal_rate"]')
    assert re.fullmatch(r"\d+,\d %" if lang == "vi" else r"\d+\.\d %", rate), rate
    # the agency table shows the name beside every code
    await page.goto(dash.url + "/agencies")
    name = dash.hub.runtime.registry.get(H41).name  # type: ignore[union-attr]
    await page.locator(f'tr[data-organ="{H41}"] .organ-name').get_by_text(name).wait_for()
    await page.close()
