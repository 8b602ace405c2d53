"""The order in which the executor starts ready work (``apply_ops.in_waves``): each exam's
students, then its assignments, then its sessions, exam after exam."""

from __future__ import annotations

from pathlib import Path

from support.apply import EXAMS, all_new, load, sessions_yaml, users_yaml, write_tenant

from spsync.apply_ops import build_ops
from spsync.state import State

#: a second limited-scope exam, its password from the same variable as ``final``'s
MIDTERM = """\
  midterm:
    course: main
    ids: {external: midterm-exam}
    title: Midterm
    configuration:
      url: https://exams.example.com/midterm
      access: {open: "2027-01-01T00:00:00Z", close: "2028-12-31T23:59:59Z"}
      duration: 60
      password: {env: SPSYNC_MINI_FINAL_PASSWORD}
      proctorTypes: {TS63dda27a6ba54c218449b934b7bb1ba8: {}}
"""


def test_each_exams_students_assignments_and_sessions_start_as_a_wave(tmp_path: Path) -> None:
    # students alternate between the two exams, as a real roster's do
    final = [f"u{i:04d}" for i in (1, 3, 5)]
    midterm = [f"u{i:04d}" for i in (2, 4, 6)]
    files = {
        "exams.yaml": EXAMS.replace("  quiz:\n", MIDTERM + "  quiz:\n"),
        "users.yaml": users_yaml(6),
        "assign.yaml": f"assignments:\n  final: [{', '.join(final)}]\n"
        f"  midterm: [{', '.join(midterm)}]\n",
        "sessions.yaml": sessions_yaml(
            [("final", u, "2028-03-01T14:00:00Z") for u in final]
            + [("midterm", u, "2028-03-02T14:00:00Z") for u in midterm]
        ),
    }
    desired = load(write_tenant(tmp_path, "http://127.0.0.1:9", files))
    state = State(lineage="l", tenant="mini", install="AI" + "0" * 32, api_url="http://x")
    ops = build_ops(all_new(desired), desired, state)
    assert [op.label for op in ops] == [
        "course.main",
        "exam.final",
        "exam.midterm",
        "exam.quiz",
        *(f"user.{u}" for u in final),
        "assignment.final.*",
        *(f"session.final.{u}" for u in final),
        *(f"user.{u}" for u in midterm),
        "assignment.midterm.*",
        *(f"session.midterm.{u}" for u in midterm),
    ]
    # plan order, which the waves replace, had every student first
    by_plan = sorted(ops, key=lambda op: op.order)
    assert [op.label for op in by_plan][4:10] == [f"user.u{i:04d}" for i in range(1, 7)]


def test_without_assignments_the_plan_order_stays(tmp_path: Path) -> None:
    files = {
        "exams.yaml": EXAMS,
        "users.yaml": users_yaml(3),
        "enroll.yaml": "enrollments:\n"
        + "".join(f"  - {{user: u000{i}, course: main}}\n" for i in (1, 2, 3)),
    }
    desired = load(write_tenant(tmp_path, "http://127.0.0.1:9", files))
    state = State(lineage="l", tenant="mini", install="AI" + "0" * 32, api_url="http://x")
    ops = build_ops(all_new(desired), desired, state)
    assert [op.order for op in ops] == sorted(op.order for op in ops)
    assert [op.label for op in ops][-3:] == ["user.u0001", "user.u0002", "user.u0003"]
