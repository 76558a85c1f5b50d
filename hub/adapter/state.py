"""The connector's own memory: a small SQLite file in its data directory.

It makes the edge exactly-once: a native (key, version) is translated and signed once, and
its signed bytes are kept until the hub accepted them, so a restart re-submits the *same*
bytes (the hub answers with the same receipt) and never sends a native state twice. Inbound,
a hub package applied to the external system is remembered, so a crash between apply and ack
only re-acks. Records and packages that could not be mapped are kept with the reason: nothing
is lost, an operator can see them.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sent (
    key         TEXT NOT NULL,
    version     TEXT NOT NULL,
    package_id  TEXT NOT NULL,
    data        BLOB NOT NULL,
    state       TEXT NOT NULL,          -- signed | accepted | refused
    hub_id      TEXT,
    detail      TEXT,
    at          TEXT NOT NULL,
    PRIMARY KEY (key, version)
);
CREATE TABLE IF NOT EXISTS cursor (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS rejected (
    key TEXT NOT NULL, version TEXT NOT NULL, field TEXT NOT NULL, reason TEXT NOT NULL,
    fields TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (key, version)
);
CREATE TABLE IF NOT EXISTS delivered (
    package_id TEXT PRIMARY KEY, external_id TEXT, at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    package_id TEXT PRIMARY KEY, code TEXT NOT NULL, detail TEXT NOT NULL, at TEXT NOT NULL
);
-- the hub's verified receipt of each accepted native state; 'notified' once the adapter's
-- optional sent() hook took it (a table of its own so that older state files gain it)
CREATE TABLE IF NOT EXISTS receipts (
    key         TEXT NOT NULL,
    version     TEXT NOT NULL,
    hub_id      TEXT NOT NULL,
    receipt     BLOB NOT NULL,
    accepted_at TEXT NOT NULL,
    notified    INTEGER NOT NULL DEFAULT 0,
    detail      TEXT,
    PRIMARY KEY (key, version)
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$bytes_len": len(value)}
    return str(value)


@dataclass(frozen=True, slots=True)
class Accepted:
    """A native state the hub accepted, with its verified receipt (for the ``sent`` hook)."""

    key: str
    version: str
    package_id: str  # the connector's stable id, written into the package
    hub_id: str
    receipt: bytes
    accepted_at: datetime


@dataclass(frozen=True, slots=True)
class Unsent:
    """Signed bytes not yet accepted by the hub."""

    key: str
    version: str
    package_id: str
    data: bytes


class ConnectorState:
    """``ConnectorState(path)``; every write commits at once (the file is the evidence)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    # -- outbound ------------------------------------------------------------------------------

    def seen(self, key: str, version: str) -> bool:
        """Whether this native state was signed (or rejected) before."""
        row = self._db.execute(
            "SELECT 1 FROM sent WHERE key = ? AND version = ? "
            "UNION ALL SELECT 1 FROM rejected WHERE key = ? AND version = ?",
            (key, version, key, version),
        ).fetchone()
        return row is not None

    def record_signed(self, key: str, version: str, package_id: str, data: bytes) -> None:
        """Keep the signed bytes *before* submitting them (crash-safe re-submission)."""
        self._db.execute(
            "INSERT OR IGNORE INTO sent (key, version, package_id, data, state, at) "
            "VALUES (?, ?, ?, ?, 'signed', ?)",
            (key, version, package_id, data, _now()),
        )

    def record_accepted(
        self,
        key: str,
        version: str,
        hub_id: str,
        receipt: bytes | None = None,
        accepted_at: datetime | None = None,
    ) -> None:
        """The hub accepted (or had accepted) these bytes; with its verified receipt, kept
        for the adapter's ``sent`` hook in the same transaction."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "UPDATE sent SET state = 'accepted', hub_id = ?, at = ? "
                "WHERE key = ? AND version = ?",
                (hub_id, _now(), key, version),
            )
            if receipt is not None:
                self._db.execute(
                    "INSERT OR IGNORE INTO receipts (key, version, hub_id, receipt, accepted_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (key, version, hub_id, receipt, (accepted_at or datetime.now(UTC)).isoformat()),
                )

    def unnotified(self) -> list[Accepted]:
        """Accepted states whose receipt the adapter's ``sent`` hook has not taken yet."""
        rows = self._db.execute(
            "SELECT r.key, r.version, s.package_id, r.hub_id, r.receipt, r.accepted_at"
            " FROM receipts r JOIN sent s ON s.key = r.key AND s.version = r.version"
            " WHERE r.notified = 0 ORDER BY r.rowid"
        ).fetchall()
        return [
            Accepted(str(k), str(v), str(p), str(h), bytes(r), datetime.fromisoformat(a))
            for k, v, p, h, r, a in rows
        ]

    def record_notified(self, key: str, version: str, detail: str | None = None) -> None:
        """The ``sent`` hook took the receipt (or failed for good: ``detail`` says why)."""
        self._db.execute(
            "UPDATE receipts SET notified = 1, detail = ? WHERE key = ? AND version = ?",
            (detail, key, version),
        )

    def receipt_of(self, key: str, version: str) -> bytes | None:
        """The hub's verified receipt of one native state, for tests and operators."""
        row = self._db.execute(
            "SELECT receipt FROM receipts WHERE key = ? AND version = ?", (key, version)
        ).fetchone()
        return bytes(row[0]) if row else None

    def counts(self) -> dict[str, int]:
        """How many native states are signed/accepted/refused, rejected, delivered,
        quarantined and receipts kept (for the demo's self-check and operators)."""
        out = {
            str(state): int(n)
            for state, n in self._db.execute("SELECT state, COUNT(*) FROM sent GROUP BY state")
        }
        for table in ("rejected", "delivered", "quarantine", "receipts"):
            (n,) = self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # noqa: S608
            out[table] = int(n)
        return out

    def record_refused(self, key: str, version: str, code: str, detail: str) -> None:
        """The hub refused the package (4xx): kept with the reason, not retried."""
        self._db.execute(
            "UPDATE sent SET state = 'refused', detail = ?, at = ? WHERE key = ? AND version = ?",
            (f"{code}: {detail}", _now(), key, version),
        )

    def unsent(self) -> list[Unsent]:
        """Signed packages the hub has not accepted yet, oldest first."""
        rows = self._db.execute(
            "SELECT key, version, package_id, data FROM sent WHERE state = 'signed' ORDER BY at"
        ).fetchall()
        return [Unsent(k, v, p, bytes(d)) for k, v, p, d in rows]

    def sent_state(self, key: str, version: str) -> tuple[str, str | None] | None:
        """(state, hub id or refusal) of one native state, for tests and operators."""
        row = self._db.execute(
            "SELECT state, COALESCE(hub_id, detail) FROM sent WHERE key = ? AND version = ?",
            (key, version),
        ).fetchone()
        return (str(row[0]), row[1]) if row else None

    def record_rejected(
        self, key: str, version: str, field: str, reason: str, fields: object
    ) -> None:
        """A native record the adapter could not map: kept whole, with the field and reason."""
        self._db.execute(
            "INSERT OR REPLACE INTO rejected VALUES (?, ?, ?, ?, ?, ?)",
            (key, version, field, reason, json.dumps(fields, default=_json_default), _now()),
        )

    def rejected(self) -> list[tuple[str, str, str, str]]:
        """(key, version, field, reason) of every rejected native record."""
        rows = self._db.execute("SELECT key, version, field, reason FROM rejected").fetchall()
        return [(str(a), str(b), str(c), str(d)) for a, b, c, d in rows]

    def get_cursor(self, name: str = "poll") -> str | None:
        """The adapter's poll cursor."""
        row = self._db.execute("SELECT value FROM cursor WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row and row[0] is not None else None

    def set_cursor(self, value: str | None, name: str = "poll") -> None:
        """Store the cursor once every record before it is sent, rejected or refused."""
        self._db.execute("INSERT OR REPLACE INTO cursor VALUES (?, ?)", (name, value))

    # -- inbound -------------------------------------------------------------------------------

    def was_delivered(self, package_id: str) -> bool:
        """Whether the external system confirmed this hub package before."""
        row = self._db.execute(
            "SELECT 1 FROM delivered WHERE package_id = ?", (package_id,)
        ).fetchone()
        return row is not None

    def record_delivered(self, package_id: str, external_id: str | None) -> None:
        """The adapter confirmed the package is applied (before the hub ack)."""
        self._db.execute(
            "INSERT OR IGNORE INTO delivered VALUES (?, ?, ?)", (package_id, external_id, _now())
        )

    def quarantine(self, package_id: str, code: str, detail: str) -> None:
        """A hub package that failed verification or mapping: not acked, not retried."""
        self._db.execute(
            "INSERT OR REPLACE INTO quarantine VALUES (?, ?, ?, ?)",
            (package_id, code, detail, _now()),
        )

    def quarantined(self) -> dict[str, tuple[str, str]]:
        """package id → (code, detail)."""
        rows = self._db.execute("SELECT package_id, code, detail FROM quarantine").fetchall()
        return {str(p): (str(c), str(d)) for p, c, d in rows}
