"""Encryption at rest of stored package bytes (optional, off by default).

Both stores call :func:`seal` where a package's bytes are written and :func:`unseal` where
they are read, so the bytes are AES-256-GCM encrypted in the SQLite file, in PostgreSQL,
in backups and in ``hub db copy`` (which copies the column verbatim). Receipts, events and
the package row stay in clear: they hold ids, digests and times, not content, and the
evidence must stay verifiable without the key.

Stored form (self-describing, so rotation needs no extra column and a store where
encryption was switched on later holds both forms)::

    MAGIC (8 bytes) | len(key id) (1 byte) | key id (ASCII) | nonce (12) | ciphertext+tag

``MAGIC`` starts with a NUL byte, which a package never does (the hub refuses NUL bytes
in XML), so plaintext blobs written before encryption was enabled are told apart safely.
The associated data binds the ciphertext to the key id and the package id: a blob moved to
another package's row, or relabelled with another key id, fails authentication.

Keys: ``[storage] encryption_key_file`` in ``hub.toml`` (or ``HUB_ENCRYPTION_KEY_FILE``),
a TOML file kept outside the repository, mode 0600::

    current = "2026-03"
    [keys]
    "2025-01" = "base64 of 32 random bytes"   # still needed to read older blobs
    "2026-03" = "base64 of 32 random bytes"   # new blobs

(``openssl rand -base64 32`` makes a key.) New blobs use ``current``; older blobs are read
with the key their header names. The receipt's SHA-256 stays over the plaintext.
``hub storage rekey`` (:func:`hub.keys.rekey_storage`) moves older blobs under ``current``
so an old key can be retired; the key id in the header is what lets it skip finished ones.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub.errors import ConfigError, HubError

log = logging.getLogger("hub.storage")

MAGIC = b"\x00hubenc1"
_NONCE = 12
ENV_KEY_FILE = "HUB_ENCRYPTION_KEY_FILE"


class StorageKeyError(HubError):
    """Stored bytes cannot be decrypted: no key configured, unknown key id, or the key does
    not authenticate them (wrong key or altered bytes). Never served as content."""

    code = "storage.key"
    status = 500
    title = "Stored package bytes cannot be decrypted"


class BlobCipher:
    """AES-256-GCM with a set of keys by id; ``current`` encrypts."""

    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        if current not in keys:
            raise ConfigError(f"encryption key {current!r} (current) is not among the keys")
        for key_id, key in keys.items():
            if not key_id or len(key_id.encode("ascii", "replace")) > 255 or not key_id.isascii():
                raise ConfigError(f"encryption key id {key_id!r}: 1-255 ASCII characters")
            if len(key) != 32:
                raise ConfigError(f"encryption key {key_id!r}: must be 32 bytes (AES-256)")
        self._keys = {k: AESGCM(v) for k, v in keys.items()}
        # Search-index keys (Subject words, hub.store.textsearch): derived, never the AES key
        # itself, so an index token reveals nothing usable against the sealed blobs.
        self._index_keys = {k: _derive_index_key(v) for k, v in keys.items()}
        self.current = current

    def index_tokens(self, word: str) -> tuple[str, ...]:
        """Keyed hashes of one folded search word, the current key's first.

        New rows are indexed with the current key only; a query looks for the token of every
        configured key, so rows indexed before a key rotation are still found (as long as the
        old key stays configured, which reading their blobs needs anyway).
        """
        ordered = [self.current, *(k for k in self._index_keys if k != self.current)]
        return tuple(_index_token(self._index_keys[k], word) for k in ordered)

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every configured key id (never the keys)."""
        return tuple(self._keys)

    def seal(self, package_id: str, data: bytes) -> bytes:
        """Encrypt ``data`` for ``package_id``'s row with the current key."""
        kid = self.current.encode("ascii")
        nonce = secrets.token_bytes(_NONCE)
        header = MAGIC + bytes([len(kid)]) + kid
        ciphertext = self._keys[self.current].encrypt(nonce, data, header + package_id.encode())
        return header + nonce + ciphertext

    def unseal(self, package_id: str, blob: bytes) -> bytes:
        """Decrypt a sealed blob (see :func:`unseal` for plaintext blobs)."""
        key_id, header, rest = _split(package_id, blob)
        aead = self._keys.get(key_id)
        if aead is None:
            raise StorageKeyError(
                f"package {package_id} is encrypted with key {key_id!r}, which is not "
                f"configured (configured: {', '.join(self._keys)})"
            )
        try:
            return aead.decrypt(rest[:_NONCE], rest[_NONCE:], header + package_id.encode())
        except InvalidTag as exc:
            raise StorageKeyError(
                f"package {package_id}: key {key_id!r} does not decrypt the stored bytes "
                "(wrong key material for this id, or the stored bytes were altered)"
            ) from exc


