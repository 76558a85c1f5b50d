"""README.md's curl walkthrough, run verbatim against a hub.

Blocks marked ``<!-- walkthrough -->`` run in order, in one empty directory, with the
project's venv first on ``PATH``; the ``settings`` block is replaced by this hub's workdir and
port and the ``server`` block by the hub itself (the same working directory ``hub demo``
writes, examples included). Every ``# → text`` line under a command is the README's promise:
the block's output must contain it.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from hub.demo.examples import write_examples
from hub.demo.workdir import Workdir
from tests.api.conftest import start_hub
from tests.conftest import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
BLOCK = re.compile(r"<!-- walkthrough(?:: (\w+))? -->\n```sh\n(.*?)```", re.DOTALL)
PROMISE = re.compile(r"^# → (.+)$", re.MULTILINE)


def _blocks() -> list[tuple[str, str]]:
    return [(m.group(1) or "", m.group(2)) for m in BLOCK.finditer(README.read_text("utf-8"))]


def test_walkthrough_has_its_parts() -> None:
    kinds = [kind for kind, _ in _blocks()]
    assert kinds[:2] == ["server", "settings"] and kinds.count("") >= 5
    text = "".join(code for _, code in _blocks())
    assert "../shared" not in text  # a fresh clone has everything the walkthrough uses
    assert "examples/document.edxml" in text and "examples/update.edxml" in text


async def test_readme_walkthrough_runs_verbatim(workdir: Workdir, tmp_path: Path) -> None:
    write_examples(workdir)  # what hub demo writes into its workdir
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "COLUMNS": "200",  # rich would wrap long lines at 80 columns in a pipe
    }
    blocks = _blocks()
    # shell variables set by one block are used by the next (one shell, as a reader has)
    names = sorted(set(re.findall(r"\b([A-Z][A-Z0-9_]*)=", "".join(c for _, c in blocks))))
    keep = f"for v in {' '.join(names)}; do declare -p $v 2>/dev/null || true; done > .vars\n"
    async with start_hub(workdir) as hub:
        port = hub.url.rsplit(":", 1)[1]
        for kind, code in blocks:
            if kind == "server":
                continue  # this test's hub stands in for `make demo DEMO_ARGS="--serve"`
            if kind == "settings":
                code = f"W={workdir.root} PORT={port}\n"  # the variables the block sets
            script = f"if [ -f .vars ]; then . ./.vars; fi\n{code}\n{keep}"
            proc = await asyncio.create_subprocess_exec(
                "bash",
                "-euo",
                "pipefail",
                "-c",
                script,
                cwd=tmp_path,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            stdout, stderr = await proc.communicate()
            # what a reader sees in the terminal: both streams
            output = stdout.decode("utf-8", "replace") + stderr.decode("utf-8", "replace")
            detail = f"block:\n{code}\n--- output\n{output}"
            assert proc.returncode == 0, detail
            for promise in PROMISE.findall(code):
                assert promise in output, f"promised {promise!r}; {detail}"
