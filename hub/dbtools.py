"""Operator tools on the store's database: ``hub db copy``, ``backup``, ``restore``, ``requeue``.

Backend-specific SQL on the stores' own databases rather than new :class:`~hub.store.abc.Store`
methods: a copy must carry what the contract deliberately does not expose (acceptance ``seq``,
delivery states as they are, the event log with its order), and a backup must be consistent
while a hub is serving — both are properties of the database, not of the hub's API.

**copy** (SQLite → PostgreSQL): reads one consistent snapshot of the SQLite file (a read
transaction in WAL mode: the embedded hub keeps serving) and writes the PostgreSQL schema
(migrated first) in one transaction. What is copied, and how, is one list,
:data:`COPY_TABLES`: every table of the store file with its key and policy — append-only logs
(packages, events with their hash-chain columns, lifecycle transitions, the operators' audit,
signed checkpoints) keep their ``seq``/``id`` and only rows past the target's highest are
added; the bytes of packages travel once, with their package (a purge travels as its purge);
tables of current state (deliveries, agency overrides, lifecycle states, alarm notifications
and the alarm walk's position, operator accounts, audit chain heads and meta, signed acks) are
upserted where they differ (the source is the authority until cut-over), discarded dead
letters mirrored (deletions too).
Operator sessions and the embedded broker's tables are deliberately not copied (see the list).
Identity sequences continue after the copied values. Events go verbatim, so ``hub audit
verify`` gives the same verdict on the copy. It is idempotent, so it runs while the embedded
hub serves and once more after it stopped; it refuses a target whose logs are not a prefix of
the source's (a hub already served from it), a source with a table the list does not name, and
a source whose applied migrations differ from this build's. ``requeue`` then publishes the
deliveries that still need the broker (``queued``, ``failed``, ``delivered``) into the new
broker; consumers are idempotent by (package id, recipient), so an entry too many is settled
without effect.

**backup/restore**: SQLite through the online backup API (a consistent copy of a live file,
embedded broker queue included); PostgreSQL through ``pg_dump -Fc -n <schema>`` and
``pg_restore`` (the password goes through ``PGPASSWORD``, never the command line).
"""

# SQL text is assembled only from module constants and checked identifiers; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import enum
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
from hub.errors import HubError

BATCH = 500
#: Delivery states whose work is still in the broker (or must be put there after a move).
REQUEUE_STATES = ("queued", "failed", "delivered")


class DbToolError(HubError):
    """A database copy, backup, restore or re-queue cannot be done as asked (the message says
    why; no password in it)."""

    code = "db.refused"
    status = 400
    title = "Database operation refused"


# -- what is copied -------------------------------------------------------------------------------


class Policy(enum.Enum):
    """How ``copy`` brings one table of the target up to date with the source."""

    #: Append-only, ordered by an increasing key (``seq``): rows past the target's highest key
    #: are inserted with their key, after checking the target's rows are a prefix of the
    #: source's (otherwise a hub has written there); ``refresh`` columns of older rows are
    #: updated where the source changed them.
    APPEND = "append"
    #: Rows belonging to the parent table's newly appended rows are inserted; ``refresh``
    #: columns of older rows are updated where the source changed them (package bytes: only
    #: the new packages' bytes travel, a purge of an older one travels as its purge).
    FOLLOW = "follow"
    #: Inserted, or updated where any column differs (the source is the authority until
    #: cut-over). Every source row is read on every run.
    UPSERT = "upsert"
    #: As UPSERT, and target rows whose key is gone from the source are deleted (small tables
    #: whose rows the hub deletes).
    MIRROR = "mirror"
    #: Not copied, for the reason given.
    SKIP = "skip"


@dataclass(frozen=True)
class CopyTable:
    """One table of the SQLite store and how ``copy`` carries it to PostgreSQL.

    ``key`` is the primary key (for APPEND: the one increasing column); ``check`` the columns
    compared at the target's highest key (APPEND); ``parent`` the APPEND table and join
    ``(child column, parent column)`` of a FOLLOW table; ``refresh`` the columns of existing
    rows that may still change and the source condition that selects such rows.
    """

    name: str
    key: tuple[str, ...]
    policy: Policy
    check: tuple[str, ...] = ()
    parent: tuple[str, str, str] | None = None
    refresh: tuple[tuple[str, ...], str] | None = None
    why: str = ""


