"""``spsync export`` of an install populated by hand (not by spsync), over real HTTP, in both
of the simulator's dialects: the next plan is empty, apply sends no write, and what the
export could not write is not silently dropped (docs/adopting.md)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import sandbox_payloads as payload
from support.api import STATUS_FORMS, Tamper, restatus
from support.truth import Cli

from spsync.sandbox.dialect import Dialect
from spsync.sandbox.server import ThreadedServer

TOKEN = "export-by-hand-token-0123456789"
INSTALL = "AI" + "5c" * 16
NOW = datetime(2027, 1, 15, 12, 0, 0, tzinfo=UTC)
PL = "PL" + "a1" * 16
PASSWORDS = {"Limited Exam": "limited-pw", "Open Exam": "open-pw"}
DIALECTS = {"contract": Dialect(), "vendor": Dialect.vendor()}


@dataclass
class Install:
    """The simulator, reached as a person's tools reach it (not through spsync)."""

    srv: ThreadedServer
    dialect: str

    def call(self, method: str, path: str, body: Any = None) -> Any:
        version = "v2" if path == "/provision" else "v1"
        r = httpx.request(
            method,
            f"{self.srv.url}/{version}/installs/{INSTALL}{path}",
            json=body,
            headers={"token": TOKEN},
        )
        assert r.status_code == 200, (method, path, r.text)
        return r.json() if "json" in r.headers.get("content-type", "") else r.text

    def sessions(self) -> list[dict[str, Any]]:
        (inst,) = [i for i in self.srv.world.to_json()["installs"] if i["sid"] == INSTALL]
        return list(inst["sessions"])

    def assign(self, course: str, exam: str, enrollment: str) -> None:
        if self.dialect == "vendor":  # its default form, the newest
            self.call("PUT", f"/exams/{exam}/assignment", {"added": [enrollment]})
        else:
            body = {"add": [{"enrollmentSid": enrollment}]}
            self.call("PUT", f"/courses/{course}/exams/{exam}/assignments", body)

    def book(self, exam: str, enrollment: str, when: str) -> str:
        (sid,) = [
            s["sid"]
            for s in self.sessions()
            if (s["examSid"], s["enrollmentSid"], s["status"])
            == (exam, enrollment, "Needs Proctor")
        ]
        body = {"type": "automated", "proctorLocationSid": PL, "appointmentDateTime": when}
        self.call("POST", f"/exams/{exam}/sessions/{sid}", body)
        return str(sid)


@dataclass
class ByHand:
    install: Install
    course: str
    #: user key -> enrollment SID
    enrollments: dict[str, str]
    exams: dict[str, str]


def populate(inst: Install) -> ByHand:
    """A course, a limited and an unlimited exam, five users (each kind of id), a learner
    booked in each exam, one whose booking was cancelled, one moved, one only assigned, an
    instructor."""
    first = inst.call(
        "POST",
        "/provision",
        payload.provision(
            course=payload.course("c-one"),
            exam=payload.exam(
                "ex-lim",
                title="Limited Exam",
                configuration=payload.configuration(password="limited-pw"),
            ),
            user=payload.user("u1"),
            enrollment={"role": "learner"},
        ),
    )
    course, limited = first["course"]["sid"], first["exam"]["sid"]
    open_exam = inst.call(
        "POST",
        "/provision",
        payload.in_course(
            course,
            exam=payload.exam(
                "ex-open",
                limited=False,
                title="Open Exam",
                configuration=payload.configuration(password="open-pw", duration=45),
            ),
        ),
    )["exam"]["sid"]
    ens = {"u1": first["enrollment"]["sid"]}
    for key, role, ids in (
        ("u2", "learner", {"external": "u2"}),
        ("u3", "instructor", {"api": "api-u3"}),
        ("u4", "learner", {"lms": "lms-u4"}),
        ("u5", "learner", {"external": "u5"}),
    ):
        user = payload.user(ids=ids, email=f"{key}@example.com", firstName=key.upper())
        body = payload.in_course(course, user=user, enrollment={"role": role})
        ens[key] = inst.call("POST", "/provision", body)["enrollment"]["sid"]
    for key in ("u1", "u2", "u4", "u5"):
        inst.assign(course, limited, ens[key])
    inst.book(limited, ens["u1"], "2027-03-01T14:00:00Z")
    cancelled = inst.book(limited, ens["u2"], "2027-03-02T15:00:00Z")
    cancel = {"cancellationMemo": "by hand", "reason": "other-reason"}
    inst.call("DELETE", f"/exams/{limited}/sessions/{cancelled}", cancel)
    moved = inst.book(limited, ens["u4"], "2027-04-10T09:30:00Z")
    later = {"appointmentDateTime": "2027-05-20T16:00:00Z"}
    inst.call("PUT", f"/exams/{limited}/sessions/{moved}", later)
    inst.book(open_exam, ens["u5"], "2027-04-11T09:30:00Z")
    return ByHand(inst, course, ens, {"limited": limited, "open": open_exam})


