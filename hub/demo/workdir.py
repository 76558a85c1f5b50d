"""Create a working directory for a hub: dev PKI, agency identities, configuration.

Used by ``hub demo`` and by the test suite, so both run the hub exactly as an operator would:
from a configuration directory on disk.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hub.devpki import IssuedAgency, init_pki, issue_agency


@dataclass(frozen=True, slots=True)
class AgencySpec:
    """A simulated agency."""

    organ_id: str
    name: str
    delivery: str = "pull"  # pull | push
    push_url: str | None = None
    may_send: tuple[str, ...] = ("document", "status")
    enabled: bool = True
    represents: str | None = None  # self | descendants; None: the default for the level
    envelope_signature: str = "required"  # "optional": may send unsigned packages (VXP SDK)


#: Every OrganId in ../shared/testdata/edxml/ plus a few more, as the demo's agencies.
DEFAULT_AGENCIES: tuple[AgencySpec, ...] = (
    AgencySpec("000.00.00.G22", "Văn phòng Chính phủ"),
    AgencySpec("000.00.00.H41", "UBND Tỉnh Nghệ An"),
    AgencySpec("000.00.00.H14", "UBND Tỉnh Cao Bằng"),
    AgencySpec("000.00.00.G17", "Sở Thông tin truyền thông Hải Phòng"),
    AgencySpec("000.00.00.H29", "UBND Thành phố Hà Nội"),
    AgencySpec("000.00.00.H12", "UBND Tỉnh Cà Mau"),
    AgencySpec("000.00.01.H41", "Sở Nội vụ Tỉnh Nghệ An"),
    AgencySpec("000.00.00.G12", "Bộ Thông tin và Truyền thông", delivery="push"),
)


@dataclass(frozen=True, slots=True)
class Workdir:
    """Paths of a prepared working directory."""

    root: Path
    config_dir: Path
    pki_dir: Path
    data_dir: Path
    agencies: dict[str, IssuedAgency]

    def token(self, organ_id: str) -> str:
        """The agency's bearer token."""
        return self.agencies[organ_id].token_path.read_text().strip()

    def push_secret(self, organ_id: str) -> bytes:
        """The agency's push HMAC secret."""
        return (self.pki_dir / "agencies" / organ_id / "push_secret").read_bytes().strip()


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_toml_str(v) for v in values) + "]"


def vxp_system_id(organ_id: str) -> str:
    """The demo's VXP system id for an agency (one system per demo agency)."""
    return f"vxp.{organ_id}"


