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
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Literal

from hub.audit.chain import GENESIS, ChainedEvent
from hub.audit.checkpoint import VerifiedCheckpoint, document_sha256, verify_checkpoint
from hub.audit.records import ChainHead, CheckpointRow

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
        return out


def _verify_chain(rows: list[ChainedEvent], report: Report) -> dict[int, ChainedEvent]:
    """Walk one chain; append at most one finding (later ones would only echo it). Returns
    the good prefix by position."""
    good: dict[int, ChainedEvent] = {}
    by_hash = {r.hash: r for r in rows if r.hash}
    by_position: dict[int, list[ChainedEvent]] = defaultdict(list)
    for r in rows:
        by_position[r.chain_seq or 0].append(r)
    expected_n, expected_prev = 1, GENESIS
    previous: ChainedEvent | None = None
    for n in sorted(by_position):
        group = by_position[n]

        def fine(r: ChainedEvent, prev: str = expected_prev) -> bool:
            return r.hash == r.compute_hash() and r.prev_hash == prev

        if len(group) > 1:
            genuine = [r for r in group if fine(r)]
            fake = [r for r in group if r not in genuine[:1]]
            bad = fake[0]
            report.findings.append(
                Finding(
                    "inserted", f"a second event at chain position #{n}", bad.seq, bad.chain_id, n
                )
            )
            return good
        row = group[0]
        if n < expected_n:  # pragma: no cover - positions are sorted and unique here
            continue
        if n > expected_n:
            report.findings.append(
                Finding(
                    "deleted",
                    f"events #{expected_n}..#{n - 1} of the chain are missing before this one",
                    row.seq,
                    row.chain_id,
                    n,
                )
            )
            return good
        self_ok = row.hash == row.compute_hash()
        link_ok = row.prev_hash == expected_prev
        if self_ok and link_ok:
            good[n] = row
            previous, expected_n, expected_prev = row, n + 1, row.hash or ""
            continue
        finding: Finding
        if not link_ok and previous is not None and row.prev_hash == previous.prev_hash:
            finding = Finding(
                "inserted",
                f"inserted before seq={row.seq}: both claim the same predecessor, and seq="
                f"{row.seq} hashes only at its former position",
                previous.seq,
                previous.chain_id,
                previous.chain_seq,
            )
            good.pop(n - 1, None)
        elif not link_ok and row.prev_hash in by_hash and by_hash[row.prev_hash] is not previous:
            other = by_hash[row.prev_hash]
            finding = Finding(
                "reordered",
                f"out of place: it follows seq={other.seq} (#{other.chain_seq}) in the chain",
                row.seq,
                row.chain_id,
                n,
            )
        elif (
            not self_ok
            and link_ok
            and (
                swapped := next(
                    (
                        o
                        for o in rows
                        if o is not row and replace(row, seq=o.seq).compute_hash() == row.hash
                    ),
                    None,
                )
            )
        ):
            finding = Finding(
                "reordered",
                f"its seq was swapped with seq={swapped.seq} (it hashes only as seq={swapped.seq})",
                row.seq,
                row.chain_id,
                n,
            )
        elif not self_ok and link_ok:
            finding = Finding(
                "edited",
                "content changed: the stored hash does not match the row",
                row.seq,
                row.chain_id,
                n,
            )
        elif self_ok and previous is not None:
            finding = Finding(
                "edited",
                f"content changed and its hash recomputed: seq={row.seq} still records the "
                "original hash as its predecessor",
                previous.seq,
                previous.chain_id,
                previous.chain_seq,
            )
            good.pop(n - 1, None)
        else:
            finding = Finding(
                "deleted",
                "its predecessor is gone: the hash it links to belongs to no stored event "
                "(an event was deleted before it and the chain renumbered)",
                row.seq,
                row.chain_id,
                n,
            )
        report.findings.append(finding)
        return good
    return good


