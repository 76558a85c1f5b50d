"""``[signing] fetch_online`` / ``fetch_timeout`` (issue 14) and what ``auto`` resolves to."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import load_settings
from hub.errors import ConfigError


def _settings(tmp_path: Path, signing: str) -> object:
    (tmp_path / "hub.toml").write_text(
        f'[signing]\ntrust_anchors = ["ca.pem"]\n{signing}\n', encoding="utf-8"
    )
    return load_settings(tmp_path, env={})


def test_off_by_default(tmp_path: Path) -> None:
    s = _settings(tmp_path, "")
    assert (s.fetch_online, s.fetch_timeout, s.revocation) == (False, 2.0, "off")  # type: ignore[attr-defined]


def test_fetch_online_makes_auto_hard_fail(tmp_path: Path) -> None:
    s = _settings(tmp_path, "fetch_online = true\nfetch_timeout = 0.5")
    assert (s.fetch_online, s.fetch_timeout, s.revocation) == (True, 0.5, "hard-fail")  # type: ignore[attr-defined]
    s = _settings(tmp_path, 'fetch_online = true\nrevocation = "soft-fail"')
    assert s.revocation == "soft-fail"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "bad",
    [
        'fetch_online = "yes"',
        "fetch_timeout = 0",
        "fetch_timeout = 600",
        'fetch_timeout = "2"',
        "fetch_timeout = true",
    ],
)
def test_bad_values_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError):
        _settings(tmp_path, bad)
