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

Messages are pickled by :func:`dumps`, which writes a frozen slots dataclass (the check's
result is 17 of them) as its class's name and a tuple of its field values, rebuilt by one
function with the field names looked up once per class. The ``dataclasses`` default calls
``fields()`` for every instance both ways and names every class as a global the unpickler
imports: half of a round trip's cost in the server (see :func:`dumps`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import importlib
import io
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
from operator import attrgetter
from types import TracebackType
from typing import Any, ParamSpec, Self, TypeVar

from hub.aio import cancel_and_wait
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


# -- compact pickles of slots dataclasses ----------------------------------------------------

_Reducer = Callable[[Any], tuple[Callable[..., Any], tuple[str, tuple[Any, ...]]]]
_reducers: dict[type, _Reducer | None] = {}
_builders: dict[str, Callable[[tuple[Any, ...]], Any]] = {}
_new = object.__new__
_set = object.__setattr__


def _default_dataclass_state(cls: type) -> bool:
    """True for a frozen dataclass made with ``slots=True`` whose pickled state is the one the
    ``dataclasses`` module gives it: its fields' values, nothing else (not a subclass that
    adds attributes, not a class with its own ``__getstate__`` or ``__reduce__``)."""
    getstate = cls.__dict__.get("__getstate__")
    return (
        dataclasses.is_dataclass(cls)
        and getattr(getstate, "__qualname__", "") == "_dataclass_getstate"
        and "__reduce__" not in cls.__dict__
        and "__reduce_ex__" not in cls.__dict__
    )


def _class_name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _reducer_for(cls: type) -> _Reducer | None:
    if not _default_dataclass_state(cls):
        return None
    name = _class_name(cls)
    names = tuple(f.name for f in dataclasses.fields(cls))
    if len(names) == 1:
        (only,) = names

        def reduce_one(obj: Any) -> Any:
            return _rebuild, (name, (getattr(obj, only),))

        return reduce_one
    values = attrgetter(*names)

    def reduce(obj: Any) -> Any:
        return _rebuild, (name, values(obj))

    return reduce


def _builder_for(name: str) -> Callable[[tuple[Any, ...]], Any]:
    """The function that rebuilds an instance of the class called ``name`` from its field
    values, as the ``dataclasses`` default unpickling does (no ``__init__``)."""
    module, _, qualname = name.partition(":")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    cls: type = found
    if not _default_dataclass_state(cls):  # pragma: no cover - the two sides run one code
        raise pickle.UnpicklingError(f"{name} is not a slots dataclass")
    names = tuple(f.name for f in dataclasses.fields(cls))

    def build(values: tuple[Any, ...]) -> Any:
        obj: Any = _new(cls)
        for field, value in zip(names, values, strict=True):
            _set(obj, field, value)
        return obj

    _builders[name] = build
    return build


def _rebuild(name: str, values: tuple[Any, ...]) -> Any:
    """Unpickle one instance written by :func:`dumps`."""
    build = _builders.get(name)
    if build is None:
        build = _builder_for(name)
    return build(values)


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        # Not called for str, bytes, int, float, None, bool, tuple, list, dict, set: cheap.
        cls = type(obj)
        try:
            reduce = _reducers[cls]
        except KeyError:
            reduce = _reducers[cls] = _reducer_for(cls)
        return NotImplemented if reduce is None else reduce(obj)


