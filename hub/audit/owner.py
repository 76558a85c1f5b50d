"""The per-process writer identity that owns audit chains."""

from __future__ import annotations

import os
import secrets
import socket

_owner: tuple[int, str] | None = None


def process_owner() -> str:
    """A random id for this process (``host:pid:random``), renewed after ``fork``: a forked
    worker must never continue its parent's chain from a stale position."""
    global _owner
    pid = os.getpid()
    if _owner is None or _owner[0] != pid:
        _owner = (pid, f"{socket.gethostname()}:{pid}:{secrets.token_hex(6)}")
    return _owner[1]


def new_chain_id() -> str:
    """A fresh chain id (random, so ids never collide across processes or hosts)."""
    return secrets.token_hex(12)
