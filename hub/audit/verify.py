"""``hub audit verify``: recompute every chain, check every checkpoint, name the first bad
event.

What each kind of tampering looks like to the verifier (tests in ``tests/audit/``):

* **edited** — a row's content no longer hashes to its stored ``hash``; or, if the editor
  recomputed that hash, the next event still records the original as ``prev_hash``; or, if
  the editor rewrote the whole rest of the chain, a signed checkpoint holds another hash.
* **deleted** — a gap in ``chain_seq``; or an event that links to a hash no stored event
  has (deleted, then renumbered); or a chain shorter than its recorded head or than a signed
  checkpoint.
* **inserted** — a second event at one chain position; an event whose predecessor is also
  claimed by the event before it (inserted, then the rest renumbered); an event on no chain
  or on an unregistered chain; an event past the chain's recorded head.
* **reordered** — an event whose ``prev_hash`` is the hash of an event elsewhere in its chain;
  or one that hashes correctly only with another event's ``seq`` (the trace order swapped).

Constant memory: the log is read through an :class:`AuditSource` in keyset pages — chain by
chain in ``(chain_seq, seq)`` order, then the checkpoints by id — and the verifier keeps only
the current page, the previous event of the chain being walked and, per chain, how far it
verified (``good_upto``). What the failure paths need from elsewhere in a chain (the event
whose hash a misplaced event links to, the seq a swapped event hashes with) is found by
streaming that chain once more, which happens at most twice per broken chain. Chains are
short-lived reads (no transaction held open), so verifying a live hub is safe: a chain that
grows while it is walked is followed up to its head as read after the walk.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from hub.audit.chain import GENESIS, compute_hash
from hub.audit.checkpoint import VerifiedCheckpoint, document_sha256, verify_checkpoint
from hub.store.records import ChainedEvent, ChainHead, CheckpointRow

Kind = Literal["edited", "deleted", "inserted", "reordered", "checkpoint"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected problem; ``seq`` is the event it names (``None`` for checkpoints)."""

    kind: Kind
    message: str
    seq: int | None = None
    chain_id: str | None = None
    chain_seq: int | None = None

    def line(self) -> str:
        """One human-readable line."""
        where = f"event seq={self.seq}" if self.seq is not None else "audit log"
        if self.chain_id is not None:
            where += f" (chain {self.chain_id} #{self.chain_seq})"
        return f"{self.kind.upper()}: {where}: {self.message}"


@dataclass
class Report:
    """The outcome of a verification."""

    events: int = 0
    legacy: int = 0
    chains: int = 0
    checkpoints: int = 0
    covered: int = 0  # events at or before the last checkpoint's head of their chain
    timestamped: int = 0  # checkpoints whose RFC 3161 token verified
    findings: list[Finding] = field(default_factory=list)
    #: events on no chain or an unregistered chain beyond :data:`MAX_LISTED` (counted, not
    #: listed: a database with millions of such rows must not fill the memory with findings)
    unlisted: int = 0

    @property
    def ok(self) -> bool:
        """No tampering found."""
        return not self.findings

    @property
    def first(self) -> Finding | None:
        """The first bad event in log order (checkpoint problems after event problems)."""
        if not self.findings:
            return None
        return min(
            self.findings,
            key=lambda f: (f.seq is None, f.seq if f.seq is not None else 0),
        )

    def lines(self) -> list[str]:
        """The report as printed by ``hub audit verify``."""
        out = [
            f"events: {self.events} ({self.legacy} from before the audit chain), "
            f"chains: {self.chains}, checkpoints: {self.checkpoints}, "
            f"covered by a signed checkpoint: {self.covered}, "
            f"time-stamped checkpoints: {self.timestamped}"
        ]
        first = self.first
        if first is None:
            out.append("OK: every chain recomputes and every checkpoint verifies")
            return out
        out.append(f"FIRST BAD: {first.line()}")
        out.extend(f"  {f.line()}" for f in self.findings if f is not first)
        if self.unlisted:
            out.append(f"  … and {self.unlisted} more events on no chain or an unregistered chain")
        return out


