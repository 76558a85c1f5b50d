"""``hub inbox --fetch DIR [--ack]``: the listed packages fetched in batches (walking with the
batch cursor) into ``DIR`` byte for byte, and acknowledged a batch at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.api import packages as api_packages
from hub.cli import main
from hub.demo.factory import Signer, document
from hub.demo.workdir import Workdir
from hub.edxml import Organ
from hub.models import DeliveryState
from tests.api.conftest import inbox_with, start_hub

G22, H41 = "000.00.00.G22", "000.00.00.H41"


async def test_fetch_and_ack_across_several_batches(
    workdir: Workdir,
    signers: Callable[[str], Signer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = tmp_path / "token"
    token.write_text(workdir.token(H41) + "\n")
    # two packages a batch: five packages take three batches
    monkeypatch.setattr(api_packages, "BATCH_MAX_PACKAGES", 2)
    async with start_hub(workdir) as hub:
        sender = await hub.client(G22)
        sent: dict[str, bytes] = {}
        for n in range(5):
            _, data = document(signers(G22), [Organ(organ_id=H41)], number=n + 1)
            sent[(await sender.submit(data)).package_id] = data
        await inbox_with(hub, H41, 5)

        def run(*args: str) -> str:
            result = CliRunner().invoke(
                main, ["inbox", "--url", hub.url, "--token-file", str(token), *args]
            )
            assert result.exit_code == 0, result.output
            return result.output

        kept = tmp_path / "kept"
        output = await asyncio.to_thread(run, "--fetch", str(kept))
        assert "fetched 5 package(s)" in output
        assert {p.name: p.read_bytes() for p in kept.iterdir()} == {
            f"{i}.edxml": data for i, data in sent.items()
        }
        assert len(await inbox_with(hub, H41, 5)) == 5  # not acknowledged: all still wait

        taken = tmp_path / "taken"
        output = await asyncio.to_thread(run, "--fetch", str(taken), "--ack")
        assert "fetched 5 package(s)" in output
        assert sorted(p.name for p in taken.iterdir()) == sorted(f"{i}.edxml" for i in sent)
        recipient = await hub.client(H41)
        assert (await recipient.inbox_page())["items"] == []
        for package_id in sent:
            delivery = await hub.runtime.store.get_delivery(package_id, H41)
            assert delivery is not None and delivery.state is DeliveryState.ACKED
