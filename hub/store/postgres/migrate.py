"""PostgreSQL plumbing shared by :class:`hub.store.postgres.PostgresStore` and ``hub db migrate``:
versioned migrations, schema names, advisory-lock keys and password-free DSNs.

Migrations are the numbered scripts in ``migrations/`` (``NNNN_name.sql``), the same
scheme as SQLite's. Each one runs in its own transaction together with its ``schema_version``
row, under ``pg_advisory_xact_lock`` on a key derived from the schema name: any number of hub
processes (or ``hub db migrate``) may start at once against a fresh database and each
migration is applied exactly once; migrators of *other* schemas are not held up. DDL is
transactional in PostgreSQL, so a failed migration leaves nothing half-applied.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from hub.sqlitedb import Migration, load_migrations

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: Scripts that are the same text for SQLite and PostgreSQL, read by both backends.
SHARED_MIGRATIONS_DIR = Path(__file__).parent.parent / "migrations"
VERSION_TABLE = "schema_version"

#: Lower-case SQL identifiers only: a schema name is configuration, never quoted user input,
#: and refusing anything else keeps it usable unquoted in psql and in ``search_path``.
_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_schema_name(schema: str) -> str:
    """Return ``schema`` if it is a plain lower-case identifier, else raise ``ValueError``."""
    if not _SCHEMA_RE.match(schema):
        raise ValueError(
            f"invalid PostgreSQL schema name {schema!r}: use lower-case letters, digits and _"
        )
    return schema


def advisory_key(purpose: str, schema: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``purpose`` within ``schema``."""
    digest = hashlib.sha256(f"vn-exchange-hub:{purpose}:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def mask_dsn(dsn: str) -> str:
    """The DSN without its password, for logs and error messages.

    Handles URLs (``postgresql://user:secret@host/db``) and key/value strings
    (``host=h password=secret``); anything unparseable is replaced wholesale.
    """
    if "://" in dsn:
        try:
            parts = urlsplit(dsn)
            netloc = parts.netloc
            if "@" in netloc:
                userinfo, _, hostport = netloc.rpartition("@")
                user = userinfo.split(":", 1)[0]
                netloc = f"{user}:***@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
            query = re.sub(r"(?i)(password=)[^&]*", r"\1***", parts.query)
            return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
        except ValueError:
            return "postgresql://***"
    return re.sub(r"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", dsn)


def scrub(text: str, dsn: str) -> str:
    """``text`` with every occurrence of the DSN's password replaced (driver messages may
    echo connection parameters)."""
    password: str | None = None
    try:
        password = psycopg.conninfo.conninfo_to_dict(dsn).get("password")  # type: ignore[assignment]
    except psycopg.Error:
        password = None
    if password:
        text = text.replace(str(password), "***")
    return text.replace(dsn, mask_dsn(dsn))


def migrations() -> tuple[Migration, ...]:
    """The PostgreSQL migration scripts, ordered by number."""
    return load_migrations(MIGRATIONS_DIR, SHARED_MIGRATIONS_DIR)


async def apply_migrations(
    conn: psycopg.AsyncConnection[object],
    schema: str,
    scripts: Sequence[Migration] | None = None,
) -> int:
    """Create ``schema`` if needed and apply every migration newer than its recorded version.

    ``conn`` must be in autocommit mode (each migration is its own explicit transaction).
    Returns the schema's version afterwards.
    """
    check_schema_name(schema)
    scripts = migrations() if scripts is None else scripts
    ident = sql.Identifier(schema)
    table = sql.Identifier(schema, VERSION_TABLE)
    key = advisory_key("migrate", schema)
    # The first pass creates the schema and the version table (concurrent CREATE … IF NOT
    # EXISTS can still collide on the catalog's unique index, hence the lock around it too).
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
        await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
        await conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (version INTEGER PRIMARY KEY, "
                "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            ).format(table)
        )
    for migration in scripts:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
            # Every migration not recorded yet runs, even one numbered below an applied one
            # (features may land in either order).
            cur = await conn.execute(
                sql.SQL("SELECT 1 FROM {} WHERE version = %s").format(table), (migration.version,)
            )
            if await cur.fetchone() is not None:
                continue
            # SET LOCAL: the script's unqualified names land in the schema, and the setting
            # ends with this transaction.
            await conn.execute(sql.SQL("SET LOCAL search_path TO {}, pg_catalog").format(ident))
            # No parameters: psycopg sends the script with the simple-query protocol, which
            # runs several statements in one call (inside our transaction).
            await conn.execute(migration.sql.encode("utf-8"))
            await conn.execute(
                sql.SQL("INSERT INTO {} (version, name) VALUES (%s, %s)").format(table),
                (migration.version, migration.name),
            )
    cur = await conn.execute(sql.SQL("SELECT COALESCE(MAX(version), 0) FROM {}").format(table))
    row = await cur.fetchone()
    return int(row[0]) if row is not None else 0  # type: ignore[index]


async def migrate(dsn: str, schema: str = "hub") -> int:
    """Connect once and migrate ``schema`` (``hub db migrate``); return its version."""
    async with await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, application_name="hub-migrate"
    ) as conn:
        return await apply_migrations(conn, schema)
