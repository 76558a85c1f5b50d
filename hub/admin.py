"""Operator actions on agencies, recorded in the store (they survive restarts, and every
running hub process reads them before authenticating its next request: see
:class:`hub.runtime.FreshOverrides`): disable, enable, rotate a bearer token, set the
signature profile."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from hub.config import SIGNATURE_PROFILES, HubConfig, SignatureProfile
from hub.errors import ConfigError
from hub.models import AgencyOverride, Event
from hub.registry import Registry, new_token, token_digest
from hub.runtime import make_store


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


async def _record(config: HubConfig, override: AgencyOverride, kind: str) -> None:
    if override.organ_id not in config.agencies:
        raise ConfigError(f"unknown agency {override.organ_id}")
    async with make_store(config) as store:
        await store.set_agency_override(override)
        await store.append_event(
            Event(
                package_id=None,
                kind=kind,
                at=override.changed_at or datetime.now(UTC),
                detail={"organ_id": override.organ_id, "reason": override.reason or ""},
            )
        )


async def set_enabled(config: HubConfig, organ_id: str, enabled: bool, reason: str) -> None:
    """Disable or enable an agency (audited in the event log)."""
    await _record(
        config,
        AgencyOverride(
            organ_id=organ_id, enabled=enabled, changed_at=datetime.now(UTC), reason=reason
        ),
        "agency.enabled" if enabled else "agency.disabled",
    )


async def set_signature_profile(
    config: HubConfig, organ_id: str, profile: SignatureProfile, reason: str
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
    )


async def rotate_token(config: HubConfig, organ_id: str, reason: str) -> str:
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
    )
    return token
