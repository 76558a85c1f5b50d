"""The typed configuration schema: unknown keys and wrong types refused with the file, the key
path and the expected type; renamed keys accepted with a warning; the templates in config/
list every key; config/README.md lists every file; ``hub config check``."""

from __future__ import annotations

import itertools
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from hub.adapter.connector import ConnectorConfigError, load_connector_config
from hub.cli import main
from hub.config import load_agencies, load_config, load_routes, load_settings
from hub.config_schema import FILES, HubToml, apply_renames, check_file
from hub.demo.workdir import Workdir
from hub.errors import ConfigError
from hub.lifecycle.calendar import load_calendar
from hub.lifecycle.procedures import load_catalogue
from tests.conftest import PROJECT_ROOT

TEMPLATES = PROJECT_ROOT / "config"


def _refused(call: Any, *parts: str) -> str:
    with pytest.raises(ConfigError) as err:
        call()
    for part in parts:
        assert part in err.value.detail, err.value.detail
    return err.value.detail


def _hub_toml(tmp_path: Path, text: str) -> Path:
    (tmp_path / "hub.toml").write_text(text, encoding="utf-8")
    return tmp_path


def test_wrong_type_names_file_key_and_expected_type(tmp_path: Path) -> None:
    cfg = _hub_toml(tmp_path, '[delivery]\nmax_attempts = "four"\n')
    _refused(
        lambda: load_settings(cfg, env={}),
        str(tmp_path / "hub.toml"),
        "[delivery] max_attempts: expected an integer, got 'four'",
    )


def test_misspelt_key_and_section_are_refused_with_a_suggestion(tmp_path: Path) -> None:
    cfg = _hub_toml(tmp_path, "[delivery]\nmax_atempts = 3\n[delivry]\nconcurrency = 2\n")
    detail = _refused(lambda: load_settings(cfg, env={}), "hub.toml")
    assert "[delivery] max_atempts: unknown key (did you mean max_attempts?)" in detail
    assert "[delivry]: unknown section (did you mean delivery?)" in detail


def test_choices_ranges_and_nested_tables(tmp_path: Path) -> None:
    cfg = _hub_toml(
        tmp_path,
        '[store]\nkind = "mysql"\n[http]\nport = 70000\n'
        '[signing]\ntrust_anchors = "ca.pem"\nreceipt_rotation = [{ key = "k.pem" }]\n',
    )
    detail = _refused(lambda: load_settings(cfg, env={}), "hub.toml")
    assert "[store] kind: expected one of 'sqlite' or 'postgresql', got 'mysql'" in detail
    assert "[http] port: " in detail and "65535" in detail
    assert "[signing] trust_anchors: expected a list, got 'ca.pem'" in detail
    assert "[signing] receipt_rotation #1 cert: required key missing" in detail


def test_sections_other_modules_read_are_checked_too(tmp_path: Path) -> None:
    cfg = _hub_toml(
        tmp_path,
        '[audit]\ncheckpoint_interval = "often"\n[retention]\npackage_dayz = 1\n'
        "[storage]\nencryption_key_file = 3\n[lifecycle]\nsilent_after_days = -1\n",
    )
    detail = _refused(lambda: load_settings(cfg, env={}), "hub.toml")
    assert "[audit] checkpoint_interval: expected a number, got 'often'" in detail
    assert "[retention] package_dayz: unknown key (did you mean package_days?)" in detail
    assert "[storage] encryption_key_file: expected a string, got 3" in detail
    assert "[lifecycle] silent_after_days" in detail


def test_agencies_routes_holidays_procedures(tmp_path: Path) -> None:
    (tmp_path / "agencies.toml").write_text(
        '[[agency]]\norgan_id = "000.00.00.H41"\ndelivery = "fax"\n'
        '[[agency]]\norgan_id = "000.00.00.G22"\ncert_sha256 = [1]\nnmae = "x"\n'
    )
    detail = _refused(lambda: load_agencies(tmp_path), "agencies.toml")
    assert "[[agency]] #1 delivery: expected one of 'pull' or 'push', got 'fax'" in detail
    assert "[[agency]] #2 cert_sha256 #1: expected a string, got 1" in detail
    assert "[[agency]] #2 nmae: unknown key (did you mean name?)" in detail

    (tmp_path / "routes.toml").write_text('[[copy]]\nfrom = "*"\nad = ["000.00.00.H41"]\n')
    _refused(lambda: load_routes(tmp_path), "[[copy]] #1 ad: unknown key (did you mean add?)")

    (tmp_path / "holidays.toml").write_text("weekend = [6, 8]\nholidayz = []\n")
    detail = _refused(lambda: load_calendar(tmp_path / "holidays.toml"), "holidays.toml")
    assert "weekend #2: " in detail and "holidayz: unknown key" in detail

    (tmp_path / "procedures.toml").write_text(
        '[[procedure]]\nma_tthc = "1"\nname = "x"\nlevel = "3"\nagency = "000.00.00.H41"\n'
        "time_limit_days = 3\n"
    )
    _refused(
        lambda: load_catalogue(tmp_path / "procedures.toml"),
        "[[procedure]] #1 level: expected an integer, got '3'",
    )


