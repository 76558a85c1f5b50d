"""The dashboard's package page says who received a package for whom (issue 10, sub-units)."""

from __future__ import annotations

import html
import re

from hub.demo.factory import document
from hub.edxml import Organ
from tests.conftest import signer_for
from tests.dashboard.conftest import G22, Dashboard
from tests.polling import until

H29, H29_DEPT = "000.00.00.H29", "000.00.13.H29"


async def test_package_page_shows_the_subunit_a_delivery_stands_for(dash: Dashboard) -> None:
    hub = dash.hub
    _, data = document(
        signer_for(hub.workdir, G22), [Organ(organ_id=H29_DEPT, organ_name="Sở")], number=77
    )
    sent = await (await hub.client(G22)).submit(data)

    async def available() -> bool:
        d = await hub.runtime.store.get_delivery(sent.package_id, H29)
        return d is not None and d.state.value == "available"

    await until(available, what="delivery available")
    session = await dash.login("viewer")
    try:
        async with session.get(f"{dash.url}/lang/en") as resp:
            assert resp.status == 200
        async with session.get(f"{dash.url}/packages/{sent.package_id}") as resp:
            assert resp.status == 200
            page = html.unescape(re.sub(r"<[^>]+>", "", await resp.text()))  # the text
    finally:
        await session.close()
    # The deliveries table and the timeline (represented, available) name the sub-unit.
    name = hub.runtime.registry.get(H29).name  # every code is shown with its agency's name
    assert re.search(rf"{re.escape(H29)} {re.escape(name)}\s*\(for {re.escape(H29_DEPT)}", page)
    assert page.count(f"(for {H29_DEPT}") >= 3
    assert f"delivered to {H29} for {H29_DEPT}" in page
