"""``spsync export``: manifests and state from what the embedded sandbox holds, then a plan
with nothing to do; its refusals; its names and YAML read back by the loader."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from support.apply import REPO, sandbox_acme

from spsync import manifest
from spsync.api import wire
from spsync.cli import main
from spsync.export import FILES, Snapshot, build, env_name, scalar, unique_names

SANDBOX_NOW = "2027-06-01T00:00:00Z"
PASSWORD = "pw-for-tests"
STATE = Path(".spsync") / "sandbox" / "state"


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    base = {"NO_COLOR": "1", "SPSYNC_SANDBOX_NOW": SANDBOX_NOW, **(env or {})}
    return CliRunner().invoke(main, ["--sandbox", *args], env=base, catch_exceptions=False)


def exported_passwords(tdir: Path) -> dict[str, str]:
    """Every password variable the exported exams name, set to the live value."""
    names = re.findall(r"password: \{env: ([A-Z0-9_]+)\}", (tdir / "exams.yaml").read_text())
    return dict.fromkeys(names, PASSWORD)


def assert_plan_is_empty(tdir: Path, env: dict[str, str]) -> None:
    r = cli("plan", str(tdir), "--detailed-exitcode", env=env)
    assert r.exit_code == 0, r.output
    assert "No changes." in r.output
    r = cli("validate", str(tdir), env=env)
    assert r.exit_code == 0, r.output


def assert_no_password_written(tdir: Path, state_file: Path) -> None:
    for name in FILES:
        assert PASSWORD not in (tdir / name).read_text()
    assert PASSWORD not in state_file.read_text()


@pytest.fixture
def applied_acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    dest = sandbox_acme(tmp_path, monkeypatch, "manifests")
    r = cli("apply", str(dest), "--auto-approve")
    assert r.exit_code == 0, r.output
    return tmp_path


def test_export_after_a_lost_state_plans_no_change(applied_acme: Path) -> None:
    state_file = STATE / "acme.json"
    state = json.loads(state_file.read_text())
    courses = sorted(r["sid"] for a, r in state["resources"].items() if a.startswith("course."))
    state_file.unlink()
    args = ["export", "adopted", "--tenant", "acme", "--install", state["install"]]
    for sid in courses:
        args += ["--course", sid]
    r = cli(*args)
    assert r.exit_code == 0, r.output
    tdir = Path("adopted") / "acme"
    assert r.output.splitlines()[0] == (
        f"Exported {tdir}: 2 courses, 3 exams, 10 users, 12 enrollments, 8 assignments, 7 sessions."
    )
    assert sorted(p.name for p in tdir.iterdir()) == sorted(FILES)
    assert [p.name for p in Path("adopted").iterdir()] == ["acme"]  # no temporary left
    env = exported_passwords(tdir)
    assert sorted(env) == [
        "SPSYNC_ACME_CERTIFICATION_EXAM_456_PASSWORD",
        "SPSYNC_ACME_ORIENTATION_2027_PASSWORD",
        "SPSYNC_ACME_SAFETY_101_2027_PASSWORD",
    ]
    assert_plan_is_empty(tdir, env)
    assert_no_password_written(tdir, state_file)
    # the same SIDs as the state apply wrote, under names derived from the ids
    again = json.loads(state_file.read_text())
    assert sorted(r["sid"] for r in again["resources"].values() if r["sid"]) == sorted(
        r["sid"] for r in state["resources"].values() if r["sid"]
    )
    assert "user.user-789" in again["resources"]  # jane: ids {external: user-789}


def test_a_wrong_password_variable_shows_as_a_change(applied_acme: Path) -> None:
    r = cli("export", "adopted", "--tenant", "acme", "--force")
    assert r.exit_code == 0, r.output
    tdir = Path("adopted") / "acme"
    env = exported_passwords(tdir)
    env["SPSYNC_ACME_SAFETY_101_2027_PASSWORD"] = "another"
    r = cli("plan", str(tdir), "--detailed-exitcode", env=env)
    assert r.exit_code == 2, r.output
    assert "~ exam.safety-101-2027" in r.output


def test_export_of_what_make_demo_applies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both example tenants, courses taken from the state apply wrote (--force replaces it)."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    makefile = (REPO / "Makefile").read_text()
    demo = dict(
        re.findall(r"([A-Z_]+)=(\S+)", makefile.split("DEMO_ENV :=", 1)[1].split("\n\n")[0])
    )
    r = cli("apply", "manifests", "--auto-approve", env=demo)
    assert r.exit_code == 0, r.output
    for tenant in ("acme", "globex"):
        r = cli("export", "exported", "--tenant", tenant)
        assert r.exit_code == 1
        assert f"{STATE / tenant}.json already exists; replace it with --force" in r.output
        r = cli("export", "exported", "--tenant", tenant, "--force")
        assert r.exit_code == 0, r.output
        tdir = Path("exported") / tenant
        env = dict.fromkeys(exported_passwords(tdir), demo["SPSYNC_GLOBEX_CLOUD_PASSWORD"])
        assert_plan_is_empty(tdir, env)
        for name in FILES:
            assert "demo-only" not in (tdir / name).read_text()
    r = cli(
        "plan",
        "exported",
        "--detailed-exitcode",
        env={
            k: "demo-only"
            for t in ("acme", "globex")
            for k in exported_passwords(Path("exported") / t)
        },
    )
    assert r.exit_code == 0, r.output


def test_refusals_leave_nothing_behind(applied_acme: Path) -> None:
    state_file = STATE / "acme.json"
    before = state_file.read_text()
    r = cli("export", "out", "--tenant", "acme")
    assert r.exit_code == 1
    assert f"error: {state_file} already exists; replace it with --force" in r.output
    Path("out/acme").mkdir(parents=True)
    r = cli("export", "out", "--tenant", "acme", "--force", "--course", "CU" + "0" * 32)
    assert r.exit_code == 1
    assert "error: course CU" + "0" * 32 + " not found in install AIa1b2" in r.output
    r = cli("export", "out", "--tenant", "acme", "--force", "--course", "bad")
    assert "--course 'bad': not a course SID" in r.output
    assert [p.name for p in Path("out").iterdir()] == ["acme"]
    assert list(Path("out/acme").iterdir()) == []
    assert state_file.read_text() == before
    r = cli("export", "out", "--tenant", "other", "--install", "AI" + "1" * 32)
    assert r.exit_code == 1
    assert "no course to export: the API cannot list courses; name them with --course" in r.output
    r = cli("export", "out", "--tenant", "other")
    assert "error: no install: give --install AI…" in r.output
    r = cli("export", "out", "--tenant", "Bad_Name")
    assert "--tenant 'Bad_Name': lower-case letters, digits and '-' only" in r.output


def test_a_malformed_install_is_said_before_what_else_is_missing(applied_acme: Path) -> None:
    # it was found only once a course was named and the API about to be asked; before that
    # the user was sent to fix --course (or --force) first
    state_file = STATE / "acme.json"
    before = state_file.read_text()
    for tenant in ("other", "acme"):
        r = cli("export", "out", "--tenant", tenant, "--install", "AIbad")
        assert (r.exit_code, r.stdout) == (1, "")
        assert r.stderr == "error: --install 'AIbad': not an install SID (AI + 32 lowercase hex)\n"
    assert not Path("out").exists()
    assert state_file.read_text() == before


def test_force_replaces_a_tenant_directory_whole(applied_acme: Path) -> None:
    stale = Path("out/acme/stale.yaml")
    stale.parent.mkdir(parents=True)
    stale.write_text("users: {}\n")
    r = cli("export", "out", "--tenant", "acme", "--force")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in Path("out/acme").iterdir()) == sorted(FILES)
    assert [p.name for p in Path("out").iterdir()] == ["acme"]


# --- pure parts --------------------------------------------------------------------------------


def test_names_are_stable_and_collision_free() -> None:
    a, b, c = "US" + "a" * 32, "US" + "b" * 32, "US" + "c" * 32
    wanted = {a: "jane", b: "jane", c: "bob"}
    names = unique_names(wanted, "user")
    assert names == {a: "jane-aaaaaaaa", b: "jane-bbbbbbbb", c: "bob"}
    assert unique_names(dict(reversed(wanted.items())), "user") == names
    assert unique_names({a: "", b: "x"}, "user") == {a: "user-aaaaaaaa", b: "x"}
    # a suffixed name that equals another object's own name
    d = "US" + "d" * 32
    clash = unique_names({a: "x", b: "x", d: "x-aaaaaaaa"}, "user")
    assert len(set(clash.values())) == 3
    assert env_name("acme", "cert-456") == "SPSYNC_ACME_CERT_456_PASSWORD"


TRICKY = [
    "yes",
    "No",
    "null",
    "123",
    "1.5",
    "a: b",
    "#x",
    " lead",
    "trail ",
    "O'Brien",
    "García",
    "x, y",
    "[a]",
    "{b}",
    "2028-01-01",
    "-dash",
    "a #b",
    "tab\there",
    'q"uote',
    # from a hostile server: a YAML reader refuses DEL and C1 controls raw, a NEL reads
    # back as a line break, a bidi override makes the line read otherwise in a review
    "del\x7fx",
    "csi\x9b31m",
    "nel\x85x",
    "rlo\u202eevil",
    "ls\u2028x",
    "~",
]


def test_tricky_text_reads_back_the_same(tmp_path: Path) -> None:
    course = wire.Course.model_validate(
        {"sid": "CU" + "1" * 32, "title": "T: x", "code": "C", "ids": {"external": "Course #1"}}
    )
    users = {
        f"US{i:032x}": wire.User.model_validate(
            {
                "sid": f"US{i:032x}",
                "firstName": text,
                "lastName": "L",
                "email": f"u{i}@example.com",
                "timeZone": "UTC",
                "currencyCode": "USD",
                "externalId": text,
            }
        )
        for i, text in enumerate(TRICKY, 1)
    }
    enrollments = [
        wire.Enrollment.model_validate(
            {"sid": f"EN{i:032x}", "userSid": sid, "courseSid": course.sid, "role": "learner"}
        )
        for i, sid in enumerate(users, 1)
    ]
    snap = Snapshot(
        courses=[course],
        exams={course.sid: []},
        enrollments={course.sid: enrollments},
        users=users,
        sessions={},
    )
    ex = build(
        snap,
        tenant="t",
        install="AI" + "2" * 32,
        api_url="https://api.smarterproctoring.com",
        token_env="SPSYNC_T_TOKEN",
    )
    tdir = tmp_path / "t"
    tdir.mkdir()
    for name, text in ex.files.items():
        assert not re.search("[\x7f-\x9f\u202a-\u202e\u2028\u2029]", text), name
        (tdir / name).write_text(text)
    (desired,) = manifest.load(tdir, sandbox=True, env={})
    got = {u.ids.external: u.firstName for u in desired.users.values()}
    assert got == {t: t for t in TRICKY}
    assert desired.courses["course.course-1"].title == "T: x"
    assert len(desired.enrollments) == len(TRICKY)
    for text in ("yes", "null", "123", "a: b"):
        assert scalar(text).startswith('"')
