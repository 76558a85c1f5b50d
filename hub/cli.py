"""The ``hub`` command line.

Every command that works on a hub's data takes ``--config DIR`` (default ``./config``).
Commands that talk to a running hub as an agency take ``--url`` and ``--token-file``.

Exit codes, the same for every command: **0** done; **1** a negative verdict (``verify``,
``validate``, ``send``, ``audit verify``: refused, invalid, indeterminate; ``demo``: an outcome
differed); **2** a user error (bad option or argument, bad or incomplete configuration, a file
that is missing or unreadable, an unknown agency, a hub that cannot be reached), reported as one
``error:`` line on stderr, never a traceback (:class:`HubGroup`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hub import __version__
from hub.cli_options import actor_option, config_option, progress_bar, write_secret
from hub.errors import HubError

console = Console(stderr=True)
out = Console()

CONFIG_OPTION = config_option()


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    sys.exit(code)


class UserError(click.ClickException):
    """A user's mistake: one ``error:`` line, exit code 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        """Print the message the way :func:`_fail` does."""
        console.print(f"[bold red]error:[/] {escape(self.format_message())}", soft_wrap=True)


def _user_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the input is wrong", whichever command raises them. Imported
    here, not at the top, because the command line imports its modules lazily (start-up)."""
    from aiohttp import ClientError

    from hub.adapter.connector import ConnectorConfigError
    from hub.client import HubProblem
    from hub.operators import OperatorError
    from signing import SigningError

    return (
        HubError,
        OSError,
        ClientError,
        HubProblem,
        ConnectorConfigError,
        OperatorError,
        SigningError,
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, HubError):
        return f"{exc.code}: {exc.detail}"
    name = type(exc).__name__
    code, status = getattr(exc, "code", None), getattr(exc, "status", None)
    if name == "HubProblem":  # the hub refused the request (problem+json)
        return f"the hub answered {status}: {code}: {getattr(exc, 'detail', '')}"
    if type(exc).__module__.startswith("aiohttp"):  # the hub is not reachable, or answered oddly
        return f"cannot talk to the hub: {exc or name}"
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return str(exc) or name


class HubGroup(click.Group):
    """The ``hub`` group: a user error raised by any command, however deeply, becomes one
    message and exit code 2 (see the module docstring); a bug still shows its traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; translate user errors."""
        try:
            return super().invoke(ctx)
        except click.UsageError:
            raise
        except click.ClickException as exc:  # raised by a command for a user error
            raise UserError(exc.format_message()) from exc
        except Exception as exc:
            if isinstance(exc, _user_error_types()):
                raise UserError(_describe(exc)) from exc
            raise


@click.group(
    cls=HubGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="hub")
@click.option("--log-level", default="INFO", show_default=True, help="Logging level.")
@click.option("--log-json/--no-log-json", default=False, help="Structured JSON logs.")
def main(log_level: str, log_json: bool) -> None:
    """Interoperability hub for Vietnamese e-government.

    Agencies exchange digitally signed edXML packages (QCVN 102:2016) through the hub: it
    verifies who sent each package and that it is intact, stores it durably, routes it to
    its recipients, delivers it (pull or push) and returns a signed receipt.

    \b
    Start here:
      hub demo --workdir demo-work           run a whole simulated exchange, then exit
      hub demo --workdir demo-work --serve   ... and keep serving for curl
      hub serve --config demo-work/config    serve an existing configuration
    """
    from hub.logs import setup_logging

    setup_logging(log_level, json_format=log_json)


# -- serve ----------------------------------------------------------------------------------


@main.command()
@CONFIG_OPTION
@click.option("--host", default=None, help="Listen address (default: hub.toml [http] host).")
@click.option("--port", type=int, default=None, help="Listen port (default: hub.toml).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Hub processes sharing the listening port (each with its own store and broker "
    "connections and verification pool; see docs/deployment.md).",
)
def serve(config_dir: Path, host: str | None, port: int | None, workers: int) -> None:
    """Serve the agency API and deliver packages until interrupted."""
    from hub.config import HOW_TO_CREATE, load_config, missing_files

    if not (config_dir / "hub.toml").is_file():
        _fail(f"{config_dir}: no hub.toml here (give --config DIR); {HOW_TO_CREATE}")
    try:
        config = load_config(config_dir)
    except HubError as exc:
        if "missing configuration file" in exc.detail:
            _fail(f"{exc.detail}; {HOW_TO_CREATE}")
        raise
    missing = missing_files(config)
    if missing:
        _fail("the configuration is incomplete:\n  " + "\n  ".join(missing) + f"\n{HOW_TO_CREATE}")
    host, port = host or config.settings.http.host, port or config.settings.http.port
    if workers > 1:
        from hub.workers import serve_workers

        console.print(f"hub serving on {host}:{port} with {workers} workers (Ctrl-C to stop)")
        sys.exit(serve_workers(config, host, port, workers))
    asyncio.run(_serve(config, host, port))


async def _serve(config: Any, host: str, port: int) -> None:
    from aiohttp import web

    from hub.api.app import build_app, runner_options
    from hub.api.tls import server_ssl_context
    from hub.runtime import Runtime

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Runtime(config) as runtime:
        runner = web.AppRunner(
            build_app(runtime), access_log=None, **runner_options(config.settings.http)
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=server_ssl_context(config.settings.http))
        await site.start()
        scheme = "https" if config.settings.http.tls_cert else "http"
        logging.getLogger("hub").info("serving", extra={"url": f"{scheme}://{host}:{port}/v1/"})
        console.print(f"hub serving on [bold]{scheme}://{host}:{port}/v1/[/] (Ctrl-C to stop)")
        await stop.wait()
        console.print("stopping: finishing in-flight work …")
        await runner.cleanup()


# -- demo -----------------------------------------------------------------------------------


@main.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-work"),
    show_default=True,
    help="Where the demo writes its PKI, configuration and data.",
)
@click.option(
    "--serve/--no-serve", "keep_serving", default=False, help="Keep serving after the demo stream."
)
@click.option("--port", type=int, default=8080, show_default=True, help="API port.")
@click.option(
    "--packages", type=int, default=200, show_default=True, help="Documents to send in the stream."
)
@click.option("--seed", type=int, default=2015, show_default=True, help="Random seed.")
@click.option(
    "--store",
    type=click.Choice(["sqlite", "postgresql"]),
    default="sqlite",
    show_default=True,
    help="postgresql: the demo's schema hub_demo on --store-url, emptied first.",
)
@click.option(
    "--broker",
    type=click.Choice(["local", "rabbitmq"]),
    default="local",
    show_default=True,
    help="rabbitmq: a fresh vhost hub-demo (via rabbitmqctl) unless --broker-url is given.",
)
@click.option(
    "--store-url",
    default=None,
    help="PostgreSQL URL (default: postgresql://postgres@127.0.0.1/test).",
)
@click.option("--broker-url", default=None, help="AMQP URL (default: guest on 127.0.0.1).")
def demo(
    workdir: Path,
    keep_serving: bool,
    port: int,
    packages: int,
    seed: int,
    store: str,
    broker: str,
    store_url: str | None,
    broker_url: str | None,
) -> None:
    """Set up simulated agencies and drive a realistic exchange through a real hub.

    Writes WORKDIR/config (so `hub ... --config WORKDIR/config` works afterwards), the dev
    PKI and each agency's key, certificate and token under WORKDIR/pki/agencies/<OrganId>/,
    then prints a summary and exits non-zero if any outcome differs from what was expected.
    """
    from hub.demo.run import DemoError, run_demo

    try:
        ok = asyncio.run(
            run_demo(
                workdir,
                port=port,
                documents=packages,
                seed=seed,
                keep_serving=keep_serving,
                store=store,
                broker=broker,
                store_url=store_url,
                broker_url=broker_url,
            )
        )
    except DemoError as exc:  # the demo could not run at all: a user's mistake, exit 2
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    sys.exit(0 if ok else 1)


# -- database ---------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """The store's database: schema migrations."""


