"""The attacker of the audit contract (``tests/contracts/audit_contract.py``) on a memory
store: :class:`MemoryTamper` changes the backing directly, as raw SQL changes a database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from hub.models import Event
from hub.store.memory import MemoryBacking
from hub.store.records import ChainedEvent


class MemoryTamper:
    """:class:`tests.contracts.audit_contract.Tamper` on the backing's tables, bypassing the
    store (and its lock: the attacker does not ask)."""

    def __init__(self, backing: MemoryBacking) -> None:
        self.backing = backing

    def _rewrite(self, change: Callable[[ChainedEvent], ChainedEvent | None]) -> None:
        rows = (change(e) for e in self.backing.events)
        self.backing.rewrite_events(r for r in rows if r is not None)

    async def update_event(self, seq: int, /, **fields: object) -> None:
        self._rewrite(lambda e: replace(e, **fields) if e.seq == seq else e)  # type: ignore[arg-type]

    async def shift_chain(self, from_seq: int, by: int) -> None:
        def shift(e: ChainedEvent) -> ChainedEvent:
            if e.seq < from_seq or e.chain_seq is None:
                return e
            return replace(e, chain_seq=e.chain_seq + by)

        self._rewrite(shift)

    async def delete_event(self, seq: int) -> None:
        self._rewrite(lambda e: None if e.seq == seq else e)

    async def insert_event(self, row: ChainedEvent) -> None:
        self.backing.rewrite_events([*self.backing.events, row])

    async def insert_unchained(self, event: Event) -> None:
        seq = self.backing.next_event_seq()
        self.backing.add_event(
            ChainedEvent(
                seq,
                event.package_id,
                event.kind,
                event.at,
                event.recipient,
                event.attempt,
                dict(event.detail),
            )
        )

    async def move_heads(self, by: int, head_hash: str | None = None) -> None:
        chains = self.backing.chains
        for chain_id, head in chains.items():
            chains[chain_id] = replace(
                head, head_seq=head.head_seq + by, head_hash=head_hash or head.head_hash
            )

    async def delete_checkpoint(self, checkpoint_id: int) -> None:
        del self.backing.checkpoints[checkpoint_id]
