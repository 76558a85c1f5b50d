"""The dashboard's Danh bạ / Directory page (issue 11): connected agencies, then imported
directory entries with who receives for them, in both languages, searched and paged."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from hub.directory_import import import_directory
from tests.dashboard.conftest import Dashboard
from tests.directory_sample import H29, H29_TC, sample_csv

T = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


def text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


async def test_directory_page_lists_entries_under_the_connected_agencies(
    dash: Dashboard, tmp_path: Path
) -> None:
    rt = dash.hub.runtime
    data = sample_csv(tmp_path / "d.csv").read_bytes()
    await import_directory(rt.store, rt.registry, data, "csv", at=T)
    await import_directory(
        rt.store,
        rt.registry,
        "code,name\n000.00.16.H29,<b>Sở</b> & Ban\n".encode(),
        "csv",
        at=T,
    )
    session = await dash.login("viewer")
    try:
        async with session.get(f"{dash.url}/directory") as resp:
            assert resp.status == 200
            vi = await resp.text()
        async with session.get(f"{dash.url}/lang/en") as resp:
            assert resp.status == 200
        async with session.get(f"{dash.url}/directory") as resp:
            en = await resp.text()
        async with session.get(f"{dash.url}/directory?q=so+tai+chinh&show=entries") as resp:
            found = text(await resp.text())
    finally:
        await session.close()
    assert 'data-nav="directory"' in vi and "Danh bạ" in vi
    assert f"qua {H29}" in text(vi) and "chưa nhận được (từ chối)" in text(vi)
    page = text(en)
    assert f"through {H29}" in page and "not reachable (refused)" in page
    # connected agencies come first, then the directory entries
    assert page.index("UBND Thành phố Hà Nội") < page.index("Sở Tài chính Thành phố Hà Nội")
    assert page.rindex("itself (enabled)") < page.index("Văn phòng Ủy ban nhân dân")
    assert "&lt;b&gt;Sở&lt;/b&gt; &amp; Ban" in en  # names are escaped
    assert H29_TC in found and "000.00.14.H29" not in found and "itself" not in found


async def test_directory_page_pages_through_the_entries(dash: Dashboard) -> None:
    rt = dash.hub.runtime
    rows = "".join(f"000.00.{n:02d}.H29,Sở số {n}\n" for n in range(10, 80))
    await import_directory(rt.store, rt.registry, f"code,name\n{rows}".encode(), "csv", at=T)
    session = await dash.login("viewer")
    seen: list[str] = []
    try:
        url = f"{dash.url}/directory?show=entries"
        while url:
            async with session.get(url) as resp:
                assert resp.status == 200
                page = await resp.text()
            seen += re.findall(r"<tr><td>(000\.00\.\d\d\.H29)</td>", page)
            more = re.search(r'<a href="(/dashboard/directory\?[^"]+)">', page)
            url = dash.hub.url + html.unescape(more.group(1)) if more else ""
    finally:
        await session.close()
    assert seen == [f"000.00.{n:02d}.H29" for n in range(10, 80)]


async def test_directory_page_needs_an_operator_session(dash: Dashboard) -> None:
    token = dash.hub.workdir.token("000.00.00.G22")  # an agency's token opens nothing here
    async with (
        aiohttp.ClientSession() as s,
        s.get(
            f"{dash.url}/directory",
            headers={"Authorization": f"Bearer {token}"},
            allow_redirects=False,
        ) as resp,
    ):
        assert resp.status == 303 and resp.headers["Location"] == "/dashboard/login"
