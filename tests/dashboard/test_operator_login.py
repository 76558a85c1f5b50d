"""Logging in: Argon2id runs off the event loop, and the upgrade of an old hash writes the hash
alone, by compare-and-set, so a change committed during the login is never undone."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher

import hub.operators
from hub.audit.chain import AuditChain
from hub.operators import authenticate, hash_password, verify_password
from hub.store.facets import DashboardStore
from hub.store.records import Operator
from hub.store.sqlite import SqliteStore

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
#: a hash with weaker parameters than today's: the next login upgrades it
OLD_HASH = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)


class BetweenReadAndWrite:
    """The store, with ``during`` run right after the login has read the account: what another
    operator (``hub operator disable``, a password reset) commits while Argon2 works."""

    def __init__(self, store: DashboardStore, during: Callable[[], Awaitable[None]]) -> None:
        self._store = store
        self._during = during

    async def get_operator(self, username: str) -> Operator | None:
        operator = await self._store.get_operator(username)
        await self._during()
        return operator

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[DashboardStore]:
    async with SqliteStore(tmp_path / "hub.db", chainer=AuditChain()) as s:
        d = s.dashboard()
        assert await d.add_operator(Operator("lan.nguyen", OLD_HASH, "operator", NOW))
        yield d


async def test_a_rehash_keeps_a_disable_committed_meanwhile(store: DashboardStore) -> None:
    async def disable() -> None:
        current = await store.get_operator("lan.nguyen")
        assert current is not None
        await store.add_operator(replace(current, disabled=True, role="viewer"), replace=True)

    racing = BetweenReadAndWrite(store, disable)
    assert await authenticate(racing, "lan.nguyen", PASSWORD) is not None  # read enabled
    after = await store.get_operator("lan.nguyen")
    assert after is not None
    assert after.disabled and after.role == "viewer"  # the disable and role change stand
    assert after.password_hash != OLD_HASH and verify_password(after.password_hash, PASSWORD)
    assert await authenticate(store, "lan.nguyen", PASSWORD) is None  # and it is disabled


async def test_a_rehash_keeps_a_password_reset_committed_meanwhile(
    store: DashboardStore,
) -> None:
    reset_hash = hash_password("a brand new password")

    async def reset() -> None:
        current = await store.get_operator("lan.nguyen")
        assert current is not None
        await store.add_operator(replace(current, password_hash=reset_hash), replace=True)

    await authenticate(BetweenReadAndWrite(store, reset), "lan.nguyen", PASSWORD)
    after = await store.get_operator("lan.nguyen")
    assert after is not None and after.password_hash == reset_hash


async def test_a_rehash_without_a_race_upgrades_the_hash(store: DashboardStore) -> None:
    assert await authenticate(store, "lan.nguyen", PASSWORD) is not None
    after = await store.get_operator("lan.nguyen")
    assert after is not None and after.password_hash != OLD_HASH and not after.disabled
    assert verify_password(after.password_hash, PASSWORD)


async def test_argon2_runs_off_the_event_loop(
    store: DashboardStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.current_thread()
    ran_in: list[tuple[str, threading.Thread]] = []

    def verify(password_hash: str, password: str) -> bool:
        ran_in.append(("verify", threading.current_thread()))
        return verify_password(password_hash, password)

    def rehash(password: str) -> str:
        ran_in.append(("hash", threading.current_thread()))
        return hash_password(password)

    monkeypatch.setattr(hub.operators, "verify_password", verify)
    monkeypatch.setattr(hub.operators, "hash_password", rehash)
    assert await authenticate(store, "nobody", PASSWORD) is None  # the dummy hash too
    assert await authenticate(store, "lan.nguyen", "wrong password!") is None
    assert await authenticate(store, "lan.nguyen", PASSWORD) is not None  # verify + rehash
    assert [what for what, _ in ran_in] == ["verify", "verify", "verify", "hash"]
    assert all(thread is not loop_thread for _, thread in ran_in), ran_in
