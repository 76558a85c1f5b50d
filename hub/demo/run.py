"""``hub demo``: a whole simulated exchange through a real hub, checked and summarised.

1. The working directory: dev PKI (kept across runs), agency identities, configuration
   (``W/config``, so ``hub … --config W/config`` works on the demo's data afterwards) and a
   fresh data directory — the previous run's data is deleted, because the self-check compares
   the hub's counts with what this run sent.
2. A push receiver for the push agency (000.00.00.G12) on a free loopback port, checking the
   hub's HMAC with the agency's secret.
3. The hub, in this process but over real HTTP on ``127.0.0.1:port``, verifying in its
   process pool exactly as ``hub serve`` does.
4. The stream (:mod:`hub.demo.agents`): documents with attachments from several senders to
   1–4 recipients, pulled or pushed, acknowledged, answered with status packages; updates and
   revocations; identical resubmissions; and the refusal cases (:mod:`hub.demo.refusals`).
5. The self-check and summary (:mod:`hub.demo.summary`); ``False`` on any mismatch.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from aiohttp import web
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from hub.aio import cancel_and_wait
from hub.api.app import build_app, runner_options
from hub.config import load_config
from hub.demo.agents import (
    G12,
    G22,
    H41,
    Agencies,
    DocPlan,
    Ledger,
    PushReceiver,
    demo_agencies,
    make_plan,
    planned_totals,
)
from hub.demo.dossiers import DOSSIER_AGENCIES, DossierFlow, add_dossier_routes
from hub.demo.examples import write_examples
from hub.demo.refusals import Refusals, run_refusals
from hub.demo.summary import gather_hub_facts, render, self_check
from hub.demo.vxp import register_systems
from hub.demo.workdir import Workdir, create_workdir
from hub.runtime import Runtime

#: Documents each sending agency has in flight at once (a QLVB system sends a few at a time).
SENDER_CONCURRENCY = 2


class DemoError(Exception):
    """The demo cannot run (the workdir is not the demo's, the port is taken, …)."""


def _busy(port: int, exc: OSError) -> str:
    return (
        f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc} "
        "(choose another with --port, or --port 0 for any free port)"
    )


def claim_port(port: int) -> int:
    """``port`` if it can be listened on now, or a free one for ``0``; :class:`DemoError`
    if it is taken. (The hub binds it a moment later; the check makes the common mistake —
    a demo or a hub already running — fail before anything is set up.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp's listener does
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            raise DemoError(_busy(port, exc)) from exc
        chosen: int = s.getsockname()[1]
        return chosen


def fresh_data(root: Path) -> None:
    """Delete the previous demo run's data; refuse to touch a workdir that is not the demo's.

    The PKI and tokens are kept (people keep their curl lines), the data starts empty so the
    self-check's counts are this run's.
    """
    data = root / "data"
    if not data.exists() or not any(data.iterdir()):
        return
    hub_toml = root / "config" / "hub.toml"
    if not hub_toml.is_file() or 'id = "hub-demo"' not in hub_toml.read_text(encoding="utf-8"):
        raise DemoError(
            f"{data} holds data of a hub that is not the demo's; choose another --workdir"
        )
    shutil.rmtree(data)


@contextlib.contextmanager
def quiet_hub_logs() -> Iterator[None]:
    """The hub logs each refusal at INFO; during the stream the progress bars and the summary
    report them, so INFO lines would only tear the display."""
    logger = logging.getLogger("hub")
    previous = logger.level
    if logger.getEffectiveLevel() >= logging.INFO:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(previous)


#: This machine's servers, used when ``hub demo --store postgresql``/``--broker rabbitmq`` is
#: given without a URL.
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
DEMO_SCHEMA = "hub_demo"
DEMO_VHOST = "hub-demo"


def prepare_backends(
    store: str, broker: str, store_url: str | None, broker_url: str | None
) -> dict[str, str]:
    """``create_workdir`` options for the chosen backends, emptied for a fresh run: the
    PostgreSQL schema ``hub_demo`` is dropped; RabbitMQ gets a fresh vhost ``hub-demo`` when
    ``rabbitmqctl`` is available here (otherwise the URL's vhost is used as it is)."""
    options: dict[str, str] = {"store": store, "broker": broker}
    if store == "postgresql":
        import psycopg
        from psycopg import sql

        from hub.store.postgres.migrate import mask_dsn, scrub

        url = store_url or DEFAULT_PG_URL
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(DEMO_SCHEMA))
                )
        except psycopg.Error as exc:
            raise DemoError(f"PostgreSQL {mask_dsn(url)}: {scrub(str(exc), url)}") from None
        options |= {"store_url": url, "store_schema": DEMO_SCHEMA}
    if broker == "rabbitmq":
        amqp = broker_url
        if amqp is None:
            amqp = DEFAULT_AMQP
            if shutil.which("rabbitmqctl"):
                # A fresh vhost: queues left by an earlier run would hold entries for
                # packages this run's store never saw.
                for args in (
                    ["delete_vhost", DEMO_VHOST],
                    ["add_vhost", DEMO_VHOST],
                    ["set_permissions", "-p", DEMO_VHOST, "guest", ".*", ".*", ".*"],
                ):
                    subprocess.run(
                        ["rabbitmqctl", "-q", *args], capture_output=True, check=False, timeout=60
                    )
                amqp = DEFAULT_AMQP + DEMO_VHOST
        options["broker_url"] = amqp
    return options


