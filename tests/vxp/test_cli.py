"""``hub vxp``: add-system shows the secret once and keeps it sealed (storage key) or in a 0600
file; list never shows it; disable/enable/rotate are recorded in the store (every worker reads
it per request) and audited."""

from __future__ import annotations

import asyncio
import base64
import os
import stat
from pathlib import Path

from click.testing import CliRunner

from hub.cli import main
from hub.config import load_config
from hub.models import VxpSystem
from hub.runtime import make_store
from hub.storage_crypto import MAGIC
from hub.vxp import protocol
from hub.vxp.systems import load_secret
from tests.conftest import WorkdirFactory

H41, SUB = "000.00.00.H41", "000.00.01.H41"


def hub_cli(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*args, "--config", str(config)])
    return result.exit_code, result.stdout, result.stderr


def stored(config: Path, system_id: str) -> VxpSystem | None:
    async def read() -> VxpSystem | None:
        async with make_store(load_config(config)) as store:
            return await store.get_vxp_system(system_id)

    return asyncio.run(read())


def secret_of(config: Path, system: VxpSystem) -> str:
    return load_secret(system, make_store(load_config(config)).blob_cipher)


def test_add_list_disable_rotate_with_a_secret_file(make_workdir: WorkdirFactory) -> None:
    wd = make_workdir()
    code, out, err = hub_cli(
        wd.config_dir, "vxp", "add-system", "vxp.nghean", "--agency", H41, "--agency", SUB
    )
    assert code == 0, err
    secret = out.strip()
    assert len(secret) >= 43 and "not shown again" in err
    system = stored(wd.config_dir, "vxp.nghean")
    assert system is not None and system.agencies == (H41, SUB) and system.secret is None
    path = Path(system.secret_file or "")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert secret_of(wd.config_dir, system) == secret
    # list: never the secret
    code, out, _ = hub_cli(wd.config_dir, "vxp", "list")
    assert code == 0 and "vxp.nghean" in out and secret not in out
    # a second add, an unknown agency: refused with exit 2
    assert hub_cli(wd.config_dir, "vxp", "add-system", "vxp.nghean", "--agency", H41)[0] == 2
    assert hub_cli(wd.config_dir, "vxp", "add-system", "x", "--agency", "000.00.00.A99")[0] == 2
    # disable / enable
    assert hub_cli(wd.config_dir, "vxp", "disable", "vxp.nghean", "--reason", "Tết")[0] == 0
    system = stored(wd.config_dir, "vxp.nghean")
    assert system is not None and not system.enabled and system.reason == "Tết"
    assert hub_cli(wd.config_dir, "vxp", "enable", "vxp.nghean", "--reason", "back")[0] == 0
    # rotate into a file: a new secret, the old one no longer verifies
    target = wd.root / "new.secret"
    code, out, err = hub_cli(
        wd.config_dir, "vxp", "rotate", "vxp.nghean", "--secret-file", str(target)
    )
    assert code == 0, err
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    new = target.read_text().strip()
    assert new != secret and new not in out
    system = stored(wd.config_dir, "vxp.nghean")
    assert system is not None and system.version == 4
    header = '{"XroadVnpt-systemid":"vxp.nghean"}'
    signed = protocol.parse_signed(
        [("XroadVnpt-sign-header", header), ("XroadVnpt-hash-header", protocol.sign(new, header))]
    )
    assert protocol.verify(signed, secret_of(wd.config_dir, system))
    assert not protocol.verify(signed, secret)


def test_secret_sealed_with_the_storage_key(make_workdir: WorkdirFactory) -> None:
    wd = make_workdir()
    key_file = wd.config_dir / "storage-keys.toml"
    key_file.write_text(
        f'current = "k1"\n[keys]\n"k1" = "{base64.b64encode(os.urandom(32)).decode()}"\n'
    )
    key_file.chmod(0o600)
    with (wd.config_dir / "hub.toml").open("a") as fh:
        fh.write('\n[storage]\nencryption_key_file = "storage-keys.toml"\n')
    code, out, err = hub_cli(wd.config_dir, "vxp", "add-system", "vxp.h41", "--agency", H41)
    assert code == 0, err
    system = stored(wd.config_dir, "vxp.h41")
    assert system is not None and system.secret_file is None
    assert system.secret is not None and system.secret.startswith(MAGIC)
    assert out.strip().encode() not in system.secret
    assert secret_of(wd.config_dir, system) == out.strip()
    assert not (wd.data_dir / "vxp").exists()


def test_secret_file_found_after_the_data_directory_moved(
    make_workdir: WorkdirFactory, tmp_path: Path
) -> None:
    wd = make_workdir()
    code, out, err = hub_cli(wd.config_dir, "vxp", "add-system", "vxp.h41", "--agency", H41)
    assert code == 0, err
    system = stored(wd.config_dir, "vxp.h41")
    assert system is not None and system.secret_file is not None
    # The record keeps the absolute path it was written to; the directory moves elsewhere.
    moved = tmp_path / "moved-data"
    wd.data_dir.rename(moved)
    assert not Path(system.secret_file).exists()
    assert load_secret(system, None, moved) == out.strip()
