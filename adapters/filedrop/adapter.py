"""The ``filedrop`` adapter: folders, for sites with poor connectivity.

Layout under ``root``: ``outbox/`` (the site drops package files), ``sent/`` (moved there once
the hub accepted them), ``inbox/`` (received packages appear here), ``errors/`` (one note per
outbox file that cannot be sent, saying which field and why).

Mapping: a file is a package — ``fields = {"package": bytes}``, edXML or a dossier package,
unsigned (the connector signs). :meth:`to_package` checks it (safe parse, the project's schema
for its format, not already signed) and passes the bytes through unchanged; received packages
are written with the exact signed bytes, so the site can verify them.

Never a half-written file, outgoing: names that writers use while writing are ignored (``.*``,
``~*``, ``*.tmp``, ``*.part``, ``*.partial``, ``*.crdownload``, ``*.filepart``); a file must
not have changed for ``settle_seconds``; and it must be complete XML — a file that does not
parse is taken as still being written until it is ``stale_seconds`` old, then reported in
``errors/`` (and kept in ``outbox/``: fixing or finishing it changes its content hash, its
version, and it is sent).

Never a half-written file, incoming: each package is written to ``inbox/.<id>.tmp``, flushed
and fsynced, then renamed to ``inbox/<id>.xml`` (atomic on one file system) and the directory
fsynced; readers of ``inbox/*.xml`` see whole files or nothing.

Exactly once: a file's version is the hash of its content; the poll cursor lists the
``name@version`` pairs returned, and the next poll (after the connector sent them) moves exactly
those to ``sent/`` — a file rewritten meanwhile stays. Offline, files simply accumulate in
``outbox/`` and are sent, oldest first, when the connector gets through again. Incoming, a
ledger (SQLite in ``data_dir``) remembers delivered package ids, so a redelivery is not written
again even after the site took the file away.

Settings: ``root`` (default ``data_dir/drop``), ``settle_seconds`` (2), ``stale_seconds`` (60).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from hub.adapter import (
    AdapterConfig,
    AdapterSettings,
    DeliverRequest,
    DeliverResult,
    FromPackageRequest,
    NativeInvalid,
    NativeRecord,
    OutgoingPackage,
    PackageKindName,
    PollRequest,
    PollResult,
    StartRequest,
    StopRequest,
    ToPackageRequest,
    check_unsigned,
)

__all__ = ["FiledropAdapter", "check_package", "create_adapter", "is_temporary_name"]

_TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".filepart", ".swp")


def is_temporary_name(name: str) -> bool:
    """Names writers use while a file is incomplete (never picked up)."""
    return name.startswith((".", "~")) or name.lower().endswith(_TEMP_SUFFIXES)


def check_package(data: Any, *, key: str | None = None) -> tuple[PackageKindName, tuple[str, ...]]:
    """An unsigned edXML or dossier package: its kind and recipients, or NativeInvalid."""
    parsed = check_unsigned(data, key=key)
    return parsed.kind, parsed.recipients


def _write_atomically(folder: Path, tmp_name: str, final: Path, data: bytes) -> None:
    """Write, flush, fsync, rename, fsync the directory: whole file or none, even on a crash."""
    tmp = folder / tmp_name
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.rename(final)
    _fsync_dir(folder)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Settings(AdapterSettings):
    """``[adapter.settings]`` of a file-drop connector."""

    root: str | None = None  # default: <data_dir>/adapter/drop
    settle_seconds: float = 2.0
    stale_seconds: float = 60.0


class FiledropAdapter:
    """Folders as the external system (see the module docstring)."""

    name = "filedrop"

    def __init__(self, config: AdapterConfig) -> None:
        s = config.settings
        self.config = config
        self.root = Path(str(s.get("root") or config.data_dir / "drop"))
        self.outbox = self.root / "outbox"
        self.sent = self.root / "sent"
        self.inbox = self.root / "inbox"
        self.errors = self.root / "errors"
        self.settle_seconds = float(s.get("settle_seconds", 2.0))
        self.stale_seconds = float(s.get("stale_seconds", 60.0))
        self._ledger: sqlite3.Connection | None = None

    async def start(self, request: StartRequest) -> None:
        """Create the folders and open the delivery ledger."""
        for folder in (self.outbox, self.sent, self.inbox, self.errors):
            folder.mkdir(parents=True, exist_ok=True)
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.config.data_dir / "filedrop-ledger.sqlite3", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS delivered (package_id TEXT PRIMARY KEY, name TEXT, at REAL)"
        )
        self._ledger = db

    async def stop(self, request: StopRequest) -> None:
        """Close the ledger."""
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    # ---------------------------------------------------------------- translation

    def to_package(self, request: ToPackageRequest) -> OutgoingPackage:
        """The dropped package, checked, unchanged."""
        record = request.record
        extra = sorted(set(record.fields) - {"package"})
        if extra:
            raise NativeInvalid(extra[0], "unknown field (it would be lost)", key=record.key)
        data = record.fields.get("package")
        kind, recipients = check_package(data, key=record.key)
        assert isinstance(data, bytes)
        return OutgoingPackage(data=data, kind=kind, recipients=recipients)

    def from_package(self, request: FromPackageRequest) -> NativeRecord:
        """The exact signed bytes, to be written into ``inbox/``."""
        return NativeRecord(
            key=request.package_id,
            version=request.package_id,
            kind=request.kind,
            fields={"package": request.data},
        )

    # ---------------------------------------------------------------- outgoing

    async def poll(self, request: PollRequest) -> PollResult:
        """Move what the stored cursor says was sent; then list complete outbox files."""
        if request.cursor:
            self._move_sent(request.cursor)
        now = time.time()
        candidates: list[tuple[float, str, Path]] = []
        for path in self.outbox.iterdir():
            if not path.is_file() or is_temporary_name(path.name):
                continue
            try:
                st = path.stat()
            except FileNotFoundError:
                continue  # taken away meanwhile
            if now - st.st_mtime < self.settle_seconds:
                continue  # still changing: a writer may be in the middle of it
            candidates.append((st.st_mtime, path.name, path))
        candidates.sort()
        records: list[NativeRecord] = []
        more = False
        for mtime, name, path in candidates:
            if len(records) == request.limit:
                more = True
                break
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            version = hashlib.sha256(data).hexdigest()[:20]
            try:
                kind, _ = check_package(data, key=name)
            except NativeInvalid as exc:
                if now - mtime < self.stale_seconds and exc.field == "package":
                    continue  # does not parse yet: most likely still being written
                self._note_error(name, version, exc)
                continue
            self._clear_error(name)
            records.append(
                NativeRecord(key=name, version=version, kind=kind, fields={"package": data})
            )
        cursor = json.dumps([f"{r.key}@{r.version}" for r in records]) if records else None
        return PollResult(records=tuple(records), cursor=cursor, more=more)

    def _move_sent(self, cursor: str) -> None:
        try:
            entries = [str(e) for e in json.loads(cursor)]
        except (ValueError, TypeError):
            return  # not ours (another version): nothing moved, files re-sent and de-duplicated
        for entry in entries:
            name, _, version = entry.rpartition("@")
            path = self.outbox / name
            try:
                current = hashlib.sha256(path.read_bytes()).hexdigest()[:20]
            except FileNotFoundError:
                continue
            if current != version:
                continue  # rewritten since it was sent: the new content is sent next
            target = self.sent / name
            if target.exists():
                target = self.sent / f"{name}.{version}"
            path.rename(target)
        _fsync_dir(self.outbox)

    def _note_error(self, name: str, version: str, exc: NativeInvalid) -> None:
        note = self.errors / f"{name}.txt"
        text = f"{name} (version {version}) cannot be sent\n{exc.field}: {exc.reason}\n"
        with contextlib.suppress(FileNotFoundError):
            if note.read_text("utf-8") == text:
                return
        self.config.logger.warning("filedrop: %s cannot be sent: %s", name, exc)
        note.write_text(text, "utf-8")

    def _clear_error(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.errors / f"{name}.txt").unlink()

    # ---------------------------------------------------------------- incoming

    async def deliver(self, request: DeliverRequest) -> DeliverResult:
        """Write the package into ``inbox/`` atomically, once per package id."""
        ledger = self._ledger
        assert ledger is not None, "start() first"
        data = request.record.fields.get("package")
        if not isinstance(data, bytes):
            raise NativeInvalid("package", "must be the package bytes", key=request.record.key)
        package_id = request.package_id
        if "/" in package_id or package_id.startswith(".") or not package_id:
            raise NativeInvalid("package_id", f"not usable as a file name: {package_id!r}")
        found = ledger.execute("SELECT 1 FROM delivered WHERE package_id = ?", (package_id,))
        if found.fetchone() is not None:
            return DeliverResult(applied=False, external_id=f"{package_id}.xml")
        final = self.inbox / f"{package_id}.xml"
        applied = not final.exists()  # written before a crash that came before the ledger
        if applied:
            # fsync blocks: off the event loop
            await asyncio.to_thread(
                _write_atomically, self.inbox, f".{package_id}.tmp", final, data
            )
        ledger.execute(
            "INSERT OR IGNORE INTO delivered VALUES (?, ?, ?)",
            (package_id, final.name, time.time()),
        )
        return DeliverResult(applied=applied, external_id=final.name)


def create_adapter(config: AdapterConfig) -> FiledropAdapter:
    """The connector's entry point."""
    return FiledropAdapter(config)
