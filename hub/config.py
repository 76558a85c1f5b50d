"""Configuration: ``hub.toml``, ``agencies.toml`` and ``routes.toml`` in one directory.

Every path in a configuration file is relative to that file's directory, so a configuration
directory can be moved or copied together with the data it names (``hub demo --workdir W``
writes ``W/config/`` that points at ``W/pki`` and ``W/data``).

Secrets never live in these files: bearer tokens are stored as SHA-256 hashes, push secrets
and private keys are read from the files the configuration names. ``HUB_*`` environment
variables override selected settings (see :data:`ENV_OVERRIDES`).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from hub.config_schema import check_file
from hub.edxml.organ_id import OrganId
from hub.errors import ConfigError
from hub.xmlsafe import DEFAULT_MAX_DEPTH as DEFAULT_MAX_XML_DEPTH

DEFAULT_MAX_PACKAGE_BYTES = 20 * 1024 * 1024

DeliveryMode = Literal["pull", "push"]
Represents = Literal["self", "descendants"]
RevocationPolicy = Literal["hard-fail", "soft-fail", "off"]
PdfPolicy = Literal["require", "warn", "ignore"]
PackageKindName = Literal["document", "status", "dossier", "dossier_progress"]
PACKAGE_KINDS: tuple[PackageKindName, ...] = ("document", "status", "dossier", "dossier_progress")
SignatureProfile = Literal["strict", "legacy"]
SIGNATURE_PROFILES: tuple[SignatureProfile, ...] = ("strict", "legacy")


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Where the agency API listens, and TLS with optional client certificates."""

    host: str = "127.0.0.1"
    port: int = 8080
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None  # when set, client certificates are requested and checked
    #: seconds a connection may stay without a complete request head — idle between
    #: requests (keep-alive) or sending its headers (aiohttp runs one timer for both)
    keepalive_timeout: float = 60.0
    #: seconds a request body may take to arrive in full (slow senders are cut off: 408)
    body_timeout: float = 300.0


LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1/128")


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """Who may read ``/metrics``: peers in ``allow`` (default loopback only), or anyone with
    the bearer token in ``token_file``."""

    allow: tuple[str, ...] = LOOPBACK_NETWORKS
    token_file: Path | None = None


@dataclass(frozen=True, slots=True)
class VxpSettings:
    """``[vxp]``: the facade for systems on the national axis's Java SDK (docs/vxp.md)."""

    enabled: bool = True
    base_path: str = "/vxp"  # the SDK's endpoint is <hub URL><base_path>, no trailing slash
    # Client networks allowed to call the facade (CIDR); empty: any (put TLS in front).
    allowed_networks: tuple[str, ...] = ()
    # Requests per minute per system and worker process (token bucket); 0: unlimited.
    rate_per_minute: int = 600
    # registerAgency/deleteAgency: agencies are configuration, so refused unless enabled.
    self_registration: bool = False


_DEFAULT_RETRY_DELAYS = (1.0, 5.0, 30.0, 120.0, 600.0)


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """Push delivery: timeouts, retry tiers and the dead-letter threshold."""

    retry_delays: tuple[float, ...] = _DEFAULT_RETRY_DELAYS
    max_attempts: int = 6
    push_timeout: float = 10.0
    lease_seconds: float = 30.0
    concurrency: int = 16


