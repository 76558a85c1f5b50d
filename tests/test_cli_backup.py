"""`hub db backup` never replaces an earlier backup silently."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from hub.cli import main


def test_db_backup_refuses_to_replace_a_file_without_force(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    output = tmp_path / "backup.bin"
    output.write_bytes(b"an earlier backup")
    result = CliRunner().invoke(
        main, ["db", "backup", "--config", str(tmp_path / "config"), "--output", str(output)]
    )
    assert result.exit_code == 2, result.output
    assert "exists" in result.output and "--force" in result.output
    assert "Traceback" not in result.output
    assert output.read_bytes() == b"an earlier backup"
