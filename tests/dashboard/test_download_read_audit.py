"""An operator's download of a package's original bytes is a chained ``package.read`` event
in the package's own trace (Decree 13/2023: reads by anyone but the parties are traceable)."""

from __future__ import annotations

from hub.audit.service import verify_store
from hub.demo.factory import document
from hub.edxml import Organ
from tests.conftest import signer_for
from tests.dashboard.conftest import G22, H41, Dashboard


async def test_operator_download_is_audited_in_the_chain(dash: Dashboard) -> None:
    hub = dash.hub
    _, data = document(
        signer_for(hub.workdir, G22), [Organ(organ_id=H41, organ_name="UBND tỉnh")], number=41
    )
    sent = await (await hub.client(G22)).submit(data)
    session = await dash.login("viewer")
    try:
        async with session.get(f"{dash.url}/packages/{sent.package_id}/original") as resp:
            assert resp.status == 200 and await resp.read() == data
        async with session.get(f"{dash.url}/packages/{sent.package_id}/receipt") as resp:
            assert resp.status == 200
    finally:
        await session.close()
    reads = [
        e for e in await hub.runtime.store.events_for(sent.package_id) if e.kind == "package.read"
    ]
    assert [r.detail for r in reads] == [
        {"actor": "operator:viewer", "purpose": "dashboard download"}
    ]
    report = await verify_store(hub.runtime.store, hub.runtime.signer)
    assert report.ok, report.lines()
