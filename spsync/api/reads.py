"""The typed reads of the API: one object, or every item of a list (``paging``).

``Reader`` adds them to the choke point and paging; the writes (``writes.Writer``) read
their outcomes back through them. Onboarding links are checked before anyone sees them
(``onboarding_url_ok``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

import httpx

from spsync.api import wire
from spsync.api.paging import Pager
from spsync.api.routes import (
    R_APPOINTMENTS,
    R_COURSE,
    R_ENROLLMENT_SESSIONS,
    R_ENROLLMENTS,
    R_EXAM,
    R_EXAMS,
    R_ONBOARD,
    R_SESSION,
    R_SETTINGS,
    R_USER,
    R_USERS,
    Query,
)
from spsync.api.transport import is_loopback
from spsync.errors import ApiError, ResponseError
from spsync.sanitize import is_clean

#: the domain onboarding links are on, whatever the API host
ONBOARDING_DOMAIN = "smarterproctoring.com"


def _onboarding_domains(api_host: str) -> list[str]:
    """The domains an onboarding link may be on, for an API at ``api_host``."""
    domains = [ONBOARDING_DOMAIN]
    labels = api_host.lower().rstrip(".").split(".")
    if not is_loopback(api_host) and len(labels) >= 2:
        # another allowed API host: its own domain, which under a country's shared second
        # level (``co.uk``, ``com.au``, ``ac.jp``) is one label more: never ``co.uk`` itself
        width = 3 if _shared_second_level(labels) else 2
        own = ".".join(labels[-width:])
        if len(labels) >= width and own not in domains:
            domains.append(own)
    return domains


def _shared_second_level(labels: list[str]) -> bool:
    """Whether the last two labels look like a second level many registrants share: a
    two-letter country and a label of at most three letters (``co.uk``, ``com.au``)."""
    return len(labels[-1]) == 2 and len(labels[-2]) <= 3


#: a host name as a browser reads it the same way: ASCII letters, digits and hyphens in
#: dot-separated labels (an IDN is in its ``xn--`` form, as the URL parser gives it)
_PLAIN_HOST = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")


def onboarding_url_ok(url: str, api_host: str) -> bool:
    """Whether ``url`` may be printed as an onboarding link: ``https://``, no control or
    bidi character, on the service's domain (or the API host's own, for another install).

    The host must be a plain name: a browser reads ``\\`` in the authority as ``/``
    (``https://evil.example\\.smarterproctoring.com`` opens evil.example) and decodes
    ``%``-escapes, where the URL parser keeps both in the host."""
    if not is_clean(url) or " " in url:
        return False
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii").lower()
    except (httpx.InvalidURL, ValueError):  # an IDN the codec refuses is a ValueError
        return False
    if parsed.scheme != "https" or parsed.userinfo or not _PLAIN_HOST.fullmatch(host):
        return False
    return any(host == d or host.endswith("." + d) for d in _onboarding_domains(api_host))


class Reader(Pager):
    """The typed reads of a ``Client``."""

    async def list_enrollment_sessions(
        self, enrollment_sid: str, exam_sid: str, *, include_active: bool = True
    ) -> list[wire.Session]:
        """An enrollment's sessions of one exam (with the active one unless told otherwise)."""
        query = [("includeActive", "true" if include_active else "false")]
        return await self._paged(
            R_ENROLLMENT_SESSIONS,
            {"enrollmentSid": enrollment_sid, "examSid": exam_sid},
            wire.Session,
            query,
        )

    async def get_session(self, exam_sid: str, session_sid: str) -> wire.Session:
        return await self._one(
            "GET",
            R_SESSION,
            {"examSid": exam_sid, "sessionSid": session_sid},
            wire.Session,
            safety="read",
        )

    async def get_course(self, course_sid: str) -> wire.Course:
        return await self._one(
            "GET", R_COURSE, {"courseSid": course_sid}, wire.Course, safety="read"
        )

    async def get_exam(self, course_sid: str, exam_sid: str) -> wire.Exam:
        return await self._one(
            "GET",
            R_EXAM,
            {"courseSid": course_sid, "examSid": exam_sid},
            wire.Exam,
            safety="read",
        )

    async def list_exams(self, course_sid: str) -> list[wire.Exam]:
        return await self._paged(R_EXAMS, {"courseSid": course_sid}, wire.Exam)

    async def get_user(self, user_sid: str) -> wire.User:
        return await self._one("GET", R_USER, {"userSid": user_sid}, wire.User, safety="read")

    async def find_users(
        self,
        *,
        external_id: str | None = None,
        api_id: str | None = None,
        lms_id: str | None = None,
        email: str | None = None,
    ) -> list[wire.User]:
        """Users matching every given filter (with none: every user).

        What comes back is checked against the filters: a user that does not carry the id
        asked for (a proxy or a server that ignored the query) is dropped, never taken for
        the one that was meant."""
        query = [
            (k, v)
            for k, v in (
                ("externalId", external_id),
                ("apiId", api_id),
                ("lmsId", lms_id),
                ("email", email),
            )
            if v is not None
        ]
        users = await self._paged(R_USERS, {}, wire.User, query)
        wanted = {"externalId": external_id, "apiId": api_id, "lmsId": lms_id}
        out = []
        for user in users:
            if any(v is not None and getattr(user, k) != v for k, v in wanted.items()):
                continue
            if email is not None and (user.email or "").lower() != email.lower():
                continue
            out.append(user)
        return out

    async def list_users(self) -> list[wire.User]:
        """Every user of the install (paged)."""
        return await self._paged(R_USERS, {}, wire.User)

    async def each_user(self, take: Callable[[list[wire.UserRow]], object]) -> None:
        """Every user of the install, given to ``take`` a page of rows at a time (paged)."""
        await self._each(R_USERS, {}, wire.UserRow, take)

    async def users_by_external_id(self, external_ids: Iterable[str]) -> dict[str, wire.User]:
        """Users for many external ids, at the lower of the two costs: one filtered lookup per
        id, or reading the whole user list (~total/100 calls). Ids not found are absent."""
        wanted = sorted(set(external_ids))
        if not wanted:
            return {}
        first = await self._page(R_USERS, {}, wire.User, [], 0)
        pages_left = 0
        if first.next:
            step = max(1, len(first.results))
            total = first.total if first.total is not None else 10**9
            pages_left = -(-max(0, total - step) // step)
        if pages_left <= len(wanted):
            users = await self._rest(R_USERS, {}, wire.User, [], first)
        else:
            found = await self._pooled(lambda x: self.find_users(external_id=x), wanted)
            users = [u for group in found for u in group]
        out: dict[str, wire.User] = {}
        want = set(wanted)
        for user in users:
            if user.externalId in want and user.externalId not in out:
                out[user.externalId] = user
        return out

    async def list_enrollments(self, course_sid: str) -> list[wire.Enrollment]:
        """Every enrollment of a course (paged)."""
        return await self._paged(R_ENROLLMENTS, {"courseSid": course_sid}, wire.Enrollment)

    async def each_enrollment(
        self, course_sid: str, take: Callable[[list[wire.EnrollmentRow]], object]
    ) -> None:
        """Every enrollment of a course, given to ``take`` a page of rows at a time (paged)."""
        await self._each(R_ENROLLMENTS, {"courseSid": course_sid}, wire.EnrollmentRow, take)

    async def appointments(
        self,
        *,
        exam_sid: str | None = None,
        course_sid: str | None = None,
        status: Sequence[str] = (),
        learner_sid: str | None = None,
        appointment_after: str | None = None,
        appointment_before: str | None = None,
    ) -> list[wire.Session]:
        """The appointments report: sessions across the install, e.g. all of one exam in
        ~total/100 calls. Filters are combined; ``status`` is repeatable."""
        query = _appointments_query(
            exam_sid, course_sid, status, learner_sid, appointment_after, appointment_before
        )
        return await self._paged(R_APPOINTMENTS, {}, wire.Session, query)

    async def exam_sessions(self, exam_sid: str) -> list[wire.Session]:
        """Every session of one exam, through the appointments report."""
        return await self.appointments(exam_sid=exam_sid)

    async def each_exam_session(
        self,
        exam_sid: str,
        take: Callable[[list[wire.SessionRow]], object],
        *,
        status: Sequence[str] = (),
    ) -> None:
        """Every session of one exam (the appointments report; of those ``status`` when
        given), given to ``take`` a page of rows at a time."""
        query = _appointments_query(exam_sid, None, status, None, None, None)
        await self._each(R_APPOINTMENTS, {}, wire.SessionRow, take, query)

    async def settings(self) -> wire.Settings:
        return await self._one("GET", R_SETTINGS, {}, wire.Settings, safety="read")

    async def onboard_url(self, exam_sid: str, session_sid: str) -> str:
        """A fresh, single-use onboarding URL of a ``Scheduled`` session (never store it)."""
        got = await self._one(
            "GET",
            R_ONBOARD,
            {"examSid": exam_sid, "sessionSid": session_sid},
            wire.OnboardUrl,
            safety="read",
        )
        if not onboarding_url_ok(got.url, httpx.URL(self.base_url).host):
            raise ResponseError(
                "the onboarding URL is not an https:// URL on the service's domain "
                f"({', '.join(_onboarding_domains(httpx.URL(self.base_url).host))}) or holds "
                "control characters: refused, not shown",
                method="GET",
                path=R_ONBOARD,
            )
        return got.url


def _appointments_query(
    exam_sid: str | None,
    course_sid: str | None,
    status: Sequence[str],
    learner_sid: str | None,
    appointment_after: str | None,
    appointment_before: str | None,
) -> Query:
    """The appointments report's query; a malformed SID is refused, nothing sent."""
    for name, value, prefix in (
        ("examSid", exam_sid, "EX"),
        ("courseSid", course_sid, "CU"),
        ("learnerSid", learner_sid, "US"),
    ):
        if value is not None and not wire.is_sid(value, prefix):
            raise ApiError(
                f"malformed {name} {value!r}: expected {prefix} + 32 lowercase hex (not sent)",
                method="GET",
                path=R_APPOINTMENTS,
            )
    query: Query = [
        (k, v)
        for k, v in (
            ("examSid", exam_sid),
            ("courseSid", course_sid),
            ("learnerSid", learner_sid),
            ("appointmentAfter", appointment_after),
            ("appointmentBefore", appointment_before),
        )
        if v is not None
    ]
    query += [("status", s) for s in status]
    return query
