"""Plain records the audit backends return."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last event of one chain, as the chain table records it."""

    chain_id: str
    owner: str
    head_seq: int
    head_hash: str


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    """One stored checkpoint: the signed XML and, if any, its RFC 3161 token."""

    id: int
    at: datetime
    document: bytes
    tst: bytes | None


@dataclass(frozen=True, slots=True)
class SignedAck:
    """An acknowledgement signed by the recipient, exact bytes."""

    package_id: str
    recipient: str
    received_at: datetime
    data: bytes
