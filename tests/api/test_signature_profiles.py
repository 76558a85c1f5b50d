"""Signature profile per agency (issue 10): ``strict`` | ``legacy`` in agencies.toml, changed
at runtime with ``hub agency set-profile``, defaulting to ``[signing] allow_legacy``.

The legacy packages are real samples signed by the test the way the national kit and older
partners sign (C14N 1.0 as CanonicalizationMethod and implied by the lone enveloped-signature
transform, RSA-SHA1, SHA-1 digest). Each admitted one carries ``signature.legacy_algorithm``
on its signed receipt (verified here, and by xmlsec1), in its package JSON and on its trace.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner
from lxml import etree
from prometheus_client import REGISTRY

from hub.cli import main
from hub.demo.factory import Signer, document
from hub.demo.workdir import Workdir
from hub.edxml import Organ
from hub.packaging import sign_package
from hub.receipts import RECEIPT_POLICY, ReceiptFacts, parse_receipt, receipt_schema
from hub.warning_codes import LEGACY_ALGORITHM, unknown_codes
from signing import TrustStore, verify_enveloped
from signing.pki import load_certificates
from tests.api.conftest import RunningHub, start_hub, submit_refused, xmlsec1_verify
from tests.conftest import WorkdirFactory, shared_testdata
from tests.signing.helpers import C14N10, ENVELOPED, resign

G22, H41 = "000.00.00.G22", "000.00.00.H41"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
METRIC = "hub_packages_legacy_signed_total"


def legacy(data: bytes, signer: Signer) -> bytes:
    """``data`` re-signed under the legacy profile (C14N 1.0 + RSA-SHA1 + SHA-1)."""
    return resign(
        data,
        signer.key,
        signature_method=RSA_SHA1,
        digest_method=SHA1,
        hash_name="sha1",
        c14n_method=C14N10,
        transforms=(ENVELOPED,),
    )


def g22_legacy(signers: Callable[[str], Signer]) -> bytes:
    """The real revocation sample (as a new document: it names no original this hub
    carried), signed by G22 with the legacy profile."""
    sample = shared_testdata("edxml", "edoc_revocation.edxml").read_bytes()
    sample = sample.replace(b"BussinessDocType>1<", b"BussinessDocType>0<")
    g22 = signers(G22)
    return legacy(sign_package(sample, g22.key, g22.certificate, replace_placeholder=True), g22)


def h41_legacy(signers: Callable[[str], Signer], number: int = 1) -> bytes:
    """A document from H41 to G22, signed with the legacy profile."""
    _, data = document(signers(H41), [Organ(organ_id=G22)], number=number)
    return legacy(data, signers(H41))


def set_profile_in_toml(workdir: Workdir, organ_id: str, profile: str) -> None:
    """``signature_profile = "<profile>"`` on the agency's ``[[agency]]`` table."""
    path = workdir.config_dir / "agencies.toml"
    text = path.read_text(encoding="utf-8")
    line = f'organ_id = "{organ_id}"\n'
    assert text.count(line) == 1
    path.write_text(text.replace(line, f'{line}signature_profile = "{profile}"\n'), "utf-8")


def metric(sender: str) -> float:
    return REGISTRY.get_sample_value(METRIC, {"sender": sender}) or 0.0


def verified_receipt(hub: RunningHub, receipt: bytes) -> ReceiptFacts:
    """The receipt's facts after its signature verified and its certificate chained to the
    working directory's CA, and after it validated against the receipt XSD."""
    receipt_schema().assertValid(etree.fromstring(receipt))
    verified = verify_enveloped(receipt, RECEIPT_POLICY)
    facts = parse_receipt(verified.signed_root)
    TrustStore(load_certificates(hub.workdir.pki_dir / "ca.pem")).validate(
        verified.certificate, at=facts.accepted_at, intermediates=verified.intermediates
    )
    return facts


async def refusal(hub: RunningHub, organ_id: str, data: bytes) -> tuple[int, str, str]:
    problem = await submit_refused(hub, organ_id, data)
    return problem.status, problem.code, problem.detail


async def strict_hub_refusal(make_workdir: WorkdirFactory, data: bytes) -> tuple[int, str, str]:
    """What a hub where no agency may sign legacy answers (the refusal before issue 10)."""
    async with start_hub(make_workdir()) as hub:
        return await refusal(hub, H41, data)


async def test_legacy_agency_accepted_with_the_warning_strict_agency_refused_as_before(
    make_workdir: WorkdirFactory,
    signers: Callable[[str], Signer],
    xmlsec1: str,
    tmp_path: Path,
) -> None:
    workdir = make_workdir()
    set_profile_in_toml(workdir, G22, "legacy")
    from_g22, from_h41 = g22_legacy(signers), h41_legacy(signers)
    before = metric(G22)
    async with start_hub(workdir) as hub:
        submitted = await (await hub.client(G22)).submit(from_g22)
        assert submitted.created  # 202

        # The signed receipt states the warning (verified with our verifier and xmlsec1).
        facts = verified_receipt(hub, submitted.receipt)
        assert LEGACY_ALGORITHM in facts.warnings  # after the sample's own edXML leniencies
        assert facts.package_id == submitted.package_id and facts.sender == G22
        path = tmp_path / "receipt.xml"
        ca = hub.workdir.pki_dir / "ca.pem"
        ok = xmlsec1_verify(xmlsec1, ca, submitted.receipt, path)
        assert ok.returncode == 0, ok.stderr
        forged = submitted.receipt.replace(b'code="signature.', b'code="signaturX.')
        tampered = xmlsec1_verify(xmlsec1, ca, forged, path)
        assert tampered.returncode != 0  # the Warnings are covered by the signature

        # … the package JSON and the trace say the same; the metric counted it.
        g22 = await hub.client(G22)
        outbox = await g22.outbox_page()
        (entry,) = [i for i in outbox["items"] if i["id"] == submitted.package_id]
        assert entry["warnings"] == list(facts.warnings)
        trace = await g22.trace(submitted.package_id)
        assert trace["warnings"] == list(facts.warnings)
        assert metric(G22) == before + 1

        # The same bytes again: the same receipt (with its warning), not counted twice.
        again = await g22.submit(from_g22)
        assert (again.created, again.receipt) == (False, submitted.receipt)
        assert metric(G22) == before + 1

        # H41 names no profile and the hub-wide default is strict: today's refusal, exactly.
        refused = await refusal(hub, H41, from_h41)
    assert refused[:2] == (403, "signature.algorithm_forbidden")
    assert refused == await strict_hub_refusal(make_workdir, from_h41)
    assert "SignatureMethod" in refused[2] or "C14N" in refused[2]