#: rows per page read from the store (the verifier holds one page at a time)
PAGE_SIZE = 2000
#: checkpoints per page (each is a ~2 KB signed document)
CHECKPOINT_PAGE = 100
#: findings listed for events on no chain / an unregistered chain; the rest are counted
MAX_LISTED = 1000

#: ``progress(rows, total)``: ``rows`` more event rows walked, of ``total``
Progress = Callable[[int, int], None]
#: an extra check of a time-stamped checkpoint (the RFC 3161 token): ``None`` when it holds
CheckpointHook = Callable[[CheckpointRow], Awaitable["Finding | None"]]


class AuditSource(Protocol):
    """Paged reads of the audit log (:class:`hub.store.facets.AuditStore` on every store).

    Every method is one short read; pages are keyset-paginated so no transaction or cursor
    stays open while the verifier works."""

    async def event_count(self) -> int:
        """Number of event rows."""

    async def legacy_max_seq(self) -> int:
        """Events up to this seq predate the chain."""

    async def legacy_count(self, legacy_max: int) -> int:
        """Unchained events from before the chain."""

    async def unchained_page(
        self, legacy_max: int, after_seq: int, limit: int
    ) -> Sequence[ChainedEvent]:
        """Unchained, non-legacy events after ``after_seq``, by seq."""

    async def orphan_chains(self) -> Sequence[str]:
        """Chain ids on events that ``audit_chains`` does not know."""

    async def heads(self) -> Sequence[ChainHead]:
        """Every registered chain's head."""

    async def head(self, chain_id: str) -> ChainHead | None:
        """One chain's head, read now."""

    async def chain_page(
        self, chain_id: str, after: tuple[int, int] | None, limit: int
    ) -> Sequence[ChainedEvent]:
        """A chain's next events in ``(chain_seq, seq)`` order after ``after``."""

    async def chain_at(self, chain_id: str, positions: list[int]) -> Sequence[ChainedEvent]:
        """A chain's events at ``positions``, in ``(chain_seq, seq)`` order."""

    async def last_checkpoint_id(self) -> int:
        """The newest checkpoint's id (0: none)."""

    async def checkpoints_page(
        self, after_id: int, upto_id: int, limit: int
    ) -> Sequence[CheckpointRow]:
        """Checkpoints ``after_id < id <= upto_id``, by id."""


def _list(report: Report, finding: Finding) -> None:
    # Called only before any chain is walked, so every finding so far is of this kind.
    if len(report.findings) >= MAX_LISTED:
        report.unlisted += 1
    else:
        report.findings.append(finding)


async def _scan(
    source: AuditSource, chain_id: str, page_size: int, keep: Callable[[ChainedEvent], bool]
) -> list[ChainedEvent]:
    """Stream a chain once more and return the (few) events ``keep`` selects, by seq."""
    found: list[ChainedEvent] = []
    after: tuple[int, int] | None = None
    while True:
        page = await source.chain_page(chain_id, after, page_size)
        if not page:
            break
        found.extend(ev for ev in page if keep(ev))
        after = (page[-1].chain_seq or 0, page[-1].seq)
        del page
    return sorted(found, key=lambda ev: ev.seq)