def dumps(obj: Any) -> bytes:
    """``pickle.dumps(obj)``, with every slots dataclass inside written compactly (see the
    module); ``pickle.loads`` reads it back into equal objects.

    Measured on the check's result of a ~20 KB package (17 instances of 15 classes):
    pickling 45 → 17 µs, unpickling 48 → 27 µs."""
    buffer = io.BytesIO()
    _Pickler(buffer, pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


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
            payload = dumps(answer)
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
    """One worker process, the loop's end of its socket, and the calls sent to it.

    Calls are written as they come and answered in order (the worker runs them one after
    the other), so a second call can wait in the worker's socket while the first runs: the
    worker never idles between two calls while the loop is busy elsewhere. A reader task
    matches each answer to the oldest call waiting."""

    def __init__(
        self,
        process: SpawnProcess,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_lost: Callable[[_Worker], None],
    ) -> None:
        self.process = process
        self.writer = writer
        self.waiting: collections.deque[asyncio.Future[bytes]] = collections.deque()
        self.lost = False
        self._on_lost = on_lost
        self._reader = asyncio.get_running_loop().create_task(
            self._read(reader), name=f"hub-procpool-read-{process.pid}"
        )

    def send(self, payload: bytes) -> asyncio.Future[bytes]:
        """Write one call (one write, one system call: a header sent alone would wake the
        worker for 4 bytes); the future is its answer."""
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        self.writer.write(_frame(payload) + payload)
        return future

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                (n,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                if n == -1:
                    (n,) = _LONG_HEADER.unpack(await reader.readexactly(_LONG_HEADER.size))
                answer = await reader.readexactly(n)
                future = self.waiting.popleft()
                if not future.done():
                    future.set_result(answer)
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            self._lose(exc)
        except asyncio.CancelledError:
            self._lose(None)
            raise

    def _lose(self, exc: BaseException | None) -> None:
        self.lost = True
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                lost = WorkerLost(
                    "the verification worker stopped while checking this submission; retry"
                )
                lost.__cause__ = exc
                future.set_exception(lost)
        self._on_lost(self)

    async def close(self, grace: float) -> None:
        """Close the socket (the worker exits at EOF), wait for it, kill it if it hangs."""
        self.writer.close()
        await asyncio.to_thread(self.process.join, grace)
        if self.process.is_alive():
            log.warning("worker %s did not stop, killing it", self.process.pid)
            self.process.kill()
            await asyncio.to_thread(self.process.join, grace)
        await cancel_and_wait(self._reader)


class ProcessPool:
    """``processes`` worker processes (``spawn``); an async context manager.

    ``await pool.call(fn, *args)`` runs ``fn(*args)`` in a worker and returns its result or
    raises its exception (with the worker's traceback as ``__cause__``). A call goes to the
    worker with the fewest calls waiting, the most recently used among those (a lone client
    keeps one warm worker); a worker is started when every running one is busy, up to
    ``processes``, and runs ``initializer(*initargs)`` first. Up to ``depth`` calls wait per
    worker; further callers wait their turn in order. A caller cancelled while its call runs
    does not stop the call: the worker finishes it and the answer is dropped.
    """

    def __init__(
        self,
        processes: int,
        *,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        name: str = "hub-worker",
        depth: int = 2,
    ) -> None:
        if processes < 1 or depth < 1:
            raise ValueError("a process pool needs at least one process and a depth of 1")
        self.processes = processes
        self.depth = depth
        self.name = name
        self._initializer = initializer
        self._initargs = initargs
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []  # the most recently used last
        self._slots = asyncio.Semaphore(processes * depth)
        self._starting: set[asyncio.Task[_Worker]] = set()
        self._closed = False
        self.replaced = 0  # workers that died and were dropped (a new one starts on demand)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def pending(self) -> int:
        """Calls sent to a worker and not answered yet."""
        return sum(len(w.waiting) for w in self._workers)

    async def call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn(*args)`` in a worker process (no keyword arguments)."""
        if kwargs:
            raise TypeError("ProcessPool.call passes positional arguments only")
        if self._closed:
            raise Unavailable(f"{self.name}: the worker processes are stopped")
        payload = dumps((fn, args))
        await self._slots.acquire()
        try:
            worker = await self._pick()
            future = worker.send(payload)
        except BaseException:
            self._slots.release()
            raise
        # The slot is freed by the answer, not by the caller: a cancelled caller's call
        # still occupies its worker until it is answered.
        future.add_done_callback(lambda _: self._slots.release())
        with contextlib.suppress(ConnectionError):  # a lost worker fails the future instead
            await worker.writer.drain()  # only waits for a payload the socket has not taken
        answer = await asyncio.shield(future)
        ok, value, remote = pickle.loads(answer)  # noqa: S301 - from our own worker
        if ok:
            return value  # type: ignore[no-any-return]
        if remote is not None and isinstance(value, BaseException):
            value.__cause__ = RemoteTraceback(remote)
        raise value

    async def _pick(self) -> _Worker:
        """The worker with the fewest calls waiting, the most recently used among them; a
        new one while every running worker is busy and there is room."""
        while True:
            for worker in [w for w in self._workers if not w.process.is_alive()]:
                self._lost(worker)  # dead before its socket told: never counted as room
            best: _Worker | None = None
            for worker in reversed(self._workers):
                if best is None or len(worker.waiting) < len(best.waiting):
                    best = worker
            room = len(self._workers) + len(self._starting) < self.processes
            if best is not None and (not best.waiting or not room):
                self._workers.remove(best)
                self._workers.append(best)
                return best
            if room:
                start = asyncio.get_running_loop().create_task(self._start())
                self._starting.add(start)
                return await asyncio.shield(start)
            # Every worker is starting: wait for one (a start that failed is not retried
            # here; the next loop starts another).
            await asyncio.wait(
                [asyncio.shield(t) for t in self._starting], return_when=asyncio.FIRST_COMPLETED
            )

    def _lost(self, worker: _Worker) -> None:
        """A worker's socket ended: drop it (a new one starts when needed)."""
        if worker not in self._workers:  # closing: the pool stops it itself
            return
        self._workers.remove(worker)
        log.warning(
            "%s: worker %s ended (exit code %s); a new one starts when needed",
            self.name,
            worker.process.pid,
            worker.process.exitcode,
        )
        self.replaced += 1
        if worker.process.is_alive():  # its socket broke but it runs: never leave it behind
            worker.process.kill()
        worker.writer.close()

    async def _start(self) -> _Worker:
        """Spawn a worker and add it to the pool (as one task: whoever waits for it finds it
        in the pool once the task is done)."""
        try:
            worker = await self._spawn()
            if self._closed:  # closed while it started: stop it, nobody will call it
                await worker.close(grace=10.0)
                raise Unavailable(f"{self.name}: the worker processes are stopped")
            self._workers.append(worker)
            return worker
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._starting.discard(task)

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
        return _Worker(process, reader, writer, self._lost)

    async def close(self, grace: float = 10.0) -> None:
        """Let calls already sent finish, then stop every worker (killed after ``grace``
        seconds)."""
        if self._closed:
            return
        self._closed = True
        workers = list(self._workers)
        waiting = [f for w in workers for f in w.waiting]
        if waiting:
            await asyncio.gather(*waiting, return_exceptions=True)
        self._workers.clear()
        for worker in workers:
            await worker.close(grace)
