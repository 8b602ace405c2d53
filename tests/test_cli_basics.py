"""The CLI's shared behaviour: version, help, exit codes for usage errors."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from spsync import __version__
from spsync.cli import main


def test_version() -> None:
    r = CliRunner().invoke(main, ["--version"])
    assert r.exit_code == 0
    assert r.stdout == f"spsync, version {__version__}\n"


def test_unknown_command_exits_1_without_traceback() -> None:
    r = CliRunner().invoke(main, ["frobnicate"])
    assert r.exit_code == 1
    assert "No such command 'frobnicate'" in r.stderr
    assert "Traceback" not in r.stderr


def test_python_dash_m() -> None:
    p = subprocess.run(
        [sys.executable, "-m", "spsync", "--version"], capture_output=True, text=True, check=False
    )
    assert p.returncode == 0
    assert p.stdout.strip() == f"spsync, version {__version__}"
