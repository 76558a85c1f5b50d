"""``hub agency import`` (issue 11): the diff, the dry run, idempotence, refusals (exit 2)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from hub.cli import main
from hub.config import load_config
from hub.demo.workdir import Workdir
from hub.models import DirectoryRecord
from hub.runtime import make_store
from tests.directory_sample import H29_TC, SAMPLE, sample_csv, sample_json


def stored(workdir: Workdir) -> list[DirectoryRecord]:
    async def read() -> list[DirectoryRecord]:
        async with make_store(load_config(workdir.config_dir)) as store:
            return list(await store.directory_records())

    return asyncio.run(read())


def run(workdir: Workdir, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["agency", "import", *args, "--config", str(workdir.config_dir)]
    )
    return result.exit_code, result.output


def test_dry_run_then_import_then_again(workdir: Workdir, tmp_path: Path) -> None:
    csv_file = sample_csv(tmp_path / "danh-ba.csv")
    code, output = run(workdir, str(csv_file), "--dry-run")
    assert code == 0, output
    assert f"+ {H29_TC}  Sở Tài chính Thành phố Hà Nội  parent=000.00.00.H29" in output
    assert "+ 000.00.01.H41  Sở Nội vụ Tỉnh Nghệ An" in output
    assert "(connected: agencies.toml keeps its name)" in output  # registered in the workdir
    assert f"{len(SAMPLE)} added, 0 changed, 0 unchanged" in output
    assert "import never deletes" in output and "dry run: nothing written" in output
    assert stored(workdir) == []

    code, output = run(workdir, str(csv_file))
    assert code == 0, output
    assert f"written: {len(SAMPLE)} entries, directory revision 1" in output
    assert {r.code for r in stored(workdir)} == {c for c, *_ in SAMPLE}

    code, output = run(workdir, str(csv_file), "-v")
    assert code == 0, output
    assert f"0 added, 0 changed, {len(SAMPLE)} unchanged" in output
    assert f"= {H29_TC}" in output
    assert "nothing to write" in output


def test_changes_are_shown_field_by_field_and_nothing_is_deleted(
    workdir: Workdir, tmp_path: Path
) -> None:
    assert run(workdir, str(sample_csv(tmp_path / "a.csv")))[0] == 0
    renamed = ((H29_TC, "Sở Tài chính Hà Nội", "000.00.00.H29", H29_TC, "STC.HN"),)
    code, output = run(workdir, str(sample_json(tmp_path / "b.json", renamed)))
    assert code == 0, output
    assert f"~ {H29_TC}  name: 'Sở Tài chính Thành phố Hà Nội' -> 'Sở Tài chính Hà Nội'" in output
    assert f"0 added, 1 changed, 0 unchanged; {len(SAMPLE) - 1} stored entries" in output
    assert "directory revision 2" in output
    assert len(stored(workdir)) == len(SAMPLE)


def test_a_file_that_cannot_be_imported_exits_2_without_a_traceback(
    workdir: Workdir, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name\n000.00.13.H29,Sở Tài chính\n13.H29,Sở lỗi\n", encoding="utf-8")
    code, output = run(workdir, str(bad))
    assert code == 2
    assert "error: bad.csv: 1 problem(s), nothing imported" in output
    assert "line 3: code '13.H29' is not an OrganId" in output
    assert "Traceback" not in output
    assert stored(workdir) == []

    other = tmp_path / "danh-ba.txt"
    other.write_text("[]", encoding="utf-8")
    code, output = run(workdir, str(other))
    assert code == 2 and "pass --format csv or --format json" in output
    code, output = run(workdir, str(other), "--format", "json")
    assert code == 2 and "no entries" in output
