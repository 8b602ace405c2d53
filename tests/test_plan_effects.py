"""What a change's call does remotely is a change of the plan, targeted or not, and the
policy counts it (docs/planning.md, "Actions and reasons" and "Targets"): a scope switch's
assigns and replaces, the cancel of a session booked by hand that a role change or a scope
switch withdraws, the enrollment a new user's provision makes.

Each test applies the bundled acme tenant to the simulator over HTTP, edits its manifests,
plans (saved with ``--out``), applies the saved plan and compares the world's diff with
the plan (``support.truth``): no remote effect outside the plan, none of the plan missing.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.api import STATUS_FORMS, Tamper, restatus
from support.apply import REPO
from support.truth import Applied, Cli, plan_and_apply

from spsync.sandbox.server import ThreadedServer

TOKEN = "effects-token"
INSTALL = "AIa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
#: the bundled acme tenant's appointments lie in 2028
NOW = datetime(2027, 6, 1, tzinfo=UTC)
ENV = {
    "SPSYNC_ACME_TOKEN": TOKEN,
    "SPSYNC_ACME_CERT_PASSWORD": "cert-pw",
    "SPSYNC_ACME_SAFETY_PASSWORD": "safety-pw",
    "SPSYNC_ACME_ORIENTATION_PASSWORD": "orient-7f3k-pw",
    "NO_COLOR": "1",
}
PL = "PLa17b8c9d0e1f2a3b4c5d6e7f8a9b0c1d"

#: what switching exam orientation (yuki and sven booked) to limited scope plans
SWITCH = [
    ("exam.orientation", "update", "manifest-changed"),
    ("assignment.orientation.sven", "assign", "scope-limited"),
    ("assignment.orientation.yuki", "assign", "scope-limited"),
    ("session.orientation.sven", "replace", "scope-limited"),
    ("session.orientation.yuki", "replace", "scope-limited"),
]


@dataclass
class Acme:
    """The acme tenant applied to a simulator: its manifests, the CLI, the server."""

    dir: Path
    cli: Cli
    srv: ThreadedServer

    def edit(self, name: str, old: str, new: str) -> None:
        """Replace the one ``old`` of manifest file ``name`` with ``new``."""
        path = self.dir / name
        text = path.read_text()
        assert text.count(old) == 1, (name, old)
        path.write_text(text.replace(old, new))

    def sid(self, address: str) -> str:
        return str(self.cli.state("acme")["resources"][address]["sid"])

    def apply_plan(self, *plan_args: str) -> Applied:
        done = plan_and_apply(self.cli, self.dir, "acme", INSTALL, self.srv.world, *plan_args)
        assert not isinstance(done, str), done
        return done

    def plan(self, *args: str) -> tuple[int, str]:
        r = self.cli("plan", str(self.dir), *args)
        return r.exit_code, r.output

    def book_by_hand(self, exam: str, enrollment: str) -> str:
        """Book the waiting session of ``enrollment`` in ``exam`` as a person would (not
        through spsync); its SID."""
        ex, en = self.sid(exam), self.sid(enrollment)
        base = f"{self.srv.url}/v1/installs/{INSTALL}"
        headers = {"token": TOKEN}
        listed = httpx.get(
            f"{base}/enrollments/{en}/exams/{ex}/sessions?includeActive=true", headers=headers
        )
        listed.raise_for_status()
        (waiting,) = [
            s
            for s in _items(listed.json())
            if s["status"] in {form("Needs Proctor") for form in STATUS_FORMS.values()}
        ]
        body = {
            "type": "automated",
            "proctorLocationSid": PL,
            "appointmentDateTime": "2028-02-12T10:00:00Z",
        }
        r = httpx.post(f"{base}/exams/{ex}/sessions/{waiting['sid']}", json=body, headers=headers)
        r.raise_for_status()
        assert self.session(waiting["sid"])["status"] == "Scheduled"
        return str(waiting["sid"])

    def session(self, sid: str) -> dict[str, Any]:
        """The simulator's record of session ``sid``."""
        (inst,) = [i for i in self.srv.world.to_json()["installs"] if i["sid"] == INSTALL]
        (s,) = [s for s in inst["sessions"] if s["sid"] == sid]
        return dict(s)


