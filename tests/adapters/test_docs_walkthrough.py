"""docs/adapters.md, tried as a new user would: every block marked ``<!-- walkthrough -->`` is
run verbatim, in order, in an empty directory outside the repository, with the project's venv
first on PATH and nothing else (no PYTHONPATH): the scaffolded package, its tests and its
example connector configuration work as generated."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "adapters.md"
BLOCK = re.compile(r"<!-- walkthrough -->\n```(sh|python)\n(.*?)```", re.DOTALL)


def test_walkthrough_blocks_exist() -> None:
    kinds = [m.group(1) for m in BLOCK.finditer(DOC.read_text(encoding="utf-8"))]
    assert kinds.count("sh") >= 2 and "python" in kinds


def test_docs_walkthrough_runs_verbatim(tmp_path: Path) -> None:
    assert not tmp_path.resolve().is_relative_to(PROJECT_ROOT)
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    outputs: list[str] = []
    for match in BLOCK.finditer(DOC.read_text(encoding="utf-8")):
        kind, code = match.groups()
        cmd = (
            ["bash", "-euo", "pipefail", "-c", code]
            if kind == "sh"
            else [sys.executable, "-c", code]
        )
        done = subprocess.run(
            cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, f"{kind} block failed:\n{code}\n{done.stdout}\n{done.stderr}"
        outputs.append(done.stdout)
    assert (tmp_path / "my_oss" / "tests" / "test_my_oss.py").exists()
    # step 5: the generated config.example.toml ran one connector cycle with the adapter
    report = json.loads(outputs[-1].strip().splitlines()[-1])
    assert report["errors"] == 0 and report["quarantined"] == 0, report


def test_scaffold_refuses_bad_names_and_existing_targets(tmp_path: Path) -> None:
    hub = [sys.executable, "-m", "hub.cli"]
    for bad in ("My-OSS", "class", "_private"):
        done = subprocess.run(
            [*hub, "adapter", "new", bad, "--dir", str(tmp_path)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode != 0 and bad in done.stderr
    ok = [*hub, "adapter", "new", "xa_phuong", "--dir", str(tmp_path)]
    assert subprocess.run(ok, capture_output=True, check=False).returncode == 0
    again = subprocess.run(ok, capture_output=True, text=True, check=False)
    assert again.returncode != 0 and "exists" in again.stderr
