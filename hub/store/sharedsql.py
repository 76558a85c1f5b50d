"""SQL text and row mappers that :mod:`hub.store.sqlite` and :mod:`hub.store.postgres` share.

Statements are written once with ``?`` placeholders; the PostgreSQL backend passes them
through :func:`pg` (``?`` becomes ``%s``), as :mod:`hub.store.postgres.lifecycle` and
:mod:`hub.store.postgres.revinfo` do. What stays per backend is only what really differs: how a
time, a boolean or a JSON value is stored (a mapper takes the backend's time conversion), and
statements whose dialects differ (the PostgreSQL directory upsert's ``unnest``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hub.models import DirectoryRecord, VxpSystem
from hub.storage_crypto import BlobCipher, unseal
from hub.store.cursors import decode_cursor
from hub.store.textsearch import subject_filter


def pg(text: str) -> str:
    """A statement written with ``?`` placeholders, in psycopg's ``%s`` style."""
    return text.replace("?", "%s")


def pg_in(value: datetime) -> datetime:
    """A time bound for PostgreSQL: naive times are refused rather than guessed."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value


def pg_out(value: datetime) -> datetime:
    """A ``timestamptz`` read from PostgreSQL, in UTC (as the SQLite backend returns it)."""
    return value.astimezone(UTC)


# -- package blobs -------------------------------------------------------------------------------

COUNT_BLOBS = "SELECT COUNT(*) FROM package_blobs"


#: One blob column of a package, ``data`` or ``receipt`` (parameter: the package id).
BLOB_SELECT = {
    "data": "SELECT data FROM package_blobs WHERE package_id = ?",
    "receipt": "SELECT receipt FROM package_blobs WHERE package_id = ?",
}


def opened_blob(cipher: BlobCipher | None, column: str, package_id: str, stored: Any) -> bytes:
    """A blob as read back: only the package bytes (``data``) are encrypted at rest; receipts
    stay in clear (they are evidence)."""
    raw = bytes(stored)
    return unseal(cipher, package_id, raw) if column == "data" else raw


# -- inbox and outbox pages ----------------------------------------------------------------------


def page_start(
    cursor: str | None,
    limit: int,
    q: str | None,
    cipher: BlobCipher | None,
    *,
    placeholder: str,
) -> tuple[int, str, list[str]]:
    """The start of an inbox or outbox page: the ``seq`` after ``cursor``, and the Subject
    filter on ``p`` (``""``: none) with its parameters. ``ValueError``: a cursor the store did
    not hand out, ``limit`` below 1, too many words in ``q``."""
    after = decode_cursor(cursor)
    if limit < 1:
        raise ValueError("limit must be positive")
    where, words = subject_filter(q, cipher, column="p.subject_terms", placeholder=placeholder)
    return after, where, words


# -- agency directory (issue 11) ------------------------------------------------------------------

DIRECTORY_SELECT = (
    "SELECT code, name, parent, code102, old_code, revision, updated_at "
    "FROM directory_entries ORDER BY code"
)
DIRECTORY_REVISION = "SELECT COALESCE(MAX(revision), 0) FROM directory_entries"


def directory_record(row: Any, time_out: Callable[[Any], datetime]) -> DirectoryRecord:
    """One ``directory_entries`` row of :data:`DIRECTORY_SELECT`."""
    code, name, parent, code102, old_code, revision, at = row
    return DirectoryRecord(code, name, parent, code102, old_code, int(revision), time_out(at))


# -- runtime agency changes -----------------------------------------------------------------------

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


# -- VXP facade systems (issue 11) ----------------------------------------------------------------

VXP_UPSERT = (
    "INSERT INTO vxp_systems (system_id, agencies, enabled, secret, secret_file, "
    "version, changed_at, reason) VALUES (?, ?, ?, ?, ?, 1, ?, ?) "
    "ON CONFLICT (system_id) DO UPDATE SET agencies = excluded.agencies, "
    "enabled = excluded.enabled, secret = excluded.secret, "
    "secret_file = excluded.secret_file, version = vxp_systems.version + 1, "
    "changed_at = excluded.changed_at, reason = excluded.reason"
)
VXP_SELECT = (
    "SELECT system_id, agencies, enabled, secret, secret_file, version, changed_at, reason "
    "FROM vxp_systems"
)


def vxp_system(row: Any, time_out: Callable[[Any], datetime]) -> VxpSystem:
    """One ``vxp_systems`` row of :data:`VXP_SELECT` (``agencies`` is JSON text on both)."""
    system_id, agencies, enabled, secret, secret_file, version, changed_at, reason = row
    return VxpSystem(
        system_id=system_id,
        agencies=tuple(json.loads(agencies)),
        enabled=bool(enabled),
        secret=None if secret is None else bytes(secret),
        secret_file=secret_file,
        version=int(version),
        changed_at=time_out(changed_at),
        reason=reason,
    )
