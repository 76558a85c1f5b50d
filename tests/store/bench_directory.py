"""Measure the agency directory at a national size (not collected by pytest).

    .venv/bin/python -m tests.store.bench_directory [--n 30000]

``n`` synthetic entries (63 provinces' departments and units, Vietnamese names) are imported
into a fresh SQLite store through ``hub agency import``'s code path; then the time of the
import, of the first listing (reads and caches the table), of a cached page, of a page
searched by name (folded words, a scan), of the last page, and of one agency. Figures are
quoted in docs/directory.md.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.audit.chain import AuditChain
from hub.config import AgencyConfig
from hub.directory import Directory, DirectoryFilter
from hub.directory_import import import_directory
from hub.registry import Registry
from hub.store.sqlite import SqliteStore

NAMES = ("Sở Tài chính", "Sở Xây dựng", "Sở Y tế", "Phòng Giáo dục và Đào tạo", "Ủy ban xã")


def export(n: int) -> bytes:
    rows = ["code,name"]
    provinces = [f"H{p:02d}" for p in range(10, 73)]
    i = 0
    for prov in provinces:
        rows.append(f"000.00.00.{prov},Ủy ban nhân dân tỉnh {prov}")
    while len(rows) - 1 < n:
        prov = provinces[i % len(provinces)]
        dept = (i // len(provinces)) % 99 + 1
        unit = i // (len(provinces) * 99)
        code = f"{unit:03d}.00.{dept:02d}.{prov}"
        # unit 0 is the department itself, written before its units (their parent)
        rows.append(f"{code},{NAMES[i % len(NAMES)]} số {i}")
        i += 1
    return ("\n".join(rows) + "\n").encode()


async def timed(what: str, fn: Callable[[], Awaitable[Any]], repeat: int = 1) -> Any:
    start = time.perf_counter()
    for _ in range(repeat):
        result = await fn()
    ms = (time.perf_counter() - start) * 1000 / repeat
    print(f"{what:<44} {ms:9.1f} ms")
    return result


async def main(n: int) -> None:
    registry = Registry(
        {"000.00.00.H29": AgencyConfig(organ_id="000.00.00.H29", name="UBND Hà Nội")}
    )
    data = export(n)
    with tempfile.TemporaryDirectory() as tmp:
        async with SqliteStore(Path(tmp) / "hub.db", chainer=AuditChain()) as store:
            at = datetime(2026, 3, 2, tzinfo=UTC)
            plan = await timed(
                f"import {n} entries (parse, check, write)",
                lambda: import_directory(store, registry, data, "csv", at=at),
            )
            assert plan.written == n, plan.written
            await timed(
                "import again (nothing changes)",
                lambda: import_directory(store, registry, data, "csv", at=at),
            )
            d = Directory(store, registry)
            await timed("first page of 100 (reads the table)", lambda: d.entries(limit=100))
            await timed("a page of 100 (cached)", lambda: d.entries(limit=100), repeat=20)
            page = await d.entries(limit=n // 2)
            await timed(
                "a page of 100 from the middle (cursor)",
                lambda: d.entries(cursor=page.next, limit=100),
                repeat=20,
            )
            flt = DirectoryFilter(q="so tai chinh")
            await timed("q='so tai chinh', first 100", lambda: d.entries(flt), repeat=5)
            rare = DirectoryFilter(q="so 12345")
            await timed("q matching one entry (whole scan)", lambda: d.entries(rare), repeat=5)
            await timed("one agency (get)", lambda: d.get("000.00.01.H29"), repeat=20)
            await timed("every entry (VXP list, no paging)", d.all, repeat=3)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30000)
    asyncio.run(main(parser.parse_args().n))
