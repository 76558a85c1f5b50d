"""``hub keys csr|rotate`` (issue 14): a CSR for the receipt key; rotation beside the old key
with hub.toml updated in place; receipts and checkpoints signed before the rotation still
verify after it, and the evidence archive carries both certificates."""

from __future__ import annotations

import subprocess
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hub.audit.evidence import export_evidence
from hub.audit.service import fingerprints, verify_store
from hub.cli import main
from hub.config import load_settings
from hub.demo.factory import Signer, document
from hub.demo.workdir import Workdir
from hub.edxml import Organ
from hub.keys import dev_ca, rotate_receipt_key
from hub.receipts import RECEIPT_POLICY, parse_receipt
from signing import verify_enveloped
from signing.pki import fingerprint_sha256, load_certificates, load_private_key
from signing.trust import TrustStore
from tests.api.conftest import start_hub

G22, H41 = "000.00.00.G22", "000.00.00.H41"
SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _no_traceback(output: str) -> None:
    assert "Traceback" not in output


def said(output: str, message: str) -> bool:
    """``message`` is in the output (rich wraps long lines, even inside paths)."""
    return "".join(message.split()) in "".join(output.split())


def register(runner: CliRunner, config: str, key: Path, cert: Path, *extra: str) -> Result:
    """``hub keys rotate --key KEY --cert CERT`` (plus ``extra``, e.g. ``--apply``)."""
    args = ["keys", "rotate", "--config", config, "--key", str(key), "--cert", str(cert)]
    return runner.invoke(main, [*args, *extra])


