"""``hub storage rekey`` (issue 14) on SQLite and PostgreSQL: the key file is planned, then
every stored package is re-encrypted under the new key — interrupted and continued, skipped
when already done, compare-and-set against concurrent changes — and reads back exactly."""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hub.audit.chain import AuditChain
from hub.audit.service import verify_store
from hub.cli import main
from hub.config import load_config
from hub.demo.workdir import Workdir
from hub.keys import cipher_for, rekey_storage, sealed_key_id
from hub.models import Event, NewPackage
from hub.receipts import ReceiptSigner
from hub.runtime import make_store
from hub.storage_crypto import BlobCipher, StorageKeyError
from hub.store import Store
from hub.store.sqlite import SqliteStore
from tests.conftest import WorkdirFactory
from tests.contracts.store_contract import new_package
from tests.store.pg_fixtures import pg_dsn, pg_schema

__all__ = ["pg_dsn", "pg_schema"]  # fixtures this module uses

KEY_OLD, KEY_NEW = secrets.token_bytes(32), secrets.token_bytes(32)
KEY_FILE_TEXT = (
    "# storage keys (kept outside the repository)\n"
    'current = "2025-01"\n'
    "\n"
    "[keys]\n"
    f'"2025-01" = "{base64.b64encode(KEY_OLD).decode()}"  # the first key\n'
)


async def invoke(args: list[str]) -> Result:
    """The CLI in a thread: it runs its own event loop (asyncio.run), as from a shell."""
    return await asyncio.to_thread(CliRunner().invoke, main, args)


def said(output: str, message: str) -> bool:
    """``message`` is in the output (rich wraps long lines)."""
    return "".join(message.split()) in "".join(output.split())


def _packages(n: int, tag: str) -> list[NewPackage]:
    return [
        new_package(data=f"<edXML>Hồ sơ {tag} số {i}: Nguyễn Văn An</edXML>".encode())
        for i in range(n)
    ]


@pytest.fixture(params=["sqlite", "postgresql"])
def workdir_for(request: pytest.FixtureRequest, make_workdir: WorkdirFactory) -> Workdir:
    if request.param == "sqlite":
        return make_workdir()
    dsn = request.getfixturevalue("pg_dsn")
    schema = request.getfixturevalue("pg_schema")
    return make_workdir(store="postgresql", store_url=dsn, store_schema=schema)


