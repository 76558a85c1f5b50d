"""The accept group: concurrent submissions signed together and committed together.

Every accepted package needs a signed receipt (stored with it) and its one accept
transaction. :class:`AcceptGroups` gathers the submissions that arrive while the previous group
commits (:class:`hub.store.batching.GroupBatcher`) and, per group, makes **one**
:meth:`hub.store.abc.Store.accept` transaction. Most submissions come with their receipt,
signed in their check's worker call (:mod:`hub.pipeline.facts`); the group signs the others'
in **one** call into the check workers (:meth:`hub.pipeline.executor.CheckExecutor.
sign_receipts`) before its transaction. Without load a group is one package that brings its
receipt: its latency is one commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from hub.receipts import ReceiptFacts
from hub.store import Store
from hub.store.abc import AcceptItem, AcceptResult
from hub.store.batching import GroupBatcher


@dataclass(frozen=True, slots=True)
class Submission:
    """One package for a group: its accept item (receipt not yet in it), its receipt's facts
    and, when it was signed already (with the check), the receipt stating exactly those
    facts."""

    item: AcceptItem
    facts: ReceiptFacts
    receipt: bytes | None = None


@dataclass(frozen=True, slots=True)
class Committed:
    """What the group did with a submission: the store's result and the receipt signed."""

    result: AcceptResult
    receipt: bytes


Signer = Callable[[Sequence[ReceiptFacts]], Awaitable[list[bytes]]]


class AcceptGroups(GroupBatcher[Submission, Committed]):
    """``await add(Submission)`` returns once its group is committed (see the module).

    If signing or the transaction fails, every submission of the group gets the exception:
    nothing is half-accepted (a retry is safe, the store de-duplicates by sha256).
    """

    closed_message = "the store is not accepting packages (accept groups closed)"

    def __init__(
        self, store: Store, sign: Signer, *, max_batch: int = 256, max_delay: float = 0.002
    ) -> None:
        # Ingest announces each submission while it is checked (coming()): a group waits for
        # submissions on their way, never when there are none.
        super().__init__(
            max_batch=max_batch, max_delay=max_delay, name="accept-groups", announced=True
        )
        self.store = store
        self.sign = sign

    async def add(self, submission: Submission) -> Committed:
        """Return once ``submission``'s group is durably committed, with what the store did
        with it and the receipt signed for it."""
        return await self._submit(submission)

    async def _flush(self, group: list[Submission]) -> list[Committed]:
        unsigned = [s.facts for s in group if s.receipt is None]
        signed = iter(await self.sign(unsigned) if unsigned else ())
        receipts = [s.receipt if s.receipt is not None else next(signed) for s in group]
        items = [
            replace(s.item, package=replace(s.item.package, receipt=receipt))
            for s, receipt in zip(group, receipts, strict=True)
        ]
        results = await self.store.accept(items)
        return [Committed(r, receipt) for r, receipt in zip(results, receipts, strict=True)]
