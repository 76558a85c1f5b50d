"""Operator tools on the store's database: ``hub db copy``, ``backup``, ``restore``, ``requeue``.

Backend-specific SQL on the stores' own databases rather than new :class:`~hub.store.abc.Store`
methods: a copy must carry what the contract deliberately does not expose (acceptance ``seq``,
delivery states as they are, the event log with its order), and a backup must be consistent
while a hub is serving — both are properties of the database, not of the hub's API.

**copy** (SQLite → PostgreSQL): reads one consistent snapshot of the SQLite file (a read
transaction in WAL mode: the embedded hub keeps serving) and writes the PostgreSQL schema
(migrated first) in acceptance order. Packages and events keep their ``seq`` (cursors that
clients hold stay valid); it is idempotent — packages and events past the target's highest
``seq`` are inserted, deliveries and agency overrides are upserted where they differ (the
source is the authority until cut-over) — so it runs while the embedded hub serves and once
more after it stopped. It refuses a target whose rows are not a prefix of the source's (a hub
already served from it). ``requeue`` then publishes the deliveries that still need the broker
(``queued``, ``failed``, ``delivered``) into the new broker; consumers are idempotent by
(package id, recipient), so an entry too many is settled without effect.

**backup/restore**: SQLite through the online backup API (a consistent copy of a live file,
embedded broker queue included); PostgreSQL through ``pg_dump -Fc -n <schema>`` and
``pg_restore`` (the password goes through ``PGPASSWORD``, never the command line).
"""

# SQL text is assembled only from module constants and checked identifiers; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.config import Settings

BATCH = 500
#: Delivery states whose work is still in the broker (or must be put there after a move).
REQUEUE_STATES = ("queued", "failed", "delivered")


class DbToolError(Exception):
    """The operation cannot be done as asked (the message says why; no password in it)."""


@dataclass
class CopyReport:
    """What one ``copy`` run did."""

    packages: int = 0
    deliveries: int = 0
    events: int = 0
    overrides: int = 0
    source_packages: int = 0
    source_deliveries: dict[str, int] = field(default_factory=dict)


# -- SQLite source ------------------------------------------------------------------------------


def _sqlite_source(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise DbToolError(f"no SQLite store at {path}")
    # Read-only: the copy must never write to the installation it moves away from.
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=10)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def _sqlite_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def _chunks(cur: sqlite3.Cursor) -> Iterator[list[Any]]:
    while rows := cur.fetchmany(BATCH):
        yield rows


# -- PostgreSQL target --------------------------------------------------------------------------


def _pg_connect(dsn: str, schema: str) -> Any:
    import psycopg
    from psycopg import sql

    conn = psycopg.connect(dsn, application_name="hub-dbtools")
    conn.execute(
        sql.SQL("SET search_path TO {}, pg_catalog; SET TimeZone TO 'UTC'").format(
            sql.Identifier(schema)
        )
    )
    conn.commit()
    return conn


def _migrate_pg(dsn: str, schema: str) -> int:
    from hub.store.pgmigrate import migrate

    return asyncio.run(migrate(dsn, schema))


_PG_INSERT_PACKAGE = (
    "INSERT INTO packages (seq, id, sha256, sender, kind, document_id, business_doc_type, "
    "status_code, recipients, accepted_at, size, signer_fingerprint, signer_subject, warnings) "
    "OVERRIDING SYSTEM VALUE VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, "
    "%s::timestamptz, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING"
)
_PG_INSERT_BLOB = (
    "INSERT INTO package_blobs (package_id, data, receipt) VALUES (%s, %b, %b) "
    "ON CONFLICT (package_id) DO NOTHING"
)
_PG_UPSERT_DELIVERIES = (
    "INSERT INTO deliveries AS d (package_id, recipient, seq, state, attempts, updated_at, "
    "last_error, acked_at) "
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[], %s::int[], "
    "%s::timestamptz[], %s::text[], %s::timestamptz[]) "
    "ON CONFLICT (package_id, recipient) DO UPDATE SET state = EXCLUDED.state, "
    "attempts = EXCLUDED.attempts, updated_at = EXCLUDED.updated_at, "
    "last_error = EXCLUDED.last_error, acked_at = EXCLUDED.acked_at "
    "WHERE (d.state, d.attempts, d.updated_at, d.last_error, d.acked_at) IS DISTINCT FROM "
    "(EXCLUDED.state, EXCLUDED.attempts, EXCLUDED.updated_at, EXCLUDED.last_error, "
    "EXCLUDED.acked_at)"
)
_PG_INSERT_EVENT = (
    "INSERT INTO events (seq, package_id, kind, at, recipient, attempt, detail) "
    "OVERRIDING SYSTEM VALUE VALUES (%s, %s, %s, %s::timestamptz, %s, %s, %s::jsonb) "
    "ON CONFLICT (seq) DO NOTHING"
)
_PG_UPSERT_OVERRIDE = (
    "INSERT INTO agency_overrides AS o (organ_id, enabled, token_sha256, changed_at, reason) "
    "VALUES (%s, %s, %s::jsonb, %s::timestamptz, %s) ON CONFLICT (organ_id) DO UPDATE SET "
    "enabled = EXCLUDED.enabled, token_sha256 = EXCLUDED.token_sha256, "
    "changed_at = EXCLUDED.changed_at, reason = EXCLUDED.reason "
    "WHERE (o.enabled, o.token_sha256, o.changed_at, o.reason) IS DISTINCT FROM "
    "(EXCLUDED.enabled, EXCLUDED.token_sha256, EXCLUDED.changed_at, EXCLUDED.reason)"
)


