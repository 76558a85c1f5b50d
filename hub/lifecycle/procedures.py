"""The procedure catalogue (thủ tục hành chính): ``config/procedures.toml`` or a CSV import.

A procedure (MaTTHC) names its field, its online service level (Decree 43/2011: 1 information,
2 forms, 3 submitted and processed online, 4 also paid and returned online), the handling
agency, the legal time limit in working days and how the result is delivered. Dossiers without
``To`` are routed to the handling agency of their MaTTHC; reports count procedures by level.
"""

from __future__ import annotations

import csv
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.config_schema import check_file
from hub.errors import ConfigError

DELIVERIES = ("online", "post", "in_person")
"""How a result may be delivered (``result_delivery``)."""

CSV_COLUMNS = (
    "ma_tthc",
    "name",
    "field",
    "level",
    "agency",
    "time_limit_days",
    "result_delivery",
    "accept_within_days",
)
"""CSV header for :func:`import_csv` (``result_delivery`` separated by ``|``;
``accept_within_days`` optional)."""


@dataclass(frozen=True, slots=True)
class Procedure:
    """One administrative procedure of the catalogue."""

    ma_tthc: str
    name: str
    field: str
    level: int  # online service level 1..4
    agency: str  # handling agency OrganId
    time_limit_days: int  # legal time limit, working days
    result_delivery: tuple[str, ...] = ("in_person",)
    accept_within_days: int | None = None  # SLA override: accept within N working days


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Procedures by MaTTHC."""

    procedures: Mapping[str, Procedure]

    def get(self, ma_tthc: str | None) -> Procedure | None:
        """The procedure, if catalogued."""
        return self.procedures.get(ma_tthc) if ma_tthc else None

    def __len__(self) -> int:
        return len(self.procedures)


def _procedure(entry: Mapping[str, Any], where: str) -> Procedure:
    try:
        level = int(entry["level"])
        limit = int(entry["time_limit_days"])
        delivery = entry.get("result_delivery", ["in_person"])
        if isinstance(delivery, str):
            delivery = [d for d in delivery.replace("|", ",").split(",") if d.strip()]
        accept = entry.get("accept_within_days")
        proc = Procedure(
            ma_tthc=str(entry["ma_tthc"]).strip(),
            name=str(entry["name"]),
            field=str(entry.get("field", "")),
            level=level,
            agency=str(entry["agency"]).strip(),
            time_limit_days=limit,
            result_delivery=tuple(str(d).strip() for d in delivery),
            accept_within_days=int(accept) if accept not in (None, "") else None,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc!r} in {dict(entry)}") from exc
    if not 1 <= proc.level <= 4:
        raise ConfigError(f"{where}: {proc.ma_tthc}: level must be 1..4")
    if proc.time_limit_days < 0:
        raise ConfigError(f"{where}: {proc.ma_tthc}: time_limit_days must be ≥ 0")
    bad = [d for d in proc.result_delivery if d not in DELIVERIES]
    if bad:
        raise ConfigError(f"{where}: {proc.ma_tthc}: result_delivery {bad} not in {DELIVERIES}")
    return proc


def catalogue_of(entries: Iterable[Mapping[str, Any]], where: str) -> Catalogue:
    """A catalogue from entries; a MaTTHC listed twice is a configuration error."""
    procs: dict[str, Procedure] = {}
    for entry in entries:
        proc = _procedure(entry, where)
        if proc.ma_tthc in procs:
            raise ConfigError(f"{where}: MaTTHC {proc.ma_tthc} listed twice")
        procs[proc.ma_tthc] = proc
    return Catalogue(procs)


def load_catalogue(path: Path) -> Catalogue:
    """``procedures.toml``: ``[[procedure]]`` tables; a missing file is an empty catalogue."""
    if not path.exists():
        return Catalogue({})
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    check_file("procedures.toml", raw, path)  # unknown keys, wrong types: refused with the key path
    return catalogue_of(raw.get("procedure", []), str(path))


#: the columns a catalogue CSV cannot do without
REQUIRED_COLUMNS = ("ma_tthc", "name", "level", "agency", "time_limit_days")


def import_csv(path: Path) -> Catalogue:
    """A catalogue from a CSV file with the :data:`CSV_COLUMNS` header (UTF-8, BOM allowed)."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:  # not this format at all: an empty catalogue would hide the mistake
            raise ConfigError(
                f"{path}: not a procedure catalogue, the header lacks {', '.join(missing)} "
                f"(columns: {', '.join(CSV_COLUMNS)})"
            )
        return catalogue_of(reader, str(path))


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_toml(catalogue: Catalogue) -> str:
    """The catalogue as ``procedures.toml`` text (``hub procedures import`` writes this)."""
    lines: list[str] = []
    for p in catalogue.procedures.values():
        lines += [
            "[[procedure]]",
            f"ma_tthc = {_toml_str(p.ma_tthc)}",
            f"name = {_toml_str(p.name)}",
            f"field = {_toml_str(p.field)}",
            f"level = {p.level}",
            f"agency = {_toml_str(p.agency)}",
            f"time_limit_days = {p.time_limit_days}",
            "result_delivery = [" + ", ".join(_toml_str(d) for d in p.result_delivery) + "]",
        ]
        if p.accept_within_days is not None:
            lines.append(f"accept_within_days = {p.accept_within_days}")
        lines.append("")
    return "\n".join(lines)
