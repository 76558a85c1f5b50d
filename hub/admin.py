"""Operator actions on agencies, recorded in the store (they survive restarts, and every
running hub process reads them before authenticating its next request: see
:class:`hub.runtime.FreshOverrides`): disable, enable, rotate a bearer token, set the
signature profile.

Each change made from the command line names who made it (``--actor``, else the OS user) and
where (the host): in the event's detail and as an entry of the operators' audit, so the
dashboard's Audit page shows command-line changes beside the dashboard's own."""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hub.config import SIGNATURE_PROFILES, HubConfig, SignatureProfile
from hub.errors import ConfigError
from hub.models import AgencyOverride, Event
from hub.registry import Registry, new_token, token_digest
from hub.runtime import make_store
from hub.store.abc import Store
from hub.store.records import AuditEntry

#: the event kinds of agency changes (in the event log, with ``organ_id``, ``reason``, actor)
AGENCY_EVENTS = (
    "agency.enabled",
    "agency.disabled",
    "agency.signature_profile",
    "agency.token_rotated",
)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers) and no LOGNAME/USER
        return "unknown"


@dataclass(frozen=True, slots=True)
class CliActor:
    """Who runs a command: ``name`` (``--actor``, else the OS user), the OS user and host."""

    name: str = field(default_factory=_os_user)
    os_user: str = field(default_factory=_os_user)
    host: str = field(default_factory=socket.gethostname)

    @classmethod
    def of(cls, name: str | None) -> CliActor:
        """The actor for ``--actor NAME`` (``None``: the OS user)."""
        return cls(name=name) if name else cls()

    def detail(self) -> dict[str, object]:
        """What an event or audit entry records about the actor."""
        return {"actor": self.name, "via": "cli", "os_user": self.os_user, "host": self.host}


async def record_cli_action(
    store: Store, actor: CliActor, action: str, target: str | None, **detail: object
) -> None:
    """An entry in the operators' audit for a command-line action (shown on the Audit page)."""
    entry_detail = {**detail, **actor.detail()}
    entry_detail.pop("actor", None)  # the entry's username says it
    await store.dashboard().add_audit(
        AuditEntry(datetime.now(UTC), actor.name, action, target, entry_detail)
    )


@dataclass(frozen=True, slots=True)
class AgencyView:
    """An agency as it is in force now."""

    organ_id: str
    name: str
    enabled: bool
    delivery: str
    tokens: int
    certificates: int
    overridden: bool
    signature_profile: str = "strict"  # effective: its own, else [signing] allow_legacy


async def list_agencies(config: HubConfig) -> list[AgencyView]:
    """Every agency with its runtime overrides applied."""
    async with make_store(config) as store:
        overrides = {o.organ_id: o for o in await store.agency_overrides()}
    registry = Registry(config.agencies, allow_legacy=config.settings.allow_legacy_signatures)
    registry.apply(overrides.values())
    return [
        AgencyView(
            a.organ_id,
            a.name,
            a.enabled,
            a.delivery,
            len(a.token_sha256),
            len(a.cert_sha256),
            a.organ_id in overrides,
            registry.signature_profile(a.organ_id),
        )
        for a in registry.all()
    ]


async def _record(
    config: HubConfig,
    override: AgencyOverride,
    kind: str,
    action: str,
    actor: CliActor | None,
    **extra: object,
) -> None:
    if override.organ_id not in config.agencies:
        raise ConfigError(f"unknown agency {override.organ_id}")
    who = actor or CliActor()
    async with make_store(config) as store:
        await store.set_agency_override(override)
        await store.append_event(
            Event(
                package_id=None,
                kind=kind,
                at=override.changed_at or datetime.now(UTC),
                detail={
                    "organ_id": override.organ_id,
                    "reason": override.reason or "",
                    **extra,
                    **who.detail(),
                },
            )
        )
        await record_cli_action(
            store, who, action, override.organ_id, reason=override.reason or "", **extra
        )


async def set_enabled(
    config: HubConfig, organ_id: str, enabled: bool, reason: str, actor: CliActor | None = None
) -> None:
    """Disable or enable an agency (audited in the event log and the operators' audit)."""
    await _record(
        config,
        AgencyOverride(
            organ_id=organ_id, enabled=enabled, changed_at=datetime.now(UTC), reason=reason
        ),
        "agency.enabled" if enabled else "agency.disabled",
        "agency.enable" if enabled else "agency.disable",
        actor,
    )


async def set_signature_profile(
    config: HubConfig,
    organ_id: str,
    profile: SignatureProfile,
    reason: str,
    actor: CliActor | None = None,
) -> None:
    """Set an agency's signature profile (``strict`` | ``legacy``) at runtime, audited in the
    event log; running hubs apply it to their next request, as they apply ``disable``."""
    if profile not in SIGNATURE_PROFILES:
        raise ConfigError(f"signature profile must be strict or legacy, not {profile!r}")
    await _record(
        config,
        AgencyOverride(
            organ_id=organ_id,
            signature_profile=profile,
            changed_at=datetime.now(UTC),
            reason=reason,
        ),
        "agency.signature_profile",
        "agency.set_profile",
        actor,
        profile=profile,
    )


async def rotate_token(
    config: HubConfig, organ_id: str, reason: str, actor: CliActor | None = None
) -> str:
    """Replace the agency's bearer tokens with a fresh one; returns it (shown once)."""
    token = new_token()
    await _record(
        config,
        AgencyOverride(
            organ_id=organ_id,
            token_sha256=(token_digest(token),),
            changed_at=datetime.now(UTC),
            reason=reason,
        ),
        "agency.token_rotated",
        "agency.rotate_token",
        actor,
    )
    return token