class _ChainWalk:
    """One chain walked in position order, one group of equal positions at a time: at most
    one finding (later ones would only echo it); ``good_upto`` is the verified prefix."""

    def __init__(self, source: AuditSource, chain_id: str, page_size: int) -> None:
        self.source, self.chain_id, self.page_size = source, chain_id, page_size
        self.expected_n, self.expected_prev = 1, GENESIS
        self.previous: ChainedEvent | None = None
        self.good_upto = 0
        self.last_position = 0  # highest position seen (the chain's end when nothing failed)
        self.max_seq: int | None = None
        self.group: list[ChainedEvent] = []
        self.finding: Finding | None = None
        # A row that broke the chain, diagnosed by :meth:`diagnose` once the page that held
        # it is released (the diagnosis may stream the chain again).
        self.suspect: tuple[ChainedEvent, int, bool, bool] | None = None

    @property
    def stopped(self) -> bool:
        """The walk found the chain broken."""
        return self.finding is not None or self.suspect is not None

    def feed(self, rows: Sequence[ChainedEvent]) -> None:
        """Walk the next rows (sorted by position, then seq)."""
        for row in rows:
            if self.stopped:
                return
            n = row.chain_seq or 0
            self.last_position = n  # rows arrive by position
            self.max_seq = row.seq if self.max_seq is None else max(self.max_seq, row.seq)
            if self.group and (self.group[0].chain_seq or 0) != n:
                self._group()
                if self.stopped:
                    return
            self.group.append(row)

    def flush(self) -> None:
        """Walk the buffered group (end of the stream as read so far)."""
        if self.group and not self.stopped:
            self._group()

    def _fine(self, r: ChainedEvent) -> bool:
        return r.hash == compute_hash(r) and r.prev_hash == self.expected_prev

    def _group(self) -> None:
        group, self.group = self.group, []
        n = group[0].chain_seq or 0
        if len(group) > 1:
            genuine = [r for r in group if self._fine(r)]
            bad = next(r for r in group if r not in genuine[:1])
            self.finding = Finding(
                "inserted", f"a second event at chain position #{n}", bad.seq, bad.chain_id, n
            )
            return
        row = group[0]
        if n < self.expected_n:
            return  # a position below 1: not part of the walk
        if n > self.expected_n:
            self.finding = Finding(
                "deleted",
                f"events #{self.expected_n}..#{n - 1} of the chain are missing before this one",
                row.seq,
                row.chain_id,
                n,
            )
            return
        self_ok = row.hash == compute_hash(row)
        link_ok = row.prev_hash == self.expected_prev
        if self_ok and link_ok:
            self.good_upto = n
            self.previous, self.expected_n, self.expected_prev = row, n + 1, row.hash or ""
            return
        self.suspect = (row, n, self_ok, link_ok)

    async def diagnose(self) -> None:
        """Name what happened at the suspect row (sets :attr:`finding`)."""
        if self.suspect is not None:
            row, n, self_ok, link_ok = self.suspect
            self.suspect = None
            self.finding = await self._diagnose(row, n, self_ok=self_ok, link_ok=link_ok)

    async def _diagnose(
        self, row: ChainedEvent, n: int, *, self_ok: bool, link_ok: bool
    ) -> Finding:
        previous = self.previous
        if not link_ok and previous is not None and row.prev_hash == previous.prev_hash:
            self.good_upto = n - 2
            return Finding(
                "inserted",
                f"inserted before seq={row.seq}: both claim the same predecessor, and seq="
                f"{row.seq} hashes only at its former position",
                previous.seq,
                previous.chain_id,
                previous.chain_seq,
            )
        if not link_ok and row.prev_hash:
            linked = await _scan(
                self.source, self.chain_id, self.page_size, lambda ev: ev.hash == row.prev_hash
            )
            # the last one by seq, as a lookup table built in seq order would hold
            other = linked[-1] if linked else None
            if other is not None and (previous is None or other.seq != previous.seq):
                return Finding(
                    "reordered",
                    f"out of place: it follows seq={other.seq} (#{other.chain_seq}) in the chain",
                    row.seq,
                    row.chain_id,
                    n,
                )
        if not self_ok and link_ok:
            swapped = await _scan(
                self.source,
                self.chain_id,
                self.page_size,
                lambda o: o.seq != row.seq and compute_hash(replace(row, seq=o.seq)) == row.hash,
            )
            if swapped:
                return Finding(
                    "reordered",
                    f"its seq was swapped with seq={swapped[0].seq} (it hashes only as "
                    f"seq={swapped[0].seq})",
                    row.seq,
                    row.chain_id,
                    n,
                )
            return Finding(
                "edited",
                "content changed: the stored hash does not match the row",
                row.seq,
                row.chain_id,
                n,
            )
        if self_ok and previous is not None:
            self.good_upto = n - 2
            return Finding(
                "edited",
                f"content changed and its hash recomputed: seq={row.seq} still records the "
                "original hash as its predecessor",
                previous.seq,
                previous.chain_id,
                previous.chain_seq,
            )
        return Finding(
            "deleted",
            "its predecessor is gone: the hash it links to belongs to no stored event "
            "(an event was deleted before it and the chain renumbered)",
            row.seq,
            row.chain_id,
            n,
        )


@dataclass(frozen=True, slots=True)
class _ChainResult:
    good_upto: int
    broken: bool