def _items(answer: Any) -> list[dict[str, Any]]:
    return list(answer["results"] if isinstance(answer, dict) else answer)


@contextmanager
def acme_applied(tmp_path: Path, *, statuses: str = "documented") -> Iterator[Acme]:
    """The acme tenant applied; from then on, every answer's session statuses written in
    the form ``STATUS_FORMS[statuses]``."""
    dest = tmp_path / "manifests" / "acme"
    shutil.copytree(REPO / "manifests" / "acme", dest)
    srv = ThreadedServer(token=TOKEN, seed=5, now=NOW)
    front = Tamper(srv.app)
    srv.app = front  # type: ignore[assignment]  # served in front of the simulator
    with srv:
        acme = Acme(dest, Cli(tmp_path / "state", ENV), srv)
        acme.edit("tenant.yaml", "https://api.smarterproctoring.com", srv.url)
        r = acme.cli("apply", str(dest), "--auto-approve")
        assert r.exit_code == 0, r.output
        if statuses != "documented":
            front.add(restatus(STATUS_FORMS[statuses]))
        yield acme


def acts(plan: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(c["address"], c["action"], c["reason"]) for c in plan["changes"]]


def counts(plan: dict[str, Any]) -> dict[str, int]:
    """The summary's non-zero counts."""
    return {k: v for k, v in plan["summary"].items() if v}


def refused(output: str, n: int, what: str, limit: str) -> bool:
    return (
        f"error: acme: plan refused: {n} destructive change{'s' if n != 1 else ''} ({what}) "
        f"exceed{'s' if n == 1 else ''} the tenant policy ({limit})" in output
    )


# --- 1. a targeted change brings what its call causes ---------------------------------------


def test_a_targeted_scope_switch_brings_its_assigns_and_replaces_under_the_policy(
    tmp_path: Path,
) -> None:
    with acme_applied(tmp_path) as acme:
        acme.edit("tenant.yaml", "maxDestroy: 10", "maxDestroy: 1")
        acme.edit("exams.yaml", "    limitedScope: false", "    limitedScope: true")
        saved = tmp_path / "refused.json"
        code, out = acme.plan("--target", "exam.orientation", "--out", str(saved))
        assert code == 1
        assert "-/+ session.orientation.yuki  (replace: scope-limited, destructive)" in out
        assert "Plan: 1 to update, 2 to assign, 2 to replace; 5 unchanged." in out
        assert refused(out, 2, "2 replace", "maxDestroy 1")
        assert not saved.exists()

        done = acme.apply_plan("--target", "exam.orientation")
        assert acts(done.plan) == SWITCH
        assert counts(done.plan) == {"update": 1, "assign": 2, "replace": 2, "noop": 5}
        assert done.discrepancies() == []


def test_a_target_under_a_scope_switch_brings_the_other_sessions_it_withdraws(
    tmp_path: Path,
) -> None:
    with acme_applied(tmp_path) as acme:
        acme.edit("tenant.yaml", "maxDestroy: 10", "maxDestroy: 1")
        acme.edit("exams.yaml", "    limitedScope: false", "    limitedScope: true")
        code, out = acme.plan("--target", "session.orientation.sven")
        assert code == 1
        assert refused(out, 2, "2 replace", "maxDestroy 1")

        done = acme.apply_plan("--target", "session.orientation.sven")
        assert acts(done.plan) == SWITCH
        assert counts(done.plan) == {"update": 1, "assign": 2, "replace": 2, "noop": 5}
        assert done.discrepancies() == []
        assert acme.plan("--detailed-exitcode")[0] == 0


