"""The agency directory (issue 11) and runtime agency changes: statements and row mappers both
store backends run (``?`` placeholders; see :mod:`hub.store.sql`).

The directory import's upsert stays per backend: PostgreSQL writes the whole import in one
``unnest`` statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.models import AgencyOverride, DirectoryRecord
from hub.store.sql.dialect import Dialect

# -- agency directory ------------------------------------------------------------------------

DIRECTORY_SELECT = (
    "SELECT code, name, parent, code102, old_code, revision, updated_at "
    "FROM directory_entries ORDER BY code"
)
DIRECTORY_REVISION = "SELECT COALESCE(MAX(revision), 0) FROM directory_entries"


def directory_record(row: Sequence[Any], d: Dialect) -> DirectoryRecord:
    """One ``directory_entries`` row of :data:`DIRECTORY_SELECT`."""
    code, name, parent, code102, old_code, revision, at = row
    return DirectoryRecord(code, name, parent, code102, old_code, int(revision), d.time_out(at))


# -- runtime agency changes ------------------------------------------------------------------

# The target table is named, not aliased: SQLite takes no alias on an upsert's INSERT.
AGENCY_OVERRIDE_UPSERT = (
    "INSERT INTO agency_overrides (organ_id, enabled, token_sha256, changed_at, "
    "reason, signature_profile) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (organ_id) DO UPDATE SET "
    "enabled = COALESCE(excluded.enabled, agency_overrides.enabled), "
    "token_sha256 = COALESCE(excluded.token_sha256, agency_overrides.token_sha256), "
    "changed_at = COALESCE(excluded.changed_at, agency_overrides.changed_at), "
    "reason = COALESCE(excluded.reason, agency_overrides.reason), "
    "signature_profile = COALESCE(excluded.signature_profile, agency_overrides.signature_profile)"
)
AGENCY_OVERRIDES_SELECT = (
    "SELECT organ_id, enabled, token_sha256, changed_at, reason, signature_profile "
    "FROM agency_overrides ORDER BY organ_id"
)


def agency_override_params(override: AgencyOverride, d: Dialect) -> tuple[Any, ...]:
    """Parameters of :data:`AGENCY_OVERRIDE_UPSERT` (``NULL``: keep the stored value)."""
    return (
        override.organ_id,
        None if override.enabled is None else d.bool_in(override.enabled),
        None if override.token_sha256 is None else d.json_in(list(override.token_sha256)),
        None if override.changed_at is None else d.time_in(override.changed_at),
        override.reason,
        override.signature_profile,
    )


def agency_override(row: Sequence[Any], d: Dialect) -> AgencyOverride:
    """One merged record of :data:`AGENCY_OVERRIDES_SELECT`."""
    organ_id, enabled, tokens, changed_at, reason, profile = row
    return AgencyOverride(
        organ_id=organ_id,
        enabled=None if enabled is None else bool(enabled),
        token_sha256=None if tokens is None else tuple(d.json_out(tokens)),
        changed_at=d.time_or_none(changed_at),
        reason=reason,
        signature_profile=profile,
    )
