"""The demo's VXP systems: one per demo agency, registered from ``pki/agencies/*/vxp.toml``."""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path

from hub.store import Store
from hub.vxp.systems import VxpSystemExists, add_system


async def register_systems(
    store: Store, pki_dir: Path, *, known_agencies: frozenset[str], data_dir: Path, now: datetime
) -> list[str]:
    """Register every agency's ``vxp.toml`` system not in the store yet; the system ids."""
    added: list[str] = []
    for path in sorted((pki_dir / "agencies").glob("*/vxp.toml")):
        organ_id = path.parent.name
        if organ_id not in known_agencies:
            continue
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
        system_id = str(doc["system_id"])
        if await store.get_vxp_system(system_id) is not None:
            continue
        try:
            await add_system(
                store,
                system_id,
                (organ_id,),
                known_agencies=known_agencies,
                data_dir=data_dir,
                now=now,
                secret=str(doc["secret"]),
            )
        except VxpSystemExists:
            continue  # another process registered it since the look-up (same secret)
        added.append(system_id)
    return added
