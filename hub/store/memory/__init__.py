"""An in-memory :class:`~hub.store.abc.Store`, shipped beside the real ones.

:class:`MemoryStore` is a complete store, not a stub: it passes the same contract suites as
SQLite and PostgreSQL (``tests/contracts/``: store, dashboard, lifecycle, directory, text,
audit), so code written against the :class:`~hub.store.abc.Store` contract — an adapter, a
pipeline step, a dashboard view, the audit verifier — can be tested against it in
milliseconds and without a file::

    store = MemoryStore(chainer=AuditChain())  # hub.audit.chain.AuditChain
    async with store:
        outcomes = await store.add_packages([package])
        page = await store.inbox("000.00.00.G22")

What it keeps, and how it behaves, is what the contract says: group commit with
:class:`~hub.store.abc.AddOutcome` (sha256 de-duplication; a new document's DocumentId unique
per sender in NFC) and ``accept``'s groups (a lost lifecycle compare-and-set refuses its
package alone; pull deliveries ``available`` at commit, push ones ``pending``),
deliveries whose ``acked`` is terminal and counted once, the event log,
inbox and outbox pages with opaque cursors and the Subject word search
(:mod:`hub.store.textsearch`), package bytes sealed with ``blob_cipher`` when it is set, the
directory's revisions, VXP system versions, merged agency overrides, and the facets:
:meth:`~MemoryStore.dashboard`, :meth:`~MemoryStore.lifecycle` (compare-and-set moves that
raise :class:`~hub.errors.IllegalTransition`, notifications claimed exactly once),
:meth:`~MemoryStore.audit` and :meth:`~MemoryStore.revocation_cache`.

The audit chain is the real one: like the SQL stores, a memory store requires an
:class:`~hub.store.facets.EventChainer` and chains every event it writes in the transaction
that writes it — one chain per writer identity, as on SQLite — with the same fields and the
same hashes (a test writes the same log to both and compares them row for row). Checkpoints,
signed acknowledgements and purges (the bytes, the Subject and its words go; the row, the
receipt and the trace stay) are kept as the SQL backends keep them, so ``verify_store`` runs
on it and catches every tampering of the audit contract, done on the backing directly.

Persistence and sharing: the data lives in a :class:`MemoryBacking`. Stores built over one
backing (:meth:`MemoryStore.sibling`) see the same data, as processes over one database do:
closing one and opening another is a restart; two open at once are two processes, and the
backing's :class:`asyncio.Lock` stands where a real store has a transaction, so races between
them have exactly one winner. Nothing survives the Python process, and a backing belongs to
one event loop. The backing's ``now`` clock can be injected.

Not covered: ``duplicate_documents`` is always empty, and no event predates the audit chain
(``legacy_max_seq`` is 0 unless set on the backing): nothing in a memory store predates the
migrations that brought the unique constraint and the chain.
"""

from hub.store.memory.backing import MemoryBacking
from hub.store.memory.store import MemoryStore

__all__ = ["MemoryBacking", "MemoryStore"]