def copy_sqlite_to_postgres(
    source: Path, dsn: str, schema: str, *, progress: Any = None
) -> CopyReport:
    """Copy (or bring up to date) the PostgreSQL ``schema`` from the SQLite store ``source``.

    ``progress(what, n)`` is called after each batch if given.
    """
    from psycopg import sql

    from hub.store.pgmigrate import advisory_key, check_schema_name, mask_dsn, scrub
    from hub.store.sqlite import MIGRATIONS_DIR
    from hub.store.sqlitedb import load_migrations

    check_schema_name(schema)
    report = CopyReport()
    src = _sqlite_source(source)
    try:
        expected = max(m.version for m in load_migrations(MIGRATIONS_DIR))
        if _sqlite_version(src) != expected:
            raise DbToolError(
                f"{source} is at schema version {_sqlite_version(src)}, this hub expects "
                f"{expected}: run `hub db migrate` on it first"
            )
        try:
            _migrate_pg(dsn, schema)
            dst = _pg_connect(dsn, schema)
        except DbToolError:
            raise
        except Exception as exc:
            raise DbToolError(f"PostgreSQL {mask_dsn(dsn)}: {scrub(str(exc), dsn)}") from None
        try:
            # One snapshot of the source for the whole run: packages, deliveries and events
            # agree with each other even while the embedded hub keeps writing.
            src.execute("BEGIN")
            seq_lock = advisory_key("seq", schema)
            _copy_packages(src, dst, seq_lock, report, progress)
            _copy_deliveries(src, dst, report, progress)
            _copy_events(src, dst, report, progress)
            _copy_overrides(src, dst, report)
            for table in ("packages", "events"):
                # Identity sequences continue after the copied seqs (new hubs append after).
                dst.execute(
                    sql.SQL(
                        "SELECT setval(pg_get_serial_sequence({t}, 'seq'), "
                        "(SELECT max(seq) FROM {i})) WHERE EXISTS (SELECT 1 FROM {i})"
                    ).format(t=sql.Literal(f"{schema}.{table}"), i=sql.Identifier(table))
                )
            dst.commit()
            report.source_packages = int(src.execute("SELECT count(*) FROM packages").fetchone()[0])
            report.source_deliveries = dict(
                src.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall()
            )
            src.execute("COMMIT")
        finally:
            dst.close()
    finally:
        src.close()
    return report


def _check_prefix(src: sqlite3.Connection, dst: Any, table: str, key: str, what: str) -> int:
    """The target's highest ``seq`` in ``table``, after checking its rows are the source's
    (same count up to it, same ``key`` at it): otherwise a hub already wrote to the target."""
    high, count = dst.execute(f"SELECT coalesce(max(seq), 0), count(*) FROM {table}").fetchone()
    if not high:
        return 0
    src_count = src.execute(f"SELECT count(*) FROM {table} WHERE seq <= ?", (high,)).fetchone()[0]
    src_key = src.execute(f"SELECT {key} FROM {table} WHERE seq = ?", (high,)).fetchone()
    dst_key = dst.execute(f"SELECT {key} FROM {table} WHERE seq = %s", (high,)).fetchone()
    if src_count != count or src_key is None or tuple(src_key) != tuple(dst_key):
        raise DbToolError(
            f"the target's {what} are not a copy of the source's (a hub has written there); "
            "copy into an empty schema"
        )
    return int(high)


