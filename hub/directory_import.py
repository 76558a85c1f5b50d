"""``hub agency import``: load directory entries from a CSV or JSON export (issue 11).

The file is read and checked whole before anything is written: every code an OrganId, every
parent an ancestor of its code and known (in the file, already in the directory, or
registered), every name non-empty (stored in NFC), no code twice. Every problem is reported
at once, by line (CSV) or item (JSON), as one :class:`~hub.errors.DirectoryInvalid`.

Then the plan: each entry *added*, *changed* (field by field) or *unchanged* against the
store. Import never deletes: entries stored but absent from the file are kept and counted.
Import never connects: a code registered in ``agencies.toml`` keeps its registration; the file
only adds its ``code102``/``old_code`` (and parent). The write is one transaction
(:meth:`~hub.store.abc.Store.put_directory_records`); importing the same file twice changes
nothing the second time.

Formats (``docs/directory.md``):

* CSV, UTF-8 (a BOM, as Excel writes, is accepted), comma-separated, a header row naming the
  columns: ``code`` and ``name`` required; ``parent`` (or ``pid``), ``code102``,
  ``old_code`` (or ``oldCode``) optional.
* JSON, UTF-8: a list of objects with the same keys, or an object whose ``data`` is such a
  list (the answer of the VXP ``getAgenciesList`` call, saved as is).

Keys the VXP calls also return and the hub does not keep (``id``, ``mail``, ``level``,
``version``, ``centerCode``, ``deleted``, ``modifyDate``, ``isAgency``) are ignored; any other
column is refused (a misspelt ``parnet`` must not be dropped silently).
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from hub.directory import sort_key, structural_parent
from hub.edxml.organ_id import InvalidOrganId, OrganId
from hub.errors import DirectoryInvalid
from hub.models import DirectoryRecord, Event
from hub.registry import Registry
from hub.store.abc import Store
from hub.text import nfc

__all__ = [
    "FORMATS",
    "ImportChange",
    "ImportPlan",
    "import_directory",
    "parse_directory",
    "plan_import",
]

Format = Literal["csv", "json"]
FORMATS: tuple[Format, ...] = ("csv", "json")

MAX_NAME = 500
MAX_OLD_CODE = 64
MAX_ERRORS = 50  # enough to fix a file in one go; more would drown the first ones
MAX_FILE_BYTES = 64 * 1024 * 1024

_ALIASES = {
    "code": "code",
    "name": "name",
    "parent": "parent",
    "pid": "parent",
    "code102": "code102",
    "old_code": "old_code",
    "oldcode": "old_code",
}
_IGNORED = frozenset(
    {"id", "mail", "level", "version", "centercode", "deleted", "modifydate", "isagency"}
)
_FIELDS = ("name", "parent", "code102", "old_code")


@dataclass(frozen=True, slots=True)
class ImportChange:
    """What importing one entry does. ``fields``: for ``changed``, each ``(field, stored,
    new)``. ``connected``: the code is registered (the file only adds directory data)."""

    code: str
    action: Literal["added", "changed", "unchanged"]
    record: DirectoryRecord
    fields: tuple[tuple[str, str | None, str | None], ...] = ()
    connected: bool = False


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """The checked file against the store: one change per entry, in directory order, and
    how many stored entries the file does not name (kept: import never deletes)."""

    changes: tuple[ImportChange, ...]
    kept: int
    revision: int | None = None  # after writing; None for a dry run
    written: int = 0

    @property
    def added(self) -> int:
        """Entries the store does not hold yet."""
        return sum(1 for c in self.changes if c.action == "added")

    @property
    def changed(self) -> int:
        """Entries stored with other values."""
        return sum(1 for c in self.changes if c.action == "changed")

    @property
    def unchanged(self) -> int:
        """Entries stored exactly so already."""
        return sum(1 for c in self.changes if c.action == "unchanged")


def detect_format(path: Path, given: str | None) -> Format:
    """``given``, else the file's extension (``.csv``/``.json``)."""
    if given is not None:
        if given not in FORMATS:
            raise DirectoryInvalid(f"unknown format {given!r}: csv or json")
        return "csv" if given == "csv" else "json"
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".json":
        return "json"
    raise DirectoryInvalid(
        f"{path.name}: cannot tell the format from the extension {suffix or '(none)'!r}; "
        "pass --format csv or --format json"
    )