@db.command("migrate")
@CONFIG_OPTION
def db_migrate(config_dir: Path) -> None:
    """Create or upgrade the store's schema to the latest version, then exit.

    The hub also migrates when it starts; run this first where the hub's own database role
    may not change the schema, or to upgrade before rolling out new hub processes. Several
    migrators at once are safe (PostgreSQL: an advisory lock serialises them).
    """
    from hub.config import load_settings

    settings = load_settings(config_dir)
    if settings.store == "postgresql":
        from hub.store.postgres.migrate import mask_dsn, migrate, scrub

        if not settings.store_url:
            _fail("store = postgresql needs [store] url (or HUB_STORE_URL)")
        try:
            version = asyncio.run(migrate(settings.store_url, settings.store_schema))
        except Exception as exc:  # report any failure without a traceback or the password
            _fail(
                f"migrating {mask_dsn(settings.store_url)}: {scrub(str(exc), settings.store_url)}"
            )
            return
        out.print(
            f"PostgreSQL {mask_dsn(settings.store_url)} schema {settings.store_schema}: "
            f"version {version}",
            soft_wrap=True,
        )
        return

    from hub.audit.chain import AuditChain
    from hub.store.sqlite import SqliteStore

    async def run_sqlite() -> int:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        store = SqliteStore(settings.sqlite_path, chainer=AuditChain())
        async with store:
            return store.schema_version

    version = asyncio.run(run_sqlite())
    out.print(f"SQLite {settings.sqlite_path}: version {version}", soft_wrap=True)


@db.command("copy")
@click.option(
    "--from-config",
    "from_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="Configuration of the embedded (SQLite) installation to copy from.",
)
@click.option(
    "--to-config",
    "to_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Configuration of the new installation (store = postgresql; its broker for --requeue).",
)
@click.option("--to-url", default=None, help="PostgreSQL URL (instead of --to-config).")
@click.option("--to-schema", default=None, help="PostgreSQL schema (default: hub or the config's).")
@click.option(
    "--requeue",
    is_flag=True,
    help="After the copy, publish the deliveries still due into --to-config's broker "
    "(run once, on the final copy after the embedded hub stopped).",
)
def db_copy(
    from_dir: Path, to_dir: Path | None, to_url: str | None, to_schema: str | None, requeue: bool
) -> None:
    """Copy an embedded installation's store (SQLite) to PostgreSQL, in acceptance order.

    Idempotent: only what is missing or changed is written, so run it while the embedded hub
    serves, stop that hub, run it again with --requeue, then start the hubs on PostgreSQL
    (docs/deployment.md, "Moving up").
    """
    from hub.config import load_config, load_settings
    from hub.dbtools import DbToolError, copy_sqlite_to_postgres, deliveries_to_requeue
    from hub.dbtools import requeue as publish_again
    from hub.store.postgres.migrate import mask_dsn

    source = load_settings(from_dir)
    if source.store != "sqlite":
        _fail(f"{from_dir}: store = {source.store}; the copy reads an embedded (sqlite) store")
    target_config = load_config(to_dir) if to_dir is not None else None
    if target_config is not None and target_config.settings.store != "postgresql":
        _fail(f"{to_dir}: store must be postgresql")
    url = to_url or (target_config.settings.store_url if target_config else "")
    schema = to_schema or (target_config.settings.store_schema if target_config else "hub")
    if not url:
        _fail("give --to-config (store = postgresql with a url) or --to-url")
    if requeue and target_config is None:
        _fail("--requeue needs --to-config (the new installation's broker)")
    try:
        report = copy_sqlite_to_postgres(source.sqlite_path, url, schema)
    except DbToolError as exc:
        _fail(str(exc))
        return
    out.print(
        f"copied {source.sqlite_path} → {mask_dsn(url)} schema {schema}: "
        f"{report.packages} new packages, {report.deliveries} deliveries written, "
        f"{report.events} events, {report.overrides} agency overrides; source holds "
        f"{report.source_packages} packages, deliveries {report.source_deliveries}",
        soft_wrap=True,
    )
    if requeue and target_config is not None:
        from hub.config import with_settings

        moved = with_settings(target_config, store_url=url, store_schema=schema)
        keys = deliveries_to_requeue(moved.settings)
        n = asyncio.run(publish_again(moved, keys))
        out.print(f"re-queued {n} deliveries into the new broker ({moved.settings.broker})")