@pytest.fixture(params=sorted(DIALECTS))
def by_hand(request: pytest.FixtureRequest) -> Iterator[ByHand]:
    with ThreadedServer(token=TOKEN, seed=3, now=NOW, dialect=DIALECTS[request.param]) as srv:
        yield populate(Install(srv, request.param))


def passwords(tdir: Path) -> dict[str, str]:
    """Each exported password variable, set to its exam's live password (by title)."""
    out = {}
    for block in (tdir / "exams.yaml").read_text().split("\n\n"):
        found = re.search(r"password: \{env: ([A-Z0-9_]+)\}", block)
        title = re.search(r"title: (.+)", block)
        if found and title:
            out[found.group(1)] = PASSWORDS[title.group(1)]
    return out


def exported(by_hand: ByHand, root: Path) -> tuple[Cli, Path]:
    cli = Cli(root / "state", {"SPSYNC_T1_TOKEN": TOKEN, "NO_COLOR": "1"})
    url = by_hand.install.srv.url
    r = cli(
        "export", str(root / "m"), "--tenant", "t1", "--install", INSTALL, "--api-url", url,
        "--course", by_hand.course,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    tdir = root / "m" / "t1"
    cli.env.update(passwords(tdir))
    return cli, tdir


def writes(srv: ThreadedServer) -> dict[str, int]:
    counts = httpx.get(f"{srv.url}/_sandbox/requests", headers={"token": TOKEN}).json()
    return {k: v for k, v in counts["counts"].items() if not k.startswith("GET ")}


def test_an_install_made_by_hand_exports_to_an_empty_plan(by_hand: ByHand, tmp_path: Path) -> None:
    cli, tdir = exported(by_hand, tmp_path)
    r = cli("plan", str(tdir), "--detailed-exitcode")
    assert r.exit_code == 0, r.output
    assert "No changes." in r.output
    httpx.delete(f"{by_hand.install.srv.url}/_sandbox/requests", headers={"token": TOKEN})
    r = cli("apply", str(tdir), "--auto-approve")
    assert r.exit_code == 0, r.output
    assert writes(by_hand.install.srv) == {}
    # one field edited: exactly that change
    users = (tdir / "users.yaml").read_text()
    (tdir / "users.yaml").write_text(users.replace("firstName: U2", "firstName: Ulla"))
    r = cli("plan", str(tdir), "--detailed-exitcode")
    assert r.exit_code == 2, r.output
    assert '~ firstName: "U2" -> "Ulla"' in r.output
    assert r.output.rstrip().splitlines()[-1].startswith("Plan: 1 to update; ")


def test_a_booking_that_cannot_be_written_keeps_its_assignment(
    by_hand: ByHand, tmp_path: Path
) -> None:
    """The vendor's reads do not show a session's location, so a booking cannot be written
    as a session; the assignment it implies in a limited exam is known, and is exported
    (it was dropped: the learner read as enrolled with nothing assigned)."""
    cli, tdir = exported(by_hand, tmp_path)
    assignments = (tdir / "assignments.yaml").read_text()
    enrollments = (tdir / "enrollments.yaml").read_text()
    if by_hand.install.dialect == "contract":
        assert "[u2, u5]" in assignments
        assert "{exam: ex-lim, user: u1," in (tdir / "sessions.yaml").read_text()
        return
    assert re.search(r"exam-[0-9a-f]{8}: \[lms-u4, u1, u2, u5\]", assignments), assignments
    assert "user: u1," not in enrollments and "user: lms-u4," not in enrollments
    state = cli.state("t1")["resources"]
    assert {a for a in state if a.startswith("assignment.")} == {
        f"assignment.exam-{by_hand.exams['limited'][2:10]}.{u}"
        for u in ("lms-u4", "u1", "u2", "u5")
    }
    r = cli("plan", str(tdir), "--detailed-exitcode")
    assert r.exit_code == 0, r.output


def test_proctor_type_options_the_read_does_not_show_are_said_unknown(
    by_hand: ByHand, tmp_path: Path
) -> None:
    """The vendor's exam read names the proctor types without their options: the export
    cannot know them, and writing none was silent, though the next update of the exam
    sends none and so removes the live ``recordScreen``."""
    cli = Cli(tmp_path / "state", {"SPSYNC_T1_TOKEN": TOKEN, "NO_COLOR": "1"})
    url = by_hand.install.srv.url
    r = cli(
        "export", str(tmp_path / "m"), "--tenant", "t1", "--install", INSTALL, "--api-url", url,
        "--course", by_hand.course,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    exams = (tmp_path / "m" / "t1" / "exams.yaml").read_text()
    if by_hand.install.dialect == "contract":
        assert exams.count("TS63dda27a6ba54c218449b934b7bb1ba8: {options: {recordScreen: {}}}") == 2
        assert "options not returned" not in exams
        assert "proctor types' options" not in r.output
        return
    assert exams.count("proctorTypes:   # options not returned by the API: written as none") == 2
    for key, sid in sorted(by_hand.exams.items()):
        name = f"exam-{sid[2:10]}"
        assert (
            f"warning: exam {sid}: the API does not return its proctor types' options; written "
            f"as none: an update of exam.{name} sends them as written, replacing the live ones "
            "(set them in exams.yaml)"
        ) in r.output, key


def test_first_contact_where_exams_cannot_be_found_moves_no_booking(tmp_path: Path) -> None:
    """Manifests with the install's external ids, no state, on the vendor dialect, whose exam
    reads carry no ids: only the course imported, the exams are not found and a booking
    shows as a ``schedule``. Apply books nothing twice, and a booking at another time than
    the manifest's is not moved (it was, unplanned); the next plan shows the reschedule."""
    vendor = Dialect.vendor()
    with ThreadedServer(token=TOKEN, seed=3, now=NOW, dialect=vendor) as srv:
        hand = populate(Install(srv, "vendor"))
        with ThreadedServer(srv.world, token=TOKEN) as contract:  # the same world, with ids
            seen = ByHand(Install(contract, "contract"), hand.course, hand.enrollments, hand.exams)
            cli, tdir = exported(seen, tmp_path / "contract")
        tenant = (tdir / "tenant.yaml").read_text()
        (tdir / "tenant.yaml").write_text(re.sub(r'url: "[^"]+"', f'url: "{srv.url}"', tenant))
        sessions = (tdir / "sessions.yaml").read_text()
        (tdir / "sessions.yaml").write_text(sessions.replace("03-01T14:00", "03-03T14:00"))
        cli = Cli(tmp_path / "vendor-state", cli.env)
        r = cli("import", str(tdir), "course.c-one", hand.course)
        assert r.exit_code == 0, r.output
        r = cli("plan", str(tdir), "--detailed-exitcode")
        assert r.exit_code == 2, r.output
        assert "+ session.ex-lim.u1  (schedule: new)" in r.output
        before = [s for s in Install(srv, "vendor").sessions() if s["status"] == "Scheduled"]
        r = cli("apply", str(tdir), "--auto-approve")
        assert r.exit_code == 1, r.output
        assert "the plan did not show moving it" in r.output
        after = [s for s in Install(srv, "vendor").sessions() if s["status"] == "Scheduled"]
        assert after == before
        r = cli("plan", str(tdir), "--detailed-exitcode")
        assert r.exit_code == 2, r.output
        assert "~ session.ex-lim.u1  (reschedule: new)" in r.output
        assert r.output.rstrip().splitlines()[-1].startswith("Plan: 1 to reschedule")


def test_an_imported_exam_keeps_the_options_its_read_does_not_show(tmp_path: Path) -> None:
    """Importing an exam on the vendor dialect, whose read names proctor types without
    options, recorded them as having none: the next plan then showed removing options the
    exam has (``- …: {}``, ``+ ….options.recordScreen``), an update of nothing."""
    with ThreadedServer(token=TOKEN, seed=3, now=NOW, dialect=Dialect.vendor()) as srv:
        hand = populate(Install(srv, "vendor"))
        with ThreadedServer(srv.world, token=TOKEN) as contract:  # the same world, with ids
            seen = ByHand(Install(contract, "contract"), hand.course, hand.enrollments, hand.exams)
            cli, tdir = exported(seen, tmp_path / "contract")
        tenant = (tdir / "tenant.yaml").read_text()
        (tdir / "tenant.yaml").write_text(re.sub(r'url: "[^"]+"', f'url: "{srv.url}"', tenant))
        cli = Cli(tmp_path / "vendor-state", cli.env)
        r = cli("import", str(tdir), "course.c-one", hand.course)
        assert r.exit_code == 0, r.output
        r = cli("import", str(tdir), "exam.ex-lim", hand.exams["limited"])
        assert r.exit_code == 0, r.output
        assert (
            "The API does not return configuration.proctorTypes.options: recorded as the "
            "manifests have them (not verified)."
        ) in r.output
        r = cli("plan", str(tdir), "--detailed-exitcode", "--format", "json")
        assert r.exit_code == 2, r.output
        (plan,) = json.loads(r.stdout)["tenants"]
        # (exam.ex-open, found rather than imported, still shows its options as added)
        assert [c["address"] for c in plan["changes"] if c["address"] == "exam.ex-lim"] == []


def test_bookings_waiting_for_approval_are_exported_as_sessions(tmp_path: Path) -> None:
    """Where each exam requires approval, the service reads every booking back ``Pending
    Approval``: the export is the one of the same install read as ``Scheduled``, each such
    booking a session, and the plan after it is empty."""
    files = {}
    for statuses in ("documented", "pending"):
        srv = ThreadedServer(token=TOKEN, seed=3, now=NOW)
        srv.app = Tamper(srv.app, restatus(STATUS_FORMS[statuses]))  # type: ignore[assignment]
        with srv:
            cli, tdir = exported(populate(Install(srv, "contract")), tmp_path / statuses)
            files[statuses] = {
                p.name: p.read_text().replace(srv.url, "URL") for p in sorted(tdir.iterdir())
            }
            r = cli("plan", str(tdir), "--detailed-exitcode")
            assert r.exit_code == 0, r.output
    booked = [line for line in files["pending"]["sessions.yaml"].splitlines() if "user:" in line]
    assert [re.search(r"user: ([\w-]+),", line).group(1) for line in booked] == [  # type: ignore[union-attr]
        "lms-u4",
        "u1",
        "u5",
    ]
    assert files["pending"] == files["documented"]
