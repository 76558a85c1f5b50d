"""The typed schema of every configuration file, checked before anything is built from it.

One pydantic model per table: a key is **one line** — its name, its type, its default — in the
model of its section. Unknown keys and sections are refused (a misspelt ``max_atempts`` or
``[delivry]`` would otherwise be silently ignored), and so are values of the wrong type (no
coercion: ``max_attempts = "four"`` is an error, not a crash later). The messages name the
file, the key path and what was expected, and suggest the closest known name.

The loaders in :mod:`hub.config` (and the lifecycle, audit and storage readers) still build the
public dataclasses from the raw TOML; this module only decides whether that TOML is acceptable,
so adding a key means: one line here, one line in the template ``config/*.toml``, and the code
that uses it.

A key that was renamed is listed in :data:`RENAMED`: the old name is accepted for one release,
moved to the new name and reported as a deprecation warning.

Why pydantic (v2): see docs/architecture.md, "Configuration".
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from datetime import date as Date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.errors import ConfigError

log = logging.getLogger("hub.config")

#: integers that must not be negative
NonNeg = Annotated[int, Field(ge=0)]
PosFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
StrList = list[str]
Kind = Literal["document", "status", "dossier", "dossier_progress"]


class Table(BaseModel):
    """A TOML table: unknown keys refused, no type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# -- hub.toml ---------------------------------------------------------------------------------


class HubSection(Table):
    id: str = "hub"
    data_dir: str = "data"


class StoreSection(Table):
    kind: Literal["sqlite", "postgresql"] = "sqlite"
    url: str = ""
    schema_: str = Field("hub", alias="schema")
    pool_min: NonNeg = 1
    pool_max: Annotated[int, Field(ge=1)] = 10


class BrokerSection(Table):
    kind: Literal["local", "rabbitmq"] = "local"
    url: str = ""


class HttpSection(Table):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    tls_cert: str | None = None
    tls_key: str | None = None
    client_ca: str | None = None
    keepalive_timeout: PosFloat = 60.0
    body_timeout: PosFloat = 300.0


class LimitsSection(Table):
    max_package_bytes: Annotated[int, Field(ge=1)] = 20 * 1024 * 1024
    max_xml_depth: Annotated[int, Field(ge=1)] = 64


class DeliverySection(Table):
    retry_delays: list[NonNegFloat] = [1.0, 5.0, 30.0, 120.0, 600.0]
    max_attempts: Annotated[int, Field(ge=1)] = 6
    push_timeout: PosFloat = 10.0
    lease_seconds: PosFloat = 30.0
    concurrency: Annotated[int, Field(ge=1)] = 16


class ReceiptPair(Table):
    key: str
    cert: str


class SigningSection(Table):
    receipt_key: str = "pki/hub/key.pem"
    receipt_cert: str = "pki/hub/cert.pem"
    receipt_rotation: list[ReceiptPair] = []
    trust_anchors: StrList = []
    trust_dir: str | None = None
    allow_legacy: bool = False
    crl_files: StrList = []
    ocsp_files: StrList = []
    revocation: Literal["auto", "hard-fail", "soft-fail", "off"] = "auto"
    fetch_online: bool = False
    fetch_timeout: Annotated[float, Field(gt=0, le=60)] = 2.0


class IngestSection(Table):
    processes: Annotated[int, Field(ge=-1)] = 0
    batch: Annotated[int, Field(ge=1)] = 256


class PdfSection(Table):
    default: Literal["require", "warn", "ignore"] = "warn"
    policy: dict[str, Literal["require", "warn", "ignore"]] = {}


class LifecycleSection(Table):
    accept_within_days: NonNeg = 1
    accept_within_days_by_agency: dict[str, NonNeg] = {}
    ack_within_days: NonNeg = 1
    silent_after_days: NonNeg = 5
    evaluate_seconds: PosFloat = 60.0
    webhook_url: str | None = None
    webhook_secret_file: str | None = None
    policy: Literal["compatible", "strict"] = "compatible"


class AuditSection(Table):
    checkpoint_interval: PosFloat = 60.0
    tsa_url: str = ""
    tsa_certs: StrList = []
    expiry_warning_days: NonNeg = 30


class RetentionSection(Table):
    package_days: NonNeg = 365
    purge_unacked: bool = False
    purge_interval: NonNegFloat = 86400.0


class StorageSection(Table):
    encryption_key_file: str = ""


class MetricsSection(Table):
    allow: StrList = ["127.0.0.0/8", "::1/128"]
    token_file: str | None = None


class VxpSection(Table):
    enabled: bool = True
    base_path: str = "/vxp"
    allowed_networks: StrList = []
    rate_per_minute: NonNeg = 600
    self_registration: bool = False


class HubToml(Table):
    """``hub.toml``: one section per line."""

    hub: HubSection = HubSection()
    store: StoreSection = Field(default_factory=lambda: StoreSection.model_validate({}))
    broker: BrokerSection = BrokerSection()
    http: HttpSection = HttpSection()
    limits: LimitsSection = LimitsSection()
    delivery: DeliverySection = DeliverySection()
    signing: SigningSection = SigningSection()
    ingest: IngestSection = IngestSection()
    pdf: PdfSection = PdfSection()
    lifecycle: LifecycleSection = LifecycleSection()
    audit: AuditSection = AuditSection()
    retention: RetentionSection = RetentionSection()
    storage: StorageSection = StorageSection()
    vxp: VxpSection = VxpSection()
    metrics: MetricsSection = MetricsSection()


