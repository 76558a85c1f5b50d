"""docs/adapters.md, tried as a new user would: every block marked ``<!-- walkthrough -->`` is
run verbatim, in order, in an empty directory, with the project's venv first on PATH."""

from __future__ import annotations

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
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(tmp_path),  # the scaffolded package is importable from here
    }
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
    assert (tmp_path / "my_oss" / "tests" / "test_my_oss.py").exists()


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