def test_a_targeted_role_change_brings_the_unassign_it_causes(tmp_path: Path) -> None:
    with acme_applied(tmp_path) as acme:
        # li, assigned to cert-456 (not booked), becomes an instructor of its course
        acme.edit("roster.yaml", "  cert-456: [li, mateo]", "  cert-456: [mateo]")
        acme.edit(
            "roster.yaml",
            "  - {user: olivia, course: acme-main, role: instructor}",
            "  - {user: olivia, course: acme-main, role: instructor}\n"
            "  - {user: li, course: acme-main, role: instructor}",
        )
        done = acme.apply_plan("--target", "enrollment.acme-main.li")
        assert acts(done.plan) == [
            ("enrollment.acme-main.li", "update", "manifest-changed"),
            ("assignment.cert-456.li", "unassign", "removed"),
        ]
        assert counts(done.plan) == {"update": 1, "unassign": 1, "noop": 3}
        assert done.discrepancies() == []
        assert acme.plan("--detailed-exitcode")[0] == 0


# --- 2. a session booked by hand that a change cancels is a change of its own ---------------

#: mateo's enrollment in acme-compliance made an instructor's
INSTRUCTOR = (
    "roster.yaml",
    "{user: mateo, course: acme-compliance, role: learner}",
    "{user: mateo, course: acme-compliance, role: instructor}",
)
HAND_CANCEL_LINE = (
    "  - session.orientation.mateo  (cancel: role-changed, destructive; "
    "by enrollment.acme-compliance.mateo)"
)


@pytest.mark.parametrize("statuses", STATUS_FORMS)
def test_a_role_change_shows_the_cancel_of_a_session_booked_by_hand(
    tmp_path: Path, statuses: str
) -> None:
    # "capitals": SCHEDULED must read as Scheduled; "pending": a booking waiting for
    # approval is a booking too, which the role change cancels
    with acme_applied(tmp_path, statuses=statuses) as acme:
        # mateo is a learner of acme-compliance, whose exam orientation is unlimited: a
        # person books his orientation session; the manifests hold no session of his there
        booked = acme.book_by_hand("exam.orientation", "enrollment.acme-compliance.mateo")
        acme.edit(*INSTRUCTOR)
        acme.edit("tenant.yaml", "maxDestroy: 10", "maxDestroy: 0")
        for target in ((), ("--target", "enrollment.acme-compliance.mateo")):
            code, out = acme.plan(*target)
            assert code == 1
            assert HAND_CANCEL_LINE in out
            assert "Plan: 1 to update, 1 to cancel;" in out
            assert refused(out, 1, "1 cancel", "maxDestroy 0")

        done = acme.apply_plan("--target", "enrollment.acme-compliance.mateo")
        assert acts(done.plan) == [
            ("enrollment.acme-compliance.mateo", "update", "manifest-changed"),
            ("session.orientation.mateo", "cancel", "role-changed"),
        ]
        (cancel,) = [c for c in done.plan["changes"] if c["action"] == "cancel"]
        assert cancel["destructive"] is True
        assert cancel["depends_on"] == ["enrollment.acme-compliance.mateo"]
        assert cancel["before"]["appointment"] == "2028-02-12T10:00:00Z"
        assert counts(done.plan) == {"update": 1, "cancel": 1, "noop": 3}
        assert done.discrepancies() == []
        ended = acme.session(booked)
        assert (ended["status"], ended["statusReason"]) == ("Cancelled", "enrollment-role-changed")
        assert acme.plan("--detailed-exitcode")[0] == 0


