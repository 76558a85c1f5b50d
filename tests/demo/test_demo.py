"""``hub demo``: the whole simulated exchange passes its own checks, leaves a workdir that
``hub … --config W/config`` and curl users can work with, and can be run again."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.demo.agents import G12, G22, H41, H41_HOME, make_plan, planned_totals
from hub.demo.factory import Signer, document
from hub.demo.run import DemoError, fresh_data, run_demo
from hub.edxml import Organ
from signing.pki import load_certificates, load_private_key


async def test_demo_passes_its_self_check_and_leaves_a_usable_workdir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = tmp_path / "demo-work"
    assert await run_demo(w, port=0, documents=12, seed=7)  # the demo binds a free port
    printed = capsys.readouterr().out
    assert "demo OK" in printed and "Self-check" in printed
    # the citizen-dossier flow ran through real connectors and passed its part of the check
    assert "Dossiers" in printed and "dossiers: every progress state reached iGate" in printed
    for name in ("igate-000.00.00.H29", "sqldb-000.00.12.H29", "dvcqg-000.00.01.G22"):
        assert (w / "connectors" / f"{name}.toml").is_file(), name

    # Credentials where a person playing an agency looks for them.
    for path in (
        "config/hub.toml",
        "config/agencies.toml",
        "config/routes.toml",
        "pki/ca.pem",
        "pki/hub/cert.pem",
    ):
        assert (w / path).is_file(), path
    for organ_id in (G22, H41, "000.00.00.H14", "000.00.00.G17", G12):
        for name in ("key.pem", "cert.pem", "token"):
            assert (w / "pki" / "agencies" / organ_id / name).is_file()

    # `hub verify --config W/config` works on the demo's configuration afterwards.
    agency = w / "pki" / "agencies" / G22
    signer = Signer(
        G22,
        "Văn phòng Chính phủ",
        load_private_key(agency / "key.pem"),
        load_certificates(agency / "cert.pem")[0],
    )
    _, data = document(signer, [Organ(organ_id=H41)], number=4242)
    package = tmp_path / "doc.edxml"
    package.write_bytes(data)
    result = CliRunner().invoke(main, ["verify", str(package), "--config", str(w / "config")])
    assert result.exit_code == 0, result.output
    assert "yes" in result.output  # bound to From

    # Run again on the same workdir: same identities, fresh data, still consistent.
    cert = (agency / "cert.pem").read_bytes()
    token = (agency / "token").read_text()
    assert await run_demo(w, port=0, documents=6, seed=8)
    assert (agency / "cert.pem").read_bytes() == cert
    assert (agency / "token").read_text() == token


def test_fresh_data_refuses_a_workdir_that_is_not_the_demos(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "hub.sqlite3").write_bytes(b"someone's data")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "hub.toml").write_text('[hub]\nid = "production"\n')
    with pytest.raises(DemoError):
        fresh_data(tmp_path)
    assert (tmp_path / "data" / "hub.sqlite3").exists()

    (tmp_path / "config" / "hub.toml").write_text('[hub]\nid = "hub-demo"\n')
    fresh_data(tmp_path)
    assert not (tmp_path / "data").exists()


def test_plan_is_deterministic_and_covers_the_story() -> None:
    agencies = [G22, H41, H41_HOME, "000.00.00.H14", "000.00.00.G17", G12, "000.00.00.H29"]
    plan = make_plan(100, agencies, seed=1)
    assert plan == make_plan(100, agencies, seed=1)
    assert len(plan) == 100
    assert {d.business_doc_type for d in plan} == {0, 1, 2}
    numbers = {d.number: i for i, d in enumerate(plan)}
    for d in plan:
        assert 1 <= len(d.to) <= 4 and d.sender not in d.recipients
        if d.original is not None:  # updates and revocations come after what they change
            assert numbers[d.original] < numbers[d.number]
        if d.sender == G22 and H41 in d.to:  # routes.toml copies these to H41's department
            assert H41_HOME in d.recipients
    codes = {c for d in plan for _, chain in d.replies for c in chain}
    assert {"01", "02", "03", "05", "06", "15"} <= codes
    packages, deliveries = planned_totals(plan)
    assert packages > len(plan) and deliveries > packages - len(plan)


def test_a_busy_port_ends_the_demo_at_once_with_exit_2(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            main, ["demo", "--workdir", str(tmp_path / "w"), "--port", str(port)]
        )
    assert result.exit_code == 2, result.output
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "--port 0" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "w" / "pki").exists()  # nothing was set up


async def test_a_slow_dossier_flow_finishes_without_a_deadline(tmp_path: Path) -> None:
    """Connectors and the department's software polling 8× slower than the demo's default:
    the flow takes longer and still passes (it stops only when nothing moves any more), on
    a free port picked by ``port=0``."""
    assert await run_demo(
        tmp_path / "w", port=0, documents=4, dossiers=3, seed=11, dossier_tick=0.4
    )
