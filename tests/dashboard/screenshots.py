"""Capture the dashboard's pages from a running demo into ``docs/screenshots/``.

    .venv/bin/hub demo --workdir /tmp/dw6 --port 18766 --serve &
    printf 'PASSWORD\\n' | .venv/bin/hub operator add ops --role operator \\
        --config /tmp/dw6/config --password-stdin
    .venv/bin/python -m tests.dashboard.screenshots --url http://127.0.0.1:18766 \\
        --user ops --password PASSWORD

Headless Debian chromium through playwright (``executable_path``, never a browser download).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from playwright.async_api import async_playwright

from tests.dashboard.browser import CHROMIUM_ARGS, find_chromium

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


async def capture(url: str, user: str, password: str, lang: str) -> None:
    chromium = find_chromium(install=False)
    assert chromium, "chromium is not installed"
    OUT.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await page.goto(url + "/dashboard/login")
        await page.screenshot(path=str(OUT / "login.png"))
        await page.fill('input[name="username"]', user)
        await page.fill('input[name="password"]', password)
        await page.click('button[type="submit"]')
        await page.wait_for_url(url + "/dashboard/")
        if lang == "en":
            await page.click("a[data-lang-switch=en]")
        await page.wait_for_timeout(2500)  # one live update
        await page.screenshot(path=str(OUT / "overview.png"), full_page=True)
        for name, path in (
            ("agencies", "/dashboard/agencies"),
            ("packages", "/dashboard/packages"),
            ("stuck", "/dashboard/stuck"),
            ("dead-letters", "/dashboard/dead"),
        ):
            await page.goto(url + path)
            await page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
        await page.goto(url + "/dashboard/packages?kind=document")
        await page.click("#results a.pkg >> nth=0")
        await page.screenshot(path=str(OUT / "trace.png"), full_page=True)
        await page.goto(url + "/dashboard/audit")
        await page.screenshot(path=str(OUT / "audit.png"), full_page=True)
        await page.click("a[data-lang-switch=en]")
        await page.goto(url + "/dashboard/")
        await page.wait_for_timeout(2500)
        await page.screenshot(path=str(OUT / "overview-en.png"), full_page=True)
        await page.click("a[data-lang-switch=vi]")
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:18766")
    parser.add_argument("--user", default="ops")
    parser.add_argument("--password", required=True)
    parser.add_argument("--lang", default="vi", choices=["vi", "en"])
    args = parser.parse_args()
    asyncio.run(capture(args.url, args.user, args.password, args.lang))


if __name__ == "__main__":
    main()
