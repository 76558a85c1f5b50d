"""Options and pieces every ``hub`` command group shares (``hub``, ``hub audit``, ``hub vxp``,
``hub pdf``, the lifecycle commands), written once.

Only :mod:`click` is imported here: ``hub --help`` imports every group, so the progress bar's
:mod:`rich.progress` is imported when a bar is made.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

F = TypeVar("F", bound=Callable[..., Any])

CONFIG_HELP = "Configuration directory (hub.toml, agencies.toml, routes.toml)."


def config_option(help: str = CONFIG_HELP) -> Callable[[F], F]:
    """``--config DIR`` (parameter ``config_dir``, default ``config``)."""
    return click.option(
        "--config",
        "config_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("config"),
        show_default=True,
        help=help,
    )


def actor_option(who: str = "makes the change") -> Callable[[F], F]:
    """``--actor NAME``: who does what the command audits (``None``: the OS user)."""
    return click.option(
        "--actor",
        default=None,
        help=f"Who {who} (audited; default: the OS user, recorded with the host).",
    )


def write_secret(path: Path, secret: str) -> None:
    """Write a secret the hub shows once (a bearer token, a VXP secret) and a newline to
    ``path``, created owner-only (0600) so it is never readable by others, even briefly."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")


def progress_bar(console: Console, progress: bool | None) -> Progress:
    """A transient bar (count, time remaining) on ``console``; ``progress`` ``None``: shown
    only on a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    show = console.is_terminal if progress is None else progress
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not show,
        transient=True,
    )
