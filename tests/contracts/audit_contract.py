"""The audit contract: chained events, signed checkpoints and every kind of tampering, and the
retention purge, run against SQLite and a real PostgreSQL (``tests/audit/test_audit_backends.py``)
and the memory store (``tests/store/test_memory_store.py``).

A test class inherits :class:`AuditContract` and provides the ``audit_env`` fixture:
``(store, tamper)``, where ``tamper`` (:class:`Tamper`) is the attacker with access to the
store's tables, bypassing the store. The SQL backends pass :class:`SqlTamper` over a function
running raw SQL with ``?`` placeholders; the memory store changes its backing directly.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hub.audit.chain import sealed
from hub.audit.service import PurgeRun, purge, verify_store, write_checkpoint
from hub.models import DeliveryChange, DeliveryState, Event, NewPackage
from hub.receipts import ReceiptSigner
from hub.store import Store
from hub.store.records import ChainedEvent
from tests.contracts.store_contract import G22, H29, new_package

Sql = Callable[[str, tuple[object, ...]], Awaitable[None]]
T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)

#: The event columns :meth:`Tamper.update_event` may set.
EVENT_FIELDS = frozenset({"seq", "kind", "chain_seq", "prev_hash", "hash"})


class Tamper(Protocol):
    """What an attacker with write access to the store's tables does, around the store."""

    async def update_event(self, seq: int, /, **fields: object) -> None:
        """Set columns (:data:`EVENT_FIELDS`, in the order given) of the event row ``seq``."""

    async def shift_chain(self, from_seq: int, by: int) -> None:
        """Move every event row with ``seq >= from_seq`` by ``by`` positions in its chain."""

    async def delete_event(self, seq: int) -> None:
        """Delete the event row ``seq``."""

    async def insert_event(self, row: ChainedEvent) -> None:
        """Insert ``row`` exactly as given (its seq and chain fields)."""

    async def insert_unchained(self, event: Event) -> None:
        """Insert an event row numbered by the store, without chain fields (written around
        the hub)."""

    async def move_heads(self, by: int, head_hash: str | None = None) -> None:
        """Move every chain's recorded head by ``by`` positions, and set its hash if given."""

    async def delete_checkpoint(self, checkpoint_id: int) -> None:
        """Delete a checkpoint."""


class SqlTamper:
    """:class:`Tamper` as SQL statements, run by ``sql``."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    async def update_event(self, seq: int, /, **fields: object) -> None:
        """``UPDATE events SET … WHERE seq = ?``."""
        if not fields or not fields.keys() <= EVENT_FIELDS:
            raise ValueError(f"not an event column to tamper with: {sorted(fields)}")
        columns = ", ".join(f"{name} = ?" for name in fields)  # names checked just above
        await self._sql(f"UPDATE events SET {columns} WHERE seq = ?", (*fields.values(), seq))  # noqa: S608

    async def shift_chain(self, from_seq: int, by: int) -> None:
        """``UPDATE events SET chain_seq = chain_seq + ? WHERE seq >= ?``."""
        await self._sql(
            "UPDATE events SET chain_seq = chain_seq + ? WHERE seq >= ?", (by, from_seq)
        )

    async def delete_event(self, seq: int) -> None:
        """``DELETE FROM events WHERE seq = ?``."""
        await self._sql("DELETE FROM events WHERE seq = ?", (seq,))

    async def insert_event(self, row: ChainedEvent) -> None:
        """``INSERT INTO events (seq, …)`` with every column given."""
        await self._sql(
            "INSERT INTO events (seq, package_id, kind, at, recipient, attempt, detail, chain_id, "
            "chain_seq, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.seq,
                row.package_id,
                row.kind,
                _db_time(row.at),
                row.recipient,
                row.attempt,
                json.dumps(row.detail),
                row.chain_id,
                row.chain_seq,
                row.prev_hash,
                row.hash,
            ),
        )

    async def insert_unchained(self, event: Event) -> None:
        """``INSERT INTO events (package_id, kind, at, detail)``: the seq is the table's."""
        await self._sql(
            "INSERT INTO events (package_id, kind, at, detail) VALUES (?, ?, ?, ?)",
            (event.package_id, event.kind, _db_time(event.at), json.dumps(event.detail)),
        )

    async def move_heads(self, by: int, head_hash: str | None = None) -> None:
        """``UPDATE audit_chains SET head_seq = head_seq + ?[, head_hash = ?]``."""
        if head_hash is None:
            await self._sql("UPDATE audit_chains SET head_seq = head_seq + ?", (by,))
        else:
            await self._sql(
                "UPDATE audit_chains SET head_seq = head_seq + ?, head_hash = ?", (by, head_hash)
            )

    async def delete_checkpoint(self, checkpoint_id: int) -> None:
        """``DELETE FROM audit_checkpoints WHERE id = ?``."""
        await self._sql("DELETE FROM audit_checkpoints WHERE id = ?", (checkpoint_id,))


