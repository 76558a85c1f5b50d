"""The paging cursor format every store backend shares (and the API checks before asking
one): an opaque token for "after ``seq``"."""

from __future__ import annotations

import base64
import binascii


def encode_cursor(seq: int) -> str:
    """An opaque cursor for "after ``seq``" (base64 so clients do not do arithmetic on it)."""
    return base64.urlsafe_b64encode(f"s{seq}".encode("ascii")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The seq a cursor stands for; 0 for the first page. ``ValueError`` if malformed."""
    if cursor is None or cursor == "":
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"invalid cursor {cursor!r}") from exc
    if not raw.startswith("s") or not raw[1:].isdigit() or len(raw) > 20:
        raise ValueError(f"invalid cursor {cursor!r}")
    seq = int(raw[1:])
    if seq >= 2**63:  # past any seq (a BIGINT): PostgreSQL would refuse the parameter
        raise ValueError(f"invalid cursor {cursor!r}")
    return seq
