"""The forms ``spsync doctor`` reports for each of the simulator's dialects (shared by the
doctor's pure tests and its command-line tests)."""

from __future__ import annotations

#: the forms of the contract dialect, as doctor reports them
CONTRACT_FORMS = {
    "exam.type": "lower-case",
    "exam.scope": "limitedScope",
    "exam.configuration": "provision",
    "course.code": "code",
    "user.timeZone": "timeZone",
    "enrollment.sid": "sid",
    "report.status": "repeated",
    "page.limit100": "accepted",
    "page.limitOver": "refused",
    "page.links": "absolute",
    "error.unknownSid": "code-message-status",
    "error.unknownRoute": "code-message-status",
    "assignments": "not-probed",
    "rateLimitHeaders": [],
}
#: the forms of the vendor dialect (no rate-limit headers seen)
VENDOR_FORMS = CONTRACT_FORMS | {
    "exam.type": "capitalised",
    "exam.scope": "isLimitedScope",
    "exam.configuration": "v1",
    "course.code": "courseCode",
    "user.timeZone": "timeZoneSid",
    "enrollment.sid": "enrollmentSid",
    "report.status": "single",
    "error.unknownRoute": "hapi",
}
