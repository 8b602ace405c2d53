"""The plan tells the whole truth (issue 15): after any short sequence of manifest edits,
what ``spsync apply PLANFILE`` does to the simulator is exactly what the plan showed.

Each example starts from a small tenant already applied (six learners and an instructor in
one course; exam ``final`` limited to its assigned learners, exam ``quiz`` open to every
learner; four sessions booked) and runs 2 to 4 edits drawn at random. After each edit:
plan with refresh (saved), apply the saved plan, compare the world's diff with the plan
(``support.truth.check_step``), and plan again: it must be empty.

``make test`` runs 5 examples, always the same ones, and one edit of each kind alone;
``make soak`` many more (``SPSYNC_TRUTH_EXAMPLES=N``, default 200; ``SPSYNC_TRUTH_SEED=N``
for another series), each failure shrunk to a shortest sequence of edits. The file also
holds the three scenarios of issue 15 as plain tests (the acme tenant for two of them).
"""

from __future__ import annotations

import copy
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from support.apply import REPO
from support.truth import Applied, Cli, check_step, discrepancies, plan_and_apply

from spsync.sandbox.server import ThreadedServer
from spsync.sandbox.timefmt import SettableClock
from spsync.sandbox.world import World

TOKEN = "truth-token"
INSTALL = "AI" + "7e" * 16
NOW = datetime(2027, 1, 15, 12, 0, 0, tzinfo=UTC)
PL_A = "PL" + "a1" * 16
PL_B = "PL" + "b2" * 16
ENV = {
    "SPSYNC_MINI_TOKEN": TOKEN,
    "SPSYNC_MINI_FINAL_PW": "final-pw",
    "SPSYNC_MINI_QUIZ_PW": "quiz-pw",
    "SPSYNC_ACME_TOKEN": TOKEN,
    "SPSYNC_ACME_CERT_PASSWORD": "cert-pw",
    "SPSYNC_ACME_SAFETY_PASSWORD": "safety-pw",
    "SPSYNC_ACME_ORIENTATION_PASSWORD": "orientation-pw",
    "NO_COLOR": "1",
}
APPOINTMENTS = (
    "2027-03-01T14:00:00Z",
    "2027-03-02T15:00:00Z",
    "2027-04-10T09:30:00Z",
    "2027-05-20T16:00:00Z",
)
#: the soak's series of examples (``SPSYNC_TRUTH_SEED``)
SERIES = int(os.environ.get("SPSYNC_TRUTH_SEED") or 1)


def _examples() -> int:
    raw = os.environ.get("SPSYNC_TRUTH_EXAMPLES", "").strip()
    return int(raw) if raw else 200


# --- the tenant, as data ---------------------------------------------------------------------


@dataclass
class Tenant:
    """The small tenant's manifests as data: edits change it, ``files`` writes it out.

    Every user has an explicit enrollment (so removing their last exam never leaves them
    unenrolled); every session of a limited exam has an explicit assignment."""

    #: user key -> external id
    users: dict[str, str]
    #: user key -> role of their enrollment in course main
    roles: dict[str, str]
    #: exam name -> limitedScope
    exams: dict[str, bool]
    assignments: set[tuple[str, str]]
    #: (exam, user) -> {"appointment", "type", "proctorLocation"}
    sessions: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def files(self, url: str) -> dict[str, str]:
        return {
            "tenant.yaml": _TENANT.format(install=INSTALL, url=url, location=PL_A),
            "main.yaml": self.main(),
        }

    def main(self) -> str:
        lines = ["courses:", "  main: {ids: {external: main}, title: Main Course, code: MAIN-1}"]
        lines.append("exams:" if self.exams else "exams: {}")
        for name, limited in sorted(self.exams.items()):
            lines.append(_exam_yaml(name, limited))
        lines.append("users:")
        for key, ext in sorted(self.users.items()):
            lines.append(
                f"  {key}: {{ids: {{external: {ext}}}, firstName: {ext.title()}, "
                f"lastName: Tester, email: {ext}@example.com}}"
            )
        lines.append("enrollments:")
        for key, role in sorted(self.roles.items()):
            lines.append(f"  - {{user: {key}, course: main, role: {role}}}")
        lines.append("assignments:" if self.assignments else "assignments: {}")
        for exam in sorted({e for e, _u in self.assignments}):
            who = sorted(u for e, u in self.assignments if e == exam)
            lines.append(f"  {exam}: [{', '.join(who)}]")
        lines.append("sessions:" if self.sessions else "sessions: []")
        for (exam, user), s in sorted(self.sessions.items()):
            lines.append(
                f'  - {{exam: {exam}, user: {user}, appointment: "{s["appointment"]}", '
                f"type: {s['type']}, proctorLocation: {s['proctorLocation']}}}"
            )
        return "\n".join(lines) + "\n"

    def learners(self) -> list[str]:
        return sorted(u for u, r in self.roles.items() if r == "learner")