def _shown(path: Path) -> str:
    """A path as a person would paste it: relative to the current directory when inside it."""
    try:
        return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
    except ValueError:  # pragma: no cover - other drive on Windows
        return str(path)


log = logging.getLogger("hub.demo")

DEMO_STOP_SECONDS = 30.0
"""How long stopping the demo's HTTP server or push receiver may take before it gives up."""


async def bounded_stop(what: str, stopping: Awaitable[None]) -> None:
    """Await ``stopping`` for at most :data:`DEMO_STOP_SECONDS`; past that, say so and go on
    (the process is ending: what did not close is abandoned to its exit)."""
    try:
        async with asyncio.timeout(DEMO_STOP_SECONDS):
            await stopping
    except TimeoutError:
        log.warning("%s did not stop within %.0f s; going on", what, DEMO_STOP_SECONDS)


STALL_SECONDS = 60.0
"""The demo gives up on its stream only after this long without any package accepted,
delivered or acknowledged: a busy machine makes it slower, never wrong."""


async def finish_or_stall(
    task: asyncio.Task[None], progress: Callable[[], object], stall: float
) -> bool:
    """Wait for ``task`` while ``progress()`` keeps changing; ``False`` (and the task
    cancelled) once it has not changed for ``stall`` seconds."""
    loop = asyncio.get_running_loop()
    seen, moved = progress(), loop.time()
    while True:
        done, _ = await asyncio.wait({task}, timeout=0.5)
        if done:
            task.result()
            return True
        now = progress()
        if now != seen:
            seen, moved = now, loop.time()
        elif loop.time() - moved > stall:
            await cancel_and_wait(task)
            return False


