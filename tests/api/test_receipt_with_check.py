"""Issue 12: a submission's receipt is signed in its check's worker call, for the recipients
the worker predicts; ingest keeps it only when it states exactly what is committed, and the
accept group signs the others."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from hub.config import load_config
from hub.demo.factory import Signer, document
from hub.demo.workdir import Workdir
from hub.edxml import Organ
from hub.pipeline.checks import CheckOptions, check_package_for_ingest
from hub.pipeline.executor import CheckExecutor, ReceiptKeys
from hub.pipeline.facts import (
    ReceiptDraft,
    SignedReceipt,
    package_warnings,
    predicted_facts,
    receipt_facts,
)
from hub.receipts import RECEIPT_POLICY, ReceiptFacts, parse_receipt
from hub.registry import Registry
from hub.routing import resolve
from signing import verify_enveloped
from tests.api.conftest import RunningHub

G22, H41, H14, H29 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H14", "000.00.00.H29"
H41_HOME = "000.00.01.H41"  # the default routes.toml copies G22 → H41 documents here
H29_DEPT = "000.00.13.H29"  # unregistered: H29 represents it

AT = datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)


def options(workdir: Workdir) -> CheckOptions:
    config = load_config(workdir.config_dir)
    return CheckOptions(
        max_size=config.settings.max_package_bytes, trust_anchors=config.settings.trust_anchors
    )


def stated(receipt: bytes) -> ReceiptFacts:
    """The facts a receipt states, once its signature verified."""
    return parse_receipt(verify_enveloped(receipt, RECEIPT_POLICY).signed_root)


def test_the_prediction_is_routing_for_registered_recipients(
    workdir: Workdir, signers: Callable[[str], Signer]
) -> None:
    config = load_config(workdir.config_dir)
    _, data = document(signers(G22), [Organ(organ_id=H41), Organ(organ_id=G22)], number=1)
    checked = check_package_for_ingest(data, datetime.now(UTC), options(workdir))
    draft = ReceiptDraft("p1", config.settings.hub_id, AT)
    predicted = predicted_facts(checked, draft, config.routes)
    registry = Registry(config.agencies)
    route = resolve(
        kind="document", sender=G22, addressed=(H41, G22), registry=registry, rules=config.routes
    )
    # The sender's own code dropped, the copy rule's added: what resolve gives.
    assert route.recipients == (H41, H41_HOME)
    assert predicted == receipt_facts(checked, draft, route.recipients)
    assert predicted is not None and predicted.warnings == package_warnings(checked)
    # Without routes.toml's rules, the addressed codes alone.
    assert predicted_facts(checked, draft, ()) == receipt_facts(checked, draft, (H41,))
    # Addressed to its sender only: no prediction (routing refuses it).
    _, own = document(signers(G22), [Organ(organ_id=G22)], number=2)
    alone = check_package_for_ingest(own, datetime.now(UTC), options(workdir))
    assert predicted_facts(alone, draft, config.routes) is None


async def test_a_worker_signs_the_predicted_receipt_with_the_check(
    workdir: Workdir, signers: Callable[[str], Signer]
) -> None:
    config = load_config(workdir.config_dir)
    s = config.settings
    _, data = document(signers(G22), [Organ(organ_id=H41), Organ(organ_id=H14)], number=3)
    draft = ReceiptDraft("p3", s.hub_id, AT)
    received = signers(G22).certificate.not_valid_before_utc  # a moment it is valid
    keys = ReceiptKeys(s.receipt_key, s.receipt_cert, tuple(s.receipt_rotation))
    async with CheckExecutor(
        options(workdir), processes=1, receipts=keys, routes=config.routes
    ) as executor:
        checked, signed = await executor.check_and_sign(data, received, draft)
        assert checked == await executor.check(data, received)
    assert signed is not None
    assert signed.facts == predicted_facts(checked, draft, config.routes)
    assert stated(signed.receipt) == signed.facts
    assert signed.facts.recipients == (H41, H14, H41_HOME)
    assert (signed.facts.package_id, signed.facts.accepted_at) == ("p3", AT)


async def test_without_receipt_keys_in_the_workers_the_group_signs(
    workdir: Workdir, signers: Callable[[str], Signer]
) -> None:
    config = load_config(workdir.config_dir)
    _, data = document(signers(G22), [Organ(organ_id=H41)], number=4)
    draft = ReceiptDraft("p4", config.settings.hub_id, AT)
    received = signers(G22).certificate.not_valid_before_utc
    async with CheckExecutor(options(workdir), processes=1) as executor:
        checked, signed = await executor.check_and_sign(data, received, draft)
    assert signed is None and checked.summary.recipients == (H41,)


GroupSign = Callable[[Sequence[ReceiptFacts]], Awaitable[list[bytes]]]


def count_group_signing(hub: RunningHub, monkeypatch: pytest.MonkeyPatch) -> list[ReceiptFacts]:
    """Every receipt the accept groups sign (those not signed with their check)."""
    signed: list[ReceiptFacts] = []
    original: GroupSign = hub.runtime.groups.sign

    async def counting(facts: Sequence[ReceiptFacts]) -> list[bytes]:
        signed.extend(facts)
        return await original(facts)

    monkeypatch.setattr(hub.runtime.groups, "sign", counting)
    return signed


async def committed_facts(hub: RunningHub, package_id: str) -> ReceiptFacts:
    """The receipt facts of what the store committed for ``package_id``."""
    record = await hub.runtime.store.get_package(package_id)
    assert record is not None
    return ReceiptFacts(
        package_id=record.id,
        hub_id=hub.runtime.config.settings.hub_id,
        sender=record.sender,
        recipients=record.recipients,
        kind=str(record.kind),
        document_id=record.document_id,
        accepted_at=record.accepted_at,
        sha256=record.sha256,
        size=record.size,
        warnings=record.warnings,
    )


async def test_a_receipt_signed_with_the_check_states_the_committed_facts(
    hub: RunningHub, signers: Callable[[str], Signer], monkeypatch: pytest.MonkeyPatch
) -> None:
    by_group = count_group_signing(hub, monkeypatch)
    _, data = document(signers(G22), [Organ(organ_id=H41), Organ(organ_id=H14)], number=5)
    submitted = await (await hub.client(G22)).submit(data)
    assert by_group == []  # signed with the check: no second signing
    assert stated(submitted.receipt) == await committed_facts(hub, submitted.package_id)
    assert submitted.recipients == (H41, H14, H41_HOME)
    assert await hub.runtime.store.get_receipt(submitted.package_id) == submitted.receipt


async def test_recipients_routing_changes_get_a_receipt_from_the_group(
    hub: RunningHub, signers: Callable[[str], Signer], monkeypatch: pytest.MonkeyPatch
) -> None:
    by_group = count_group_signing(hub, monkeypatch)
    # A sub-unit nobody registered: routing delivers to its representative instead.
    _, data = document(signers(G22), [Organ(organ_id=H29_DEPT)], number=6)
    submitted = await (await hub.client(G22)).submit(data)
    assert submitted.recipients == (H29,)
    assert [f.package_id for f in by_group] == [submitted.package_id]
    assert stated(submitted.receipt) == await committed_facts(hub, submitted.package_id)


async def test_a_receipt_stating_other_facts_is_never_kept(
    hub: RunningHub, signers: Callable[[str], Signer], monkeypatch: pytest.MonkeyPatch
) -> None:
    by_group = count_group_signing(hub, monkeypatch)
    executor = hub.runtime.executor
    original = executor.check_and_sign
    wrong: list[bytes] = []

    async def mistaken(*args: object, **kwargs: object) -> object:
        checked, signed = await original(*args, **kwargs)  # type: ignore[arg-type]
        assert signed is not None
        # A receipt for one recipient fewer, validly signed: ingest must compare the facts.
        facts = replace(signed.facts, recipients=signed.facts.recipients[:1])
        receipt = hub.runtime.signer.sign(facts)
        wrong.append(receipt)
        return checked, SignedReceipt(facts=facts, receipt=receipt)

    monkeypatch.setattr(executor, "check_and_sign", mistaken)
    _, data = document(signers(G22), [Organ(organ_id=H41), Organ(organ_id=H14)], number=7)
    submitted = await (await hub.client(G22)).submit(data)
    assert wrong and submitted.receipt not in wrong
    assert [f.package_id for f in by_group] == [submitted.package_id]
    assert stated(submitted.receipt) == await committed_facts(hub, submitted.package_id)
    assert stated(submitted.receipt).recipients == (H41, H14, H41_HOME)
