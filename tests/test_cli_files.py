"""A path the file system refuses (a file where a directory is meant, a directory that takes
no files) is a located error and exit 1: `error: PATH: reason`, never `internal error`, and
found before anything is asked of the API or printed as if it had worked."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from support.apply import ENV, EXAMS, TOKEN, write_tenant

from spsync.cli import main
from spsync.errors import StateError, UsageError
from spsync.files import write_together
from spsync.sandbox.server import ThreadedServer
from spsync.store import write_atomic

INSTALL = "AIc3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8"


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={**ENV, "NO_COLOR": "1"})


def everything_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def tenant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A configuration repository at ``tmp_path`` (the working directory) with one tenant,
    ``manifests/initech``, made by ``spsync init``."""
    monkeypatch.chdir(tmp_path)
    r = cli("init", "manifests/initech", "--tenant", "initech", "--install", INSTALL)
    assert r.exit_code == 0, r.stderr
    return tmp_path / "manifests" / "initech"


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer(token=TOKEN, seed=5) as srv:
        yield srv


def requests_to(srv: ThreadedServer) -> int:
    got = httpx.get(srv.url + "/_sandbox/requests", headers={"token": TOKEN})
    return int(got.json()["total"])


# --- plan --out --------------------------------------------------------------------------------


def test_plan_out_under_a_file_fails_before_planning(tenant: Path) -> None:
    Path("plan.md").write_text("notes\n")
    before = everything_under(Path.cwd())
    r = cli("--sandbox", "plan", "manifests/initech", "--out", "plan.md/x.json")
    assert (r.exit_code, r.stdout) == (1, "")
    assert (
        r.stderr
        == "error: plan.md/x.json: cannot write the plan file: plan.md is not a directory\n"
    )
    # the sandbox was never opened: no API call, nothing written
    assert everything_under(Path.cwd()) == before
    assert not Path(".spsync").exists()


def test_plan_out_dash_is_refused_rather_than_written_as_a_file_named_dash(tenant: Path) -> None:
    # `-` reads as standard output; the plan would have gone to a file named `-`, and
    # "apply it with: spsync apply -" then read that file
    before = everything_under(Path.cwd())
    r = cli("--sandbox", "plan", "manifests/initech", "--out", "-")
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == (
        "error: --out -: give the plan file a name (--out plan.json); the plan is shown on "
        "standard output already (--format json for scripts)\n"
    )
    assert everything_under(Path.cwd()) == before
    assert not Path(".spsync").exists()


def test_plan_out_in_a_directory_that_takes_no_file_fails_before_planning(tenant: Path) -> None:
    r = cli("--sandbox", "plan", "manifests/initech", "--out", "/proc/x.json")
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == (
        "error: /proc/x.json: cannot write the plan file: No such file or directory\n"
    )
    assert not Path(".spsync").exists()


def test_plan_out_makes_missing_directories(tenant: Path) -> None:
    r = cli("--sandbox", "plan", "manifests/initech", "--out", "plans/today/p.json")
    assert r.exit_code == 0, r.stderr
    assert Path("plans/today/p.json").is_file()
    assert os.listdir("plans/today") == ["p.json"]  # the probe left nothing behind


# --- init --------------------------------------------------------------------------------------


def test_init_under_a_file_is_a_located_error(tenant: Path) -> None:
    r = cli("init", "manifests/initech/tenant.yaml/sub", "--tenant", "q", "--install", INSTALL)
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == (
        "error: manifests/initech/tenant.yaml/sub: cannot create the tenant directory: "
        "manifests/initech/tenant.yaml is not a directory\n"
    )


def test_init_where_no_directory_can_be_made_is_a_located_error(tmp_path: Path) -> None:
    r = cli("init", "/proc/spsync-init", "--tenant", "q", "--install", INSTALL)
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == (
        "error: /proc/spsync-init: cannot create the directory: No such file or directory; "
        "nothing was written\n"
    )


def test_init_writes_nothing_unless_it_can_write_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("manifests").mkdir()
    Path(".gitignore").mkdir()  # the last file init writes cannot be written
    args = ("init", "manifests/a", "--tenant", "a", "--install", INSTALL)
    r = cli(*args)
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == "error: .gitignore: cannot read: Is a directory; nothing was written\n"
    assert everything_under(tmp_path) == [".gitignore", "manifests"]
    # once the obstacle is gone, the retry is not refused for a half-written tenant
    Path(".gitignore").rmdir()
    r = cli(*args)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[-2:] == [
        "wrote .gitignore",
        "next: export SPSYNC_A_TOKEN=... ; spsync validate manifests/a",
    ]


def test_write_together_undoes_everything_when_one_file_fails(tmp_path: Path) -> None:
    contents = {
        tmp_path / "new" / "deeper" / "a.txt": "a\n",
        tmp_path / "b.txt": "b\n",
        Path("/proc/spsync-c.txt"): "c\n",
    }
    with pytest.raises(UsageError) as e:
        write_together(contents, UsageError)
    assert str(e.value) == (
        "/proc/spsync-c.txt: cannot write: No such file or directory; nothing was written"
    )
    assert everything_under(tmp_path) == []


# --- the state, sandbox and audit directories --------------------------------------------------


def test_a_state_dir_under_a_file_is_a_located_error_before_any_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: ThreadedServer
) -> None:
    monkeypatch.chdir(tmp_path)
    write_tenant(tmp_path / "manifests", server.url, {"exams.yaml": EXAMS})
    Path("afile").write_text("")
    r = cli("--state-dir", "afile/sub", "apply", "manifests/mini", "--auto-approve")
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == (
        "error: afile/sub: cannot create the state directory: afile is not a directory\n"
    )
    assert requests_to(server) == 0


def test_a_file_named_like_spsyncs_own_directory_is_a_located_error(
    tenant: Path, server: ThreadedServer
) -> None:
    Path(".spsync").write_text("")
    r = cli("--sandbox", "plan", "manifests/initech")
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == (
        "error: .spsync/sandbox: cannot create the sandbox directory: .spsync is not a directory\n"
    )
    write_tenant(tenant.parent, server.url, {"exams.yaml": EXAMS})
    r = cli("apply", "manifests/mini", "--auto-approve")
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == (
        "error: .spsync/audit: cannot create the audit directory: .spsync is not a directory\n"
    )
    assert requests_to(server) == 0


def test_write_atomic_names_the_file_and_why(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("")
    with pytest.raises(StateError) as e:
        write_atomic(tmp_path / "state" / "acme.json", "{}\n")
    assert str(e.value) == (
        f"{tmp_path}/state/acme.json: cannot write the state file: {tmp_path}/state is not "
        "a directory"
    )
    with pytest.raises(UsageError) as u:
        write_atomic(Path("/proc/p.json"), "{}\n", what="the plan file", error=UsageError)
    assert str(u.value) == "/proc/p.json: cannot write the plan file: No such file or directory"


def test_any_other_refused_path_is_an_error_not_a_bug(tenant: Path) -> None:
    assert cli("--sandbox", "apply", "manifests/initech", "--auto-approve").exit_code == 0
    Path("afile").write_text("")
    r = cli("--sandbox", "export", "afile/x", "--tenant", "initech", "--force")
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == "error: afile/x: Not a directory\n"
