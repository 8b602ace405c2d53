"""``spsync state …`` given wrong input: a located error and exit 1, the state untouched.

The state commands read only the ``tenant:`` of each tenant.yaml (they work on manifests
that do not validate); that name is the state file's, so it is read as validate reads it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from support.apply import sandbox_acme

from spsync.cli import main

SANDBOX_NOW = "2027-06-01T00:00:00Z"
NOT_A_NAME = (
    "tenant: must be a tenant name (lowercase letters, digits and '-', starting with a "
    "letter or digit)"
)


def cli(*args: str) -> Result:
    env = {"NO_COLOR": "1", "SPSYNC_SANDBOX_NOW": SANDBOX_NOW}
    return CliRunner().invoke(main, ["--sandbox", *args], env=env, catch_exceptions=False)


def state_file(root: Path) -> Path:
    return root / ".spsync" / "sandbox" / "state" / "acme.json"


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    dest = sandbox_acme(tmp_path, monkeypatch, "manifests")
    r = cli("apply", str(dest), "--auto-approve")
    assert r.exit_code == 0, r.output
    return dest


def test_state_list_of_a_tenant_yaml_not_in_utf8_is_a_located_problem(acme: Path) -> None:
    (acme / "tenant.yaml").write_bytes(b"tenant: acme\n# caf\xe9\n")
    r = cli("state", "list", str(acme))
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == (f"{acme}/tenant.yaml:2:6: not valid UTF-8 (byte 0xe9)\n1 problem found\n")


@pytest.mark.parametrize(
    ("line", "col", "got"),
    [("tenant: ../other", 9, '"../other"'), ("tenant: [acme]", 9, "a list")],
)
def test_state_commands_refuse_a_tenant_name_that_is_none(
    acme: Path, tmp_path: Path, line: str, col: int, got: str
) -> None:
    # the name is the state file's: ../other would be read and written outside the state dir
    (tmp_path / ".spsync" / "sandbox" / "other.json").write_text("{}")
    (acme / "tenant.yaml").write_text(line + "\n")
    for args in (["list"], ["rm", "user.jane"], ["mv", "user.jane", "user.jane-smith"]):
        r = cli("state", args[0], str(acme), *args[1:])
        assert (r.exit_code, r.stdout) == (1, ""), args
        assert r.stderr == (
            f"{acme}/tenant.yaml:1:{col}: {NOT_A_NAME}, got {got}\n1 problem found\n"
        ), args
    assert (tmp_path / ".spsync" / "sandbox" / "other.json").read_text() == "{}"


def test_state_list_of_a_tenant_yaml_in_bad_yaml_is_one_located_line(acme: Path) -> None:
    (acme / "tenant.yaml").write_text("tenant: [acme\n")
    r = cli("state", "list", str(acme))
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == (
        f"{acme}/tenant.yaml:2:1: YAML syntax error: did not find expected ',' or ']' "
        "(while parsing a flow sequence)\n1 problem found\n"
    )
