"""Kill -9 a process that is committing: everything it was told is committed survives."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hub.audit.chain import AuditChain
from hub.store.sqlite import SqliteStore

WRITER = r"""
import asyncio, sys
from hub.audit.chain import AuditChain
from hub.store.batching import GroupCommitter
from hub.store.sqlite import SqliteStore
from tests.contracts.store_contract import new_package

async def one(committer, pkg):
    await committer.add(pkg)
    # Printed only after the commit returned: what a receipt would promise.
    sys.stdout.write(pkg.id + "\n")
    sys.stdout.flush()

async def main():
    store = SqliteStore(sys.argv[1], chainer=AuditChain())
    async with store, GroupCommitter(store) as committer:
        while True:
            await asyncio.gather(*(one(committer, new_package()) for _ in range(32)))

asyncio.run(main())
"""


async def test_committed_packages_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert proc.stdout is not None
    promised: list[str] = []
    stdout = proc.stdout

    def read_promises() -> None:
        while len(promised) < 300:
            line = stdout.readline()
            if not line:
                return
            promised.append(line.decode().strip())

    # Interpreter start-up, imports and migrations on a busy machine: the bound only turns a
    # hang into a failure (the blocking reads run in a thread so that it can be applied).
    try:
        async with asyncio.timeout(120):
            await asyncio.to_thread(read_promises)
    except TimeoutError:
        proc.kill()
        proc.wait()
        pytest.fail(f"the writer promised {len(promised)} packages in 120 s")
    proc.send_signal(signal.SIGKILL)
    promised.extend(line.decode().strip() for line in proc.stdout.read().splitlines())
    proc.wait()
    assert len(promised) >= 300, "the writer did not get going"
    async with SqliteStore(
        path, chainer=AuditChain()
    ) as store:  # recovers the WAL left by the dead process
        for package_id in promised:
            assert await store.get_package(package_id) is not None, package_id
            assert len(await store.deliveries_for(package_id)) == 1
        assert await store.count_packages() >= len(promised)
