"""Audit operations used by the runtime and the CLI: checkpoints, verification, reads by
third parties, and the retention purge."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from hub.aio import StartStop, cancel_and_wait
from hub.audit.checkpoint import sign_checkpoint
from hub.audit.tsa import TimestampError, TsaClient, load_tsa_roots, verify_token
from hub.audit.verify import PAGE_SIZE, AuditSource, Finding, Progress, Report, verify_stream
from hub.models import Event
from hub.receipts import ReceiptSigner
from hub.store import Store
from hub.store.records import ChainHead, CheckpointRow

log = logging.getLogger("hub.audit")

#: how far a token's genTime may precede the checkpoint's own At (clocks of hub and TSA)
TSA_CLOCK_SKEW = timedelta(minutes=5)


def fingerprints(signer: ReceiptSigner) -> frozenset[str]:
    """SHA-256 fingerprints of every published receipt certificate."""
    return frozenset(
        hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).hexdigest()
        for c in signer.certificates
    )


async def write_checkpoint(
    store: Store,
    signer: ReceiptSigner,
    hub_id: str,
    at: datetime | None = None,
    tsa: TsaClient | None = None,
) -> CheckpointRow:
    """Sign the heads of every chain now; with a TSA, time-stamp the signed bytes."""
    when = at or datetime.now(UTC)

    def build(checkpoint_id: int, previous: bytes | None, heads: list[ChainHead]) -> bytes:
        return sign_checkpoint(signer, hub_id, checkpoint_id, previous, heads, when)

    backend = store.audit()
    row = await backend.add_checkpoint(build, when)
    log.info("audit checkpoint written", extra={"checkpoint": row.id})
    if tsa is not None:
        # Requested after the commit (a TSA round trip must not hold the checkpoint lock);
        # a TSA outage leaves this checkpoint unstamped but never stops the checkpoints.
        try:
            token = await tsa.timestamp(row.document)
        except TimestampError as exc:
            log.warning("checkpoint %d not time-stamped: %s", row.id, exc)
            return row
        await backend.set_checkpoint_tst(row.id, token)
        row = dataclasses.replace(row, tst=token)
    return row


async def verify_store(
    store: Store,
    signer: ReceiptSigner,
    tsa_roots: Sequence[Path] = (),
    *,
    source: AuditSource | None = None,
    page_size: int = PAGE_SIZE,
    progress: Progress | None = None,
) -> Report:
    """Recompute every chain and check every checkpoint of ``store``, and every checkpoint's
    time-stamp token against the TSA anchors ``tsa_roots`` (``[audit] tsa_certs``).

    Streamed in pages of ``page_size`` rows (constant memory, :func:`verify_stream`);
    ``source`` replaces the store's own paged reads (tests count what is outstanding)."""
    roots: list[Any] | None = None

    async def check_token(row: CheckpointRow) -> Finding | None:
        nonlocal roots
        assert row.tst is not None
        if roots is None:
            roots = load_tsa_roots(tsa_roots)
        try:
            # In a thread: path validation runs its own event loop.
            gen_time = await asyncio.to_thread(verify_token, row.tst, row.document, roots)
        except TimestampError as exc:
            return Finding("checkpoint", f"checkpoint {row.id}: time-stamp token: {exc}")
        if gen_time < row.at - TSA_CLOCK_SKEW:
            return Finding(
                "checkpoint",
                f"checkpoint {row.id}: time-stamped at {gen_time.isoformat()}, before it "
                f"says it was written ({row.at.isoformat()})",
            )
        return None

    return await verify_stream(
        source or store.audit(),
        published_fingerprints=fingerprints(signer),
        page_size=page_size,
        progress=progress,
        on_checkpoint=check_token,
    )


async def record_read(
    store: Store, package_id: str, actor: str, purpose: str, parties: tuple[str, ...]
) -> None:
    """Audit a read of a package's bytes by anyone who is not one of its parties
    (Decree 13/2023: access to personal data is traceable). Parties' reads are the
    ``delivered``/``fetched`` flow itself and are not repeated here."""
    if actor in parties:
        return
    await store.append_event(
        Event(
            package_id=package_id,
            kind="package.read",
            at=datetime.now(UTC),
            detail={"actor": actor, "purpose": purpose},
        )
    )