def test_a_scope_switch_shows_the_cancel_of_a_session_booked_by_hand(tmp_path: Path) -> None:
    with acme_applied(tmp_path) as acme:
        booked = acme.book_by_hand("exam.orientation", "enrollment.acme-compliance.mateo")
        acme.edit("exams.yaml", "    limitedScope: false", "    limitedScope: true")
        acme.edit("tenant.yaml", "maxDestroy: 10", "maxDestroy: 2")
        code, out = acme.plan()
        assert code == 1
        assert "  - session.orientation.mateo  (cancel: scope-limited, destructive; " in out
        assert "Plan: 1 to update, 2 to assign, 1 to cancel, 2 to replace;" in out
        assert refused(out, 3, "1 cancel, 2 replace", "maxDestroy 2")

        for target in ((), ("--target", "exam.orientation")):
            code, out = acme.plan("--allow-destroy", "--format", "json", *target)
            assert code == 0, out
            (tenant,) = json.loads(out)["tenants"]
            assert acts(tenant) == [
                *SWITCH[:3],
                ("session.orientation.mateo", "cancel", "scope-limited"),
                *SWITCH[3:],
            ]
            assert counts(tenant)["cancel"] == 1

        done = acme.apply_plan("--target", "exam.orientation")
        assert counts(done.plan) == {
            "update": 1,
            "assign": 2,
            "cancel": 1,
            "replace": 2,
            "noop": 7,
        }
        assert done.discrepancies() == []
        ended = acme.session(booked)
        assert (ended["status"], ended["statusReason"]) == ("Cancelled", "removed-by-limited-scope")
        assert acme.plan("--detailed-exitcode")[0] == 0


def test_a_session_booked_by_hand_in_an_exam_with_no_managed_session_is_seen(
    tmp_path: Path,
) -> None:
    with acme_applied(tmp_path) as acme:
        # orientation keeps no session in the manifests (nor, once applied, in state)
        sessions = (acme.dir / "sessions.yaml").read_text()
        cut = sessions[: sessions.index("  - exam: orientation\n    user: yuki")]
        (acme.dir / "sessions.yaml").write_text(cut)
        acme.edit(
            "roster.yaml",
            "  - {user: mateo, course: acme-compliance, role: learner}",
            "  - {user: mateo, course: acme-compliance, role: learner}\n"
            "  - {user: yuki, course: acme-compliance}",
        )
        r = acme.cli("apply", str(acme.dir), "--auto-approve", "--allow-destroy")
        assert r.exit_code == 0, r.output
        assert not any(
            a.startswith("session.orientation.") for a in acme.cli.state("acme")["resources"]
        )
        booked = acme.book_by_hand("exam.orientation", "enrollment.acme-compliance.mateo")
        acme.edit(*INSTRUCTOR)
        done = acme.apply_plan()
        assert acts(done.plan) == [
            ("enrollment.acme-compliance.mateo", "update", "manifest-changed"),
            ("session.orientation.mateo", "cancel", "role-changed"),
        ]
        assert done.discrepancies() == []
        assert acme.session(booked)["status"] == "Cancelled"


def rebook_by_hand(acme: Acme, exam: str, enrollment: str, user: str) -> str:
    """Cancel the recorded booking of ``user`` in ``exam`` by hand and book the session the
    service opens again, as a person would: the booking is no longer the one in state; the
    new one's SID."""
    recorded = acme.sid(f"session.{exam}.{user}")
    r = httpx.request(
        "DELETE",
        f"{acme.srv.url}/v1/installs/{INSTALL}/exams/{acme.sid('exam.' + exam)}"
        f"/sessions/{recorded}",
        json={"cancellationMemo": "by hand", "reason": "other-reason"},
        headers={"token": TOKEN},
    )
    r.raise_for_status()
    again = acme.book_by_hand(f"exam.{exam}", enrollment)
    assert again != recorded
    return again


def drop_session(acme: Acme, exam: str, user: str, following: str) -> None:
    """Remove the session of ``user`` in ``exam`` (the next one in sessions.yaml:
    ``following``'s) from the manifests."""
    sessions = (acme.dir / "sessions.yaml").read_text()
    start = sessions.index(f"  - exam: {exam}\n    user: {user}\n")
    end = sessions.index(following, start + 1)
    (acme.dir / "sessions.yaml").write_text(sessions[:start] + sessions[end:])


