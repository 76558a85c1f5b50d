"""The import layering of docs/architecture.md holds: ``lint-imports`` keeps every contract of
``[tool.importlinter]`` in pyproject.toml (store and broker contracts import no domain package,
``signing`` stands alone, lower layers never import higher ones)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    linter = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run(
        [str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 broken" in done.stdout, done.stdout


#: what adapters may import of the hub (the adapter contract, the models, the kit's tests)
ADAPTERS_MAY_IMPORT = {"hub.adapter", "hub.dossier", "hub.edxml", "hub.testing"}


def test_the_adapter_contract_forbids_every_other_hub_module() -> None:
    """import-linter has no allow-list: the forbidden list must name every other module of
    ``hub``, including ones added later."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = [
        c
        for c in config["tool"]["importlinter"]["contracts"]
        if c.get("source_modules") == ["adapters"]
    ]
    modules = {
        f"hub.{p.stem}"
        for p in (ROOT / "hub").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert set(contract["forbidden_modules"]) == modules - ADAPTERS_MAY_IMPORT