async def _verify_chain(
    source: AuditSource,
    head: ChainHead,
    report: Report,
    page_size: int,
    progress: Callable[[int], None],
) -> _ChainResult:
    walk = _ChainWalk(source, head.chain_id, page_size)
    after: tuple[int, int] | None = None
    for _round in range(4):
        while not walk.stopped:
            page = await source.chain_page(head.chain_id, after, page_size)
            if not page:
                break
            progress(len(page))
            walk.feed(page)
            after = (page[-1].chain_seq or 0, page[-1].seq)
            del page
        walk.flush()
        await walk.diagnose()  # after the page is released: it may read the chain again
        if walk.finding is not None:
            report.findings.append(walk.finding)
            return _ChainResult(walk.good_upto, True)
        # Read the head after the walk: every event up to it was committed before (the head
        # moves in the event's transaction), so a shorter walk means the hub appended while
        # we read — walk on — and only a walk that still falls short found a deletion.
        fresh = await source.head(head.chain_id) or head
        if walk.last_position >= fresh.head_seq:
            break
    last = walk.last_position if walk.max_seq is not None else 0
    if last < fresh.head_seq:
        report.findings.append(
            Finding(
                "deleted",
                f"the chain ends at #{last} but its recorded head is #{fresh.head_seq}",
                walk.max_seq,
                head.chain_id,
                last + 1,
            )
        )
        return _ChainResult(walk.good_upto, True)
    if last > fresh.head_seq:
        extra = await source.chain_at(head.chain_id, [fresh.head_seq + 1])
        report.findings.append(
            Finding(
                "inserted",
                f"past the chain's recorded head #{fresh.head_seq}",
                extra[0].seq if extra else None,
                head.chain_id,
                fresh.head_seq + 1,
            )
        )
        return _ChainResult(walk.good_upto, True)
    if last and walk.previous is not None and walk.previous.hash != fresh.head_hash:
        report.findings.append(
            Finding(
                "edited",
                "the chain's last event differs from its recorded head",
                walk.previous.seq,
                head.chain_id,
                last,
            )
        )
        return _ChainResult(walk.good_upto, True)
    return _ChainResult(walk.good_upto, False)


async def verify_stream(
    source: AuditSource,
    *,
    published_fingerprints: frozenset[str],
    page_size: int = PAGE_SIZE,
    checkpoint_page: int = CHECKPOINT_PAGE,
    progress: Progress | None = None,
    on_checkpoint: CheckpointHook | None = None,
) -> Report:
    """Verify the whole log in constant memory; see the module docstring.

    ``progress(n, total)`` is called with the number of event rows each page walked and the
    number of events counted before the walk (:attr:`Report.events`). ``on_checkpoint``
    runs for every checkpoint carrying a time-stamp token (the RFC 3161 check lives in the
    service); its findings are reported after every other one, as before streaming."""
    report = Report()

    def tick(n: int) -> None:
        if progress is not None:
            progress(n, report.events)

    # Only checkpoints that existed before the chains were walked are checked: a newer one
    # may sign heads past what the walk saw.
    upto_checkpoint = await source.last_checkpoint_id()
    heads = list(await source.heads())
    report.chains = len(heads)
    report.events = await source.event_count()
    legacy_max = await source.legacy_max_seq()
    report.legacy = await source.legacy_count(legacy_max)
    tick(report.legacy)

    after_seq = 0
    while True:
        page = await source.unchained_page(legacy_max, after_seq, page_size)
        if not page:
            break
        tick(len(page))
        for ev in page:
            _list(report, Finding("inserted", "on no chain (written around the hub)", ev.seq))
        after_seq = page[-1].seq
        del page

    for chain_id in await source.orphan_chains():
        after: tuple[int, int] | None = None
        while True:
            chain_rows = await source.chain_page(chain_id, after, page_size)
            if not chain_rows:
                break
            tick(len(chain_rows))
            for ev in chain_rows:
                _list(
                    report,
                    Finding(
                        "inserted",
                        "its chain was never registered",
                        ev.seq,
                        ev.chain_id,
                        ev.chain_seq,
                    ),
                )
            after = (chain_rows[-1].chain_seq or 0, chain_rows[-1].seq)
            del chain_rows

    results = {h.chain_id: await _verify_chain(source, h, report, page_size, tick) for h in heads}
    await _verify_checkpoints(
        source,
        upto_checkpoint,
        results,
        published_fingerprints,
        report,
        checkpoint_page,
        on_checkpoint,
    )
    return report


