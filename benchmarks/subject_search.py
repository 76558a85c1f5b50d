"""Subject search cost (issue 10) on a SQLite store of N packages, encryption off and on.

Run: .venv/bin/python benchmarks/subject_search.py [--packages N] [--agencies A] [--repeat R]

Builds a fresh store (temporary file) with N packages of small bytes sent round-robin between
A agencies, each with a real Subject (the demo's eight, plus a numbered word so some words are
rare), then times, median of R runs:

* ``inbox q``: one recipient's inbox (every state listed), first page of 100, a common word pair
  and a word that occurs in one package only;
* ``outbox q``: the same for one sender;
* ``dashboard q``: the operators' search over every package, newest 50.

The Subject filter is ``subject_terms LIKE '% w %'`` inside the listing's own index range, so
a common word returns after reading about a page of rows and a rare one reads the caller's
(inbox/outbox) or every (dashboard) row.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.audit.chain import AuditChain
from hub.demo.factory import SUBJECTS
from hub.models import DeliveryState, NewPackage, PackageKind
from hub.storage_crypto import BlobCipher
from hub.store.records import PackageQuery
from hub.store.sqlite import SqliteStore

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def package(n: int, agencies: list[str]) -> NewPackage:
    sender = agencies[n % len(agencies)]
    recipient = agencies[(n + 1) % len(agencies)]
    data = f"<edXML n='{n}' nonce='{uuid.uuid4()}'/>".encode()
    return NewPackage(
        id=uuid.uuid4().hex,
        sha256=hashlib.sha256(data).hexdigest(),
        sender=sender,
        kind=PackageKind.DOCUMENT,
        document_id=f"{sender},2026/03/02,{n}/UBND",
        business_doc_type=0,
        status_code=None,
        recipients=(recipient,),
        accepted_at=T0 + timedelta(milliseconds=n),
        signer_fingerprint="f" * 64,
        signer_subject="CN=x",
        data=data,
        receipt=b"<Receipt/>",
        subject=f"{SUBJECTS[n % len(SUBJECTS)]} số hiệu{n}",
    )


async def build(path: Path, n: int, agencies: list[str], cipher: BlobCipher | None) -> None:
    store = SqliteStore(path, synchronous="OFF", chainer=AuditChain())
    store.blob_cipher = cipher
    async with store:
        for start in range(0, n, 1000):
            batch = [package(i, agencies) for i in range(start, min(n, start + 1000))]
            await store.add_packages(batch)
        # Deliveries available (inbox lists available/delivered): one UPDATE, not N moves.
        await store._writer.write(
            lambda c: c.execute("UPDATE deliveries SET state = ?", (DeliveryState.AVAILABLE.value,))
        )


async def timed(repeat: int, fn: object) -> float:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        await fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


async def measure(n: int, n_agencies: int, repeat: int, encrypted: bool) -> None:
    agencies = [f"000.00.00.A{i:02d}" for i in range(n_agencies)]
    cipher = BlobCipher({"k": bytes(range(32))}, "k") if encrypted else None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hub.db"
        t = time.perf_counter()
        await build(path, n, agencies, cipher)
        built = time.perf_counter() - t
        store = SqliteStore(path, chainer=AuditChain())
        store.blob_cipher = cipher
        async with store:
            a = agencies[1]
            rare = f"so hieu{n - 7}"  # one package, sent by agencies[(n-7) % A]
            rare_sender = agencies[(n - 7) % n_agencies]
            rare_recipient = agencies[(n - 6) % n_agencies]
            dash = store.dashboard()
            rows = {
                # agencies[1] receives n ≡ 0 (mod 20): Subjects 0 and 4, so "lien thong" (0)
                # is every other row and "dich vu cong" (1) none of its 5,000.
                "inbox q common (page 100)": lambda: store.inbox(
                    a, q="lien thong", limit=100, include_acked=True
                ),
                "inbox q no match": lambda: store.inbox(
                    a, q="dich vu cong", limit=100, include_acked=True
                ),
                "inbox q rare": lambda: store.inbox(rare_recipient, q=rare, include_acked=True),
                "outbox q common (page 100)": lambda: store.outbox(a, q="dich vu cong"),
                "outbox q rare": lambda: store.outbox(rare_sender, q=rare),
                "inbox without q (page 100)": lambda: store.inbox(a, include_acked=True),
                "dashboard q common (50)": lambda: dash.search_packages(
                    PackageQuery(subject="truc tuyen")
                ),
                "dashboard q rare": lambda: dash.search_packages(PackageQuery(subject=rare)),
            }
            found = await store.outbox(rare_sender, q=rare)
            assert len(found.items) == 1, "the rare word must find its one package"
            mode = "encryption on (keyed hashes)" if encrypted else "encryption off (words)"
            print(f"\n{n} packages, {n_agencies} agencies, {mode}; built in {built:.1f} s")
            for name, fn in rows.items():
                print(f"  {name:32s} {await timed(repeat, fn):8.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=100_000)
    parser.add_argument("--agencies", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for encrypted in (False, True):
        asyncio.run(measure(args.packages, args.agencies, args.repeat, encrypted))


if __name__ == "__main__":
    main()