_INDEX_INFO = b"vn-exchange-hub subject index v1"


def _derive_index_key(key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INDEX_INFO).derive(key)


def _index_token(key: bytes, word: str) -> str:
    # 128 bits of HMAC-SHA256, hex: collisions are negligible, the column stays small.
    return hmac.new(key, word.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def is_sealed(blob: bytes) -> bool:
    """Whether ``blob`` is in the encrypted form."""
    return blob.startswith(MAGIC)


def _split(package_id: str, blob: bytes) -> tuple[str, bytes, bytes]:
    n = blob[len(MAGIC)] if len(blob) > len(MAGIC) else 0
    end = len(MAGIC) + 1 + n
    if n == 0 or len(blob) < end + _NONCE + 16:
        raise StorageKeyError(f"package {package_id}: the stored encrypted bytes are truncated")
    return blob[len(MAGIC) + 1 : end].decode("ascii", "replace"), blob[:end], blob[end:]


def seal(cipher: BlobCipher | None, package_id: str, data: bytes) -> bytes:
    """What a store writes for ``data``: encrypted when a cipher is configured."""
    return data if cipher is None else cipher.seal(package_id, data)


def unseal(cipher: BlobCipher | None, package_id: str, blob: bytes) -> bytes:
    """The package's bytes from what the store holds: plaintext blobs (written before
    encryption was enabled, or purged: empty) are returned as they are."""
    if not is_sealed(blob):
        return blob
    if cipher is None:
        key_id = _split(package_id, blob)[0]
        raise StorageKeyError(
            f"package {package_id} is encrypted (key {key_id!r}) but no encryption key is "
            f"configured ([storage] encryption_key_file or {ENV_KEY_FILE})"
        )
    return cipher.unseal(package_id, blob)


def load_key_file(path: Path) -> BlobCipher:
    """Read a key file (format in the module docstring)."""
    try:
        mode = path.stat().st_mode
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"encryption key file {path}: {exc}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        # A warning, not a refusal: some secret mounts cannot set 0600; say so loudly.
        log.warning("encryption key file %s is readable by group or others", path)
    keys_s = doc.get("keys")
    current = doc.get("current")
    if not isinstance(keys_s, dict) or not keys_s or not isinstance(current, str):
        raise ConfigError(f'encryption key file {path}: needs current = "id" and [keys]')
    keys: dict[str, bytes] = {}
    for key_id, value in keys_s.items():
        try:
            keys[str(key_id)] = base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError(f"encryption key file {path}: key {key_id!r} is not base64") from exc
    return BlobCipher(keys, current)


def load_blob_cipher(config_dir: Path, env: Mapping[str, str] | None = None) -> BlobCipher | None:
    """The configured cipher, or ``None`` (encryption off, the default)."""
    env = os.environ if env is None else env
    base = config_dir.resolve()
    setting = env.get(ENV_KEY_FILE, "")
    if not setting:
        path = base / "hub.toml"
        if path.exists():
            with path.open("rb") as fh:
                storage = tomllib.load(fh).get("storage", {})
            if not isinstance(storage, dict):
                raise ConfigError(f"{path}: [storage] must be a table")
            setting = str(storage.get("encryption_key_file", ""))
    if not setting:
        return None
    key_path = Path(setting)
    return load_key_file(key_path if key_path.is_absolute() else base / key_path)