_TENANT = """\
tenant: mini
install: {install}
api: {{url: {url}, token: {{env: SPSYNC_MINI_TOKEN}}}}
defaults:
  session: {{type: automated, proctorLocation: {location}}}
policy: {{maxDestroy: 1000, maxDestroyPercent: 100}}
"""
#: exam name -> (external id, title, duration, password variable)
_EXAMS = {
    "final": ("final-exam", "Final Exam", 90, "SPSYNC_MINI_FINAL_PW"),
    "quiz": ("quiz-exam", "Open Quiz", 20, "SPSYNC_MINI_QUIZ_PW"),
}


def _exam_yaml(name: str, limited: bool) -> str:
    ext, title, duration, password = _EXAMS[name]
    return f"""\
  {name}:
    course: main
    ids: {{external: {ext}}}
    title: {title}
    limitedScope: {str(limited).lower()}
    configuration:
      url: https://exams.example.com/{name}
      access: {{open: "2027-01-01T00:00:00Z", close: "2028-12-31T23:59:59Z"}}
      duration: {duration}
      password: {{env: {password}}}
      proctorTypes: {{TS63dda27a6ba54c218449b934b7bb1ba8: {{}}}}"""


def _session(appointment: str, type_: str = "automated", location: str = PL_A) -> dict[str, str]:
    return {"appointment": appointment, "type": type_, "proctorLocation": location}


def base_tenant() -> Tenant:
    """Six learners and an instructor; final (limited): ana, ben, cai, dee assigned, ana and
    ben booked; quiz (unlimited): cai and eli booked; fay has no exam of her own."""
    names = ("ana", "ben", "cai", "dee", "eli", "fay")
    return Tenant(
        users={**{n: f"ext-{n}" for n in names}, "olivia": "ext-olivia"},
        roles={**dict.fromkeys(names, "learner"), "olivia": "instructor"},
        exams={"final": True, "quiz": False},
        assignments={("final", n) for n in ("ana", "ben", "cai", "dee")},
        sessions={
            ("final", "ana"): _session(APPOINTMENTS[0]),
            ("final", "ben"): _session(APPOINTMENTS[1], "ad-hoc"),
            ("quiz", "cai"): _session(APPOINTMENTS[2]),
            ("quiz", "eli"): _session(APPOINTMENTS[3], location=PL_B),
        },
    )


# --- edits -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """One manifest edit; its label names it in failure reports."""

    label: str
    apply: Callable[[Tenant], None] = field(compare=False)

    def __repr__(self) -> str:
        return self.label


def _drop_user_entries(t: Tenant, user: str) -> None:
    t.assignments = {p for p in t.assignments if p[1] != user}
    t.sessions = {p: s for p, s in t.sessions.items() if p[1] != user}


def remove_user(user: str) -> Edit:
    def go(t: Tenant) -> None:
        del t.users[user], t.roles[user]
        _drop_user_entries(t, user)

    return Edit(f"remove user {user}", go)


def rename_user(user: str) -> Edit:
    new = f"{user}-r"

    def go(t: Tenant) -> None:
        t.users[new] = t.users.pop(user)
        t.roles[new] = t.roles.pop(user)
        t.assignments = {(e, new if u == user else u) for e, u in t.assignments}
        t.sessions = {(e, new if u == user else u): s for (e, u), s in t.sessions.items()}

    return Edit(f"rename user {user} -> {new}", go)


def remove_assignment(exam: str, user: str) -> Edit:
    def go(t: Tenant) -> None:
        t.assignments.discard((exam, user))
        t.sessions.pop((exam, user), None)

    return Edit(f"remove assignment {exam}.{user} (and its session)", go)


def remove_session(exam: str, user: str) -> Edit:
    def go(t: Tenant) -> None:
        del t.sessions[(exam, user)]

    return Edit(f"remove session {exam}.{user}", go)


def move_appointment(exam: str, user: str, when: str) -> Edit:
    def go(t: Tenant) -> None:
        t.sessions[(exam, user)] = {**t.sessions[(exam, user)], "appointment": when}

    return Edit(f"move session {exam}.{user} to {when}", go)