def _copy_packages(
    src: sqlite3.Connection, dst: Any, seq_lock: int, report: CopyReport, progress: Any
) -> None:
    # The hubs' own lock on acceptance order: no PostgreSQL hub may commit packages meanwhile.
    dst.execute("SELECT pg_advisory_xact_lock(%s)", (seq_lock,))
    high = _check_prefix(src, dst, "packages", "id", "packages")
    cur = src.execute(
        "SELECT p.seq, p.id, p.sha256, p.sender, p.kind, p.document_id, p.business_doc_type, "
        "p.status_code, p.recipients, p.accepted_at, p.size, p.signer_fingerprint, "
        "p.signer_subject, p.warnings, b.data, b.receipt "
        "FROM packages p JOIN package_blobs b ON b.package_id = p.id "
        "WHERE p.seq > ? ORDER BY p.seq",
        (high,),
    )
    for rows in _chunks(cur):
        with dst.cursor() as c:
            c.executemany(_PG_INSERT_PACKAGE, [r[:14] for r in rows])
            c.executemany(_PG_INSERT_BLOB, [(r[1], r[14], r[15]) for r in rows])
        report.packages += len(rows)
        if progress:
            progress("packages", len(rows))


def _copy_deliveries(src: sqlite3.Connection, dst: Any, report: CopyReport, progress: Any) -> None:
    cur = src.execute(
        "SELECT package_id, recipient, seq, state, attempts, updated_at, last_error, acked_at "
        "FROM deliveries ORDER BY seq, recipient"
    )
    for rows in _chunks(cur):
        columns = [list(col) for col in zip(*rows, strict=True)]
        changed = dst.execute(_PG_UPSERT_DELIVERIES, columns).rowcount
        report.deliveries += max(0, changed)
        if progress:
            progress("deliveries", len(rows))


def _copy_events(src: sqlite3.Connection, dst: Any, report: CopyReport, progress: Any) -> None:
    high = _check_prefix(src, dst, "events", "package_id, kind", "events")
    cur = src.execute(
        "SELECT seq, package_id, kind, at, recipient, attempt, detail FROM events "
        "WHERE seq > ? ORDER BY seq",
        (high,),
    )
    for rows in _chunks(cur):
        with dst.cursor() as c:
            c.executemany(_PG_INSERT_EVENT, rows)
        report.events += len(rows)
        if progress:
            progress("events", len(rows))


def _copy_overrides(src: sqlite3.Connection, dst: Any, report: CopyReport) -> None:
    rows = src.execute(
        "SELECT organ_id, enabled, token_sha256, changed_at, reason FROM agency_overrides"
    ).fetchall()
    for organ_id, enabled, tokens, changed_at, reason in rows:
        flag = None if enabled is None else bool(enabled)
        cur = dst.execute(_PG_UPSERT_OVERRIDE, (organ_id, flag, tokens, changed_at, reason))
        report.overrides += max(0, cur.rowcount)


# -- requeue --------------------------------------------------------------------------------------


def deliveries_to_requeue(settings: Settings) -> list[tuple[str, str]]:
    """(package id, recipient) of every delivery in :data:`REQUEUE_STATES`, in acceptance
    order, from the configured store."""
    marks = ", ".join("?" for _ in REQUEUE_STATES)
    query = (
        f"SELECT package_id, recipient FROM deliveries WHERE state IN ({marks}) "
        "ORDER BY seq, recipient"
    )
    if settings.store == "sqlite":
        conn = _sqlite_source(settings.sqlite_path)
        try:
            return [(p, r) for p, r in conn.execute(query, REQUEUE_STATES)]
        finally:
            conn.close()
    dst = _pg_connect(_store_url(settings), settings.store_schema)
    try:
        rows = dst.execute(query.replace("?", "%s"), REQUEUE_STATES).fetchall()
        return [(p, r) for p, r in rows]
    finally:
        dst.close()


async def requeue(config: Any, keys: Sequence[tuple[str, str]]) -> int:
    """Publish one queue entry per key into the configured broker (confirmed)."""
    from hub.broker.abc import QueueEntry
    from hub.runtime import make_broker

    broker = make_broker(config)
    async with broker:
        for start in range(0, len(keys), BATCH):
            chunk = keys[start : start + BATCH]
            await broker.publish([QueueEntry(recipient=r, package_id=p) for p, r in chunk])
    return len(keys)


# -- backup and restore ---------------------------------------------------------------------------


def _store_url(settings: Settings) -> str:
    if not settings.store_url:
        raise DbToolError("store = postgresql needs [store] url (or HUB_STORE_URL)")
    return settings.store_url


