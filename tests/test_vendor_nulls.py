"""A ``null`` in a read is unknown, exactly like a field the read left out: never a change.

The simulator speaks the vendor's dialect over real HTTP, behind a front that sets one
field to ``null`` wherever it appears in the answers of reads (``Rewrite``). After a clean
apply, each such field gives a plan of no changes that says which managed fields it could
not see, and an apply that writes nothing: no cancel and re-booking of sessions whose type
or external id reads ``null``, no reschedule of one whose appointment does, no update of a
course, exam or user whose field does, and no update of an exam's permitted items when
an item's switch or notes read ``null`` or are left out (unknown, not "not permitted").
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support.api import Tamper
from support.reliability import Rewrite, Workspace, control, no_traceback, tampered, world

from spsync.sandbox.dialect import Dialect
from spsync.sandbox.server import ThreadedServer

#: what the vendor's reads never show (the plan says so on every run)
ALWAYS_UNSEEN = {
    "exams": {"configuration.proctorTypes.options"},
    "sessions": {"notes", "proctorLocation"},
    "users": {"timeZone"},
}
WARNING = (
    "Warning: {kind}: the API's reads do not return {fields}: spsync keeps their last "
    "applied values and cannot see a change made to them outside spsync "
    "(docs/api-dialects.md)"
)


def no_changes(install: str, unseen: dict[str, set[str]]) -> str:
    """The whole text of a plan of no changes for the generated tenant, warning about the
    fields the reads do not show (``unseen`` besides ``ALWAYS_UNSEEN``)."""
    kinds = {k: set(v) for k, v in ALWAYS_UNSEEN.items()}
    for kind, fields in unseen.items():
        kinds.setdefault(kind, set()).update(fields)
    lines = [f"Tenant rel (install {install}, state serial 2)", ""]
    for kind, fields in sorted(kinds.items()):
        lines += [WARNING.format(kind=kind, fields=", ".join(sorted(fields))), ""]
    lines.append("No changes. rel matches its manifests (23 resources unchanged).")
    return "\n".join(lines) + "\n"


def nulled(*fields: str) -> Callable[[bytes], bytes]:
    """An edit of a JSON answer setting each of ``fields`` to ``null`` at every depth."""

    def walk(o: Any) -> Any:
        if isinstance(o, dict):
            return {k: None if k in fields else walk(v) for k, v in o.items()}
        if isinstance(o, list):
            return [walk(x) for x in o]
        return o

    return lambda body: json.dumps(walk(json.loads(body))).encode()


def dropped(*fields: str) -> Callable[[bytes], bytes]:
    """An edit of a JSON answer leaving out each of ``fields`` at every depth."""

    def walk(o: Any) -> Any:
        if isinstance(o, dict):
            return {k: walk(v) for k, v in o.items() if k not in fields}
        if isinstance(o, list):
            return [walk(x) for x in o]
        return o

    return lambda body: json.dumps(walk(json.loads(body))).encode()


@pytest.fixture(scope="module")
def applied(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ThreadedServer, Tamper, Workspace]]:
    """The vendor-dialect simulator behind a front, the generated tenant applied to it."""
    with tampered(seed=71, dialect=Dialect.vendor()) as (srv, front):
        ws = Workspace(tmp_path_factory.mktemp("nulls"), srv.url, learners=2)
        run = ws.run_here("apply", str(ws.tenant_dir()), "--auto-approve")
        assert run.code == 0, run
        assert ws.run_here("plan", str(ws.tenant_dir())).out == no_changes(ws.installs["rel"], {})
        yield srv, front, ws
    gc.collect()  # anything a run left open is reported here (warnings are errors)


#: (the field nulled in every read's answer, the managed fields the plan cannot see)
NULLED: list[tuple[str, dict[str, set[str]]]] = [
    # the appointments report: a replace (cancel + book) of every session, a reschedule
    ("sessionType", {"sessions": {"type"}}),
    ("externalAppointmentId", {"sessions": {"externalAppointmentId"}}),
    ("appointmentDate", {"sessions": {"appointment"}}),
    # courses, exams (v1 form) and users: updates sent on every run
    ("title", {"courses": {"title"}, "exams": {"title"}}),
    ("courseCode", {"courses": {"code"}}),
    ("type", {"exams": {"type"}}),
    ("isLimitedScope", {"exams": {"limitedScope"}}),
    ("url", {"exams": {"configuration.url"}}),
    ("duration", {"exams": {"configuration.duration"}}),
    ("attempts", {"exams": {"configuration.attempts"}}),
    ("examOpenDate", {"exams": {"configuration.access"}}),
    ("examCloseDate", {"exams": {"configuration.access"}}),
    ("firstName", {"users": {"firstName"}}),
    ("lastName", {"users": {"lastName"}}),
    ("email", {"users": {"email"}}),
    ("currencyCode", {"users": {"currencyCode"}}),
    # an exam's permitted items (the generated cert exam permits a calculator, with notes)
    ("permittedCalculator", {"exams": {"configuration.permittedItems"}}),
    ("permittedCalculatorInformation", {"exams": {"configuration.permittedItems"}}),
    ("permittedWebsites", {"exams": {"configuration.permittedItems"}}),
]
#: the same for a field left out of every read's answer
DROPPED: list[tuple[str, dict[str, set[str]]]] = [
    ("permittedCalculator", {"exams": {"configuration.permittedItems"}}),
    ("permittedCalculatorInformation", {"exams": {"configuration.permittedItems"}}),
    ("permittedWebsites", {"exams": {"configuration.permittedItems"}}),
]
CASES = [(f"null-{f}", nulled(f), unseen) for f, unseen in NULLED] + [
    (f"drop-{f}", dropped(f), unseen) for f, unseen in DROPPED
]


@pytest.mark.parametrize(("case", "edit", "unseen"), CASES, ids=[c[0] for c in CASES])
def test_a_null_or_missing_field_is_unknown_not_a_change(
    applied: tuple[ThreadedServer, Tamper, Workspace],
    case: str,
    edit: Callable[[bytes], bytes],
    unseen: dict[str, set[str]],
) -> None:
    srv, front, ws = applied
    rule = front.add(Rewrite("GET", "", edit, times=100_000))
    try:
        tdir = str(ws.tenant_dir())
        plan = ws.run_here("plan", tdir)
        no_traceback(plan)
        assert (plan.code, plan.err) == (0, ""), plan
        assert plan.out == no_changes(ws.installs["rel"], unseen)
        before = world(srv.url)
        control(srv.url, "DELETE", "/_sandbox/requests")
        run = ws.run_here("apply", tdir, "--auto-approve")
        no_traceback(run)
        assert run.code == 0, run
        assert rule.hits > 0
        # nothing was written: every call a read, the simulator's world as it was
        counts = control(srv.url, "GET", "/_sandbox/requests")["counts"]
        assert counts and [k for k in counts if not k.startswith("GET ")] == [], counts
        assert world(srv.url) == before
    finally:
        rule.times = 0  # spent: the next case starts from a well-behaved front
