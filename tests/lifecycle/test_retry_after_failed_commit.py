"""A status whose lifecycle move was applied but whose package commit failed (crash, 503) is
accepted when the sender retries the same bytes — the move is its own, not a conflict."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from hub.client import HubProblem
from hub.demo.factory import Signer, document, status
from hub.edxml import Organ
from hub.errors import Unavailable
from hub.models import NewPackage
from hub.store.abc import AddOutcome
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

    committer = hub.runtime.committer
    original = committer.add
    failed = []

    async def fail_once(package: NewPackage) -> AddOutcome:
        if not failed:
            failed.append(package.id)
            raise Unavailable("simulated crash between the lifecycle move and the commit")
        return await original(package)

    monkeypatch.setattr(committer, "add", fail_once)
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