# -- agencies.toml, routes.toml, holidays.toml, procedures.toml ---------------------------------


class AgencyEntry(Table):
    organ_id: str
    name: str | None = None  # default: the OrganId
    enabled: bool = True
    cert_sha256: str | StrList = []
    token_sha256: str | StrList = []
    delivery: Literal["pull", "push"] = "pull"
    push_url: str | None = None
    push_secret_file: str | None = None
    may_send: Kind | list[Kind] = ["document", "status", "dossier", "dossier_progress"]
    lifecycle_policy: Literal["compatible", "strict"] | None = None
    represents: Literal["self", "descendants"] | None = None  # default by level
    signature_profile: Literal["strict", "legacy"] | None = None
    envelope_signature: Literal["required", "optional"] = "required"


class AgenciesToml(Table):
    """``agencies.toml``."""

    agency: list[AgencyEntry] = []


class RouteEntry(Table):
    name: str | None = None
    from_: str = Field("*", alias="from")
    to: str = "*"
    kind: Literal["*", "document", "status", "dossier", "dossier_progress"] = "*"
    add: str | StrList = []


class RoutesToml(Table):
    """``routes.toml``."""

    copy_: list[RouteEntry] = Field([], alias="copy")
    forbid: list[RouteEntry] = []


class NamedHoliday(Table):
    date: Date | str
    name: str = ""


class HolidaysToml(Table):
    """``holidays.toml``."""

    weekend: list[Annotated[int, Field(ge=1, le=7)]] = [6, 7]
    holidays: list[Date | str] = []
    workdays: list[Date | str] = []
    holiday: list[NamedHoliday] = []


class ProcedureEntry(Table):
    ma_tthc: str
    name: str
    field: str = ""
    level: Annotated[int, Field(ge=1, le=4)]
    agency: str
    time_limit_days: NonNeg
    result_delivery: list[Literal["online", "post", "in_person"]] = ["in_person"]
    accept_within_days: NonNeg | None = None


class ProceduresToml(Table):
    """``procedures.toml``."""

    procedure: list[ProcedureEntry] = []


# -- connector TOML (hub connector --config FILE) ----------------------------------------------


class AdapterSection(Table):
    name: str
    settings: dict[str, Any] = {}  # checked by the adapter's own schema (hub.adapter)


class ConnectorToml(Table):
    """A connector's TOML (see :mod:`hub.adapter.connector`)."""

    organ_id: str
    hub_url: str
    token_file: str
    key_file: str
    cert_file: str
    trust_anchors: StrList
    data_dir: str = "connector-data"
    default_recipients: StrList = []
    poll_interval: PosFloat = 5.0
    inbox_interval: PosFloat = 5.0
    batch: Annotated[int, Field(ge=1)] = 100
    submit_attempts: Annotated[int, Field(ge=1)] = 5
    retry_base: NonNegFloat = 0.2
    allow_legacy: bool = False
    receipt_trust_anchors: StrList = []
    max_package_bytes: Annotated[int, Field(ge=1)] = 20 * 1024 * 1024
    adapter: AdapterSection


#: every file of a configuration directory and its schema
FILES: Mapping[str, type[Table]] = {
    "hub.toml": HubToml,
    "agencies.toml": AgenciesToml,
    "routes.toml": RoutesToml,
    "holidays.toml": HolidaysToml,
    "procedures.toml": ProceduresToml,
}

#: renamed keys, per file: (table path..., old key) → new key. The old name is accepted for
#: one release with a deprecation warning, then removed from this table. Array-of-table
#: entries (``[[agency]]``) are addressed by the array's name.
RENAMED: Mapping[str, Mapping[tuple[str, ...], str]] = {
    "hub.toml": {},
    "agencies.toml": {},
    "routes.toml": {},
}


def apply_renames(
    doc: dict[str, Any], renames: Mapping[tuple[str, ...], str], where: str
) -> list[str]:
    """Move every old key of ``renames`` found in ``doc`` to its new name (in place) and
    return one deprecation warning per move. Both names at once is an error."""
    warnings: list[str] = []
    for path, new in renames.items():
        *tables, old = path
        for table in _tables_at(doc, tables):
            if old not in table:
                continue
            label = _label(tuple(tables))
            if new in table:
                raise ConfigError(f"{where}: {label}{old} and {new} both set; keep only {new}")
            table[new] = table.pop(old)
            warnings.append(
                f"{where}: {label}{old} is deprecated, renamed to {new} (the old name is "
                f"accepted for one release)"
            )
    return warnings


