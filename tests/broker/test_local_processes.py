"""Two real processes consume one LocalBroker file: every entry is acked exactly once."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from hub.broker.local import LocalBroker
from tests.contracts.broker_contract import entries

CONSUMER = r"""
import asyncio, pathlib, sys
from hub.broker.local import LocalBroker

async def main():
    ready = pathlib.Path(sys.argv[1] + ".ready")
    async with LocalBroker(sys.argv[1], poll_interval=0.02, lease_seconds=30) as broker:
        # A barrier: neither consumer starts before both are up, so a slow start (a busy
        # machine) cannot let one process take everything.
        with ready.open("a") as f:
            f.write(sys.argv[2] + "\n")
        while len(ready.read_text().split()) < 2:
            await asyncio.sleep(0.02)
        loop = asyncio.get_running_loop()
        last = loop.time()

        async def work():
            nonlocal last
            async for message in broker.consume(prefetch=8):
                await message.ack()
                sys.stdout.write(message.package_id + "\n")
                sys.stdout.flush()
                last = loop.time()
                await asyncio.sleep(0.002)  # a little work per entry, as a dispatcher does

        task = asyncio.create_task(work())
        while loop.time() - last < 2.0:  # stop after 2 s without work
            await asyncio.sleep(0.05)
        task.cancel()

asyncio.run(main())
"""


async def test_two_processes_share_the_queue(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    async with LocalBroker(path) as broker:
        await broker.publish(entries(400))
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CONSUMER,
            str(path),
            str(n),
            cwd=root,
            env=env,
            stdout=asyncio.subprocess.PIPE,
        )
        for n in range(2)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 120)
    seen = [line for out, _ in outputs for line in out.decode().split()]
    per_process = [len(out.split()) for out, _ in outputs]
    assert sorted(seen) == [e.package_id for e in entries(400)]  # each exactly once
    assert all(p.returncode == 0 for p in procs)
    assert min(per_process) > 0, per_process  # both took part