#: Every table of the SQLite store file (store migrations 0001–0005, the embedded broker's,
#: the bookkeeping), in copy order (parents before children). A migration that adds a table
#: adds a line here; ``copy`` refuses a source holding a table this list does not name, and
#: ``tests/scale/test_db_copy_tables.py`` fails on a migration that forgot it.
COPY_TABLES: tuple[CopyTable, ...] = (
    # 0001–0002: packages, their bytes and receipts, deliveries, the event log, agencies.
    CopyTable(
        "packages",
        ("seq",),
        Policy.APPEND,
        check=("id", "sha256"),
        # 0006: a retention purge also erases the Subject and its search words (content).
        refresh=(
            ("subject", "subject_terms"),
            "id IN (SELECT package_id FROM package_blobs WHERE purged_at IS NOT NULL)",
        ),
    ),
    CopyTable(
        "package_blobs",
        ("package_id",),
        Policy.FOLLOW,
        parent=("packages", "package_id", "id"),
        refresh=(("data", "purged_at"), "purged_at IS NOT NULL"),
    ),
    CopyTable("deliveries", ("package_id", "recipient"), Policy.UPSERT),
    # Verbatim with the chain columns (0005): hub audit verify recomputes the same hashes.
    CopyTable("events", ("seq",), Policy.APPEND, check=("package_id", "kind", "hash")),
    CopyTable("agency_overrides", ("organ_id",), Policy.UPSERT),
    # 0003: lifecycles.
    CopyTable("lc_documents", ("package_id", "recipient"), Policy.UPSERT),
    CopyTable("lc_dossiers", ("ma_ho_so",), Policy.UPSERT),
    CopyTable("lc_transitions", ("seq",), Policy.APPEND, check=("key", "sha256", "to_state")),
    CopyTable("lc_notified", ("alarm_key",), Policy.UPSERT),
    # 0016: where the alarms' walk over late documents stopped. Copied from the same snapshot
    # as the claims above, so every row before the copied position has its claim copied too
    # and the new installation's first evaluation goes on from there instead of walking every
    # late row again.
    CopyTable("lc_walks", ("name",), Policy.UPSERT),
    # 0004: the dashboard. Password hashes travel as they are (Argon2id PHC strings).
    CopyTable("operators", ("username",), Policy.UPSERT),
    CopyTable(
        "operator_sessions",
        ("token_sha256",),
        Policy.SKIP,
        why="sessions last hours and belong to the hub that issued them: operators log in "
        "again on the new installation (a session ended on the old hub after a copy would "
        "otherwise stay valid on the new one)",
    ),
    CopyTable("operator_audit", ("seq",), Policy.APPEND, check=("username", "action")),
    CopyTable("dead_letter_discards", ("package_id", "recipient"), Policy.MIRROR),
    # 0005: the audit chain (heads, signed checkpoints, signed acks, where legacy events end).
    CopyTable("audit_meta", ("key",), Policy.UPSERT),
    CopyTable("audit_chains", ("chain_id",), Policy.UPSERT),
    CopyTable(
        "audit_checkpoints",
        ("id",),
        Policy.APPEND,
        check=("document",),
        refresh=(("tst",), "tst IS NOT NULL"),
    ),
    CopyTable("audit_signed_acks", ("package_id", "recipient"), Policy.UPSERT),
    # 0010: the online revocation cache and its sources' health (issue 14): copied, so the
    # new hub starts warm (a stale entry is simply fetched again).
    CopyTable("revocation_cache", ("key",), Policy.UPSERT),
    CopyTable("revocation_sources", ("url",), Policy.UPSERT),
    # 0013: the agency directory (issue 11). Entries are never deleted, so UPSERT suffices;
    # the revision travels as is, so the target's next import continues the numbering.
    CopyTable("directory_entries", ("code",), Policy.UPSERT),
    # 0012: VXP facade systems (a sealed secret travels verbatim; a secret_file path must be
    # reachable from the new installation too, see docs/vxp.md).
    CopyTable("vxp_systems", ("system_id",), Policy.UPSERT),
    # Not the store's data.
    CopyTable("schema_version", ("version",), Policy.SKIP, why="the target's own migrations"),
    CopyTable(
        "broker_queue",
        ("id",),
        Policy.SKIP,
        why="the embedded broker's entries: --requeue publishes the due deliveries into the "
        "new broker",
    ),
    CopyTable(
        "broker_dead",
        ("id",),
        Policy.SKIP,
        why="the embedded broker's dead letters: the deliveries themselves are copied "
        "(state dead) and listed by the dashboard from the store",
    ),
    CopyTable("broker_schema_version", ("version",), Policy.SKIP, why="the embedded broker's"),
)