def _tables_at(doc: dict[str, Any], path: list[str]) -> list[dict[str, Any]]:
    level: list[dict[str, Any]] = [doc]
    for name in path:
        nxt: list[dict[str, Any]] = []
        for table in level:
            value = table.get(name)
            if isinstance(value, dict):
                nxt.append(value)
            elif isinstance(value, list):
                nxt.extend(v for v in value if isinstance(v, dict))
        level = nxt
    return level


def _label(tables: tuple[str, ...]) -> str:
    return f"[{'.'.join(tables)}] " if tables else ""


_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "date_type": "a date (YYYY-MM-DD)",
}


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class of the table holding ``loc``'s last element (for suggestions)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        fields = {f.alias or n: f for n, f in current.model_fields.items()}
        if part not in fields:
            return None
        annotation = fields[part].annotation
        args = getattr(annotation, "__args__", ())
        current = (
            args[0] if args and getattr(annotation, "__origin__", None) is list else annotation
        )
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _where(loc: tuple[int | str, ...], top: type[BaseModel]) -> str:
    """``[delivery] max_attempts``, ``[[agency]] #2 delivery``, ``[signing] receipt_rotation
    #1 cert``; a top-level key of a file without sections is its bare name."""
    first, rest = loc[0], list(loc[1:])
    if isinstance(first, int):  # pragma: no cover - a file is a table, never an array
        return f"item #{first + 1}"
    field = top.model_fields.get(str(first)) or next(
        (f for f in top.model_fields.values() if f.alias == first), None
    )
    table = field is not None and _is_table(field.annotation)
    array = str(first) in _arrays(top)
    if not rest:
        return (
            f"[{first}]" if (table or array or (field is None and top is HubToml)) else str(first)
        )
    head = f"[[{first}]]" if array else f"[{first}]" if table else str(first)
    parts: list[str] = []
    for part in rest:
        if isinstance(part, int):
            parts.append(f"#{part + 1}")
        elif parts and not parts[-1].startswith("#"):
            parts[-1] += f".{part}"
        else:
            parts.append(str(part))
    return f"{head} {' '.join(parts)}"


def _is_table(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _arrays(top: type[BaseModel]) -> set[str]:
    """Names of the arrays of tables (``[[agency]]``) of a file."""
    out = set()
    for name, f in top.model_fields.items():
        args = getattr(f.annotation, "__args__", ())
        if getattr(f.annotation, "__origin__", None) is list and args and _is_table(args[0]):
            out.add(f.alias or name)
    return out


def _message(group: list[dict[str, Any]], top: type[BaseModel]) -> str:
    """One line for the errors of one key (several for a union: "a string or a list")."""
    error = group[0]
    loc = tuple(error["loc"])
    where = _where(loc, top) if loc else "(file)"
    kind = error["type"]
    if len(group) > 1 and all(e["type"] in _EXPECTED for e in group):
        expected = " or ".join(dict.fromkeys(_EXPECTED[e["type"]] for e in group))
        return f"{where}: expected {expected}, got {error['input']!r}"
    if kind == "extra_forbidden":
        holder = _model_at(top, loc)
        known = _field_names(holder) if holder else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        what = "section" if len(loc) == 1 and top is HubToml else "key"
        return f"{where}: unknown {what}{hint}; known: {', '.join(known)}"
    if kind == "missing":
        return f"{where}: required key missing"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{where}: expected one of {expected}, got {error['input']!r}"
    plain = _EXPECTED.get(kind)
    if plain:
        return f"{where}: expected {plain}, got {error['input']!r}"
    return f"{where}: {error['msg']}, got {error['input']!r}"


_TYPE_TAGS = {"str", "int", "float", "bool", "date", "list", "dict", "function-after"}


def _strip(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # pydantic reports each member of a union (str | list[str]) separately, with the
    # member's name in the loc, which says nothing to a user
    return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in _TYPE_TAGS)))


def validate(doc: Mapping[str, Any], schema: type[BaseModel], where: str | Path) -> BaseModel:
    """``doc`` checked against ``schema``; a :class:`ConfigError` lists every problem."""
    try:
        return schema.model_validate(doc)
    except ValidationError as exc:
        errors: list[dict[str, Any]] = [{**e, "loc": _strip(tuple(e["loc"]))} for e in exc.errors()]
        locs: list[tuple[int | str, ...]] = [e["loc"] for e in errors]
        # keep the most specific error of a union: an item's error over "not a string"
        errors = [
            e
            for e in errors
            if not any(len(o) > len(e["loc"]) and o[: len(e["loc"])] == e["loc"] for o in locs)
        ]
        merged: dict[tuple[int | str, ...], list[dict[str, Any]]] = {}
        for e in errors:
            merged.setdefault(e["loc"], []).append(e)
        lines = [_message(group, schema) for group in merged.values()]
        body = lines[0] if len(lines) == 1 else "\n  " + "\n  ".join(lines)
        raise ConfigError(f"{where}: {body}") from None


def check_file(name: str, doc: dict[str, Any], path: Path) -> list[str]:
    """Apply renames (warnings logged and returned), then validate ``doc`` as file ``name``."""
    warnings = apply_renames(doc, RENAMED.get(name, {}), str(path))
    for warning in warnings:
        log.warning(warning)
    validate(doc, FILES[name], path)
    return warnings
