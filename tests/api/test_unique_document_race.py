"""Issue 12: two different packages with the same DocumentId posted at the same moment — exactly
one is accepted (202), the other refused ``409 package.conflict`` naming the winner; the same
bytes posted again get the winner's receipt. The store's unique constraint (migration 0014) is
the guarantee; ``step_deduplicate`` only answers most conflicts early.

The two-worker variant (two hub processes, both backends) is in
``tests/scale/test_unique_document_workers.py``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from hub.client import HubProblem, Submitted
from hub.demo.factory import Signer, document
from hub.edxml import Organ
from hub.pipeline import ingest
from hub.pipeline.ingest import Routed
from hub.store import Store
from tests.api.conftest import RunningHub

G22, H14 = "000.00.00.G22", "000.00.00.H14"
PAIRS = 20


def one_accepted(results: list[Submitted | BaseException]) -> tuple[Submitted, HubProblem]:
    """The single acceptance and the single refusal of a pair (fails on anything else)."""
    accepted = [r for r in results if isinstance(r, Submitted)]
    refused = [r for r in results if isinstance(r, HubProblem)]
    assert len(accepted) == 1 and len(refused) == 1, results
    assert accepted[0].created
    assert (refused[0].status, refused[0].code) == (409, "package.conflict")
    assert refused[0].body.get("existing") == accepted[0].package_id
    return accepted[0], refused[0]


async def test_pairs_posted_at_once_one_accepted_each(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    client = await hub.client(G22)
    for n in range(PAIRS):
        doc_id, a = document(signers(G22), [Organ(organ_id=H14)], number=100 + n, attachments=1)
        _, b = document(signers(G22), [Organ(organ_id=H14)], number=100 + n, attachments=2)
        assert a != b
        results = await asyncio.gather(client.submit(a), client.submit(b), return_exceptions=True)
        winner, _ = one_accepted(results)
        stored = await hub.runtime.store.find_document(G22, doc_id, 0)
        assert stored is not None and stored.id == winner.package_id
        # The loser left no lifecycle rows behind: one document row per recipient.
        rows = await hub.runtime.store.lifecycle().documents(doc_id)
        assert {r.package_id for r in rows} == {winner.package_id}
    assert await hub.runtime.store.count_packages() == PAIRS


async def test_same_bytes_racing_a_conflict_get_the_winners_receipt(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    client = await hub.client(G22)
    for n in range(5):
        _, a = document(signers(G22), [Organ(organ_id=H14)], number=200 + n, attachments=1)
        _, b = document(signers(G22), [Organ(organ_id=H14)], number=200 + n, attachments=2)
        results = await asyncio.gather(
            client.submit(a), client.submit(a), client.submit(b), return_exceptions=True
        )
        accepted = [r for r in results if isinstance(r, Submitted)]
        refused = [r for r in results if isinstance(r, HubProblem)]
        assert len(accepted) + len(refused) == 3, results
        assert len({s.package_id for s in accepted}) == 1  # one package, whoever won
        assert sum(s.created for s in accepted) == 1
        assert all((p.status, p.code) == (409, "package.conflict") for p in refused)
        # a won: b refused; b won: both copies of a refused.
        assert len(refused) in (1, 2)
    assert await hub.runtime.store.count_packages() == 5


async def test_without_the_fast_path_the_constraint_decides(
    hub: RunningHub, signers: Callable[[str], Signer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read before the insert switched off: every conflict reaches the store, whose unique
    index refuses it; the caller still gets 409 naming the stored package, and the package
    that lost leaves nothing (no package, no lifecycle row)."""

    async def no_read(routed: Routed, store: Store) -> Routed:
        return routed

    monkeypatch.setattr(ingest, "step_deduplicate", no_read)
    client = await hub.client(G22)
    doc_id, a = document(signers(G22), [Organ(organ_id=H14)], number=300, attachments=1)
    _, b = document(signers(G22), [Organ(organ_id=H14)], number=300, attachments=2)
    first = await client.submit(a)
    with pytest.raises(HubProblem) as info:
        await client.submit(b)
    one_accepted([first, info.value])
    assert (await client.submit(a)).package_id == first.package_id  # same bytes: its receipt
    assert await hub.runtime.store.count_packages() == 1
    rows = await hub.runtime.store.lifecycle().documents(doc_id)
    assert {r.package_id for r in rows} == {first.package_id}
    for n in range(5):  # and at once
        _, c = document(signers(G22), [Organ(organ_id=H14)], number=310 + n, attachments=1)
        _, d = document(signers(G22), [Organ(organ_id=H14)], number=310 + n, attachments=2)
        one_accepted(
            await asyncio.gather(client.submit(c), client.submit(d), return_exceptions=True)
        )
    assert await hub.runtime.store.count_packages() == 6


async def test_a_submission_leaves_the_conflict_to_the_commit_a_dry_run_reads(
    hub: RunningHub, signers: Callable[[str], Signer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A submission makes no DocumentId read before its commit (the constraint answers, with
    the same 409); ``/v1/validate``, which commits nothing, reads and refuses the same way."""
    store = hub.runtime.store
    reads: list[tuple[str, str, int | None]] = []
    original = store.find_document

    async def counting(sender: str, document_id: str, bdt: int | None) -> object:
        reads.append((sender, document_id, bdt))
        return await original(sender, document_id, bdt)

    monkeypatch.setattr(store, "find_document", counting)
    client = await hub.client(G22)
    doc_id, a = document(signers(G22), [Organ(organ_id=H14)], number=400, attachments=1)
    _, b = document(signers(G22), [Organ(organ_id=H14)], number=400, attachments=2)
    first = await client.submit(a)
    assert reads == []  # a new document: no read before its commit
    with pytest.raises(HubProblem) as dry:
        await client.validate(b)
    assert (dry.value.status, dry.value.code) == (409, "package.conflict")
    assert reads == [(G22, doc_id, 0)]
    with pytest.raises(HubProblem) as refused:
        await client.submit(b)
    one_accepted([first, refused.value])
    # Only the refusal's own look-up of the package it names (after the commit refused it).
    assert reads == [(G22, doc_id, 0)] * 2