@db.command("backup")
@CONFIG_OPTION
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Backup file (SQLite: a database file; PostgreSQL: a pg_dump custom archive).",
)
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists (default: refuse).")
def db_backup(config_dir: Path, output: Path, force: bool) -> None:
    """Back up the store, consistently, while the hub serves (SQLite: online backup API, the
    embedded broker's queue included; PostgreSQL: pg_dump of the hub's schema)."""
    from hub.config import load_settings
    from hub.dbtools import DbToolError, backup

    if output.exists() and not force:
        # An earlier backup is often the only copy of something: never replace it silently.
        _fail(f"{output} exists; choose another --output or pass --force to replace it", 2)
    try:
        counts = backup(load_settings(config_dir), output)
    except DbToolError as exc:
        _fail(str(exc))
        return
    out.print(f"backup written to {output}: {counts}", soft_wrap=True)


@db.command("restore")
@CONFIG_OPTION
@click.option(
    "--input",
    "input_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="A file written by hub db backup for the same kind of store.",
)
@click.option("--force", is_flag=True, help="Replace a store that already holds packages.")
@click.option(
    "--requeue/--no-requeue",
    default=None,
    help="Publish the deliveries still due into the broker afterwards (default: yes for "
    "RabbitMQ, whose queues are not in the backup; the embedded queue is).",
)
def db_restore(config_dir: Path, input_path: Path, force: bool, requeue: bool | None) -> None:
    """Restore the store from a backup. Stop every hub process of this installation first."""
    from hub.config import load_config
    from hub.dbtools import DbToolError, deliveries_to_requeue, restore
    from hub.dbtools import requeue as publish_again

    config = load_config(config_dir)
    try:
        counts = restore(config.settings, input_path, force=force)
    except DbToolError as exc:
        _fail(str(exc))
        return
    out.print(f"restored {input_path}: {counts}", soft_wrap=True)
    if requeue if requeue is not None else config.settings.broker == "rabbitmq":
        n = asyncio.run(publish_again(config, deliveries_to_requeue(config.settings)))
        out.print(f"re-queued {n} deliveries")


@db.command("check-duplicates")
@CONFIG_OPTION
def db_check_duplicates(config_dir: Path) -> None:
    """List new documents that reused their sender's DocumentId before the store enforced
    uniqueness (migration 0014 marks them; nothing is deleted), one tab-separated line each:
    package, sender, DocumentId, accepted, the first package. Exit 1 when there are any, 0
    when there are none (usable from monitoring)."""
    from hub.config import load_config
    from hub.runtime import make_store

    async def run() -> Any:
        async with make_store(load_config(config_dir)) as store:
            return await store.duplicate_documents()

    found = asyncio.run(run())
    if not found:
        out.print("no duplicate DocumentIds: every new document's DocumentId is unique")
        return
    # One line per package, never cut to the terminal's width: ids are copied from here.
    for record, first in found:
        out.print(
            f"{record.id}\t{record.sender}\t{record.document_id or ''}\t"
            f"{record.accepted_at.isoformat()}\tduplicate of {first}",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )
    out.print(
        f"{len(found)} new document(s) reuse a DocumentId sent before with other content "
        "(accepted before the store enforced uniqueness; kept, never deleted): tell the "
        "senders; see docs/store-and-broker.md, Uniqueness",
        soft_wrap=True,
    )
    sys.exit(1)


# -- pki ------------------------------------------------------------------------------------


@main.group()
def pki() -> None:
    """Development PKI: a CA, the hub's receipt key, agency certificates."""


@pki.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--ca-name", default="Hub development CA", show_default=True)
def pki_init(directory: Path, ca_name: str) -> None:
    """Create a CA (DIR/ca.pem) and the hub's receipt key (ECDSA P-256, DIR/hub/)."""
    from hub.devpki import init_pki

    paths = init_pki(directory, ca_name=ca_name)
    for label, path in paths.items():
        out.print(f"{label:>14}: {path}")


@pki.command("issue")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.argument("organ_id")
@click.option("--name", default=None, help="Agency name for the certificate.")
def pki_issue(directory: Path, organ_id: str, name: str | None) -> None:
    """Issue an agency certificate (RSA-2048) and a bearer token into DIR/agencies/ORGAN_ID/.

    Prints the agencies.toml lines that register them (fingerprint and token hash).
    """
    from hub.devpki import issue_agency

    try:
        issued = issue_agency(directory, organ_id, name=name)
    except ValueError as exc:
        _fail(str(exc))
        return
    out.print(f"key:   {issued.key_path}\ncert:  {issued.cert_path}\ntoken: {issued.token_path}")
    out.print("\n# agencies.toml\n[[agency]]")
    out.print(f'organ_id = "{organ_id}"')
    out.print(f'name = "{name or organ_id}"')
    out.print(f'cert_sha256 = ["{issued.cert_sha256}"]')
    out.print(f'token_sha256 = ["{issued.token_sha256}"]')


# -- agencies --------------------------------------------------------------------------------


@main.group()
def agency() -> None:
    """Agencies: list them, disable or enable one, rotate a bearer token, set the signature
    profile (audited), import directory entries."""


@agency.command("list")
@CONFIG_OPTION
def agency_list(config_dir: Path) -> None:
    """List agencies as they are in force (agencies.toml plus runtime changes)."""
    from hub.admin import list_agencies
    from hub.config import load_config

    views = asyncio.run(list_agencies(load_config(config_dir)))
    table = Table()
    table.add_column("OrganId", no_wrap=True)  # an OrganId is matched whole (grep, scripts)
    for heading in ("name", "enabled", "delivery", "tokens", "certs", "signature", "changed"):
        table.add_column(heading)
    for v in views:
        table.add_row(
            v.organ_id,
            v.name,
            "yes" if v.enabled else "[red]no[/]",
            v.delivery,
            str(v.tokens),
            str(v.certificates),
            "[yellow]legacy[/]" if v.signature_profile == "legacy" else v.signature_profile,
            "yes" if v.overridden else "",
        )
    out.print(table)


@agency.command("disable")
@click.argument("organ_id")
@CONFIG_OPTION
@click.option("--reason", required=True, help="Why (kept in the audit log).")
@actor_option()
def agency_disable(organ_id: str, config_dir: Path, reason: str, actor: str | None) -> None:
    """Disable an agency: it can neither send nor be addressed until enabled again."""
    from hub.admin import CliActor, set_enabled
    from hub.config import load_config

    asyncio.run(set_enabled(load_config(config_dir), organ_id, False, reason, CliActor.of(actor)))
    out.print(f"{organ_id} disabled")


