"""The agency page's probes on SQLite read a bounded number of rows, however many deliveries
the agency has acknowledged.

The dashboard's pulse runs them for every agency every two seconds, on the reader connection
the agencies' fetches wait for. Walking an agency's deliveries from the oldest to its first
open one cost time in proportion to all its acknowledged traffic (issue 12's soak). What is
counted here is SQLite virtual-machine steps, not time: about the same with 50 acknowledged
deliveries before the open ones as with 452.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hub.audit.chain import AuditChain
from hub.models import DeliveryState
from hub.store.sql.dashboard import agency_probes
from hub.store.sqlite import SqliteStore
from hub.store.sqlite.dialect import SQLITE
from tests.contracts.store_contract import G22, H41, new_package


def _steps(path: Path, recipient: str) -> list[tuple[int, object]]:
    """Per probe: SQLite VM steps to answer it for ``recipient``, and the row it found."""
    conn = sqlite3.connect(path)
    try:
        out = []
        for probe in agency_probes(SQLITE):
            steps = [0]

            def count(steps: list[int] = steps) -> int:
                steps[0] += 1
                return 0  # go on

            conn.set_progress_handler(count, 1)
            row = conn.execute(probe.sql, probe.params(recipient)).fetchone()
            conn.set_progress_handler(None, 1)
            out.append((steps[0], row))
        return out
    finally:
        conn.close()


async def _traffic(store: SqliteStore, acked: int) -> tuple[str, str]:
    """``acked`` acknowledged deliveries to H41, then the newest two: one available (not yet
    acknowledged) and one queued (not yet delivered); returns their package ids."""
    packages = [new_package(sender=G22, recipients=(H41,)) for _ in range(acked + 2)]
    await store.add_packages(packages)
    for p in packages[:acked]:
        await store.set_delivery_state(p.id, H41, DeliveryState.ACKED)
    unacked, undelivered = packages[acked:]
    await store.set_delivery_state(unacked.id, H41, DeliveryState.AVAILABLE)
    await store.set_delivery_state(undelivered.id, H41, DeliveryState.QUEUED)
    return unacked.id, undelivered.id


async def test_probes_do_not_walk_the_acknowledged_deliveries(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite"
    async with SqliteStore(path, chainer=AuditChain(), synchronous="OFF") as store:
        first = await _traffic(store, 50)
        before = _steps(path, H41)
        for package_id in first:  # both answered; 400 more, the open ones again the newest
            await store.set_delivery_state(package_id, H41, DeliveryState.ACKED)
        second = await _traffic(store, 400)
        after = _steps(path, H41)

    assert before[0][1] is not None and before[0][1][0] == first[1]  # oldest undelivered
    assert after[0][1] is not None and after[0][1][0] == second[1]
    assert before[1][1] is not None and after[1][1] is not None  # oldest unacknowledged
    for (steps_before, _), (steps_after, _) in zip(before, after, strict=True):
        # 402 more acknowledged deliveries before the open ones: at most a B-tree level more
        # to descend, never a step per acknowledged delivery
        assert steps_after - steps_before < 40, (steps_before, steps_after)
