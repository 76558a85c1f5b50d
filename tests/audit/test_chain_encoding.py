"""The hashed line's pieces: the detail as the store reads it back, the instant's text."""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from hub.audit.chain import AuditChain, canonical, format_at, normalise_detail, sealed
from hub.store.records import ChainedEvent


class Kind(enum.StrEnum):
    PULL = "pull"


class Level(enum.IntEnum):
    HIGH = 3


def round_trip(detail: dict[Any, Any]) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(json.dumps(detail, ensure_ascii=False, default=str))
    return value


@pytest.mark.parametrize(
    "detail",
    [
        {},
        {"via": "pull"},
        {"sha256": "ab" * 32, "size": 20261},
        {"for": ["000.00.00.G22", "000.00.01.H29"], "attempt": 0, "ok": True, "why": None},
        {"text": "Văn thư – 𝔘 \ud800 \x00"},  # non-ASCII, astral, a lone surrogate, NUL
        {"via": Kind.PULL, "level": Level.HIGH},  # enums read back as their plain values
        {"ratio": 0.1, "big": 1e400},  # floats take the round trip
        {"at": datetime(2026, 3, 2, tzinfo=UTC)},  # default=str
        {"nested": {"a": [1, {"b": 2}]}, "tuple": (1, 2)},
        {1: "int key", "ok": "x"},  # keys become text
        {"codes": ["a", 1, None, Kind.PULL]},
    ],
)
def test_normalise_detail_is_the_json_round_trip(detail: dict[Any, Any]) -> None:
    got = normalise_detail(detail)
    want = round_trip(detail)
    assert got == want
    assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)
    assert [type(v) for v in got.values()] == [type(v) for v in want.values()]


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 3, 2, 1, 30, tzinfo=UTC),
        datetime(2026, 3, 2, 8, 30, 0, 123456, tzinfo=timezone(timedelta(hours=7))),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
        datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),  # strftime pads no year below 1000
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    ],
)
def test_format_at_is_the_fixed_width_utc_text(at: datetime) -> None:
    assert format_at(at) == at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_seal_hashes_the_canonical_line_of_the_normalised_row() -> None:
    row = ChainedEvent(
        seq=7,
        package_id="p1",
        kind="available",
        at=datetime(2026, 3, 2, 8, 30, tzinfo=timezone(timedelta(hours=7))),
        recipient="000.00.00.G22",
        attempt=0,
        detail={"for": ["000.00.01.H29"], "via": Kind.PULL},
        chain_id="c" * 24,
        chain_seq=3,
        prev_hash="0" * 64,
    )
    got = AuditChain().seal(row)
    assert got.detail == {"for": ["000.00.01.H29"], "via": "pull"}
    assert got == sealed(replace(row, detail=got.detail))
    assert got.hash == hashlib.sha256(canonical(got)).hexdigest()
    assert canonical(got).startswith(b'{"at":"2026-03-02T01:30:00.000000Z"')


def _reference_line(row: ChainedEvent) -> bytes:
    """The canonical line by its definition (module docstring): the whole row but its hash,
    one JSON object, keys sorted, no spaces, ASCII only."""
    body = {
        "v": 1,
        "seq": row.seq,
        "chain": row.chain_id,
        "n": row.chain_seq,
        "prev": row.prev_hash,
        "package_id": row.package_id,
        "kind": row.kind,
        "at": format_at(row.at),
        "recipient": row.recipient,
        "attempt": row.attempt,
        "detail": row.detail,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"package_id": None, "recipient": None, "attempt": None},
        {"attempt": 3, "recipient": "000.00.01.H29"},
        {"kind": Kind.PULL, "attempt": Level.HIGH},  # enums: their plain values
        {"kind": 'quote " back\\slash', "recipient": "Văn thư – 𝔘 \x00"},  # escaped
        {"detail": {"b": 1, "a": {"z": [1, "đ"], "y": None}, "c": 0.5}},  # nested, sorted
        {"detail": {"for": ["000.00.00.G22"], "ok": True}},
        {"seq": 2**63 - 1, "chain_seq": 0, "prev_hash": None, "chain_id": None},
        {"attempt": True},  # a bool is written as JSON's true: the encoder's own path
        {"attempt": 1.5},  # a float never comes from the store; the encoder's path still
    ],
)
def test_the_canonical_line_is_the_json_of_its_definition(changes: dict[str, Any]) -> None:
    row = ChainedEvent(
        seq=41,
        package_id="019aa1b2c3d4e5f60718293a4b5c6d7e",
        kind="delivered",
        at=datetime(2026, 3, 2, 8, 30, 0, 5, tzinfo=timezone(timedelta(hours=7))),
        recipient="000.00.00.G22",
        attempt=None,
        detail={},
        chain_id="c" * 24,
        chain_seq=9,
        prev_hash="f" * 64,
    )
    row = replace(row, **changes)
    assert canonical(row) == _reference_line(row)
