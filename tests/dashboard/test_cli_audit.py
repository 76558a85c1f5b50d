"""Changes made from the command line (agency disable, set-profile, rotate-token, operator add,
evidence export) are on the dashboard's Audit page with who made them: ``--actor`` or the OS
user, and the host; the agency events in the log carry the same actor."""

from __future__ import annotations

import asyncio
import getpass
import html
import re
import socket
from pathlib import Path

from click.testing import CliRunner

from hub.cli import main
from hub.demo.factory import document
from hub.edxml import Organ
from hub.store.records import AuditEntry
from tests.conftest import signer_for
from tests.dashboard.conftest import G22, H41, Dashboard
from tests.directory_sample import sample_csv


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


async def test_cli_changes_show_on_the_audit_page_with_the_actor(
    dash: Dashboard, tmp_path: Path
) -> None:
    hub = dash.hub
    config = str(hub.workdir.config_dir)
    _, data = document(signer_for(hub.workdir, G22), [Organ(organ_id=H41)], number=5)
    package_id = (await (await hub.client(G22)).submit(data)).package_id
    runner = CliRunner()

    async def cli(*args: str, stdin: str | None = None) -> None:
        result = await asyncio.to_thread(runner.invoke, main, list(args), input=stdin)
        assert result.exit_code == 0, result.output

    await cli(
        "agency", "disable", H41, "--config", config, "--reason", "bảo trì", "--actor", "lan.nguyen"
    )
    await cli("agency", "enable", H41, "--config", config, "--reason", "xong")
    await cli("agency", "set-profile", G22, "legacy", "--config", config, "--actor", "quan.sat")
    await cli(
        "agency", "rotate-token", G22, "--config", config, "--token-file", str(tmp_path / "token")
    )
    await cli(
        "operator",
        "add",
        "hoa.tran",
        "--config",
        config,
        "--role",
        "viewer",
        "--password-stdin",
        "--actor",
        "lan.nguyen",
        stdin="một mật khẩu đủ dài\n",
    )
    await cli(
        "evidence",
        "--config",
        config,
        package_id,
        "-o",
        str(tmp_path / "e.tar.gz"),
        "--actor",
        "kiem.toan",
    )

    await cli("keys", "rotate", "--config", config, "--apply", "--actor", "an.le")

    os_user, host = getpass.getuser(), socket.gethostname()
    store = hub.runtime.store
    audit = [a for a in (await store.dashboard().audit()).rows if isinstance(a, AuditEntry)]
    by_action = {a.action: a for a in audit}
    assert by_action["agency.disable"].username == "lan.nguyen"
    assert by_action["agency.disable"].detail["host"] == host
    assert by_action["agency.disable"].detail["os_user"] == os_user
    assert by_action["agency.enable"].username == os_user  # no --actor: the OS user
    assert by_action["agency.set_profile"].username == "quan.sat"
    assert by_action["agency.rotate_token"].target == G22
    assert by_action["operator.add"].target == "hoa.tran"
    assert by_action["evidence.export"].username == "kiem.toan"
    assert by_action["evidence.export"].target == package_id
    assert by_action["keys.rotate"].username == "an.le"
    # the event log's agency events name the actor too (not a generic "operator")
    reads = [e for e in await store.events_for(package_id) if e.kind == "package.read"]
    assert reads and reads[-1].detail["actor"] == f"kiem.toan ({os_user}@{host})"

    session = await dash.login("viewer")
    try:
        async with session.get(dash.url + "/audit") as resp:
            assert resp.status == 200
            vi = text_of(await resp.text())
        session.cookie_jar.update_cookies({"hub_lang": "en"})
        async with session.get(dash.url + "/audit") as resp:
            en = text_of(await resp.text())
    finally:
        await session.close()
    h41_name = hub.runtime.registry.get(H41).name  # type: ignore[union-attr]
    for words in (
        "Tạm dừng cơ quan",
        "Kích hoạt cơ quan",
        "Đổi chuẩn chữ ký số",
        "Cấp lại mã truy cập",
        "Thay khoá ký biên nhận",
        "Tạo tài khoản vận hành",
        "Xuất hồ sơ chứng cứ",
        f"qua dòng lệnh, {os_user}@{host}",
        "lan.nguyen",
        "quan.sat",
        "kiem.toan",
        f"{H41} {h41_name}",
        "bảo trì",
    ):
        assert words in vi, words
    for words in ("Disabled an agency", "Exported evidence", f"command line, {os_user}@{host}"):
        assert words in en, words
    for raw in ("agency.disable", "evidence.export", '{"', "os_user", "via"):
        assert raw not in vi and raw not in en, raw


async def test_directory_import_and_vxp_changes_show_on_the_audit_page(
    dash: Dashboard, tmp_path: Path
) -> None:
    """The commands main gained beside the dashboard rewrite (``hub agency import``, ``hub vxp
    add-system/disable/enable/rotate``) are audited the same way, with their actor."""
    hub = dash.hub
    config = str(hub.workdir.config_dir)
    runner = CliRunner()

    async def cli(*args: str) -> None:
        result = await asyncio.to_thread(runner.invoke, main, [*args, "--config", config])
        assert result.exit_code == 0, result.output

    directory = sample_csv(tmp_path / "danh-ba.csv")
    await cli("agency", "import", str(directory), "--dry-run", "--actor", "lan.nguyen")
    await cli("agency", "import", str(directory), "--actor", "lan.nguyen")
    await cli("agency", "import", str(directory))  # nothing to write: nothing audited
    secret = str(tmp_path / "secret")
    await cli("vxp", "add-system", "vxp.h41", "--agency", H41, "--secret-file", secret)
    await cli("vxp", "disable", "vxp.h41", "--reason", "bảo trì", "--actor", "an.le")
    await cli("vxp", "enable", "vxp.h41", "--reason", "xong", "--actor", "an.le")
    await cli("vxp", "rotate", "vxp.h41", "--secret-file", secret, "--actor", "an.le")

    os_user = getpass.getuser()
    audit = [
        a for a in (await hub.runtime.store.dashboard().audit()).rows if isinstance(a, AuditEntry)
    ]
    imports = [a for a in audit if a.action == "directory.import"]
    assert len(imports) == 1  # the dry run and the no-op import wrote nothing
    assert imports[0].username == "lan.nguyen" and imports[0].target == "danh-ba.csv"
    assert imports[0].detail["added"] > 0
    by_action = {a.action: a for a in audit}
    assert by_action["vxp.add_system"].username == os_user
    assert by_action["vxp.add_system"].detail["agencies"] == [H41]
    assert by_action["vxp.disable"].username == "an.le"
    assert by_action["vxp.disable"].detail["reason"] == "bảo trì"
    assert {"vxp.enable", "vxp.rotate"} <= set(by_action)

    session = await dash.login("viewer")
    try:
        async with session.get(dash.url + "/audit") as resp:
            assert resp.status == 200
            vi = text_of(await resp.text())
    finally:
        await session.close()
    for words in (
        "Nhập danh bạ cơ quan",
        "Thêm hệ thống VXP",
        "Tạm dừng hệ thống VXP",
        "Cấp lại khoá bí mật hệ thống VXP",
        "danh-ba.csv",
        "an.le",
    ):
        assert words in vi, words
    for raw in ("directory.import", "vxp.add_system", "system_id", '{"'):
        assert raw not in vi, raw
