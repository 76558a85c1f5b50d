"""Cost of reading the agency overrides before each request (issue 13, ``FreshOverrides``):
``GET /v1/inbox`` throughput, sequential and 32 concurrent, with and without the read,
alternating twice (the machine is shared: compare the pairs, expect noise).

    .venv/bin/python benchmarks/overrides_read.py            # SQLite
    .venv/bin/python benchmarks/overrides_read.py postgresql # PG_DSN, a throw-away schema
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import psycopg
from aiohttp.test_utils import TestServer

from hub.api.app import build_app
from hub.config import load_config
from hub.demo.workdir import create_workdir
from hub.runtime import Runtime

PG_DSN = os.environ.get("PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


async def throughput(url: str, token: str, n: int, concurrency: int) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate, session.get(f"{url}/v1/inbox?limit=10", headers=headers) as r:
                assert r.status == 200
                await r.read()

        await asyncio.gather(*[one() for _ in range(50)])  # warm-up
        started = time.perf_counter()
        await asyncio.gather(*[one() for _ in range(n)])
        return n / (time.perf_counter() - started)


async def main(store: str) -> None:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    options = (
        {"store": "postgresql", "store_url": PG_DSN, "store_schema": schema}
        if store == "postgresql"
        else {}
    )
    workdir = create_workdir(Path(tempfile.mkdtemp()), **options)
    try:
        async with Runtime(load_config(workdir.config_dir)) as runtime:
            server = TestServer(build_app(runtime))
            await server.start_server()
            url = str(server.make_url("")).rstrip("/")
            token = workdir.token("000.00.00.G22")
            read = runtime.overrides.sync

            async def no_read() -> None:
                return None

            for label, sync in (("read", read), ("no read", no_read)) * 2:
                runtime.overrides.sync = sync  # type: ignore[method-assign]
                sequential = await throughput(url, token, 1000, 1)
                concurrent = await throughput(url, token, 2000, 32)
                print(
                    f"{store} {label:8s} sequential {sequential:6.0f} req/s, "
                    f"32 concurrent {concurrent:6.0f} req/s"
                )
            await server.close()
    finally:
        if store == "postgresql":
            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "sqlite"))
