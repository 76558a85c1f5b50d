"""Capture the dashboard's pages from a running demo into ``docs/screenshots/``.

    .venv/bin/hub demo --workdir demo-work --port 18094 --serve &
    printf 'PASSWORD\\n' | .venv/bin/hub operator add ops --role operator \\
        --config demo-work/config --password-stdin
    .venv/bin/python -m tests.dashboard.screenshots --url http://127.0.0.1:18094 \\
        --user ops --password PASSWORD

Every page in Vietnamese (``NAME.png``), the overview, agencies and trace in English
(``NAME-en.png``), and the overview, dead letters and trace on a 390 px phone
(``NAME-phone.png``); the confirm page of "disable agency", a 404 page, and the confirm page of
a re-send when the demo left a dead letter. Headless Debian chromium through playwright
(``executable_path``, never a browser download).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from playwright.async_api import Page, async_playwright

from tests.dashboard.browser import CHROMIUM_ARGS, find_chromium

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PAGES = (
    ("overview", "/dashboard/"),
    ("agencies", "/dashboard/agencies"),
    ("packages", "/dashboard/packages"),
    ("stuck", "/dashboard/stuck"),
    ("dead-letters", "/dashboard/dead"),
    ("audit", "/dashboard/audit"),
)


async def _trace_url(page: Page, url: str) -> str:
    await page.goto(url + "/dashboard/packages?kind=document")
    href = await page.get_attribute("#results a.pkg >> nth=0", "href")
    assert href
    return url + href


async def _shoot(page: Page, url: str, lang: str, names: set[str] | None, suffix: str) -> None:
    await page.goto(url + f"/dashboard/lang/{lang}")
    for name, path in (*PAGES, ("trace", await _trace_url(page, url))):
        if names is not None and name not in names:
            continue
        await page.goto(path if path.startswith("http") else url + path)
        if name == "overview":
            await page.wait_for_timeout(2500)  # one live update
        await page.screenshot(path=str(OUT / f"{name}{suffix}.png"), full_page=True)
    if names is None:
        await page.goto(url + "/dashboard/agencies/000.00.00.H41/disable")
        await page.screenshot(path=str(OUT / "confirm-disable.png"), full_page=True)
        await page.goto(url + "/dashboard/packages/no-such-package")
        await page.screenshot(path=str(OUT / "not-found.png"), full_page=True)
    if names is None or "confirm" in names:
        await page.goto(url + "/dashboard/dead")
        boxes = page.locator('input[name="key"]')
        if await boxes.count():
            await boxes.first.check()
            await page.click('button[data-action="resend"]')
            await page.screenshot(path=str(OUT / f"confirm-resend{suffix}.png"), full_page=True)


async def capture(url: str, user: str, password: str) -> None:
    chromium = find_chromium(install=False)
    assert chromium, "chromium is not installed"
    OUT.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for width, suffix, lang, names in (
            (1400, "", "vi", None),
            (1400, "-en", "en", {"overview", "agencies", "trace"}),
            (390, "-phone", "vi", {"overview", "dead-letters", "trace"}),
        ):
            page = await browser.new_page(viewport={"width": width, "height": 900})
            await page.goto(url + "/dashboard/login")
            if not suffix:
                await page.screenshot(path=str(OUT / "login.png"))
            await page.fill('input[name="username"]', user)
            await page.fill('input[name="password"]', password)
            await page.click('button[type="submit"]')
            await page.wait_for_url(url + "/dashboard/")
            await _shoot(page, url, lang, names, suffix)
            await page.goto(url + "/dashboard/lang/vi")
            await page.close()
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:18094")
    parser.add_argument("--user", default="ops")
    parser.add_argument("--password", required=True)
    args = parser.parse_args()
    asyncio.run(capture(args.url, args.user, args.password))


if __name__ == "__main__":
    main()
