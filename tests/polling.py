"""Bounded polls for tests: wait for a condition to hold, never for a fixed time.

The bound only turns a hang into a failure; on a busy machine a condition may take far longer
than on a quiet one, so it is generous, and nothing is asserted about how long it took.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


async def until(
    predicate: Callable[[], bool | Awaitable[bool]],
    timeout: float = 30.0,
    what: str = "condition",
    interval: float = 0.02,
) -> None:
    """Poll ``predicate`` (plain or async) until it holds; raise ``AssertionError`` naming
    ``what`` if it still does not after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"{what} not reached in {timeout} s")
        await asyncio.sleep(interval)
