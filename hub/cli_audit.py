"""``hub audit verify|checkpoint|purge`` and ``hub evidence PACKAGE_ID`` (registered on the
main ``hub`` group in :mod:`hub.cli`)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hub.cli_options import actor_option, config_option, progress_bar

if TYPE_CHECKING:  # imported lazily at run time: ``hub --help`` stays fast
    from hub.audit.service import PurgeRun
    from hub.audit.tsa import TsaClient

CONFIG = config_option()


def _open(config_dir: Path):  # type: ignore[no-untyped-def]  # returns (config, store, signer)
    from hub.config import load_config
    from hub.receipts import ReceiptSigner
    from hub.runtime import make_store

    config = load_config(config_dir)
    s = config.settings
    signer = ReceiptSigner.from_files(s.receipt_key, s.receipt_cert, s.receipt_rotation)
    return config, make_store(config), signer


def _tsa(config_dir: Path) -> TsaClient | None:
    """The configured time-stamp authority client (``[audit] tsa_url``), if any."""
    from hub.audit.settings import load_audit_settings
    from hub.audit.tsa import TsaClient

    url = load_audit_settings(config_dir).tsa_url
    return TsaClient(url) if url else None


@click.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
@CONFIG
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: when standard error is a terminal).",
)
def audit_verify(config_dir: Path, progress: bool | None) -> None:
    """Recompute every hash chain and check every signed checkpoint; exit 1 and name the
    first bad event if anything was edited, deleted, inserted or reordered.

    Streams the log chain by chain in pages (constant memory, any size of log); safe to run
    while the hub serves. Exit 2 when the configuration cannot be read."""
    from rich.console import Console

    from hub.audit.service import verify_store
    from hub.audit.settings import load_audit_settings
    from hub.errors import HubError

    try:
        _config, store, signer = _open(config_dir)
        tsa_certs = load_audit_settings(config_dir).tsa_certs
    except (HubError, OSError, ValueError) as exc:
        click.echo(f"error: {config_dir}: {exc}", err=True)
        sys.exit(2)
    console = Console(stderr=True)
    bar = progress_bar(console, progress)

    async def run() -> list[str]:
        async with store:
            with bar:
                task = bar.add_task("verifying events", total=None)

                def tick(n: int, total: int) -> None:
                    bar.update(task, total=total, advance=n)

                report = await verify_store(store, signer, tsa_certs, progress=tick)
        lines = report.lines()
        return lines if report.ok else [*lines, "__FAILED__"]

    lines = asyncio.run(run())
    failed = lines[-1] == "__FAILED__"
    for line in lines[:-1] if failed else lines:
        click.echo(line)
    sys.exit(1 if failed else 0)


@audit.command("checkpoint")
@CONFIG
def audit_checkpoint(config_dir: Path) -> None:
    """Write a signed checkpoint now."""
    from hub.audit.service import write_checkpoint

    config, store, signer = _open(config_dir)
    tsa = _tsa(config_dir)

    async def run() -> int:
        async with store:
            return (await write_checkpoint(store, signer, config.settings.hub_id, tsa=tsa)).id

    click.echo(f"checkpoint {asyncio.run(run())} written")


@audit.command("purge")
@CONFIG
@click.option("--days", type=int, default=None, help="Override [retention] package_days.")
def audit_purge(config_dir: Path, days: int | None) -> None:
    """Apply the retention policy: drop the bytes of old, acknowledged packages (the
    receipt, events and signed acks stay as evidence; every purge is audited)."""
    from hub.audit.service import purge
    from hub.audit.settings import load_audit_settings

    _config, store, _signer = _open(config_dir)
    settings = load_audit_settings(config_dir)

    async def run() -> PurgeRun:
        async with store:
            return await purge(
                store,
                package_days=settings.package_days if days is None else days,
                purge_unacked=settings.purge_unacked,
                actor="hub audit purge",
            )

    done = asyncio.run(run())
    click.echo(f"purged {len(done.purged)} package(s)")
    if done.kept:
        click.echo(f"kept {done.kept} package(s) for deliveries neither acknowledged nor dead")
    if done.capped:
        click.echo("stopped at the per-run limit: more may be due, run it again")


@click.command("evidence")
@CONFIG
@click.argument("package_id")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Archive path (default: evidence-PACKAGE_ID.tar.gz).",
)
@actor_option("exports")
def evidence(config_dir: Path, package_id: str, output: Path | None, actor: str | None) -> None:
    """Export one package's evidence archive (bytes, receipt, trace, chain proof, signed
    checkpoint, certificates), verifiable with xmlsec1 and openssl alone."""
    from hub.admin import CliActor, record_cli_action
    from hub.audit.evidence import EvidenceError, export_evidence
    from hub.audit.settings import load_audit_settings

    config, store, signer = _open(config_dir)
    out = output or Path(f"evidence-{package_id}.tar.gz")
    tsa_certs = load_audit_settings(config_dir).tsa_certs

    who = CliActor.of(actor)

    async def run() -> Path:
        async with store:
            written = await export_evidence(
                store,
                signer,
                config.settings.hub_id,
                package_id,
                out,
                anchors=config.settings.trust_anchors,
                actor=f"{who.name} ({who.os_user}@{who.host})",
                tsa=_tsa(config_dir),
                tsa_certs=tsa_certs,
            )
            await record_cli_action(store, who, "evidence.export", package_id, output=str(written))
            return written

    try:
        click.echo(str(asyncio.run(run())))
    except EvidenceError as exc:
        raise click.ClickException(str(exc)) from exc