async def run_demo(
    workdir: Path,
    *,
    port: int = 8080,
    documents: int = 200,
    dossiers: int = 20,
    seed: int = 2015,
    keep_serving: bool = False,
    store: str = "sqlite",
    broker: str = "local",
    store_url: str | None = None,
    broker_url: str | None = None,
    dossier_tick: float | None = None,
) -> bool:
    """Run the demo; ``True`` when every outcome matched what was expected.

    Raises :class:`DemoError` when the demo cannot run at all (a busy port, a workdir that is
    not the demo's, unreachable servers): the CLI prints it and exits 2. ``port=0`` picks a
    free port. ``dossier_tick`` slows the dossier flow's systems (tests of the stall logic).

    ``store="postgresql"``/``broker="rabbitmq"`` run the same scenario on real servers (this
    machine's by default, see :func:`prepare_backends`), starting from an empty schema and
    vhost so the self-check's counts are this run's.
    """
    out, err = Console(), Console(stderr=True)
    if not out.is_terminal:  # piped or captured: rich would assume 80 columns
        out = Console(width=120)
    started = time.perf_counter()
    # The port first: a busy one ends the demo at once, before any PKI or server is set up.
    port = await asyncio.to_thread(claim_port, port)
    root = await asyncio.to_thread(workdir.resolve)
    await asyncio.to_thread(fresh_data, root)
    receiver = PushReceiver(G12)
    push_url = await receiver.start()
    try:
        specs = demo_agencies(push_url)
        err.print(f"preparing [bold]{_shown(root)}[/]: dev PKI, {len(specs)} agencies, config …")
        backends = await asyncio.to_thread(prepare_backends, store, broker, store_url, broker_url)
        wd = await asyncio.to_thread(
            functools.partial(
                create_workdir,
                root,
                (*specs, *DOSSIER_AGENCIES),
                port=port,
                store=backends["store"],
                store_url=backends.get("store_url", ""),
                store_schema=backends.get("store_schema", "hub"),
                broker=backends["broker"],
                broker_url=backends.get("broker_url", ""),
            )
        )
        receiver.secret = wd.push_secret(G12)
        await asyncio.to_thread(add_dossier_routes, wd.config_dir)
        await asyncio.to_thread(write_examples, wd)  # the README's walkthrough signs these
        config = load_config(wd.config_dir)
        async with Runtime(config) as runtime:
            await register_systems(  # one VXP system per agency (pki/agencies/*/vxp.toml)
                runtime.store,
                wd.pki_dir,
                known_agencies=frozenset(config.agencies),
                data_dir=config.settings.data_dir,
                now=runtime.clock(),
            )
            runner = web.AppRunner(
                build_app(runtime), access_log=None, **runner_options(config.settings.http)
            )
            await runner.setup()
            try:
                await web.TCPSite(runner, "127.0.0.1", port).start()
            except OSError as exc:  # taken since claim_port looked
                await runner.cleanup()
                raise DemoError(_busy(port, exc)) from exc
            base_url = f"http://127.0.0.1:{port}"
            err.print(
                f"hub listening on [bold]{base_url}/v1/[/] "
                f"({runtime.executor.processes} verification processes); "
                f"{G12} is pushed to {push_url}"
            )
            if runtime.config.settings.vxp.enabled:
                err.print(
                    f"VXP facade for the national axis SDK on {base_url}"
                    f"{runtime.config.settings.vxp.base_path} (one system per agency: "
                    "pki/agencies/<OrganId>/vxp.toml)"
                )
            try:
                ok = await _exchange(
                    wd,
                    specs_ids=[s.organ_id for s in specs],
                    runtime=runtime,
                    receiver=receiver,
                    base_url=base_url,
                    documents=documents,
                    dossiers=dossiers,
                    dossier_tick=dossier_tick,
                    seed=seed,
                    out=out,
                    err=err,
                    started=started,
                )
                _print_credentials(out, wd, base_url, serving=keep_serving)
                if keep_serving:
                    await _serve_until_stopped(out, wd, base_url)
            finally:
                await bounded_stop("the demo's HTTP server", runner.cleanup())
    finally:
        await bounded_stop("the push receiver", receiver.stop())
    return ok