@dataclass(frozen=True, slots=True)
class Settings:
    """``hub.toml``: the hub's own settings."""

    config_dir: Path
    hub_id: str = "hub"
    data_dir: Path = Path("data")
    store: Literal["sqlite", "postgresql"] = "sqlite"
    store_url: str = ""
    store_schema: str = "hub"  # PostgreSQL: the schema holding the hub's tables
    store_pool_min: int = 1  # PostgreSQL: connections kept open
    store_pool_max: int = 10  # PostgreSQL: connections at most, per hub process
    broker: Literal["local", "rabbitmq"] = "local"
    broker_url: str = ""
    max_package_bytes: int = DEFAULT_MAX_PACKAGE_BYTES
    max_xml_depth: int = DEFAULT_MAX_XML_DEPTH  # element nesting (huge_tree lifts libxml2's)
    http: HttpSettings = field(default_factory=HttpSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    receipt_key: Path = Path("pki/hub/key.pem")
    receipt_cert: Path = Path("pki/hub/cert.pem")
    # [signing] receipt_rotation = [{key = "…", cert = "…"}]: further receipt key pairs with
    # overlapping validity; the newest valid certificate signs, all are published (issue 7)
    receipt_rotation: tuple[tuple[Path, Path], ...] = ()
    trust_anchors: tuple[Path, ...] = ()
    allow_legacy_signatures: bool = False
    ingest_processes: int = 0  # 0: one per core; -1: verify inline (tests, debugging)
    ingest_batch: int = 256
    # [signing] trust directory, revocation sources and policy (see docs/signing.md)
    trust_dir: Path | None = None
    crl_files: tuple[Path, ...] = ()
    ocsp_files: tuple[Path, ...] = ()
    revocation: RevocationPolicy = "off"  # resolved: "auto" becomes hard-fail or off
    # [signing] fetch_online: CRL/OCSP from the certificates' own URLs (issue 14)
    fetch_online: bool = False
    fetch_timeout: float = 2.0  # seconds per HTTP fetch
    # [pdf] policy per edXML DocumentType/Type code: require | warn | ignore
    pdf_policy: tuple[tuple[str, PdfPolicy], ...] = ()
    pdf_default: PdfPolicy = "warn"
    vxp: VxpSettings = field(default_factory=VxpSettings)  # [vxp] (issue 11)

    @property
    def sqlite_path(self) -> Path:
        """The embedded store's file (also the embedded broker's, whatever the store)."""
        if self.store == "sqlite" and self.store_url:
            return Path(self.store_url.removeprefix("sqlite:///"))
        return self.data_dir / "hub.sqlite"


@dataclass(frozen=True, slots=True)
class AgencyConfig:
    """One agency as configured in ``agencies.toml`` (runtime overrides live in the store)."""

    organ_id: str
    name: str
    enabled: bool = True
    token_sha256: tuple[str, ...] = ()
    cert_sha256: tuple[str, ...] = ()  # signing certificates bound to this OrganId (rotation)
    delivery: DeliveryMode = "pull"
    push_url: str | None = None
    push_secret_file: Path | None = None
    may_send: tuple[PackageKindName, ...] = PACKAGE_KINDS
    lifecycle_policy: Literal["compatible", "strict"] | None = None  # None: hub.toml's
    #: ``descendants``: packages for unregistered codes below this one are delivered here
    #: (sub-units, hub/routing.py); ``self``: only its own code. Default: ``descendants`` for
    #: a level-1 code (a province or ministry connects one system for its units), else ``self``.
    represents: Represents = "self"
    # strict | legacy (C14N 1.0, RSA-SHA1 admitted, with a warning); None: [signing] allow_legacy
    signature_profile: SignatureProfile | None = None
    # Whether the edXML envelope must carry an XMLDSig signature, on every way in (/v1 and
    # /vxp). "optional": the authenticated agency may send unsigned packages (systems on the
    # VXP SDK write none); they are accepted with the warning signature.envelope_unsigned.
    envelope_signature: Literal["required", "optional"] = "required"


@dataclass(frozen=True, slots=True)
class RouteRule:
    """A rule from ``routes.toml``.

    ``action = "copy"`` adds ``add`` as recipients of matching packages; ``action = "forbid"``
    refuses packages from ``sender`` to ``recipient``. ``*`` matches anything; a pattern
    ending in ``*`` matches by prefix, and ``under:000.00.00.H41`` matches that agency and
    every agency below it in the identifier hierarchy.
    """

    action: Literal["copy", "forbid"]
    sender: str = "*"
    recipient: str = "*"
    kind: PackageKindName | Literal["*"] = "*"
    add: tuple[str, ...] = ()
    name: str = ""


@dataclass(frozen=True, slots=True)
class HubConfig:
    """Everything read from a configuration directory."""

    settings: Settings
    agencies: Mapping[str, AgencyConfig]
    routes: tuple[RouteRule, ...]


#: environment variable → (hub.toml section, key)
ENV_OVERRIDES: Mapping[str, tuple[str, str]] = {
    "HUB_STORE": ("store", "kind"),
    "HUB_STORE_URL": ("store", "url"),
    "HUB_BROKER": ("broker", "kind"),
    "HUB_BROKER_URL": ("broker", "url"),
    "HUB_HTTP_HOST": ("http", "host"),
    "HUB_HTTP_PORT": ("http", "port"),
    "HUB_INGEST_PROCESSES": ("ingest", "processes"),
}


def _read_toml(path: Path) -> dict[str, Any]:
    """The file parsed and checked against its schema (:mod:`hub.config_schema`) before
    anything is built from it: unknown keys and wrong types are refused with the key path."""
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"missing configuration file {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from exc
    check_file(path.name, doc, path)
    return doc


def _path(base: Path, value: object, what: str) -> Path:
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be a path string")
    p = Path(value)
    return p if p.is_absolute() else (base / p).resolve()


def _section(doc: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table")
    return dict(value)


def load_settings(config_dir: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read ``hub.toml`` (all keys optional) and apply ``HUB_*`` overrides."""
    env = os.environ if env is None else env
    base = config_dir.resolve()
    path = base / "hub.toml"
    doc = _read_toml(path) if path.exists() else {}
    sections = {
        name: _section(doc, name)
        for name in (
            "hub",
            "store",
            "broker",
            "http",
            "limits",
            "delivery",
            "signing",
            "ingest",
            "pdf",
            "vxp",
            "metrics",
        )
    }
    for var, (section, key) in ENV_OVERRIDES.items():
        if var in env:
            sections[section][key] = env[var]

    hub_s, store_s, broker_s = sections["hub"], sections["store"], sections["broker"]
    http_s, limits_s, delivery_s = sections["http"], sections["limits"], sections["delivery"]
    signing_s, ingest_s = sections["signing"], sections["ingest"]
    try:
        http = HttpSettings(
            host=str(http_s.get("host", "127.0.0.1")),
            port=int(http_s.get("port", 8080)),
            tls_cert=_path(base, http_s["tls_cert"], "http.tls_cert")
            if "tls_cert" in http_s
            else None,
            tls_key=_path(base, http_s["tls_key"], "http.tls_key") if "tls_key" in http_s else None,
            client_ca=_path(base, http_s["client_ca"], "http.client_ca")
            if "client_ca" in http_s
            else None,
            keepalive_timeout=float(http_s.get("keepalive_timeout", 60.0)),
            body_timeout=float(http_s.get("body_timeout", 300.0)),
        )
        metrics_s = sections["metrics"]
        metrics = MetricsSettings(
            allow=tuple(str(n) for n in metrics_s.get("allow", LOOPBACK_NETWORKS)),
            token_file=_path(base, metrics_s["token_file"], "metrics.token_file")
            if "token_file" in metrics_s
            else None,
        )
        for network in metrics.allow:
            ipaddress.ip_network(network, strict=False)  # ValueError: reported below
        delivery = DeliverySettings(
            retry_delays=tuple(
                float(x) for x in delivery_s.get("retry_delays", _DEFAULT_RETRY_DELAYS)
            ),
            max_attempts=int(delivery_s.get("max_attempts", 6)),
            push_timeout=float(delivery_s.get("push_timeout", 10.0)),
            lease_seconds=float(delivery_s.get("lease_seconds", 30.0)),
            concurrency=int(delivery_s.get("concurrency", 16)),
        )
        store_kind = str(store_s.get("kind", "sqlite"))
        broker_kind = str(broker_s.get("kind", "local"))
        if store_kind not in ("sqlite", "postgresql"):
            raise ConfigError(f"store.kind must be sqlite or postgresql, not {store_kind!r}")
        if broker_kind not in ("local", "rabbitmq"):
            raise ConfigError(f"broker.kind must be local or rabbitmq, not {broker_kind!r}")
        settings = Settings(
            config_dir=base,
            hub_id=str(hub_s.get("id", "hub")),
            data_dir=_path(base, hub_s.get("data_dir", "data"), "hub.data_dir"),
            store=store_kind,  # type: ignore[arg-type]  # checked above
            store_url=str(store_s.get("url", "")),
            store_schema=str(store_s.get("schema", "hub")),
            store_pool_min=int(store_s.get("pool_min", 1)),
            store_pool_max=int(store_s.get("pool_max", 10)),
            broker=broker_kind,  # type: ignore[arg-type]  # checked above
            broker_url=str(broker_s.get("url", "")),
            max_package_bytes=int(limits_s.get("max_package_bytes", DEFAULT_MAX_PACKAGE_BYTES)),
            max_xml_depth=int(limits_s.get("max_xml_depth", DEFAULT_MAX_XML_DEPTH)),
            http=http,
            metrics=metrics,
            delivery=delivery,
            receipt_key=_path(
                base, signing_s.get("receipt_key", "pki/hub/key.pem"), "signing.receipt_key"
            ),
            receipt_cert=_path(
                base, signing_s.get("receipt_cert", "pki/hub/cert.pem"), "signing.receipt_cert"
            ),
            receipt_rotation=tuple(
                (
                    _path(base, pair.get("key"), "signing.receipt_rotation.key"),
                    _path(base, pair.get("cert"), "signing.receipt_rotation.cert"),
                )
                for pair in signing_s.get("receipt_rotation", [])
            ),
            trust_anchors=tuple(
                _path(base, p, "signing.trust_anchors") for p in signing_s.get("trust_anchors", [])
            ),
            allow_legacy_signatures=bool(signing_s.get("allow_legacy", False)),
            ingest_processes=int(ingest_s.get("processes", 0)),
            ingest_batch=int(ingest_s.get("batch", 256)),
            **_trust_settings(base, signing_s, sections["pdf"]),
            vxp=_vxp_settings(sections["vxp"]),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if (
        settings.store == "sqlite"
        and settings.store_url
        and not settings.store_url.startswith("sqlite:///")
    ):
        raise ConfigError("store.url for sqlite must look like sqlite:///path/to/hub.sqlite")
    if settings.max_xml_depth < 1:
        raise ConfigError("limits.max_xml_depth must be at least 1")
    return settings


def _trust_settings(
    base: Path, signing_s: Mapping[str, Any], pdf_s: Mapping[str, Any]
) -> dict[str, Any]:
    """``[signing]`` trust_dir, crl_files, ocsp_files, revocation, fetch_online,
    fetch_timeout and the ``[pdf]`` policy.

    ``revocation`` defaults to ``"auto"``: hard-fail as soon as any revocation source is
    configured (a CRL file, an OCSP response file, or a ``*.crl`` in the trust directory),
    otherwise off — so a hub without revocation data keeps working, and one with data never
    treats "no information" as "trusted". ``fetch_online = true`` counts as a source.
    """
    trust_dir = (
        _path(base, signing_s["trust_dir"], "signing.trust_dir")
        if "trust_dir" in signing_s
        else None
    )
    crl_files = tuple(_path(base, p, "signing.crl_files") for p in signing_s.get("crl_files", []))
    ocsp_files = tuple(
        _path(base, p, "signing.ocsp_files") for p in signing_s.get("ocsp_files", [])
    )
    # Online revocation (issue 14): off by default — hubs are often air-gapped.
    fetch_online = signing_s.get("fetch_online", False)
    if not isinstance(fetch_online, bool):
        raise ConfigError("signing.fetch_online must be true or false")
    fetch_timeout = signing_s.get("fetch_timeout", 2.0)
    if (
        isinstance(fetch_timeout, bool)
        or not isinstance(fetch_timeout, int | float)
        or not 0 < fetch_timeout <= 60
    ):
        raise ConfigError("signing.fetch_timeout must be a number of seconds in (0, 60]")
    revocation = str(signing_s.get("revocation", "auto"))
    if revocation == "auto":
        has_sources = (
            fetch_online
            or bool(crl_files or ocsp_files)
            or (trust_dir is not None and trust_dir.is_dir() and any(trust_dir.rglob("*.crl")))
        )
        revocation = "hard-fail" if has_sources else "off"
    if revocation not in ("hard-fail", "soft-fail", "off"):
        raise ConfigError("signing.revocation must be auto, hard-fail, soft-fail or off")
    policies = ("require", "warn", "ignore")
    default = str(pdf_s.get("default", "warn"))
    if default not in policies:
        raise ConfigError("pdf.default must be require, warn or ignore")
    table = pdf_s.get("policy", {})
    if not isinstance(table, dict) or any(str(v) not in policies for v in table.values()):
        raise ConfigError("[pdf.policy] maps DocumentType codes to require, warn or ignore")
    return {
        "trust_dir": trust_dir,
        "crl_files": crl_files,
        "ocsp_files": ocsp_files,
        "revocation": revocation,
        "fetch_online": fetch_online,
        "fetch_timeout": float(fetch_timeout),
        "pdf_policy": tuple(sorted((str(k), str(v)) for k, v in table.items())),
        "pdf_default": default,
    }


def _vxp_settings(vxp_s: Mapping[str, Any]) -> VxpSettings:
    """``[vxp]``: base_path must start with ``/`` and have no trailing slash."""
    base_path = "/" + str(vxp_s.get("base_path", "/vxp")).strip("/")
    if base_path == "/":
        raise ConfigError("vxp.base_path must be a path below /, e.g. /vxp")
    networks = _str_tuple(vxp_s.get("allowed_networks"), "vxp.allowed_networks")
    for net in networks:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError as exc:
            raise ConfigError(f"vxp.allowed_networks: {exc}") from exc
    return VxpSettings(
        enabled=bool(vxp_s.get("enabled", True)),
        base_path=base_path,
        allowed_networks=networks,
        rate_per_minute=int(vxp_s.get("rate_per_minute", 600)),
        self_registration=bool(vxp_s.get("self_registration", False)),
    )


def _str_tuple(value: object, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{what} must be a string or a list of strings")


def load_agencies(config_dir: Path) -> dict[str, AgencyConfig]:
    """Read ``agencies.toml``: ``[[agency]]`` tables keyed by a valid, unique OrganId."""
    base = config_dir.resolve()
    doc = _read_toml(base / "agencies.toml")
    out: dict[str, AgencyConfig] = {}
    for i, entry in enumerate(doc.get("agency", [])):
        where = f"agencies.toml agency #{i + 1}"
        organ_id = str(entry.get("organ_id", ""))
        try:
            OrganId.parse(organ_id)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        if organ_id in out:
            raise ConfigError(f"{where}: duplicate organ_id {organ_id}")
        delivery = str(entry.get("delivery", "pull"))
        if delivery not in ("pull", "push"):
            raise ConfigError(f"{where}: delivery must be pull or push")
        push_url = entry.get("push_url")
        if delivery == "push" and not push_url:
            raise ConfigError(f"{where}: push delivery needs push_url")
        may_send = _str_tuple(entry.get("may_send", list(PACKAGE_KINDS)), f"{where} may_send")
        if any(k not in PACKAGE_KINDS for k in may_send):
            raise ConfigError(f"{where}: may_send holds {', '.join(PACKAGE_KINDS)}")
        lifecycle_policy = entry.get("lifecycle_policy")
        if lifecycle_policy not in (None, "compatible", "strict"):
            raise ConfigError(f"{where}: lifecycle_policy is compatible or strict")
        default_represents = "descendants" if OrganId.parse(organ_id).level == 1 else "self"
        represents = str(entry.get("represents", default_represents))
        if represents not in ("self", "descendants"):
            raise ConfigError(f"{where}: represents must be self or descendants")
        profile = entry.get("signature_profile")
        if profile is not None and profile not in SIGNATURE_PROFILES:
            raise ConfigError(f"{where}: signature_profile must be strict or legacy")
        envelope_signature = str(entry.get("envelope_signature", "required"))
        if envelope_signature not in ("required", "optional"):
            raise ConfigError(f"{where}: envelope_signature is required or optional")
        out[organ_id] = AgencyConfig(
            organ_id=organ_id,
            name=str(entry.get("name", organ_id)),
            enabled=bool(entry.get("enabled", True)),
            token_sha256=tuple(
                t.lower() for t in _str_tuple(entry.get("token_sha256"), f"{where} token_sha256")
            ),
            cert_sha256=tuple(
                c.lower().replace(":", "")
                for c in _str_tuple(entry.get("cert_sha256"), f"{where} cert_sha256")
            ),
            delivery=delivery,  # type: ignore[arg-type]  # checked above
            push_url=str(push_url) if push_url else None,
            push_secret_file=_path(base, entry["push_secret_file"], f"{where} push_secret_file")
            if "push_secret_file" in entry
            else None,
            may_send=may_send,  # type: ignore[arg-type]  # checked above
            lifecycle_policy=lifecycle_policy,
            represents=represents,  # type: ignore[arg-type]  # checked above
            signature_profile=profile,
            envelope_signature=envelope_signature,  # type: ignore[arg-type]  # checked above
        )
    return out


def load_routes(config_dir: Path) -> tuple[RouteRule, ...]:
    """Read ``routes.toml`` (optional): ``[[copy]]`` and ``[[forbid]]`` rules."""
    path = config_dir.resolve() / "routes.toml"
    if not path.exists():
        return ()
    doc = _read_toml(path)
    rules: list[RouteRule] = []
    for action in ("copy", "forbid"):
        for i, entry in enumerate(doc.get(action, [])):
            where = f"routes.toml {action} #{i + 1}"
            kind = str(entry.get("kind", "*"))
            if kind not in ("*", *PACKAGE_KINDS):
                raise ConfigError(f"{where}: kind must be {', '.join(PACKAGE_KINDS)} or *")
            add = _str_tuple(entry.get("add"), f"{where} add")
            if action == "copy" and not add:
                raise ConfigError(f"{where}: a copy rule needs add = [...]")
            rules.append(
                RouteRule(
                    action=action,
                    sender=str(entry.get("from", "*")),
                    recipient=str(entry.get("to", "*")),
                    kind=kind,  # type: ignore[arg-type]  # checked above
                    add=add,
                    name=str(entry.get("name", f"{action}#{i + 1}")),
                )
            )
    return tuple(rules)


def load_config(config_dir: Path, env: Mapping[str, str] | None = None) -> HubConfig:
    """Read a whole configuration directory and cross-check it."""
    settings = load_settings(config_dir, env)
    agencies = load_agencies(config_dir)
    routes = load_routes(config_dir)
    for rule in routes:
        for extra in rule.add:
            if extra not in agencies:
                raise ConfigError(f"routes.toml {rule.name}: unknown agency {extra}")
    if not settings.trust_anchors and settings.trust_dir is None:
        raise ConfigError(
            "hub.toml [signing] needs trust_anchors (PEM files) or trust_dir (a directory)"
        )
    return HubConfig(settings=settings, agencies=agencies, routes=routes)


def with_settings(config: HubConfig, **changes: Any) -> HubConfig:
    """A copy of ``config`` with some settings changed (tests, CLI flags)."""
    return replace(config, settings=replace(config.settings, **changes))


#: how to get what :func:`missing_files` reports
HOW_TO_CREATE = (
    "create a development CA and receipt key with `hub pki init DIR` (then point [signing] "
    "receipt_key, receipt_cert and trust_anchors at DIR/hub/key.pem, DIR/hub/cert.pem and "
    "DIR/ca.pem), or let `hub demo --workdir W` write a complete, working configuration into "
    "W/config"
)


def missing_files(config: HubConfig) -> list[str]:
    """Files the configuration names that do not exist, each as ``"<file> <key>: <path>"``.

    Checked before serving, so an incomplete configuration (the shipped template names
    ``/etc/hub/...``) is one clear message, not a traceback from deep inside the start-up.
    """
    s = config.settings
    named: list[tuple[str, Path | None]] = [
        ("hub.toml [signing] receipt_key", s.receipt_key),
        ("hub.toml [signing] receipt_cert", s.receipt_cert),
        *(("hub.toml [signing] receipt_rotation", p) for pair in s.receipt_rotation for p in pair),
        *(("hub.toml [signing] trust_anchors", p) for p in s.trust_anchors),
        ("hub.toml [signing] trust_dir", s.trust_dir),
        *(("hub.toml [signing] crl_files", p) for p in s.crl_files),
        *(("hub.toml [signing] ocsp_files", p) for p in s.ocsp_files),
        ("hub.toml [http] tls_cert", s.http.tls_cert),
        ("hub.toml [http] tls_key", s.http.tls_key),
        ("hub.toml [http] client_ca", s.http.client_ca),
        *(
            (f"agencies.toml {a.organ_id} push_secret_file", a.push_secret_file)
            for a in config.agencies.values()
        ),
    ]
    return [f"{what}: {path} does not exist" for what, path in named if path and not path.exists()]
