"""Small asyncio helpers shared by the store, the embedded brokers and the hub's background
tasks."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Any, Self


async def wait_event(event: asyncio.Event, seconds: float) -> None:
    """Wait for ``event`` at most ``seconds``; return quietly either way.

    ``asyncio.timeout`` rather than ``wait_for``: on Python 3.11, ``wait_for`` can swallow a
    cancellation that races its own timeout, which left a consumer polling forever after its
    task had been cancelled (seen in the broker contract suite).
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has finished unwinding.

    The task's own cancellation is absorbed; an exception it raised (before or while
    unwinding) is raised here. The *caller's* cancellation is never absorbed: if the caller
    is cancelled while it waits (an ``asyncio.timeout`` bounding a shutdown, a signal
    cancelling the serving task), :class:`asyncio.CancelledError` propagates at once and the
    task is left to finish unwinding on its own.

    Why ``asyncio.wait`` and not ``suppress(CancelledError): await task``: awaiting the task
    raises its CancelledError and the caller's alike, so the suppress ate the caller's too.
    Nor ``except CancelledError: if current_task().cancelling(): raise``: a task that is
    already cleaning up after its own cancellation has ``cancelling() > 0`` for the whole
    clean-up, so every later stop step would be cut short. ``asyncio.wait`` never raises the
    task's outcome into the caller, and raises CancelledError only for the caller's own.
    """
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled():
        task.result()  # its exception, if it failed (it may also have ignored the cancel)


class StartStop:
    """An async context manager made of a component's ``start()`` and ``stop()``, for the
    background loops that are also started and stopped by hand (tests, the CLI)."""

    async def start(self) -> None:
        """Start the component (subclasses)."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Stop the component (subclasses)."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