async def _exchange(
    wd: Workdir,
    *,
    specs_ids: list[str],
    runtime: Runtime,
    receiver: PushReceiver,
    base_url: str,
    documents: int,
    dossiers: int,
    dossier_tick: float | None,
    seed: int,
    out: Console,
    err: Console,
    started: float,
) -> bool:
    """Drive the stream and the refusals, then check and summarise."""
    loop = asyncio.get_running_loop()
    plan = make_plan(documents, specs_ids, seed)
    planned_packages, planned_deliveries = planned_totals(plan)
    ledger = Ledger()
    specs = tuple(demo_agencies(receiver.url))
    async with (
        Agencies(wd, specs, base_url, ledger) as agencies,
        DossierFlow(
            wd,
            base_url,
            count=dossiers,
            seed=seed,
            **({} if dossier_tick is None else {"tick": dossier_tick}),
        ) as flow,
    ):
        receiver.agencies, receiver.ledger = agencies, ledger
        with (
            quiet_hub_logs(),
            Progress(
                TextColumn("{task.description:<26}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
            ) as progress,
        ):
            bars = {
                "accepted": progress.add_task("signed and accepted", total=planned_packages),
                "delivered": progress.add_task("delivered (pull + push)", total=planned_deliveries),
                "acked": progress.add_task("acknowledged", total=planned_deliveries),
            }
            moves = [0]

            def advance(name: str, n: int) -> None:
                moves[0] += n
                progress.advance(bars[name], n)

            ledger.advance = advance
            stop = asyncio.Event()
            pullers = [
                asyncio.create_task(agencies.pull(s.organ_id, stop))
                for s in specs
                if s.delivery == "pull"
            ]
            refusing = asyncio.create_task(
                run_refusals(agencies, ledger, base_url, runtime.config.settings.max_package_bytes)
            )
            # the citizen-dossier flow runs beside the document stream, on its own agencies
            dossier_flow = asyncio.create_task(flow.run())
            stream = asyncio.create_task(_stream(agencies, ledger, plan))
            if not await finish_or_stall(stream, lambda: moves[0], STALL_SECONDS):
                ledger.anomalies.append(
                    f"the stream stopped moving for {STALL_SECONDS:.0f} s: "
                    f"{sum(not s.done() for s in ledger.accepted())} packages undelivered"
                )
            stream_end = loop.time()
            refusals: Refusals = await refusing
            stop.set()
            await asyncio.gather(*pullers)
            await dossier_flow
        facts = await gather_hub_facts(agencies, runtime.store, G12)
        checks = self_check(
            ledger,
            refusals,
            facts,
            planned_packages=planned_packages,
            push_agency=G12,
            ca_pem=wd.pki_dir / "ca.pem",
            other_packages=flow.packages,
        )
        checks += flow.checks()
        stream_seconds = stream_end - (ledger.first_submit or stream_end) or 1e-9
        render(
            out,
            ledger=ledger,
            refusals=refusals,
            facts=facts,
            checks=checks,
            agencies=agencies,
            push_agency=G12,
            stream_seconds=stream_seconds,
            total_seconds=time.perf_counter() - started,
            extra_tables=[flow.table()],
        )
    ok = all(c.ok for c in checks)
    out.print(
        "[bold green]demo OK[/]: every outcome matched"
        if ok
        else "[bold red]demo FAILED[/]: outcomes differ from what was expected (above)"
    )
    return ok


async def _stream(agencies: Agencies, ledger: Ledger, plan: list[DocPlan]) -> None:
    """Every sender works through its documents; done once everything sent — documents and
    the status packages they drew — has been delivered and acknowledged."""
    queues: dict[str, asyncio.Queue[DocPlan]] = defaultdict(asyncio.Queue)
    for doc in plan:
        queues[doc.sender].put_nowait(doc)

    async def worker(queue: asyncio.Queue[DocPlan]) -> None:
        while not queue.empty():
            await agencies.send_document(queue.get_nowait())

    await asyncio.gather(*(worker(q) for q in queues.values() for _ in range(SENDER_CONCURRENCY)))
    while agencies.tasks or not ledger.all_done():
        await agencies.settle()
        await asyncio.sleep(0.02)


def _print_credentials(out: Console, wd: Workdir, base_url: str, *, serving: bool) -> None:
    """Where a person finds each agency's identity, and a line to paste."""
    agencies = _shown(wd.pki_dir / "agencies")
    out.print(
        f"\ncredentials: [bold]{agencies}/<OrganId>/{{key.pem,cert.pem,token}}[/]; "
        f"CA {_shown(wd.pki_dir / 'ca.pem')}; hub receipt certificate "
        f"{_shown(wd.pki_dir / 'hub' / 'cert.pem')}; configuration {_shown(wd.config_dir)}"
    )
    g22 = f"{agencies}/{G22}"
    when = "" if serving else f" (with --serve, or `hub serve --config {_shown(wd.config_dir)}`)"
    out.print(f"try{when}:")
    out.print(
        f"  curl -s '{base_url}/v1/outbox?limit=3' -H \"Authorization: Bearer $(cat {g22}/token)\"",
        soft_wrap=True,
    )


async def _serve_until_stopped(out: Console, wd: Workdir, base_url: str) -> None:
    """Keep the hub (and the push receiver) up until Ctrl-C or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    out.print(
        f"\nhub serving on [bold]{base_url}/v1/[/] (Ctrl-C to stop). Walkthrough: "
        "README.md, 'Be an agency by hand (curl)'. For example, as Nghệ An "
        f"({H41}):"
    )
    token = _shown(wd.pki_dir / "agencies" / H41 / "token")
    out.print(
        f'  curl -s {base_url}/v1/inbox -H "Authorization: Bearer $(cat {token})"', soft_wrap=True
    )
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    out.print("stopping: finishing in-flight work …")
