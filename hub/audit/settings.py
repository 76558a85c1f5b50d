"""``[audit]`` and ``[retention]`` in ``hub.toml`` (defaults and reasons in
``docs/audit-and-evidence.md``)."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hub.errors import ConfigError

#: seconds between signed checkpoints (and one more at shutdown)
DEFAULT_CHECKPOINT_INTERVAL = 60.0
#: days after acceptance before a fully acknowledged package's bytes are purged
DEFAULT_PACKAGE_DAYS = 365
#: days before the expiry of a certificate that raise the alarm
DEFAULT_EXPIRY_WARNING_DAYS = 30
#: seconds between scheduled retention purges in a running hub (daily)
DEFAULT_PURGE_INTERVAL = 86400.0


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """Checkpoints, time-stamping, retention."""

    checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL
    tsa_url: str = ""  # RFC 3161 time-stamp authority; empty: checkpoints are not time-stamped
    tsa_certs: tuple[Path, ...] = ()  # the TSA's certificate chain, copied into evidence
    package_days: int = DEFAULT_PACKAGE_DAYS  # 0: never purge
    purge_unacked: bool = False  # purge bytes even if a recipient never acknowledged
    purge_interval: float = DEFAULT_PURGE_INTERVAL  # 0: only ``hub audit purge`` purges
    expiry_warning_days: int = DEFAULT_EXPIRY_WARNING_DAYS


def load_audit_settings(config_dir: Path, env: Mapping[str, str] | None = None) -> AuditSettings:
    """Read ``[audit]`` and ``[retention]`` (all optional); ``HUB_TSA_URL`` overrides the TSA."""
    env = os.environ if env is None else env
    base = config_dir.resolve()
    path = base / "hub.toml"
    doc: dict[str, object] = {}
    if path.exists():
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    audit = doc.get("audit", {})
    retention = doc.get("retention", {})
    if not isinstance(audit, dict) or not isinstance(retention, dict):
        raise ConfigError(f"{path}: [audit] and [retention] must be tables")
    try:
        settings = AuditSettings(
            checkpoint_interval=float(
                audit.get("checkpoint_interval", DEFAULT_CHECKPOINT_INTERVAL)
            ),
            tsa_url=str(env.get("HUB_TSA_URL", audit.get("tsa_url", ""))),
            tsa_certs=tuple(
                p if p.is_absolute() else (base / p).resolve()
                for p in (Path(str(x)) for x in audit.get("tsa_certs", []))
            ),
            package_days=int(retention.get("package_days", DEFAULT_PACKAGE_DAYS)),
            purge_unacked=bool(retention.get("purge_unacked", False)),
            purge_interval=float(retention.get("purge_interval", DEFAULT_PURGE_INTERVAL)),
            expiry_warning_days=int(audit.get("expiry_warning_days", DEFAULT_EXPIRY_WARNING_DAYS)),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if settings.checkpoint_interval <= 0 or settings.package_days < 0:
        raise ConfigError(f"{path}: checkpoint_interval must be > 0 and package_days >= 0")
    if settings.purge_interval < 0:
        raise ConfigError(f"{path}: [retention] purge_interval must be >= 0")
    return settings
