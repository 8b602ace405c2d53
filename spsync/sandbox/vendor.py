"""The routes of the ``vendor`` dialect: the same world, answering as the vendor documents.

Each write cleans its body as hapi/joi would (``vendor_input``), calls the world the
contract's routes call, and reshapes the answer (``vendor_views``). The reads are the
contract's own operations (``routes``) with the vendor's paging (a smaller largest page)
and its reshaping applied; only the appointments report, whose filters differ, is its own.
Writes whose answers the vendor types as a string (assignments, reschedule, cancel) answer
``200 text/html`` ``OK``. Only the assignment endpoint of the chosen form exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse, Response

from spsync.sandbox import routes
from spsync.sandbox import vendor_input as vin
from spsync.sandbox import vendor_views as views
from spsync.sandbox.constants import (
    CANCELLED,
    CLOSED,
    DEFAULT_PAGE_LIMIT,
    IN_PROGRESS,
    NEEDS_PROCTOR,
    SCHEDULED,
)
from spsync.sandbox.dialect import Dialect
from spsync.sandbox.errors import ApiFault
from spsync.sandbox.paging import Page
from spsync.sandbox.routes import API, Call, Op, Paging, query_int
from spsync.sandbox.sids import is_sid

#: A reshaping of one answer of the contract into the vendor's form (``vendor_views``).
View = Callable[[dict[str, Any]], dict[str, Any]]

#: The report's ``status`` filter: one of these, exactly.
REPORT_STATUSES: tuple[str, ...] = (NEEDS_PROCTOR, SCHEDULED, CANCELLED, IN_PROGRESS, CLOSED)


def ok() -> Response:
    """What a hapi handler returning the string ``OK`` answers."""
    return Response("OK", media_type="text/html")


def hapi_not_found() -> Response:
    """hapi's answer to a path no route matches, or a method the path does not serve."""
    return JSONResponse(
        {"statusCode": 404, "error": "Not Found", "message": "Not Found"}, status_code=404
    )


def _invalid(message: str) -> ApiFault:
    return ApiFault(400, "INVALIDINPUT", message)


def _paging(c: Call) -> Paging:
    """``offset``/``limit`` with the dialect's largest page (``limit`` above it: 400)."""
    most = c.dialect.page_max
    limit = query_int(c.query, "limit", min(DEFAULT_PAGE_LIMIT, most))
    if not 1 <= limit <= most:
        raise _invalid(f'"limit" must be an integer from 1 to {most}')
    return {"offset": query_int(c.query, "offset", 0), "limit": limit, "max_limit": most}


# ---------------------------------------------------------------------- writes
def _provision(c: Call) -> dict[str, Any]:
    return c.world.provision(c.path["installSid"], vin.provision_body(c.body))


def _session_args(c: Call) -> tuple[str, str, str]:
    return c.path["installSid"], c.path["examSid"], c.path["sessionSid"]


def _schedule(c: Call) -> dict[str, Any]:
    body = vin.schedule_body(c.body)
    return views.session(c.world.schedule_session(*_session_args(c), body))


def _reschedule(c: Call) -> Response:
    c.world.reschedule_session(*_session_args(c), vin.v1_body(c.body, vin.RESCHEDULE))
    return ok()


def _cancel(c: Call) -> Response:
    body = vin.v1_body(c.body, vin.CANCEL)
    c.world.cancel_session(*_session_args(c), body, after=c.dialect.after_cancel)
    return ok()


def _assign_guide(c: Call) -> Response:
    p = c.path
    body = vin.v1_body(c.body, vin.ASSIGN_GUIDE)
    c.world.update_assignments(p["installSid"], p["courseSid"], p["examSid"], body, reopen=True)
    return ok()


def _assign_exam(c: Call) -> Response:
    """``{"added": {"courseSid", "sectionSid"?, "enrollmentSid"}, "removed": {…}}``.

    Course sections are not modelled: well-formed ``CS…`` SIDs are accepted and ignored.
    Each part's ``courseSid`` must be the exam's course (else 404, as for the guide's path).
    """
    p = c.path
    body = vin.v1_body(c.body, vin.ASSIGN_EXAM)
    if not isinstance(body, dict):
        raise _invalid('"body" must be an object')
    lists: dict[str, Any] = {}
    for part in ("added", "removed"):
        value = body.get(part)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise _invalid(f'"{part}" must be an object')
        course = value.get("courseSid")
        if not is_sid(course, "CU"):
            raise _invalid(f'"{part}.courseSid" must be a course SID: CU + 32 lowercase hex')
        for i, section in enumerate(value.get("sectionSid") or []):
            if not is_sid(section, "CS"):
                raise _invalid(f'"{part}.sectionSid[{i}]" must be a section SID: CS + 32 hex')
        # The exam must be in that course: the read answers 404 when it is not.
        c.world.get_exam(p["installSid"], course, p["examSid"])
        lists[part] = value.get("enrollmentSid")
    c.world.update_assignment(p["installSid"], p["examSid"], lists, reopen=True)
    return ok()


