"""The embedded :class:`~hub.broker.abc.Broker`: a queue table in a SQLite file.

Normally the same file as the store (its own ``broker_queue`` table, its own connection and
thread), but any file works. Several processes may share the file: claims are single
``UPDATE … RETURNING`` statements under SQLite's write lock, so an entry is leased to exactly
one consumer at a time.

* ``publish`` inserts the entries in one transaction; the commit is the confirm.
* A *claim* sets ``lease_until`` and a claim token on up to ``prefetch`` due entries. Settling
  (ack/retry/dead-letter) only touches the row if it still carries that token, so a consumer
  whose lease ran out cannot destroy the claim of whoever took the entry over.
* An entry whose lease expired is claimed again with the same ``attempt`` and
  ``redelivered=True``: ``attempt`` counts the consumer's delivery attempts (each ``retry``),
  not hand-outs. Its prefetch slot is free again too: a hand-out left unsettled only holds
  a slot until its lease ends.
* Consumers wake on an in-process event set by ``publish``/``retry``/release, at the next due
  retry, and otherwise every ``poll_interval`` (work published by other processes).
* Duplicates of (recipient, package id) are kept, not collapsed: a re-send while the entry is in
  flight must not be lost if that flight then dead-letters, and consumers are idempotent.
"""

# SQL text is assembled only from module constants and identifiers checked here, never from
# input; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from hub.aio import wait_event
from hub.broker.abc import Broker, QueueEntry, QueueMessage
from hub.errors import Unavailable
from hub.sqlitedb import SqliteConnection, Synchronous, apply_migrations, load_migrations

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations" / "sqlite"
VERSION_TABLE = "broker_schema_version"

_CLAIM_SQL = """
UPDATE broker_queue
   SET lease_until = :until,
       consumer = :token,
       redelivered = CASE WHEN lease_until IS NOT NULL THEN 1 ELSE redelivered END
 WHERE id IN (SELECT id FROM broker_queue
               WHERE available_at <= :now
                 AND (lease_until IS NULL OR lease_until <= :now)
                 {recipient_filter}
               ORDER BY available_at, id
               LIMIT :n)
RETURNING id, recipient, package_id, attempt, redelivered, available_at
"""
_RECIPIENT_FILTER = "AND recipient IN (SELECT value FROM json_each(:recipients))"


class _LocalMessage(QueueMessage):
    """An entry handed out by :class:`LocalBroker`; settled at most once."""

    def __init__(
        self,
        broker: LocalBroker,
        consumer: _Consumer,
        row_id: int,
        token: str,
        recipient: str,
        package_id: str,
        attempt: int,
        redelivered: bool,
    ) -> None:
        self.recipient = recipient
        self.package_id = package_id
        self.attempt = attempt
        self.redelivered = redelivered
        self._broker = broker
        self._consumer = consumer
        self._row_id = row_id
        self._token = token
        self._settled = False

    def __repr__(self) -> str:
        return (
            f"<LocalMessage {self.recipient}/{self.package_id} attempt={self.attempt} "
            f"redelivered={self.redelivered}>"
        )

    def _settle(self) -> None:
        if self._settled:
            raise RuntimeError(f"{self!r} is already settled")
        self._settled = True
        self._consumer.settled(self._row_id, self._token)

    async def ack(self) -> None:
        """Done: delete the entry (if this claim still holds it)."""
        self._settle()
        await self._broker._ack(self._row_id, self._token)

    async def retry(self, reason: str, *, same_attempt: bool = False) -> None:
        """Re-queue after this attempt's delay tier, with ``attempt + 1`` (or the same)."""
        self._settle()
        await self._broker._retry(
            self._row_id, self._token, self.attempt, reason, 0 if same_attempt else 1
        )

    async def dead_letter(self, reason: str) -> None:
        """Move the entry to ``broker_dead``."""
        self._settle()
        await self._broker._dead_letter(self._row_id, self._token, reason)


class _Consumer:
    """Book-keeping of one ``consume`` iterator: its unsettled entries and its wake-up."""

    def __init__(self) -> None:
        #: (row id, claim token) -> lease end. Keyed by claim: the same row claimed again
        #: after its lease ran out is another slot, which a late settle of the old claim
        #: must not free.
        self.unsettled: dict[tuple[int, str], float] = {}
        self.wakeup = asyncio.Event()

    def settled(self, row_id: int, token: str) -> None:
        self.unsettled.pop((row_id, token), None)
        self.wakeup.set()  # a prefetch slot is free

    def expire(self, now: float) -> None:
        """Free the slots whose lease has run out: the row is claimable again, and a
        handler that never settles it (it failed unexpectedly) must not hold the slot for
        good — after ``prefetch`` of those the consumer would claim nothing more."""
        for key in [k for k, until in self.unsettled.items() if until <= now]:
            del self.unsettled[key]