async def test_hub_wide_allow_legacy_is_the_profile_of_agencies_naming_none(
    make_workdir: WorkdirFactory, signers: Callable[[str], Signer]
) -> None:
    workdir = make_workdir(allow_legacy=True)
    set_profile_in_toml(workdir, H41, "strict")
    async with start_hub(workdir) as hub:
        submitted = await (await hub.client(G22)).submit(g22_legacy(signers))
        assert submitted.created
        assert LEGACY_ALGORITHM in verified_receipt(hub, submitted.receipt).warnings
        status, code, _ = await refusal(hub, H41, h41_legacy(signers))
        assert (status, code) == (403, "signature.algorithm_forbidden")
        # A strict agency's ordinary (exc-c14n, RSA-SHA256) package: no warning at all.
        _, plain = document(signers(H41), [Organ(organ_id=G22)], number=2)
        ordinary = await (await hub.client(H41)).submit(plain)
        facts = verified_receipt(hub, ordinary.receipt)
        assert facts.warnings == ()
        assert b"Warnings" not in ordinary.receipt  # absent, as in receipts before issue 10


async def test_set_profile_reaches_a_running_hub_and_survives_restart(
    workdir: Workdir, signers: Callable[[str], Signer]
) -> None:
    runner = CliRunner()
    cfg = str(workdir.config_dir)
    data = h41_legacy(signers)
    async with start_hub(workdir) as hub:
        hub.runtime._overrides_interval = 0.1  # the reload loop, sooner than every 2 s
        status, code, _ = await refusal(hub, H41, data)
        assert (status, code) == (403, "signature.algorithm_forbidden")

        # The CLI runs its own event loop: give it a thread, as a shell would a process.
        done = await asyncio.to_thread(
            runner.invoke, main, ["agency", "set-profile", H41, "legacy", "--config", cfg]
        )
        assert done.exit_code == 0, done.output
        assert "legacy" in done.output

        async def admitted() -> bool:
            while not hub.runtime.registry.legacy_allowed(H41):
                await asyncio.sleep(0.05)
            return True

        await asyncio.wait_for(admitted(), 10)  # a guard against hanging, not a measurement
        submitted = await (await hub.client(H41)).submit(data)
        assert submitted.created
        assert verified_receipt(hub, submitted.receipt).warnings == (LEGACY_ALGORITHM,)

        listing = await asyncio.to_thread(runner.invoke, main, ["agency", "list", "--config", cfg])
        assert listing.exit_code == 0, listing.output
        (h41_row,) = [line for line in listing.output.splitlines() if H41 in line]
        (g22_row,) = [line for line in listing.output.splitlines() if G22 in line]
        assert "legacy" in h41_row and "strict" in g22_row

    # After a restart the runtime change is still in force; setting strict takes it back.
    async with start_hub(workdir) as hub:
        assert hub.runtime.registry.signature_profile(H41) == "legacy"
        other = h41_legacy(signers, number=2)
        assert (await (await hub.client(H41)).submit(other)).created
        back = await asyncio.to_thread(
            runner.invoke, main, ["agency", "set-profile", H41, "strict", "--config", cfg]
        )
        assert back.exit_code == 0, back.output
        hub.runtime.registry.reload(await hub.runtime.store.agency_overrides())
        status, code, _ = await refusal(hub, H41, h41_legacy(signers, number=3))
        assert (status, code) == (403, "signature.algorithm_forbidden")


def test_set_profile_refuses_an_unknown_profile_or_agency(workdir: Workdir) -> None:
    runner = CliRunner()
    cfg = str(workdir.config_dir)
    bad = runner.invoke(main, ["agency", "set-profile", H41, "lax", "--config", cfg])
    assert bad.exit_code != 0 and "lax" in bad.output
    unknown = runner.invoke(
        main, ["agency", "set-profile", "000.00.00.Z99", "legacy", "--config", cfg]
    )
    assert unknown.exit_code != 0


async def test_every_warning_on_these_receipts_is_documented(
    make_workdir: WorkdirFactory, signers: Callable[[str], Signer]
) -> None:
    """The real samples with their leniencies (impossible dates, DocumentId mismatches…),
    legacy-signed: every warning stated on the receipt has a documented code."""
    async with start_hub(make_workdir(allow_legacy=True)) as hub:
        submitted = await (await hub.client(G22)).submit(g22_legacy(signers))
        facts = verified_receipt(hub, submitted.receipt)
    assert len(facts.warnings) > 1  # the sample's own leniencies and the signature's
    assert unknown_codes(facts.warnings) == []