#: Packages read per page of a purge run.
PURGE_BATCH = 500
#: Pages one purge run goes through at most (10,000 packages at the default batch): every purge
#: is its own short write transaction, but a run does not monopolise the writer for longer
#: than that; the scheduled loop comes back within a minute while a run stops at this cap.
PURGE_MAX_BATCHES = 20


@dataclasses.dataclass(frozen=True, slots=True)
class PurgeRun:
    """What one retention purge run did."""

    #: the packages whose bytes this run dropped, oldest first
    purged: tuple[str, ...]
    #: packages past the policy that keep their bytes for a delivery neither acked nor dead
    #: (always 0 under ``purge_unacked``)
    kept: int
    #: the run stopped after its last page was full: more may be due, run again
    capped: bool


async def purge(
    store: Store,
    *,
    package_days: int,
    purge_unacked: bool = False,
    actor: str = "retention",
    now: datetime | None = None,
    batch: int = PURGE_BATCH,
    max_batches: int = PURGE_MAX_BATCHES,
) -> PurgeRun:
    """Drop the bytes of packages older than ``package_days`` (never the receipt, the
    events or the signed acks: they are the evidence). Packages with a delivery neither
    acknowledged nor dead are kept unless ``purge_unacked``, and counted: a warning says how
    many. Each purge is a chained ``purged`` event written in the same transaction as the
    deletion.

    The store selects only what may be purged, ``batch`` packages a page, paging by seq
    until a short page, at most ``max_batches`` pages a run (:class:`PurgeRun` says whether
    the run stopped there). Old unacknowledged packages never fill a page, so they cannot
    hold back the purge of the packages behind them."""
    if batch < 1 or max_batches < 1:
        raise ValueError("purge: batch and max_batches must be at least 1")
    if package_days <= 0:
        return PurgeRun(purged=(), kept=0, capped=False)
    backend = store.audit()
    cutoff = (now or datetime.now(UTC)) - timedelta(days=package_days)
    purged: list[str] = []
    after, capped = 0, True
    for _ in range(max_batches):
        page = await backend.purge_candidates(cutoff, after, batch, unacked=purge_unacked)
        for candidate in page:
            event = Event(
                package_id=candidate.package_id,
                kind="purged",
                at=now or datetime.now(UTC),
                detail={"actor": actor, "policy_days": package_days, "sha256": candidate.sha256},
            )
            if await backend.purge_package(candidate.package_id, event, unacked=purge_unacked):
                purged.append(candidate.package_id)
        if len(page) < batch:
            capped = False
            break
        after = page[-1].seq
    # Counted once per run, after the pages: what the policy says is due but stays.
    kept = 0 if purge_unacked else await backend.purge_kept(cutoff)
    if kept:
        log.warning(
            "retention purge: %d package(s) past the %d-day policy keep their bytes: a delivery "
            "is neither acknowledged nor dead (a recipient that fetched and never "
            "acknowledged, or is no longer served); [retention] purge_unacked purges them",
            kept,
            package_days,
        )
    return PurgeRun(purged=tuple(purged), kept=kept, capped=capped)


class Checkpointer(StartStop):
    """Writes a checkpoint every ``interval`` seconds while running, and one at stop."""

    def __init__(
        self,
        store: Store,
        signer: ReceiptSigner,
        hub_id: str,
        interval: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tsa: TsaClient | None = None,
    ) -> None:
        self.store, self.signer, self.hub_id = store, signer, hub_id
        self.tsa = tsa
        self.interval = interval
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._last_heads: list[ChainHead] | None = None

    async def tick(self) -> CheckpointRow | None:
        """One checkpoint, skipped when no chain moved since the last one."""
        heads = await self.store.audit().heads()
        if heads == self._last_heads:
            return None
        row = await write_checkpoint(self.store, self.signer, self.hub_id, self.clock(), self.tsa)
        self._last_heads = heads
        return row

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.tick()
            except Exception as exc:  # the next tick retries; verification shows the gap
                log.warning("audit checkpoint failed: %s", exc)

    async def start(self) -> None:
        """Start the periodic task (once: a second start while running changes nothing)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="hub-audit-checkpoint")

    async def stop(self) -> None:
        """Stop the task and seal what was written with a last checkpoint."""
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        try:
            await self.tick()
        except Exception as exc:
            log.warning("final audit checkpoint failed: %s", exc)