async def _verify_checkpoints(
    source: AuditSource,
    upto_id: int,
    results: dict[str, _ChainResult],
    fingerprints: frozenset[str],
    report: Report,
    page_size: int,
    on_checkpoint: CheckpointHook | None,
) -> None:
    broken = {chain_id for chain_id, r in results.items() if r.broken}
    previous_digest = document_sha256(None)
    expected_id = 1
    matched: dict[str, int] = {}  # chain -> highest position vouched for by a checkpoint
    # The event each chain's last looked-up position holds: consecutive checkpoints mostly
    # sign the same heads, so this saves most look-ups.
    cache: dict[str, ChainedEvent] = {}
    deferred: list[Finding] = []  # time-stamp findings, reported last

    async def event_at(chain_id: str, seq: int) -> ChainedEvent | None:
        result = results[chain_id]
        if seq < 1 or seq > result.good_upto:
            return None  # outside the verified prefix
        hit = cache.get(chain_id)
        if hit is not None and hit.chain_seq == seq:
            return hit
        rows = await source.chain_at(chain_id, [seq])
        if not rows:
            return None
        cache[chain_id] = rows[0]
        return rows[0]

    after_id = 0
    while True:
        page = await source.checkpoints_page(after_id, upto_id, page_size)
        if not page:
            break
        for row in page:
            report.checkpoints += 1
            after_id = row.id
            if on_checkpoint is not None and row.tst is not None:
                stamp_finding = await on_checkpoint(row)
                if stamp_finding is None:
                    report.timestamped += 1
                else:
                    deferred.append(stamp_finding)
            digest = document_sha256(row.document)
            try:
                cp: VerifiedCheckpoint = verify_checkpoint(row.document, fingerprints)
            except ValueError as exc:
                report.findings.append(Finding("checkpoint", f"checkpoint {row.id}: {exc}"))
                previous_digest, expected_id = digest, row.id + 1
                continue
            if cp.facts.id != row.id or row.id != expected_id:
                report.findings.append(
                    Finding("checkpoint", f"checkpoint(s) {expected_id}..{row.id - 1} deleted")
                    if row.id > expected_id
                    else Finding("checkpoint", f"checkpoint {row.id} is out of sequence")
                )
            elif cp.facts.previous != previous_digest:
                report.findings.append(
                    Finding(
                        "checkpoint",
                        f"checkpoint {row.id} does not link to checkpoint "
                        f"{row.id - 1}: the earlier one was replaced",
                    )
                )
            previous_digest, expected_id = digest, row.id + 1
            for chain_id, seq, hash_ in cp.facts.heads:
                if chain_id in broken:
                    continue
                if chain_id not in results:
                    report.findings.append(
                        Finding(
                            "deleted",
                            f"chain in checkpoint {row.id} is gone (#{seq})",
                            None,
                            chain_id,
                            seq,
                        )
                    )
                    continue
                ev = await event_at(chain_id, seq)
                if ev is None:
                    report.findings.append(
                        Finding(
                            "deleted",
                            f"signed by checkpoint {row.id} but missing",
                            None,
                            chain_id,
                            seq,
                        )
                    )
                    broken.add(chain_id)
                elif ev.hash != hash_:
                    since = matched.get(chain_id, 0) + 1
                    first = await event_at(chain_id, since) or ev
                    report.findings.append(
                        Finding(
                            "edited",
                            f"chain rewritten: checkpoint {row.id} signed another hash for "
                            f"#{seq}; events #{since}..#{seq} cannot be vouched for, starting "
                            "here",
                            first.seq,
                            chain_id,
                            since,
                        )
                    )
                    broken.add(chain_id)
                else:
                    matched[chain_id] = max(matched.get(chain_id, 0), seq)
        del page
    report.findings.extend(deferred)
    report.covered = sum(
        min(result.good_upto, matched.get(chain_id, 0)) for chain_id, result in results.items()
    )
