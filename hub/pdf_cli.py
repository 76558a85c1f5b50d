"""``hub pdf verify FILE``: validate the signatures of a PDF offline, exactly as ingest does
(registered on the main ``hub`` group in :mod:`hub.cli`; see docs/signing.md).

Exit codes: 0 every signature valid; 1 a signature invalid or indeterminate, or the PDF
unsigned; 2 a user error (unreadable file, bad ``--at``, no trust anchors, bad config).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hub.cli_options import config_option

if TYPE_CHECKING:  # imported lazily at run time: ``hub --help`` stays fast
    from signing import PdfReport, TrustStore

REVOCATION_CHOICES = ("auto", "hard-fail", "soft-fail", "off")


@click.group()
def pdf() -> None:
    """Signed PDF (PAdES) tools."""


def _user_error(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def parse_moment(text: str) -> datetime:
    """An ISO 8601 date-time; without a zone it is taken as UTC. ValueError if unreadable."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _trust(
    anchors: tuple[Path, ...], crls: tuple[Path, ...], revocation: str, config_dir: Path
) -> TrustStore:
    """Anchors from ``--trust-anchor`` (nothing else), or the hub's trust configuration;
    ``--crl`` files are added to either. ``auto``: with ``--trust-anchor``, hard-fail (a
    verification tool never treats "no information" as "not revoked"; the PDF's own DSS
    and ``--crl`` are the sources); with the configuration, its resolved policy (as
    ingest), and hard-fail once a ``--crl`` is given."""
    from hub.config import load_settings
    from hub.pipeline.checks import CheckOptions, trust_store_for

    if anchors:
        options = CheckOptions(
            max_size=0,
            trust_anchors=anchors,
            crl_files=crls,
            revocation="hard-fail" if revocation == "auto" else revocation,
        )
        return trust_store_for(options)
    settings = load_settings(config_dir)
    if not settings.trust_anchors and settings.trust_dir is None:
        raise ValueError(f"{config_dir}/hub.toml configures no trust anchors; use --trust-anchor")
    mode: str = settings.revocation
    if revocation != "auto":
        mode = revocation
    elif crls and mode == "off":
        mode = "hard-fail"
    options = CheckOptions(
        max_size=0,
        trust_anchors=settings.trust_anchors,
        trust_dir=settings.trust_dir,
        crl_files=settings.crl_files + crls,
        ocsp_files=settings.ocsp_files,
        revocation=mode,
        # As ingest: online sources and the host's revocation cache when the hub fetches.
        fetch_online=settings.fetch_online,
        fetch_timeout=settings.fetch_timeout,
        revocation_cache_dir=(
            settings.data_dir / "revocation-cache" if settings.fetch_online else None
        ),
    )
    return trust_store_for(options)


def report_json(path: Path, report: PdfReport, at: datetime) -> dict[str, object]:
    """The ``--json`` document: the file's verdict and one entry per signature."""
    return {
        "file": str(path),
        "verdict": report.verdict,
        "validation_time": at.isoformat(),
        "detail": report.detail,
        "signatures": [s.as_dict() for s in report.signatures],
    }


@pdf.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--trust-anchor",
    "anchors",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="PEM file of trust anchors (repeatable); default: the hub's trust configuration.",
)
@click.option(
    "--crl",
    "crls",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="CRL file, PEM or DER (repeatable); added to the configured sources.",
)
@click.option("--at", "at_text", default=None, help="Validation time, ISO 8601 (default: now).")
@click.option(
    "--revocation",
    type=click.Choice(REVOCATION_CHOICES),
    default="auto",
    show_default=True,
    help="Revocation policy (auto: hard-fail with --trust-anchor; else as configured, "
    "hard-fail when a CRL is given).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@config_option("Configuration directory (used when no --trust-anchor is given).")
def pdf_verify(
    file: Path,
    anchors: tuple[Path, ...],
    crls: tuple[Path, ...],
    at_text: str | None,
    revocation: str,
    as_json: bool,
    config_dir: Path,
) -> None:
    """Validate every signature and document time-stamp of FILE, with long-term validation
    (a time-stamped signature is validated at the time its time-stamp proves)."""
    from hub.errors import HubError
    from signing import validate_pdf

    try:
        at = parse_moment(at_text) if at_text else datetime.now(UTC)
    except ValueError:
        _user_error(f"--at: not an ISO 8601 date-time: {at_text!r}")
        return
    try:
        trust = _trust(anchors, crls, revocation, config_dir)
    except (HubError, ValueError, OSError) as exc:
        _user_error(f"cannot load the trust configuration: {exc}")
        return
    try:
        data = file.read_bytes()
    except OSError as exc:
        _user_error(f"cannot read {file}: {exc}")
        return
    report = validate_pdf(data, trust, at=at)
    if as_json:
        click.echo(json.dumps(report_json(file, report, at), ensure_ascii=False, indent=2))
    else:
        for sig in report.signatures:
            reasons = ",".join(sig.reasons) or "-"
            sub = sig.subindication or "-"
            click.echo(f"{sig.field}\t{sig.kind}\t{sig.verdict}\t{reasons}\t{sub}\t{sig.detail}")
        click.echo(f"{file}: {report.verdict}" + (f" ({report.detail})" if report.detail else ""))
    sys.exit(0 if report.verdict == "valid" else 1)
