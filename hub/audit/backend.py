"""One audit interface over both stores (SQL in ``hub/store/sqlite/audit.py`` and
``hub/store/postgres/audit.py``), reached through the store's own connections so audit
writes share its transactions, retries and failure mapping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from hub.audit.chain import ChainedEvent
from hub.audit.records import ChainHead, CheckpointRow, SignedAck
from hub.models import Event
from hub.store import Store
from hub.store.sqlite import SqliteStore
from hub.store.sqlite import audit as sq

Build = Callable[[int, bytes | None, list[ChainHead]], bytes]


class AuditBackend:
    """Audit reads and writes on the hub's store (SQLite or PostgreSQL)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        if isinstance(store, SqliteStore):
            self._sqlite: SqliteStore | None = store
            self._pg = None
        else:
            from hub.store.postgres import PostgresStore  # optional driver

            if not isinstance(store, PostgresStore):
                raise TypeError(f"no audit support for {type(store).__name__}")
            self._sqlite = None
            self._pg = store

    # The private members used below are the stores' own unit-of-work runners; going through
    # them keeps one transaction per audit write on both backends.

    async def all_events(self) -> list[ChainedEvent]:
        """Every event with its chain fields, by seq."""
        if self._sqlite is not None:
            return await self._sqlite._reader.run(sq.all_events)
        from hub.store.postgres import audit as pg

        assert self._pg is not None
        return await self._pg._read_tx("audit events", pg.all_events)

    async def events_for(self, package_id: str) -> list[ChainedEvent]:
        """One package's events with their chain fields, by seq."""
        if self._sqlite is not None:
            return await self._sqlite._reader.run(lambda c: sq.events_for(c, package_id))
        from hub.store.postgres import audit as pg

        assert self._pg is not None
        return await self._pg._read("audit events", lambda c: pg.events_for(c, package_id))

    async def chain_events(self, chain_id: str, upto: int) -> list[ChainedEvent]:
        """One chain from its start to position ``upto``."""
        if self._sqlite is not None:
            return await self._sqlite._reader.run(lambda c: sq.chain_events(c, chain_id, upto))
        from hub.store.postgres import audit as pg

        assert self._pg is not None
        return await self._pg._read("audit chain", lambda c: pg.chain_events(c, chain_id, upto))

    async def legacy_max_seq(self) -> int:
        """Events up to this seq predate the chain."""
        if self._sqlite is not None:
            return await self._sqlite._reader.run(sq.legacy_max_seq)
        from hub.store.postgres import audit as pg

        assert self._pg is not None
        return await self._pg._read("audit meta", pg.legacy_max_seq)

    async def heads(self) -> list[ChainHead]:
        """Every chain's recorded head."""
        if self._sqlite is not None:
            return await self._sqlite._reader.run(sq.heads)
        from hub.store.postgres import audit as pg

        assert self._pg is not None
        return await self._pg._read("audit heads", pg.heads)

    async def add_checkpoint(self, build: Build, at: datetime) -> CheckpointRow:
        """Write the next checkpoint (ids and links serialised between writers)."""
        if self._sqlite is not None:
            return await self._sqlite._writer.write(lambda c: sq.add_checkpoint(c, build, at))
        from hub.store.postgres import audit as pg
        from hub.store.postgres.migrate import advisory_key

        assert self._pg is not None
        key = advisory_key("audit-checkpoint", self._pg.schema)
        return await self._pg._write(
            "audit checkpoint", lambda c: pg.add_checkpoint(c, key, build, at)
        )

    async def set_checkpoint_tst(self, checkpoint_id: int, tst: bytes) -> None:
        """Attach a time-stamp token to a checkpoint."""
        if self._sqlite is not None:
            await self._sqlite._writer.write(lambda c: sq.set_checkpoint_tst(c, checkpoint_id, tst))
            return
        from hub.store.postgres import audit as pg

        assert self._pg is not None
        await self._pg._write("audit tst", lambda c: pg.set_checkpoint_tst(c, checkpoint_id, tst))

    async def checkpoints(self) -> list[CheckpointRow]:
        """Every checkpoint, by id."""
        if self._sqlite is not None:
            return await self._sqlite._reader.run(sq.checkpoints)
        from hub.store.postgres import audit as pg

        assert self._pg is not None
        return await self._pg._read("audit checkpoints", pg.checkpoints)

    async def add_signed_ack(self, ack: SignedAck) -> None:
        """Keep a signed acknowledgement."""
        if self._sqlite is not None:
            await self._sqlite._writer.write(lambda c: sq.add_signed_ack(c, ack))
            return
        from hub.store.postgres import audit as pg

        assert self._pg is not None
        await self._pg._write("signed ack", lambda c: pg.add_signed_ack(c, ack))

    async def signed_acks(self, package_id: str) -> list[SignedAck]:
        """A package's signed acknowledgements."""
        if self._sqlite is not None:
            return await self._sqlite._reader.run(lambda c: sq.signed_acks(c, package_id))
        from hub.store.postgres import audit as pg

        assert self._pg is not None
        return await self._pg._read("signed acks", lambda c: pg.signed_acks(c, package_id))

    async def purge_candidates(self, before: datetime, limit: int) -> list[str]:
        """Packages older than ``before`` whose bytes are still stored."""
        if self._sqlite is not None:
            return await self._sqlite._reader.run(lambda c: sq.purge_candidates(c, before, limit))
        from hub.store.postgres import audit as pg

        assert self._pg is not None
        return await self._pg._read(
            "purge candidates", lambda c: pg.purge_candidates(c, before, limit)
        )

    async def purge_package(self, package_id: str, event: Event) -> bool:
        """Drop the bytes and chain the ``purged`` event in one transaction."""
        if self._sqlite is not None:
            return await self._sqlite._writer.write(
                lambda c: sq.purge_package(c, package_id, event)
            )
        from hub.store.postgres import audit as pg

        assert self._pg is not None
        return await self._pg._write("purge", lambda c: pg.purge_package(c, package_id, event))

    async def purged_at(self, package_id: str) -> datetime | None:
        """When the package's bytes were purged."""
        if self._sqlite is not None:
            return await self._sqlite._reader.run(lambda c: sq.purged_at(c, package_id))
        from hub.store.postgres import audit as pg

        assert self._pg is not None
        return await self._pg._read("purged", lambda c: pg.purged_at(c, package_id))

    # -- streamed verification: short reads, keyset pages (no transaction held open) ----------

    async def event_count(self) -> int:
        """How many event rows there are."""
        if self._sqlite is not None:
            return await self._sqlite._reader.run(sq.event_count)
        from hub.store.postgres import audit as pg

        assert self._pg is not None
        return await self._pg._read("audit count", pg.event_count)

    async def legacy_count(self, legacy_max: int) -> int:
        """Unchained events from before the audit chain."""
        if self._sqlite is not None:
            return await self._sqlite._reader.run(lambda c: sq.legacy_count(c, legacy_max))
        from hub.store.postgres import audit as pg

        assert self._pg is not None
        return await self._pg._read("audit legacy", lambda c: pg.legacy_count(c, legacy_max))

    async def unchained_page(
        self, legacy_max: int, after_seq: int, limit: int
    ) -> list[ChainedEvent]:
        """Non-legacy unchained events after ``after_seq``, by seq."""
        if self._sqlite is not None:
            return await self._sqlite._reader.run(
                lambda c: sq.unchained_page(c, legacy_max, after_seq, limit)
            )
        from hub.store.postgres import audit as pg

        assert self._pg is not None
        return await self._pg._read(
            "audit unchained", lambda c: pg.unchained_page(c, legacy_max, after_seq, limit)
        )

    async def orphan_chains(self) -> list[str]:
        """Chain ids on events but not in the chain table."""
        if self._sqlite is not None:
            return await self._sqlite._reader.run(sq.orphan_chains)
        from hub.store.postgres import audit as pg

        assert self._pg is not None
        return await self._pg._read("audit orphans", pg.orphan_chains)

    async def head(self, chain_id: str) -> ChainHead | None:
        """One chain's head, read now."""
        if self._sqlite is not None:
            return await self._sqlite._reader.run(lambda c: sq.head(c, chain_id))
        from hub.store.postgres import audit as pg

        assert self._pg is not None
        return await self._pg._read("audit head", lambda c: pg.head(c, chain_id))

    async def chain_page(
        self, chain_id: str, after: tuple[int, int] | None, limit: int
    ) -> list[ChainedEvent]:
        """The next page of a chain in (chain_seq, seq) order after ``after``."""
        if self._sqlite is not None:
            return await self._sqlite._reader.run(
                lambda c: sq.chain_page(c, chain_id, after, limit)
            )
        from hub.store.postgres import audit as pg

        assert self._pg is not None
        return await self._pg._read(
            "audit chain page", lambda c: pg.chain_page(c, chain_id, after, limit)
        )

    async def chain_at(self, chain_id: str, positions: list[int]) -> list[ChainedEvent]:
        """A chain's events at the given positions."""
        if self._sqlite is not None:
            return await self._sqlite._reader.run(lambda c: sq.chain_at(c, chain_id, positions))
        from hub.store.postgres import audit as pg

        assert self._pg is not None
        return await self._pg._read("audit chain at", lambda c: pg.chain_at(c, chain_id, positions))

    async def last_checkpoint_id(self) -> int:
        """The newest checkpoint id (0: none)."""
        if self._sqlite is not None:
            return await self._sqlite._reader.run(sq.last_checkpoint_id)
        from hub.store.postgres import audit as pg

        assert self._pg is not None
        return await self._pg._read("audit last checkpoint", pg.last_checkpoint_id)

    async def checkpoints_page(
        self, after_id: int, upto_id: int, limit: int
    ) -> list[CheckpointRow]:
        """Checkpoints ``after_id < id <= upto_id``, by id."""
        if self._sqlite is not None:
            return await self._sqlite._reader.run(
                lambda c: sq.checkpoints_page(c, after_id, upto_id, limit)
            )
        from hub.store.postgres import audit as pg

        assert self._pg is not None
        return await self._pg._read(
            "audit checkpoints page", lambda c: pg.checkpoints_page(c, after_id, upto_id, limit)
        )
