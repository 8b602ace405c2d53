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
NOT_AN_ADDRESS = (
    "is not an address: KIND.NAME, the names made of letters, digits, '.', '_' and '-' "
    "(as in the manifests); nothing moved"
)
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


@pytest.mark.parametrize("to", ["user.jane/smith", "user.", "user.-jane", "user.jane smith"])
def test_state_mv_to_a_name_no_address_has_is_refused(acme: Path, tmp_path: Path, to: str) -> None:
    before = state_file(tmp_path).read_bytes()
    r = cli("state", "mv", str(acme), "user.jane", to)
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == f"error: {to} {NOT_AN_ADDRESS}\n"
    assert state_file(tmp_path).read_bytes() == before
    # and the state is still one every command reads
    listed = cli("state", "list", str(acme))
    assert listed.exit_code == 0, listed.output


def test_state_mv_that_would_make_a_dependant_too_long_is_refused(
    acme: Path, tmp_path: Path
) -> None:
    before = state_file(tmp_path).read_bytes()
    to = "user." + "j" * 395  # 400 characters; enrollment.acme-compliance.jjj… has 422
    r = cli("state", "mv", str(acme), "user.jane", to)
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == (
        "error: enrollment.acme-compliance.jjjjjjjjjjjjj…: an address of 422 characters "
        "(at most 420); nothing moved\n"
    )
    assert state_file(tmp_path).read_bytes() == before


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
    for words, rest in (
        (["state", "list"], []),
        (["state", "rm"], ["user.jane"]),
        (["state", "mv"], ["user.jane", "user.jane-smith"]),
        (["unlock"], ["7f3c9a2e-5b1d-4c8e-9f0a-1b2c3d4e5f6a"]),
    ):
        args = [*words, str(acme), *rest]
        r = cli(*args)
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