def test_an_unassign_shows_the_cancel_of_a_booking_made_again_by_hand(tmp_path: Path) -> None:
    with acme_applied(tmp_path) as acme:
        again = rebook_by_hand(acme, "cert-456", "enrollment.acme-main.jane", "jane")
        # the manifests drop the session: its implied assignment goes, and the unassign
        # cancels the booking made by hand
        drop_session(acme, "cert-456", "jane", "  - exam: cert-456\n    user: john")
        code, out = acme.plan()
        assert code == 0, out
        assert (
            "  - session.cert-456.jane  (cancel: unassigned, destructive; "
            "by assignment.cert-456.jane)"
        ) in out
        done = acme.apply_plan()
        assert acts(done.plan) == [
            ("enrollment.acme-main.jane", "forget", "removed"),
            ("assignment.cert-456.jane", "unassign", "removed"),
            ("session.cert-456.jane", "cancel", "unassigned"),
        ]
        (cancel,) = [c for c in done.plan["changes"] if c["action"] == "cancel"]
        assert cancel["before"]["appointment"] == "2028-02-12T10:00:00Z"
        assert cancel["destructive"] is True
        assert done.discrepancies() == []
        assert acme.session(again)["status"] == "Cancelled"
        assert "session.cert-456.jane" not in acme.cli.state("acme")["resources"]
        assert acme.plan("--detailed-exitcode")[0] == 0


def test_a_role_change_cancels_a_booking_made_again_by_hand_as_planned(tmp_path: Path) -> None:
    with acme_applied(tmp_path) as acme:
        again = rebook_by_hand(acme, "orientation", "enrollment.acme-compliance.yuki", "yuki")
        # the manifests drop yuki's orientation session and make yuki an instructor of its
        # course: the role change cancels the booking made by hand, and apply cancels that
        # one (not the recorded one, cancelled already) where the service kept it
        drop_session(acme, "orientation", "yuki", "  - exam: orientation\n")
        acme.edit(
            "roster.yaml",
            "  - {user: mateo, course: acme-compliance, role: learner}",
            "  - {user: mateo, course: acme-compliance, role: learner}\n"
            "  - {user: yuki, course: acme-compliance, role: instructor}",
        )
        done = acme.apply_plan()
        assert acts(done.plan) == [
            ("enrollment.acme-compliance.yuki", "update", "manifest-changed"),
            ("session.orientation.yuki", "cancel", "role-changed"),
        ]
        assert done.plan["adopt"]["session.orientation.yuki"]["sid"] == again
        assert done.discrepancies() == []
        assert acme.session(again)["status"] == "Cancelled"
        assert acme.plan("--detailed-exitcode")[0] == 0


def test_a_role_change_shows_what_it_ends_in_an_exam_leaving_the_manifests(
    tmp_path: Path,
) -> None:
    with acme_applied(tmp_path) as acme:
        # exam cert-456 leaves the manifests (left as it is remotely), and in the same
        # plan john (booked in it) and li (assigned to it) become instructors of its
        # course: the service ends john's session and both assignments all the same
        exams = (acme.dir / "exams.yaml").read_text()
        start = exams.index("  cert-456:\n")
        (acme.dir / "exams.yaml").write_text(
            exams[:start] + exams[exams.index("  safety-101:\n") :]
        )
        acme.edit("roster.yaml", "  cert-456: [li, mateo]\n", "")
        sessions = (acme.dir / "sessions.yaml").read_text()
        cut = sessions.index("  - exam: safety-101\n")
        (acme.dir / "sessions.yaml").write_text("sessions:\n" + sessions[cut:])
        acme.edit(
            "roster.yaml",
            "  - {user: olivia, course: acme-main, role: instructor}",
            "  - {user: olivia, course: acme-main, role: instructor}\n"
            "  - {user: li, course: acme-main, role: instructor}\n"
            "  - {user: john, course: acme-main, role: instructor}\n"
            "  - {user: amara, course: acme-main, role: learner}",
        )
        code, out = acme.plan()
        assert code == 0, out
        assert (
            "  - session.cert-456.john  (cancel: role-changed, destructive; "
            "by enrollment.acme-main.john)"
        ) in out
        done = acme.apply_plan()
        ended = {a: (act, why) for a, act, why in acts(done.plan) if "cert-456" in a}
        assert ended == {
            "exam.cert-456": ("forget", "removed"),
            "assignment.cert-456.amara": ("forget", "removed"),
            "assignment.cert-456.jane": ("forget", "removed"),
            "assignment.cert-456.john": ("unassign", "role-changed"),
            "assignment.cert-456.li": ("unassign", "role-changed"),
            "assignment.cert-456.mateo": ("forget", "removed"),
            "session.cert-456.amara": ("forget", "removed"),
            "session.cert-456.jane": ("forget", "removed"),
            "session.cert-456.john": ("cancel", "role-changed"),
        }
        (cancel,) = [c for c in done.plan["changes"] if c["action"] == "cancel"]
        assert cancel["depends_on"] == ["assignment.cert-456.john", "enrollment.acme-main.john"]
        assert cancel["before"]["appointment"] == "2028-03-02T15:30:00Z"
        assert done.discrepancies() == []
        assert acme.plan("--detailed-exitcode")[0] == 0


