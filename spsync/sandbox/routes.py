"""The API's routes for the contract dialect: one operation per endpoint of api-contract
§4–§8, turning a request's path parameters, query and JSON body into a ``World`` call.

Also the pieces other dialects build their routes from: ``Call``, ``Op``, the query
parsers, the reads (a list read takes the paging its dialect parsed from the query), and
``api_endpoint``, which runs a route's operations over HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from starlette.datastructures import QueryParams
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from spsync.sandbox.constants import DEFAULT_PAGE_LIMIT
from spsync.sandbox.dialect import Dialect
from spsync.sandbox.errors import ApiFault, invalid
from spsync.sandbox.responses import (
    AUTH_FAILED,
    client_gone,
    envelope,
    internal_error,
    json_response,
    read_json,
)
from spsync.sandbox.world import Page, World

if TYPE_CHECKING:
    from spsync.sandbox.controls import Controls

# ====================================================================== query parsing
_DECIMAL = re.compile(r"-?[0-9]{1,100}")


def query_int(q: QueryParams, name: str, default: int) -> int:
    """A plain decimal integer (``int()`` alone would also take ``1_0``, ``+5``, `` 5`` and
    non-ASCII digits)."""
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    if not _DECIMAL.fullmatch(raw):
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        raise invalid(f"must be an integer, got {shown!r}", name)
    return int(raw)


def query_bool(q: QueryParams, name: str, default: bool) -> bool:
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    low = raw.strip().lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise invalid(f"must be true or false, got {raw!r}", name)


def query_multi(q: QueryParams, name: str) -> list[str]:
    """A repeatable parameter; comma-separated values are split too."""
    out: list[str] = []
    for raw in q.getlist(name):
        out.extend(v for v in raw.split(",") if v.strip())
    return out


class Paging(TypedDict):
    """The paging parameters of a list's query (``max_limit``: the dialect's largest page,
    when it is not the contract's)."""

    offset: int
    limit: int
    max_limit: NotRequired[int]


def query_paging(q: QueryParams) -> Paging:
    return {"offset": query_int(q, "offset", 0), "limit": query_int(q, "limit", DEFAULT_PAGE_LIMIT)}


# ====================================================================== operations
@dataclass(frozen=True, slots=True)
class Call:
    """What an operation gets: the world, path parameters, query, parsed JSON body and the
    dialect being spoken."""

    world: World
    path: dict[str, str]
    query: QueryParams
    body: Any
    dialect: Dialect = field(default_factory=Dialect.contract)


@dataclass(frozen=True, slots=True)
class Op:
    """One endpoint's operation: its answer is a JSON body, a ``Page`` to wrap in the list
    envelope, or a ready ``Response``."""

    fn: Callable[[Call], dict[str, Any] | Page | Response]
    mutating: bool = False
    body: bool = False


def _op_provision(c: Call) -> dict[str, Any]:
    return c.world.provision(c.path["installSid"], c.body)


def _op_assignments(c: Call) -> dict[str, Any]:
    p = c.path
    return c.world.update_assignments(p["installSid"], p["courseSid"], p["examSid"], c.body)


def _op_assignment(c: Call) -> dict[str, Any]:
    return c.world.update_assignment(c.path["installSid"], c.path["examSid"], c.body)


def enrollment_sessions(c: Call, paging: Paging) -> Page:
    """An enrollment's sessions of one exam (§6.1)."""
    q = c.query
    return c.world.list_enrollment_sessions(
        c.path["installSid"],
        c.path["enrollmentSid"],
        c.path["examSid"],
        **paging,
        status=query_multi(q, "status"),
        include_active=query_bool(q, "includeActive", False),
        sort_key=q.get("sortKeys") or "createdDate",
        sort_order=q.get("sortOrder") or "ASC",
    )


def _session_args(c: Call) -> tuple[str, str, str]:
    return c.path["installSid"], c.path["examSid"], c.path["sessionSid"]


def get_session(c: Call) -> dict[str, Any]:
    """One session's details (§6.2)."""
    return c.world.get_session(*_session_args(c))


def _op_schedule(c: Call) -> dict[str, Any]:
    return c.world.schedule_session(*_session_args(c), c.body)


def _op_reschedule(c: Call) -> dict[str, Any]:
    return c.world.reschedule_session(*_session_args(c), c.body)


def _op_cancel(c: Call) -> dict[str, Any]:
    body = c.body
    if body is None and "cancellationMemo" in c.query:
        # Some HTTP stacks cannot send a DELETE body: accept the fields as query parameters.
        body = {k: c.query[k] for k in ("cancellationMemo", "reason") if k in c.query}
    return c.world.cancel_session(*_session_args(c), body)


def _op_onboard(c: Call) -> dict[str, Any]:
    return c.world.onboard(*_session_args(c))


