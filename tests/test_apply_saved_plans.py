"""`spsync apply PLANFILE` on the sandbox: the reviewed file carries the approval of its
destructive changes (`--allow-destroy`), and applying a file a second time says it was
already applied rather than listing what moved since."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from support.apply import sandbox_acme

from spsync.cli import main

REFUSED = (
    "error: acme: plan refused: 2 destructive changes (2 replace) exceed the tenant policy "
    "(maxDestroy 1); review them and run again with --allow-destroy, or raise policy limits "
    "in tenant.yaml\n"
)


def cli(*args: str, **env: str) -> Result:
    return CliRunner().invoke(main, ["--sandbox", *args], env={"NO_COLOR": "1", **env})


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def state() -> dict[str, object]:
    return json.loads(Path(".spsync/sandbox/state/acme.json").read_text())


def checksum(plan_file: str) -> str:
    return str(json.loads(Path(plan_file).read_text())["checksum"])


def test_a_plan_saved_with_allow_destroy_is_applied_without_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = sandbox_acme(tmp_path, monkeypatch, "tenants")
    assert cli("apply", str(acme), "--auto-approve").exit_code == 0
    edit(acme / "tenant.yaml", "maxDestroy: 10", "maxDestroy: 1")
    sessions = acme / "sessions.yaml"
    booked = sessions.read_text()
    edit(sessions, "type: vtc", "type: b-virtual")
    edit(sessions, "type: ad-hoc", "type: automated")

    r = cli("plan", str(acme), "--out", "refused.json")
    assert (r.exit_code, r.stderr) == (1, REFUSED)
    assert not Path("refused.json").exists()  # a refused plan is never saved

    r = cli("plan", str(acme), "--allow-destroy", "--out", "approved.json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(Path("approved.json").read_text())["allow_destroy"] is True
    r = cli("apply", "approved.json")
    assert r.exit_code == 0, r.stderr
    assert re.search(r"\nacme: 2 done \(2 changes, .*\): 2 replace\nApply complete\.\n$", r.stdout)
    assert cli("plan", str(acme), "--detailed-exitcode").exit_code == 0

    # the flag stays accepted with a plan file
    sessions.write_text(booked)
    assert cli("plan", str(acme), "--allow-destroy", "--out", "back.json").exit_code == 0
    r = cli("apply", "back.json", "--allow-destroy")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.endswith("2 replace\nApply complete.\n")

    # without the approval in the file, applying it is refused as before
    edit(sessions, "type: vtc", "type: b-virtual")
    edit(sessions, "type: ad-hoc", "type: automated")
    edit(acme / "tenant.yaml", "maxDestroy: 1", "maxDestroy: 2")
    assert cli("plan", str(acme), "--out", "within.json").exit_code == 0
    edit(acme / "tenant.yaml", "maxDestroy: 2", "maxDestroy: 1")
    r = cli("apply", "within.json")
    assert (r.exit_code, r.stderr) == (1, REFUSED)


def test_a_plan_applied_twice_says_it_was_already_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = sandbox_acme(tmp_path, monkeypatch, "tenants")
    assert cli("plan", str(acme), "--out", "first.json").exit_code == 0
    assert cli("apply", "first.json").exit_code == 0
    serial = state()["serial"]
    assert state()["applied_plan"] == {
        "checksum": checksum("first.json"),
        "complete": True,
        "from_serial": 0,
        "serial": serial,
    }

    r = cli("apply", "first.json")
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == (
        f"error: acme: this plan was already applied (state serial 0 -> {serial} by plan "
        f"{checksum('first.json')}); make a new plan\n"
    )
    assert state()["serial"] == serial  # nothing was written

    # genuinely stale: the manifests changed after planning; the real reason is listed
    edit(acme / "exams.yaml", "duration: 120", "duration: 100")
    assert cli("plan", str(acme), "--out", "second.json").exit_code == 0
    edit(acme / "exams.yaml", "duration: 100", "duration: 90")
    r = cli("apply", "second.json")
    assert r.exit_code == 1
    assert r.stderr == (
        "the saved plan is stale; make a new one (spsync plan ... --out FILE):\n"
        "  - the manifests of acme changed since planning\n"
        "  - acme: changes that are now different: exam.cert-456 (update -> update)\n"
    )

    # once anything else wrote the state, the first plan is stale like any other
    assert cli("apply", str(acme), "--auto-approve").exit_code == 0
    r = cli("apply", "first.json")
    assert r.exit_code == 1
    assert r.stderr.startswith(
        "the saved plan is stale; make a new one (spsync plan ... --out FILE):\n"
        f"  - the state of acme changed since planning (serial 0 -> {state()['serial']})\n"
    )
    assert "already applied" not in r.stderr


def test_a_plan_that_stopped_part_way_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = sandbox_acme(tmp_path, monkeypatch, "tenants")
    assert cli("plan", str(acme), "--out", "p.json").exit_code == 0
    # by the time it is applied, two appointments are in the past: their schedules fail
    r = cli("apply", "p.json", SPSYNC_SANDBOX_NOW="2028-03-05T00:00:00Z")
    assert r.exit_code == 1
    assert "\napply did not finish:\nacme: " in "\n" + r.stderr
    assert "400 INVALIDINPUT: appointmentDateTime: must be in the future" in r.stderr
    serial = state()["serial"]
    r = cli("apply", "p.json", SPSYNC_SANDBOX_NOW="2028-03-05T00:00:00Z")
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == (
        f"error: acme: this plan was partly applied, then stopped (state serial 0 -> {serial} "
        f"by plan {checksum('p.json')}); make a new plan for what is left\n"
    )


@pytest.mark.parametrize(
    ("given", "named"),
    [
        (["--no-refresh"], "--refresh/--no-refresh: what it chooses was"),
        (["--refresh"], "--refresh/--no-refresh: what it chooses was"),
        (["--target", "user.jane"], "--target: what it chooses was"),
        (["--tenant", "acme", "--refresh-only"], "--tenant, --refresh-only: what they choose was"),
    ],
)
def test_options_a_saved_plan_decided_are_refused_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: list[str], named: str
) -> None:
    # --no-refresh was silently overridden by the plan's own choice (it read the live
    # objects anyway); every option the plan fixed is refused, naming those given
    acme = sandbox_acme(tmp_path, monkeypatch, "tenants")
    edit(acme / "courses.yaml", "title: Client Account - Acme Corp", "title: Acme Corp")
    assert cli("plan", str(acme), "--out", "p.json").exit_code == 0
    r = cli("apply", "p.json", *given)
    flags, what = named.split(": ")
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == (
        f"error: {flags} cannot be used with a saved plan: {what} decided when the plan was made\n"
    )
    assert not Path(".spsync/sandbox/state/acme.json").exists()