@dataclass
class CopyReport:
    """What one ``copy`` run did: rows written (inserted, updated or deleted) per table."""

    tables: dict[str, int] = field(default_factory=dict)
    source_packages: int = 0
    source_deliveries: dict[str, int] = field(default_factory=dict)

    @property
    def packages(self) -> int:
        """New packages."""
        return self.tables.get("packages", 0)

    @property
    def deliveries(self) -> int:
        """Deliveries inserted or updated."""
        return self.tables.get("deliveries", 0)

    @property
    def events(self) -> int:
        """New events."""
        return self.tables.get("events", 0)

    @property
    def overrides(self) -> int:
        """Agency overrides inserted or updated."""
        return self.tables.get("agency_overrides", 0)

    def add(self, table: str, n: int) -> None:
        """Count ``n`` rows written to ``table``."""
        self.tables[table] = self.tables.get(table, 0) + max(0, n)


# -- SQLite source ------------------------------------------------------------------------------


def _sqlite_source(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise DbToolError(f"no SQLite store at {path}")
    # Read-only: the copy must never write to the installation it moves away from.
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=10)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def _sqlite_versions(conn: sqlite3.Connection) -> set[int]:
    return {int(v) for (v,) in conn.execute("SELECT version FROM schema_version")}


def _sqlite_tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
        "ESCAPE '\\'"
    )
    return {str(name) for (name,) in rows}


def _sqlite_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")]


#: Rows per statement, and the bytes (blobs, text) one statement should carry at most.
BATCH_BYTES = 32 << 20


def _chunks(cur: sqlite3.Cursor) -> Iterator[list[Any]]:
    """The cursor's rows in batches of at most :data:`BATCH` rows and about
    :data:`BATCH_BYTES` of values (a batch of package bytes stays bounded)."""
    batch: list[Any] = []
    size = 0
    while rows := cur.fetchmany(BATCH):
        for row in rows:
            batch.append(row)
            size += sum(len(v) for v in row if isinstance(v, bytes | str))
            if len(batch) >= BATCH or size >= BATCH_BYTES:
                yield batch
                batch, size = [], 0
    if batch:
        yield batch


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
    from hub.store.postgres.migrate import migrate

    return asyncio.run(migrate(dsn, schema))


@dataclass
class _Plan:
    """One table's copy statements: the source's columns with the target's types."""

    table: CopyTable
    columns: list[str]
    types: dict[str, str]
    identity: list[str]

    def cols(self, names: Sequence[str] | None = None, prefix: str = "") -> str:
        return ", ".join(prefix + c for c in (names or self.columns))

    def arrays(self, rows: Sequence[Sequence[Any]], names: Sequence[str] | None = None) -> Any:
        """Column-wise parameters for ``unnest`` (SQLite's 0/1 become booleans)."""
        names = names or self.columns
        out: list[list[Any]] = [list(col) for col in zip(*rows, strict=True)]
        for i, name in enumerate(names):
            if self.types[name] == "boolean":
                out[i] = [None if v is None else bool(v) for v in out[i]]
        return out

    def unnest(self, names: Sequence[str] | None = None) -> str:
        names = names or self.columns
        arrays = ", ".join(f"%s::{self.types[c]}[]" for c in names)
        return f"unnest({arrays})"

    def insert(self, conflict: str = "") -> str:
        override = " OVERRIDING SYSTEM VALUE" if self.identity else ""
        return (
            f"INSERT INTO {self.table.name} AS o ({self.cols()}){override} "
            f"SELECT * FROM {self.unnest()}{conflict}"
        )

    def upsert(self) -> str:
        rest = [c for c in self.columns if c not in self.table.key]
        if not rest:
            return self.insert(f" ON CONFLICT ({', '.join(self.table.key)}) DO NOTHING")
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in rest)
        return self.insert(
            f" ON CONFLICT ({', '.join(self.table.key)}) DO UPDATE SET {sets} "
            f"WHERE ({self.cols(rest, 'o.')}) IS DISTINCT FROM ({self.cols(rest, 'EXCLUDED.')})"
        )


def _plan(src: sqlite3.Connection, dst: Any, table: CopyTable) -> _Plan:
    columns = _sqlite_columns(src, table.name)
    if not columns:
        raise DbToolError(f"the source has no table {table.name}: run `hub db migrate` on it")
    target = dst.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attidentity <> '' "
        "FROM pg_attribute a WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 "
        "AND NOT a.attisdropped ORDER BY a.attnum",
        (table.name,),
    ).fetchall()
    types = {str(name): str(kind) for name, kind, _ in target}
    if set(types) != set(columns):
        raise DbToolError(
            f"table {table.name}: the source has columns {sorted(columns)}, the target "
            f"{sorted(types)} (schemas of different versions?)"
        )
    return _Plan(table, columns, types, [str(name) for name, _, ident in target if ident])


