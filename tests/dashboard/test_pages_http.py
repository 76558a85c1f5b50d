"""The dashboard over plain HTTP (no browser needed): refusals are HTML pages in the
operator's language, never problem+json; values are escaped by the templates; re-send and
discard go through a confirm page, and a POST without it changes nothing."""

from __future__ import annotations

from hub.demo.factory import document
from hub.edxml import Organ
from tests.conftest import signer_for
from tests.dashboard.conftest import G12, G22, Dashboard, csrf_of
from tests.polling import until


async def test_refusals_are_html_pages_in_the_operators_language(dash: Dashboard) -> None:
    viewer = await dash.login("viewer")
    try:
        for path in ("/packages/khong-co-goi-nay", "/khong-co-trang-nay", "/lang/fr"):
            async with viewer.get(dash.url + path) as resp:
                assert resp.status == 404, path
                assert resp.content_type == "text/html", path
                page = await resp.text()
                assert '<html lang="vi">' in page and "Lỗi 404" in page, path
                assert "Không tìm thấy" in page and '"type"' not in page
        async with viewer.get(dash.url + "/") as resp:
            csrf = csrf_of(await resp.text())
        async with viewer.post(dash.url + "/dead", data={"csrf": csrf, "action": "resend"}) as resp:
            assert resp.status == 403 and resp.content_type == "text/html"
            assert "vai trò người vận hành" in await resp.text()
        async with viewer.post(dash.url + "/dead", data={"csrf": "giả", "action": "x"}) as resp:
            assert resp.status == 403 and "Biểu mẫu đã hết hạn" in await resp.text()
        viewer.cookie_jar.update_cookies({"hub_lang": "en"})
        async with viewer.get(dash.url + "/packages/no-such-package") as resp:
            assert resp.status == 404 and "No such page or package." in await resp.text()
    finally:
        await viewer.close()


async def test_resend_needs_the_confirm_page_and_values_are_escaped(dash: Dashboard) -> None:
    hub = dash.hub
    _, data = document(signer_for(hub.workdir, G22), [Organ(organ_id=G12)], number=9)
    package_id = (await (await hub.client(G22)).submit(data)).package_id
    store = hub.runtime.store

    async def state() -> str:
        d = await store.get_delivery(package_id, G12)
        return "" if d is None else d.state.value

    async def is_dead() -> bool:
        return await state() == "dead"

    await until(is_dead, what="dead letter")
    ops = await dash.login("ops")
    key = f"{package_id}|{G12}"
    try:
        async with ops.get(dash.url + "/dead") as resp:
            page = await resp.text()
            csrf = csrf_of(page)
        assert 'action="/dashboard/dead/confirm"' in page and 'method="get"' in page
        # a POST without confirmed=yes leads to the confirm page and changes nothing
        async with ops.post(
            dash.url + "/dead", data={"csrf": csrf, "action": "discard", "key": key}
        ) as resp:
            assert resp.status == 200 and "/dead/confirm" in str(resp.url)
            confirm = await resp.text()
        assert await state() == "dead"
        assert 'name="confirmed" value="yes"' in confirm and f'value="{key}"' in confirm
        assert "Bỏ qua 1 gói tin sau?" in confirm
        async with ops.post(
            dash.url + "/dead",
            data={"csrf": csrf, "action": "discard", "key": key, "confirmed": "yes"},
        ) as resp:
            assert resp.status == 200 and "Đã bỏ qua 1 mục." in await resp.text()
        # a reason with markup is shown as text (the templates autoescape)
        async with ops.post(
            f"{dash.url}/agencies/{G22}/disable",
            data={"csrf": csrf, "reason": "<script>alert(1)</script>", "confirmed": "yes"},
        ) as resp:
            assert resp.status == 200
        async with ops.get(dash.url + "/audit") as resp:
            audit = await resp.text()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in audit
        assert "<script>alert" not in audit
        # the flash message comes from the catalogue, never from the URL
        async with ops.get(dash.url + "/dead?done=<b>tin giả</b>&n=1") as resp:
            assert "tin giả" not in await resp.text()
    finally:
        await ops.close()
