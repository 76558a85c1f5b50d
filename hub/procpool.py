"""Worker processes called straight from the event loop: one socket each, no helper threads.

Why not :class:`concurrent.futures.ProcessPoolExecutor`: each of its calls crosses two helper
threads in the server process (the call queue's feeder thread and the executor's manager
thread, which reads the results and wakes the loop). Both need the GIL, and while the event
loop's thread is busy — as it is under load, answering agencies — a thread waiting for the GIL
waits for the interpreter's switch interval (5 ms) before it runs: measured, a lone client's
check took 2.5 ms through the executor for 0.7 ms of work. Its idle workers also all wait on
one queue, so a trickle of calls wakes them in turn, each with cold caches. And one worker that
dies (killed for memory, a crash in a C library) breaks the executor for good: every later call
raises ``BrokenProcessPool``.

:class:`ProcessPool` writes a call to a worker's socket from the loop and reads the answer with
the loop's own reader: no thread, no switch-interval wait. Idle workers are kept as a stack, so
a lone client is served by the same warm worker each time while load spreads over all of them.
A worker that dies fails only the call it was running (:class:`WorkerLost`) and is replaced.

Framing on the socket is :class:`multiprocessing.connection.Connection`'s (a big-endian 32-bit
length, or -1 and a 64-bit length), so the worker uses ``recv_bytes``/``send_bytes`` as they
are; a message is a pickle of ``(function, args)`` one way and ``(ok, value, traceback)`` the
other. Functions travel by reference: they must be importable module-level functions.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from types import TracebackType
from typing import Any, ParamSpec, Self, TypeVar

from hub.errors import Unavailable

log = logging.getLogger("hub.procpool")

P = ParamSpec("P")
R = TypeVar("R")

_HEADER = struct.Struct("!i")
_LONG_HEADER = struct.Struct("!Q")


class WorkerLost(Unavailable):
    """A worker process ended while it was running the call (it is replaced for the next)."""

    code = "hub.worker_lost"


class RemoteTraceback(Exception):
    """Carries a worker's traceback text as the ``__cause__`` of the exception it raised."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


def _serve(
    conn: Connection, initializer: Callable[..., object] | None, initargs: tuple[Any, ...]
) -> None:
    """A worker's life: run calls from ``conn`` until the server closes it."""
    # The server stops its workers by closing their sockets, after its in-flight calls have
    # finished; a Ctrl-C or a SIGTERM sent to the whole process group must not kill a check
    # half-way (the server would answer 503 for a package it could still have accepted).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            # Trusted: the message comes from the server process over a private socketpair.
            fn, args = pickle.loads(message)  # noqa: S301
            answer: tuple[bool, Any, str | None] = (True, fn(*args), None)
        except BaseException as exc:  # the caller gets it, whatever it is
            answer = (False, exc, traceback.format_exc())
        del message
        try:
            payload = pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            error = RuntimeError(f"the worker's answer could not be pickled: {exc!r}")
            payload = pickle.dumps((False, error, traceback.format_exc()))
        try:
            conn.send_bytes(payload)
        except OSError:
            return


def _frame(payload: bytes) -> bytes:
    n = len(payload)
    if n > 0x7FFFFFFF:
        return _HEADER.pack(-1) + _LONG_HEADER.pack(n)
    return _HEADER.pack(n)


