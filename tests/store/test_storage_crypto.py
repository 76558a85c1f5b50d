"""Encryption at rest of package bytes (hub/storage_crypto.py) on SQLite and PostgreSQL:
the contract suite with encryption on, no plaintext in the database, exact bytes back over
HTTP, key rotation, and clear errors for a wrong or missing key."""

from __future__ import annotations

import base64
import hashlib
import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg import sql as pgsql

from hub.audit.chain import AuditChain
from hub.config import load_config
from hub.demo.factory import Signer, document
from hub.demo.workdir import Workdir
from hub.edxml import Organ
from hub.models import NewPackage
from hub.runtime import make_store
from hub.storage_crypto import MAGIC, BlobCipher, StorageKeyError, load_blob_cipher
from hub.store.abc import Store
from hub.store.postgres import PostgresStore
from hub.store.sqlite import SqliteStore
from tests.api.conftest import start_hub
from tests.contracts.store_contract import StoreContract, new_package
from tests.store.pg_fixtures import pg_dsn, pg_schema

__all__ = ["pg_dsn", "pg_schema"]  # fixtures this module uses

KEY_A, KEY_B = secrets.token_bytes(32), secrets.token_bytes(32)


def cipher(current: str = "a", **keys: bytes) -> BlobCipher:
    return BlobCipher(keys or {"a": KEY_A}, current)


def _encrypted(store: Store) -> Store:
    store.blob_cipher = cipher()
    return store


class TestSqliteStoreEncrypted(StoreContract):
    """The whole store contract with encryption on."""

    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Callable[[], Store]:
        return lambda: _encrypted(
            SqliteStore(tmp_path / "hub.db", busy_timeout_ms=5000, chainer=AuditChain())
        )


class TestPostgresStoreEncrypted(StoreContract):
    """The whole store contract with encryption on."""

    @pytest.fixture
    def store_factory(self, pg_dsn: str, pg_schema: str) -> Callable[[], Store]:
        return lambda: _encrypted(
            PostgresStore(pg_dsn, schema=pg_schema, max_size=4, chainer=AuditChain())
        )


PLAIN = "Nguyễn Văn An, CCCD 001203004567".encode()


def _package_with_personal_data() -> tuple[bytes, NewPackage]:
    data = b"<edXML>" + PLAIN + secrets.token_hex(8).encode() + b"</edXML>"
    return data, new_package(data=data)


async def test_sqlite_file_holds_no_plaintext_and_rotation_works(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    data, package = _package_with_personal_data()
    async with SqliteStore(path, chainer=AuditChain()) as store:
        store.blob_cipher = cipher("a", a=KEY_A)
        await store.add_packages([package])
        assert await store.get_bytes(package.id) == data
    # Every file of the database (main, WAL, shared memory): no plaintext anywhere.
    for f in tmp_path.iterdir():
        assert PLAIN not in f.read_bytes(), f.name
    with sqlite3.connect(path) as conn:
        raw = bytes(conn.execute("SELECT data FROM package_blobs").fetchone()[0])
    assert raw.startswith(MAGIC + b"\x01a")

    # Rotation: new key current, the old one still configured for the old blob.
    data2, package2 = _package_with_personal_data()
    async with SqliteStore(path, chainer=AuditChain()) as store:
        store.blob_cipher = cipher("b", a=KEY_A, b=KEY_B)
        await store.add_packages([package2])
        assert await store.get_bytes(package.id) == data
        assert await store.get_bytes(package2.id) == data2
    with sqlite3.connect(path) as conn:
        raw2 = bytes(
            conn.execute(
                "SELECT data FROM package_blobs WHERE package_id = ?",
                (package2.id,),
            ).fetchone()[0]
        )
    assert raw2.startswith(MAGIC + b"\x01b")

    # The old key retired too early, a wrong key, no key: clear errors, never ciphertext.
    async with SqliteStore(path, chainer=AuditChain()) as store:
        store.blob_cipher = cipher("b", b=KEY_B)
        assert await store.get_bytes(package2.id) == data2
        with pytest.raises(StorageKeyError, match="key 'a', which is not configured"):
            await store.get_bytes(package.id)
        store.blob_cipher = cipher("a", a=KEY_B)
        with pytest.raises(StorageKeyError, match="does not decrypt"):
            await store.get_bytes(package.id)
        store.blob_cipher = None
        with pytest.raises(StorageKeyError, match="no encryption key is configured"):
            await store.get_bytes(package.id)


async def test_blob_moved_to_another_row_does_not_decrypt(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    p1, p2 = new_package(), new_package()
    async with SqliteStore(path, chainer=AuditChain()) as store:
        store.blob_cipher = cipher()
        await store.add_packages([p1, p2])
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE package_blobs SET data = (SELECT data FROM package_blobs WHERE package_id = ?) "
            "WHERE package_id = ?",
            (p1.id, p2.id),
        )
    async with SqliteStore(path, chainer=AuditChain()) as store:
        store.blob_cipher = cipher()
        with pytest.raises(StorageKeyError):
            await store.get_bytes(p2.id)


async def test_postgresql_column_holds_no_plaintext(pg_dsn: str, pg_schema: str) -> None:
    data, package = _package_with_personal_data()
    async with PostgresStore(pg_dsn, schema=pg_schema, chainer=AuditChain()) as store:
        store.blob_cipher = cipher()
        await store.add_packages([package])
        assert await store.get_bytes(package.id) == data
        receipt = await store.get_receipt(package.id)
        assert receipt == package.receipt  # receipts stay in clear
    async with await psycopg.AsyncConnection.connect(pg_dsn) as conn:
        await conn.execute(pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(pg_schema)))
        cur = await conn.execute("SELECT data FROM package_blobs")
        row = await cur.fetchone()
    assert row is not None
    raw = bytes(row[0])
    assert raw.startswith(MAGIC) and PLAIN not in raw


async def test_hub_with_encryption_serves_exact_bytes(
    workdir: Workdir,
    signers: Callable[[str], Signer],
) -> None:
    """Configured in hub.toml ([storage] encryption_key_file): submit, fetch exact bytes."""
    key_file = workdir.config_dir / "storage-keys.toml"
    key_file.write_text(
        f'current = "2026-03"\n[keys]\n"2026-03" = "{base64.b64encode(KEY_A).decode()}"\n'
    )
    key_file.chmod(0o600)
    with (workdir.config_dir / "hub.toml").open("a") as fh:
        fh.write('\n[storage]\nencryption_key_file = "storage-keys.toml"\n')
    loaded = load_blob_cipher(workdir.config_dir, env={})
    assert loaded is not None and loaded.current == "2026-03"

    g22, h41 = "000.00.00.G22", "000.00.00.H41"
    _, data = document(signers(g22), [Organ(organ_id=h41, organ_name="UBND tỉnh")], number=31)
    async with start_hub(workdir) as hub:
        assert hub.runtime.store.blob_cipher is not None
        sent = await (await hub.client(g22)).submit(data)
        fetched = await (await hub.client(h41)).fetch(sent.package_id)
        assert fetched == data
        record = await hub.runtime.store.get_package(sent.package_id)
        assert record is not None and record.sha256 == hashlib.sha256(data).hexdigest()
    path = load_config(workdir.config_dir).settings.sqlite_path
    with sqlite3.connect(path) as conn:
        raw = bytes(conn.execute("SELECT data FROM package_blobs").fetchone()[0])
    assert raw.startswith(MAGIC) and data not in raw
    # make_store (the CLI's path: hub evidence, hub audit) reads it back too.
    async with make_store(load_config(workdir.config_dir)) as store:
        assert await store.get_bytes(sent.package_id) == data