@agency.command("enable")
@click.argument("organ_id")
@CONFIG_OPTION
@click.option("--reason", required=True, help="Why (kept in the audit log).")
@actor_option()
def agency_enable(organ_id: str, config_dir: Path, reason: str, actor: str | None) -> None:
    """Enable an agency again."""
    from hub.admin import CliActor, set_enabled
    from hub.config import load_config

    asyncio.run(set_enabled(load_config(config_dir), organ_id, True, reason, CliActor.of(actor)))
    out.print(f"{organ_id} enabled")


@agency.command("set-profile")
@click.argument("organ_id")
@click.argument("profile", type=click.Choice(["strict", "legacy"]))
@CONFIG_OPTION
@click.option("--reason", default="signature profile", show_default=True)
@actor_option()
def agency_set_profile(
    organ_id: str, profile: str, config_dir: Path, reason: str, actor: str | None
) -> None:
    """Set an agency's signature profile: strict, or legacy (C14N 1.0 and RSA-SHA1 admitted,
    each such package flagged signature.legacy_algorithm). Running hubs apply it to their
    next request."""
    from hub.admin import CliActor, set_signature_profile
    from hub.config import load_config

    asyncio.run(
        set_signature_profile(
            load_config(config_dir),
            organ_id,
            profile,  # type: ignore[arg-type]  # click.Choice
            reason,
            CliActor.of(actor),
        )
    )
    out.print(f"{organ_id}: signature profile {profile}")


@agency.command("rotate-token")
@click.argument("organ_id")
@CONFIG_OPTION
@click.option("--reason", default="rotation", show_default=True)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the new token here (mode 0600) instead of printing it.",
)
@actor_option()
def agency_rotate_token(
    organ_id: str, config_dir: Path, reason: str, token_file: Path | None, actor: str | None
) -> None:
    """Replace an agency's bearer token; the old one stops working at once (the next request
    to any running hub)."""
    from hub.admin import CliActor, rotate_token
    from hub.config import load_config

    token = asyncio.run(rotate_token(load_config(config_dir), organ_id, reason, CliActor.of(actor)))
    if token_file is None:
        out.print(token)
    else:
        write_secret(token_file, token)
        console.print(f"new token written to {token_file}")


@agency.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@CONFIG_OPTION
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json"]),
    default=None,
    help="The file's format (default: from its extension, .csv or .json).",
)
@click.option("--dry-run", is_flag=True, help="Check the file and print the diff; write nothing.")
@click.option("--verbose", "-v", is_flag=True, help="List the unchanged entries too.")
@actor_option("imports")
def agency_import(
    file: Path, config_dir: Path, fmt: str | None, dry_run: bool, verbose: bool, actor: str | None
) -> None:
    """Load directory entries (agencies known by code, name and parent, not connected) from a
    CSV or JSON export, and print what changes: added (+), changed (~), unchanged (=).

    \b
    CSV: a header row, columns code,name[,parent][,code102][,old_code]; UTF-8.
    JSON: a list of objects with those keys, or a VXP getAgenciesList answer.

    Import never deletes (entries the file leaves out are kept) and never connects an agency
    (agencies.toml does that), so routing does not change: packages to an imported sub-unit
    still go to its nearest connected ancestor. Idempotent; one transaction; exit 2 on a
    file that cannot be imported (nothing written). See docs/directory.md.
    """
    from datetime import UTC, datetime

    from hub.admin import CliActor, record_cli_action
    from hub.config import load_config
    from hub.directory_import import detect_format, import_directory
    from hub.registry import Registry
    from hub.runtime import make_store

    try:
        config = load_config(config_dir)
        kind = detect_format(file, fmt)
        data = file.read_bytes()
    except (HubError, OSError) as exc:
        # click.echo, not rich: no wrapping, and names may hold [brackets] (rich markup).
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    registry = Registry(config.agencies, allow_legacy=config.settings.allow_legacy_signatures)

    async def run() -> Any:
        async with make_store(config) as store:
            plan = await import_directory(
                store,
                registry,
                data,
                kind,
                at=datetime.now(UTC),
                dry_run=dry_run,
                source=file.name,
            )
            if plan.written:  # on the dashboard's Audit page, as the other CLI changes
                await record_cli_action(
                    store,
                    CliActor.of(actor),
                    "directory.import",
                    file.name,
                    added=plan.added,
                    changed=plan.changed,
                    revision=plan.revision,
                )
            return plan

    try:
        plan = asyncio.run(run())
    except HubError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(2)
    for change in plan.changes:
        note = "  (connected: agencies.toml keeps its name)" if change.connected else ""
        r = change.record
        if change.action == "added":
            click.echo(f"+ {r.code}  {r.name}  parent={r.parent or '-'}{note}")
        elif change.action == "changed":
            diffs = "; ".join(f"{f}: {old!r} -> {new!r}" for f, old, new in change.fields)
            click.echo(f"~ {r.code}  {diffs}{note}")
        elif verbose:
            click.echo(f"= {r.code}  {r.name}")
    click.echo(
        f"{plan.added} added, {plan.changed} changed, {plan.unchanged} unchanged; "
        f"{plan.kept} stored entries not in the file kept (import never deletes)"
    )
    if dry_run:
        click.echo("dry run: nothing written")
    elif plan.written:
        click.echo(f"written: {plan.written} entries, directory revision {plan.revision}")
    else:
        click.echo("nothing to write: the directory already holds this file")


# -- dashboard operators (issue 6) ------------------------------------------------------------


@main.group()
def operator() -> None:
    """Operator accounts for the dashboard at /dashboard/ (never agency credentials)."""


@operator.command("add")
@click.argument("username")
@CONFIG_OPTION
@click.option(
    "--role",
    type=click.Choice(["viewer", "operator"]),
    default="viewer",
    show_default=True,
    help="viewer looks; operator also re-sends, discards and disables agencies.",
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (scripts)."
)
@click.option("--replace", is_flag=True, help="Reset the password and role of an existing one.")
@actor_option()
def operator_add(
    username: str,
    config_dir: Path,
    role: str,
    password_stdin: bool,
    replace: bool,
    actor: str | None,
) -> None:
    """Create an operator account (the password is stored as an Argon2id hash)."""
    from hub.admin import CliActor, record_cli_action
    from hub.config import load_config
    from hub.operators import OperatorError, add_operator
    from hub.runtime import make_store

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def run() -> bool:
        async with make_store(load_config(config_dir)) as store:
            done = await add_operator(store.dashboard(), username, password, role, replace=replace)
            if done:
                action = "operator.replace" if replace else "operator.add"
                await record_cli_action(store, CliActor.of(actor), action, username, role=role)
            return done

    try:
        created = asyncio.run(run())
    except OperatorError as exc:
        _fail(str(exc))
    if not created:
        _fail(f"operator {username} exists (use --replace to reset it)")
    console.print(f"operator [bold]{username}[/] ({role}) {'updated' if replace else 'created'}")


