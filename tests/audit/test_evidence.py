"""The evidence archive, checked with xmlsec1, openssl and sh only (verify.sh), and the
audit log of a real exchange verified by ``hub audit verify``."""

from __future__ import annotations

import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from hub.audit.evidence import export_evidence
from hub.audit.service import verify_store
from hub.cli import main
from hub.demo.factory import Signer, document
from hub.edxml import Organ
from tests.api.conftest import RunningHub

G22, H41 = "000.00.00.G22", "000.00.00.H41"


def _run_verify(archive: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    with tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data")
    (root,) = list(tmp.iterdir())
    return subprocess.run(
        ["sh", "verify.sh"], cwd=root, capture_output=True, text=True, check=False
    )


async def test_evidence_archive_verifies_with_standard_tools(
    hub: RunningHub,
    signers: Callable[[str], Signer],
    xmlsec1: str,
    openssl: str,
    tmp_path: Path,
) -> None:
    _, data = document(signers(G22), (Organ(organ_id=H41, organ_name="UBND tỉnh"),), number=11)
    sent = await (await hub.client(G22)).submit(data)
    receiver = await hub.client(H41)
    await receiver.ack(sent.package_id)  # a pull delivery is available at commit
    rt = hub.runtime
    archive = await export_evidence(
        rt.store,
        rt.signer,
        rt.config.settings.hub_id,
        sent.package_id,
        tmp_path / "ev.tar.gz",
        anchors=rt.config.settings.trust_anchors,
    )
    result = _run_verify(archive, tmp_path / "x")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("OK")
    assert "chain" in result.stdout and "receipt signature: ok" in result.stdout

    # The export itself was audited (an operator is not a party), and the log verifies.
    events = await rt.store.events_for(sent.package_id)
    assert any(e.kind == "package.read" for e in events)
    report = await verify_store(rt.store, rt.signer)
    assert report.ok, report.lines()

    # A tampered archive fails: one changed character in the chain proof.
    root = next((tmp_path / "x").iterdir())
    seg = next((root / "chain").glob("*.jsonl"))
    seg.write_text(seg.read_text().replace('"kind":"accepted"', '"kind":"refused"', 1))
    bad = subprocess.run(["sh", "verify.sh"], cwd=root, capture_output=True, text=True)
    assert bad.returncode == 1 and "FAILED" in bad.stdout


def test_audit_verify_cli(workdir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``hub audit verify`` on a fresh store: exit 0; after an edit: exit 1, names it."""
    import sqlite3

    from hub.config import load_config

    runner = CliRunner()
    config_dir = str(workdir.config_dir)
    assert runner.invoke(main, ["audit", "checkpoint", "--config", config_dir]).exit_code == 0
    result = runner.invoke(main, ["audit", "verify", "--config", config_dir])
    assert result.exit_code == 0, result.output
    path = load_config(workdir.config_dir).settings.sqlite_path
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO events (package_id, kind, at, detail) VALUES "
            "('x', 'acked', '2026-03-02T01:40:00.000000+00:00', '{}')"
        )
    result = runner.invoke(main, ["audit", "verify", "--config", config_dir])
    assert result.exit_code == 1
    assert "FIRST BAD: INSERTED" in result.output
