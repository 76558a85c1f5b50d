"""Lifecycle configuration: the procedure catalogue, the calendar and the SLA thresholds.

Read from the configuration directory: ``procedures.toml``, ``holidays.toml`` and the
``[lifecycle]`` section of ``hub.toml``::

    [lifecycle]
    accept_within_days = 1          # dossier submitted but not accepted (working days)
    accept_within_days_by_agency = { "000.00.00.H41" = 2 }
    ack_within_days = 1             # document not answered 01/02/03 by a recipient
    silent_after_days = 5           # agency sent no package or status
    evaluate_seconds = 60           # how often a running hub evaluates the alarms
    webhook_url = "https://ops.example/hub-alarms"
    webhook_secret_file = "secrets/alarms.key"   # HMAC-SHA256 key for the webhook
    policy = "compatible"           # status codes: "compatible" (default) or "strict"

``lifecycle_policy = "strict"`` on an agency of ``agencies.toml`` overrides ``policy`` for the
statuses that agency sends (docs/lifecycle.md).

Per-procedure ``accept_within_days`` in ``procedures.toml`` wins over the agency's, which wins
over the default. Every threshold counts working days of the calendar.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.config import load_agencies
from hub.errors import ConfigError
from hub.lifecycle.calendar import WorkCalendar, load_calendar
from hub.lifecycle.machines import POLICIES, Policy
from hub.lifecycle.procedures import Catalogue, load_catalogue


@dataclass(frozen=True, slots=True)
class LifecycleSettings:
    """Everything the lifecycle engine, the alarms and the reports need from configuration."""

    catalogue: Catalogue = field(default_factory=lambda: Catalogue({}))
    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    accept_within_days: int = 1
    accept_within_days_by_agency: Mapping[str, int] = field(default_factory=dict)
    ack_within_days: int = 1
    silent_after_days: int = 5
    evaluate_seconds: float = 60.0
    webhook_url: str | None = None
    webhook_secret_file: Path | None = None
    policy: Policy = "compatible"
    policy_by_agency: Mapping[str, Policy] = field(default_factory=dict)

    def policy_for(self, sender: str) -> Policy:
        """The policy that checks a status ``sender`` sends (its agency's, else the hub's)."""
        return self.policy_by_agency.get(sender, self.policy)

    def accept_threshold(self, ma_tthc: str | None, agency: str) -> int:
        """Working days a dossier may wait for acceptance (procedure > agency > default)."""
        proc = self.catalogue.get(ma_tthc)
        if proc is not None and proc.accept_within_days is not None:
            return proc.accept_within_days
        return self.accept_within_days_by_agency.get(agency, self.accept_within_days)


def _int(section: Mapping[str, Any], key: str, default: int) -> int:
    value = section.get(key, default)
    if not isinstance(value, int) or value < 0:
        raise ConfigError(f"hub.toml [lifecycle] {key} must be an integer ≥ 0")
    return value


def load_lifecycle(config_dir: Path) -> LifecycleSettings:
    """The lifecycle settings of a configuration directory (every file optional)."""
    base = config_dir.resolve()
    section: Mapping[str, Any] = {}
    hub_toml = base / "hub.toml"
    if hub_toml.exists():
        with hub_toml.open("rb") as fh:
            section = tomllib.load(fh).get("lifecycle", {})
    by_agency = section.get("accept_within_days_by_agency", {})
    if not isinstance(by_agency, dict) or not all(
        isinstance(v, int) and v >= 0 for v in by_agency.values()
    ):
        raise ConfigError("hub.toml [lifecycle] accept_within_days_by_agency: OrganId = days")
    secret = section.get("webhook_secret_file")
    evaluate = section.get("evaluate_seconds", 60.0)
    if not isinstance(evaluate, int | float) or evaluate <= 0:
        raise ConfigError("hub.toml [lifecycle] evaluate_seconds must be > 0")
    policy = section.get("policy", "compatible")
    if policy not in POLICIES:
        raise ConfigError("hub.toml [lifecycle] policy must be compatible or strict")
    by_agency_policy: dict[str, Policy] = {}
    if (base / "agencies.toml").exists():
        for organ_id, agency in load_agencies(base).items():
            if agency.lifecycle_policy is not None:
                by_agency_policy[organ_id] = agency.lifecycle_policy
    return LifecycleSettings(
        catalogue=load_catalogue(base / "procedures.toml"),
        calendar=load_calendar(base / "holidays.toml"),
        accept_within_days=_int(section, "accept_within_days", 1),
        accept_within_days_by_agency=dict(by_agency),
        ack_within_days=_int(section, "ack_within_days", 1),
        silent_after_days=_int(section, "silent_after_days", 5),
        evaluate_seconds=float(evaluate),
        webhook_url=section.get("webhook_url"),
        webhook_secret_file=(base / secret) if isinstance(secret, str) else None,
        policy=policy,
        policy_by_agency=by_agency_policy,
    )
