"""``runtime.errors``: a file that cannot be read is one line naming it; the CLI wrapper's exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.config import read_yaml
from runtime.errors import UserError, cli_entry, read_text


def test_read_text_names_the_file_it_cannot_read(tmp_path: Path) -> None:
    good = tmp_path / "a.txt"
    good.write_text("hello")
    assert read_text(good) == "hello"
    with pytest.raises(UserError, match=r"missing\.yaml: cannot read \(No such file or directory\)"):
        read_text(tmp_path / "missing.yaml")
    with pytest.raises(UserError, match="cannot read"):
        read_text(tmp_path)  # a folder
    with pytest.raises(UserError, match=r"missing\.yaml: cannot read"):  # the config reader goes through it
        read_yaml(tmp_path / "missing.yaml")


def test_cli_entry_turns_a_user_error_into_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    @cli_entry
    def main(argv: list[str] | None = None) -> int:
        read_text("/nonexistent/file.json")
        return 0

    assert main([]) == 2
    assert capsys.readouterr().err.strip() == "error: /nonexistent/file.json: cannot read (No such file or directory)"