def change_session(exam: str, user: str, key: str, value: str) -> Edit:
    def go(t: Tenant) -> None:
        t.sessions[(exam, user)] = {**t.sessions[(exam, user)], key: value}

    return Edit(f"set session {exam}.{user} {key} {value}", go)


def switch_scope(exam: str, limited: bool) -> Edit:
    def go(t: Tenant) -> None:
        t.exams[exam] = limited
        if limited:  # its sessions keep their learners assigned
            t.assignments |= {p for p in t.sessions if p[0] == exam}

    return Edit(f"set exam {exam} limitedScope {str(limited).lower()}", go)


def change_role(user: str, role: str) -> Edit:
    def go(t: Tenant) -> None:
        t.roles[user] = role
        if role == "instructor":  # an instructor takes no exams
            _drop_user_entries(t, user)

    return Edit(f"make {user} {role}", go)


def remove_exam(exam: str) -> Edit:
    def go(t: Tenant) -> None:
        del t.exams[exam]
        t.assignments = {p for p in t.assignments if p[0] != exam}
        t.sessions = {p: s for p, s in t.sessions.items() if p[0] != exam}

    return Edit(f"remove exam {exam}", go)


def edits_of(t: Tenant) -> dict[str, list[Edit]]:
    """Every edit that applies to ``t``, by kind (examples draw a kind, then an edit of it,
    so that the many session edits do not crowd out the rest)."""
    out: dict[str, list[Edit]] = {kind: [] for kind in EDIT_KINDS}
    for user in sorted(t.users):
        out["remove user"].append(remove_user(user))
        if not user.endswith("-r"):
            out["rename user"].append(rename_user(user))
        other = "instructor" if t.roles[user] == "learner" else "learner"
        out["change role"].append(change_role(user, other))
    for exam, user in sorted(t.assignments):
        if t.exams.get(exam):
            out["remove assignment"].append(remove_assignment(exam, user))
    for (exam, user), s in sorted(t.sessions.items()):
        out["remove session"].append(remove_session(exam, user))
        out["move appointment"] += [
            move_appointment(exam, user, w) for w in APPOINTMENTS if w != s["appointment"]
        ]
        other_pl = PL_B if s["proctorLocation"] == PL_A else PL_A
        other_type = "ad-hoc" if s["type"] == "automated" else "automated"
        out["change location or type"] += [
            change_session(exam, user, "proctorLocation", other_pl),
            change_session(exam, user, "type", other_type),
        ]
    for exam, limited in sorted(t.exams.items()):
        out["switch scope"].append(switch_scope(exam, not limited))
        out["remove exam"].append(remove_exam(exam))
    return {kind: edits for kind, edits in out.items() if edits}


EDIT_KINDS = (
    "remove user",
    "rename user",
    "remove assignment",
    "remove session",
    "move appointment",
    "change location or type",
    "switch scope",
    "change role",
    "remove exam",
)


# --- the simulator, from an applied baseline -------------------------------------------------


class Baseline:
    """The world and state right after the base tenant's first apply.

    A plain class, not a dataclass: hypothesis prints a failing test's arguments, and a
    dataclass whole (the world runs to hundreds of lines)."""

    def __init__(self, world: dict[str, Any], state: str, url: str) -> None:
        self.world = world
        self.state = state
        self.url = url

    def __repr__(self) -> str:
        return "Baseline(the base tenant, applied)"


def _write(tdir: Path, files: dict[str, str]) -> None:
    tdir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (tdir / name).write_text(text)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    root = tmp_path_factory.mktemp("truth-base")
    with ThreadedServer(token=TOKEN, seed=3, now=NOW) as srv:
        cli = Cli(root / "state", ENV)
        tdir = root / "manifests" / "mini"
        _write(tdir, base_tenant().files(srv.url))
        r = cli("apply", str(tdir), "--auto-approve")
        assert r.exit_code == 0, r.output
        assert cli("plan", str(tdir), "--detailed-exitcode").exit_code == 0
        return Baseline(srv.world.to_json(), (root / "state" / "mini.json").read_text(), srv.url)


@dataclass
class Run:
    """One example: a simulator restored from the baseline, a state dir, the manifests."""

    srv: ThreadedServer
    cli: Cli
    tdir: Path
    tenant: Tenant

    def step(self, edit: Edit) -> list[str]:
        edit.apply(self.tenant)
        _write(self.tdir, self.tenant.files(self.srv.url))
        return check_step(self.cli, self.tdir, "mini", INSTALL, self.srv.world)


