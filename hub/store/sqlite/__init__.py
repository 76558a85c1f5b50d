"""The embedded default store backend: one SQLite file in WAL mode (:class:`SqliteStore`)."""

from hub.store.sqlite.store import MIGRATIONS_DIR, SqliteStore, migrations

__all__ = ["MIGRATIONS_DIR", "SqliteStore", "migrations"]
