"""The Agencies page shows each agency's signature profile and flags the agencies whose latest
package was signed under the legacy profile (who still has to upgrade), in both languages."""

from __future__ import annotations

import re

from hub.admin import set_signature_profile
from hub.config import load_config
from tests.api.test_signature_profiles import g22_legacy
from tests.conftest import signer_for
from tests.dashboard.conftest import G22, H41, Dashboard


def row_of(page: str, organ_id: str) -> str:
    rows = [r for r in re.findall(r"<tr[ >].*?</tr>", page, re.S) if f">{organ_id}</a>" in r]
    assert len(rows) == 1, f"no single row for {organ_id}"
    return rows[0]


async def test_agency_rows_show_the_profile_and_the_legacy_signed_latest_package(
    dash: Dashboard,
) -> None:
    hub = dash.hub
    await set_signature_profile(load_config(hub.workdir.config_dir), G22, "legacy", "bộ công cụ")
    hub.runtime.registry.reload(await hub.runtime.store.agency_overrides())
    submitted = await (await hub.client(G22)).submit(
        g22_legacy(lambda organ_id: signer_for(hub.workdir, organ_id))
    )
    assert submitted.created

    session = await dash.login("viewer")
    try:
        async with session.get(dash.url + "/agencies") as resp:  # Vietnamese, the default
            vi = await resp.text()
        session.cookie_jar.update_cookies({"hub_lang": "en"})
        async with session.get(dash.url + "/agencies") as resp:
            en = await resp.text()
    finally:
        await session.close()

    assert "<th>Chuẩn chữ ký số</th>" in vi and "<th>Signature profile</th>" in en
    g22_vi, g22_en = row_of(vi, G22), row_of(en, G22)
    assert 'data-profile="legacy"' in g22_vi and 'data-profile="legacy"' in g22_en
    assert "chuẩn cũ (C14N 1.0, RSA-SHA1)" in g22_vi
    assert "gói gần nhất ký theo chuẩn cũ" in g22_vi
    assert "legacy (C14N 1.0, RSA-SHA1)" in g22_en and "latest package signed legacy" in g22_en
    h41_vi, h41_en = row_of(vi, H41), row_of(en, H41)
    assert 'data-profile="strict"' in h41_vi and "chặt chẽ" in h41_vi
    assert 'data-profile="strict"' in h41_en and ">strict<" in h41_en
    assert "latest package signed legacy" not in h41_en
