"""The dashboard in a real browser: headless Debian Chromium driven by Playwright.

Log in, watch the counters move while packages flow (server-sent events), open a trace,
re-send a dead letter and see it delivered, check that a viewer cannot re-send, switch
languages. Without chromium (or the playwright package) the tests skip with the reason
printed, unless ``HUB_REQUIRE_SERVICES=1`` (CI), where they must run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hub.demo.factory import document
from hub.edxml import Organ
from tests.conftest import signer_for, skip_or_fail
from tests.dashboard.browser import CHROMIUM_ARGS, find_chromium
from tests.dashboard.conftest import G12, G22, H41, PASSWORDS, Dashboard
from tests.polling import until

try:
    from playwright.async_api import Browser, Page, async_playwright, expect
except ImportError:  # pragma: no cover - the dev extras install it
    async_playwright = None  # type: ignore[assignment]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's chromium (installed when missing and root), else skip or fail."""
    reason = ""
    found = find_chromium()
    if async_playwright is None:
        reason = "the playwright package is not installed: browser tests skipped"
    elif found is None:
        reason = "chromium is not installed and could not be installed: browser tests skipped"
    if reason:
        skip_or_fail(reason)
    assert found is not None
    return found


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


#: How long a page action or an ``expect`` may wait. Only a bound against a hang: live counters
#: arrive with the dashboard's 2 s pulse after the delivery work, and headless chromium shares
#: the machine with the hub, so a missed pulse plus a slow render must not fail a test.
TIMEOUT_MS = 20_000


def use_timeouts(page: Page) -> None:
    """The one place the browser tests' timeouts are set: the page's actions and ``expect``
    (whose own default of 5 s ``set_default_timeout`` does not change)."""
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)


async def login(browser: Browser, dash: Dashboard, username: str) -> Page:
    page = await browser.new_page(locale="vi-VN")
    use_timeouts(page)
    await page.goto(dash.url + "/")
    assert page.url.endswith("/dashboard/login")
    await page.fill('input[name="username"]', username)
    await page.fill('input[name="password"]', PASSWORDS[username])
    await page.click('button[type="submit"]')
    await page.wait_for_url(dash.url + "/")
    return page


async def send(dash: Dashboard, number: int, to: str = H41) -> str:
    _, data = document(signer_for(dash.hub.workdir, G22), [Organ(organ_id=to)], number=number)
    return (await (await dash.hub.client(G22)).submit(data)).package_id


async def test_login_live_counts_and_trace(dash: Dashboard, browser: Browser) -> None:
    page = await login(browser, dash, "ops")
    packages = page.locator('[data-live="packages"]')
    await expect(packages).to_have_text("0")
    await expect(page).to_have_title("Tổng quan · Bảng điều phối trục liên thông")
    # packages flow while the page is open: the counters follow without a reload
    ids = [await send(dash, n) for n in range(1, 4)]
    await expect(packages).to_have_text("3")
    await expect(page.locator(f'[data-live="unacked-{H41}"]')).to_have_text("3")
    # search by the receiving agency and open one trace
    await page.click('a[data-nav="packages"]')
    await page.fill('input[name="organ_id"]', H41)
    await page.click('form.search button[type="submit"]')
    await expect(page.locator("#results a.pkg")).to_have_count(3)
    await page.click(f'#results a[href="/dashboard/packages/{ids[0]}"]')
    timeline = page.locator("#timeline")
    await expect(timeline).to_contain_text("Đã tiếp nhận")  # event kinds in words
    await expect(timeline.locator('li[data-kind="available"]').first).to_be_visible()
    await expect(page.locator(f'[data-delivery="{H41}"]')).to_have_text("chờ cơ quan nhận tải về")
    await expect(page.locator(f'[data-delivery="{H41}"]')).to_have_attribute(
        "data-state", "available"
    )
    await expect(page.locator(".facts")).to_contain_text("Văn phòng Chính phủ")  # the signer
    # the original bytes download unchanged
    async with page.expect_download() as info:
        await page.click('a[href$="/original"]')
    download = await info.value
    path = await download.path()
    assert path is not None
    stored = await dash.hub.runtime.store.get_bytes(ids[0])
    assert path.read_bytes() == stored
    # switch to English and back
    await page.click("a[data-lang-switch=en]")
    await expect(page.locator("h2").first).to_have_text("Deliveries per recipient")
    await page.click("a[data-lang-switch=vi]")
    await expect(page.locator("h2").first).to_have_text("Chuyển phát theo nơi nhận")