def copy_sqlite_to_postgres(
    source: Path, dsn: str, schema: str, *, progress: Any = None
) -> CopyReport:
    """Copy (or bring up to date) the PostgreSQL ``schema`` from the SQLite store ``source``:
    every table of :data:`COPY_TABLES` by its policy, in one snapshot of the source and one
    transaction on the target.

    ``progress(what, n)`` is called after each batch if given.
    """
    from psycopg import sql

    from hub.store.postgres.migrate import advisory_key, check_schema_name, mask_dsn, scrub
    from hub.store.sqlite import migrations as sqlite_migrations

    check_schema_name(schema)
    report = CopyReport()
    src = _sqlite_source(source)
    try:
        expected = {m.version for m in sqlite_migrations()}
        try:
            applied = _sqlite_versions(src)
        except sqlite3.Error as exc:
            raise DbToolError(f"{source} is not a hub store: {exc}") from None
        if applied - expected:
            raise DbToolError(
                f"{source} has migrations {sorted(applied - expected)} this hub does not know: "
                "copy with the hub version that serves it"
            )
        if expected - applied:
            raise DbToolError(
                f"{source} lacks migrations {sorted(expected - applied)}: run `hub db migrate` "
                "on it first"
            )
        known = {t.name for t in COPY_TABLES}
        unknown = _sqlite_tables(src) - known
        if unknown:
            raise DbToolError(
                f"{source} holds table(s) {sorted(unknown)} this hub does not know how to copy"
            )
        try:
            _migrate_pg(dsn, schema)
            dst = _pg_connect(dsn, schema)
        except DbToolError:
            raise
        except Exception as exc:
            raise DbToolError(f"PostgreSQL {mask_dsn(dsn)}: {scrub(str(exc), dsn)}") from None
        try:
            # One snapshot of the source for the whole run: every table agrees with the others
            # (events with chain heads, packages with deliveries) while the embedded hub writes.
            src.execute("BEGIN")
            # The hubs' own lock on acceptance order: no PostgreSQL hub may commit meanwhile.
            dst.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key("seq", schema),))
            highs: dict[str, int] = {}
            for table in COPY_TABLES:
                if table.policy is Policy.SKIP:
                    continue
                plan = _plan(src, dst, table)
                _COPIERS[table.policy](src, dst, plan, highs, report, progress)
                for column in plan.identity:
                    # Identity sequences continue after the copied values (new hubs append after).
                    dst.execute(
                        sql.SQL(
                            "SELECT setval(pg_get_serial_sequence({t}, {c}), "
                            "(SELECT max({i}) FROM {n})) WHERE EXISTS (SELECT 1 FROM {n})"
                        ).format(
                            t=sql.Literal(f"{schema}.{table.name}"),
                            c=sql.Literal(column),
                            i=sql.Identifier(column),
                            n=sql.Identifier(table.name),
                        )
                    )
            dst.commit()
            report.source_packages = int(src.execute("SELECT count(*) FROM packages").fetchone()[0])
            report.source_deliveries = dict(
                src.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall()
            )
            src.execute("COMMIT")
        except DbToolError:
            raise
        except sqlite3.Error as exc:
            raise DbToolError(f"reading {source}: {exc}") from None
        except Exception as exc:
            import psycopg

            if isinstance(exc, psycopg.Error):
                raise DbToolError(
                    f"PostgreSQL {mask_dsn(dsn)}: {scrub(str(exc), dsn)} (nothing was written)"
                ) from None
            raise
        finally:
            dst.close()
    finally:
        src.close()
    return report


def _check_prefix(src: sqlite3.Connection, dst: Any, table: CopyTable) -> int:
    """The target's highest key in an APPEND table, after checking its rows are the source's
    (same count up to it, same ``check`` columns at it): otherwise a hub wrote to the target."""
    seq = table.key[0]
    high, count = dst.execute(
        f"SELECT coalesce(max({seq}), 0), count(*) FROM {table.name}"
    ).fetchone()
    if not count:
        return 0
    src_count = src.execute(
        f"SELECT count(*) FROM {table.name} WHERE {seq} <= ?", (high,)
    ).fetchone()[0]
    same = True
    if table.check:
        cols = ", ".join(table.check)
        src_key = src.execute(
            f"SELECT {cols} FROM {table.name} WHERE {seq} = ?", (high,)
        ).fetchone()
        dst_key = dst.execute(
            f"SELECT {cols} FROM {table.name} WHERE {seq} = %s", (high,)
        ).fetchone()
        same = src_key is not None and tuple(src_key) == tuple(dst_key)
    if src_count != count or not same:
        raise DbToolError(
            f"the target's {table.name} are not a copy of the source's (a hub has written "
            "there); copy into an empty schema"
        )
    return int(high)