@operator.command("list")
@CONFIG_OPTION
def operator_list(config_dir: Path) -> None:
    """List operator accounts."""
    from hub.config import load_config
    from hub.runtime import make_store

    async def run() -> Any:
        async with make_store(load_config(config_dir)) as store:
            return await store.dashboard().list_operators()

    table = Table("username", "role", "created", "disabled")
    for op in asyncio.run(run()):
        table.add_row(op.username, op.role, op.created_at.isoformat(), str(op.disabled))
    console.print(table)


# -- offline package tools --------------------------------------------------------------------


@main.command()
@click.argument("package", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--key", "key_path", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@click.option(
    "--cert",
    "cert_path",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output file (default: stdout).",
)
@click.option(
    "--replace-placeholder/--no-replace-placeholder",
    default=False,
    help="Remove an edXML-namespace placeholder Signature (as the SDK writes) first.",
)
def sign(
    package: Path, key_path: Path, cert_path: Path, output: Path | None, replace_placeholder: bool
) -> None:
    """Sign an edXML package with the hub's strict enveloped XMLDSig profile."""
    from hub.packaging import sign_package
    from signing import SigningError
    from signing.pki import load_certificates, load_private_key

    data = package.read_bytes()
    try:
        key = load_private_key(key_path)
    except ValueError as exc:
        _fail(f"{key_path}: not a usable private key (PEM): {exc}")
        return
    try:
        cert = load_certificates(cert_path)[0]
    except (ValueError, IndexError) as exc:
        _fail(f"{cert_path}: not a certificate (PEM): {exc or 'none found'}")
        return
    try:
        signed = sign_package(data, key, cert, replace_placeholder=replace_placeholder)
    except (HubError, SigningError, ValueError) as exc:
        _fail(f"{package}: {exc}")
        return
    if output is None:
        sys.stdout.buffer.write(signed)
    else:
        output.write_bytes(signed)
        console.print(f"signed → {output}")