def _assign_newest(c: Call) -> Response:
    body = vin.v1_body(c.body, vin.ASSIGN_NEWEST)
    c.world.update_assignment(c.path["installSid"], c.path["examSid"], body, reopen=True)
    return ok()


# ---------------------------------------------------------------------- reads
def _listed(read: Callable[[Call, Paging], Page], render: View) -> Callable[[Call], Page]:
    """The contract's list ``read`` with the vendor's paging, each item reshaped."""

    def op(c: Call) -> Page:
        result = read(c, _paging(c))
        return Page([render(x) for x in result.items], result.total, result.offset, result.limit)

    return op


def _viewed(read: Callable[[Call], dict[str, Any]], render: View) -> Callable[[Call], Any]:
    """The contract's ``read`` of one object, reshaped."""

    def op(c: Call) -> dict[str, Any]:
        return render(read(c))

    return op


def _report(c: Call) -> Page:
    q = c.query
    given = q.getlist("status")
    if len(given) > 1:
        raise _invalid('"status" must be a single value')
    if given and given[0] not in REPORT_STATUSES:
        raise _invalid(f'"status" must be one of {", ".join(REPORT_STATUSES)}')
    return c.world.appointments_report(
        c.path["installSid"],
        **_paging(c),
        booked_only=c.dialect.report_rows == "booked",
        render=views.report_row,
        course_sid=q.get("courseSid"),
        exam_sid=q.get("examSid"),
        status=given,
        learner_sid=q.get("learnerSid"),
        appointment_after=q.get("appointmentAfter"),
        appointment_before=q.get("appointmentBefore"),
    )


_I = "/v1/installs/{installSid}"
_SESSION = _I + "/exams/{examSid}/sessions/{sessionSid}"
#: The assignment endpoint of each form.
ASSIGNMENT_ROUTES: dict[str, tuple[str, Op]] = {
    "guide": (
        _I + "/courses/{courseSid}/exams/{examSid}/assignments",
        Op(_assign_guide, mutating=True, body=True),
    ),
    "exam": (_I + "/exams/{examSid}/assignments", Op(_assign_exam, mutating=True, body=True)),
    "newest": (_I + "/exams/{examSid}/assignment", Op(_assign_newest, mutating=True, body=True)),
}


def vendor_api(dialect: Dialect) -> dict[str, dict[str, Op]]:
    """Route template → method → operation, for ``dialect`` (a ``vendor`` one)."""
    template, assign = ASSIGNMENT_ROUTES[dialect.assignment_form]
    return {
        "/v2/installs/{installSid}/provision": {"POST": Op(_provision, mutating=True, body=True)},
        template: {"PUT": assign},
        _I + "/enrollments/{enrollmentSid}/exams/{examSid}/sessions": {
            "GET": Op(_listed(routes.enrollment_sessions, views.session_item))
        },
        _SESSION: {
            "GET": Op(_viewed(routes.get_session, views.session)),
            "POST": Op(_schedule, mutating=True, body=True),
            "PUT": Op(_reschedule, mutating=True, body=True),
            "DELETE": Op(_cancel, mutating=True, body=True),
        },
        _SESSION + "/onboard": API[_SESSION + "/onboard"],
        _I + "/reports/appointments": {"GET": Op(_report)},
        _I + "/courses/{courseSid}": {"GET": Op(_viewed(routes.course, views.course))},
        _I + "/courses/{courseSid}/exams": {"GET": Op(_listed(routes.course_exams, views.exam))},
        _I + "/courses/{courseSid}/exams/{examSid}": {"GET": Op(_viewed(routes.exam, views.exam))},
        _I + "/courses/{courseSid}/enrollments": {
            "GET": Op(_listed(routes.enrollments, views.enrollment))
        },
        _I + "/users": {"GET": Op(_listed(routes.users, views.user))},
        _I + "/users/{userSid}/profile": {"GET": Op(_viewed(routes.profile, views.user))},
        _I + "/settings": {"GET": Op(_viewed(routes.settings, views.settings))},
    }


def route_table(dialect: Dialect) -> dict[str, dict[str, Op]]:
    """The route table of ``dialect``: the contract's, or the vendor's."""
    return vendor_api(dialect) if dialect.is_vendor else API
