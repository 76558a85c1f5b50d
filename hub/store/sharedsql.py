"""The blob helper the in-memory store reads through this name; the SQL both backends share
lives in :mod:`hub.store.sql`."""

from __future__ import annotations

from hub.store.sql.packages import opened_blob

__all__ = ["opened_blob"]