@main.command()
@click.argument("package", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@CONFIG_OPTION
def verify(package: Path, config_dir: Path) -> None:
    """Check a package offline: parse, schema, signature and certificate path, signer binding.

    Uses the trust anchors and agency registry of --config.
    """
    from datetime import UTC, datetime

    from hub.config import load_config
    from hub.pipeline.checks import CheckOptions, check_package
    from hub.registry import Registry

    config = load_config(config_dir)
    options = CheckOptions(
        max_size=config.settings.max_package_bytes,
        max_depth=config.settings.max_xml_depth,
        trust_anchors=config.settings.trust_anchors,
        allow_legacy=config.settings.allow_legacy_signatures,
    )
    try:
        checked = check_package(package.read_bytes(), datetime.now(UTC), options)
    except HubError as exc:  # refused: a negative verdict
        _print_problem(exc)
        sys.exit(1)
    bound = Registry(config.agencies).signer_bound(
        checked.package.sender, checked.signer_fingerprint
    )
    table = Table(show_header=False, box=None)
    table.add_row("kind", checked.package.kind)
    table.add_row("from", checked.package.sender)
    table.add_row("recipients", ", ".join(checked.package.recipients))
    table.add_row("document", checked.package.reference_document_id or "-")
    table.add_row("signer", checked.signer_subject)
    table.add_row("fingerprint", checked.signer_fingerprint)
    table.add_row("bound to From", "yes" if bound else "[red]NO[/]")
    for warning in checked.package.warnings:
        table.add_row("warning", warning)
    out.print(table)
    sys.exit(0 if bound else 1)


@main.command()
@click.argument(
    "packages",
    nargs=-1,
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
)
def validate(packages: tuple[Path, ...]) -> None:
    """Check well-formedness and the edXML schema of package files (no signature check)."""
    from hub.edxml import parse_package
    from hub.edxml.schema import validate as validate_schema
    from hub.xmlsafe import parse_xml

    failed = 0
    for path in packages:
        try:
            root = parse_xml(path.read_bytes())
            validate_schema(root)
            pkg = parse_package(root)
        except HubError as exc:
            failed += 1
            out.print(f"[red]✗[/] {path}: {exc.code}: {exc.detail}")
            continue
        notes = f" ({len(pkg.warnings)} warnings)" if pkg.warnings else ""
        out.print(f"[green]✓[/] {path}: {pkg.kind} from {pkg.sender}{notes}")
        for warning in pkg.warnings:
            out.print(f"    warning: {warning}")
    sys.exit(1 if failed else 0)


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def _print_problem(exc: HubError) -> None:
    body = exc.to_problem()
    console.print(f"[bold red]{body['code']}[/]: {escape(str(body['detail']))}")
    for key in ("line", "column", "path"):
        if body.get(key) is not None:
            console.print(f"  {key}: {body[key]}")


# -- talking to a running hub as an agency --------------------------------------------------------

URL_OPTION = click.option(
    "--url", default="http://127.0.0.1:8080", show_default=True, help="The hub's base URL."
)
TOKEN_OPTION = click.option(
    "--token-file",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="File holding this agency's bearer token (pki/agencies/<OrganId>/token).",
)


@main.command()
@click.argument(
    "packages",
    nargs=-1,
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
)
@URL_OPTION
@TOKEN_OPTION
def send(packages: tuple[Path, ...], url: str, token_file: Path) -> None:
    """Submit package files to a running hub as the agency owning the token."""
    from hub.client import HubClient, HubProblem

    token = token_file.read_text().strip()
    contents = {path: path.read_bytes() for path in packages}

    async def run() -> int:
        failures = 0
        async with HubClient(url, token) as client:
            for path in packages:
                try:
                    result = await client.submit(contents[path])
                except HubProblem as exc:
                    failures += 1
                    out.print(f"[red]✗[/] {path}: {exc.code} ({exc.status}): {exc.detail}")
                    continue
                verb = "accepted" if result.created else "already accepted"
                out.print(
                    f"[green]✓[/] {path}: {verb} as {result.package_id} → "
                    f"{', '.join(result.recipients)}"
                )
        return failures

    sys.exit(1 if asyncio.run(run()) else 0)


@main.command()
@URL_OPTION
@TOKEN_OPTION
@click.option(
    "--fetch",
    "fetch_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Download each package into this directory.",
)
@click.option("--ack/--no-ack", default=False, help="Acknowledge what was downloaded.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def inbox(url: str, token_file: Path, fetch_dir: Path | None, ack: bool, as_json: bool) -> None:
    """List (and optionally fetch and acknowledge) the agency's inbox."""
    from hub.client import HubClient

    token = token_file.read_text().strip()
    if fetch_dir is not None:
        fetch_dir.mkdir(parents=True, exist_ok=True)

    async def run() -> None:
        async with HubClient(url, token) as client:
            items = [item async for item in client.inbox_items()]
            if as_json:
                out.print_json(json.dumps(items, ensure_ascii=False))
            else:
                table = Table("id", "from", "kind", "document", "size", "accepted")
                for item in items:
                    table.add_row(
                        item["id"],
                        item["from"],
                        item["kind"],
                        item.get("document_id") or "-",
                        str(item["size"]),
                        item["accepted_at"],
                    )
                out.print(table)
            if fetch_dir is not None:
                # In batches with their bytes, walking with the batch cursor; only the
                # packages listed above (one that arrived since waits for the next run).
                listed = {str(item["id"]) for item in items}
                fetched = 0
                if listed:
                    async for batch in client.inbox_batches():
                        mine = [p for p in batch.items if p.id in listed]
                        for package in mine:
                            _write(fetch_dir / f"{package.id}.edxml", package.data)
                        if ack and mine:
                            await client.ack_batch([p.id for p in mine])
                        fetched += len(mine)
                        if fetched == len(listed):
                            break
                console.print(f"fetched {fetched} package(s) into {fetch_dir}")

    asyncio.run(run())


@main.command()
@click.argument("package_id")
@URL_OPTION
@TOKEN_OPTION
def trace(package_id: str, url: str, token_file: Path) -> None:
    """Show a package's timeline (sender or recipients only)."""
    from hub.client import HubClient, HubProblem

    token = token_file.read_text().strip()

    async def run() -> None:
        async with HubClient(url, token) as client:
            try:
                body = await client.trace(package_id)
            except HubProblem as exc:
                _fail(f"{exc.code}: {exc.detail}")
                return
        out.print(
            f"[bold]{body['id']}[/] {body['kind']} from {body['from']} "
            f"({body.get('document_id') or '-'}) accepted {body['accepted_at']}"
        )
        table = Table("recipient", "state", "attempts", "acked", "last error")
        for d in body["recipients"]:
            table.add_row(
                d["organ_id"],
                d["state"],
                str(d["attempts"]),
                d["acked_at"] or "-",
                d["last_error"] or "",
            )
        out.print(table)
        events = Table("at", "event", "recipient", "detail")
        for e in body["events"]:
            events.add_row(
                e["at"],
                e["kind"],
                e["recipient"] or "",
                json.dumps(e["detail"], ensure_ascii=False) if e["detail"] else "",
            )
        out.print(events)
        for s in body["statuses"]:
            out.print(f"status {s['status_code']} from {s['from']} at {s['accepted_at']}")

    asyncio.run(run())


# -- configuration (issue 13) ------------------------------------------------------------------


@main.group("config")
def config_group() -> None:
    """Configuration files: check them before a hub or connector uses them."""


@config_group.command("check")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--connector",
    "connectors",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Also check this connector TOML and its adapter's settings (repeatable).",
)
def config_check(directory: Path, connectors: tuple[Path, ...]) -> None:
    """Check every configuration file in DIRECTORY (hub.toml, agencies.toml, routes.toml,
    holidays.toml, procedures.toml) against its schema, then as the hub reads them, and list
    the files they name that are missing. Exit 0: usable; 1: problems (listed)."""
    import tomllib

    from hub.adapter.connector import ConnectorConfigError, load_connector_config
    from hub.audit.settings import load_audit_settings
    from hub.config import HOW_TO_CREATE, load_config, missing_files
    from hub.config_schema import FILES, check_file
    from hub.lifecycle.config import load_lifecycle
    from hub.storage_crypto import load_blob_cipher

    problems: list[str] = []
    for name in FILES:
        path = directory / name
        if not path.exists():
            if name in ("hub.toml", "agencies.toml"):
                problems.append(f"{path}: missing")
            continue
        try:
            for warning in check_file(name, tomllib.loads(path.read_text("utf-8")), path):
                out.print(f"[yellow]![/] {escape(warning)}", soft_wrap=True)
            out.print(f"[green]✓[/] {path}", soft_wrap=True)
        except tomllib.TOMLDecodeError as exc:
            problems.append(f"{path}: {exc}")
        except HubError as exc:
            problems.append(exc.detail)
    if not problems:
        try:  # the cross-checks the hub makes when it starts
            config = load_config(directory)
            load_lifecycle(directory)
            load_audit_settings(directory, env={})
            load_blob_cipher(directory, env={})
            problems += missing_files(config)
        except HubError as exc:
            problems.append(exc.detail)
    for path in connectors:
        try:
            load_connector_config(path)
            out.print(f"[green]✓[/] {path}", soft_wrap=True)
        except ConnectorConfigError as exc:
            problems.append(str(exc))
    for problem in problems:
        out.print(f"[red]✗[/] {escape(problem)}", soft_wrap=True)
    if any("does not exist" in p for p in problems):
        out.print(escape(HOW_TO_CREATE), soft_wrap=True)
    sys.exit(1 if problems else 0)


# -- adapters and connectors (issue 4) ----------------------------------------------------------


@main.group()
def adapter() -> None:
    """Agency adapters: scaffold a new one (see docs/adapters.md)."""


@adapter.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("adapters"),
    show_default=True,
    help="Where the adapter package is created (DIR/NAME).",
)
def adapter_new(name: str, directory: Path) -> None:
    """Create adapter package NAME from the template: the contract implemented with working
    defaults (a spool-directory system), a mapping module, a config example and tests that
    run the shared contract suite (they pass as generated: run pytest DIR/NAME)."""
    import adapters
    from hub.adapter.scaffold import ScaffoldError, scaffold

    template = Path(adapters.__file__).resolve().parent / "_template"
    try:
        created = scaffold(name, directory, template)
    except ScaffoldError as exc:
        _fail(str(exc))
    for path in created:
        out.print(f"created {path}")
    out.print(f"next: pytest {directory / name}  ·  see docs/adapters.md")


