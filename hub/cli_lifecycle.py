"""``hub report``, ``hub alarms`` and ``hub procedures import`` (registered in hub/cli.py).

Each opens the configured store directly (no running hub needed) and computes from it for an
explicit ``now`` (``--now``, default the current time), so the figures are reproducible.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click

from hub.cli_options import config_option
from hub.lifecycle.alarms import evaluate
from hub.lifecycle.calendar import VN_TZ
from hub.lifecycle.calendar import parse_day as calendar_day
from hub.lifecycle.config import load_lifecycle
from hub.lifecycle.procedures import import_csv, to_toml
from hub.lifecycle.reports import Report, build_report, format_csv, format_json, format_table

_CONFIG = config_option("Configuration directory.")
_NOW = click.option(
    "--now", default=None, help="Evaluate as of this ISO time (default: now), e.g. 2026-07-01."
)


def parse_day(text: str) -> datetime:
    """:func:`hub.lifecycle.calendar.parse_day`, refused as a bad option value."""
    try:
        return calendar_day(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


async def report_for(config_dir: Path, start: datetime, end: datetime, now: datetime) -> Report:
    """Open the configured store and build the report."""
    from hub.config import load_config
    from hub.runtime import make_store

    config = load_config(config_dir)
    settings = load_lifecycle(config.settings.config_dir)
    store = make_store(config)
    async with store:
        names = {a.organ_id: a.name for a in config.agencies.values()}
        return await build_report(store, settings, names, start, end, now)


@click.command("report")
@_CONFIG
@click.option("--from", "start", default=None, help="Start day (inclusive), YYYY-MM-DD.")
@click.option("--to", "end", default=None, help="End day (exclusive), YYYY-MM-DD.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
    show_default=True,
)  # fmt: skip
@_NOW
def report(config_dir: Path, start: str | None, end: str | None, fmt: str, now: str | None) -> None:
    """Per-agency figures for a period: documents sent/received, signed, answered (a status) within
    the SLA, dossiers online/total, by service level, on time, overdue, not accepted, silent.

    Default period: the last 6 months up to tomorrow."""
    at = parse_day(now) if now else datetime.now(UTC)
    tomorrow = date.fromordinal(at.astimezone(VN_TZ).date().toordinal() + 1)
    to_ = parse_day(end) if end else parse_day(tomorrow.isoformat())
    from_ = parse_day(start) if start else to_ - timedelta(days=183)
    result = asyncio.run(report_for(config_dir, from_, to_, at))
    text = {"table": format_table, "csv": format_csv, "json": format_json}[fmt](result)
    click.echo(text.rstrip("\n"))


@click.command("alarms")
@_CONFIG
@_NOW
def alarms(config_dir: Path, now: str | None) -> None:
    """The open SLA alarms (JSON lines), as the running hub computes them."""
    from hub.config import load_config
    from hub.runtime import make_store

    at = parse_day(now) if now else datetime.now(UTC)
    config = load_config(config_dir)
    settings = load_lifecycle(config.settings.config_dir)

    async def run() -> list[dict[str, object]]:
        store = make_store(config)
        async with store:
            agencies = [a.organ_id for a in config.agencies.values() if a.enabled]
            return [a.as_dict() for a in await evaluate(store, settings, agencies, at)]

    for alarm in asyncio.run(run()):
        click.echo(json.dumps(alarm, ensure_ascii=False))


@click.group("procedures")
def procedures() -> None:
    """The procedure catalogue (procedures.toml)."""


@procedures.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Write procedures.toml here (default: print it).",
)  # fmt: skip
def procedures_import(csv_file: Path, output: Path | None) -> None:
    """Convert a CSV catalogue (ma_tthc,name,field,level,agency,time_limit_days,
    result_delivery[,accept_within_days]) into procedures.toml."""
    text = to_toml(import_csv(csv_file))
    if output is None:
        click.echo(text)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"{output}: {text.count('[[procedure]]')} procedures")
