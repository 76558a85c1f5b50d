"""The dashboard's package search by Subject (issue 10): words with or without diacritics,
the Subject column in both languages, and DocumentId search in either normal form."""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Callable

from hub.demo.factory import Signer, document
from hub.edxml import Organ
from tests.dashboard.conftest import G22, H41, Dashboard

QUYET_DINH = "Quyết định về việc ban hành Quy chế phối hợp trong công tác văn thư"
CONG_VAN = "Công văn đôn đốc triển khai dịch vụ công trực tuyến toàn trình"
DOC_ID = f"{G22},2026/03/02,7/QĐ-Bộ Tư pháp"


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


async def test_search_by_subject_and_document_id(
    dash: Dashboard, signers: Callable[[str], Signer]
) -> None:
    g22 = await dash.hub.client(G22)
    _, data = document(
        signers(G22), [Organ(organ_id=H41)], number=7, subject=QUYET_DINH, document_id=nfd(DOC_ID)
    )
    hit = await g22.submit(data)
    _, data = document(signers(G22), [Organ(organ_id=H41)], number=8, subject=CONG_VAN)
    miss = await g22.submit(data)
    session = await dash.login("viewer")
    try:
        for q in ("quyet dinh", "Quyết Định", nfd("QUYẾT ĐỊNH")):
            async with session.get(dash.url + "/packages", params={"subject": q}) as resp:
                assert resp.status == 200
                page = html.unescape(await resp.text())
            assert hit.package_id in page and miss.package_id not in page, q
            assert QUYET_DINH in page and "Trích yếu" in page  # the column, in Vietnamese
        for asked in (DOC_ID, nfd(DOC_ID)):  # the key is NFC; either form finds it
            async with session.get(dash.url + "/packages", params={"document_id": asked}) as resp:
                page = html.unescape(await resp.text())
            assert hit.package_id in page and miss.package_id not in page
        async with session.get(dash.url + "/lang/en") as resp:
            assert resp.status in (200, 303)
        async with session.get(dash.url + "/packages", params={"subject": "dich vu"}) as resp:
            page = html.unescape(await resp.text())
        assert miss.package_id in page and hit.package_id not in page
        assert "Subject" in page and CONG_VAN in page
        async with session.get(dash.url + f"/packages/{hit.package_id}") as resp:
            page = html.unescape(await resp.text())
        assert QUYET_DINH in page  # the detail page shows it too
        too_many = " ".join(f"w{i}" for i in range(17))
        async with session.get(dash.url + "/packages", params={"subject": too_many}) as resp:
            assert resp.status == 400
    finally:
        await session.close()
