"""hub.procpool: worker processes called from the event loop (real spawned processes)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pickle
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from hub.config import load_config
from hub.demo.factory import Signer, document
from hub.demo.workdir import Workdir
from hub.edxml import Organ
from hub.errors import AuthForbidden, Unavailable
from hub.pipeline.checks import Checked, CheckOptions, check_package_for_ingest
from hub.procpool import ProcessPool, RemoteTraceback, WorkerLost, dumps

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


# -- compact pickles of slots dataclasses -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Leaf:
    name: str
    when: datetime | None = None


@dataclass(frozen=True, slots=True)
class Tree:
    leaves: tuple[Leaf, ...]
    index: dict[str, Leaf] = field(default_factory=dict)
    note: str = field(default="", init=False)


@dataclass(frozen=True)
class Plain:  # no slots: pickled the default way (its __dict__)
    value: int


@dataclass(frozen=True, slots=True)
class Reduced:  # its own __reduce__ is kept
    value: int

    def __reduce__(self) -> tuple[object, tuple[int]]:
        return Reduced, (self.value + 1,)


@dataclass(frozen=True, slots=True)
class Single:
    only: tuple[int, ...]


def echo_object(value: object) -> object:
    return value


def test_slots_dataclasses_round_trip_compactly() -> None:
    leaf = Leaf("lá", datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC))
    tree = Tree(leaves=(leaf, Leaf("b")), index={"a": leaf})
    object.__setattr__(tree, "note", "set after init")
    payload = dumps((tree, Single((1, 2)), Plain(3), Reduced(4)))
    back = pickle.loads(payload)  # noqa: S301 - our own bytes
    assert back == (tree, Single((1, 2)), Plain(3), Reduced(5))
    assert back[0].note == "set after init"
    assert back[0].index["a"] is back[0].leaves[0]  # shared objects stay shared
    # The compact form names each class once and calls no dataclass __setstate__.
    assert b"_dataclass_setstate" not in payload and b"_rebuild" in payload
    assert payload.count(b"tests.test_procpool:Leaf") == 1


def test_the_check_result_round_trips_field_for_field(
    workdir: Workdir, signers: Callable[[str], Signer]
) -> None:
    config = load_config(workdir.config_dir)
    options = CheckOptions(
        max_size=config.settings.max_package_bytes, trust_anchors=config.settings.trust_anchors
    )
    _, data = document(
        signers("000.00.00.G22"), [Organ(organ_id="000.00.00.H41")], number=1, attachments=2
    )
    checked = check_package_for_ingest(data, datetime.now(UTC), options)
    back = pickle.loads(dumps(checked))  # noqa: S301 - our own bytes
    assert back == checked
    for f in dataclasses.fields(Checked):
        assert getattr(back, f.name) == getattr(checked, f.name), f.name
        assert type(getattr(back, f.name)) is type(getattr(checked, f.name)), f.name
    assert back.package.attachments and back.package == checked.package


async def test_a_worker_call_round_trips_slots_dataclasses(pool: ProcessPool) -> None:
    tree = Tree(leaves=(Leaf("x", datetime(2026, 1, 1, tzinfo=UTC)),), index={})
    assert await pool.call(echo_object, (tree, Plain(1), Reduced(1))) == (
        tree,
        Plain(1),
        Reduced(3),  # its __reduce__ ran on the way there and on the way back
    )