class _Worker:
    """One worker process and the loop's end of its socket."""

    def __init__(
        self, process: SpawnProcess, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.process = process
        self.reader = reader
        self.writer = writer

    async def roundtrip(self, payload: bytes) -> bytes:
        # One write, one system call: a header sent alone would wake the worker for 4 bytes.
        self.writer.write(_frame(payload) + payload)
        await self.writer.drain()
        (n,) = _HEADER.unpack(await self.reader.readexactly(_HEADER.size))
        if n == -1:
            (n,) = _LONG_HEADER.unpack(await self.reader.readexactly(_LONG_HEADER.size))
        return await self.reader.readexactly(n)

    def close(self) -> None:
        self.writer.close()


class ProcessPool:
    """``processes`` worker processes (``spawn``); an async context manager.

    ``await pool.call(fn, *args)`` runs ``fn(*args)`` in a worker and returns its result or
    raises its exception (with the worker's traceback as ``__cause__``). A worker starts when a
    call finds none idle, and runs ``initializer(*initargs)`` first. At most ``processes`` calls run
    at once; the others wait their turn in order. A caller cancelled while its call runs does
    not stop the call: the worker finishes it and the answer is dropped.
    """

    def __init__(
        self,
        processes: int,
        *,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        name: str = "hub-worker",
    ) -> None:
        if processes < 1:
            raise ValueError("a process pool needs at least one process")
        self.processes = processes
        self.name = name
        self._initializer = initializer
        self._initargs = initargs
        self._context = multiprocessing.get_context("spawn")
        self._idle: list[_Worker] = []  # a stack: the warmest worker on top
        self._slots = asyncio.Semaphore(processes)
        self._running: set[asyncio.Task[bytes]] = set()
        self._closed = False
        self.replaced = 0  # workers replaced after they died

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn(*args)`` in a worker process (no keyword arguments)."""
        if kwargs:
            raise TypeError("ProcessPool.call passes positional arguments only")
        if self._closed:
            raise Unavailable(f"{self.name}: the worker processes are stopped")
        payload = pickle.dumps((fn, args), pickle.HIGHEST_PROTOCOL)
        await self._slots.acquire()
        try:
            worker = await self._take()
        except BaseException:
            self._slots.release()
            raise
        # The round trip runs as its own task so that a cancelled caller leaves the socket in
        # step: the answer is still read before the worker takes another call.
        task = asyncio.get_running_loop().create_task(self._run(worker, payload))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        answer = await asyncio.shield(task)
        ok, value, remote = pickle.loads(answer)  # noqa: S301 - from our own worker
        if ok:
            return value  # type: ignore[no-any-return]
        if remote is not None and isinstance(value, BaseException):
            value.__cause__ = RemoteTraceback(remote)
        raise value

    async def _take(self) -> _Worker:
        """The warmest idle worker; a new one when none is idle (workers start on demand, so
        a lone client never starts a second) or when the one on top died while idle."""
        while self._idle:
            worker = self._idle.pop()
            if worker.process.is_alive():
                return worker
            self._retire(worker)
            self.replaced += 1
        return await self._spawn()

    async def _run(self, worker: _Worker, payload: bytes) -> bytes:
        healthy = False
        try:
            answer = await worker.roundtrip(payload)
            healthy = True
            return answer
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            code = worker.process.exitcode
            log.warning(
                "%s: worker %s ended during a call (exit code %s)",
                self.name,
                worker.process.pid,
                code,
            )
            raise WorkerLost(
                "the verification worker stopped while checking this submission; retry"
            ) from exc
        finally:
            if healthy:
                self._idle.append(worker)
            else:
                self._retire(worker)  # the next call that finds no idle worker starts one
                self.replaced += 1
            self._slots.release()

    async def _spawn(self) -> _Worker:
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_serve,
            args=(child, self._initializer, self._initargs),
            name=self.name,
            daemon=True,
        )
        # start() forks and execs a fresh interpreter and writes it its preparation data:
        # a few milliseconds, off the loop's thread.
        await asyncio.to_thread(process.start)
        child.close()  # else the server would never see EOF when the worker dies
        sock = socket.socket(fileno=os.dup(parent.fileno()))
        parent.close()
        reader, writer = await asyncio.open_connection(sock=sock, limit=2**16)
        return _Worker(process, reader, writer)

    def _retire(self, worker: _Worker) -> None:
        worker.close()
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(timeout=0)

    async def close(self, grace: float = 10.0) -> None:
        """Let running calls finish, then stop every worker (killed after ``grace`` seconds)."""
        if self._closed:
            return
        self._closed = True
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        workers, self._idle = self._idle, []
        for worker in workers:
            worker.close()  # EOF: the worker returns from its loop and exits
        for worker in workers:
            await asyncio.to_thread(worker.process.join, grace)
            if worker.process.is_alive():
                log.warning("%s: worker %s did not stop, killing it", self.name, worker.process.pid)
                worker.process.kill()
                await asyncio.to_thread(worker.process.join, grace)
