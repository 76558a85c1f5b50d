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
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from hub.audit.owner import new_chain_id, process_owner
from hub.store.records import ChainedEvent

#: ``prev_hash`` of the first event of every chain
GENESIS = "0" * 64
#: version of the canonical encoding, part of every hashed line
ENCODING_VERSION = 1


def format_at(at: datetime) -> str:
    """Fixed-width UTC instant with microseconds (``2026-03-02T01:30:00.000000Z``)."""
    if at.tzinfo is None:
        raise ValueError("naive datetime in an audit event")
    utc = at if at.tzinfo is UTC else at.astimezone(UTC)
    if utc.year >= 1000:
        # The same text as the strftime below (which pads no year below 1000), at half the
        # cost: every event is hashed with it, and every verification hashes them again.
        return utc.isoformat(timespec="microseconds")[:-6] + "Z"  # without its "+00:00"
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


#: Values a JSON round trip gives back as they are (exact types: a str or int subclass, such
#: as an enum, reads back as its base type).
_PLAIN = frozenset({str, int, bool, type(None)})


def _plain(value: object) -> bool:
    if type(value) in _PLAIN:
        return True
    return type(value) is list and all(type(v) in _PLAIN for v in value)


def normalise_detail(detail: Mapping[str, object]) -> dict[str, Any]:
    """The detail as it reads back from the store (JSON round trip, ``default=str``), so the
    hash computed at insert equals the hash recomputed from the stored row.

    Most details are flat (text, numbers, lists of codes), which the round trip leaves as
    they are: those are copied without it."""
    if all(type(k) is str and _plain(v) for k, v in detail.items()):
        return dict(detail)
    value: dict[str, Any] = json.loads(json.dumps(dict(detail), ensure_ascii=False, default=str))
    return value


def canonical(event: ChainedEvent) -> bytes:
    """The line that is hashed: every field of the row except ``hash`` itself."""
    return _canonical(event, event.detail)


#: The canonical line's encoder: one instance, not one per line (``json.dumps`` with options
#: builds a new encoder for every call).
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode
_quote = json.encoder.encode_basestring_ascii  # str -> its JSON text, ASCII only (C)
_int_text = int.__repr__  # what the encoder writes for an int (an IntEnum too)


def _text_or_null(value: object) -> str | None:
    """``value`` as the encoder writes it, for the types a row's fields have (text, ``None``);
    ``None`` for anything else."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return _quote(value)
    return None


def _int_or_null(value: object) -> str | None:
    if value is None:
        return "null"
    if isinstance(value, int) and not isinstance(value, bool):
        return _int_text(value)
    return None


def _canonical(event: ChainedEvent, detail: Mapping[str, Any]) -> bytes:
    at = format_at(event.at)
    fields = (
        _int_or_null(event.attempt),
        _text_or_null(event.chain_id),
        _text_or_null(event.kind),
        _int_or_null(event.chain_seq),
        _text_or_null(event.package_id),
        _text_or_null(event.prev_hash),
        _text_or_null(event.recipient),
        _int_or_null(event.seq),
    )
    if None in fields:  # a type the row never holds: let the encoder decide, as it always did
        return _encode_body(event, detail, at)
    attempt, chain, kind, n, package_id, prev, recipient, seq = fields
    # The keys in sorted order, as ``sort_keys`` writes them: the same bytes as
    # :func:`_encode_body` (a test compares both), at a third of its cost — every event the
    # hub writes is hashed here, several per package.
    return (
        f'{{"at":"{at}","attempt":{attempt},"chain":{chain},'
        f'"detail":{_ENCODE(detail) if detail else "{}"},"kind":{kind},"n":{n},'
        f'"package_id":{package_id},"prev":{prev},"recipient":{recipient},"seq":{seq},'
        f'"v":{ENCODING_VERSION}}}'
    ).encode("ascii")


def _encode_body(event: ChainedEvent, detail: Mapping[str, Any], at: str) -> bytes:
    """The canonical line by the definition: every field in one JSON object, keys sorted, no
    spaces, ASCII only."""
    body = {
        "v": ENCODING_VERSION,
        "seq": event.seq,
        "chain": event.chain_id,
        "n": event.chain_seq,
        "prev": event.prev_hash,
        "package_id": event.package_id,
        "kind": event.kind,
        "at": at,
        "recipient": event.recipient,
        "attempt": event.attempt,
        "detail": detail,
    }
    return _ENCODE(body).encode("ascii")


def compute_hash(event: ChainedEvent) -> str:
    """SHA-256 (hex) of :func:`canonical`."""
    return hashlib.sha256(canonical(event)).hexdigest()


def sealed(event: ChainedEvent) -> ChainedEvent:
    """``event`` with ``hash`` set from its content."""
    return replace(event, hash=compute_hash(event))


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
    row = ChainedEvent(
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
    )
    return sealed(row)


class AuditChain:
    """The audit chain as the store needs it (:class:`hub.store.facets.EventChainer`): this
    module's hashing and :mod:`hub.audit.owner`'s process identity, handed to every store a
    hub process builds (:func:`hub.runtime.make_store`), so the backends chain each event in
    the transaction that writes it without importing the audit package."""

    @property
    def genesis(self) -> str:
        """See :attr:`hub.store.facets.EventChainer.genesis`."""
        return GENESIS

    def owner(self) -> str:
        """See :meth:`hub.store.facets.EventChainer.owner`."""
        return process_owner()

    def new_chain_id(self) -> str:
        """See :meth:`hub.store.facets.EventChainer.new_chain_id`."""
        return new_chain_id()

    def seal(self, row: ChainedEvent) -> ChainedEvent:
        """See :meth:`hub.store.facets.EventChainer.seal`."""
        detail = normalise_detail(row.detail)
        return replace(row, detail=detail, hash=hashlib.sha256(_canonical(row, detail)).hexdigest())