def _text(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DirectoryInvalid(
            f"{source}: not UTF-8 (byte {exc.start}: {data[exc.start : exc.start + 1]!r}); "
            "save the export as UTF-8"
        ) from exc


def _rows_csv(text: str, source: str) -> list[tuple[str, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise DirectoryInvalid(f"{source}: empty file (a header row is required)") from None
    except csv.Error as exc:
        raise DirectoryInvalid(f"{source}: line 1: {exc}") from exc
    rows: list[tuple[str, dict[str, Any]]] = []
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue  # blank line (trailing newlines, separators)
            where = f"line {reader.line_num}"
            if len(values) != len(header):
                raise DirectoryInvalid(
                    f"{source}: {where}: {len(values)} fields, the header has {len(header)}"
                )
            rows.append((where, dict(zip(header, values, strict=True))))
    except csv.Error as exc:
        raise DirectoryInvalid(f"{source}: line {reader.line_num}: {exc}") from exc
    _check_columns(header, source)
    return rows


def _rows_json(text: str, source: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DirectoryInvalid(
            f"{source}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    if isinstance(doc, dict) and isinstance(doc.get("data"), list):
        doc = doc["data"]  # a VXP getAgenciesList answer saved as is
    if not isinstance(doc, list):
        raise DirectoryInvalid(
            f"{source}: expected a list of agencies (or an object with a 'data' list)"
        )
    rows: list[tuple[str, dict[str, Any]]] = []
    keys: set[str] = set()
    for i, item in enumerate(doc, start=1):
        if not isinstance(item, dict):
            raise DirectoryInvalid(f"{source}: item {i}: expected an object")
        keys.update(item)
        rows.append((f"item {i}", item))
    if not rows:
        raise DirectoryInvalid(f"{source}: no entries")
    _check_columns(sorted(keys), source)
    return rows


def _check_columns(names: Sequence[str], source: str) -> None:
    folded = [n.strip().lower() for n in names]
    unknown = [
        n for n, f in zip(names, folded, strict=True) if f not in _ALIASES and f not in _IGNORED
    ]
    if unknown:
        raise DirectoryInvalid(
            f"{source}: unknown column(s) {', '.join(map(repr, unknown))}; expected code, "
            "name, parent (or pid), code102, old_code (or oldCode)"
        )
    canonical = [_ALIASES[f] for f in folded if f in _ALIASES]
    twice = sorted({c for c in canonical if canonical.count(c) > 1})
    if twice:
        raise DirectoryInvalid(f"{source}: column(s) given twice: {', '.join(twice)}")
    missing = [c for c in ("code", "name") if c not in canonical]
    if missing:
        raise DirectoryInvalid(f"{source}: missing column(s): {', '.join(missing)}")


def _has_control(text: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf") for c in text)


def _value(raw: object) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ValueError(f"expected text, got {type(raw).__name__}")
    return str(raw).strip()


def _record(fields: Mapping[str, Any], errors: list[str], where: str) -> DirectoryRecord | None:
    values: dict[str, str] = {}
    for key, raw in fields.items():
        name = _ALIASES.get(str(key).strip().lower())
        if name is None:
            continue  # ignored VXP keys
        try:
            values[name] = _value(raw)
        except ValueError as exc:
            errors.append(f"{where}: {name}: {exc}")
            return None
    problems: list[str] = []
    code = values.get("code", "")
    organ: OrganId | None = None
    try:
        organ = OrganId.parse(code)
    except InvalidOrganId:
        problems.append(f"code {code!r} is not an OrganId (NNN.NN.NN.XNN, e.g. 000.00.13.H29)")
    name = nfc(values.get("name", ""))
    if not name:
        problems.append("name is empty")
    elif len(name) > MAX_NAME:
        problems.append(f"name longer than {MAX_NAME} characters")
    elif _has_control(name):
        problems.append("name holds control characters")
    parent: str | None = values.get("parent") or None
    if parent is not None and organ is not None:
        try:
            if not OrganId.parse(parent).is_ancestor_of(organ):
                problems.append(f"parent {parent} is not above {code} in the code hierarchy")
        except InvalidOrganId:
            problems.append(f"parent {parent!r} is not an OrganId")
    elif organ is not None:
        parent = structural_parent(code)
    code102 = values.get("code102") or None
    if code102 is not None and not _is_organ_id(code102):
        problems.append(f"code102 {code102!r} is not an OrganId")
    old_code = nfc(values.get("old_code", "")) or None
    if old_code is not None and (len(old_code) > MAX_OLD_CODE or _has_control(old_code)):
        problems.append(f"old_code {old_code!r}: at most {MAX_OLD_CODE} printable characters")
    if problems:
        errors.extend(f"{where}: {p}" for p in problems)
        return None
    return DirectoryRecord(code=code, name=name, parent=parent, code102=code102, old_code=old_code)


def _is_organ_id(text: str) -> bool:
    try:
        OrganId.parse(text)
    except InvalidOrganId:
        return False
    return True


def _raise(errors: Sequence[str], source: str) -> None:
    shown = list(errors[:MAX_ERRORS])
    if len(errors) > MAX_ERRORS:
        shown.append(f"… and {len(errors) - MAX_ERRORS} more")
    raise DirectoryInvalid(
        f"{source}: {len(errors)} problem(s), nothing imported:\n  " + "\n  ".join(shown),
        problems=list(errors),
    )


def parse_directory(data: bytes, fmt: Format, source: str = "file") -> list[DirectoryRecord]:
    """The entries of an export, each checked on its own (codes, names, parents as codes,
    no code twice); :class:`DirectoryInvalid` listing every problem by line or item."""
    if len(data) > MAX_FILE_BYTES:
        raise DirectoryInvalid(f"{source}: larger than {MAX_FILE_BYTES} bytes")
    text = _text(data, source)
    rows = _rows_csv(text, source) if fmt == "csv" else _rows_json(text, source)
    errors: list[str] = []
    records: list[DirectoryRecord] = []
    first: dict[str, str] = {}
    for where, fields in rows:
        record = _record(fields, errors, where)
        if record is None:
            continue
        if record.code in first:
            errors.append(f"{where}: code {record.code} already given at {first[record.code]}")
            continue
        first[record.code] = where
        records.append(record)
    if errors:
        _raise(errors, source)
    if not records:
        raise DirectoryInvalid(f"{source}: no entries")
    return records


def plan_import(
    records: Sequence[DirectoryRecord],
    stored: Sequence[DirectoryRecord],
    registry: Registry,
    source: str = "file",
) -> ImportPlan:
    """Check parents against everything known and compare each entry with the store.

    A parent must be known: in the file, already in the directory, or registered — an entry
    whose parent nobody knows would hang outside the tree every view draws.
    """
    by_code = {r.code: r for r in stored}
    known = set(by_code) | {r.code for r in records} | {a.organ_id for a in registry.all()}
    errors = [
        f"{r.code}: parent {r.parent} is neither in the file, in the directory, nor registered"
        for r in records
        if r.parent is not None and r.parent not in known
    ]
    if errors:
        _raise(errors, source)
    changes: list[ImportChange] = []
    for record in sorted(records, key=lambda r: sort_key(r.code)):
        connected = registry.get(record.code) is not None
        old = by_code.get(record.code)
        if old is None:
            changes.append(ImportChange(record.code, "added", record, connected=connected))
            continue
        diff = tuple(
            (f, getattr(old, f), getattr(record, f))
            for f in _FIELDS
            if getattr(old, f) != getattr(record, f)
        )
        action: Literal["changed", "unchanged"] = "changed" if diff else "unchanged"
        changes.append(ImportChange(record.code, action, record, diff, connected))
    named = {r.code for r in records}
    return ImportPlan(changes=tuple(changes), kept=sum(1 for c in by_code if c not in named))


async def import_directory(
    store: Store,
    registry: Registry,
    data: bytes,
    fmt: Format,
    *,
    at: datetime,
    dry_run: bool = False,
    source: str = "file",
) -> ImportPlan:
    """Parse, check and plan the import of ``data``; unless ``dry_run``, write every added
    and changed entry in one transaction and record a ``directory.imported`` event (the
    agencies' history, beside ``agency.disabled`` and the rest). Returns the plan with the
    revision written."""
    records = parse_directory(data, fmt, source)
    plan = plan_import(records, await store.directory_records(), registry, source)
    if dry_run:
        return plan
    to_write = [c.record for c in plan.changes if c.action != "unchanged"]
    revision, written = (
        await store.put_directory_records(to_write, at)
        if to_write
        else (await store.directory_revision(), 0)
    )
    if written:
        await store.append_event(
            Event(
                package_id=None,
                kind="directory.imported",
                at=at,
                detail={
                    "source": source,
                    "added": plan.added,
                    "changed": plan.changed,
                    "unchanged": plan.unchanged,
                    "revision": revision,
                },
            )
        )
    return ImportPlan(changes=plan.changes, kept=plan.kept, revision=revision, written=written)
