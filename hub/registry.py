"""The agency registry: who exists, who is enabled, how they authenticate and sign.

``agencies.toml`` is the source of truth at start; runtime changes (disable, enable, token
rotation, signature profile) are :class:`hub.models.AgencyOverride` records in the store,
applied on top at start and whenever an operator changes something, so they survive restarts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import replace

from hub.config import SIGNATURE_PROFILES, AgencyConfig, SignatureProfile
from hub.edxml.organ_id import InvalidOrganId, OrganId
from hub.models import AgencyOverride


def token_digest(token: str) -> str:
    """SHA-256 hex of a bearer token: tokens are random 256-bit values, so a fast hash is
    enough (a slow password hash would only cost CPU on every request)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random 256-bit bearer token (URL-safe text)."""
    return secrets.token_urlsafe(32)


class Registry:
    """Effective agency records: configuration plus runtime overrides.

    ``allow_legacy`` is the hub-wide ``[signing] allow_legacy``: the signature profile of an
    agency that names none (``legacy`` when true, ``strict`` otherwise).
    """

    def __init__(self, agencies: Mapping[str, AgencyConfig], *, allow_legacy: bool = False) -> None:
        self.default_profile: SignatureProfile = "legacy" if allow_legacy else "strict"
        self._configured = dict(agencies)
        self._effective = dict(agencies)
        self._by_token: dict[str, str] = {}
        self._by_cert: dict[str, str] = {}
        self._reindex()

    def _reindex(self) -> None:
        self._by_token = {
            digest: a.organ_id for a in self._effective.values() for digest in a.token_sha256
        }
        self._by_cert = {fp: a.organ_id for a in self._effective.values() for fp in a.cert_sha256}
        # Asked once per submission: computed here, not by walking every agency each time.
        self._any_legacy = any(self.legacy_allowed(o) for o in self._effective)

    def apply(self, overrides: Iterable[AgencyOverride]) -> None:
        """Apply runtime overrides on top of the configuration."""
        for ov in overrides:
            base = self._effective.get(ov.organ_id)
            if base is None:
                continue  # an agency removed from agencies.toml stays removed
            changed = base
            if ov.enabled is not None:
                changed = replace(changed, enabled=ov.enabled)
            if ov.token_sha256 is not None:
                changed = replace(changed, token_sha256=ov.token_sha256)
            if ov.signature_profile in SIGNATURE_PROFILES:
                changed = replace(changed, signature_profile=ov.signature_profile)
            self._effective[ov.organ_id] = changed
        self._reindex()

    def reload(self, overrides: Iterable[AgencyOverride]) -> None:
        """Start again from the configuration and apply ``overrides`` (the store's full,
        merged set), so that a change another process recorded takes effect here too."""
        self._effective = dict(self._configured)
        self.apply(overrides)

    def get(self, organ_id: str) -> AgencyConfig | None:
        """The effective record, or ``None`` for an unknown agency."""
        return self._effective.get(organ_id)

    def pulls(self, organ_id: str) -> bool:
        """Whether deliveries to ``organ_id`` wait in its inbox (it fetches them) rather than
        being pushed: an unknown agency, ``delivery = "pull"``, or no ``push_url``. Such a
        delivery is ``available`` when its package commits; only pushes need the broker."""
        agency = self._effective.get(organ_id)
        return agency is None or agency.delivery == "pull" or not agency.push_url

    def all(self) -> list[AgencyConfig]:
        """Every agency, by OrganId."""
        return [self._effective[k] for k in sorted(self._effective)]

    def signature_profile(self, organ_id: str) -> SignatureProfile:
        """The agency's effective signature profile: its own (``agencies.toml`` or a runtime
        change), else the hub-wide default. An unknown agency gets the default."""
        agency = self._effective.get(organ_id)
        if agency is None or agency.signature_profile is None:
            return self.default_profile
        return agency.signature_profile

    def legacy_allowed(self, organ_id: str) -> bool:
        """Whether packages from ``organ_id`` may be signed with the legacy profile."""
        return self.signature_profile(organ_id) == "legacy"

    def any_legacy(self) -> bool:
        """Whether some agency may sign with the legacy profile (the signature check then
        admits the legacy algorithms, and ingest refuses them for the strict senders)."""
        return self._any_legacy

    def is_active(self, organ_id: str) -> bool:
        """Known and enabled."""
        agency = self._effective.get(organ_id)
        return agency is not None and agency.enabled

    def representative(self, organ_id: str) -> str | None:
        """The agency that stands for the unregistered code ``organ_id`` (a sub-unit), or
        ``None``.

        Only the *nearest registered* ancestor (walking :attr:`OrganId.parent`) is asked: if it
        represents its descendants (``represents = "descendants"``) and is enabled, it is the
        representative; if it is disabled or represents only itself, nobody is (the hub never
        skips a registered level to reach a farther one: that unit chose how it is reached).
        A registered code is never represented, even when disabled.
        """
        if organ_id in self._effective:
            return None
        try:
            node = OrganId.parse(organ_id).parent
        except InvalidOrganId:
            return None
        while node is not None:
            agency = self._effective.get(str(node))
            if agency is not None:
                ok = agency.represents == "descendants" and agency.enabled
                return agency.organ_id if ok else None
            node = node.parent
        return None

    def speaks_for(self, caller: str, organ_id: str) -> bool:
        """Whether ``caller`` may act as ``organ_id``: it *is* that agency, or it represents
        that unregistered sub-unit (never a sibling, never a parent)."""
        return caller == organ_id or self.representative(organ_id) == caller

    def authenticate_token(self, token: str) -> str | None:
        """The OrganId owning this bearer token (enabled or not), or ``None``."""
        digest = token_digest(token)
        organ_id = self._by_token.get(digest)
        if organ_id is None:
            return None
        # The dict look-up is keyed by a digest of a 256-bit secret, so it leaks nothing
        # useful; compare again in constant time anyway to keep the intent explicit.
        agency = self._effective[organ_id]
        if not any(hmac.compare_digest(digest, d) for d in agency.token_sha256):
            return None
        return organ_id

    def authenticate_certificate(self, fingerprint_sha256: str) -> str | None:
        """The OrganId a TLS client certificate (by SHA-256) belongs to, or ``None``."""
        return self._by_cert.get(fingerprint_sha256.lower())

    def signer_bound(self, organ_id: str, fingerprint_sha256: str) -> bool:
        """Whether this signing certificate is registered for ``organ_id``. Names inside
        certificates never bind: only the registered fingerprints do."""
        agency = self._effective.get(organ_id)
        return agency is not None and fingerprint_sha256.lower() in agency.cert_sha256

    def signer_bound_for(self, organ_id: str, fingerprint_sha256: str) -> bool:
        """:meth:`signer_bound`, or — for an unregistered sub-unit — bound to the agency that
        represents it: a sub-unit's packages are signed by its province's system."""
        if self.signer_bound(organ_id, fingerprint_sha256):
            return True
        rep = self.representative(organ_id)
        return rep is not None and self.signer_bound(rep, fingerprint_sha256)
