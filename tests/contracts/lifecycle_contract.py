"""The lifecycle part of the store (:class:`hub.store.facets.LifecycleStore`): one suite,
run on SQLite (tests/lifecycle/test_lifecycle_store.py) and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hub.errors import IllegalTransition
from hub.models import DeliveryState, NewPackage, PackageKind
from hub.store.abc import Store
from hub.store.records import (
    DocMove,
    DocState,
    DossierMove,
    DossierState,
    LifecycleChange,
    Transition,
    WalkMark,
)

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
A, B, C = "000.00.00.G22", "000.00.00.H41", "000.00.00.H29"


def _doc(pkg: str, recipient: str, at: datetime = T0) -> DocState:
    return DocState(A, f"{A},2026/03/02,1/CV", recipient, pkg, 0, None, "none", at, None, at)


def _tr(key: str, to: str, sha: str, party: str | None = None) -> Transition:
    return Transition("document", key, party, "", to, "p1", sha, T0, A)


def _dossier(state: str = "1") -> DossierState:
    return DossierState("HS-1", "1.1", B, A, True, 3, state, T0, None, T0 + timedelta(days=5),
                        None, T0, "d1")  # fmt: skip


class LifecycleContract:
    @pytest.fixture
    def store_factory(self) -> Callable[[], Store]:
        raise NotImplementedError

    async def test_documents_moves_and_idempotence(
        self, store_factory: Callable[[], Store]
    ) -> None:
        async with store_factory() as store:
            lc = store.lifecycle()
            key = f"{A},2026/03/02,1/CV"
            new = LifecycleChange(
                sha256="s1", at=T0, new_docs=(_doc("p1", B), _doc("p1", C)),
                transitions=(_tr(key, "none", "s1", B), _tr(key, "none", "s1", C)),
            )  # fmt: skip
            assert await lc.apply(new) is True
            assert await lc.apply(new) is False  # the same package again: nothing written
            rows = await lc.documents(key)
            assert [(r.recipient, r.state) for r in rows] == [(C, "none"), (B, "none")] or [
                (r.recipient, r.state) for r in rows
            ] == [(B, "none"), (C, "none")]
            later = T0 + timedelta(hours=1)
            move = LifecycleChange(
                sha256="s2", at=later, doc_moves=(DocMove("p1", B, "none", "01", answered=True),),
                transitions=(_tr(key, "01", "s2", B),),
            )  # fmt: skip
            assert await lc.apply(move)
            b = next(r for r in await lc.documents(key) if r.recipient == B)
            assert (b.state, b.answered_at) == ("01", later)
            stale = LifecycleChange(
                sha256="s3", at=later, doc_moves=(DocMove("p1", B, "none", "03"),),
                transitions=(_tr(key, "03", "s3", B),),
            )  # fmt: skip
            with pytest.raises(IllegalTransition):
                await lc.apply(stale)
            assert not await lc.transitions(sha256="s3")  # all or nothing
            assert [t.to_state for t in await lc.transitions(key=key)] == ["none", "none", "01"]
            unanswered = await lc.unanswered(T0 + timedelta(days=1))
            assert [(r.recipient, r.state) for r in unanswered] == [(C, "none")]
            assert len(await lc.document_rows(T0, T0 + timedelta(seconds=1))) == 2
            assert await lc.document_rows(T0 + timedelta(seconds=1), later) == []

    async def test_unanswered_a_page_at_a_time(self, store_factory: Callable[[], Store]) -> None:
        """``after``/``limit`` page through the unanswered rows in sending order, ties on the
        sending time broken by package and recipient, and the pages add up to the whole."""
        async with store_factory() as store:
            lc = store.lifecycle()
            docs = tuple(
                _doc(f"p{i}", r, T0 + timedelta(minutes=i // 4))  # four rows per minute
                for i in range(9)
                for r in (C, B)
            )
            assert await lc.apply(LifecycleChange(sha256="many", at=T0, new_docs=docs))
            end = T0 + timedelta(days=1)
            whole = await lc.unanswered(end)
            assert len(whole) == 18
            assert [r.key for r in whole] == sorted(r.key for r in whole)
            pages, after = [], None
            while page := await lc.unanswered(end, after=after, limit=5):
                assert len(page) <= 5
                pages.append(page)
                after = page[-1].key
            assert [r for p in pages for r in p] == list(whole)
            assert [len(p) for p in pages] == [5, 5, 5, 3]
            assert await lc.unanswered(T0 + timedelta(minutes=1), limit=100) == whole[:8]

    async def test_concurrent_moves_exactly_one_wins(
        self, store_factory: Callable[[], Store]
    ) -> None:
        async with store_factory() as store:
            lc = store.lifecycle()
            key = f"{A},2026/03/02,1/CV"
            await lc.apply(LifecycleChange(sha256="n", at=T0, new_docs=(_doc("p1", B),),
                                           transitions=(_tr(key, "none", "n", B),)))  # fmt: skip
            racers = [
                LifecycleChange(
                    sha256=f"r{i}",
                    at=T0,
                    doc_moves=(DocMove("p1", B, "none", code),),
                    transitions=(_tr(key, code, f"r{i}", B),),
                )
                for i, code in enumerate(("01", "02", "03", "01", "03", "02"))
            ]
            results = await asyncio.gather(*(lc.apply(r) for r in racers), return_exceptions=True)
            assert sum(r is True for r in results) == 1
            assert all(isinstance(r, IllegalTransition) for r in results if r is not True)

    async def test_dossiers_claims_activity(self, store_factory: Callable[[], Store]) -> None:
        async with store_factory() as store:
            lc = store.lifecycle()
            create = LifecycleChange(sha256="d1", at=T0, dossier=DossierMove(_dossier(), None))
            assert await lc.apply(create)
            with pytest.raises(IllegalTransition):  # created twice (another package)
                await lc.apply(dataclasses.replace(create, sha256="d1b"))
            accepted = dataclasses.replace(_dossier("2"), accepted_at=T0)
            move = LifecycleChange(sha256="d2", at=T0, dossier=DossierMove(accepted, "1"))
            assert await lc.apply(move)
            got = await lc.dossier("HS-1")
            assert got is not None and (got.state, got.accepted_at, got.online) == ("2", T0, True)
            assert got.due_at == T0 + timedelta(days=5)
            assert [d.ma_ho_so for d in await lc.open_dossiers()] == ["HS-1"]
            assert len(await lc.dossier_rows(T0, T0 + timedelta(days=1))) == 1
            keys = [("k1", "agency_silent"), ("k2", "dossier_overdue")]
            first, second = await asyncio.gather(
                lc.claim_notifications(keys, T0), lc.claim_notifications(keys, T0)
            )
            assert sorted([*first, *second]) == ["k1", "k2"]
            assert await lc.last_activity() == {}

    async def test_prior_state_and_codes_compare_and_set(
        self, store_factory: Callable[[], Store]
    ) -> None:
        """Migration 0008: the state a 16 returns to and the codes recorded round-trip, and the
        compare-and-set holds on both (issue 10, policy ``compatible``)."""
        async with store_factory() as store:
            lc = store.lifecycle()
            key = f"{A},2026/03/02,1/CV"

            def change(sha: str, m: DocMove) -> LifecycleChange:
                tr = _tr(key, m.to, sha, m.recipient)
                return LifecycleChange(sha256=sha, at=T0, doc_moves=(m,), transitions=(tr,))

            new = LifecycleChange(
                sha256="n",
                at=T0,
                new_docs=(_doc("p1", B),),
                transitions=(_tr(key, "none", "n", B),),
            )
            await lc.apply(new)
            steps = [
                DocMove("p1", B, "none", "01", answered=True),  # codes: ('01',)
                DocMove("p1", B, "01", "13", prior="01", expect_codes=("01",)),
                DocMove("p1", B, "13", "01", expect_codes=("01", "13"), codes=("01", "13", "16")),
            ]
            for i, m in enumerate(steps):
                assert await lc.apply(change(f"m{i}", m))
                row = (await lc.documents(key))[0]
                assert (row.state, row.prior_state, row.codes) == (m.to, m.prior, m.new_codes)
            # Same state, other codes recorded: a stale compare-and-set loses.
            with pytest.raises(IllegalTransition):
                await lc.apply(change("st", DocMove("p1", B, "01", "03", expect_codes=("01",))))
            five = DocMove("p1", B, "01", "05", expect_codes=("01", "13", "16"))
            assert await lc.apply(change("f0", five))
            # Two 05 racing from 05 (the code that may repeat): both apply, neither changes
            # what the other expects.
            again = DocMove("p1", B, "05", "05", expect_codes=("01", "13", "16", "05"))
            results = await asyncio.gather(
                lc.apply(change("r0", again)), lc.apply(change("r1", again))
            )
            assert results == [True, True]
            row = (await lc.documents(key))[0]
            assert (row.state, row.prior_state, row.codes) == ("05", None, ("01", "13", "16", "05"))


class WalkMarkContract:
    """Where a walk stopped (migration 0016): stored with the claims of its page, in the same
    transaction, and only forward under the same settings."""

    async def test_the_mark_moves_forward_only(self, store_factory: Callable[[], Store]) -> None:
        async with store_factory() as store:
            lc = store.lifecycle()
            assert await lc.walk_mark("w") is None

            async def mark(settings: str, position: tuple[datetime, str, str]) -> None:
                walk = WalkMark("w", settings, position)
                assert await lc.claim_notifications([], T0, walk=walk) == []

            first = WalkMark("w", "s1", (T0, "p2", B))
            claimed = await lc.claim_notifications([("k1", "document_unanswered")], T0, walk=first)
            assert claimed == ["k1"]
            assert await lc.walk_mark("w") == first
            assert await lc.walk_mark("other") is None
            # Behind it in sending order, under the same settings: kept. The order compares
            # bytes, as the walk reads rows ("P" < "p"), whatever the database's collation.
            for behind in ((T0 - timedelta(microseconds=1), "p9", C), (T0, "p1", C),
                           (T0, "p2", B), (T0, "P3", C), (T0, "p2", C)):  # fmt: skip
                await mark("s1", behind)
                assert await lc.walk_mark("w") == first, behind
            # Later: by time, by package, by recipient — and times come back in UTC.
            later_recipient = "000.00.00.H50"  # after B
            for later in ((T0, "p2", later_recipient), (T0, "p3", A),
                          (T0 + timedelta(microseconds=1), "P", A)):  # fmt: skip
                await mark("s1", later)
                assert await lc.walk_mark("w") == WalkMark("w", "s1", later)
            local = datetime(2026, 3, 2, 10, 0, tzinfo=timezone(timedelta(hours=7)))
            await mark("s1", (local, "p0", A))
            got = await lc.walk_mark("w")
            assert got is not None and got.position == (T0 + timedelta(hours=1), "p0", A)
            assert got.position[0].utcoffset() == timedelta(0)
            # Other settings: the walk started over, its mark replaces the stored one.
            await mark("s2", (T0 - timedelta(days=9), "p0", A))
            assert await lc.walk_mark("w") == WalkMark("w", "s2", (T0 - timedelta(days=9), "p0", A))

    async def test_concurrent_marks_keep_the_furthest(
        self, store_factory: Callable[[], Store]
    ) -> None:
        """Processes walking at once, each storing its pages' marks in any order: the stored
        mark ends at the furthest one, and each alarm is claimed once."""
        async with store_factory() as store:
            lc = store.lifecycle()
            positions = [(T0 + timedelta(minutes=i % 7), f"p{i:02d}", B) for i in range(14)]
            results = await asyncio.gather(
                *(
                    lc.claim_notifications(
                        [(f"k{i % 5}", "document_unanswered")], T0, walk=WalkMark("w", "s", p)
                    )
                    for i, p in enumerate(positions)
                )
            )
            assert sorted(k for r in results for k in r) == [f"k{i}" for i in range(5)]
            assert await lc.walk_mark("w") == WalkMark("w", "s", max(positions))

    async def test_a_mark_refused_leaves_the_claims_unrecorded(
        self, store_factory: Callable[[], Store]
    ) -> None:
        """The claims of a page and its mark commit together: when the mark cannot be stored
        (here a time without a zone, which every store refuses), neither is, so the walk reads
        the page again and still gets its claims."""
        async with store_factory() as store:
            lc = store.lifecycle()
            naive = WalkMark("w", "s", (T0.replace(tzinfo=None), "p1", B))
            keys = [("k1", "document_unanswered"), ("k2", "document_unanswered")]
            with pytest.raises(ValueError, match="naive"):
                await lc.claim_notifications(keys, T0, walk=naive)
            assert await lc.walk_mark("w") is None
            good = WalkMark("w", "s", (T0, "p1", B))
            assert await lc.claim_notifications(keys, T0, walk=good) == ["k1", "k2"]
            assert await lc.walk_mark("w") == good


class LastActivityContract:
    """``last_activity`` counts receiving too (issue 13): a package sent, one delivered to the
    agency, one it acknowledged. An agency that only receives is not silent."""

    async def test_receiving_and_acknowledging_are_activity(
        self, store_factory: Callable[[], Store]
    ) -> None:
        sender, fetcher, acker, idle = (
            "000.00.00.G22",
            "000.00.00.H41",
            "000.00.01.G22",
            "000.00.01.H41",
        )
        data = "Văn bản".encode()
        package = NewPackage(
            id="activity-1",
            sha256=hashlib.sha256(data).hexdigest(),
            sender=sender,
            kind=PackageKind("document"),
            document_id=f"{sender},2026/03/02,1/VPCP",
            business_doc_type=0,
            status_code=None,
            recipients=(fetcher, acker, idle),
            accepted_at=T0,
            signer_fingerprint="f" * 64,
            signer_subject="CN=test",
            data=data,
            receipt=b"<Receipt/>",
        )
        async with store_factory() as store:
            await store.add_packages([package])
            await store.set_delivery_state("activity-1", fetcher, DeliveryState("delivered"))
            await store.ack("activity-1", acker, T0 + timedelta(hours=1))
            activity = await store.lifecycle().last_activity()
            assert activity[sender] == T0
            assert fetcher in activity  # fetched from its inbox: received
            assert activity[acker] >= T0 + timedelta(hours=1)
            assert idle not in activity  # queued only: nothing received yet