def test_csr_for_the_receipt_key(workdir: Workdir, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "hub.csr"
    result = runner.invoke(
        main, ["keys", "csr", "--config", str(workdir.config_dir), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    csr = x509.load_pem_x509_csr(out.read_bytes())
    assert csr.is_signature_valid
    settings = load_settings(workdir.config_dir)
    key = load_private_key(settings.receipt_key)
    assert csr.public_key().public_bytes(*SPKI) == key.public_key().public_bytes(*SPKI)
    assert csr.subject == load_certificates(settings.receipt_cert)[0].subject

    # Another subject (Vietnamese, UTF-8), on standard output.
    subject = "CN=Hub nhận văn bản,O=Sở Thông tin và Truyền thông Hà Nội,C=VN"
    result = runner.invoke(
        main, ["keys", "csr", "--config", str(workdir.config_dir), "--subject", subject]
    )
    assert result.exit_code == 0, result.output
    csr = x509.load_pem_x509_csr(result.stdout.encode())
    assert csr.subject.rfc4514_string() == subject


def test_csr_user_errors_exit_2_without_traceback(workdir: Workdir, tmp_path: Path) -> None:
    runner = CliRunner()
    config = str(workdir.config_dir)
    for args, message in [
        (["--subject", "not a dn"], "keys.refused"),
        (["--subject", "O=No common name"], "needs a CN"),
        (["--key", str(tmp_path / "missing.pem")], "missing.pem"),
    ]:
        result = runner.invoke(main, ["keys", "csr", "--config", config, *args])
        assert result.exit_code == 2, (args, result.output)
        assert said(result.output, message)
        _no_traceback(result.output)
    result = runner.invoke(main, ["keys", "csr", "--config", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and said(result.output, "no hub.toml")
    _no_traceback(result.output)


def test_rotate_with_the_dev_ca_prints_then_applies(workdir: Workdir) -> None:
    runner = CliRunner()
    config = str(workdir.config_dir)
    hub_toml = workdir.config_dir / "hub.toml"
    before = hub_toml.read_text()
    result = runner.invoke(main, ["keys", "rotate", "--config", config])
    assert result.exit_code == 0, result.output
    assert "[[signing.receipt_rotation]]" in result.stdout
    assert hub_toml.read_text() == before  # printed, not applied
    hub_dir = load_settings(workdir.config_dir).receipt_key.parent
    (new_key,) = hub_dir.glob("key-*.pem")
    (new_cert,) = hub_dir.glob("cert-*.pem")
    assert new_key.stat().st_mode & 0o077 == 0  # a private key: owner only
    assert (hub_dir / "key.pem").exists() and (hub_dir / "cert.pem").exists()  # old kept

    # Apply the printed pair: the rest of hub.toml is kept byte for byte.
    result = register(runner, config, new_key, new_cert, "--apply")
    assert result.exit_code == 0, result.output
    after = hub_toml.read_text()
    assert after.startswith(before) and "# Hub settings (written by hub demo)" in after
    settings = load_settings(workdir.config_dir)
    assert settings.receipt_rotation == ((new_key.resolve(), new_cert.resolve()),)
    # Registering it twice is refused.
    result = register(runner, config, new_key, new_cert, "--apply")
    assert result.exit_code == 2 and said(result.output, "already configured")
    _no_traceback(result.output)


def test_rotate_inline_array_form_is_extended(workdir: Workdir) -> None:
    hub_toml = workdir.config_dir / "hub.toml"
    text = hub_toml.read_text().replace(
        "[signing]\n", "[signing]\nreceipt_rotation = []  # pairs added by hub keys rotate\n", 1
    )
    hub_toml.write_text(text)
    runner = CliRunner()
    result = runner.invoke(main, ["keys", "rotate", "--config", str(workdir.config_dir), "--apply"])
    assert result.exit_code == 0, result.output
    assert "# pairs added by hub keys rotate" in hub_toml.read_text()
    assert len(load_settings(workdir.config_dir).receipt_rotation) == 1


def test_rotate_without_a_ca_writes_a_csr_and_refuses_apply(
    workdir: Workdir, tmp_path: Path
) -> None:
    settings = load_settings(workdir.config_dir)
    ca = dev_ca(settings)
    assert ca is not None
    for path in ca:  # no development CA next to the key (a production layout)
        path.rename(tmp_path / path.name)
    runner = CliRunner()
    config = str(workdir.config_dir)
    result = runner.invoke(main, ["keys", "rotate", "--config", config, "--apply"])
    assert result.exit_code == 2 and said(result.output, "no CA")
    _no_traceback(result.output)
    result = runner.invoke(main, ["keys", "rotate", "--config", config])
    assert result.exit_code == 0, result.output
    (csr_path,) = settings.receipt_key.parent.glob("key-*.csr")
    (key_path,) = settings.receipt_key.parent.glob("key-*.pem")
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    assert csr.is_signature_valid
    key = load_private_key(key_path)
    assert csr.public_key().public_bytes(*SPKI) == key.public_key().public_bytes(*SPKI)
    # A certificate for another key is refused.
    result = register(runner, config, key_path, settings.receipt_cert)
    assert result.exit_code == 2 and said(result.output, "does not certify")
    _no_traceback(result.output)


async def test_old_receipts_verify_after_rotation_and_evidence_has_both(
    workdir: Workdir, signers: Callable[[str], Signer], xmlsec1: str, tmp_path: Path
) -> None:
    settings = load_settings(workdir.config_dir)
    old_cert = load_certificates(settings.receipt_cert)[0]
    ca_cert = load_certificates(settings.trust_anchors[0])[0]
    to = (Organ(organ_id=H41, organ_name="UBND tỉnh Hà Nội"),)

    # Before: a package accepted, its receipt signed with the old key.
    _, first = document(signers(G22), to, number=41)
    async with start_hub(workdir) as hub:
        sent_before = await (await hub.client(G22)).submit(first)
        receipt_before = await hub.runtime.store.get_receipt(sent_before.package_id)
    assert receipt_before is not None

    # Rotate: a new key certified by the dev CA, newer than the old one, then applied.
    ca = dev_ca(settings)
    rotation = rotate_receipt_key(
        settings,
        datetime.now(UTC),
        ca=ca,
        not_before=old_cert.not_valid_before_utc + timedelta(minutes=1),
    )
    assert rotation.cert is not None
    result = register(CliRunner(), str(workdir.config_dir), rotation.key, rotation.cert, "--apply")
    assert result.exit_code == 0, result.output
    new_cert = load_certificates(rotation.cert)[0]

    _, second = document(signers(G22), to, number=42)
    async with start_hub(workdir) as hub:
        rt = hub.runtime
        assert rt.signer.certificate == new_cert  # the new key signs now
        sent_after = await (await hub.client(G22)).submit(second)
        receipt_after = await rt.store.get_receipt(sent_after.package_id)
        assert receipt_after is not None
        published = fingerprints(rt.signer)
        trust = TrustStore([ca_cert])
        for receipt, cert, package_id in (
            (receipt_before, old_cert, sent_before.package_id),
            (receipt_after, new_cert, sent_after.package_id),
        ):
            verified = verify_enveloped(receipt, RECEIPT_POLICY)
            assert verified.certificate == cert
            trust.validate(verified.certificate, at=datetime.now(UTC))
            assert fingerprint_sha256(cert) in published
            assert parse_receipt(verified.signed_root).package_id == package_id
        # The audit log — checkpoints signed by both keys — verifies.
        report = await verify_store(rt.store, rt.signer)
        assert report.ok, report.lines()
        archive = await export_evidence(
            rt.store,
            rt.signer,
            rt.config.settings.hub_id,
            sent_before.package_id,
            tmp_path / "ev.tar.gz",
            anchors=rt.config.settings.trust_anchors,
        )
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        certs = {
            n.rsplit("/", 1)[1]: x509.load_pem_x509_certificate(tar.extractfile(n).read())  # type: ignore[union-attr]
            for n in names
            if "/certs/hub-" in n
        }
        tar.extractall(tmp_path / "x", filter="data")
    assert set(certs.values()) == {old_cert, new_cert}
    (root,) = list((tmp_path / "x").iterdir())
    checked = subprocess.run(["sh", "verify.sh"], cwd=root, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip().endswith("OK")
