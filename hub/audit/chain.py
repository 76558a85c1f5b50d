"""The hash chain: canonical encoding of one event and its SHA-256 link.

Every event row carries ``(chain_id, chain_seq, prev_hash, hash)``. A *chain* belongs to one
writer (a store instance in one process, or one of its connection lanes on PostgreSQL), so
writers never wait on each other to extend the log; signed checkpoints join every chain's head
(:mod:`hub.audit.checkpoint`).

The canonical form is one line of JSON (sorted keys, no spaces, ASCII only), so a third party
can recompute a hash with ``printf '%s' "$line" | openssl dgst -sha256`` — no library needed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

#: ``prev_hash`` of the first event of every chain
GENESIS = "0" * 64
#: version of the canonical encoding, part of every hashed line
ENCODING_VERSION = 1


def format_at(at: datetime) -> str:
    """Fixed-width UTC instant with microseconds (``2026-03-02T01:30:00.000000Z``)."""
    if at.tzinfo is None:
        raise ValueError("naive datetime in an audit event")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normalise_detail(detail: Mapping[str, object]) -> dict[str, Any]:
    """The detail as it reads back from the store (JSON round trip, ``default=str``), so the
    hash computed at insert equals the hash recomputed from the stored row."""
    value: dict[str, Any] = json.loads(json.dumps(dict(detail), ensure_ascii=False, default=str))
    return value


@dataclass(frozen=True, slots=True)
class ChainedEvent:
    """One event row with its chain fields, exactly as stored."""

    seq: int
    package_id: str | None
    kind: str
    at: datetime
    recipient: str | None
    attempt: int | None
    detail: dict[str, Any] = field(default_factory=dict)
    chain_id: str | None = None
    chain_seq: int | None = None
    prev_hash: str | None = None
    hash: str | None = None

    def canonical(self) -> bytes:
        """The line that is hashed: every field of the row except ``hash`` itself."""
        body = {
            "v": ENCODING_VERSION,
            "seq": self.seq,
            "chain": self.chain_id,
            "n": self.chain_seq,
            "prev": self.prev_hash,
            "package_id": self.package_id,
            "kind": self.kind,
            "at": format_at(self.at),
            "recipient": self.recipient,
            "attempt": self.attempt,
            "detail": self.detail,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode(
            "ascii"
        )

    def compute_hash(self) -> str:
        """SHA-256 (hex) of :meth:`canonical`."""
        return hashlib.sha256(self.canonical()).hexdigest()

    def sealed(self) -> ChainedEvent:
        """This event with ``hash`` set from its content."""
        return replace(self, hash=self.compute_hash())


def link(
    *,
    seq: int,
    package_id: str | None,
    kind: str,
    at: datetime,
    recipient: str | None,
    attempt: int | None,
    detail: Mapping[str, object],
    chain_id: str,
    chain_seq: int,
    prev_hash: str,
) -> ChainedEvent:
    """Build and seal the next event of a chain."""
    return ChainedEvent(
        seq=seq,
        package_id=package_id,
        kind=kind,
        at=at,
        recipient=recipient,
        attempt=attempt,
        detail=normalise_detail(detail),
        chain_id=chain_id,
        chain_seq=chain_seq,
        prev_hash=prev_hash,
    ).sealed()