@contextmanager
def restored(base: Baseline, root: Path) -> Iterator[Run]:
    """A ``Run`` over a copy of the baseline (the simulator stopped after it)."""
    world = World.from_json(copy.deepcopy(base.world), clock=SettableClock(NOW), seed=3)
    with ThreadedServer(world, token=TOKEN) as srv:
        state_dir = root / "state"
        state_dir.mkdir(parents=True)
        (state_dir / "mini.json").write_text(base.state.replace(base.url, srv.url))
        tdir = root / "manifests" / "mini"
        yield Run(srv, Cli(state_dir, ENV), tdir, base_tenant())


def failure(done: list[Edit], bad: list[str]) -> str:
    steps = " ; ".join(e.label for e in done)
    return f"after [{steps}]: {len(bad)} discrepancies between plan and apply:\n  - " + (
        "\n  - ".join(bad)
    )


# --- the property ----------------------------------------------------------------------------

_COMMON = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow],
}
#: make test: a few examples, always the same ones, no shrinking (a failure is reported
#: with its whole sequence of edits at once)
FAST = settings(
    max_examples=5,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    **_COMMON,  # type: ignore[arg-type]
)
#: make soak: many more, shrunk to a smallest failing sequence
SOAK = settings(max_examples=_examples(), **_COMMON)  # type: ignore[arg-type]


def _truth(base: Baseline, root: Path, data: st.DataObject) -> None:
    with restored(base, root) as run:
        done: list[Edit] = []
        for _ in range(data.draw(st.integers(min_value=2, max_value=4), label="steps")):
            kinds = edits_of(run.tenant)
            kind = data.draw(st.sampled_from(sorted(kinds, key=EDIT_KINDS.index)), label="kind")
            edit = data.draw(st.sampled_from(kinds[kind]), label="edit")
            done.append(edit)
            bad = run.step(edit)
            assert not bad, failure(done, bad)


def _property(name: str, profile: settings) -> Callable[..., None]:
    """The property as a test function named ``name``, run with ``profile``."""

    @profile
    @given(data=st.data())
    def test(
        baseline: Baseline, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
    ) -> None:
        _truth(baseline, tmp_path_factory.mktemp("truth"), data)

    test.__name__ = test.__qualname__ = name
    return test


test_plan_is_what_apply_does = _property("test_plan_is_what_apply_does", FAST)
test_plan_is_what_apply_does_soak = pytest.mark.soak(
    seed(SERIES)(_property("test_plan_is_what_apply_does_soak", SOAK))
)


# --- the check itself ------------------------------------------------------------------------


def test_the_check_reports_effects_the_plan_hides_and_changes_it_invents(
    baseline: Baseline, tmp_path: Path
) -> None:
    """The comparison, given doctored copies of a true plan (a reschedule of final.ana)."""
    with restored(baseline, tmp_path) as run:
        move_appointment("final", "ana", APPOINTMENTS[3]).apply(run.tenant)
        _write(run.tdir, run.tenant.files(run.srv.url))
        done = plan_and_apply(run.cli, run.tdir, "mini", INSTALL, run.srv.world)
        sessions = run.srv.world.to_json()["installs"][0]["sessions"]
    assert isinstance(done, Applied), done
    assert done.discrepancies() == []
    (change,) = done.plan["changes"]
    assert (change["address"], change["action"]) == ("session.final.ana", "reschedule")
    (effect,) = done.effects
    assert effect.addresses == {"session.final.ana"}
    (sid,) = (i[0] for i in done.index.identities["session.final.ana"] if len(i) == 1)
    session = next(x for x in sessions if x["sid"] == sid)
    what = (
        f"session {sid} (exam {session['examSid']}, enrollment {session['enrollmentSid']}): "
        f"rescheduled {APPOINTMENTS[0]} -> {APPOINTMENTS[3]} [session.final.ana]"
    )

    hidden = {**done.plan, "changes": []}
    assert discrepancies(hidden, done.effects, done.index) == [
        f"unplanned: {what}: wanted reschedule, the plan says nothing"
    ]
    silent = {**done.plan, "changes": [{**change, "action": "forget", "reason": "removed"}]}
    assert discrepancies(silent, done.effects, done.index) == [
        f"touched by a change that calls no API: {what}: wanted reschedule, the plan says "
        "session.final.ana forget (removed)"
    ]
    invented = {
        **done.plan,
        "changes": [
            change,
            {
                "address": "session.quiz.cai",
                "action": "cancel",
                "reason": "removed",
                "destructive": True,
            },
        ],
    }
    assert discrepancies(invented, done.effects, done.index) == [
        "planned, not observed: session.quiz.cai cancel (removed) changed nothing remotely",
        "destructive changes in the plan: 1, destructive effects observed: 0",
    ]


