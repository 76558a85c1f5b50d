"""``sqldb``: an agency database with a transactional outbox and an idempotent inbox.

See :mod:`adapters.sqldb.adapter` (tables, exactly once), :mod:`adapters.sqldb.db` (SQLite and
PostgreSQL) and :mod:`adapters.sqldb.simulator` (the agency's own software).
"""

from adapters.sqldb.adapter import Settings, SqldbAdapter, create_adapter

__all__ = ["Settings", "SqldbAdapter", "create_adapter"]