def write_vxp_credentials(pki_dir: Path, organ_id: str, port: int) -> Path:
    """``pki/agencies/<OrganId>/vxp.toml``: what the agency's SDK configuration needs
    (``systemid``, ``secret``, ``service.endpoint``), beside its other credentials (0600).
    The secret is kept across calls; the endpoint follows the port. ``hub demo`` registers
    the system in the store when the hub starts (:func:`hub.demo.vxp.register_systems`)."""
    path = pki_dir / "agencies" / organ_id / "vxp.toml"
    secret = ""
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "secret":
                secret = value.strip().strip('"')
    secret = secret or secrets.token_urlsafe(32)
    text = (
        "# VXP SDK credentials of this agency's system (written by hub demo)\n"
        f"system_id = {_toml_str(vxp_system_id(organ_id))}\n"
        f"secret = {_toml_str(secret)}\n"
        f"endpoint = {_toml_str(f'http://127.0.0.1:{port}/vxp')}\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


def create_workdir(
    root: Path,
    agencies: Sequence[AgencySpec] = DEFAULT_AGENCIES,
    *,
    port: int = 8080,
    retry_delays: Sequence[float] = (0.2, 0.5, 1.0),
    max_attempts: int = 4,
    lease_seconds: float = 10.0,
    ingest_processes: int = 0,
    max_package_bytes: int = 20 * 1024 * 1024,
    allow_legacy: bool = False,
    routes_toml: str = "",
    extra_hub_toml: str = "",
    store: str = "sqlite",
    store_url: str = "",
    store_schema: str = "hub",
    broker: str = "local",
    broker_url: str = "",
) -> Workdir:
    """Lay out ``root/{pki,config,data}``; agencies keep their keys across calls.

    ``store``/``broker`` choose the backends (``sqlite``/``local`` embedded by default,
    ``postgresql``/``rabbitmq`` with their URLs and the PostgreSQL schema).
    """
    root = root.resolve()
    pki_dir, config_dir, data_dir = root / "pki", root / "config", root / "data"
    for d in (pki_dir, config_dir, data_dir):
        d.mkdir(parents=True, exist_ok=True)
    init_pki(pki_dir)
    issued: dict[str, IssuedAgency] = {}
    lines = ["# Agency registry (written by hub demo). Tokens are stored as SHA-256.", ""]
    for spec in agencies:
        agency = issue_agency(pki_dir, spec.organ_id, name=spec.name)
        issued[spec.organ_id] = agency
        lines += [
            "[[agency]]",
            f"organ_id = {_toml_str(spec.organ_id)}",
            f"name = {_toml_str(spec.name)}",
            f"enabled = {'true' if spec.enabled else 'false'}",
            f"cert_sha256 = {_toml_list([agency.cert_sha256])}",
            f"token_sha256 = {_toml_list([agency.token_sha256])}",
            f"delivery = {_toml_str(spec.delivery)}",
            f"may_send = {_toml_list(spec.may_send)}",
        ]
        if spec.represents is not None:
            lines.append(f"represents = {_toml_str(spec.represents)}")
        if spec.envelope_signature != "required":
            lines.append(f"envelope_signature = {_toml_str(spec.envelope_signature)}")
        write_vxp_credentials(pki_dir, spec.organ_id, port)
        if spec.delivery == "push":
            secret_path = pki_dir / "agencies" / spec.organ_id / "push_secret"
            if not secret_path.exists():
                fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_hex(32) + "\n")
            lines.append(f"push_url = {_toml_str(spec.push_url or 'http://127.0.0.1:9/')}")
            lines.append(
                f"push_secret_file = {_toml_str(os.path.relpath(secret_path, config_dir))}"
            )
        lines.append("")
    (config_dir / "agencies.toml").write_text("\n".join(lines), encoding="utf-8")
    (config_dir / "hub.toml").write_text(
        f"""# Hub settings (written by hub demo). Paths are relative to this directory.
[hub]
id = "hub-demo"
data_dir = "../data"

[store]
kind = {_toml_str(store)}
{f"url = {_toml_str(store_url)}" if store_url else ""}
{f"schema = {_toml_str(store_schema)}" if store == "postgresql" else ""}

[broker]
kind = {_toml_str(broker)}
{f"url = {_toml_str(broker_url)}" if broker_url else ""}

[http]
host = "127.0.0.1"
port = {port}

[limits]
max_package_bytes = {max_package_bytes}

[delivery]
retry_delays = [{", ".join(str(d) for d in retry_delays)}]
max_attempts = {max_attempts}
push_timeout = 5.0
lease_seconds = {lease_seconds}

[signing]
receipt_key = "../pki/hub/key.pem"
receipt_cert = "../pki/hub/cert.pem"
trust_anchors = ["../pki/ca.pem"]
allow_legacy = {"true" if allow_legacy else "false"}

[ingest]
processes = {ingest_processes}
{extra_hub_toml}
""",
        encoding="utf-8",
    )
    (config_dir / "routes.toml").write_text(
        routes_toml
        or """# Routing rules. [[copy]] adds recipients, [[forbid]] refuses a route.
# Patterns: "*", an OrganId, a prefix ending in "*", or "under:<OrganId>".

# Documents from the Government Office to Nghệ An are copied to its Department of Home Affairs.
[[copy]]
name = "nghe-an-home-affairs-copy"
from = "000.00.00.G22"
to = "000.00.00.H41"
kind = "document"
add = ["000.00.01.H41"]
""",
        encoding="utf-8",
    )
    return Workdir(
        root=root, config_dir=config_dir, pki_dir=pki_dir, data_dir=data_dir, agencies=issued
    )