def test_a_booking_made_again_by_hand_waiting_for_approval_is_taken_over(
    tmp_path: Path,
) -> None:
    # on an exam that requires approval, a booking waits for it: made again by hand (at
    # another time) after the recorded one was cancelled, it is the session's booking all
    # the same, to be moved, never a reason to book another (which the service refuses,
    # or worse, makes a second)
    with acme_applied(tmp_path, statuses="pending") as acme:
        again = rebook_by_hand(acme, "cert-456", "enrollment.acme-main.jane", "jane")
        code, out = acme.plan()
        assert code == 0, out
        assert "  ~ session.cert-456.jane  (reschedule: drift)" in out
        assert "Plan: 1 to reschedule; 43 unchanged." in out
        done = acme.apply_plan()
        assert acts(done.plan) == [("session.cert-456.jane", "reschedule", "drift")]
        assert done.plan["adopt"]["session.cert-456.jane"]["sid"] == again
        assert done.discrepancies() == []
        assert acme.sid("session.cert-456.jane") == again
        assert acme.session(again)["appointmentDate"] == "2028-03-01T14:00:00Z"
        assert acme.plan("--detailed-exitcode")[0] == 0


# --- 3. a new user's provision call enrolls the user: the enrollment comes with the user ----


def test_a_targeted_new_user_brings_the_enrollment_its_provision_makes(tmp_path: Path) -> None:
    with acme_applied(tmp_path) as acme:
        acme.edit(
            "roster.yaml",
            "users:\n",
            "users:\n  nina: {ids: {external: staff-103}, firstName: Nina, lastName: Berg,"
            " email: nina.berg@example.com}\n",
        )
        acme.edit(
            "roster.yaml",
            "enrollments:\n",
            "enrollments:\n  - {user: nina, course: acme-compliance, role: instructor}\n",
        )
        done = acme.apply_plan("--target", "user.nina")
        assert acts(done.plan) == [
            ("user.nina", "create", "new"),
            ("enrollment.acme-compliance.nina", "create", "new"),
        ]
        (enrolled,) = [c for c in done.plan["changes"] if c["address"].startswith("enroll")]
        assert enrolled["after"] == {"role": "instructor"}
        assert enrolled["depends_on"] == ["user.nina"]
        assert counts(done.plan) == {"create": 2, "noop": 1}
        assert done.discrepancies() == []
        # enrolled as the instructor the manifests say, never as a learner with a session
        state = acme.cli.state("acme")["resources"]
        user_sid = state["user.nina"]["sid"]
        (inst,) = [i for i in acme.srv.world.to_json()["installs"] if i["sid"] == INSTALL]
        mine = [e for e in inst["enrollments"] if e["userSid"] == user_sid]
        assert [(e["sid"], e["role"]) for e in mine] == [
            (state["enrollment.acme-compliance.nina"]["sid"], "instructor")
        ]
        assert [s for s in inst["sessions"] if s["enrollmentSid"] == mine[0]["sid"]] == []
        assert acme.plan("--detailed-exitcode")[0] == 0