def test_templates_are_valid() -> None:
    for name in FILES:
        path = TEMPLATES / name
        assert check_file(name, tomllib.loads(path.read_text("utf-8")), path) == []


def _schema_keys(model: type[BaseModel]) -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        keys.add(field.alias or name)
        annotation: Any = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))
        for member in (annotation, *inner):
            if isinstance(member, type) and issubclass(member, BaseModel):
                keys |= _schema_keys(member)
    return keys


def test_every_schema_key_is_in_its_template_with_a_comment() -> None:
    for name, schema in FILES.items():
        text = (TEMPLATES / name).read_text("utf-8")
        written = set(re.findall(r"(?:^|[#{,]\s*|\s)(\w+)\s*=", text, re.MULTILINE))
        written |= set(re.findall(r"^(?:# )?\[\[?(\w+)\]?\]", text, re.MULTILINE))
        missing = _schema_keys(schema) - written
        assert not missing, f"config/{name} does not list {sorted(missing)}"
    hub_text = (TEMPLATES / "hub.toml").read_text("utf-8")
    for section in HubToml.model_fields:  # every section present, uncommented
        assert f"\n[{section}]\n" in hub_text, section
    lines = hub_text.splitlines()
    for before, line in itertools.pairwise(lines):  # every setting says what it is
        if re.match(r"^\w+\s*=", line):
            assert "#" in line or before.startswith("#"), f"no comment: {line}"


def test_config_readme_lists_every_file() -> None:
    readme = (TEMPLATES / "README.md").read_text("utf-8")
    for path in TEMPLATES.iterdir():
        if path.name == "README.md":
            continue
        shown = f"`{path.name}/`" if path.is_dir() else f"`{path.name}`"
        assert shown in readme, f"config/README.md does not list {shown}"


def test_renamed_key_is_moved_with_a_warning() -> None:
    renames = {("delivery", "max_tries"): "max_attempts", ("agency", "certs"): "cert_sha256"}
    doc: dict[str, Any] = {
        "delivery": {"max_tries": 3},
        "agency": [{"organ_id": "000.00.00.H41", "certs": ["ab"]}, {"organ_id": "x"}],
    }
    warnings = apply_renames(doc, renames, "hub.toml")
    assert doc["delivery"] == {"max_attempts": 3}
    assert doc["agency"][0] == {"organ_id": "000.00.00.H41", "cert_sha256": ["ab"]}
    assert warnings == [
        "hub.toml: [delivery] max_tries is deprecated, renamed to max_attempts (the old name "
        "is accepted for one release)",
        "hub.toml: [agency] certs is deprecated, renamed to cert_sha256 (the old name is "
        "accepted for one release)",
    ]
    both = {"delivery": {"max_tries": 3, "max_attempts": 4}}
    with pytest.raises(ConfigError, match="both set; keep only max_attempts"):
        apply_renames(both, renames, "hub.toml")


def _connector(tmp_path: Path, adapter: str, settings: str = "") -> Path:
    path = tmp_path / "connector.toml"
    path.write_text(
        'organ_id = "000.00.00.H29"\nhub_url = "http://127.0.0.1:9"\ntoken_file = "t"\n'
        f'key_file = "k"\ncert_file = "c"\ntrust_anchors = []\n[adapter]\nname = "{adapter}"\n'
        f"[adapter.settings]\n{settings}"
    )
    return path


def test_connector_and_adapter_settings_are_checked(tmp_path: Path) -> None:
    misspelt = _connector(tmp_path, "igate", 'base_url = "x"\n')
    misspelt.write_text("poll_intreval = 1\n" + misspelt.read_text())
    with pytest.raises(ConnectorConfigError, match=r"poll_intreval: unknown key"):
        load_connector_config(misspelt)
    with pytest.raises(ConnectorConfigError) as err:
        load_connector_config(_connector(tmp_path, "igate", 'base_url = "x"\ntimeout = "10s"\n'))
    assert "[adapter] settings.timeout: expected a number, got '10s'" in str(err.value)
    with pytest.raises(ConnectorConfigError, match=r"settings\.base_url: required key missing"):
        load_connector_config(_connector(tmp_path, "igate"))
    with pytest.raises(ConnectorConfigError, match="no such adapter"):
        load_connector_config(_connector(tmp_path, "no_such_adapter"))
    config = load_connector_config(_connector(tmp_path, "sqldb", 'schema = "agency"\n'))
    assert config.adapter_settings == {"schema": "agency"}


def test_hub_config_check(workdir: Workdir, tmp_path: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(main, ["config", "check", str(workdir.config_dir)])
    assert good.exit_code == 0, good.output
    load_config(workdir.config_dir)

    template = runner.invoke(main, ["config", "check", str(TEMPLATES)])
    assert template.exit_code == 1
    assert "/etc/hub/receipt/key.pem does not exist" in template.output
    assert "hub pki init" in template.output

    cfg = _hub_toml(tmp_path, '[delivery]\nmax_attempts = "four"\n')
    (tmp_path / "agencies.toml").write_text("")
    bad = runner.invoke(main, ["config", "check", str(cfg)])
    assert bad.exit_code == 1 and "[delivery] max_attempts: expected an integer" in bad.output