# --- each kind of edit once, from the base tenant --------------------------------------------

#: for each kind, the edit of it that reaches furthest: one that touches booked sessions
ONE_OF_EACH = {
    "remove user": remove_user("ana"),  # booked in final (limited)
    "rename user": rename_user("cai"),  # assigned to final, booked in quiz (unlimited)
    "remove assignment": remove_assignment("final", "ben"),  # booked
    "remove session": remove_session("quiz", "eli"),
    "move appointment": move_appointment("final", "ana", APPOINTMENTS[3]),
    "change location or type": change_session("quiz", "cai", "type", "ad-hoc"),
    "switch scope": switch_scope("quiz", True),  # two learners booked
    "change role": change_role("ben", "instructor"),  # booked in final
    "remove exam": remove_exam("final"),
}


@pytest.mark.parametrize("kind", EDIT_KINDS)
def test_one_edit_of_each_kind(baseline: Baseline, tmp_path: Path, kind: str) -> None:
    edit = ONE_OF_EACH[kind]
    with restored(baseline, tmp_path) as run:
        bad = run.step(edit)
        assert bad == [], failure([edit], bad)


# --- the three scenarios -------------------------------------------------------------


def _acme(tmp_path: Path, url: str) -> Path:
    dest = tmp_path / "manifests" / "acme"
    shutil.copytree(REPO / "manifests" / "acme", dest)
    text = (dest / "tenant.yaml").read_text()
    (dest / "tenant.yaml").write_text(text.replace("https://api.smarterproctoring.com", url))
    return dest


ACME_INSTALL = "AIa1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
#: the bundled acme tenant's appointments lie in 2028
ACME_NOW = datetime(2027, 6, 1, tzinfo=UTC)


def _acme_applied(tmp_path: Path, srv: ThreadedServer, cli: Cli) -> Path:
    acme = _acme(tmp_path, srv.url)
    r = cli("apply", str(acme), "--auto-approve")
    assert r.exit_code == 0, r.output
    return acme


def _cut_session(text: str, exam: str, user: str) -> str:
    """``sessions.yaml`` without the session of ``exam`` and ``user``."""
    pattern = rf"  - exam: {exam}\n    user: {user}\n(    .*\n)+?(?=  - |\Z)"
    out, n = re.subn(pattern, "", text)
    assert n == 1, (exam, user)
    return out


def test_removing_a_user_and_their_session_shows_the_cancellation(tmp_path: Path) -> None:
    with ThreadedServer(token=TOKEN, seed=5, now=ACME_NOW) as srv:
        cli = Cli(tmp_path / "state", ENV)
        acme = _acme_applied(tmp_path, srv, cli)
        roster = (acme / "roster.yaml").read_text()
        cut = re.sub(r"  john:\n(    .*\n)+", "", roster)
        assert cut != roster
        (acme / "roster.yaml").write_text(cut)
        sessions = (acme / "sessions.yaml").read_text()
        (acme / "sessions.yaml").write_text(_cut_session(sessions, "cert-456", "john"))
        bad = check_step(cli, acme, "acme", ACME_INSTALL, srv.world)
        assert bad == [], failure([Edit("acme: remove user john and his session", print)], bad)


def test_limiting_an_exam_with_booked_sessions_shows_the_cancellations(
    baseline: Baseline, tmp_path: Path
) -> None:
    with restored(baseline, tmp_path) as run:
        edit = switch_scope("quiz", True)
        bad = run.step(edit)
        assert bad == [], failure([edit], bad)


def test_renaming_a_user_key_is_no_remote_change(tmp_path: Path) -> None:
    with ThreadedServer(token=TOKEN, seed=5, now=ACME_NOW) as srv:
        cli = Cli(tmp_path / "state", ENV)
        acme = _acme_applied(tmp_path, srv, cli)
        for name in ("roster.yaml", "sessions.yaml"):
            text = (acme / name).read_text()
            text = re.sub(r"\bjane\b(?!\.smith)", "jane-smith", text)
            (acme / name).write_text(text)
        bad = check_step(cli, acme, "acme", ACME_INSTALL, srv.world)
        assert bad == [], failure([Edit("acme: rename jane -> jane-smith", print)], bad)
