"""The routes the client calls: templates (also the keys of ``Client.calls`` and
``CallRecord.route``) and the SID prefix each path parameter takes."""

from __future__ import annotations

R_PROVISION = "/v2/installs/{installSid}/provision"
R_ASSIGNMENTS = "/v1/installs/{installSid}/courses/{courseSid}/exams/{examSid}/assignments"
R_SESSION = "/v1/installs/{installSid}/exams/{examSid}/sessions/{sessionSid}"
R_ONBOARD = R_SESSION + "/onboard"
R_ENROLLMENT_SESSIONS = (
    "/v1/installs/{installSid}/enrollments/{enrollmentSid}/exams/{examSid}/sessions"
)
R_COURSE = "/v1/installs/{installSid}/courses/{courseSid}"
R_EXAMS = R_COURSE + "/exams"
R_EXAM = R_EXAMS + "/{examSid}"
R_ENROLLMENTS = R_COURSE + "/enrollments"
R_USERS = "/v1/installs/{installSid}/users"
R_USER = R_USERS + "/{userSid}/profile"
R_APPOINTMENTS = "/v1/installs/{installSid}/reports/appointments"
R_SETTINGS = "/v1/installs/{installSid}/settings"

#: path parameter -> accepted SID prefixes
PARAM_PREFIX = {
    "installSid": ("AI",),
    "courseSid": ("CU",),
    "examSid": ("EX",),
    "sessionSid": ("ES",),
    "enrollmentSid": ("EN",),
    "userSid": ("US",),
}

#: a query string as pairs, in order (a name may repeat)
Query = list[tuple[str, str]]
