"""Configuration loading: the shipped template, overrides, and clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import load_config
from hub.errors import ConfigError

TEMPLATE = Path(__file__).resolve().parent.parent / "config"


def test_shipped_template_loads() -> None:
    config = load_config(TEMPLATE, env={})
    assert config.settings.hub_id == "hub-province-h41"
    assert config.settings.max_package_bytes == 20 * 1024 * 1024
    assert config.agencies["000.00.00.G22"].delivery == "push"
    assert len(config.agencies["000.00.00.G22"].cert_sha256) == 2
    assert config.routes[0].add == ("000.00.01.H41",)
    assert all(p.is_absolute() for p in config.settings.trust_anchors)


def test_environment_overrides_settings() -> None:
    config = load_config(TEMPLATE, env={"HUB_HTTP_PORT": "9443", "HUB_INGEST_PROCESSES": "1"})
    assert config.settings.http.port == 9443
    assert config.settings.ingest_processes == 1


def _write(tmp: Path, agencies: str, hub: str = "", routes: str = "") -> Path:
    (tmp / "hub.toml").write_text(hub or '[signing]\ntrust_anchors = ["ca.pem"]\n')
    (tmp / "agencies.toml").write_text(agencies)
    (tmp / "routes.toml").write_text(routes)
    return tmp


@pytest.mark.parametrize(
    ("agencies", "routes", "message"),
    [
        ('[[agency]]\norgan_id = "H41"\n', "", "agency identifier code"),
        (
            '[[agency]]\norgan_id = "000.00.00.H41"\n[[agency]]\norgan_id = "000.00.00.H41"\n',
            "",
            "duplicate",
        ),
        ('[[agency]]\norgan_id = "000.00.00.H41"\ndelivery = "push"\n', "", "push_url"),
        (
            '[[agency]]\norgan_id = "000.00.00.H41"\n',
            '[[copy]]\nfrom = "*"\nadd = ["000.00.00.H99"]\n',
            "unknown agency",
        ),
    ],
)
def test_invalid_configuration_is_refused_clearly(
    tmp_path: Path, agencies: str, routes: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, agencies, routes=routes), env={})


def test_trust_anchors_are_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="trust_anchors"):
        load_config(_write(tmp_path, "", hub="[hub]\nid = 'x'\n"), env={})