def _insert_rows(
    dst: Any, plan: _Plan, statement: str, cur: sqlite3.Cursor, report: CopyReport, progress: Any
) -> None:
    for rows in _chunks(cur):
        written = dst.execute(statement, plan.arrays(rows)).rowcount
        report.add(plan.table.name, written)
        if progress:
            progress(plan.table.name, len(rows))


def _refresh(src: sqlite3.Connection, dst: Any, plan: _Plan, report: CopyReport) -> None:
    """Update the ``refresh`` columns of existing target rows where the source's differ."""
    if plan.table.refresh is None:
        return
    columns, where = plan.table.refresh
    key = plan.table.key
    names = [*key, *columns]
    statement = (
        f"UPDATE {plan.table.name} AS o SET {', '.join(f'{c} = n.{c}' for c in columns)} "
        f"FROM {plan.unnest(names)} AS n({', '.join(names)}) "
        f"WHERE ({plan.cols(key, 'o.')}) = ({plan.cols(key, 'n.')}) "
        f"AND ({plan.cols(columns, 'o.')}) IS DISTINCT FROM ({plan.cols(columns, 'n.')})"
    )
    cur = src.execute(
        f"SELECT {', '.join(names)} FROM {plan.table.name} WHERE {where} ORDER BY {', '.join(key)}"
    )
    for rows in _chunks(cur):
        report.add(plan.table.name, dst.execute(statement, plan.arrays(rows, names)).rowcount)


def _copy_append(
    src: sqlite3.Connection,
    dst: Any,
    plan: _Plan,
    highs: dict[str, int],
    report: CopyReport,
    progress: Any,
) -> None:
    name, seq = plan.table.name, plan.table.key[0]
    high = highs[name] = _check_prefix(src, dst, plan.table)
    _refresh(src, dst, plan, report)  # rows up to high only: the new ones come verbatim
    cur = src.execute(f"SELECT {plan.cols()} FROM {name} WHERE {seq} > ? ORDER BY {seq}", (high,))
    _insert_rows(dst, plan, plan.insert(), cur, report, progress)


def _copy_follow(
    src: sqlite3.Connection,
    dst: Any,
    plan: _Plan,
    highs: dict[str, int],
    report: CopyReport,
    progress: Any,
) -> None:
    assert plan.table.parent is not None
    parent, column, parent_column = plan.table.parent
    parent_seq = next(t.key[0] for t in COPY_TABLES if t.name == parent)
    _refresh(src, dst, plan, report)
    cur = src.execute(
        f"SELECT {plan.cols(prefix='c.')} FROM {plan.table.name} c "
        f"JOIN {parent} p ON p.{parent_column} = c.{column} "
        f"WHERE p.{parent_seq} > ? ORDER BY p.{parent_seq}",
        (highs[parent],),
    )
    _insert_rows(dst, plan, plan.insert(), cur, report, progress)


def _copy_upsert(
    src: sqlite3.Connection,
    dst: Any,
    plan: _Plan,
    highs: dict[str, int],
    report: CopyReport,
    progress: Any,
) -> None:
    key = ", ".join(plan.table.key)
    cur = src.execute(f"SELECT {plan.cols()} FROM {plan.table.name} ORDER BY {key}")
    _insert_rows(dst, plan, plan.upsert(), cur, report, progress)
    if plan.table.policy is not Policy.MIRROR:
        return
    names = list(plan.table.key)
    wanted = set(src.execute(f"SELECT {key} FROM {plan.table.name}").fetchall())
    held = {tuple(r) for r in dst.execute(f"SELECT {key} FROM {plan.table.name}").fetchall()}
    gone = sorted(held - wanted)
    for start in range(0, len(gone), BATCH):
        rows = gone[start : start + BATCH]
        report.add(
            plan.table.name,
            dst.execute(
                f"DELETE FROM {plan.table.name} WHERE ({key}) IN "
                f"(SELECT * FROM {plan.unnest(names)})",
                plan.arrays(rows, names),
            ).rowcount,
        )


_COPIERS = {
    Policy.APPEND: _copy_append,
    Policy.FOLLOW: _copy_follow,
    Policy.UPSERT: _copy_upsert,
    Policy.MIRROR: _copy_upsert,
}


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
    from hub.store.postgres.migrate import scrub

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
