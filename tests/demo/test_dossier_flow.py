"""The demo's dossier flow: its plan, and a self-check that fails on any mismatch."""

from __future__ import annotations

import hashlib
from pathlib import Path

from hub.adapter import stable_package_id
from hub.demo.dossiers import (
    ACCEPTED_CHAIN,
    DEPARTMENT,
    PORTAL,
    PROVINCE,
    REFUSED_CHAIN,
    DossierFlow,
    add_dossier_routes,
    make_dossiers,
    progress_step,
)
from hub.demo.workdir import Workdir


def test_plan_is_deterministic_vietnamese_and_has_refusals() -> None:
    plans = make_dossiers(20, seed=3)
    assert plans == make_dossiers(20, seed=3)
    assert len({p.code for p in plans}) == 20
    chains = {p.chain for p in plans}
    assert chains == {ACCEPTED_CHAIN, REFUSED_CHAIN}
    assert all(p.ho_so.ma_tthc.endswith(".H29") for p in plans)
    assert any(not p.ho_so.chu_ho_so.isascii() for p in plans)
    step = progress_step(plans[0], "10", 4)
    assert step["TrangThaiHoSo"] == "10" and step["DanhSachGiayToKetQua"]


def test_routes_copy_both_dossier_kinds_to_the_portal_once(tmp_path: Path) -> None:
    (tmp_path / "routes.toml").write_text("# existing rules\n", encoding="utf-8")
    add_dossier_routes(tmp_path)
    add_dossier_routes(tmp_path)
    text = (tmp_path / "routes.toml").read_text(encoding="utf-8")
    assert text.startswith("# existing rules")
    assert text.count("[[copy]]") == 2 and text.count(f'add = ["{PORTAL}"]') == 2


def _flow(tmp_path: Path) -> DossierFlow:
    wd = Workdir(tmp_path, tmp_path / "config", tmp_path / "pki", tmp_path / "data", {})
    flow = DossierFlow(wd, "http://127.0.0.1:9", count=6, seed=1)
    f = flow.facts
    row = 0
    for plan in flow.plans:
        f.igate_dossiers[plan.code] = f.portal_dossiers[plan.code] = True
        f.igate_states[plan.code] = list(plan.chain)
        f.portal_states[plan.code] = list(plan.chain)
        f.db_inbox[plan.code] = 1
        for state in plan.chain:
            row += 1
            receipt = f"<Receipt>{row}</Receipt>"
            sha = hashlib.sha256(receipt.encode()).hexdigest()
            f.outbox.append((str(row), f"{plan.code}/{state}", f"hub-{row}", receipt, sha))
            f.outbox_states[state] += 1
    packages = len(flow.plans) + row
    f.portal_sends = packages
    f.connector_counts = {
        PROVINCE: {"accepted": len(flow.plans), "receipts": len(flow.plans)},
        DEPARTMENT: {"accepted": row, "receipts": row},
        PORTAL: {},
    }
    return flow


def test_self_check_passes_on_a_clean_run_and_fails_on_each_mismatch(tmp_path: Path) -> None:
    flow = _flow(tmp_path)
    assert all(c.ok for c in flow.checks()), [c for c in flow.checks() if not c.ok]
    assert flow.table().row_count == 6

    code = flow.plans[0].code
    cases = {
        "a state twice at iGate": lambda f: f.igate_states[code].append(f.igate_states[code][-1]),
        "a state missing at the portal": lambda f: f.portal_states[code].pop(),
        "a duplicate counted by the portal": lambda f: f.portal_duplicates.update({(code, "x"): 2}),
        "the dossier twice in the database": lambda f: f.db_inbox.update({code: 2}),
        "an outbox row without receipt": lambda f: f.outbox.__setitem__(
            0, (*f.outbox[0][:3], None, None)
        ),
        "an outbox row marked with the sender's id": lambda f: f.outbox.__setitem__(
            0,
            (
                f.outbox[0][0],
                f.outbox[0][1],
                stable_package_id(DEPARTMENT, f.outbox[0][1], f.outbox[0][0]),
                *f.outbox[0][3:],
            ),
        ),
        "a quarantined package": lambda f: f.connector_counts[PORTAL].update({"quarantine": 1}),
    }
    for name, spoil in cases.items():
        flow = _flow(tmp_path / name.replace(" ", "-"))
        spoil(flow.facts)
        assert not all(c.ok for c in flow.checks()), name
