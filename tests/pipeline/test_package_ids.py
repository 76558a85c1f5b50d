"""Package ids: UUIDv7 (RFC 9562) in acceptance order, unguessable, 32 hex digits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hub.pipeline.ingest import new_package_id

AT = datetime(2026, 12, 5, 8, 30, 15, 123_000, tzinfo=UTC)


def test_a_package_id_is_a_uuid7_of_its_acceptance_millisecond() -> None:
    package_id = new_package_id(AT)
    assert len(package_id) == 32 and package_id == package_id.lower()
    parsed = uuid.UUID(hex=package_id)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert int(package_id[:12], 16) == int(AT.timestamp() * 1000)


def test_ids_sort_by_acceptance_and_differ_within_a_millisecond() -> None:
    instants = [AT + timedelta(milliseconds=n) for n in range(50)]
    ids = [new_package_id(at) for at in instants]
    assert ids == sorted(ids)
    same = {new_package_id(AT) for _ in range(1000)}
    assert len(same) == 1000  # 74 random bits: the same instant never repeats an id
    # The random part really varies in every bit range, not a counter.
    tails = [int(i[13:], 16) for i in same]
    assert max(tails) - min(tails) > 2**60