class LocalBroker(Broker):
    """Broker over a SQLite table; see the module docstring for the semantics."""

    def __init__(
        self,
        path: Path | str,
        *,
        retry_delays: Sequence[float] = (1.0, 5.0, 30.0, 120.0, 600.0),
        lease_seconds: float = 30.0,
        poll_interval: float = 0.25,
        jitter: float = 0.1,
        busy_timeout_ms: int = 10000,
        synchronous: Synchronous = "FULL",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not retry_delays:
            raise ValueError("retry_delays must not be empty")
        if not 0 <= jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        self.path = Path(path)
        self.retry_delays = tuple(retry_delays)
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.jitter = jitter
        # Wall clock by default: leases and delays are compared across processes.
        self._clock = clock
        self._db = SqliteConnection(
            self.path,
            name="broker",
            busy_timeout_ms=busy_timeout_ms,
            synchronous=synchronous,
        )
        # Every claim token starts with this instance's id, so close() can release them all.
        self._instance = uuid.uuid4().hex
        self._claims = itertools.count(1)
        self._consumers: set[_Consumer] = set()
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the connection and create the queue tables if needed."""
        migrations = load_migrations(MIGRATIONS_DIR)
        self._closed = False

        def migrate(conn: sqlite3.Connection) -> None:
            apply_migrations(conn, VERSION_TABLE, migrations)

        await self._db.open(migrate)

    async def close(self) -> None:
        """Stop this instance's consumers and release every lease it holds at once."""
        if self._closed:
            return
        self._closed = True
        for consumer in self._consumers:
            consumer.wakeup.set()
        if self._db.is_open:
            prefix = self._instance + ":%"
            with contextlib.suppress(Unavailable):
                await self._db.write(
                    lambda c: c.execute(
                        "UPDATE broker_queue SET lease_until = NULL, consumer = NULL, "
                        "redelivered = 1 WHERE consumer LIKE ?",
                        (prefix,),
                    )
                )
            await self._db.close()

    async def ping(self) -> None:
        """Raise ``Unavailable`` if closed or the file cannot be read."""
        if self._closed:
            raise Unavailable("broker is closed")
        await self._db.run(lambda c: c.execute("SELECT 1 FROM broker_queue LIMIT 1").fetchall())

    # -- publishing ------------------------------------------------------------------------------

    async def publish(self, entries: Sequence[QueueEntry]) -> None:
        """Insert every entry in one transaction; return after the commit."""
        if self._closed:
            raise Unavailable("broker is closed")
        if not entries:
            return
        now = self._clock()
        rows = [(e.recipient, e.package_id, now, now) for e in entries]
        try:
            await self._db.write(
                lambda c: c.executemany(
                    "INSERT INTO broker_queue (recipient, package_id, attempt, available_at, "
                    "published_at) VALUES (?, ?, 1, ?, ?)",
                    rows,
                )
            )
        except sqlite3.DatabaseError as exc:  # corrupt file, etc.: cannot confirm either
            raise Unavailable(f"broker: {exc}") from exc
        self._wake_all()

    def _wake_all(self) -> None:
        for consumer in self._consumers:
            consumer.wakeup.set()

    # -- consuming -------------------------------------------------------------------------------

    def consume(
        self, recipients: Collection[str] | None = None, *, prefetch: int = 16
    ) -> AsyncIterator[QueueMessage]:
        """Yield due entries for ``recipients`` (all if ``None``) until the broker closes."""
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        return self._consume(None if recipients is None else sorted(set(recipients)), prefetch)

    async def _consume(
        self, recipients: list[str] | None, prefetch: int
    ) -> AsyncIterator[QueueMessage]:
        if recipients is not None and not recipients:
            return
        consumer = _Consumer()
        self._consumers.add(consumer)
        buffered: list[_LocalMessage] = []
        try:
            while not self._closed:
                if buffered:
                    yield buffered.pop(0)
                    continue
                consumer.expire(self._clock())
                free = prefetch - len(consumer.unsettled)
                next_due: float | None = None
                if free > 0:
                    # Clear before querying: a publish after this point sets it again.
                    consumer.wakeup.clear()
                    token = f"{self._instance}:{next(self._claims)}"
                    try:
                        rows, next_due = await self._claim(recipients, free, token)
                    except Unavailable as exc:
                        if self._closed:
                            break
                        log.warning("broker claim failed, will retry: %s", exc)
                        rows = []
                    # Read after the claim: never earlier than the lease_until it wrote.
                    until = self._clock() + self.lease_seconds
                    for row_id, recipient, package_id, attempt, redelivered, _ in rows:
                        consumer.unsettled[(row_id, token)] = until
                        buffered.append(
                            _LocalMessage(
                                self,
                                consumer,
                                row_id,
                                token,
                                recipient,
                                package_id,
                                attempt,
                                bool(redelivered),
                            )
                        )
                    if buffered:
                        continue
                else:
                    consumer.wakeup.clear()
                    if prefetch - len(consumer.unsettled) > 0:
                        continue
                timeout = self.poll_interval
                if next_due is not None:
                    timeout = max(0.0, min(timeout, next_due - self._clock()))
                await wait_event(consumer.wakeup, timeout)
        finally:
            self._consumers.discard(consumer)
            # Claimed but never yielded: hand them back now rather than after the lease.
            if buffered and not self._closed:
                pending = [(m._row_id, m._token) for m in buffered]
                with contextlib.suppress(Exception):
                    await self._release(pending, redelivered=False)

    async def _claim(
        self, recipients: list[str] | None, n: int, token: str
    ) -> tuple[list[Any], float | None]:
        now = self._clock()
        params: dict[str, Any] = {"now": now, "until": now + self.lease_seconds, "token": token}
        params["n"] = n
        if recipients is None:
            recipient_filter, where = "", ""
        else:
            recipient_filter = _RECIPIENT_FILTER
            where = " AND recipient IN (SELECT value FROM json_each(:recipients))"
            params["recipients"] = json.dumps(recipients)
        claim_sql = _CLAIM_SQL.format(recipient_filter=recipient_filter)
        due_sql = (
            "SELECT 1 FROM broker_queue WHERE available_at <= :now "
            f"AND (lease_until IS NULL OR lease_until <= :now){where} LIMIT 1"
        )
        next_sql = f"SELECT MIN(available_at) FROM broker_queue WHERE available_at > :now{where}"

        def probe(conn: sqlite3.Connection) -> tuple[bool, float | None]:
            due = conn.execute(due_sql, params).fetchone() is not None
            nxt = None if due else conn.execute(next_sql, params).fetchone()[0]
            return due, nxt

        def claim(conn: sqlite3.Connection) -> list[Any]:
            # Checked on the connection's thread: once close() has queued its release of this
            # instance's leases, no later job may take new ones.
            if self._closed:
                return []
            return conn.execute(claim_sql, params).fetchall()

        # Probe with a plain read first: WAL readers never block the store's writer, and an
        # idle consumer should not take the write lock every poll.
        due, next_due = await self._db.run(probe)
        if not due:
            return [], next_due
        rows = await self._db.write(claim)
        rows.sort(key=lambda r: (r[5], r[0]))
        return rows, None

    # -- settling ------------------------------------------------------------------------------

    async def _ack(self, row_id: int, token: str) -> None:
        deleted = await self._db.write(
            lambda c: (
                c.execute(
                    "DELETE FROM broker_queue WHERE id = ? AND consumer = ?", (row_id, token)
                ).rowcount
            )
        )
        if not deleted:
            log.info("ack of entry %s ignored: its lease passed to another consumer", row_id)

    async def _retry(self, row_id: int, token: str, attempt: int, reason: str, step: int) -> None:
        delay = self.retry_delays[min(max(attempt, 1) - 1, len(self.retry_delays) - 1)]
        if self.jitter:
            delay *= 1 + random.uniform(-self.jitter, self.jitter)
        available_at = self._clock() + delay
        updated = await self._db.write(
            lambda c: (
                c.execute(
                    "UPDATE broker_queue SET available_at = ?, attempt = attempt + ?, "
                    "lease_until = NULL, consumer = NULL, redelivered = 0, last_reason = ? "
                    "WHERE id = ? AND consumer = ?",
                    (available_at, step, reason, row_id, token),
                ).rowcount
            )
        )
        if not updated:
            log.info("retry of entry %s ignored: its lease passed to another consumer", row_id)
        self._wake_all()  # consumers recompute their next due time

    async def _dead_letter(self, row_id: int, token: str, reason: str) -> None:
        now = self._clock()

        def tx(conn: sqlite3.Connection) -> int:
            moved = conn.execute(
                "INSERT INTO broker_dead (recipient, package_id, attempt, reason, at) "
                "SELECT recipient, package_id, attempt, ?, ? FROM broker_queue "
                "WHERE id = ? AND consumer = ?",
                (reason, now, row_id, token),
            ).rowcount
            conn.execute("DELETE FROM broker_queue WHERE id = ? AND consumer = ?", (row_id, token))
            return moved

        if not await self._db.write(tx):
            log.info(
                "dead-letter of entry %s ignored: its lease passed to another consumer", row_id
            )

    async def _release(self, claims: Sequence[tuple[int, str]], *, redelivered: bool) -> None:
        # Entries claimed but never handed to the application keep their redelivered flag.
        flag = ", redelivered = 1" if redelivered else ""
        await self._db.write(
            lambda c: c.executemany(
                f"UPDATE broker_queue SET lease_until = NULL, consumer = NULL{flag} "
                "WHERE id = ? AND consumer = ?",
                claims,
            )
        )
        self._wake_all()
