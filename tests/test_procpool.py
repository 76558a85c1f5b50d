"""hub.procpool: worker processes called from the event loop (real spawned processes)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator

import pytest

from hub.errors import AuthForbidden, Unavailable
from hub.procpool import ProcessPool, RemoteTraceback, WorkerLost

# -- what the workers run (module level: they travel by reference) ----------------------------

_initialised: list[str] = []


def remember(tag: str) -> None:
    _initialised.append(tag)


def initialised() -> list[str]:
    return list(_initialised)


def pid() -> int:
    return os.getpid()


def echo(data: bytes) -> bytes:
    return data[::-1]


def refuse(detail: str) -> None:
    raise AuthForbidden(detail)


def fail() -> None:
    raise ValueError("boom in the worker")


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def hold(path: str) -> int:
    """Wait until ``path`` exists (the test's go-ahead), then answer this worker's pid."""
    while not os.path.exists(path):
        time.sleep(0.001)
    return os.getpid()


@pytest.fixture
async def pool() -> AsyncIterator[ProcessPool]:
    async with ProcessPool(2, initializer=remember, initargs=("ready",), name="test-pool") as p:
        yield p


async def test_results_and_payloads_of_any_size_round_trip(pool: ProcessPool) -> None:
    big = os.urandom(3 * 1024 * 1024)  # far beyond a socket buffer: both directions drain
    assert await pool.call(echo, b"abc") == b"cba"
    assert await pool.call(echo, big) == big[::-1]


async def test_the_initializer_ran_in_the_worker(pool: ProcessPool) -> None:
    assert await pool.call(initialised) == ["ready"]
    assert _initialised == []  # not in this process


async def test_a_worker_error_is_raised_with_its_traceback(pool: ProcessPool) -> None:
    with pytest.raises(AuthForbidden) as refused:
        await pool.call(refuse, "not yours")
    assert refused.value.detail == "not yours"
    with pytest.raises(ValueError, match="boom in the worker") as failed:
        await pool.call(fail)
    cause = failed.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "in fail" in cause.text  # the frame in the worker


async def test_a_lone_caller_keeps_one_warm_worker(pool: ProcessPool) -> None:
    pids = {await pool.call(pid) for _ in range(20)}
    assert len(pids) == 1


async def test_concurrent_calls_use_at_most_the_pool_size(
    pool: ProcessPool, tmp_path: os.PathLike[str]
) -> None:
    go = os.path.join(tmp_path, "go")
    calls = [asyncio.create_task(pool.call(hold, go)) for _ in range(6)]
    await asyncio.sleep(0)
    open(go, "w").close()
    pids = await asyncio.gather(*calls)
    assert 1 <= len(set(pids)) <= 2


async def test_a_worker_that_dies_mid_call_fails_only_that_call(pool: ProcessPool) -> None:
    first = await pool.call(pid)
    with pytest.raises(WorkerLost) as lost:
        await pool.call(die)
    assert isinstance(lost.value, Unavailable) and lost.value.code == "hub.worker_lost"
    assert pool.replaced == 1
    again = await pool.call(pid)
    assert again != first
    assert await pool.call(echo, b"ok") == b"ko"


async def test_a_worker_that_died_while_idle_is_replaced(pool: ProcessPool) -> None:
    first = await pool.call(pid)
    os.kill(first, signal.SIGKILL)
    while True:  # until the kernel has reaped it into a zombie the pool can see
        try:
            with open(f"/proc/{first}/stat") as fh:
                if fh.read().split(")")[1].split()[0] in "ZX":
                    break
        except FileNotFoundError:
            break
        await asyncio.sleep(0.005)
    assert await pool.call(pid) != first
    assert pool.replaced == 1


async def test_a_cancelled_caller_leaves_the_worker_in_step(
    pool: ProcessPool, tmp_path: os.PathLike[str]
) -> None:
    go = os.path.join(tmp_path, "go")
    call = asyncio.create_task(pool.call(hold, go))
    await asyncio.sleep(0.05)  # let it reach the worker (it waits for `go` either way)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    open(go, "w").close()
    # The dropped answer is read before the worker's next call: each call gets its own.
    for n in range(5):
        assert await pool.call(echo, bytes([n])) == bytes([n])


async def test_a_closed_pool_refuses_calls_and_stops_its_workers() -> None:
    p = ProcessPool(1)
    worker = await p.call(pid)
    await p.close()
    with pytest.raises(Unavailable):
        await p.call(pid)
    with pytest.raises(ProcessLookupError):
        os.kill(worker, 0)


async def test_calls_waiting_in_one_worker_are_answered_in_order() -> None:
    async with ProcessPool(1, depth=3) as p:
        answers = await asyncio.gather(*(p.call(echo, bytes([n]) * n) for n in range(1, 30)))
    assert answers == [bytes([n]) * n for n in range(1, 30)]


def die_when(path: str) -> None:
    hold(path)
    die()


async def test_calls_waiting_behind_a_call_that_kills_its_worker_fail_too(
    tmp_path: os.PathLike[str],
) -> None:
    go = os.path.join(tmp_path, "go")
    async with ProcessPool(1, depth=2) as p:
        await p.call(pid)  # started
        dying = asyncio.create_task(p.call(die_when, go))
        behind = asyncio.create_task(p.call(pid))
        while p.pending < 2:  # both sent to the one worker, the first one running
            await asyncio.sleep(0.001)
        open(go, "w").close()
        results = await asyncio.gather(dying, behind, return_exceptions=True)
        assert all(isinstance(r, WorkerLost) for r in results), results
        assert await p.call(echo, b"after") == b"retfa"
