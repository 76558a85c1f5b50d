"""hub.aio: cancelling a background task without absorbing the caller's own cancellation."""

from __future__ import annotations

import asyncio

import pytest

from hub.aio import StartStop, cancel_and_wait


class SlowToStop:
    """A background task that, once cancelled, takes until ``release`` to unwind (a store
    write in a ``finally``, a connection close)."""

    def __init__(self, *, fail_while_unwinding: bool = False) -> None:
        self.unwinding = asyncio.Event()
        self.release = asyncio.Event()
        self.fail_while_unwinding = fail_while_unwinding
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.unwinding.set()
            await self.release.wait()
            if self.fail_while_unwinding:
                raise RuntimeError("the close failed") from None
            raise


async def bounded(event: asyncio.Event) -> None:
    async with asyncio.timeout(10):
        await event.wait()


async def test_the_tasks_own_cancellation_is_absorbed() -> None:
    child = asyncio.create_task(asyncio.Event().wait())
    await asyncio.sleep(0)
    await cancel_and_wait(child)
    assert child.cancelled()


async def test_a_task_already_finished_is_waited_for_quietly() -> None:
    child = asyncio.create_task(asyncio.sleep(0))
    await child
    await cancel_and_wait(child)


async def test_the_callers_cancellation_propagates_while_the_task_unwinds() -> None:
    child = SlowToStop()
    await asyncio.sleep(0)
    after: list[str] = []

    async def stop() -> None:
        await cancel_and_wait(child.task)
        after.append("went on as if not cancelled")

    caller = asyncio.create_task(stop())
    await bounded(child.unwinding)
    caller.cancel()
    await asyncio.wait({caller})
    assert caller.cancelled()
    assert after == []
    assert not child.task.done()  # left to finish unwinding on its own
    child.release.set()
    await asyncio.wait({child.task})
    assert child.task.cancelled()


async def test_a_timeout_bounding_the_wait_fires() -> None:
    child = SlowToStop()
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(None) as deadline:

            async def expire_once_unwinding() -> None:
                await child.unwinding.wait()
                deadline.reschedule(loop.time())

            trigger = asyncio.create_task(expire_once_unwinding())
            await cancel_and_wait(child.task)
    await trigger
    child.release.set()
    await asyncio.wait({child.task})


async def test_a_caller_cleaning_up_after_its_own_cancellation_still_waits() -> None:
    # Its cancelling() count is already 1 during the clean-up: that is no new cancellation.
    child = SlowToStop()
    await asyncio.sleep(0)
    waited: list[bool] = []

    async def serve() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await cancel_and_wait(child.task)
            waited.append(child.task.done())

    server = asyncio.create_task(serve())
    await asyncio.sleep(0)
    server.cancel()
    await bounded(child.unwinding)
    child.release.set()
    await asyncio.wait({server})
    assert server.cancelled()
    assert waited == [True]


async def test_an_exception_raised_while_unwinding_is_raised_to_the_caller() -> None:
    child = SlowToStop(fail_while_unwinding=True)
    await asyncio.sleep(0)
    child.release.set()
    with pytest.raises(RuntimeError, match="the close failed"):
        await cancel_and_wait(child.task)


async def test_start_stop_is_an_async_context_manager() -> None:
    calls: list[str] = []

    class Component(StartStop):
        async def start(self) -> None:
            calls.append("start")

        async def stop(self) -> None:
            calls.append("stop")

    component = Component()
    with pytest.raises(RuntimeError):
        async with component as entered:
            assert entered is component and calls == ["start"]
            raise RuntimeError("the body failed")
    assert calls == ["start", "stop"]  # stopped even when the body raised