def _db_time(at: datetime) -> str:
    """A time as both SQL backends take it in a text parameter."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def make_signer() -> ReceiptSigner:
    """A throw-away self-signed ECDSA receipt signer."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "audit test hub")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0 - timedelta(days=1))
        .not_valid_after(T0 + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return ReceiptSigner(key, cert)


async def populate(store: Store, signer: ReceiptSigner, n: int = 8) -> list[ChainedEvent]:
    """``n`` events, a checkpoint after the first half and one at the end."""
    for i in range(n):
        await store.append_event(
            Event(
                package_id=f"pkg-{i % 3}",
                kind=("accepted", "queued", "delivered", "acked")[i % 4],
                at=T0 + timedelta(seconds=i),
                recipient="000.00.00.G22",
                attempt=i,
                detail={"n": i, "note": "Hồ sơ"},
            )
        )
        if i == n // 2 - 1:
            await write_checkpoint(store, signer, "hub", T0 + timedelta(seconds=i))
    await write_checkpoint(store, signer, "hub", T0 + timedelta(seconds=n))
    return await store.audit().all_events()


async def check_clean_log_verifies(store: Store, tamper: Tamper) -> None:
    signer = make_signer()
    events = await populate(store, signer)
    assert all(e.hash and e.chain_id for e in events)
    assert [e.chain_seq for e in events] == list(range(1, 9))
    report = await verify_store(store, signer)
    assert report.ok, report.lines()
    assert report.covered == 8 and report.checkpoints == 2
    assert (await verify_store(store, signer, page_size=3)).lines() == report.lines()


async def _verdict(store: Store, signer: ReceiptSigner) -> tuple[str, int | None]:
    report = await verify_store(store, signer)
    assert not report.ok
    first = report.first
    assert first is not None
    # Streamed in pages of two rows, page boundaries fall inside every case: same report.
    paged = await verify_store(store, signer, page_size=2)
    assert paged.lines() == report.lines()
    return first.kind, first.seq


async def check_edited(store: Store, tamper: Tamper) -> None:
    signer = make_signer()
    events = await populate(store, signer)
    await tamper.update_event(events[2].seq, kind="refused")
    assert await _verdict(store, signer) == ("edited", events[2].seq)


async def check_edited_and_rehashed(store: Store, tamper: Tamper) -> None:
    signer = make_signer()
    events = await populate(store, signer)
    forged = sealed(replace(events[2], kind="refused"))
    await tamper.update_event(forged.seq, kind="refused", hash=forged.hash)
    assert await _verdict(store, signer) == ("edited", events[2].seq)


async def check_chain_rewritten(store: Store, tamper: Tamper) -> None:
    """The attacker edits an event and recomputes every later hash and the chain's head:
    only the signed checkpoint can tell, and it does."""
    signer = make_signer()
    events = await populate(store, signer)
    prev = events[5].prev_hash
    for i, ev in enumerate(events[5:]):
        forged = sealed(replace(ev, prev_hash=prev, kind="refused" if i == 0 else ev.kind))
        await tamper.update_event(
            ev.seq, kind=forged.kind, prev_hash=forged.prev_hash, hash=forged.hash
        )
        prev = forged.hash
    await tamper.move_heads(0, head_hash=prev)
    assert await _verdict(store, signer) == ("edited", events[4].seq)


async def check_deleted(store: Store, tamper: Tamper) -> None:
    signer = make_signer()
    events = await populate(store, signer)
    await tamper.delete_event(events[3].seq)
    assert await _verdict(store, signer) == ("deleted", events[4].seq)


async def check_deleted_and_renumbered(store: Store, tamper: Tamper) -> None:
    signer = make_signer()
    events = await populate(store, signer)
    await tamper.delete_event(events[3].seq)
    await tamper.shift_chain(events[3].seq + 1, -1)
    await tamper.move_heads(-1)
    assert await _verdict(store, signer) == ("deleted", events[4].seq)


async def check_tail_deleted(store: Store, tamper: Tamper) -> None:
    signer = make_signer()
    events = await populate(store, signer)
    await tamper.delete_event(events[-1].seq)
    await tamper.move_heads(-1, head_hash=events[-2].hash)
    kind, _ = await _verdict(store, signer)
    assert kind == "deleted"


async def check_inserted_unchained(store: Store, tamper: Tamper) -> None:
    signer = make_signer()
    await populate(store, signer)
    await tamper.insert_unchained(
        Event(package_id="pkg-1", kind="acked", at=datetime(2026, 3, 2, 1, 40, tzinfo=UTC))
    )
    events = await store.audit().all_events()
    assert await _verdict(store, signer) == ("inserted", events[-1].seq)


async def check_inserted_in_chain(store: Store, tamper: Tamper) -> None:
    """A forged event placed at position #4 with a correct hash, the rest renumbered."""
    signer = make_signer()
    events = await populate(store, signer)
    await tamper.shift_chain(events[3].seq, 1)
    await tamper.move_heads(1)
    forged = sealed(
        replace(events[3], seq=events[-1].seq + 100, kind="acked", detail={"forged": True})
    )
    await tamper.insert_event(forged)
    kind, seq = await _verdict(store, signer)
    assert (kind, seq) == ("inserted", forged.seq) or (kind, seq) == ("inserted", None)


async def check_reordered_in_chain(store: Store, tamper: Tamper) -> None:
    signer = make_signer()
    events = await populate(store, signer)
    a, b = events[5], events[6]
    await tamper.update_event(a.seq, chain_seq=-1)
    await tamper.update_event(b.seq, chain_seq=a.chain_seq)
    await tamper.update_event(a.seq, chain_seq=b.chain_seq)
    assert await _verdict(store, signer) == ("reordered", b.seq)


async def check_reordered_trace(store: Store, tamper: Tamper) -> None:
    """Swapping two events' seq (their order in a package's trace)."""
    signer = make_signer()
    events = await populate(store, signer)
    a, b = events[1], events[2]
    await tamper.update_event(a.seq, seq=-1)
    await tamper.update_event(b.seq, seq=a.seq)
    await tamper.update_event(-1, seq=b.seq)
    kind, seq = await _verdict(store, signer)
    assert kind == "reordered" and seq in (a.seq, b.seq)


async def check_checkpoint_forged(store: Store, tamper: Tamper) -> None:
    signer = make_signer()
    await populate(store, signer)
    other = make_signer()  # a key that is not the hub's
    await tamper.delete_checkpoint(2)
    await write_checkpoint(store, other, "hub")
    kind, _ = await _verdict(store, signer)
    assert kind == "checkpoint"


async def check_checkpoint_deleted(store: Store, tamper: Tamper) -> None:
    signer = make_signer()
    await populate(store, signer)
    await write_checkpoint(store, signer, "hub")
    await tamper.delete_checkpoint(2)
    kind, _ = await _verdict(store, signer)
    assert kind == "checkpoint"


CHECKS = [
    check_clean_log_verifies,
    check_edited,
    check_edited_and_rehashed,
    check_chain_rewritten,
    check_deleted,
    check_deleted_and_renumbered,
    check_tail_deleted,
    check_inserted_unchained,
    check_inserted_in_chain,
    check_reordered_in_chain,
    check_reordered_trace,
    check_checkpoint_forged,
    check_checkpoint_deleted,
]


Env = tuple[Store, Tamper]


class AuditContract:
    """Every check of :data:`CHECKS` on a fresh store; ``audit_env`` provides the store
    (open, empty) and its :class:`Tamper`."""

    @pytest.fixture
    def audit_env(self) -> Env:
        raise NotImplementedError

    @pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
    async def test_tampering_is_caught(
        self, audit_env: Env, check: Callable[[Store, Tamper], Awaitable[None]]
    ) -> None:
        await check(*audit_env)

    # -- the retention purge -------------------------------------------------------------------

    async def test_purge_gets_past_old_unacknowledged_packages(
        self, audit_env: Env, caplog: pytest.LogCaptureFixture
    ) -> None:
        """More old packages still owed to a recipient than a page holds, then old packages
        whose deliveries are all acked or dead: the purge passes the first and purges the
        others in one run, and says how many it kept."""
        store, _ = audit_env
        owed = _aged(650, recipients=(G22, H29))  # more than a batch (500)
        done = _aged(40, recipients=(G22, H29))
        young = new_package(accepted_at=NOW - timedelta(hours=1))
        await store.add_packages([*owed, *done, young])
        # owed: one recipient acked, the other fetched and never acknowledged
        await _settle(store, owed, G22, DeliveryState.ACKED)
        await _settle(store, owed, H29, DeliveryState.DELIVERED)
        await _settle(store, done, G22, DeliveryState.ACKED)
        await _settle(store, done[::2], H29, DeliveryState.ACKED)
        await _settle(store, done[1::2], H29, DeliveryState.DEAD)
        await _settle(store, [young], G22, DeliveryState.ACKED)

        with caplog.at_level(logging.WARNING, logger="hub.audit"):
            run = await purge(store, package_days=1, now=NOW, actor="test")
        assert run == PurgeRun(purged=tuple(p.id for p in done), kept=650, capped=False)
        assert _warnings(caplog) == ["650 package(s) past the 1-day policy keep their bytes"]
        for p in done:
            assert await store.get_bytes(p.id) == b""
            (event,) = [e for e in await store.events_for(p.id) if e.kind == "purged"]
            assert event.detail == {"actor": "test", "policy_days": 1, "sha256": p.sha256}
        for p in (owed[0], owed[-1], young):
            assert await store.get_bytes(p.id) == p.data
        assert await store.audit().purged_at(young.id) is None

        # Nothing left that may go: a run purges nothing and still counts what stays.
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="hub.audit"):
            again = await purge(store, package_days=1, now=NOW)
        assert again == PurgeRun(purged=(), kept=650, capped=False)
        assert _warnings(caplog) == ["650 package(s) past the 1-day policy keep their bytes"]
        signer = make_signer()
        await write_checkpoint(store, signer, "hub", NOW)
        assert (await verify_store(store, signer)).ok

    async def test_purge_pages_through_what_is_due_up_to_the_cap(
        self, audit_env: Env, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Every page of what may go is purged in one run (owed packages interleaved do not
        end a page early or shift the pages), up to ``max_batches`` pages a run."""
        store, _ = audit_env
        aged = _aged(36)
        owed = aged[::4]  # 9 packages, one in every four
        due = [p for p in aged if p not in owed]  # 27 packages
        await store.add_packages(aged)
        await _settle(store, due, G22, DeliveryState.ACKED)

        run = await purge(store, package_days=1, now=NOW, batch=5)
        assert run == PurgeRun(purged=tuple(p.id for p in due), kept=9, capped=False)

        more = _aged(12)
        await store.add_packages(more)
        await _settle(store, more, G22, DeliveryState.DEAD)
        capped = await purge(store, package_days=1, now=NOW, batch=5, max_batches=2)
        assert capped == PurgeRun(purged=tuple(p.id for p in more[:10]), kept=9, capped=True)
        rest = await purge(store, package_days=1, now=NOW, batch=5, max_batches=2)
        assert rest == PurgeRun(purged=tuple(p.id for p in more[10:]), kept=9, capped=False)

        # purge_unacked: the owed ones go too, and nothing is counted as kept.
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="hub.audit"):
            forced = await purge(store, package_days=1, now=NOW, batch=5, purge_unacked=True)
        assert forced == PurgeRun(purged=tuple(p.id for p in owed), kept=0, capped=False)
        assert _warnings(caplog) == []
        assert await purge(store, package_days=1, now=NOW, batch=5) == PurgeRun((), 0, False)

    async def test_purge_walks_up_to_the_last_package_accepted_before_the_cutoff(
        self, audit_env: Env
    ) -> None:
        """Acceptance times are taken before the insert, so ``seq`` order is acceptance order
        only nearly: a package numbered after the last one accepted before the cutoff, though
        accepted earlier, waits for a later run; nothing goes before its time."""
        store, _ = audit_env
        cutoff = NOW - timedelta(days=1)
        first = new_package(accepted_at=cutoff - timedelta(seconds=5))
        late = new_package(accepted_at=cutoff - timedelta(seconds=10))  # numbered after first
        young = new_package(accepted_at=cutoff + timedelta(seconds=1))
        await store.add_packages([first, late, young])
        await _settle(store, [first, late, young], G22, DeliveryState.ACKED)
        assert (await purge(store, package_days=1, now=NOW)).purged == (first.id,)
        later = await purge(store, package_days=1, now=NOW + timedelta(seconds=2))
        assert later.purged == (late.id, young.id)

    async def test_purge_keeps_a_package_owed_again_after_it_was_chosen(
        self, audit_env: Env
    ) -> None:
        """The purge chose a package whose delivery was dead; before its write, an operator
        re-sent it (the delivery is owed again). The write checks once more, in its own
        transaction, and keeps the bytes; ``purge_unacked`` drops them all the same."""
        store, _ = audit_env
        (old,) = _aged(1)
        await store.add_packages([old])
        await _settle(store, [old], G22, DeliveryState.DEAD)
        audit = store.audit()
        (chosen,) = await audit.purge_candidates(NOW - timedelta(days=1), 0, 10, unacked=False)
        assert chosen.package_id == old.id
        await store.set_delivery_state(old.id, G22, DeliveryState.QUEUED)  # re-sent
        event = Event(package_id=old.id, kind="purged", at=NOW, detail={"actor": "test"})
        assert not await audit.purge_package(old.id, event, unacked=False)
        assert await store.get_bytes(old.id) == old.data
        assert not [e for e in await store.events_for(old.id) if e.kind == "purged"]
        assert await audit.purge_package(old.id, event, unacked=True)
        assert await store.get_bytes(old.id) == b""


#: The purge tests' clock: packages made by :func:`_aged` are more than a day old then.
NOW = datetime(2027, 3, 2, 1, 30, tzinfo=UTC)


def _aged(n: int, recipients: tuple[str, ...] = (G22,)) -> list[NewPackage]:
    """``n`` packages accepted about a year before :data:`NOW`, one second apart, in order."""
    return [new_package(recipients=recipients) for _ in range(n)]


async def _settle(
    store: Store, packages: list[NewPackage], recipient: str, state: DeliveryState
) -> None:
    """Move ``recipient``'s delivery of every package to ``state`` in one group."""
    outcomes = await store.settle([DeliveryChange(p.id, recipient, state) for p in packages])
    assert all(o.record is not None and o.record.state is state for o in outcomes)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The purge's warnings, each up to its first colon (the count and the policy)."""
    return [
        r.getMessage().removeprefix("retention purge: ").split(":")[0]
        for r in caplog.records
        if r.name == "hub.audit" and r.levelno == logging.WARNING
    ]


def digest(data: bytes) -> str:
    """SHA-256 hex (helper for callers)."""
    return hashlib.sha256(data).hexdigest()