@main.command()
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="The connector's TOML (hub URL, token, key and certificate, anchors, adapter).",
)
@click.option("--once", is_flag=True, help="Run one outbound and one inbound cycle, then exit.")
def connector(config_file: Path, once: bool) -> None:
    """Run an agency's connector: poll the agency system through its adapter, sign and submit
    what it produced; fetch, verify and deliver what the hub holds for the agency, then ack."""
    from dataclasses import asdict

    from hub.adapter.connector import Connector, ConnectorConfigError, load_connector_config

    try:
        config = load_connector_config(config_file)
    except ConnectorConfigError as exc:
        _fail(str(exc))

    async def run() -> dict[str, int]:
        async with Connector.from_config(config) as conn:
            if once:
                return asdict(await conn.run_once())
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            console.print(f"connector for {config.organ_id} ({config.adapter_name}) running")
            return asdict(await conn.run(stop))

    report = asyncio.run(run())
    click.echo(json.dumps(report))


# -- audit and evidence (issue 7) -----------------------------------------------------------

from hub.cli_audit import audit as _audit_group  # noqa: E402  # registered after main is built
from hub.cli_audit import evidence as _evidence_command  # noqa: E402

main.add_command(_audit_group)
main.add_command(_evidence_command)


# -- lifecycle (issue 5): hub report, hub alarms, hub procedures import -------------------------
from hub.cli_lifecycle import alarms as _alarms_command  # noqa: E402
from hub.cli_lifecycle import procedures as _procedures_command  # noqa: E402
from hub.cli_lifecycle import report as _report_command  # noqa: E402

main.add_command(_report_command)
main.add_command(_alarms_command)
main.add_command(_procedures_command)


# -- keys and stored-package re-encryption (issue 14): hub keys csr|rotate, hub storage rekey --
# Exit codes: 0 done; 2 refused (user error: bad option, missing file, would overwrite, bad
# configuration), with one clear line on stderr and no traceback.


def _hub_settings(config_dir: Path) -> Any:
    """``hub.toml`` of ``config_dir``; a missing file is a user error, not defaults."""
    from hub.config import load_settings
    from hub.errors import ConfigError

    if not (config_dir / "hub.toml").is_file():
        raise ConfigError(f"{config_dir}: no hub.toml here (give --config DIR)")
    return load_settings(config_dir)


def _audit_cli(
    config_dir: Path, actor: str | None, action: str, target: str, **detail: object
) -> None:
    """An entry in the operators' audit for a command-line change (the dashboard's Audit page)."""
    from concurrent.futures import ThreadPoolExecutor

    from hub.admin import CliActor, record_cli_action
    from hub.config import load_config
    from hub.runtime import make_store

    async def run() -> None:
        async with make_store(load_config(config_dir)) as store:
            await record_cli_action(store, CliActor.of(actor), action, target, **detail)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(run())
        return
    # Invoked from inside an event loop (a program driving the CLI, such as a test with
    # click's runner): asyncio.run cannot nest, so the entry is written from a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()


def _refuse(exc: Exception) -> None:
    detail = exc.detail if isinstance(exc, HubError) else str(exc)
    code = f"{exc.code}: " if isinstance(exc, HubError) else ""
    _fail(f"{code}{detail}", 2)


@main.group()
def keys() -> None:
    """The hub's receipt key: a CSR for a real CA, rotation beside the old key."""


@keys.command("csr")
@CONFIG_OPTION
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the CSR (PEM) here instead of standard output.",
)
@click.option(
    "--subject",
    default=None,
    help="RFC 4514 subject, e.g. 'CN=Hub receipt signer,O=Sở TT&TT,C=VN' (default: the "
    "subject of the key's current certificate).",
)
@click.option(
    "--key",
    "key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Another key than the one signing now (e.g. the one `hub keys rotate` wrote).",
)
def keys_csr(
    config_dir: Path, out_file: Path | None, subject: str | None, key_path: Path | None
) -> None:
    """A PKCS#10 CSR for the receipt key signing now, to be certified by a real CA."""
    from datetime import UTC, datetime

    from hub.keys import receipt_csr

    try:
        settings = _hub_settings(config_dir)
        pem = receipt_csr(
            settings,
            datetime.now(UTC),
            key_path=key_path.resolve() if key_path else None,
            subject=subject,
        )
        if out_file is None:
            sys.stdout.write(pem.decode("ascii"))
        else:
            out_file.write_bytes(pem)
            console.print(f"CSR written to {out_file}")
    except (HubError, OSError) as exc:
        _refuse(exc)