async def _seed(workdir: Workdir) -> dict[str, bytes]:
    """5 packages stored before encryption was on (clear), 20 under the old key, 1 purged."""
    config = load_config(workdir.config_dir)
    plain, sealed = _packages(5, "cũ"), _packages(20, "mới")
    async with make_store(config) as store:
        await store.add_packages(plain)
    key_file = workdir.config_dir / "storage-keys.toml"
    key_file.write_text(KEY_FILE_TEXT, encoding="utf-8")
    key_file.chmod(0o600)
    with (workdir.config_dir / "hub.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[storage]\nencryption_key_file = "storage-keys.toml"\n')
    async with make_store(load_config(workdir.config_dir)) as store:
        assert store.blob_cipher is not None and store.blob_cipher.current == "2025-01"
        await store.add_packages(sealed)
        purged = sealed[-1]
        event = Event(package_id=purged.id, kind="purged", at=datetime.now(UTC), detail={})
        assert await store.audit().purge_package(purged.id, event, unacked=True)
    return {p.id: p.data for p in plain + sealed[:-1]}


async def _key_ids(store: Store) -> dict[str, str | None]:
    ids = [h[0] for h in await store.blob_headers("", 1000, 300)]
    stored = await store.stored_blobs(ids)
    return {i: (sealed_key_id(b) if b else "purged") for i, b in stored.items()}


async def test_rekey_interrupted_continued_idempotent(workdir_for: Workdir, tmp_path: Path) -> None:
    workdir = workdir_for
    data = await _seed(workdir)
    config = str(workdir.config_dir)
    new_key = tmp_path / "new.key"
    new_key.write_text(base64.b64encode(KEY_NEW).decode() + "\n")
    key_file = workdir.config_dir / "storage-keys.toml"
    rekey = ["storage", "rekey", "--config", config, "--new-key", str(new_key)]

    # 1. Without --apply: the lines to change, no secret printed, nothing touched.
    result = await invoke([*rekey, "--key-id", "2026-12"])
    assert result.exit_code == 0, result.output
    assert said(result.output, 'current = "2026-12"') and said(result.output, '"2026-12" =')
    assert base64.b64encode(KEY_NEW).decode() not in result.output
    assert key_file.read_text() == KEY_FILE_TEXT

    # 2. --apply: the key file gains the key as current; the old key and the comments stay.
    result = await invoke([*rekey, "--key-id", "2026-12", "--apply"])
    assert result.exit_code == 0, result.output
    text = key_file.read_text()
    assert "# storage keys (kept outside the repository)" in text and "# the first key" in text
    assert key_file.stat().st_mode & 0o777 == 0o600
    cipher = cipher_for(workdir.config_dir)
    assert cipher.current == "2026-12" and set(cipher.key_ids) == {"2025-01", "2026-12"}

    # 3. A run interrupted after 7 blobs: exactly those are under the new key.
    async with make_store(load_config(workdir.config_dir)) as store:
        report = await rekey_storage(store, cipher, stop_after=7)
        assert report.rekeyed == 7 and not report.complete and report.remaining > 0
        ids = await _key_ids(store)
    assert sum(1 for k in ids.values() if k == "2026-12") == 7

    # 4. Run again (the same command): it continues, skipping what is done.
    result = await invoke([*rekey, "--progress"])
    assert result.exit_code == 0, result.output
    assert said(result.output, "17 re-encrypted, 7 already under it, 1 purged")
    assert said(result.output, "every stored package is under the new key")

    # Every blob is under the new key; the bytes read back exactly — with the new key alone.
    config_ = load_config(workdir.config_dir)
    async with make_store(config_) as store:
        ids = await _key_ids(store)
        assert sorted(v or "clear" for v in ids.values()) == ["2026-12"] * 24 + ["purged"]
        store.blob_cipher = BlobCipher({"2026-12": KEY_NEW}, "2026-12")
        for package_id, plain in data.items():
            assert await store.get_bytes(package_id) == plain
        # The runs are in the tamper-evident log, which still verifies.
        s = config_.settings
        signer = ReceiptSigner.from_files(s.receipt_key, s.receipt_cert, s.receipt_rotation)
        report_ = await verify_store(store, signer)
        assert report_.ok, report_.lines()
        backend = store.audit()
        kinds = [
            (e.kind, e.detail.get("rekeyed"))
            for h in await backend.heads()
            for e in await backend.chain_page(h.chain_id, None, 1000)
            if e.kind == "storage.rekeyed"
        ]
        assert sorted(kinds, key=lambda k: str(k[1])) == [
            ("storage.rekeyed", 17),
            ("storage.rekeyed", 7),
        ]

    # 5. Idempotent: nothing left to do.
    result = await invoke(rekey)
    assert result.exit_code == 0, result.output
    assert said(result.output, "0 re-encrypted, 24 already under it")


async def test_rekey_user_errors_exit_2(workdir: Workdir, tmp_path: Path) -> None:
    await _seed(workdir)
    config = str(workdir.config_dir)
    short = tmp_path / "short.key"
    short.write_text(base64.b64encode(b"x" * 16).decode())
    other = tmp_path / "other.key"
    other.write_text(base64.b64encode(KEY_NEW).decode())
    cases = [
        (["--new-key", str(tmp_path / "missing.key")], "missing.key"),
        (["--new-key", str(short)], "16 bytes, AES-256 needs 32"),
        (["--new-key", str(other), "--key-id", "2025-01"], "exists with another key"),
    ]
    for args, message in cases:
        result = await invoke(["storage", "rekey", "--config", config, *args])
        assert result.exit_code == 2, (args, result.output)
        assert said(result.output, message) and "Traceback" not in result.output

    # The old key dropped from the key file before the rekey ran: refused, clearly.
    key_file = workdir.config_dir / "storage-keys.toml"
    key_file.write_text(
        f'current = "2026-12"\n[keys]\n"2026-12" = "{base64.b64encode(KEY_NEW).decode()}"\n'
    )
    result = await invoke(["storage", "rekey", "--config", config, "--new-key", str(other)])
    assert result.exit_code == 2
    assert said(result.output, "storage.key") and said(result.output, "'2025-01'")
    assert "Traceback" not in result.output


class PurgingStore(SqliteStore):
    """A store where the retention purge runs between the rekey's read and its write."""

    victim: str = ""

    async def stored_blobs(self, package_ids: Sequence[str]) -> dict[str, bytes]:
        blobs = await super().stored_blobs(package_ids)
        if self.victim in package_ids:
            event = Event(package_id=self.victim, kind="purged", at=datetime.now(UTC), detail={})
            assert await self.audit().purge_package(self.victim, event, unacked=True)
        return blobs


async def test_rekey_never_overwrites_a_concurrent_change(tmp_path: Path) -> None:
    old = BlobCipher({"a": KEY_OLD}, "a")
    new = BlobCipher({"a": KEY_OLD, "b": KEY_NEW}, "b")
    packages = _packages(6, "song song")
    async with PurgingStore(tmp_path / "hub.sqlite", chainer=AuditChain()) as store:
        store.blob_cipher = old
        await store.add_packages(packages)
        victim = store.victim = sorted(p.id for p in packages)[2]
        store.blob_cipher = new
        report = await rekey_storage(store, new)
        assert (report.rekeyed, report.raced, report.complete) == (5, 1, False)
        store.victim = ""
        # The purge won: the blob stays purged (empty), not resurrected by the rekey.
        assert (await store.stored_blobs([victim]))[victim] == b""
        again = await rekey_storage(store, new)
        assert (again.rekeyed, again.already, again.skipped, again.complete) == (0, 5, 1, True)
        for p in packages:
            if p.id != victim:
                assert await store.get_bytes(p.id) == p.data


async def test_rekey_enables_encryption_of_a_clear_store(workdir: Workdir, tmp_path: Path) -> None:
    """Encryption off: --apply creates storage-keys.toml (0600) and points hub.toml at it;
    the second run encrypts every blob stored in clear."""
    plain = _packages(4, "rõ")
    async with make_store(load_config(workdir.config_dir)) as store:
        await store.add_packages(plain)
    new_key = tmp_path / "k"
    new_key.write_text(base64.b64encode(KEY_NEW).decode())
    args = ["storage", "rekey", "--config", str(workdir.config_dir), "--new-key", str(new_key)]
    result = await invoke([*args, "--key-id", "k1", "--apply"])
    assert result.exit_code == 0, result.output
    key_file = workdir.config_dir / "storage-keys.toml"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert "hub-demo" in (workdir.config_dir / "hub.toml").read_text()  # the rest kept
    result = await invoke(args)
    assert result.exit_code == 0, result.output
    assert said(result.output, "4 re-encrypted")
    async with make_store(load_config(workdir.config_dir)) as store:
        assert set((await _key_ids(store)).values()) == {"k1"}
        for p in plain:
            assert await store.get_bytes(p.id) == p.data
        store.blob_cipher = None
        with pytest.raises(StorageKeyError):
            await store.get_bytes(plain[0].id)
