"""The template_name adapter: transport (a spool directory) and translation (``mapping``).

Settings (``[adapter.settings]`` of the connector's TOML):

* ``outbox_dir`` — where the system drops records to send: ``<key>.json`` files holding
  ``{"kind": "dossier" | "dossier_progress", "record": {...DVCQG-named fields...}}``;
  a changed file is a new version and is sent again;
* ``inbox_dir`` — where delivered records appear as ``<hub package id>.json`` (same shape);
* ``sent_dir`` — where the hub's signed receipt of each accepted record is kept, as
  ``<key>.receipt.xml`` (the optional ``sent`` hook; delete the method if your system has no
  use for receipts).

Relative paths are relative to the connector's data directory for this adapter.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from hub.adapter import (
    AdapterConfig,
    AdapterSettings,
    DeliverRequest,
    DeliverResult,
    ExternalUnavailable,
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
)
from hub.dossier import DossierHeader, DossierPackage, build_dossier, format_dvc_time

from . import mapping

__all__ = ["TemplateNameAdapter", "create_adapter"]


class Settings(AdapterSettings):
    """``[adapter.settings]``: one line per key, with its type and default (the connector
    refuses unknown keys and wrong types before the adapter is built)."""

    outbox_dir: str = "outbox"
    inbox_dir: str = "inbox"
    sent_dir: str = "sent"


class TemplateNameAdapter:
    """The :class:`hub.adapter.Adapter` for template_name."""

    name = "template_name"

    def __init__(self, config: AdapterConfig) -> None:
        self.config = config
        self.outbox = self._dir(config, "outbox_dir", "outbox")
        self.inbox = self._dir(config, "inbox_dir", "inbox")
        self.sent_dir = self._dir(config, "sent_dir", "sent")

    @staticmethod
    def _dir(config: AdapterConfig, key: str, default: str) -> Path:
        path = Path(str(config.settings.get(key, default)))
        return path if path.is_absolute() else config.data_dir / path

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, request: StartRequest) -> None:
        """Make sure both directories exist."""
        try:
            self.outbox.mkdir(parents=True, exist_ok=True)
            self.inbox.mkdir(parents=True, exist_ok=True)
            self.sent_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExternalUnavailable(f"spool directories: {exc}") from exc

    async def stop(self, request: StopRequest) -> None:
        """Nothing to close for a directory."""

    # -- transport -----------------------------------------------------------------------------

    async def poll(self, request: PollRequest) -> PollResult:
        """Files changed after the cursor (modification time in ns, then name)."""
        after = tuple(json.loads(request.cursor)) if request.cursor else (0, "")
        found: list[tuple[int, str, Path]] = []
        for path in self.outbox.glob("*.json"):
            stamp = (path.stat().st_mtime_ns, path.name)
            if stamp > after:
                found.append((*stamp, path))
        found.sort()
        records: list[NativeRecord] = []
        cursor = request.cursor
        for mtime, name, path in found[: request.limit]:
            data = path.read_bytes()
            try:
                doc = json.loads(data)
                kind, record = doc["kind"], doc["record"]
            except (ValueError, KeyError, TypeError):
                doc, kind, record = None, "dossier", {"_file": name}  # mapping will name it
            records.append(
                NativeRecord(
                    key=path.stem,
                    version=hashlib.sha256(data).hexdigest()[:16],
                    kind=kind if kind in ("dossier", "dossier_progress") else "dossier",
                    fields=record if isinstance(record, dict) else {"_file": name},
                )
            )
            cursor = json.dumps([mtime, name])
        return PollResult(records=tuple(records), cursor=cursor, more=len(found) > request.limit)

    async def deliver(self, request: DeliverRequest) -> DeliverResult:
        """Write ``<package id>.json`` atomically; an existing file means already applied."""
        target = self.inbox / f"{request.package_id}.json"
        if target.exists():
            return DeliverResult(applied=False, external_id=target.name)
        body = {"kind": request.record.kind, "record": dict(request.record.fields)}
        tmp = target.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(body, fh, ensure_ascii=False, indent=2)
            fh.flush()
            os.fsync(fh.fileno())  # durable before the connector acknowledges the hub
        tmp.replace(target)
        return DeliverResult(applied=True, external_id=target.name)

    async def sent(self, request: SentRequest) -> None:
        """Optional hook: the hub accepted a record; keep its receipt next to the outbox.

        The receipt is already verified by the connector. Idempotent: the connector calls
        again after a crash, and the same receipt simply replaces the file.
        """
        target = self.sent_dir / f"{request.record_key}.receipt.xml"
        tmp = target.with_suffix(".tmp")
        try:
            tmp.write_bytes(request.receipt)
            tmp.replace(target)
        except OSError as exc:
            raise ExternalUnavailable(f"sent directory: {exc}") from exc

    # -- translation ---------------------------------------------------------------------------

    def to_package(self, request: ToPackageRequest) -> OutgoingPackage:
        """A native record → an unsigned dossier package."""
        record = request.record
        to = mapping.recipients_from_native(record.fields) or request.default_recipients
        header = DossierHeader(
            package_id=request.package_id,
            from_=request.sender,
            to=to,
            kind=record.kind if record.kind == "dossier_progress" else "dossier",
            created_at=format_dvc_time(request.created_at),
        )
        if record.kind == "dossier_progress":
            package = DossierPackage(
                header=header, tien_do=mapping.tien_do_from_native(record.fields)
            )
        else:
            package = DossierPackage(header=header, ho_so=mapping.ho_so_from_native(record.fields))
        try:
            data = build_dossier(package)
        except ValueError as exc:  # a pattern only the schema checks (codes, numbers)
            raise NativeInvalid("record", str(exc), key=record.key) from None
        return OutgoingPackage(data=data, kind=package.kind, recipients=to)

    def from_package(self, request: FromPackageRequest) -> NativeRecord:
        """A verified dossier package → a native record."""
        model = request.model
        if not isinstance(model, DossierPackage):
            raise NativeInvalid("kind", f"template_name takes dossier packages, not {request.kind}")
        fields: dict[str, Any]
        if model.ho_so is not None:
            fields = mapping.ho_so_to_native(model.ho_so, model.header.to)
        else:
            assert model.tien_do is not None
            fields = mapping.tien_do_to_native(model.tien_do, model.header.to)
        return NativeRecord(
            key=model.ma_ho_so, version=request.package_id, kind=model.kind, fields=fields
        )


def create_adapter(config: AdapterConfig) -> TemplateNameAdapter:
    """The factory the connector calls."""
    return TemplateNameAdapter(config)
