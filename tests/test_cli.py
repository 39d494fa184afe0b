"""The `heritage` console script: --help on every subcommand, errors as one line with exit status 2."""
from __future__ import annotations

import subprocess
import sys

import pytest

from heritage_core.cli import main

COMMANDS = [
    [], ["synth"], ["ingest"], ["data"], ["data", "check"], ["splits"], ["metrics"], ["metrics", "summarise"],
    ["train"], ["evaluate"], ["dg"], ["film"], ["report"], ["paper"], ["suite"], ["suite", "run"], ["suite", "submit"], ["suite", "status"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "heritage")
def test_help_on_every_subcommand(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_heritage_error_is_one_line_and_exit_2(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(tmp_path / "missing"), "--out", str(tmp_path / "cache"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("DataError: ") and "missing" in err
    assert not (tmp_path / "cache").exists()


def test_console_script_is_installed() -> None:
    out = subprocess.run([sys.executable, "-m", "heritage_core.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "synth" in out.stdout and "suite" in out.stdout
