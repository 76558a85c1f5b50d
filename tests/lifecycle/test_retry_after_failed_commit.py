"""A status whose accept transaction failed (crash, 503) is accepted when the sender retries the
same bytes: the lifecycle move commits with the package or not at all, so nothing of the failed
attempt stands in the retry's way."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from hub.client import HubProblem
from hub.demo.factory import Signer, document, status
from hub.edxml import Organ
from hub.errors import Unavailable
from hub.pipeline.accept import Committed, Submission
from tests.api.conftest import RunningHub, hub  # noqa: F401 - the running-hub fixture

G22, H41 = "000.00.00.G22", "000.00.00.H41"


async def test_same_status_retried_after_a_failed_commit_is_accepted(
    hub: RunningHub,  # noqa: F811
    signers: Callable[[str], Signer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    doc_id, data = document(signers(G22), [Organ(organ_id=H41)], number=1)
    await (await hub.client(G22)).submit(data)
    answer = status(signers(H41), document_author=G22, document_id=doc_id, code="01")

    groups = hub.runtime.groups
    original = groups.add
    failed = []

    async def fail_once(submission: Submission) -> Committed:
        if not failed:
            failed.append(submission.item.package.id)
            raise Unavailable("simulated failure of the accept transaction")
        return await original(submission)

    monkeypatch.setattr(groups, "add", fail_once)
    recipient = await hub.client(H41)
    with pytest.raises(HubProblem) as info:
        await recipient.submit(answer)
    assert info.value.status == 503 and failed
    accepted = await recipient.submit(answer)  # the same bytes again
    assert accepted.created
    # and a genuinely repeated status (other bytes, same code) is still refused
    later = datetime.now(UTC) + timedelta(minutes=5)
    again = status(signers(H41), document_author=G22, document_id=doc_id, code="01", when=later)
    assert again != answer
    with pytest.raises(HubProblem) as info:
        await recipient.submit(again)
    assert info.value.code == "lifecycle.illegal_transition"
