"""Identical bytes submitted concurrently share one acceptance; when the first submitter is
interrupted, the others are told to retry (503), not that the hub failed (500)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from hub.audit.chain import AuditChain
from hub.config import HubConfig
from hub.errors import Unavailable
from hub.pipeline.accept import AcceptGroups
from hub.pipeline.executor import CheckExecutor
from hub.pipeline.ingest import Accepted, Ingestor
from hub.pipeline.relay import OutboxRelay
from hub.registry import Registry
from hub.store.memory import MemoryStore
from tests.contracts.store_contract import G22


async def test_waiters_of_an_interrupted_identical_submission_get_unavailable() -> None:
    async with MemoryStore(chainer=AuditChain()) as store:
        # Only the sharing of in-flight submissions is exercised: the acceptance itself is
        # replaced, so the other parts are never used.
        unused = cast(Any, None)
        ingestor = Ingestor(
            config=cast(HubConfig, unused),
            registry=Registry({}),
            store=store,
            groups=cast(AcceptGroups, unused),
            relay=cast(OutboxRelay, unused),
            executor=cast(CheckExecutor, unused),
        )
        accepting = asyncio.Event()

        async def slow_accept(data: bytes, caller: str) -> Accepted:
            accepting.set()
            await asyncio.Event().wait()  # until the client goes away or the hub stops
            raise AssertionError("not reached")

        ingestor._accept = slow_accept  # type: ignore[method-assign]
        find = store.find_by_sha256
        waiting = asyncio.Event()

        async def find_then_wait(sha256: str) -> Any:
            found = await find(sha256)
            if accepting.is_set():
                waiting.set()  # the second submitter goes on to wait for the first
            return found

        store.find_by_sha256 = find_then_wait  # type: ignore[method-assign]
        data = b"<edXML>the same bytes</edXML>"
        first = asyncio.create_task(ingestor.submit(data, G22))
        async with asyncio.timeout(10):
            await accepting.wait()
        second = asyncio.create_task(ingestor.submit(data, G22))
        async with asyncio.timeout(10):
            await waiting.wait()
        await asyncio.sleep(0)  # it is waiting on the shared acceptance now
        first.cancel()
        await asyncio.wait({first, second})
        assert first.cancelled()
        with pytest.raises(Unavailable, match="interrupted; retry") as refused:
            second.result()
        assert (refused.value.code, refused.value.status) == ("hub.unavailable", 503)
        assert ingestor._in_flight == {}
