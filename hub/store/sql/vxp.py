"""VXP facade systems (issue 11): statements and row mappers both store backends run (``?``
placeholders; see :mod:`hub.store.sql`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.models import VxpSystem
from hub.store.sql.dialect import Dialect

UPSERT = (
    "INSERT INTO vxp_systems (system_id, agencies, enabled, secret, secret_file, "
    "version, changed_at, reason) VALUES (?, ?, ?, ?, ?, 1, ?, ?) "
    "ON CONFLICT (system_id) DO UPDATE SET agencies = excluded.agencies, "
    "enabled = excluded.enabled, secret = excluded.secret, "
    "secret_file = excluded.secret_file, version = vxp_systems.version + 1, "
    "changed_at = excluded.changed_at, reason = excluded.reason"
)
_SELECT = (
    "SELECT system_id, agencies, enabled, secret, secret_file, version, changed_at, reason "
    "FROM vxp_systems"
)
ONE = _SELECT + " WHERE system_id = ?"
ALL = _SELECT + " ORDER BY system_id"


def upsert_params(system: VxpSystem, changed_at: datetime, d: Dialect) -> tuple[Any, ...]:
    """Parameters of :data:`UPSERT` (``agencies`` is JSON text on both backends)."""
    return (
        system.system_id,
        json.dumps(list(system.agencies)),
        d.bool_in(system.enabled),
        system.secret,
        system.secret_file,
        d.time_in(changed_at),
        system.reason,
    )


def vxp_system(row: Sequence[Any], d: Dialect) -> VxpSystem:
    """One ``vxp_systems`` row of :data:`ONE` or :data:`ALL`."""
    system_id, agencies, enabled, secret, secret_file, version, changed_at, reason = row
    return VxpSystem(
        system_id=system_id,
        agencies=tuple(json.loads(agencies)),
        enabled=bool(enabled),
        secret=None if secret is None else bytes(secret),
        secret_file=secret_file,
        version=int(version),
        changed_at=d.time_out(changed_at),
        reason=reason,
    )
