"""The CLI's shared behaviour: version, help, exit codes for usage errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.apply import sandbox_acme

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


EMPTY_ADDRESS = "empty: give an address, KIND.NAME (user.jane, session.cert-456.jane)"


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["plan", "manifests/acme", "--target", ""], "'--target'"),
        (["apply", "manifests/acme", "--auto-approve", "--replace", " "], "'--replace'"),
        (["state", "show", "manifests/acme", ""], "'ADDR'"),
        (["state", "rm", "manifests/acme", "user.jane", ""], "'ADDR...'"),
        (["state", "mv", "manifests/acme", "user.jane", ""], "'TO'"),
        (["import", "manifests/acme", "", "US" + "0" * 32], "'ADDR'"),
        (["onboard", "manifests/acme", ""], "'session.EXAM.USER'"),
    ],
)
def test_an_empty_address_is_a_usage_error_naming_it(
    args: list[str], name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what `--target "$ADDR"` passes when ADDR is unset: it was reported as
    # "error: unknown target " or "error:  is not in state", naming nothing
    dest = sandbox_acme(tmp_path, monkeypatch, "manifests")
    assert dest == tmp_path / "manifests" / "acme"
    r = CliRunner().invoke(main, ["--sandbox", *args], env={"NO_COLOR": "1"})
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr.splitlines()[-1] == f"Error: Invalid value for {name}: {EMPTY_ADDRESS}"
    assert not (tmp_path / ".spsync").exists()  # nothing read, nothing written