def _pg_env(dsn: str) -> tuple[str, dict[str, str]]:
    """A DSN without its password, and the environment that carries the password (so it never
    appears in a process listing)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(dsn)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return make_conninfo("", **params), env


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise DbToolError(f"{name} is not installed (PostgreSQL client tools are needed)")
    return found


def _run(args: list[str], env: dict[str, str], dsn: str) -> None:
    from hub.store.pgmigrate import scrub

    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DbToolError(f"{Path(args[0]).name} failed: {scrub(done.stderr.strip(), dsn)}")


def _sqlite_counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {
            t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
            for t in ("packages", "deliveries", "events")
        }
    finally:
        conn.close()


def _pg_counts(dsn: str, schema: str) -> dict[str, int]:
    conn = _pg_connect(dsn, schema)
    try:
        return {
            t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
            for t in ("packages", "deliveries", "events")
        }
    finally:
        conn.close()


def backup(settings: Settings, output: Path) -> dict[str, int]:
    """Write a consistent backup of the configured store to ``output``; the row counts."""
    output.parent.mkdir(parents=True, exist_ok=True)
    if settings.store == "sqlite":
        source = _sqlite_source(settings.sqlite_path)
        fd, tmp = tempfile.mkstemp(prefix=".hub-backup-", dir=output.parent)
        os.close(fd)
        try:
            target = sqlite3.connect(tmp)
            try:
                # The online backup API copies a consistent snapshot of a live database.
                source.backup(target)
                target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
                check = target.execute("PRAGMA integrity_check").fetchone()[0]
                if check != "ok":
                    raise DbToolError(f"the backup does not pass integrity_check: {check}")
            finally:
                target.close()
            os.replace(tmp, output)
        finally:
            source.close()
            if os.path.exists(tmp):
                os.unlink(tmp)
        return _sqlite_counts(output)
    dsn = _store_url(settings)
    conninfo, env = _pg_env(dsn)
    _run(
        [
            _pg_tool("pg_dump"),
            "--format=custom",
            "--no-owner",
            "--schema",
            settings.store_schema,
            "--file",
            str(output),
            "--dbname",
            conninfo,
        ],
        env,
        dsn,
    )
    return _pg_counts(dsn, settings.store_schema)


def _dumped_schemas(path: Path, env: dict[str, str], dsn: str) -> set[str]:
    done = subprocess.run(
        [_pg_tool("pg_restore"), "--list", str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise DbToolError(f"{path} is not a pg_dump archive: {done.stderr.strip()[:200]}")
    schemas = set()
    for line in done.stdout.splitlines():
        parts = line.split()
        # "<id>; <oid> <oid> SCHEMA - <name> <owner>"
        if len(parts) >= 6 and parts[3] == "SCHEMA" and parts[4] == "-":
            schemas.add(parts[5])
    return schemas


def restore(settings: Settings, input_path: Path, *, force: bool = False) -> dict[str, int]:
    """Replace the configured store's data with the backup ``input_path``; the row counts.

    The hub must be stopped. An existing store holding packages is only replaced with
    ``force``.
    """
    if not input_path.is_file():
        raise DbToolError(f"no backup at {input_path}")
    if settings.store == "sqlite":
        try:
            counts = _sqlite_counts(input_path)
        except sqlite3.DatabaseError as exc:
            raise DbToolError(f"{input_path} is not a SQLite backup of a hub: {exc}") from None
        target_path = settings.sqlite_path
        if target_path.exists() and not force and _sqlite_counts(target_path)["packages"]:
            raise DbToolError(f"{target_path} holds packages: stop the hub and pass --force")
        target_path.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(f"file:{input_path}?mode=ro", uri=True)
        target = sqlite3.connect(target_path, timeout=10)
        try:
            # Through the backup API rather than a file copy: SQLite replaces the pages of the
            # target itself, WAL and -shm included, so no stale WAL frames survive.
            source.backup(target)
            target.execute("PRAGMA journal_mode = WAL")
        finally:
            target.close()
            source.close()
        return counts
    from psycopg import sql

    dsn = _store_url(settings)
    schema = settings.store_schema
    conninfo, env = _pg_env(dsn)
    dumped = _dumped_schemas(input_path, env, dsn)
    if dumped != {schema}:
        raise DbToolError(
            f"the backup holds schema(s) {sorted(dumped)}, the configuration uses {schema!r}"
        )
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", (f"{schema}.packages",)
        ).fetchone()
        if exists and exists[0]:
            held = conn.execute(
                sql.SQL("SELECT count(*) FROM {}.packages").format(sql.Identifier(schema))
            ).fetchone()
            if held and held[0] and not force:
                raise DbToolError(f"schema {schema} holds packages: stop the hubs and pass --force")
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    _run(
        [
            _pg_tool("pg_restore"),
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
            conninfo,
            str(input_path),
        ],
        env,
        dsn,
    )
    return _pg_counts(dsn, schema)
