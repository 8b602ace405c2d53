"""What a user meets around the commands: --help examples, shell completion, colour and
terminals, ``validate --no-secrets`` (the pre-commit hook), the pinned sandbox clock."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner
from support.docs import MANIFESTS, PINNED_NOW, REPO, example_env, write_exe

from spsync.cli import main
from spsync.secrets import UnreadSecret


def walk(cmd: click.Command, path: tuple[str, ...] = ("spsync",)) -> Iterator[tuple[str, ...]]:
    """Every command path of the click tree, groups included."""
    yield path
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            yield from walk(cmd.commands[name], (*path, name))


COMMAND_PATHS = list(walk(main))


def test_the_tree_is_what_the_docs_describe() -> None:
    assert [" ".join(p) for p in COMMAND_PATHS] == [
        "spsync",
        "spsync apply",
        "spsync doctor",
        "spsync export",
        "spsync import",
        "spsync init",
        "spsync onboard",
        "spsync plan",
        "spsync sandbox",
        "spsync sandbox serve",
        "spsync schema",
        "spsync show",
        "spsync state",
        "spsync state list",
        "spsync state mv",
        "spsync state rm",
        "spsync state show",
        "spsync unlock",
        "spsync validate",
    ]


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=[" ".join(p) for p in COMMAND_PATHS])
def test_every_help_has_an_example(path: tuple[str, ...]) -> None:
    r = CliRunner().invoke(main, [*path[1:], "--help"], prog_name="spsync")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"Usage: {' '.join(path)} ")
    text = r.stdout
    assert "Example" in text, text
    # each example line names the command it illustrates
    start = text.index("Example")
    example = text[start:].split("\n\n")[0].splitlines()[1:]
    assert example, text
    assert all(line.strip().startswith(("spsync", "curl")) for line in example), example
    assert any(line.strip().startswith(" ".join(path)) for line in example) or path == (
        "spsync",
    ), example


# --- shell completion -----------------------------------------------------------------------


@pytest.fixture
def plain_spsync(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH starts with an ``spsync`` running this checkout."""
    write_exe(tmp_path / "spsync", f'#!/bin/sh\nexec "{sys.executable}" -m spsync "$@"\n')
    return {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.parametrize(
    ("shell", "registers"),
    [
        ("bash", "complete -o nosort -F _spsync_completion spsync"),
        ("zsh", "compdef _spsync_completion spsync"),
        ("fish", 'complete --no-files --command spsync --arguments "(_spsync_completion)"'),
    ],
)
def test_completion_scripts_are_produced(
    shell: str, registers: str, plain_spsync: dict[str, str]
) -> None:
    r = subprocess.run(
        ["spsync"],
        env={**plain_spsync, "_SPSYNC_COMPLETE": f"{shell}_source"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (r.returncode, r.stderr) == (0, "")
    assert registers in r.stdout


def test_bash_completion_completes_commands_and_options(plain_spsync: dict[str, str]) -> None:
    script = (
        'eval "$(_SPSYNC_COMPLETE=bash_source spsync)"\n'
        "COMP_WORDS=(spsync pl); COMP_CWORD=1; _spsync_completion spsync\n"
        'echo "commands: ${COMPREPLY[*]}"\n'
        "COMPREPLY=(); COMP_WORDS=(spsync plan manifests --det); COMP_CWORD=3; "
        "_spsync_completion spsync\n"
        'echo "options: ${COMPREPLY[*]}"\n'
        "COMPREPLY=(); COMP_WORDS=(spsync plan manifests --format ''); COMP_CWORD=4; "
        "_spsync_completion spsync\n"
        'echo "formats: ${COMPREPLY[*]}"\n'
    )
    bash = shutil.which("bash")
    assert bash is not None
    r = subprocess.run(
        [bash, "-c", script], env=plain_spsync, capture_output=True, text=True, check=False
    )
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.splitlines() == [
        "commands: plan",
        "options: --detailed-exitcode",
        "formats: text markdown json",
    ]


# --- colour, terminals ------------------------------------------------------------------------


def _run_on_pty(
    args: list[str], cwd: Path, env: dict[str, str], *, stdout_tty: bool, stderr_tty: bool
) -> tuple[int, bytes, bytes]:
    """Run ``python -m spsync ARGS`` with stdout and/or stderr on a pseudo-terminal."""
    master, slave = pty.openpty()
    p = subprocess.Popen(
        [sys.executable, "-m", "spsync", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=slave if stdout_tty else subprocess.PIPE,
        stderr=slave if stderr_tty else subprocess.PIPE,
    )
    os.close(slave)
    tty = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        tty += chunk
    # what went to a pipe is small (a pipe buffer holds it while the terminal is read)
    piped_out, piped_err = p.communicate()
    os.close(master)
    out = tty if stdout_tty else piped_out
    err = tty if stderr_tty else piped_err
    return p.returncode, out, err


@pytest.fixture
def acme_dir(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    shutil.copytree(MANIFESTS / "acme", tmp_path / "manifests" / "acme")
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(example_env())
    env["SPSYNC_SANDBOX_NOW"] = PINNED_NOW
    return tmp_path, env


ESC = b"\x1b["
PLAN = ["--sandbox", "plan", "manifests/acme", "--no-refresh"]


def test_plan_is_coloured_only_on_a_terminal(acme_dir: tuple[Path, dict[str, str]]) -> None:
    cwd, env = acme_dir
    code, out, _ = _run_on_pty(PLAN, cwd, env, stdout_tty=True, stderr_tty=False)
    assert code == 0
    assert ESC + b"32m  + course.acme-main  (create: new)" in out  # green on a terminal
    code, out, _ = _run_on_pty(PLAN, cwd, env, stdout_tty=False, stderr_tty=True)
    assert code == 0
    assert b"  + course.acme-main  (create: new)\n" in out
    assert ESC not in out


@pytest.mark.parametrize(
    ("extra_env", "flag"),
    [({"NO_COLOR": "1"}, []), ({}, ["--no-color"])],
    ids=["NO_COLOR", "--no-color"],
)
def test_no_color_wins_over_a_terminal(
    acme_dir: tuple[Path, dict[str, str]], extra_env: dict[str, str], flag: list[str]
) -> None:
    cwd, env = acme_dir
    code, out, _ = _run_on_pty(
        [*PLAN, *flag], cwd, {**env, **extra_env}, stdout_tty=True, stderr_tty=False
    )
    assert code == 0
    assert b"  + course.acme-main  (create: new)" in out
    assert ESC not in out


def test_apply_on_a_terminal_with_no_color_prints_plain_progress(
    acme_dir: tuple[Path, dict[str, str]],
) -> None:
    cwd, env = acme_dir
    args = ["--sandbox", "apply", "manifests/acme", "--auto-approve"]
    code, out, _ = _run_on_pty(
        args, cwd, {**env, "NO_COLOR": "1"}, stdout_tty=True, stderr_tty=True
    )
    assert code == 0, out
    assert ESC not in out
    assert b"acme: applying 42 changes" in out
    assert b"Apply complete." in out


# --- validate --no-secrets --------------------------------------------------------------------


def _no_secrets_env() -> dict[str, str | None]:
    """An environment with none of the example tokens and passwords."""
    names = [*example_env(), "SPSYNC_ACME_TOKEN", "SPSYNC_GLOBEX_TOKEN"]
    return dict.fromkeys(names)


def test_validate_no_secrets_needs_no_variable(tmp_path: Path) -> None:
    runner = CliRunner()
    env = _no_secrets_env()
    plain = runner.invoke(main, ["validate", str(MANIFESTS)], env=env)
    assert plain.exit_code == 1
    assert "environment variable SPSYNC_ACME_CERT_PASSWORD is not set" in plain.stderr
    assert "environment variable SPSYNC_ACME_TOKEN is not set" in plain.stderr
    r = runner.invoke(main, ["validate", str(MANIFESTS), "--no-secrets"], env=env)
    assert (r.exit_code, r.stderr) == (0, "")
    assert r.stdout == (
        "acme: ok (2 courses, 3 exams, 10 users, 12 enrollments, 10 assignments, 7 sessions)\n"
        "globex: ok (3 courses, 5 exams, 320 users, 404 enrollments, 356 assignments, "
        "246 sessions)\n"
    )


def test_validate_no_secrets_still_checks_the_references(tmp_path: Path) -> None:
    tenant = tmp_path / "t"
    shutil.copytree(MANIFESTS / "acme", tenant)
    text = (tenant / "exams.yaml").read_text()
    text = text.replace("{env: SPSYNC_ACME_CERT_PASSWORD}", "{env: 1BAD-NAME}")
    text = text.replace("{env: SPSYNC_ACME_SAFETY_PASSWORD}", "hunter2")  # a literal secret
    text = text.replace("{env: SPSYNC_ACME_ORIENTATION_PASSWORD}", "{file: not/there}")  # not read
    (tenant / "exams.yaml").write_text(text)
    tyaml = (tenant / "tenant.yaml").read_text()
    (tenant / "tenant.yaml").write_text(tyaml.replace("  token: {env: SPSYNC_ACME_TOKEN}", ""))
    r = CliRunner().invoke(main, ["validate", str(tenant), "--no-secrets"], env=_no_secrets_env())
    assert r.exit_code == 1
    assert "hunter2" not in r.output
    assert r.stderr.splitlines() == [
        f"{tenant}/exams.yaml:12:23: exams.cert-456.configuration.password.env: env must name "
        "an environment variable (letters, digits and _, not starting with a digit)",
        f"{tenant}/exams.yaml:31:17: exams.safety-101.configuration.password: a secret must "
        "not be written in a manifest: refer to it as {env: VARIABLE} or {file: path} (and "
        "rotate it if it was committed)",
        f"{tenant}/tenant.yaml:8:3: api.token: missing: give the API token as {{env: "
        "VARIABLE} or {file: path} (not needed with --sandbox)",
        "3 problems found",
    ]


def test_no_secrets_loads_unreadable_placeholders() -> None:
    from spsync import manifest

    (acme,) = manifest.load(MANIFESTS / "acme", env={}, secrets=False)
    assert acme.tenant.api.token is None
    password = acme.exams["exam.cert-456"].configuration.password
    assert isinstance(password, UnreadSecret)
    assert str(password) == "(sensitive)"
    with pytest.raises(RuntimeError, match="env:SPSYNC_ACME_CERT_PASSWORD was not read"):
        password.reveal()
    with pytest.raises(RuntimeError):
        password.fingerprint(b"k")


def test_the_pre_commit_hook_validates_without_secrets() -> None:
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "spsync-validate"
    assert hook["entry"] == "spsync validate --no-secrets"
    assert hook["args"] == ["manifests"]
    assert hook["pass_filenames"] is False
    args = hook["entry"].split()[1:] + hook["args"]
    r = CliRunner().invoke(main, args, env=_no_secrets_env())
    assert r.exit_code == 0, r.output


# --- the sandbox clock ---------------------------------------------------------------------


def test_the_sandbox_clock_can_be_pinned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spsync.sandbox.embedded import fixed_now

    assert fixed_now({}) is None
    assert fixed_now({"SPSYNC_SANDBOX_NOW": PINNED_NOW}).isoformat() == "2027-06-01T00:00:00+00:00"
    monkeypatch.chdir(tmp_path)
    shutil.copytree(MANIFESTS / "acme", tmp_path / "manifests" / "acme")
    env = {**example_env(), "SPSYNC_SANDBOX_NOW": "2027-06-01"}
    r = CliRunner().invoke(main, ["--sandbox", "plan", "manifests"], env=env)
    assert (r.exit_code, r.stderr) == (
        1,
        "error: SPSYNC_SANDBOX_NOW: expected an ISO-8601 UTC date-time ending in Z "
        "(e.g. 2027-06-01T00:00:00Z), got '2027-06-01'\n",
    )
    # after every appointment: each schedule is refused, as the service would
    env["SPSYNC_SANDBOX_NOW"] = "2029-01-01T00:00:00Z"
    r = CliRunner().invoke(
        main, ["--sandbox", "apply", "manifests", "--auto-approve", "--parallelism", "1"], env=env
    )
    assert r.exit_code == 1
    assert "INVALIDINPUT: appointmentDateTime" in r.stderr


def test_make_demo_pins_the_same_clock() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert f"SPSYNC_SANDBOX_NOW={PINNED_NOW}" in makefile


# --- hints that users copy ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "sandbox", "hint"),
    [
        ("manifests/acme", True, "spsync --sandbox apply p.json"),
        ("manifests", False, "spsync apply p.json"),
        ("elsewhere/acme", False, "spsync apply p.json"),
    ],
)
def test_a_saved_plan_names_the_command_that_applies_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str, sandbox: bool, hint: str
) -> None:
    monkeypatch.chdir(tmp_path)
    tenant_dir = "manifests/acme" if path == "manifests" else path
    shutil.copytree(MANIFESTS / "acme", tmp_path / tenant_dir)
    env = {**example_env(), "SPSYNC_ACME_TOKEN": "t", "SPSYNC_SANDBOX_NOW": PINNED_NOW}
    args = [*(["--sandbox"] if sandbox else []), "plan", path, "--no-refresh", "--out", "p.json"]
    r = CliRunner().invoke(main, args, env=env)
    assert r.exit_code == 0, r.stderr
    assert r.stderr.splitlines()[-1] == f"Saved the plan to p.json; apply it with: {hint}"


# --- the scaffold -----------------------------------------------------------------------------


def test_the_scaffold_is_wired_to_its_schemas_and_its_example_validates(tmp_path: Path) -> None:
    from spsync.schema import json_schema

    r = CliRunner().invoke(
        main, ["init", str(tmp_path / "t"), "--tenant", "t", "--install", "AI" + "c" * 32]
    )
    assert r.exit_code == 0, r.output
    for name, kind in (("tenant.yaml", "tenant"), ("resources.yaml", "resources")):
        first = (tmp_path / "t" / name).read_text().splitlines()[0]
        prefix = "# yaml-language-server: $schema="
        assert first.startswith(prefix)
        # yaml-language-server resolves a relative path from the YAML file's directory
        schema = tmp_path / "t" / first.removeprefix(prefix)
        assert json.loads(schema.read_text()) == json_schema(kind)
    # the commented example, uncommented into a file of its own, is a valid roster
    text = (tmp_path / "t" / "resources.yaml").read_text()
    example = text.split("# exams:", 1)[1]
    lines = ["exams:"] + [x.removeprefix("# ") for x in example.splitlines()]
    (tmp_path / "t" / "roster.yaml").write_text("\n".join(lines) + "\n")
    env = {"SPSYNC_T_FINAL_PASSWORD": "pw", "SPSYNC_SANDBOX_NOW": PINNED_NOW}
    v = CliRunner().invoke(main, ["--sandbox", "validate", str(tmp_path / "t")], env=env)
    assert (v.exit_code, v.stderr) == (0, "")
    assert v.stdout == "t: ok (1 course, 1 exam, 2 users, 2 enrollments, 1 assignment, 1 session)\n"
