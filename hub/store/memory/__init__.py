"""An in-memory :class:`~hub.store.abc.Store`, shipped beside the real ones.

:class:`MemoryStore` is a complete store, not a stub: it passes the same contract suites as
SQLite and PostgreSQL (``tests/contracts/``: store, dashboard, lifecycle, directory, text),
so code written against the :class:`~hub.store.abc.Store` contract — an adapter, a pipeline
step, a dashboard view — can be tested against it in milliseconds and without a file::

    store = MemoryStore()
    async with store:
        outcomes = await store.add_packages([package])
        page = await store.inbox("000.00.00.G22")

What it keeps, and how it behaves, is what the contract says: group commit with
:class:`~hub.store.abc.AddOutcome` (sha256 de-duplication; a new document's DocumentId unique
per sender in NFC), deliveries whose ``acked`` is terminal and counted once, the event log,
inbox and outbox pages with opaque cursors and the Subject word search
(:mod:`hub.store.textsearch`), package bytes sealed with ``blob_cipher`` when it is set, the
directory's revisions, VXP system versions, merged agency overrides, and the facets:
:meth:`~MemoryStore.dashboard`, :meth:`~MemoryStore.lifecycle` (compare-and-set moves that
raise :class:`~hub.errors.IllegalTransition`, notifications claimed exactly once) and
:meth:`~MemoryStore.revocation_cache`.

Persistence and sharing: the data lives in a :class:`MemoryBacking`. Stores built over one
backing (:meth:`MemoryStore.sibling`) see the same data, as processes over one database do:
closing one and opening another is a restart; two open at once are two processes, and the
backing's :class:`asyncio.Lock` stands where a real store has a transaction, so races between
them have exactly one winner. Nothing survives the Python process, and a backing belongs to
one event loop. The backing's ``now`` clock can be injected.

Not covered: the audit chain (:mod:`hub.audit` reads and writes the SQL backends' tables
through their connections, so :class:`hub.audit.backend.AuditBackend` has nothing to reach
here); events are kept without chain fields. ``duplicate_documents`` is always empty: no
package in a memory store predates the unique constraint.
"""

from hub.store.memory.backing import MemoryBacking
from hub.store.memory.store import MemoryStore

__all__ = ["MemoryBacking", "MemoryStore"]