async def test_resend_dead_letter_until_delivered(dash: Dashboard, browser: Browser) -> None:
    package_id = await send(dash, 11, to=G12)
    store = dash.hub.runtime.store

    async def state_is(state: str) -> bool:
        d = await store.get_delivery(package_id, G12)
        return d is not None and d.state.value == state

    await until(lambda: state_is("dead"), what="dead letter")
    page = await login(browser, dash, "ops")
    await expect(page.locator('[data-live="dead"]')).to_have_text("1")
    await page.click('a[data-nav="dead"]')
    row = page.locator("#dead-letters tbody tr")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("500")  # the reason: the receiver's answer
    dash.receiver.failing = False  # the agency fixed its system
    await page.check(f'input[name="key"][value="{package_id}|{G12}"]')
    await page.click('button[data-action="resend"]')
    # a confirm page lists the selection before anything happens
    await expect(page.locator(".selection li")).to_have_count(1)
    assert (await store.get_delivery(package_id, G12)).state.value == "dead"  # type: ignore[union-attr]
    await page.click('button[data-action="confirm-resend"]')
    await expect(page.locator(".flash")).to_contain_text("Đã gửi lại 1 mục.")
    await until(lambda: state_is("acked"), what="re-sent delivery acknowledged")
    assert dash.receiver.received == [package_id]
    await expect(page.locator("#dead-letters tbody tr")).to_have_count(0)
    await page.goto(f"{dash.url}/packages/{package_id}")
    await expect(page.locator(f'[data-delivery="{G12}"]')).to_have_attribute("data-state", "acked")
    await expect(page.locator("#timeline")).to_contain_text("Hành động")  # detail in words
    await expect(page.locator("#timeline")).to_contain_text("gửi lại")
    await page.click('a[data-nav="audit"]')
    await expect(page.locator('#audit tr[data-action="dead.resend"]')).to_contain_text("Gửi lại")
    await expect(page.locator("#audit")).to_contain_text("ops")


async def test_viewer_cannot_resend(dash: Dashboard, browser: Browser) -> None:
    package_id = await send(dash, 21, to=G12)

    async def dead() -> bool:
        d = await dash.hub.runtime.store.get_delivery(package_id, G12)
        return d is not None and d.state.value == "dead"

    await until(dead, what="dead letter")
    page = await login(browser, dash, "viewer")
    await page.click('a[data-nav="dead"]')
    await expect(page.locator("#dead-letters tbody tr")).to_have_count(1)
    await expect(page.locator('button[data-action="resend"]')).to_have_count(0)
    await expect(page.locator('input[name="key"]')).to_have_count(0)
    # even a hand-made request with the viewer's own valid CSRF token is refused
    status = await page.evaluate(
        """async ([key]) => {
            const body = new URLSearchParams({csrf: document.body.dataset.csrf,
                                              action: "resend", key});
            const r = await fetch("/dashboard/dead", {method: "POST", body});
            return r.status;
        }""",
        [f"{package_id}|{G12}"],
    )
    assert status == 403
    d = await dash.hub.runtime.store.get_delivery(package_id, G12)
    assert d is not None and d.state.value == "dead"
    await page.click('a[data-nav="agencies"]')
    await expect(page.locator('[data-action^="disable-"]')).to_have_count(0)
    # the confirm pages refuse a viewer too, as an HTML page in Vietnamese
    await page.goto(f"{dash.url}/agencies/{G22}/disable")
    await expect(page.locator("section.error")).to_have_attribute("data-status", "403")
    await expect(page.locator("h1")).to_have_text("Lỗi 403")
