"""Two statuses planned from the same state reach the accept group together: the store's
compare-and-set lets one through, the other is refused alone with the refusal a plan gives
(``lifecycle.illegal_transition``, a ``refused`` event on the document's trace)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from hub.client import HubProblem
from hub.demo.factory import Signer, document, status
from hub.edxml import Organ
from hub.pipeline.accept import Committed, Submission
from tests.api.conftest import RunningHub, hub  # noqa: F401 - the running-hub fixture

G22, H41 = "000.00.00.G22", "000.00.00.H41"


async def test_a_lost_compare_and_set_refuses_only_that_package(
    hub: RunningHub,  # noqa: F811
    signers: Callable[[str], Signer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    doc_id, data = document(signers(G22), [Organ(organ_id=H41)], number=1)
    sent = await (await hub.client(G22)).submit(data)
    later = datetime.now(UTC) + timedelta(minutes=5)
    answers = [
        status(signers(H41), document_author=G22, document_id=doc_id, code="01"),
        status(signers(H41), document_author=G22, document_id=doc_id, code="01", when=later),
    ]
    assert answers[0] != answers[1]

    # Both submissions are planned (from state "none") before either commits.
    groups = hub.runtime.groups
    original = groups.add
    arrived: list[Submission] = []
    both = asyncio.Event()

    async def together(submission: Submission) -> Committed:
        arrived.append(submission)
        if len(arrived) == 2:
            both.set()
        await both.wait()
        return await original(submission)

    monkeypatch.setattr(groups, "add", together)
    recipient = await hub.client(H41)
    results = await asyncio.gather(*(recipient.submit(a) for a in answers), return_exceptions=True)
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, HubProblem)]
    assert len(accepted) == 1 and len(refused) == 1
    assert refused[0].code == "lifecycle.illegal_transition"
    trace = await (await hub.client(G22)).trace(sent.package_id)
    assert [e["kind"] for e in trace["events"]].count("refused") == 1
    states = {s["recipient"]: s["state"] for s in trace["lifecycle"]["states"]}
    assert states[H41] == "01"  # moved once, by the package that won
