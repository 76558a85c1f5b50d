"""``hub adapter new NAME``: copy the adapter template with the name substituted.

The template (``adapters/_template``) is itself a working adapter package (type-checked and
linted with the project), written with the placeholder ``template_name`` / ``TemplateName``;
the copy replaces both in file names and contents. The caller names the template: the hub's
adapter kit imports no adapter package, the command line (a composition root) does.
"""

from __future__ import annotations

import keyword
import shutil
from pathlib import Path

from hub.errors import HubError

__all__ = ["ScaffoldError", "scaffold"]


class ScaffoldError(HubError):
    """A new adapter cannot be created as asked (bad name, target exists)."""

    code = "adapter.scaffold"
    status = 400
    title = "Adapter cannot be created"


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def scaffold(name: str, directory: Path, template: Path) -> list[Path]:
    """Create ``directory/name`` from the adapter package ``template``; returns the files
    written."""
    if not name.isidentifier() or keyword.iskeyword(name) or not name.islower():
        raise ScaffoldError(f"{name!r}: use a lower-case Python identifier, e.g. 'qlvb_hanoi'")
    if name.startswith("_"):
        raise ScaffoldError(f"{name!r}: names starting with '_' are reserved")
    target = directory / name
    if target.exists():
        raise ScaffoldError(f"{target} exists; choose another name or remove it")
    written: list[Path] = []
    for src in sorted(template.rglob("*")):
        rel = src.relative_to(template)
        if "__pycache__" in rel.parts or src.suffix in (".pyc",) or src.is_dir():
            continue
        dest = target / str(rel).replace("template_name", name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix in (".py", ".toml", ".md", ".txt"):
            text = src.read_text(encoding="utf-8")
            text = text.replace("TemplateName", _camel(name)).replace("template_name", name)
            dest.write_text(text, encoding="utf-8")
        else:
            shutil.copyfile(src, dest)
        written.append(dest)
    return written
