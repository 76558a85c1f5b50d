"""Where an agency's signature profile comes from: a runtime change, else agencies.toml, else
the hub-wide ``[signing] allow_legacy``."""

from __future__ import annotations

import pytest

from hub.config import AgencyConfig, load_agencies
from hub.demo.workdir import Workdir
from hub.errors import ConfigError
from hub.models import AgencyOverride
from hub.registry import Registry

G22, H41, H14 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H14"
AGENCIES = {
    G22: AgencyConfig(G22, "Văn phòng Chính phủ", signature_profile="legacy"),
    H41: AgencyConfig(H41, "UBND Tỉnh Nghệ An", signature_profile="strict"),
    H14: AgencyConfig(H14, "UBND Tỉnh Cao Bằng"),
}


@pytest.mark.parametrize("allow_legacy", [False, True])
def test_own_profile_else_the_hub_wide_default(allow_legacy: bool) -> None:
    registry = Registry(AGENCIES, allow_legacy=allow_legacy)
    assert registry.signature_profile(G22) == "legacy"
    assert registry.signature_profile(H41) == "strict"
    assert registry.signature_profile(H14) == ("legacy" if allow_legacy else "strict")
    assert registry.legacy_allowed(H14) is allow_legacy
    assert registry.any_legacy()  # G22


def test_strict_is_the_default_and_runtime_changes_win() -> None:
    registry = Registry({H14: AGENCIES[H14]})
    assert registry.signature_profile(H14) == "strict" and not registry.any_legacy()
    registry.apply([AgencyOverride(organ_id=H14, signature_profile="legacy")])
    assert registry.legacy_allowed(H14) and registry.any_legacy()
    # A change that does not name the profile (disable) keeps it; reload starts again.
    registry.reload([AgencyOverride(organ_id=H14, signature_profile="legacy", enabled=False)])
    assert registry.legacy_allowed(H14) and not registry.is_active(H14)
    registry.reload([AgencyOverride(organ_id=H14, signature_profile="strict")])
    assert not registry.any_legacy()
    registry.reload([])
    assert registry.signature_profile(H14) == "strict"
    assert registry.signature_profile("000.00.00.Z99") == "strict"  # unknown: the default


def test_agencies_toml_profile_is_read_and_checked(workdir: Workdir) -> None:
    path = workdir.config_dir / "agencies.toml"
    text = path.read_text(encoding="utf-8")
    line = f'organ_id = "{G22}"\n'
    path.write_text(text.replace(line, f'{line}signature_profile = "legacy"\n'), "utf-8")
    agencies = load_agencies(workdir.config_dir)
    assert agencies[G22].signature_profile == "legacy"
    assert agencies[H41].signature_profile is None
    path.write_text(text.replace(line, f'{line}signature_profile = "lenient"\n'), "utf-8")
    with pytest.raises(
        ConfigError, match="signature_profile: expected one of 'strict' or 'legacy'"
    ):
        load_agencies(workdir.config_dir)
