"""Signed acknowledgements (non-repudiation of receipt): accepted when signed by the
recipient's registered certificate over this package's id and digest, kept, exported in the
evidence archive and verified there by xmlsec1; refused otherwise; unsigned acks still work."""

from __future__ import annotations

import hashlib
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.audit.acks import AckFacts, sign_ack
from hub.audit.evidence import export_evidence
from hub.client import HubProblem
from hub.demo.factory import Signer, document
from hub.edxml import Organ
from tests.api.conftest import RunningHub

G22, H41, H29 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H29"


async def _send(hub: RunningHub, signers: Callable[[str], Signer], number: int) -> tuple[str, str]:
    _, data = document(signers(G22), [Organ(organ_id=H41, organ_name="UBND tỉnh")], number=number)
    sent = await (await hub.client(G22)).submit(data)
    return sent.package_id, hashlib.sha256(data).hexdigest()


def _ack(signer: Signer, package_id: str, sha256: str, recipient: str = H41) -> bytes:
    facts = AckFacts(package_id, recipient, sha256, "2026-03-02T08:30:00Z")
    return sign_ack(facts, signer.key, signer.certificate)


async def test_signed_ack_is_kept_and_verifies_in_the_evidence(
    hub: RunningHub, signers: Callable[[str], Signer], xmlsec1: str, tmp_path: Path
) -> None:
    package_id, sha256 = await _send(hub, signers, 21)
    receiver = await hub.client(H41)
    body = await receiver.ack(package_id, _ack(signers(H41), package_id, sha256))
    assert body["signed"] is True and body["already_acked"] is False
    stored = await hub.runtime.store.audit().signed_acks(package_id)
    assert [a.recipient for a in stored] == [H41]

    rt = hub.runtime
    archive = await export_evidence(
        rt.store,
        rt.signer,
        rt.config.settings.hub_id,
        package_id,
        tmp_path / "ev.tar.gz",
        anchors=rt.config.settings.trust_anchors,
    )
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    root = tmp_path / "x" / f"evidence-{package_id}"
    assert (root / "acks" / f"{H41}.xml").read_bytes() == stored[0].data
    result = subprocess.run(["sh", "verify.sh"], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"signed acknowledgement acks/{H41}.xml: ok" in result.stdout
    # xmlsec1 alone, as the README says
    anchors = [
        a for p in sorted((root / "certs").glob("anchor-*.pem")) for a in ("--trusted-pem", str(p))
    ]
    alone = subprocess.run(
        [xmlsec1, "--verify", *anchors, str(root / "acks" / f"{H41}.xml")],
        capture_output=True,
        text=True,
    )
    assert alone.returncode == 0, alone.stderr


async def test_unsigned_ack_still_allowed(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    package_id, _ = await _send(hub, signers, 22)
    body = await (await hub.client(H41)).ack(package_id)
    assert body["signed"] is False and body["acked_at"]
    assert await hub.runtime.store.audit().signed_acks(package_id) == []


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("other_signer", 403, "signature.signer_mismatch"),
        ("wrong_digest", 422, "ack.invalid"),
        ("wrong_package", 422, "ack.invalid"),
        ("wrong_recipient", 422, "ack.invalid"),
        ("tampered", 403, "signature.invalid"),
        ("not_xml", 403, "signature.unsafe_xml"),
    ],
)
async def test_bad_signed_ack_is_refused_and_acknowledges_nothing(
    hub: RunningHub, signers: Callable[[str], Signer], case: str, status: int, code: str
) -> None:
    package_id, sha256 = await _send(hub, signers, 23)
    good = _ack(signers(H41), package_id, sha256)
    data = {
        "other_signer": _ack(signers(H29), package_id, sha256),
        "wrong_digest": _ack(signers(H41), package_id, "0" * 64),
        "wrong_package": _ack(signers(H41), "another-id", sha256),
        "wrong_recipient": _ack(signers(H41), package_id, sha256, recipient=H29),
        "tampered": good.replace(sha256.encode(), ("f" * 64).encode()),
        "not_xml": b"not xml",
    }[case]
    with pytest.raises(HubProblem) as raised:
        await (await hub.client(H41)).ack(package_id, data)
    assert (raised.value.status, raised.value.code) == (status, code)
    delivery = await hub.runtime.store.get_delivery(package_id, H41)
    assert delivery is not None and delivery.acked_at is None
    assert await hub.runtime.store.audit().signed_acks(package_id) == []
