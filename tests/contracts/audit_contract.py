"""The audit contract: chained events, signed checkpoints and every kind of tampering, run
against SQLite and a real PostgreSQL (``tests/audit/test_audit_backends.py``).

``env`` fixtures provide ``(store, sql)`` where ``sql(statement, params)`` runs raw SQL on the
store's tables with ``?`` placeholders — the attacker with database access.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hub.audit.chain import sealed
from hub.audit.service import verify_store, write_checkpoint
from hub.models import Event
from hub.receipts import ReceiptSigner
from hub.store import Store
from hub.store.records import ChainedEvent

Sql = Callable[[str, tuple[object, ...]], Awaitable[None]]
T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


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


async def check_clean_log_verifies(store: Store, sql: Sql) -> None:
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


async def check_edited(store: Store, sql: Sql) -> None:
    signer = make_signer()
    events = await populate(store, signer)
    await sql("UPDATE events SET kind = 'refused' WHERE seq = ?", (events[2].seq,))
    assert await _verdict(store, signer) == ("edited", events[2].seq)


async def check_edited_and_rehashed(store: Store, sql: Sql) -> None:
    signer = make_signer()
    events = await populate(store, signer)
    forged = sealed(replace(events[2], kind="refused"))
    await sql(
        "UPDATE events SET kind = 'refused', hash = ? WHERE seq = ?", (forged.hash, forged.seq)
    )
    assert await _verdict(store, signer) == ("edited", events[2].seq)


async def check_chain_rewritten(store: Store, sql: Sql) -> None:
    """The attacker edits an event and recomputes every later hash and the chain's head:
    only the signed checkpoint can tell, and it does."""
    signer = make_signer()
    events = await populate(store, signer)
    prev = events[5].prev_hash
    for i, ev in enumerate(events[5:]):
        forged = sealed(replace(ev, prev_hash=prev, kind="refused" if i == 0 else ev.kind))
        await sql(
            "UPDATE events SET kind = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            (forged.kind, forged.prev_hash, forged.hash, ev.seq),
        )
        prev = forged.hash
    await sql("UPDATE audit_chains SET head_hash = ?", (prev,))
    assert await _verdict(store, signer) == ("edited", events[4].seq)


async def check_deleted(store: Store, sql: Sql) -> None:
    signer = make_signer()
    events = await populate(store, signer)
    await sql("DELETE FROM events WHERE seq = ?", (events[3].seq,))
    assert await _verdict(store, signer) == ("deleted", events[4].seq)


async def check_deleted_and_renumbered(store: Store, sql: Sql) -> None:
    signer = make_signer()
    events = await populate(store, signer)
    await sql("DELETE FROM events WHERE seq = ?", (events[3].seq,))
    await sql("UPDATE events SET chain_seq = chain_seq - 1 WHERE seq > ?", (events[3].seq,))
    await sql("UPDATE audit_chains SET head_seq = head_seq - 1", ())
    assert await _verdict(store, signer) == ("deleted", events[4].seq)


async def check_tail_deleted(store: Store, sql: Sql) -> None:
    signer = make_signer()
    events = await populate(store, signer)
    await sql("DELETE FROM events WHERE seq = ?", (events[-1].seq,))
    await sql("UPDATE audit_chains SET head_seq = head_seq - 1, head_hash = ?", (events[-2].hash,))
    kind, _ = await _verdict(store, signer)
    assert kind == "deleted"


async def check_inserted_unchained(store: Store, sql: Sql) -> None:
    signer = make_signer()
    await populate(store, signer)
    await sql(
        "INSERT INTO events (package_id, kind, at, detail) VALUES (?, 'acked', ?, '{}')",
        ("pkg-1", "2026-03-02T01:40:00.000000+00:00"),
    )
    events = await store.audit().all_events()
    assert await _verdict(store, signer) == ("inserted", events[-1].seq)


async def check_inserted_in_chain(store: Store, sql: Sql) -> None:
    """A forged event placed at position #4 with a correct hash, the rest renumbered."""
    signer = make_signer()
    events = await populate(store, signer)
    await sql("UPDATE events SET chain_seq = chain_seq + 1 WHERE seq >= ?", (events[3].seq,))
    await sql("UPDATE audit_chains SET head_seq = head_seq + 1", ())
    forged = sealed(
        replace(events[3], seq=events[-1].seq + 100, kind="acked", detail={"forged": True})
    )
    await sql(
        "INSERT INTO events (seq, package_id, kind, at, recipient, attempt, detail, chain_id, "
        "chain_seq, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            forged.seq,
            forged.package_id,
            forged.kind,
            forged.at.isoformat(timespec="microseconds"),
            forged.recipient,
            forged.attempt,
            '{"forged": true}',
            forged.chain_id,
            forged.chain_seq,
            forged.prev_hash,
            forged.hash,
        ),
    )
    kind, seq = await _verdict(store, signer)
    assert (kind, seq) == ("inserted", forged.seq) or (kind, seq) == ("inserted", None)


async def check_reordered_in_chain(store: Store, sql: Sql) -> None:
    signer = make_signer()
    events = await populate(store, signer)
    a, b = events[5], events[6]
    await sql("UPDATE events SET chain_seq = -1 WHERE seq = ?", (a.seq,))
    await sql("UPDATE events SET chain_seq = ? WHERE seq = ?", (a.chain_seq, b.seq))
    await sql("UPDATE events SET chain_seq = ? WHERE seq = ?", (b.chain_seq, a.seq))
    assert await _verdict(store, signer) == ("reordered", b.seq)


async def check_reordered_trace(store: Store, sql: Sql) -> None:
    """Swapping two events' seq (their order in a package's trace)."""
    signer = make_signer()
    events = await populate(store, signer)
    a, b = events[1], events[2]
    await sql("UPDATE events SET seq = -1 WHERE seq = ?", (a.seq,))
    await sql("UPDATE events SET seq = ? WHERE seq = ?", (a.seq, b.seq))
    await sql("UPDATE events SET seq = ? WHERE seq = -1", (b.seq,))
    kind, seq = await _verdict(store, signer)
    assert kind == "reordered" and seq in (a.seq, b.seq)


async def check_checkpoint_forged(store: Store, sql: Sql) -> None:
    signer = make_signer()
    await populate(store, signer)
    other = make_signer()  # a key that is not the hub's
    await sql("DELETE FROM audit_checkpoints WHERE id = 2", ())
    await write_checkpoint(store, other, "hub")
    kind, _ = await _verdict(store, signer)
    assert kind == "checkpoint"


async def check_checkpoint_deleted(store: Store, sql: Sql) -> None:
    signer = make_signer()
    await populate(store, signer)
    await write_checkpoint(store, signer, "hub")
    await sql("DELETE FROM audit_checkpoints WHERE id = 2", ())
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


def digest(data: bytes) -> str:
    """SHA-256 hex (helper for callers)."""
    return hashlib.sha256(data).hexdigest()
