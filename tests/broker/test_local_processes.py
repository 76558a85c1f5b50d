"""Two real processes consume one LocalBroker file: every entry is acked exactly once."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from hub.broker.local import LocalBroker
from tests.contracts.broker_contract import entries

CONSUMER = r"""
import asyncio, pathlib, sqlite3, sys
from hub.broker.local import LocalBroker

def waiting(path):
    # Entries not yet acked (an ack deletes the row).
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT COUNT(*) FROM broker_queue").fetchone()[0]

async def barrier(path, me):
    # Each process adds its name; go on once both have (bounded: a hang guard only).
    with path.open("a") as f:
        f.write(me + "\n")
    for _ in range(3000):
        if len(path.read_text().split()) >= 2:
            return
        await asyncio.sleep(0.02)
    raise SystemExit(f"the other consumer never reached {path.name}")

async def main():
    me = sys.argv[2]
    async with LocalBroker(sys.argv[1], poll_interval=0.02, lease_seconds=30) as broker:
        # Neither consumer starts before both are up, and neither acks before both hold an
        # entry: both take part however the machine schedules the two processes.
        await barrier(pathlib.Path(sys.argv[1] + ".ready"), me)
        first = True

        async def work():
            nonlocal first
            async for message in broker.consume(prefetch=8):
                if first:
                    first = False
                    await barrier(pathlib.Path(sys.argv[1] + ".first"), me)
                await message.ack()
                sys.stdout.write(message.package_id + "\n")
                sys.stdout.flush()
                await asyncio.sleep(0.002)  # a little work per entry, as a dispatcher does

        task = asyncio.create_task(work())
        # Stop when every entry is acked (by either process), not after a pause in the work.
        while await asyncio.to_thread(waiting, sys.argv[1]):
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
