"""The PostgreSQL store backend (:class:`PostgresStore`), for several hub processes on one
database."""

from hub.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
