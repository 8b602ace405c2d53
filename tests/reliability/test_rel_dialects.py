"""The end-to-end flows in every dialect the simulator speaks: the contract, and the vendor's
documents with each choice they leave open (what follows a cancel, which assignment
endpoint exists, whether the report lists unbooked sessions, the largest page).

Real ``spsync`` processes against a real HTTP simulator. In every dialect: a first apply
under faults and a kill converges with nothing booked twice; edits (reschedule, location
change, removal of a session, unassignment) converge, and no session is touched that the
plan did not name; drift made by another actor is seen and repaired; the next plan is
empty."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.apply_checker import active_duplicates, world_mismatches
from support.reliability import (
    TOKEN,
    Trial,
    Workspace,
    calm,
    control,
    converge,
    fault_trial,
    kill_during_apply,
    simulator,
    world,
)

from spsync.sandbox.dialect import Dialect

DIALECTS = {
    "contract": Dialect(),
    "vendor": Dialect.vendor(),
    "vendor-same": Dialect.vendor(after_cancel="same"),
    "vendor-none": Dialect.vendor(after_cancel="none"),
    "vendor-exam-booked": Dialect.vendor(assignment_form="exam", report_rows="booked"),
    "vendor-guide-pages": Dialect.vendor(assignment_form="guide", page_max=5),
}
#: the guide form documents no removal: an unassignment cannot be made through it
CANNOT_UNASSIGN = {"vendor-guide-pages"}


#: the flows each dialect runs: all four in the contract and the vendor's defaults; the
#: switches in the flows they change (what follows a cancel: edits and a kill mid-edit;
#: the assignment form, the report's rows and the page size: a first apply and edits)
FLOWS = {
    "contract": ("first", "edits", "drift", "kill"),
    "vendor": ("first", "edits", "drift", "kill"),
    "vendor-same": ("edits", "kill"),
    "vendor-none": ("edits", "kill"),
    "vendor-exam-booked": ("first", "edits"),
    "vendor-guide-pages": ("first", "edits"),
}


#: the flows `make test` runs; the others run in `make soak`. The vendor's defaults run
#: every flow and each switch the flow it matters most to; the contract dialect's flows
#: are the ones the rest of the suite already runs against it (tests/reliability/*).
IN_SUITE = {
    "vendor": ("first", "edits", "drift", "kill"),
    "vendor-same": ("edits",),
    "vendor-none": ("kill",),
    "vendor-exam-booked": ("edits",),
    "vendor-guide-pages": ("first",),
}


def dialects_for(flow: str) -> Any:
    params = [
        pytest.param(d, marks=() if flow in IN_SUITE.get(d, ()) else pytest.mark.soak)
        for d, f in FLOWS.items()
        if flow in f
    ]
    return pytest.mark.parametrize("dialect", params)


def _sessions(w: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["sid"]: s for inst in w["installs"] for s in inst["sessions"]}


def _pairs_changed(before: dict[str, Any], after: dict[str, Any]) -> set[tuple[str, str]]:
    """(exam, enrollment) pairs any of whose sessions changed or appeared."""
    old, new = _sessions(before), _sessions(after)
    return {(s["examSid"], s["enrollmentSid"]) for sid, s in new.items() if old.get(sid) != s}


def _planned_pairs(ws: Workspace, plan: dict[str, Any]) -> set[tuple[str, str]]:
    """(exam, enrollment) pairs of the sessions and assignments the plan names."""
    state = json.loads(ws.state_path().read_text())["resources"]
    out = set()
    for change in plan["changes"]:
        addr = change["address"]
        if addr.split(".")[0] in ("session", "assignment") and addr in state:
            refs = state[addr]["refs"]
            out.add((refs["exam"], refs["enrollment"]))
    return out


@dialects_for("first")
def test_first_apply_under_faults_and_a_kill_converges(tmp_path: Path, dialect: str) -> None:
    seed = 7 + sorted(DIALECTS).index(dialect)
    trial = fault_trial(
        tmp_path, seed, learners=6, fault_rate=0.1, rate_limit=None, kills=1,
        max_calls=40, dialect=DIALECTS[dialect],
    )  # fmt: skip
    assert trial.ok, trial.report()


def _edit(ws: Workspace, *, unassign: bool) -> None:
    """Reschedule u000's cert session, move u001's cert session to another location, drop
    u002's safety session (with the assignment it implied, when ``unassign``; else u002
    stays assigned), and (``unassign``) withdraw u003 from cert (kept enrolled)."""
    roster = ws.tenant_dir() / "roster.yaml"
    text = roster.read_text()
    blocks = re.split(r"(?=\n  - exam: )", text)
    out = []
    for b in blocks:
        if "exam: cert\n    user: u000\n" in b:
            b = re.sub(r'appointment: "2027-03-(\d\d)', r'appointment: "2027-06-\1', b)
        elif "exam: cert\n    user: u001\n" in b:
            b = re.sub(r"proctorLocation: PL\w+", "proctorLocation: PL" + "e" * 32, b)
        elif "exam: safety\n    user: u002\n" in b:
            continue
        out.append(b)
    text = "".join(out)
    if not unassign:  # u002 stays assigned to safety: dropping the session only cancels it
        text = text.replace("assignments:\n", "assignments:\n  safety: [u002]\n", 1)
    if unassign:
        text = text.replace("  cert: [u003", "  cert: [")
        text = text.replace("  cert: [, ", "  cert: [")
        text = text.replace("enrollments:\n", "enrollments:\n  - {user: u003, course: main}\n", 1)
    roster.write_text(text)


@dialects_for("edits")
def test_edits_converge_and_touch_only_what_the_plan_names(tmp_path: Path, dialect: str) -> None:
    with simulator(seed=21, dialect=DIALECTS[dialect]) as srv:
        ws = Workspace(tmp_path, srv.url, learners=6)
        trial = Trial(seed=21)
        assert converge(ws, trial), trial.report()
        assert ws.plan(None, "--detailed-exitcode").code == 0
        _edit(ws, unassign=dialect not in CANNOT_UNASSIGN)
        shown = ws.plan(None, "--format", "json")
        assert shown.code == 0, shown
        plan = json.loads(shown.out)["tenants"][0]
        acts = sorted((c["address"], c["action"]) for c in plan["changes"])
        expected = [
            ("session.cert.u000", "reschedule"),
            ("session.cert.u001", "replace"),
            ("session.safety.u002", "cancel"),
        ]
        if dialect not in CANNOT_UNASSIGN:
            expected.append(("assignment.cert.u003", "unassign"))
            # the safety assignment of u002 goes with its session (the session implied it)
            expected.append(("assignment.safety.u002", "unassign"))
        assert acts == sorted(expected), acts
        planned = _planned_pairs(ws, plan)
        before = world(srv.url)
        # lost answers and errors while the edits are applied
        control(srv.url, "PUT", "/_sandbox/config", {"faultRate": 0.15})
        assert converge(ws, trial), trial.report()
        calm(srv.url)
        after = world(srv.url)
        assert _pairs_changed(before, after) <= planned
        assert active_duplicates(after) == []
        assert world_mismatches(after, ws.desired(), exact=False) == []
        assert ws.plan(None, "--detailed-exitcode").code == 0


@dialects_for("drift")
def test_drift_by_another_actor_is_seen_and_repaired(tmp_path: Path, dialect: str) -> None:
    with simulator(seed=33, dialect=DIALECTS[dialect]) as srv:
        ws = Workspace(tmp_path, srv.url, learners=4)
        trial = Trial(seed=33)
        assert converge(ws, trial), trial.report()
        state = json.loads(ws.state_path().read_text())["resources"]
        install = ws.installs["rel"]
        moved, cancelled = state["session.cert.u000"], state["session.cert.u001"]
        base = f"{srv.url}/v1/installs/{install}/exams"
        with httpx.Client(headers={"token": TOKEN}, timeout=30) as other:
            r = other.put(
                f"{base}/{moved['refs']['exam']}/sessions/{moved['sid']}",
                json={"appointmentDateTime": "2027-07-01T10:00:00Z"},
            )
            assert r.status_code == 200, r.text
            r = other.request(
                "DELETE",
                f"{base}/{cancelled['refs']['exam']}/sessions/{cancelled['sid']}",
                json={"cancellationMemo": "changed by hand", "reason": "other-reason"},
            )
            assert r.status_code == 200, r.text
        shown = ws.plan(None, "--format", "json")
        plan = json.loads(shown.out)["tenants"][0]
        acts = sorted((c["address"], c["action"], c["reason"]) for c in plan["changes"])
        assert acts == [
            ("session.cert.u000", "reschedule", "drift"),
            ("session.cert.u001", "schedule", "drift"),
        ], acts
        assert converge(ws, trial), trial.report()
        after = world(srv.url)
        assert active_duplicates(after) == []
        assert world_mismatches(after, ws.desired()) == []
        assert ws.plan(None, "--detailed-exitcode").code == 0


@dialects_for("kill")
def test_a_kill_in_the_middle_of_edits_re_runs_to_the_same_end(
    tmp_path: Path, dialect: str
) -> None:
    with simulator(seed=45, dialect=DIALECTS[dialect]) as srv:
        ws = Workspace(tmp_path, srv.url, learners=6)
        trial = Trial(seed=45)
        assert converge(ws, trial), trial.report()
        _edit(ws, unassign=dialect not in CANNOT_UNASSIGN)
        kill_during_apply(ws, srv, random.Random(45), trial, max_calls=8)
        assert converge(ws, trial), trial.report()
        after = world(srv.url)
        assert active_duplicates(after) == []
        assert world_mismatches(after, ws.desired(), exact=False) == []
        assert ws.plan(None, "--detailed-exitcode").code == 0
        assert trial.problems == [], trial.report()
