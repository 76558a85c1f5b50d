"""VXP facade systems: statements and row mappers both store backends run (``?``
placeholders; see :mod:`hub.store.sql`)."""

# SQL text is assembled only from the module's constants, never from input; every value is a
# bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.models import VxpSystem
from hub.store.sql.dialect import Dialect

#: The columns :func:`vxp_system` maps, in its order.
_COLUMNS = "system_id, agencies, enabled, secret, secret_file, version, changed_at, reason"

#: Create a system, unless its id exists: then no row comes back and the stored one is left
#: as it is. The primary key decides between two concurrent creations, never a read first.
INSERT = (
    "INSERT INTO vxp_systems (system_id, agencies, enabled, secret, secret_file, "
    "version, changed_at, reason) VALUES (?, ?, ?, ?, ?, 1, ?, ?) "
    f"ON CONFLICT (system_id) DO NOTHING RETURNING {_COLUMNS}"
)
# The two changes write their own columns only (and the version, by one, in the statement):
# a rotation and a disable that cross each other both stay, whichever commits first. A
# whole-row write from a copy read before would undo the other one.
SET_SECRET = (
    "UPDATE vxp_systems SET secret = ?, secret_file = ?, version = version + 1, "
    f"changed_at = ?, reason = ? WHERE system_id = ? RETURNING {_COLUMNS}"
)
SET_ENABLED = (
    "UPDATE vxp_systems SET enabled = ?, version = version + 1, "
    f"changed_at = ?, reason = ? WHERE system_id = ? RETURNING {_COLUMNS}"
)
_SELECT = f"SELECT {_COLUMNS} FROM vxp_systems"
ONE = _SELECT + " WHERE system_id = ?"
ALL = _SELECT + " ORDER BY system_id"


def insert_params(system: VxpSystem, changed_at: datetime, d: Dialect) -> tuple[Any, ...]:
    """Parameters of :data:`INSERT` (``agencies`` is JSON text on both backends)."""
    return (
        system.system_id,
        json.dumps(list(system.agencies)),
        d.bool_in(system.enabled),
        system.secret,
        system.secret_file,
        d.time_in(changed_at),
        system.reason,
    )


def set_secret_params(
    system_id: str,
    secret: bytes | None,
    secret_file: str | None,
    changed_at: datetime,
    reason: str | None,
    d: Dialect,
) -> tuple[Any, ...]:
    """Parameters of :data:`SET_SECRET`."""
    return (secret, secret_file, d.time_in(changed_at), reason, system_id)


def set_enabled_params(
    system_id: str, enabled: bool, changed_at: datetime, reason: str | None, d: Dialect
) -> tuple[Any, ...]:
    """Parameters of :data:`SET_ENABLED`."""
    return (d.bool_in(enabled), d.time_in(changed_at), reason, system_id)


def vxp_system(row: Sequence[Any], d: Dialect) -> VxpSystem:
    """One ``vxp_systems`` row of :data:`ONE`, :data:`ALL` or a ``RETURNING`` above."""
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
