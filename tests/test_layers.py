"""The import layering of docs/architecture.md holds: ``lint-imports`` keeps every contract of
``[tool.importlinter]`` in pyproject.toml (store and broker contracts import no domain package,
``signing`` stands alone, lower layers never import higher ones)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    linter = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run(
        [str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 broken" in done.stdout, done.stdout
