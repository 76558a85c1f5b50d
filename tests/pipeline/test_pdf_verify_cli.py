"""``hub pdf verify``: verdict lines, ``--json``, exit codes, ``--at``, anchors from the
hub's configuration — on PDFs signed with the test PKI of tests/signing/ltv_pki.py."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import main
from signing.pki import save_certificate, save_crl
from tests.signing.ltv_pki import UNSIGNED, LtvPki, build_pki, sign_pdf, tamper


@pytest.fixture(scope="module")
def pki() -> LtvPki:
    return build_pki(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture(scope="module")
def files(pki: LtvPki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    base = tmp_path_factory.mktemp("pdfs")
    out: dict[str, Path] = {}
    for level in ("B-B", "B-T", "B-LT", "B-LTA"):
        data = sign_pdf(pki, level)
        (base / f"{level}.pdf").write_bytes(data)
        (base / f"{level}-tampered.pdf").write_bytes(tamper(data))
        out[level] = base / f"{level}.pdf"
        out[f"{level}-tampered"] = base / f"{level}-tampered.pdf"
    out["unsigned"] = UNSIGNED / "unsigned" / "minimal.pdf"
    save_certificate(base / "root.pem", pki.root.cert)
    save_crl(base / "root.crl", pki.crl)
    out["root"] = base / "root.pem"
    out["crl"] = base / "root.crl"
    return out


def _run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["pdf", "verify", *map(str, args)])
    return result.exit_code, result.output


def _week(pki: LtvPki) -> str:
    return pki.week_later.isoformat()


@pytest.mark.parametrize(
    ("name", "verdict", "code"),
    [
        ("B-B", "indeterminate", 1),
        ("B-T", "valid", 0),
        ("B-LT", "valid", 0),
        ("B-LTA", "valid", 0),
        ("B-LT-tampered", "invalid", 1),
        ("B-LTA-tampered", "invalid", 1),
        ("unsigned", "unsigned", 1),
    ],
)
def test_verdicts_and_exit_codes(
    name: str, verdict: str, code: int, pki: LtvPki, files: dict[str, Path]
) -> None:
    args = (files[name], "--trust-anchor", files["root"], "--crl", files["crl"], "--at")
    exit_code, output = _run(*args, _week(pki), "--json")
    assert exit_code == code, output
    doc = json.loads(output)
    assert doc["verdict"] == verdict
    assert doc["validation_time"] == _week(pki)
    if name != "unsigned":
        assert doc["signatures"][0]["verdict"] == verdict
        assert all("reasons" in s and "subindication" in s for s in doc["signatures"])


def test_text_output_one_line_per_signature(pki: LtvPki, files: dict[str, Path]) -> None:
    exit_code, output = _run(
        files["B-LTA"], "--trust-anchor", files["root"], "--crl", files["crl"], "--at", _week(pki)
    )
    assert exit_code == 0
    lines = output.strip().splitlines()
    assert lines[0].split("\t")[:3] == ["Sig1", "signature", "valid"]
    assert lines[1].split("\t")[1:3] == ["timestamp", "valid"]
    assert lines[-1].endswith(": valid")


def test_b_t_without_crl_is_indeterminate_under_hard_fail(
    pki: LtvPki, files: dict[str, Path]
) -> None:
    args = (files["B-T"], "--trust-anchor", files["root"], "--at", _week(pki))
    exit_code, output = _run(*args)  # auto with --trust-anchor: hard-fail
    assert exit_code == 1
    assert _run(*args, "--revocation", "off")[0] == 0
    assert "indeterminate" in output and "TRY_LATER" in output
    # The B-LT file carries its own revocation data.
    exit_code, _ = _run(
        files["B-LT"],
        "--trust-anchor",
        files["root"],
        "--at",
        _week(pki),
        "--revocation",
        "hard-fail",
    )
    assert exit_code == 0


def test_at_signing_time_everything_is_valid(pki: LtvPki, files: dict[str, Path]) -> None:
    at = (pki.t0 + timedelta(minutes=1)).isoformat()
    exit_code, output = _run(
        files["B-B"], "--trust-anchor", files["root"], "--crl", files["crl"], "--at", at
    )
    assert exit_code == 0, output


def test_anchors_from_the_hub_configuration(
    pki: LtvPki, files: dict[str, Path], tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "hub.toml").write_text(
        f'[signing]\ntrust_anchors = ["{files["root"]}"]\ncrl_files = ["{files["crl"]}"]\n'
    )
    exit_code, output = _run(files["B-LT"], "--config", config, "--at", _week(pki))
    assert exit_code == 0, output
    exit_code, output = _run(files["B-B"], "--config", config, "--at", _week(pki))
    assert exit_code == 1, output
    assert "pdf.revocation_unknown" in output


@pytest.mark.parametrize(
    "args",
    [
        ("--at", "next tuesday"),
        ("--config", "/nonexistent-config-dir"),
    ],
)
def test_user_errors_exit_2_without_traceback(
    args: tuple[str, ...], files: dict[str, Path]
) -> None:
    extra = ("--trust-anchor", str(files["root"])) if args[0] == "--at" else ()
    result = CliRunner().invoke(main, ["pdf", "verify", str(files["B-B"]), *extra, *args])
    assert result.exit_code == 2, result.output
    assert "error" in result.output.lower()
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_missing_file_is_a_user_error(files: dict[str, Path]) -> None:
    result = CliRunner().invoke(main, ["pdf", "verify", "/nonexistent.pdf"])
    assert result.exit_code == 2
