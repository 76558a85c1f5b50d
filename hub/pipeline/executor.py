"""Where the CPU-bound checks run: a process pool (every core) or inline.

Parsing, schema validation and signature verification hold the GIL for most of their time,
so threads would not use the second core; a process pool does. ``processes=-1`` runs the
checks inline on the event loop's thread, which tests and debugging prefer.

Memory (issue 10): a package of :data:`SPOOL_THRESHOLD` bytes or more is handed to the worker
through a temporary file instead of the pickled call. A pickled call is a second copy of the
bytes in the server (the pickle) and two in the worker (the received message and the
unpickled bytes); through a file the worker reads one. Results come back without attachment
contents (:func:`hub.pipeline.checks.without_contents`).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from types import TracebackType

from hub.pipeline.checks import (
    LARGE_PACKAGE,
    Checked,
    CheckOptions,
    check_package_for_ingest,
    warm_up,
)

SPOOL_THRESHOLD = LARGE_PACKAGE
"""Packages at least this large reach a worker process through a temporary file."""


def _spool(data: bytes) -> Path:
    """Write ``data`` to a new private temporary file (mode 0600) and return its path."""
    fd, name = tempfile.mkstemp(prefix="hub-check-", suffix=".xml")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return Path(name)


class CheckExecutor:
    """Runs :func:`check_package` in worker processes; an async context manager."""

    def __init__(self, options: CheckOptions, processes: int = 0) -> None:
        self.options = options
        self.processes = (os.cpu_count() or 1) if processes == 0 else processes
        self._pool: ProcessPoolExecutor | None = None

    async def __aenter__(self) -> CheckExecutor:
        if self.processes > 0:
            # "spawn" keeps workers free of the parent's event loop, sockets and SQLite
            # handles (fork would copy them mid-use).
            self._pool = ProcessPoolExecutor(
                max_workers=self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=warm_up,
                initargs=(self.options,),
            )
        else:
            warm_up(self.options)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    async def check(
        self, data: bytes, received_at: datetime, *, admit_legacy: bool | None = None
    ) -> Checked:
        """Check one package; raises the step's :class:`hub.errors.HubError`.

        ``admit_legacy`` (per call, since agencies' signature profiles change at runtime):
        see :func:`check_package`. The result's package model carries no attachment contents
        (see the module)."""
        if self._pool is None:
            return check_package_for_ingest(data, received_at, self.options, admit_legacy)
        loop = asyncio.get_running_loop()
        if len(data) < SPOOL_THRESHOLD:
            return await loop.run_in_executor(
                self._pool, check_package_for_ingest, data, received_at, self.options, admit_legacy
            )
        path = await asyncio.to_thread(_spool, data)
        try:
            return await loop.run_in_executor(
                self._pool, check_package_for_ingest, path, received_at, self.options, admit_legacy
            )
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
