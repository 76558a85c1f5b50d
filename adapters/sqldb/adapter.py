"""The ``sqldb`` adapter: an agency database with a transactional outbox and an inbox.

The agency's own software writes, **in the same transaction as its business change**, a row into
the outbox table; the adapter sends each row exactly once and marks it with the receipt. Packages
for the agency land in the inbox table, written idempotently by the hub's package id. SQLite and
PostgreSQL, same tables (DDL in :data:`DDL`; the adapter creates them if missing).

Outbox row: ``id`` (increasing), ``record_key`` (MaHoSo, or MaHoSo/NgayXuLy for a progress step),
``kind`` (``dossier`` | ``dossier_progress``), ``payload`` (JSON with the DVCQG field names,
UTF-8), ``created_at``; the adapter fills ``sent_at``, ``package_id`` (the hub's id of the
package), ``receipt`` (the hub's signed receipt, XML, verified by the connector) and
``receipt_sha256`` — or ``error`` ("field: reason" when the row cannot be mapped; the row is
kept, a correction is a new row).

Exactly once, outgoing: a row's version is its ``id``, so its package id is
``stable_package_id(organ, key, id)`` — the same on every re-send after a crash, which the hub
de-duplicates. When the hub accepted a row, the connector's ``sent`` hook marks it with the
hub's package id and receipt (:meth:`SqldbAdapter.sent`). The poll cursor lists the ids the
previous poll returned; the connector stores a cursor only after every record in it was sent,
so the next poll marks exactly those rows sent that carry no receipt yet — the ones the hub
refused (``package_id`` is then the connector's stable id; ``receipt`` stays empty). Unsent
rows are selected by ``sent_at IS NULL`` rather than by "id greater than the last one": a
PostgreSQL transaction that took id 5 may commit after id 6 was sent, and a high-water mark
would skip it forever.

Exactly once, incoming: ``INSERT … ON CONFLICT (package_id) DO NOTHING``; a redelivered package
changes nothing and reports ``applied=False``.

Settings: ``dsn`` (``sqlite:path`` relative to ``data_dir``, ``sqlite:///abs/path`` or a PostgreSQL
DSN), ``schema`` (PostgreSQL, default ``public``), ``outbox_table`` (``hub_outbox``),
``inbox_table`` (``hub_inbox``), ``create_tables`` (true), ``busy_timeout_ms`` (SQLite, 5000).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from adapters.dvcqg.mapping import (
    fields_from_ho_so,
    fields_from_tien_do,
    ho_so_from_fields,
    normalise,
    tien_do_from_fields,
)
from adapters.sqldb.db import Database, open_database, quote_ident
from hub.adapter import (
    AdapterConfig,
    AdapterSettings,
    DeliverRequest,
    DeliverResult,
    FromPackageRequest,
    NativeInvalid,
    NativeRecord,
    OutgoingPackage,
    PollRequest,
    PollResult,
    SentRequest,
    StartRequest,
    StopRequest,
    ToPackageRequest,
    stable_package_id,
)
from hub.dossier import (
    DossierHeader,
    DossierKind,
    DossierPackage,
    build_dossier,
    format_dvc_time,
)

__all__ = ["DDL", "SqldbAdapter", "create_adapter", "ddl"]

DDL: dict[str, tuple[str, ...]] = {
    "sqlite": (
        "CREATE TABLE IF NOT EXISTS {outbox} ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " record_key TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL,"
        " created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ')),"
        " sent_at TEXT, package_id TEXT, error TEXT, receipt TEXT, receipt_sha256 TEXT)",
        "CREATE INDEX IF NOT EXISTS {index} ON {outbox} (id)"
        " WHERE sent_at IS NULL AND error IS NULL",
        "CREATE TABLE IF NOT EXISTS {inbox} ("
        " package_id TEXT PRIMARY KEY, sender TEXT NOT NULL, record_key TEXT NOT NULL,"
        " kind TEXT NOT NULL, payload TEXT NOT NULL, received_at TEXT NOT NULL,"
        " processed_at TEXT)",
    ),
    "postgresql": (
        "CREATE TABLE IF NOT EXISTS {outbox} ("
        " id BIGSERIAL PRIMARY KEY,"
        " record_key TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL,"
        " created_at TIMESTAMPTZ NOT NULL DEFAULT now(),"
        " sent_at TIMESTAMPTZ, package_id TEXT, error TEXT, receipt TEXT, receipt_sha256 TEXT)",
        "CREATE INDEX IF NOT EXISTS {index} ON {outbox} (id)"
        " WHERE sent_at IS NULL AND error IS NULL",
        "CREATE TABLE IF NOT EXISTS {inbox} ("
        " package_id TEXT PRIMARY KEY, sender TEXT NOT NULL, record_key TEXT NOT NULL,"
        " kind TEXT NOT NULL, payload TEXT NOT NULL, received_at TIMESTAMPTZ NOT NULL,"
        " processed_at TIMESTAMPTZ)",
    ),
}
"""The two tables per dialect, with ``{outbox}``/``{inbox}`` for the (qualified) names."""

_KINDS: tuple[DossierKind, ...] = ("dossier", "dossier_progress")


def ddl(dialect: str, *, outbox: str, inbox: str, schema: str | None = None) -> list[str]:
    """The DDL with the table names filled in (``schema`` qualifies them on PostgreSQL)."""
    prefix = f"{quote_ident(schema)}." if schema and dialect == "postgresql" else ""
    names = {
        "outbox": prefix + quote_ident(outbox),
        "inbox": prefix + quote_ident(inbox),
        "index": quote_ident(f"{outbox}_unsent"),
    }
    return [statement.format(**names) for statement in DDL[dialect]]


def _json(fields: Mapping[str, Any]) -> str:
    # ensure_ascii=False: the agency reads its own tables; Vietnamese stays readable UTF-8
    return json.dumps(dict(fields), ensure_ascii=False, sort_keys=True)


class Settings(AdapterSettings):
    """``[adapter.settings]`` of an agency-database connector."""

    dsn: str = "sqlite:agency.sqlite3"
    schema_: str | None = Field(None, alias="schema")  # PostgreSQL
    busy_timeout_ms: int = 5000
    outbox_table: str = "hub_outbox"
    inbox_table: str = "hub_inbox"
    create_tables: bool = True


class SqldbAdapter:
    """An agency database (see the module docstring)."""

    name = "sqldb"

    def __init__(self, config: AdapterConfig) -> None:
        s = config.settings
        self.config = config
        self.db: Database = open_database(
            str(s.get("dsn", "sqlite:agency.sqlite3")),
            base=config.data_dir,
            busy_timeout_ms=int(s.get("busy_timeout_ms", 5000)),
        )
        schema = s.get("schema")
        self.schema = str(schema) if schema and self.db.dialect == "postgresql" else None
        prefix = f"{quote_ident(self.schema)}." if self.schema else ""
        self.outbox_name = str(s.get("outbox_table", "hub_outbox"))
        self.inbox_name = str(s.get("inbox_table", "hub_inbox"))
        self.outbox = prefix + quote_ident(self.outbox_name)
        self.inbox = prefix + quote_ident(self.inbox_name)
        self.create_tables = bool(s.get("create_tables", True))

    # ---------------------------------------------------------------- lifecycle

    async def start(self, request: StartRequest) -> None:
        """Connect and create the tables if missing (``ExternalUnavailable`` if down)."""
        await self.db.connect()
        if self.create_tables:
            statements = ddl(
                self.db.dialect, outbox=self.outbox_name, inbox=self.inbox_name, schema=self.schema
            )
            await self.db.transaction([(sql, ()) for sql in statements])
            await self._add_receipt_columns()

    async def _add_receipt_columns(self) -> None:
        """Outbox tables created before receipts were recorded gain the two columns."""
        if self.db.dialect == "postgresql":
            await self.db.transaction(
                [
                    (f"ALTER TABLE {self.outbox} ADD COLUMN IF NOT EXISTS {column} TEXT", ())
                    for column in ("receipt", "receipt_sha256")
                ]
            )
            return
        have = {str(r[1]) for r in await self.db.fetch(f"PRAGMA table_info({self.outbox})")}
        missing = [c for c in ("receipt", "receipt_sha256") if c not in have]
        await self.db.transaction(
            [(f"ALTER TABLE {self.outbox} ADD COLUMN {column} TEXT", ()) for column in missing]
        )

    async def stop(self, request: StopRequest) -> None:
        """Close the connection."""
        await self.db.close()

    # ---------------------------------------------------------------- translation

    def to_package(self, request: ToPackageRequest) -> OutgoingPackage:
        """An outbox row's record → an unsigned dossier package."""
        record = request.record
        # rows do not name recipients: the connector's configuration (or, later, the procedure
        # catalogue) does
        to = request.default_recipients

        def header(kind: DossierKind) -> DossierHeader:
            return DossierHeader(
                package_id=request.package_id,
                from_=request.sender,
                to=tuple(to),
                kind=kind,
                created_at=format_dvc_time(request.created_at),
            )

        if record.kind == "dossier":
            ho_so = ho_so_from_fields(record.fields, key=record.key)
            package = DossierPackage(header("dossier"), ho_so=ho_so)
        elif record.kind == "dossier_progress":
            tien_do = tien_do_from_fields(record.fields, key=record.key)
            package = DossierPackage(header("dossier_progress"), tien_do=tien_do)
        else:
            raise NativeInvalid("kind", f"unknown kind {record.kind!r}", key=record.key)
        try:
            data = build_dossier(package)
        except ValueError as exc:
            raise NativeInvalid("payload", str(exc), key=record.key) from exc
        return OutgoingPackage(data=data, kind=record.kind, recipients=tuple(to))

    def from_package(self, request: FromPackageRequest) -> NativeRecord:
        """A verified dossier package → the record the inbox row holds."""
        model = request.model
        if not isinstance(model, DossierPackage):
            raise NativeInvalid("package", "the agency database takes dossier packages only")
        if model.ho_so is not None:
            fields = fields_from_ho_so(model.ho_so)
            key = model.ho_so.ma_ho_so
        else:
            assert model.tien_do is not None
            fields = fields_from_tien_do(model.tien_do)
            key = f"{model.tien_do.ma_ho_so}/{model.tien_do.ngay_xu_ly}"
        return NativeRecord(
            key=key, version=model.header.package_id, kind=model.kind, fields=fields
        )

    # ---------------------------------------------------------------- transport

    async def poll(self, request: PollRequest) -> PollResult:
        """Mark the rows of the stored cursor sent, then return the next unsent rows."""
        sent_ids = _cursor_ids(request.cursor)
        if sent_ids:
            await self._mark_sent(sent_ids)
        rows = await self.db.fetch(
            f"SELECT id, record_key, kind, payload FROM {self.outbox}"  # noqa: S608
            " WHERE sent_at IS NULL AND error IS NULL ORDER BY id LIMIT ?",
            (request.limit + 1,),
        )
        more = len(rows) > request.limit
        records: list[NativeRecord] = []
        errors: list[tuple[str, int]] = []
        for row_id, key, kind, payload in rows[: request.limit]:
            record, error = self._record(int(row_id), str(key), str(kind), str(payload))
            if error is not None:
                errors.append((error, int(row_id)))
            records.append(record)
        if errors:
            # keep the row, say why in the agency's own table; a correction is a new row
            await self.db.transaction(
                [(f"UPDATE {self.outbox} SET error = ? WHERE id = ?", e) for e in errors]  # noqa: S608
            )
        # the cursor is the ids returned now: the next poll marks exactly those sent
        cursor = ",".join(r.version for r in records) if records else None
        return PollResult(records=tuple(records), cursor=cursor, more=more)

    def _record(
        self, row_id: int, key: str, kind: str, payload: str
    ) -> tuple[NativeRecord, str | None]:
        """The row as a record, and the error text if it cannot be mapped."""
        error: str | None = None
        fields: dict[str, Any] = {}
        try:
            loaded = json.loads(payload)
            if not isinstance(loaded, dict):
                raise ValueError("not a JSON object")
            fields = normalise(loaded)
        except ValueError as exc:
            error = f"payload: not a JSON object ({exc})"
        kind_name: DossierKind = "dossier_progress" if kind == "dossier_progress" else "dossier"
        if error is None and kind not in _KINDS:
            error = f"kind: unknown kind {kind!r}"
        if error is None:
            try:
                if kind_name == "dossier":
                    ho_so_from_fields(fields, key=key)
                else:
                    tien_do_from_fields(fields, key=key)
            except NativeInvalid as exc:
                error = f"{exc.field}: {exc.reason}"
        if error is not None:
            self.config.logger.warning("outbox row %s (%s) cannot be sent: %s", row_id, key, error)
        return NativeRecord(key=key, version=str(row_id), kind=kind_name, fields=fields), error

    async def _mark_sent(self, ids: list[int]) -> None:
        """Mark rows sent that the ``sent`` hook did not mark (the hub refused them, or the
        connector has no hook), with the connector's stable package id, in one transaction."""
        marks = ",".join("?" * len(ids))
        rows = await self.db.fetch(
            f"SELECT id, record_key FROM {self.outbox} WHERE id IN ({marks})",  # noqa: S608
            ids,
        )
        now = _now(self.db.dialect)
        sql = (
            f"UPDATE {self.outbox} SET sent_at = ?, package_id = ?"  # noqa: S608
            " WHERE id = ? AND sent_at IS NULL AND error IS NULL"
        )
        organ = self.config.organ_id
        await self.db.transaction(
            [
                (sql, (now, stable_package_id(organ, str(key), str(row_id)), int(row_id)))
                for row_id, key in rows
            ]
        )

    async def sent(self, request: SentRequest) -> None:
        """The hub accepted the row: mark it with the hub's package id and its receipt.

        Idempotent (a row that already has a receipt is left alone); a row the cursor marked
        first — after a crash between the send and this call — gains the receipt and the hub's
        id now, keeping its ``sent_at``.
        """
        try:
            row_id = int(request.version)
        except ValueError:
            return  # not one of this adapter's rows (a version from another adapter)
        await self.db.transaction(
            [
                (
                    f"UPDATE {self.outbox} SET sent_at = COALESCE(sent_at, ?), package_id = ?,"  # noqa: S608
                    " receipt = ?, receipt_sha256 = ? WHERE id = ? AND receipt_sha256 IS NULL",
                    (
                        _now(self.db.dialect),
                        request.package_id,
                        request.receipt.decode("utf-8"),
                        request.receipt_sha256,
                        row_id,
                    ),
                )
            ]
        )

    async def deliver(self, request: DeliverRequest) -> DeliverResult:
        """Write the record into the inbox once per package id."""
        record = request.record
        (count,) = await self.db.transaction(
            [
                (
                    f"INSERT INTO {self.inbox} (package_id, sender, record_key, kind, payload,"  # noqa: S608
                    " received_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (package_id) DO NOTHING",
                    (
                        request.package_id,
                        request.sender,
                        record.key,
                        record.kind,
                        _json(record.fields),
                        _now(self.db.dialect),
                    ),
                )
            ]
        )
        return DeliverResult(applied=count == 1, external_id=request.package_id)


def _cursor_ids(cursor: str | None) -> list[int]:
    if not cursor:
        return []
    try:
        return [int(part) for part in cursor.split(",") if part]
    except ValueError:
        return []  # a cursor from another adapter version: nothing to mark, rows re-sent


def _now(dialect: str) -> Any:
    now = datetime.now(UTC)
    return now if dialect == "postgresql" else now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def create_adapter(config: AdapterConfig) -> SqldbAdapter:
    """The connector's entry point."""
    return SqldbAdapter(config)
