"""``hub serve --workers N``: several hub processes behind one listening socket.

The parent binds the socket once and forks N workers; each worker serves from the inherited
socket (``aiohttp.web.SockSite``) with its own :class:`~hub.runtime.Runtime` — its own store
and broker connections, verification pool, dispatcher. The kernel hands each connection to
whichever worker accepts first. One shared socket rather than ``SO_REUSEPORT`` in every worker:
connections waiting in the accept queue of a worker that dies are not lost (with
``SO_REUSEPORT`` each worker has its own queue, reset when it closes), and a replacement worker
needs no new bind.

No state that matters lives in a worker: de-duplication is the store's sha256 uniqueness
(``Ingestor`` re-reads the winner after a commit), inboxes, receipts and acks are in the store,
retries and leases in the broker, agency overrides are re-read from the store every 2 s. With
``store = sqlite`` and ``broker = local`` the workers share the SQLite file (its locking
serialises writers): one host only.

The parent supervises: a worker that exits unexpectedly is replaced (with a growing pause if
it keeps dying at start-up), ``SIGTERM``/``SIGINT`` are forwarded as ``SIGTERM`` so every
worker finishes its in-flight work, and workers still running after ``stop_timeout`` are
killed.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from hub.config import HubConfig, with_settings

log = logging.getLogger("hub.workers")

#: Response header naming the worker process that answered (operators and tests see the spread).
WORKER_HEADER = "Hub-Worker"

#: A worker that dies within this many seconds of its start counts as a start-up failure.
EARLY_DEATH_SECONDS = 5.0
MAX_RESTART_PAUSE = 30.0


def per_worker_processes(configured: int, workers: int, cores: int | None = None) -> int:
    """Verification processes for each worker: the configured number when set explicitly
    (``-1`` inline, ``n > 0``), otherwise the machine's cores shared out, at least one each."""
    if configured != 0:
        return configured
    return max(1, (cores or os.cpu_count() or 1) // workers)


def bind_socket(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """The listening socket every worker inherits (IPv6 when ``host`` is an IPv6 address)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


async def serve_socket(config: HubConfig, sock: socket.socket, *, worker: int | None) -> None:
    """Serve the API from an already listening socket until SIGTERM/SIGINT (one worker)."""
    from aiohttp import web

    from hub.api.app import build_app, runner_options
    from hub.api.tls import server_ssl_context
    from hub.runtime import Runtime

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    pid = str(os.getpid())

    async def name_worker(request: web.Request, response: web.StreamResponse) -> None:
        response.headers[WORKER_HEADER] = pid

    async with Runtime(config) as runtime:
        app = build_app(runtime)
        app.on_response_prepare.append(name_worker)
        runner = web.AppRunner(app, access_log=None, **runner_options(config.settings.http))
        await runner.setup()
        site = web.SockSite(runner, sock, ssl_context=server_ssl_context(config.settings.http))
        await site.start()
        log.info("worker serving", extra={"worker": worker, "pid": os.getpid()})
        await stop.wait()
        await runner.cleanup()


def _worker_main(config: HubConfig, fd: int, index: int) -> None:
    # Forked from the supervisor: drop its signal handlers first (the event loop installs ours).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sock = socket.socket(fileno=fd)
    asyncio.run(serve_socket(config, sock, worker=index))


class Supervisor:
    """Starts ``workers`` processes on one socket, replaces dead ones, stops them all."""

    def __init__(
        self,
        config: HubConfig,
        host: str,
        port: int,
        workers: int,
        *,
        stop_timeout: float = 30.0,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        processes = per_worker_processes(config.settings.ingest_processes, workers)
        self.config = with_settings(config, ingest_processes=processes)
        self.host, self.port, self.workers = host, port, workers
        self.stop_timeout = stop_timeout
        # fork: the configuration (and the socket) are inherited as they are, nothing is
        # re-imported or re-read; the parent starts no threads or event loop before forking.
        self._ctx = multiprocessing.get_context("fork")
        self._procs: dict[int, BaseProcess] = {}
        self._started: dict[int, float] = {}
        self._failures: dict[int, int] = {}
        self._stopping = False
        self.restarts = 0

    def _start(self, index: int, sock: socket.socket) -> None:
        proc = self._ctx.Process(
            target=_worker_main,
            args=(self.config, sock.fileno(), index),
            name=f"hub-worker-{index}",
            daemon=False,
        )
        proc.start()
        self._procs[index] = proc
        self._started[index] = time.monotonic()
        log.info("worker %d started (pid %s)", index, proc.pid)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; returns the exit status for the command."""
        sock = bind_socket(self.host, self.port)
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            for index in range(self.workers):
                self._start(index, sock)
            self._supervise(sock)
        finally:
            self._stop_all()
            sock.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def _supervise(self, sock: socket.socket) -> None:
        due: dict[int, float] = {}  # worker index → when to start its replacement
        while not self._stopping:
            sentinels = {p.sentinel: i for i, p in self._procs.items() if p.is_alive()}
            wait(list(sentinels), timeout=0.5)
            now = time.monotonic()
            for index, proc in list(self._procs.items()):
                if proc.is_alive() or index in due or self._stopping:
                    continue
                early = now - self._started[index] < EARLY_DEATH_SECONDS
                self._failures[index] = self._failures.get(index, 0) + 1 if early else 0
                pause = min(MAX_RESTART_PAUSE, 0.5 * 2 ** self._failures[index]) if early else 0.0
                log.warning(
                    "worker %d (pid %s) exited with %s; restarting in %.1f s",
                    index,
                    proc.pid,
                    proc.exitcode,
                    pause,
                )
                due[index] = now + pause
            for index, when in list(due.items()):
                if now >= when and not self._stopping:
                    del due[index]
                    self.restarts += 1
                    self._start(index, sock)

    def _stop_all(self) -> None:
        for proc in self._procs.values():
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for proc in self._procs.values():
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                log.warning("worker pid %s did not stop in time: killed", proc.pid)
                proc.kill()
                proc.join(5)


def serve_workers(config: HubConfig, host: str, port: int, workers: int) -> int:
    """Run a :class:`Supervisor` (``hub serve --workers N``)."""
    return Supervisor(config, host, port, workers).run()
