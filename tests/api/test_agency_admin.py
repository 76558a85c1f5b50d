"""Runtime agency changes: recorded in the store, applied by running hubs, kept on restart."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from click.testing import CliRunner

from hub.admin import list_agencies, rotate_token, set_enabled
from hub.cli import main
from hub.client import HubClient, HubProblem
from hub.config import load_config
from hub.demo.factory import Signer, document
from hub.demo.workdir import Workdir
from hub.edxml import Organ
from tests.api.conftest import start_hub

G22, H41, H14 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H14"


async def eventually(check: Callable[[], object], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
        except HubProblem:
            pass
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.1)


async def test_disable_and_rotate_reach_a_running_hub_and_survive_restart(
    workdir: Workdir, signers: Callable[[str], Signer]
) -> None:
    config = load_config(workdir.config_dir)
    async with start_hub(workdir) as hub:
        hub.runtime._overrides_interval = 0.1  # speed the test up
        _, data = document(signers(G22), [Organ(organ_id=H14)], number=1)

        await set_enabled(config, H14, False, "test: maintenance")

        async def refused_as_unknown() -> bool:
            try:
                await (await hub.client(G22)).validate(data)
            except HubProblem as exc:
                return exc.code == "route.unknown_recipient"
            return False

        await eventually(refused_as_unknown)
        new = await rotate_token(config, G22, "test: rotation")

        async def old_token_refused() -> bool:
            try:
                await (await hub.client(G22)).inbox_page()
            except HubProblem as exc:
                return exc.status == 401
            return False

        await eventually(old_token_refused)

    # After a restart the changes are still in force.
    async with start_hub(workdir) as hub:
        async with HubClient(hub.url, new) as client:
            with pytest.raises(HubProblem) as info:
                await client.submit(data)
            assert info.value.code == "route.unknown_recipient"
        await set_enabled(config, H14, True, "test: back")
        hub.runtime.registry.reload(await hub.runtime.store.agency_overrides())
        async with HubClient(hub.url, new) as client:
            assert (await client.submit(data)).created
    views = {v.organ_id: v for v in await list_agencies(config)}
    assert views[H14].enabled and views[H14].overridden
    assert views[G22].tokens == 1


def test_agency_cli(workdir: Workdir) -> None:
    runner = CliRunner()
    cfg = str(workdir.config_dir)
    result = runner.invoke(main, ["agency", "disable", H41, "--config", cfg, "--reason", "x"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["agency", "list", "--config", cfg])
    assert result.exit_code == 0 and H41 in result.output
    token_file = workdir.root / "new-token"
    result = runner.invoke(
        main, ["agency", "rotate-token", G22, "--config", cfg, "--token-file", str(token_file)]
    )
    assert result.exit_code == 0, result.output
    assert len(token_file.read_text().strip()) >= 43
    views = {v.organ_id: v for v in asyncio.run(list_agencies(load_config(workdir.config_dir)))}
    assert not views[H41].enabled
