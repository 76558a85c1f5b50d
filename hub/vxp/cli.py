"""``hub vxp``: the systems connected through the VXP facade (add-system, list, disable,
enable, rotate). Changes are recorded in the store and audited in the event log; every worker
reads a system's record on each request, so they take effect at once everywhere."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import click
from rich.console import Console
from rich.table import Table

from hub.admin import CliActor, record_cli_action
from hub.cli_options import actor_option, config_option, write_secret
from hub.config import HubConfig, load_config
from hub.errors import HubError
from hub.models import Event, VxpSystem
from hub.runtime import make_store
from hub.store import Store
from hub.vxp.systems import add_system, rotate_secret, set_enabled

out = Console(soft_wrap=True)
err = Console(stderr=True)
T = TypeVar("T")

CONFIG = config_option("Configuration directory.")
ACTOR = actor_option()
SECRET_FILE = click.option(
    "--secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the secret here (mode 0600) instead of printing it.",
)


def _run(config_dir: Path, action: Callable[[HubConfig, Store], Awaitable[T]]) -> T:
    config = load_config(config_dir)

    async def go() -> T:
        async with make_store(config) as store:
            return await action(config, store)

    try:
        return asyncio.run(go())
    except HubError as exc:
        err.print(f"[red]{exc.code}[/]: {exc.detail}")
        raise SystemExit(2) from None


async def _audit(
    store: Store, kind: str, action: str, system: VxpSystem, actor: str | None, **detail: object
) -> None:
    """The change in the event log and in the operators' audit (the dashboard's Audit page),
    both naming who made it (``--actor`` or the OS user, with the host)."""
    who = CliActor.of(actor)
    agencies = list(system.agencies)
    await store.append_event(
        Event(
            package_id=None,
            kind=kind,
            at=system.changed_at or datetime.now(UTC),
            detail={"system_id": system.system_id, "agencies": agencies, **detail, **who.detail()},
        )
    )
    await record_cli_action(store, who, action, system.system_id, agencies=agencies, **detail)


def _show_secret(system: VxpSystem, secret: str, secret_file: Path | None) -> None:
    where = "sealed in the store" if system.secret is not None else system.secret_file
    if secret_file is None:
        out.print(secret)
    else:
        write_secret(secret_file, secret)
        err.print(f"secret written to {secret_file}")
    err.print(f"the hub keeps it {where}; it is not shown again")


@click.group()
def vxp() -> None:
    """Systems connected through the VXP facade (the national axis's Java SDK)."""


@vxp.command("add-system")
@click.argument("system_id")
@click.option("--agency", "agencies", multiple=True, required=True, help="OrganId (repeat).")
@CONFIG
@SECRET_FILE
@ACTOR
def add_system_command(
    system_id: str,
    agencies: tuple[str, ...],
    config_dir: Path,
    secret_file: Path | None,
    actor: str | None,
) -> None:
    """Create SYSTEM_ID acting for the --agency codes; prints its secret once."""

    async def action(config: HubConfig, store: Store) -> tuple[VxpSystem, str]:
        system, secret = await add_system(
            store,
            system_id,
            agencies,
            known_agencies=frozenset(config.agencies),
            data_dir=config.settings.data_dir,
            now=datetime.now(UTC),
        )
        await _audit(store, "vxp_system_added", "vxp.add_system", system, actor)
        return system, secret

    system, secret = _run(config_dir, action)
    _show_secret(system, secret, secret_file)


@vxp.command("list")
@CONFIG
def list_command(config_dir: Path) -> None:
    """List the VXP systems (never their secrets)."""

    async def action(config: HubConfig, store: Store) -> list[VxpSystem]:
        return list(await store.vxp_systems())

    table = Table("system id", "agencies", "enabled", "secret kept", "version", "changed")
    for s in _run(config_dir, action):
        table.add_row(
            s.system_id,
            ", ".join(s.agencies),
            "yes" if s.enabled else "[red]no[/]",
            "sealed in the store" if s.secret is not None else "file",
            str(s.version),
            f"{s.changed_at:%Y-%m-%d %H:%M} {s.reason or ''}" if s.changed_at else "",
        )
    out.print(table)


def _toggle(
    system_id: str, config_dir: Path, reason: str, enabled: bool, actor: str | None
) -> None:
    async def action(config: HubConfig, store: Store) -> VxpSystem:
        system = await set_enabled(store, system_id, enabled, reason=reason, now=datetime.now(UTC))
        kind = "vxp_system_enabled" if enabled else "vxp_system_disabled"
        action = "vxp.enable" if enabled else "vxp.disable"
        await _audit(store, kind, action, system, actor, reason=reason)
        return system

    _run(config_dir, action)
    out.print(f"{system_id} {'enabled' if enabled else 'disabled'}")


@vxp.command("disable")
@click.argument("system_id")
@CONFIG
@click.option("--reason", required=True, help="Why (audited).")
@ACTOR
def disable_command(system_id: str, config_dir: Path, reason: str, actor: str | None) -> None:
    """Disable a system: every worker refuses it from its next request."""
    _toggle(system_id, config_dir, reason, False, actor)


@vxp.command("enable")
@click.argument("system_id")
@CONFIG
@click.option("--reason", required=True, help="Why (audited).")
@ACTOR
def enable_command(system_id: str, config_dir: Path, reason: str, actor: str | None) -> None:
    """Enable a system again."""
    _toggle(system_id, config_dir, reason, True, actor)


@vxp.command("rotate")
@click.argument("system_id")
@CONFIG
@SECRET_FILE
@ACTOR
def rotate_command(
    system_id: str, config_dir: Path, secret_file: Path | None, actor: str | None
) -> None:
    """Replace a system's secret; the old one stops working on every worker at once."""

    async def action(config: HubConfig, store: Store) -> tuple[VxpSystem, str]:
        system, secret = await rotate_secret(
            store, system_id, data_dir=config.settings.data_dir, now=datetime.now(UTC)
        )
        await _audit(store, "vxp_secret_rotated", "vxp.rotate", system, actor)
        return system, secret

    system, secret = _run(config_dir, action)
    _show_secret(system, secret, secret_file)