@keys.command("rotate")
@CONFIG_OPTION
@click.option("--apply", is_flag=True, help="Update hub.toml (otherwise print the lines to add).")
@click.option(
    "--ca-cert",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="CA certificate to issue the new certificate with (default: the `hub pki init` CA "
    "next to the receipt key, if any).",
)
@click.option(
    "--ca-key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="That CA's private key.",
)
@click.option(
    "--key",
    "key_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Register this existing key (with --cert), e.g. after a CA certified its CSR.",
)
@click.option(
    "--cert",
    "cert_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="The certificate for --key.",
)
@click.option(
    "--valid-days",
    type=click.IntRange(min=1),
    default=825,
    show_default=True,
    help="Validity of a certificate issued here (capped at the CA's own).",
)
@actor_option()
def keys_rotate(
    config_dir: Path,
    apply: bool,
    ca_cert: Path | None,
    ca_key: Path | None,
    key_path: Path | None,
    cert_path: Path | None,
    valid_days: int,
    actor: str | None,
) -> None:
    """A new receipt key beside the old one, added as a [signing] receipt_rotation pair.

    \b
    With a CA (--ca-cert/--ca-key, or the development CA of `hub pki init`): writes
    key-<stamp>.pem and cert-<stamp>.pem beside the current key. Without one: writes the
    key and key-<stamp>.csr; have the CSR certified, then run
      hub keys rotate --config DIR --key KEY --cert CERT --apply
    The newest valid certificate signs from the next start of the hub; every configured
    certificate stays published, so receipts and checkpoints signed before keep verifying.
    """
    from datetime import UTC, datetime

    from hub.keys import (
        dev_ca,
        register_receipt_pair,
        rotate_receipt_key,
        write_atomically,
    )

    try:
        if (key_path is None) != (cert_path is None):
            raise click.UsageError("--key and --cert go together")
        if (ca_cert is None) != (ca_key is None):
            raise click.UsageError("--ca-cert and --ca-key go together")
        settings = _hub_settings(config_dir)
        if key_path is None or cert_path is None:
            ca = (ca_cert, ca_key) if ca_cert and ca_key else dev_ca(settings)
            if ca is None and apply:
                raise click.UsageError(
                    "no CA to certify a new key (give --ca-cert/--ca-key); run without "
                    "--apply to get a key and a CSR for your CA"
                )
            rotation = rotate_receipt_key(settings, datetime.now(UTC), ca=ca, valid_days=valid_days)
            console.print(f"new receipt key: {rotation.key}")
            if rotation.cert is None:
                assert rotation.csr is not None
                console.print(
                    f"no CA: certificate request written to {rotation.csr}\n"
                    "have it certified, then: hub keys rotate --config "
                    f"{config_dir} --key {rotation.key} --cert CERT.pem --apply"
                )
                return
            console.print(f"its certificate: {rotation.cert}")
            key_path, cert_path = rotation.key, rotation.cert
        change = register_receipt_pair(
            config_dir.resolve(), key_path.resolve(), cert_path.resolve()
        )
        if apply:
            write_atomically(change)
            _audit_cli(config_dir, actor, "keys.rotate", cert_path.name, key=str(key_path))
            console.print(
                f"{change.path} updated (the old pair stays configured); restart the hub "
                "processes to sign with the new key"
            )
        else:
            console.print(f"add to {change.path} (or re-run with --apply):")
            out.print(change.lines, soft_wrap=True, markup=False, highlight=False)
    except click.UsageError as exc:
        _fail(exc.message, 2)
    except (HubError, OSError) as exc:
        _refuse(exc)


@main.group()
def storage() -> None:
    """Stored package bytes: re-encryption under a new key (encryption at rest)."""


@storage.command("rekey")
@CONFIG_OPTION
@click.option(
    "--new-key",
    "new_key_file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="File holding the new key: base64 of 32 bytes (openssl rand -base64 32 > FILE).",
)
@click.option(
    "--key-id",
    default=None,
    help="Id of the new key in the key file (default: the UTC date and time).",
)
@click.option(
    "--apply",
    is_flag=True,
    help="Write the new key into the key file as current (otherwise print the lines).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: when standard error is a terminal).",
)
@actor_option()
def storage_rekey(
    config_dir: Path,
    new_key_file: Path,
    key_id: str | None,
    apply: bool,
    progress: bool | None,
    actor: str | None,
) -> None:
    """Re-encrypt every stored package under a new key; resumable and idempotent.

    \b
    1. hub storage rekey --config DIR --new-key FILE --apply
       puts the key into the key file as current (old keys stay: they still read older
       blobs); restart the hub processes so they all know it.
    2. hub storage rekey --config DIR --new-key FILE
       re-encrypts, in short compare-and-set transactions, safe while the hub runs; an
       interrupted run is continued by running it again (blobs under the new key are
       skipped). Remove an old key only after a run reports every blob under the new one.
    """
    from datetime import UTC, datetime

    from hub.admin import CliActor, record_cli_action
    from hub.config import load_config
    from hub.keys import cipher_for, plan_storage_key, read_new_key, rekey_storage, write_atomically
    from hub.runtime import make_store

    try:
        _hub_settings(config_dir)
        new_key = read_new_key(new_key_file)
        plan = plan_storage_key(
            config_dir.resolve(),
            new_key,
            key_id or datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ"),
        )
        if not plan.ready:
            for change in plan.changes:
                if apply:
                    # a new key file is a secret: owner only; existing files keep their mode
                    secret = change.path.name != "hub.toml" and not change.path.exists()
                    write_atomically(change, 0o600 if secret else None)
                    console.print(f"{change.path} updated")
                else:
                    console.print(f"change {change.path}:")
                    out.print(change.lines, soft_wrap=True, markup=False, highlight=False)
            if apply:
                console.print(
                    f"key {plan.key_id} is now current: restart every hub process, then run "
                    "this command again without --apply to re-encrypt"
                )
            else:
                console.print("(re-run with --apply to write these; nothing re-encrypted yet)")
            return
        config = load_config(config_dir)
        cipher = cipher_for(config_dir.resolve())
    except (HubError, OSError) as exc:
        _refuse(exc)
        return
    bar = progress_bar(console, progress)

    who = CliActor.of(actor)

    async def run() -> Any:
        async with make_store(config) as store:
            with bar:
                task = bar.add_task(f"re-encrypting under {cipher.current}", total=None)
                report = await rekey_storage(
                    store,
                    cipher,
                    progress=lambda n, total: bar.update(task, total=total, advance=n),
                    actor=f"{who.name} ({who.os_user}@{who.host})",
                )
            if report.rekeyed:
                await record_cli_action(
                    store, who, "storage.rekey", report.key_id, rekeyed=report.rekeyed
                )
            return report

    try:
        report = asyncio.run(run())
    except HubError as exc:
        _refuse(exc)
        return
    click.echo(
        f"key {report.key_id}: {report.rekeyed} re-encrypted, {report.already} already under "
        f"it, {report.skipped} purged, {report.raced} changed meanwhile (run again); "
        f"{report.total} stored"
    )
    if report.complete:
        click.echo(
            "every stored package is under the new key: older keys are no longer needed for "
            "the live store (keep them while backups taken before need them)"
        )


# -- signed PDFs (issue 14): hub pdf verify ---------------------------------------------------
from hub.pdf_cli import pdf as _pdf_group  # noqa: E402

main.add_command(_pdf_group)
# -- VXP facade (issue 11): hub vxp add-system|list|disable|enable|rotate ---------------------
from hub.vxp.cli import vxp as _vxp_group  # noqa: E402

main.add_command(_vxp_group)


if __name__ == "__main__":  # pragma: no cover
    main()
