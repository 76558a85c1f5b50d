"""Credentials of the systems connected through the VXP facade.

A system (``systemid`` in the SDK's configuration) may act for one agency or several (a
provincial centre for its departments). Its secret is the HMAC key itself, so it cannot be
stored as a hash: it is sealed with the storage key (:mod:`hub.storage_crypto`, AES-256-GCM
bound to the system id) when ``[storage] encryption_key_file`` is configured, otherwise
written to ``<data_dir>/vxp/<system_id>.secret`` readable only by the hub's user (0600, like
the receipt key). The record lives in the store, so ``hub vxp disable|rotate`` take effect on
every worker's next request.
"""

from __future__ import annotations

import os
import re
import secrets
from datetime import datetime
from pathlib import Path

from hub.edxml.organ_id import OrganId
from hub.errors import ConfigError, HubError
from hub.models import VxpSystem
from hub.storage_crypto import BlobCipher, seal, unseal
from hub.store import Store

_SYSTEM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class VxpSystemError(HubError):
    """An operator's VXP system command that cannot be carried out."""

    code = "vxp.system"
    status = 400
    title = "VXP system"


class VxpSystemExists(VxpSystemError):
    """A VXP system with this id exists already: ``hub vxp add-system`` never replaces one
    (``hub vxp rotate`` gives it a new secret). Also what the slower of two concurrent
    additions of one id gets; the record and secret of the first stay as they are."""

    code = "vxp.system_exists"
    status = 409
    title = "VXP system exists"


def new_secret() -> str:
    """A fresh secret: 256 random bits as URL-safe text (the SDK uses it as UTF-8 text)."""
    return secrets.token_urlsafe(32)


def _aad(system_id: str) -> str:
    # The storage cipher binds a blob to an id: a sealed secret moved to another system's row
    # does not decrypt.
    return f"vxp-system:{system_id}"


def secret_path(data_dir: Path, system_id: str) -> Path:
    """Where a system's secret is kept when no storage key is configured."""
    return data_dir / "vxp" / f"{system_id}.secret"


def _write_secret_file(path: Path, secret: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    # a name of its own: two rotations writing at once never share (or truncate) one file
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secret + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # a reader sees the old or the new secret, never half of one
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _where_kept(
    system_id: str, secret: str, cipher: BlobCipher | None, data_dir: Path
) -> tuple[bytes | None, str | None]:
    """The record's ``(secret, secret_file)``: the secret sealed with the storage key, or the
    file it is to be written to (by :func:`_write_secret_file`, once the store took the
    change: see :func:`add_system`)."""
    if cipher is not None:
        return seal(cipher, _aad(system_id), secret.encode()), None
    return None, str(secret_path(data_dir, system_id))


def load_secret(system: VxpSystem, cipher: BlobCipher | None, data_dir: Path | None = None) -> str:
    """The system's secret, from the store (sealed) or its file.

    The record names the file by the absolute path it was written to; a data directory that
    was moved since (restored elsewhere, a new mount point) no longer has it there, so the
    file is then read from its place under ``data_dir``, the data directory configured now.
    """
    if system.secret is not None:
        return unseal(cipher, _aad(system.system_id), system.secret).decode("utf-8")
    if system.secret_file is None:
        raise HubError(f"VXP system {system.system_id} has no secret")
    path = Path(system.secret_file)
    if data_dir is not None and not path.exists():
        path = secret_path(data_dir, system.system_id)
    return path.read_text(encoding="utf-8").strip()


def check_system_id(system_id: str) -> str:
    """A system id usable in a file name and a header: ``[A-Za-z0-9][A-Za-z0-9._-]{0,63}``."""
    if not _SYSTEM_ID.fullmatch(system_id):
        raise VxpSystemError(
            f"invalid system id {system_id!r}: letters, digits, '.', '_', '-' (at most 64)"
        )
    return system_id


async def add_system(
    store: Store,
    system_id: str,
    agencies: tuple[str, ...],
    *,
    known_agencies: frozenset[str],
    data_dir: Path,
    now: datetime,
    secret: str | None = None,
) -> tuple[VxpSystem, str]:
    """Create a system with a fresh secret (or ``secret``: the demo's prepared one); returns
    the record and the secret (shown once)."""
    check_system_id(system_id)
    if not agencies:
        raise VxpSystemError("a VXP system acts for at least one agency (--agency CODE)")
    for code in agencies:
        try:
            OrganId.parse(code)
        except ValueError as exc:
            raise VxpSystemError(str(exc)) from exc
        if code not in known_agencies:
            raise ConfigError(f"{code} is not in agencies.toml")
    secret = secret or new_secret()
    sealed, secret_file = _where_kept(system_id, secret, store.blob_cipher, data_dir)
    record = VxpSystem(
        system_id=system_id,
        agencies=tuple(agencies),
        secret=sealed,
        secret_file=secret_file,
        changed_at=now,
    )
    # The store's key decides which of two concurrent additions of one id wins (a look-up
    # first would let both pass, and the second would replace the secret the first operator
    # was shown). Only the winner writes the secret file, after winning: a loser writing it
    # would do the same harm. Until then a request naming this system finds no file and
    # fails, but nobody can sign one yet: the secret is shown when this returns.
    created = await store.create_vxp_system(record)
    if created is None:
        raise VxpSystemExists(f"VXP system {system_id} exists; use hub vxp rotate")
    if secret_file is not None:
        _write_secret_file(Path(secret_file), secret)
    return created, secret


async def rotate_secret(
    store: Store, system_id: str, *, data_dir: Path, now: datetime
) -> tuple[VxpSystem, str]:
    """Replace the secret; the old one stops working on every worker's next request.

    One targeted write of the secret's columns: a ``hub vxp disable`` made meanwhile stays
    (a whole record read first and written back would enable the system again). With a
    secret file, the record keeps naming the same file and the old secret works until the
    file is replaced, right after the store took the rotation: a rotation of an unknown
    system writes no file, and a failed write leaves the old file in force."""
    secret = new_secret()
    sealed, secret_file = _where_kept(system_id, secret, store.blob_cipher, data_dir)
    changed = await store.set_vxp_secret(
        system_id, secret=sealed, secret_file=secret_file, changed_at=now, reason="secret rotated"
    )
    if changed is None:
        raise VxpSystemError(f"no VXP system {system_id}")
    if secret_file is not None:
        _write_secret_file(Path(secret_file), secret)
    return changed, secret


async def set_enabled(
    store: Store, system_id: str, enabled: bool, *, reason: str | None, now: datetime
) -> VxpSystem:
    """Disable (or enable again) a system; effective on every worker's next request. Writes
    ``enabled`` only, so a rotation made meanwhile stays."""
    changed = await store.set_vxp_enabled(system_id, enabled, changed_at=now, reason=reason)
    if changed is None:
        raise VxpSystemError(f"no VXP system {system_id}")
    return changed
