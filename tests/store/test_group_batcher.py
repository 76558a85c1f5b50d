"""GroupBatcher's announced items (issue 12): a batch window waits only for items on their way,
so a lone item is flushed at once even right after a flush."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hub.store.batching import GroupBatcher

HOUR = 3600.0  # a window that, if it were waited out, would hang the test (guarded below)


class Recorder(GroupBatcher[str, str]):
    """Flushes by recording each batch."""

    def __init__(self) -> None:
        super().__init__(max_batch=16, max_delay=HOUR, name="test-batcher", announced=True)
        self.batches: list[list[str]] = []

    async def add(self, item: str) -> str:
        return await self._submit(item)

    async def _flush(self, items: list[str]) -> list[str]:
        self.batches.append(list(items))
        return [f"{item} done" for item in items]


@pytest.fixture
async def batcher() -> AsyncIterator[Recorder]:
    async with Recorder() as recorder:
        yield recorder


async def add(batcher: Recorder, item: str) -> str:
    """``batcher.add(item)``, failing instead of hanging if its batch waits for its window."""
    async with asyncio.timeout(10):
        return await batcher.add(item)


async def settle() -> None:
    """Let every task that can run, run."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_lone_item_right_after_a_flush_is_flushed_at_once(batcher: Recorder) -> None:
    assert await add(batcher, "first") == "first done"
    # The window of the next batch opened as that flush finished, for an hour; nothing is
    # announced, so the next lone item does not wait for it.
    assert await add(batcher, "second") == "second done"
    assert batcher.batches == [["first"], ["second"]]


async def test_a_window_waits_for_announced_items_then_closes(batcher: Recorder) -> None:
    await batcher.add("first")
    arrived = asyncio.Event()

    async def prepared_then_added() -> str:
        with batcher.coming():
            await arrived.wait()  # being checked
        return await batcher.add("announced")

    late = asyncio.create_task(prepared_then_added())
    await settle()
    waiting = asyncio.create_task(batcher.add("queued"))
    await settle()
    assert batcher.batches == [["first"]]  # "queued" waits for the announced item
    arrived.set()
    async with asyncio.timeout(10):
        assert await waiting == "queued done" and await late == "announced done"
    assert batcher.batches == [["first"], ["queued", "announced"]]


async def test_an_announced_item_that_never_comes_releases_the_window(
    batcher: Recorder,
) -> None:
    await batcher.add("first")
    refused = asyncio.Event()

    async def refused_while_checked() -> None:
        with batcher.coming():
            await refused.wait()
            raise ValueError("refused by its checks")

    doomed = asyncio.create_task(refused_while_checked())
    await settle()
    waiting = asyncio.create_task(batcher.add("queued"))
    await settle()
    assert batcher.batches == [["first"]]
    refused.set()
    with pytest.raises(ValueError, match="refused"):
        await doomed
    async with asyncio.timeout(10):
        assert await waiting == "queued done"
    assert batcher.batches == [["first"], ["queued"]]