def _op_report(c: Call) -> Page:
    q = c.query
    return c.world.appointments_report(
        c.path["installSid"],
        **query_paging(q),
        course_sid=q.get("courseSid"),
        exam_sid=q.get("examSid"),
        status=query_multi(q, "status"),
        learner_sid=q.get("learnerSid"),
        appointment_after=q.get("appointmentAfter"),
        appointment_before=q.get("appointmentBefore"),
    )


def course(c: Call) -> dict[str, Any]:
    """A course (§7)."""
    return c.world.get_course(c.path["installSid"], c.path["courseSid"])


def course_exams(c: Call, paging: Paging) -> Page:
    """A course's exams (§7)."""
    return c.world.list_course_exams(c.path["installSid"], c.path["courseSid"], **paging)


def exam(c: Call) -> dict[str, Any]:
    """An exam of a course (§7)."""
    p = c.path
    return c.world.get_exam(p["installSid"], p["courseSid"], p["examSid"])


def users(c: Call, paging: Paging) -> Page:
    """The install's users, filtered by one of their ids or e-mail (§7)."""
    q = c.query
    return c.world.list_users(
        c.path["installSid"],
        **paging,
        external_id=q.get("externalId"),
        api_id=q.get("apiId"),
        lms_id=q.get("lmsId"),
        email=q.get("email"),
    )


def profile(c: Call) -> dict[str, Any]:
    """A user's profile (§7)."""
    return c.world.get_user_profile(c.path["installSid"], c.path["userSid"])


def enrollments(c: Call, paging: Paging) -> Page:
    """A course's enrollments (§7)."""
    return c.world.list_course_enrollments(c.path["installSid"], c.path["courseSid"], **paging)


def settings(c: Call) -> dict[str, Any]:
    """The install's settings (§7)."""
    return c.world.get_settings(c.path["installSid"])


def _query_paged(read: Callable[[Call, Paging], Page]) -> Callable[[Call], Page]:
    """``read`` with the contract's paging: ``offset`` and ``limit`` of the query."""

    def op(c: Call) -> Page:
        return read(c, query_paging(c.query))

    return op


_I = "/v1/installs/{installSid}"
_SESSION = _I + "/exams/{examSid}/sessions/{sessionSid}"
#: Every endpoint of api-contract §4–§8: route template → method → operation.
API: dict[str, dict[str, Op]] = {
    "/v2/installs/{installSid}/provision": {"POST": Op(_op_provision, mutating=True, body=True)},
    _I + "/courses/{courseSid}/exams/{examSid}/assignments": {
        "PUT": Op(_op_assignments, mutating=True, body=True)
    },
    _I + "/exams/{examSid}/assignment": {"PUT": Op(_op_assignment, mutating=True, body=True)},
    _I + "/enrollments/{enrollmentSid}/exams/{examSid}/sessions": {
        "GET": Op(_query_paged(enrollment_sessions))
    },
    _SESSION: {
        "GET": Op(get_session),
        "POST": Op(_op_schedule, mutating=True, body=True),
        "PUT": Op(_op_reschedule, mutating=True, body=True),
        "DELETE": Op(_op_cancel, mutating=True, body=True),
    },
    _SESSION + "/onboard": {"GET": Op(_op_onboard)},
    _I + "/reports/appointments": {"GET": Op(_op_report)},
    _I + "/courses/{courseSid}": {"GET": Op(course)},
    _I + "/courses/{courseSid}/exams": {"GET": Op(_query_paged(course_exams))},
    _I + "/courses/{courseSid}/exams/{examSid}": {"GET": Op(exam)},
    _I + "/courses/{courseSid}/enrollments": {"GET": Op(_query_paged(enrollments))},
    _I + "/users": {"GET": Op(_query_paged(users))},
    _I + "/users/{userSid}/profile": {"GET": Op(profile)},
    _I + "/settings": {"GET": Op(settings)},
}


# ====================================================================== over HTTP
def api_endpoint(template: str, ops: dict[str, Op]) -> Callable[[Request], Awaitable[Response]]:
    """The HTTP endpoint of one route template: token, body, the operation, persisting, answer."""

    async def endpoint(request: Request) -> Response:
        ctl: Controls = request.app.state.controls
        if not ctl.authorised(request):
            return ctl.fault(AUTH_FAILED)
        op = ops["GET" if request.method == "HEAD" else request.method]
        try:
            body = await read_json(request) if op.body else None
            params = dict(request.path_params)
            call = Call(ctl.world, params, request.query_params, body, ctl.dialect)
            result = op.fn(call)
        except ApiFault as fault:
            return ctl.fault(fault)
        except ClientDisconnect:
            return client_gone(request)
        except Exception:
            return internal_error(request, template)
        try:
            if op.mutating:
                await ctl.persist()
        except ApiFault as fault:
            return ctl.fault(fault)
        try:
            # Rendered here, not by Starlette after we return, so that an answer that cannot
            # be rendered is still an error in the API's shape.
            if isinstance(result, Response):
                return result
            if isinstance(result, Page):
                return json_response(envelope(result, request.url))
            return json_response(result)
        except Exception:
            return internal_error(request, template)

    endpoint.__name__ = f"api {template}"
    return endpoint
