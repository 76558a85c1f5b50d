"""Lifecycle policy ``compatible`` (the default) over HTTP, beside a ``strict`` agency
(``lifecycle_policy`` in agencies.toml): the sequences real systems send (issue 10)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from hub.client import HubProblem
from hub.demo.factory import Signer, document, status
from hub.edxml import Organ
from hub.lifecycle.config import load_lifecycle
from tests.api.conftest import start_hub, submit_refused
from tests.conftest import WorkdirFactory

G22, H41, H29, H14 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H29", "000.00.00.H14"
FAR = datetime(2100, 1, 1, tzinfo=UTC)  # "unanswered, sent before" any moment of the test
T0 = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
_minutes = itertools.count(1)


def _status(signer: Signer, author: str, doc_id: str, code: str) -> bytes:
    """A status with its own timestamp: the same code twice is two packages, not a retry."""
    when = T0 + timedelta(minutes=next(_minutes))
    return status(signer, document_author=author, document_id=doc_id, code=code, when=when)


async def test_compatible_sequences_and_strict_agency(
    make_workdir: WorkdirFactory, signers: Callable[[str], Signer]
) -> None:
    workdir = make_workdir()
    agencies = workdir.config_dir / "agencies.toml"
    text = agencies.read_text(encoding="utf-8")
    marker = f'organ_id = "{H14}"\n'
    assert marker in text
    agencies.write_text(text.replace(marker, marker + 'lifecycle_policy = "strict"\n'), "utf-8")
    settings = load_lifecycle(workdir.config_dir)
    assert (settings.policy, settings.policy_for(H14), settings.policy_for(H41)) == (
        "compatible",
        "strict",
        "compatible",
    )
    g22, h41, h29, h14 = signers(G22), signers(H41), signers(H29), signers(H14)
    async with start_hub(workdir) as hub:
        doc_id, data = document(g22, [Organ(organ_id=a) for a in (H41, H29, H14)], number=1)
        sent = await (await hub.client(G22)).submit(data)

        async def send(signer: Signer, code: str) -> None:
            await (await hub.client(signer.organ_id)).submit(_status(signer, G22, doc_id, code))

        async def refused(signer: Signer, code: str) -> HubProblem:
            data = _status(signer, G22, doc_id, code)
            return await submit_refused(hub, signer.organ_id, data)

        async def take_back(to: str) -> None:
            await (await hub.client(G22)).submit(_take_back(g22, doc_id, to))

        # The sequence: 01, the author's 13, the recipient's 16 → back at 01, and
        # then 03 and 02 are accepted (strict refused them: "state is 16").
        await send(h41, "01")
        await take_back(H41)
        await send(h41, "16")
        await send(h41, "03")
        await send(h41, "02")
        # The same code again is the one refusal (409), except 05.
        problem = await refused(h41, "03")
        assert (problem.status, problem.code) == (409, "lifecycle.illegal_transition")
        assert "already sent" in problem.detail and "compatible" in problem.detail
        await send(h41, "05")
        await send(h41, "05")
        # 15/16 without a pending 13, and a second 13 after a 16: refused.
        assert (await refused(h41, "15")).code == "lifecycle.illegal_transition"
        with pytest.raises(HubProblem) as info:
            await (await hub.client(G22)).submit(_take_back(g22, doc_id, H41))
        assert info.value.code == "lifecycle.illegal_transition"
        # 04/05/06 without a prior 03 (no numeric order under compatible).
        await send(h29, "04")
        await send(h29, "06")
        # H14 is strict: 05 before 01/03 is refused, its own 01 then 03 go through.
        assert (await refused(h14, "05")).status == 409
        await send(h14, "01")
        await send(h14, "03")

        trace = await (await hub.client(G22)).trace(sent.package_id)
        states = {s["recipient"]: s["state"] for s in trace["lifecycle"]["states"]}
        assert {k: states[k] for k in (H41, H29, H14)} == {H41: "05", H29: "06", H14: "03"}
        codes = {s["recipient"]: s["codes"] for s in trace["lifecycle"]["states"]}
        assert codes[H29] == ["04", "06"]
        moves = [(h["party"], h["from"], h["to"]) for h in trace["lifecycle"]["history"]]
        h41_moves = [(f, t) for p, f, t in moves if p == H41 and f]
        assert h41_moves == [
            ("none", "01"),
            ("01", "13"),
            ("13", "16"),  # the history names the code; the row went back to 01
            ("01", "03"),
            ("03", "02"),
            ("02", "05"),
            ("05", "05"),
        ]
        # Alarms and reports read answered_at: every recipient that sent a code answered.
        lc = hub.runtime.store.lifecycle()
        rows = {r.recipient: r for r in await lc.documents(doc_id)}
        assert all(rows[a].answered_at is not None for a in (H41, H29, H14))
        assert rows[H41].codes == ("01", "13", "16", "03", "02", "05")
        unanswered = {r.recipient for r in await lc.unanswered(FAR) if r.document_id == doc_id}
        assert unanswered == {"000.00.01.H41"}  # the copy rule's recipient, silent


async def test_take_back_refused_from_none_counts_as_answered(
    make_workdir: WorkdirFactory, signers: Callable[[str], Signer]
) -> None:
    """13 before any answer, refused with 16: the row returns to ``none`` yet is answered
    (no ``document_unanswered`` alarm); the recipient may then send 01."""
    g22, h29 = signers(G22), signers(H29)
    async with start_hub(make_workdir()) as hub:
        doc_id, data = document(g22, [Organ(organ_id=H29)], number=2)
        await (await hub.client(G22)).submit(data)
        await (await hub.client(G22)).submit(_take_back(g22, doc_id, H29))
        h29c = await hub.client(H29)
        await h29c.submit(_status(h29, G22, doc_id, "16"))
        lc = hub.runtime.store.lifecycle()
        (row,) = await lc.documents(doc_id)
        assert (row.state, row.prior_state) == ("none", None)
        assert row.answered_at is not None
        assert not [r for r in await lc.unanswered(FAR) if r.document_id == doc_id]
        await h29c.submit(_status(h29, G22, doc_id, "01"))
        (row,) = await lc.documents(doc_id)
        assert row.state == "01"


def _take_back(author: Signer, doc_id: str, to: str) -> bytes:
    """The author's 13 for ``doc_id``, addressed to the recipient ``to`` (ResponseFor)."""
    return _status(author, to, doc_id, "13")
