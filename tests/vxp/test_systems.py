"""hub.vxp.systems against concurrent operators: two ``add-system`` of one id, a rotation while
a ``disable`` lands. The store decides (a key, targeted updates), never a read made before."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.audit.chain import AuditChain
from hub.models import VxpSystem
from hub.storage_crypto import BlobCipher
from hub.store.memory import MemoryStore
from hub.vxp.systems import (
    VxpSystemError,
    VxpSystemExists,
    add_system,
    load_secret,
    rotate_secret,
    set_enabled,
)

H41 = "000.00.00.H41"
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
KNOWN = frozenset({H41})


class YieldingStore(MemoryStore):
    """A store whose look-ups let the other coroutine run before they return, as a second
    process would between a read and the write that follows it."""

    async def get_vxp_system(self, system_id: str) -> VxpSystem | None:
        found = await super().get_vxp_system(system_id)
        await asyncio.sleep(0)  # a yield, not a wait: the other add runs to its write now
        return found


def _store(sealed: bool) -> YieldingStore:
    store = YieldingStore(chainer=AuditChain())
    if sealed:
        store.blob_cipher = BlobCipher({"k": os.urandom(32)}, "k")
    return store


@pytest.mark.parametrize("sealed", [False, True], ids=["secret-file", "sealed"])
async def test_two_concurrent_adds_one_wins_and_its_secret_works(
    tmp_path: Path, sealed: bool
) -> None:
    store = _store(sealed)
    await store.open()
    results = await asyncio.gather(
        *(
            add_system(store, "vxp.h41", (H41,), known_agencies=KNOWN, data_dir=tmp_path, now=NOW)
            for _ in range(2)
        ),
        return_exceptions=True,
    )
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1 and len(lost) == 1, results
    assert isinstance(lost[0], VxpSystemExists) and isinstance(lost[0], VxpSystemError)
    assert lost[0].code == "vxp.system_exists"
    system, secret = won[0]
    stored = await store.get_vxp_system("vxp.h41")
    assert stored == system and stored.version == 1
    # the secret the winner was shown is the one the hub verifies with
    assert load_secret(stored, store.blob_cipher, tmp_path) == secret


async def test_add_of_an_existing_system_changes_nothing(tmp_path: Path) -> None:
    store = _store(sealed=False)
    await store.open()
    system, secret = await add_system(
        store, "vxp.h41", (H41,), known_agencies=KNOWN, data_dir=tmp_path, now=NOW
    )
    with pytest.raises(VxpSystemExists, match="hub vxp rotate"):
        await add_system(store, "vxp.h41", (H41,), known_agencies=KNOWN, data_dir=tmp_path, now=NOW)
    assert await store.get_vxp_system("vxp.h41") == system
    assert load_secret(system, None, tmp_path) == secret


class DisableDuringRotation(MemoryStore):
    """The operator's ``hub vxp disable`` lands in the middle of a rotation: right after the
    rotation's first read of the system, or right before its first write."""

    pending = True

    async def _disable_now(self) -> None:
        if self.pending:
            self.pending = False
            await set_enabled(self, "vxp.h41", False, reason="Tết", now=NOW)

    async def get_vxp_system(self, system_id: str) -> VxpSystem | None:
        found = await super().get_vxp_system(system_id)
        await self._disable_now()
        return found

    async def set_vxp_secret(
        self,
        system_id: str,
        *,
        secret: bytes | None,
        secret_file: str | None,
        changed_at: datetime,
        reason: str | None,
    ) -> VxpSystem | None:
        await self._disable_now()
        return await super().set_vxp_secret(
            system_id,
            secret=secret,
            secret_file=secret_file,
            changed_at=changed_at,
            reason=reason,
        )


@pytest.mark.parametrize("sealed", [False, True], ids=["secret-file", "sealed"])
async def test_a_rotation_never_undoes_a_concurrent_disable(tmp_path: Path, sealed: bool) -> None:
    store = DisableDuringRotation(chainer=AuditChain())
    if sealed:
        store.blob_cipher = BlobCipher({"k": os.urandom(32)}, "k")
    await store.open()
    store.pending = False
    await add_system(store, "vxp.h41", (H41,), known_agencies=KNOWN, data_dir=tmp_path, now=NOW)
    store.pending = True
    rotated, secret = await rotate_secret(store, "vxp.h41", data_dir=tmp_path, now=NOW)
    assert not store.pending  # the disable did land during the rotation
    stored = await store.get_vxp_system("vxp.h41")
    assert stored is not None and not stored.enabled and stored.reason == "secret rotated"
    assert stored == rotated and stored.version == 3
    assert load_secret(stored, store.blob_cipher, tmp_path) == secret


async def test_rotate_and_toggle_of_an_unknown_system_are_refused(tmp_path: Path) -> None:
    store = _store(sealed=False)
    await store.open()
    with pytest.raises(VxpSystemError, match="no VXP system"):
        await rotate_secret(store, "vxp.none", data_dir=tmp_path, now=NOW)
    with pytest.raises(VxpSystemError, match="no VXP system"):
        await set_enabled(store, "vxp.none", False, reason="r", now=NOW)
    assert not (tmp_path / "vxp").exists()  # no secret file written for nobody
