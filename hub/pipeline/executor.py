"""Where the CPU-bound checks run: a process pool (every core) or inline.

Parsing, schema validation and signature verification hold the GIL for most of their time,
so threads would not use the second core; a process pool does. ``processes=-1`` runs the
checks inline on the event loop's thread, which tests and debugging prefer.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from types import TracebackType

from hub.pipeline.checks import Checked, CheckOptions, check_package, warm_up


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
        see :func:`check_package`."""
        if self._pool is None:
            return check_package(data, received_at, self.options, admit_legacy)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, check_package, data, received_at, self.options, admit_legacy
        )