def verify_log(
    events: list[ChainedEvent],
    heads: list[ChainHead],
    checkpoints: list[CheckpointRow],
    *,
    legacy_max_seq: int,
    published_fingerprints: frozenset[str],
) -> Report:
    """Verify everything; see the module docstring for what is detected and how."""
    report = Report(events=len(events), chains=len(heads), checkpoints=len(checkpoints))
    known = {h.chain_id: h for h in heads}
    chains: dict[str, list[ChainedEvent]] = defaultdict(list)
    for ev in events:
        if ev.chain_id is None:
            if ev.seq <= legacy_max_seq and ev.hash is None:
                report.legacy += 1
            else:
                report.findings.append(
                    Finding("inserted", "on no chain (written around the hub)", ev.seq)
                )
            continue
        if ev.chain_id not in known:
            report.findings.append(
                Finding(
                    "inserted", "its chain was never registered", ev.seq, ev.chain_id, ev.chain_seq
                )
            )
            continue
        chains[ev.chain_id].append(ev)

    good: dict[str, dict[int, ChainedEvent]] = {}
    broken: set[str] = set()
    for chain_id, head in known.items():
        rows = chains.get(chain_id, [])
        before = len(report.findings)
        good[chain_id] = _verify_chain(rows, report)
        if len(report.findings) > before:
            broken.add(chain_id)
            continue
        last = max((r.chain_seq or 0 for r in rows), default=0)
        if last < head.head_seq:
            report.findings.append(
                Finding(
                    "deleted",
                    f"the chain ends at #{last} but its recorded head is #{head.head_seq}",
                    rows[-1].seq if rows else None,
                    chain_id,
                    last + 1,
                )
            )
            broken.add(chain_id)
        elif last > head.head_seq:
            extra = next(r for r in rows if (r.chain_seq or 0) == head.head_seq + 1)
            report.findings.append(
                Finding(
                    "inserted",
                    f"past the chain's recorded head #{head.head_seq}",
                    extra.seq,
                    chain_id,
                    extra.chain_seq,
                )
            )
            broken.add(chain_id)
        elif last and good[chain_id][last].hash != head.head_hash:
            report.findings.append(
                Finding(
                    "edited",
                    "the chain's last event differs from its recorded head",
                    good[chain_id][last].seq,
                    chain_id,
                    last,
                )
            )
            broken.add(chain_id)

    _verify_checkpoints(checkpoints, good, broken, published_fingerprints, report)
    return report


def _verify_checkpoints(
    checkpoints: list[CheckpointRow],
    good: dict[str, dict[int, ChainedEvent]],
    broken: set[str],
    fingerprints: frozenset[str],
    report: Report,
) -> None:
    previous_doc: bytes | None = None
    expected_id = 1
    matched: dict[str, int] = {}  # chain -> highest position vouched for by a checkpoint
    for row in checkpoints:
        try:
            cp: VerifiedCheckpoint = verify_checkpoint(row.document, fingerprints)
        except ValueError as exc:
            report.findings.append(Finding("checkpoint", f"checkpoint {row.id}: {exc}"))
            previous_doc, expected_id = row.document, row.id + 1
            continue
        if cp.facts.id != row.id or row.id != expected_id:
            report.findings.append(
                Finding("checkpoint", f"checkpoint(s) {expected_id}..{row.id - 1} deleted")
                if row.id > expected_id
                else Finding("checkpoint", f"checkpoint {row.id} is out of sequence")
            )
        elif cp.facts.previous != document_sha256(previous_doc):
            report.findings.append(
                Finding(
                    "checkpoint",
                    f"checkpoint {row.id} does not link to checkpoint "
                    f"{row.id - 1}: the earlier one was replaced",
                )
            )
        previous_doc, expected_id = row.document, row.id + 1
        for chain_id, seq, hash_ in cp.facts.heads:
            if chain_id in broken:
                continue
            events = good.get(chain_id)
            if events is None:
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
            ev = events.get(seq)
            if ev is None:
                report.findings.append(
                    Finding(
                        "deleted", f"signed by checkpoint {row.id} but missing", None, chain_id, seq
                    )
                )
                broken.add(chain_id)
            elif ev.hash != hash_:
                since = matched.get(chain_id, 0) + 1
                first = events.get(since, ev)
                report.findings.append(
                    Finding(
                        "edited",
                        f"chain rewritten: checkpoint {row.id} signed another hash for #{seq}; "
                        f"events #{since}..#{seq} cannot be vouched for, starting here",
                        first.seq,
                        chain_id,
                        since,
                    )
                )
                broken.add(chain_id)
            else:
                matched[chain_id] = max(matched.get(chain_id, 0), seq)
    report.covered = sum(
        1 for chain_id, events in good.items() for n in events if n <= matched.get(chain_id, 0)
    )
