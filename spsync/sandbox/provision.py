"""Provision (api-contract §4): parse, match, validate, then apply — all or nothing.

``ProvisionPlan`` is used by ``World.provision`` under the world's lock: the constructor and
``resolve()`` read the install and the body and raise ``ApiFault`` with every problem found;
only ``apply()`` changes anything, and it cannot fail.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from spsync.sandbox import checks as ck
from spsync.sandbox.constants import (
    EXAM_TYPES,
    NEEDS_PROCTOR,
    PERMITTED_ITEMS,
    PROCTOR_OPTIONS,
    PROCTOR_TYPES,
    REASON_REMOVED,
    ROLES,
)
from spsync.sandbox.entities import Course, Enrollment, Exam, Install, User
from spsync.sandbox.errors import Problems, not_found
from spsync.sandbox.timefmt import format_utc

if TYPE_CHECKING:
    from spsync.sandbox.world import World

FOUND = "Found Existing"
CREATED = "Created"
UPDATED = "Updated"

_TOP_KEYS = ("course", "exam", "user", "enrollment", "signon")
_COURSE_KEYS = ("ids", "title", "code")
_EXAM_KEYS = ("ids", "title", "description", "type", "limitedScope", "configuration")
_CONFIG_KEYS = (
    "url",
    "access",
    "scheduling",
    "duration",
    "password",
    "attempts",
    "proctorTypes",
    "notes",
    "permittedItems",
)
_USER_KEYS = ("ids", "firstName", "lastName", "email", "timeZone", "currencyCode")
_ID_KINDS = ("sid", "api", "external", "lms")
_EXAM_ID_KINDS = ("sid", "external")


def _given(d: dict[str, Any], key: str) -> bool:
    return d.get(key) is not None


def parse_ids(
    p: Problems, raw: Any, path: str, kinds: tuple[str, ...], prefix: str
) -> tuple[str, str] | None:
    """``ids`` must hold exactly one of ``kinds``; returns ``(kind, value)``."""
    if raw is None:
        p.add(path, "required")
        return None
    if not isinstance(raw, dict):
        p.add(path, f"must be an object holding exactly one of: {', '.join(kinds)}")
        return None
    bad = False
    for key in raw:
        if key not in _ID_KINDS:
            p.add(f"{path}.{key}", "unknown identifier type")
            bad = True
        elif key not in kinds:
            p.add(f"{path}.{key}", f"not accepted here: use one of {', '.join(kinds)}")
            bad = True
    present = [(k, v) for k, v in raw.items() if k in kinds and v is not None]
    if bad:
        return None
    if len(present) != 1:
        p.add(path, f"must hold exactly one of: {', '.join(kinds)}")
        return None
    kind, value = present[0]
    where = f"{path}.{kind}"
    if kind == "sid":
        return (kind, value) if ck.sid(p, value, where, prefix) is not None else None
    if ck.text(p, value, where, max_len=1000) is None:
        return None
    return kind, value


def parse_configuration(p: Problems, raw: Any, path: str, inst: Install) -> dict[str, Any] | None:
    """The exam configuration in canonical form (times as ``…Z``, ``attempts`` defaulted)."""
    c = ck.obj(p, raw, path, _CONFIG_KEYS)
    if c is None:
        return None
    before = len(p.items)
    out: dict[str, Any] = {}

    def need(key: str) -> bool:
        if _given(c, key):
            return True
        p.add(f"{path}.{key}", "required")
        return False

    if need("url"):
        out["url"] = ck.url(p, c["url"], f"{path}.url")
    access_open = access_close = None
    if need("access"):
        a = ck.obj(p, c["access"], f"{path}.access", ("open", "close"))
        if a is not None:
            for k in ("open", "close"):
                if not _given(a, k):
                    p.add(f"{path}.access.{k}", "required")
            if _given(a, "open"):
                access_open = ck.utc_time(p, a["open"], f"{path}.access.open")
            if _given(a, "close"):
                access_close = ck.utc_time(p, a["close"], f"{path}.access.close")
            if access_open and access_close:
                if access_open >= access_close:
                    p.add(f"{path}.access.close", "must be after access.open")
                out["access"] = {"open": format_utc(access_open), "close": format_utc(access_close)}
    if _given(c, "scheduling"):
        s = ck.obj(p, c["scheduling"], f"{path}.scheduling", ("open", "close"))
        if s is not None:
            sched: dict[str, str] = {}
            s_open = s_close = None
            if _given(s, "open"):
                s_open = ck.utc_time(p, s["open"], f"{path}.scheduling.open")
                if s_open:
                    sched["open"] = format_utc(s_open)
            if _given(s, "close"):
                s_close = ck.utc_time(p, s["close"], f"{path}.scheduling.close")
                if s_close:
                    sched["close"] = format_utc(s_close)
            effective_close = s_close or access_close
            if s_open and effective_close and s_open >= effective_close:
                which = "scheduling.close" if s_close else "access.close"
                p.add(f"{path}.scheduling.open", f"must be before {which}")
            if sched:
                out["scheduling"] = sched
    if need("duration"):
        out["duration"] = ck.positive_int(p, c["duration"], f"{path}.duration")
    if need("password"):
        out["password"] = ck.text(p, c["password"], f"{path}.password", max_len=1000)
    out["attempts"] = 1
    if _given(c, "attempts"):
        out["attempts"] = ck.positive_int(p, c["attempts"], f"{path}.attempts")
    if need("proctorTypes"):
        out["proctorTypes"] = _proctor_types(p, c["proctorTypes"], f"{path}.proctorTypes", inst)
    if _given(c, "notes"):
        n = ck.obj(p, c["notes"], f"{path}.notes", ("student", "proctor"))
        if n is not None:
            notes = {}
            for k in ("student", "proctor"):
                if _given(n, k):
                    notes[k] = ck.free_text(p, n[k], f"{path}.notes.{k}")
            out["notes"] = notes
    if _given(c, "permittedItems"):
        items = ck.obj(p, c["permittedItems"], f"{path}.permittedItems", PERMITTED_ITEMS)
        if items is not None:
            canon: dict[str, Any] = {}
            for key, value in items.items():
                where = f"{path}.permittedItems.{key}"
                if key not in PERMITTED_ITEMS:
                    continue
                v = ck.obj(p, value, where, ("notes",))
                if v is None:
                    continue
                entry: dict[str, Any] = {}
                if _given(v, "notes"):
                    entry["notes"] = ck.free_text(p, v["notes"], f"{where}.notes")
                canon[key] = entry
            out["permittedItems"] = canon
    return out if len(p.items) == before else None


def _proctor_types(p: Problems, raw: Any, path: str, inst: Install) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        p.add(path, "must be an object keyed by proctor type SIDs (TS…)")
        return None
    if not raw:
        p.add(path, "must name at least one proctor type")
        return None
    out: dict[str, Any] = {}
    for ts, value in raw.items():
        where = f"{path}.{ts}"
        if ck.sid(p, ts, where, "TS") is None:
            continue
        if ts not in PROCTOR_TYPES:
            p.add(where, "unknown proctor type")
            continue
        if ts not in inst.enabled_proctor_types:
            p.add(where, f"proctor type {PROCTOR_TYPES[ts]} is not enabled for this install")
            continue
        v = ck.obj(p, value, where, ("options",))
        if v is None:
            continue
        entry: dict[str, Any] = {}
        if "options" in v:
            opts = ck.obj(p, v["options"], f"{where}.options", PROCTOR_OPTIONS)
            if opts is None:
                continue
            canon = {}
            for name, setting in opts.items():
                if name not in PROCTOR_OPTIONS:
                    continue
                if not isinstance(setting, dict):
                    p.add(f"{where}.options.{name}", "must be an object (e.g. {})")
                    continue
                canon[name] = _copy(setting)
            entry["options"] = canon
        out[ts] = entry
    return out


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


class ProvisionPlan:
    """One provision request: parsed and matched by ``__init__``/``resolve``, done by ``apply``."""

    def __init__(self, world: World, inst: Install, body: Any) -> None:
        self.world = world
        self.inst = inst
        self.p = p = Problems()
        self.changed = False
        self.course_ids: tuple[str, str] | None = None
        self.course_f: dict[str, Any] = {}
        self.exam_req: dict[str, Any] | None = None
        self.exam_ids: tuple[str, str] | None = None
        self.exam_f: dict[str, Any] = {}
        self.config: dict[str, Any] | None = None
        self.config_sent = False
        self.user_req: dict[str, Any] | None = None
        self.user_ids: tuple[str, str] | None = None
        self.user_f: dict[str, Any] = {}
        self.enrollment_sent = False
        self.role: str | None = None
        self.signon: str | None = None

        b = ck.obj(p, body, "", _TOP_KEYS)
        if b is None:
            return
        if not _given(b, "course"):
            p.add("course", "required")
        else:
            c = ck.obj(p, b["course"], "course", _COURSE_KEYS)
            if c is not None:
                self.course_ids = parse_ids(p, c.get("ids"), "course.ids", _ID_KINDS, "CU")
                for key in ("title", "code"):
                    if _given(c, key):
                        self.course_f[key] = ck.text(p, c[key], f"course.{key}", max_len=1000)
        if _given(b, "exam"):
            e = ck.obj(p, b["exam"], "exam", _EXAM_KEYS)
            if e is not None:
                self.exam_req = e
                self.exam_ids = parse_ids(p, e.get("ids"), "exam.ids", _EXAM_ID_KINDS, "EX")
                if _given(e, "title"):
                    self.exam_f["title"] = ck.text(p, e["title"], "exam.title", max_len=1000)
                if _given(e, "description"):
                    self.exam_f["description"] = ck.free_text(
                        p, e["description"], "exam.description"
                    )
                if _given(e, "type"):
                    self.exam_f["type"] = ck.enum(p, e["type"], "exam.type", EXAM_TYPES)
                if _given(e, "limitedScope"):
                    self.exam_f["limitedScope"] = ck.boolean(
                        p, e["limitedScope"], "exam.limitedScope"
                    )
                if _given(e, "configuration"):
                    self.config_sent = True
                    self.config = parse_configuration(
                        p, e["configuration"], "exam.configuration", inst
                    )
        if _given(b, "user"):
            u = ck.obj(p, b["user"], "user", _USER_KEYS)
            if u is not None:
                self.user_req = u
                self.user_ids = parse_ids(p, u.get("ids"), "user.ids", _ID_KINDS, "US")
                for key in ("firstName", "lastName"):
                    if _given(u, key):
                        self.user_f[key] = ck.text(p, u[key], f"user.{key}", max_len=1000)
                if _given(u, "email"):
                    self.user_f["email"] = ck.email(p, u["email"], "user.email")
                if _given(u, "timeZone"):
                    self.user_f["timeZone"] = ck.timezone(p, u["timeZone"], "user.timeZone")
                if _given(u, "currencyCode"):
                    self.user_f["currencyCode"] = ck.currency(
                        p, u["currencyCode"], "user.currencyCode"
                    )
        if _given(b, "enrollment"):
            self.enrollment_sent = True
            en = ck.obj(p, b["enrollment"], "enrollment", ("role",))
            if not _given(b, "user"):
                p.add("enrollment", "needs a user: an enrollment links the user to the course")
            if en is not None and _given(en, "role"):
                self.role = ck.enum(p, en["role"], "enrollment.role", ROLES)
        if _given(b, "signon"):
            s = ck.obj(p, b["signon"], "signon", ("integrationSid",))
            if s is not None:
                if _given(s, "integrationSid"):
                    self.signon = ck.sid(p, s["integrationSid"], "signon.integrationSid", "II")
                else:
                    p.add("signon.integrationSid", "required")

    # ------------------------------------------------------------------ matching
    def resolve(self) -> None:
        """Match every entity; raise 400 (all problems) or 404 before anything changes."""
        p, inst = self.p, self.inst
        missing: list[str] = []
        self.course: Course | None = None
        self.exam: Exam | None = None
        self.user: User | None = None
        if self.course_ids is not None:
            kind, value = self.course_ids
            if kind == "sid":
                self.course = inst.courses.get(value)
                if self.course is None:
                    missing.append(f"course {value} not found")
            else:
                sid = inst.course_by_id.get((kind, value))
                self.course = inst.courses[sid] if sid else None
            if self.course is None and kind != "sid":
                for key in ("title", "code"):
                    if key not in self.course_f:
                        p.add(f"course.{key}", "required when creating a course")
        if self.exam_ids is not None:
            kind, value = self.exam_ids
            if kind == "sid":
                self.exam = inst.exams.get(value)
                if self.exam is None:
                    missing.append(f"exam {value} not found")
                elif (self.course is not None and self.exam.course_sid != self.course.sid) or (
                    self.course is None and self.course_ids and self.course_ids[0] != "sid"
                ):
                    p.add("exam.ids.sid", f"exam {value} belongs to another course")
            elif self.course is not None:
                sid = inst.exam_by_ext.get((self.course.sid, value))
                self.exam = inst.exams[sid] if sid else None
            if self.exam is None and kind != "sid":
                if "title" not in self.exam_f:
                    p.add("exam.title", "required when creating an exam")
                if not self.config_sent:
                    p.add("exam.configuration", "required when creating an exam")
        if self.user_ids is not None:
            kind, value = self.user_ids
            if kind == "sid":
                self.user = inst.users.get(value)
                if self.user is None:
                    missing.append(f"user {value} not found")
            else:
                sid = inst.user_by_id.get((kind, value))
                self.user = inst.users[sid] if sid else None
            if self.user is None and kind != "sid":
                for key in ("firstName", "lastName", "email"):
                    if key not in self.user_f:
                        p.add(f"user.{key}", "required when creating a user")
        p.raise_if_any()
        if missing:
            raise not_found(missing[0])

    # ------------------------------------------------------------------ effects
    def apply(self, now: datetime) -> dict[str, Any]:
        """Create or update what was matched; returns the response body."""
        w, inst = self.world, self.inst
        out: dict[str, Any] = {}
        assert self.course_ids is not None
        # Course.
        course = self.course
        if course is None:
            kind, value = self.course_ids
            course = Course(
                w._new_sid(inst, "CU"),
                self.course_f["title"],
                self.course_f["code"],
                {kind: value},
                now,
                now,
            )
            inst.add_course(course)
            out["course"] = {"sid": course.sid, "result": CREATED}
        else:
            updated = False
            for key in ("title", "code"):
                if key in self.course_f and getattr(course, key) != self.course_f[key]:
                    setattr(course, key, self.course_f[key])
                    updated = True
            if updated:
                course.edited = now
            out["course"] = {"sid": course.sid, "result": UPDATED if updated else FOUND}
        # Exam and its primary configuration.
        exam = self.exam
        rescope = False
        if self.exam_ids is not None:
            if exam is None:
                kind, value = self.exam_ids
                assert self.config is not None
                exam = Exam(
                    sid=w._new_sid(inst, "EX"),
                    course_sid=course.sid,
                    title=self.exam_f["title"],
                    description=self.exam_f.get("description"),
                    type=self.exam_f.get("type", "online"),
                    limited_scope=self.exam_f.get("limitedScope", False),
                    ids={kind: value},
                    config_sid=w._new_sid(inst, "EC"),
                    config=self.config,
                    created=now,
                    edited=now,
                )
                inst.add_exam(exam)
                rescope = True
                out["exam"] = {"sid": exam.sid, "result": CREATED}
                out["configuration"] = {"sid": exam.config_sid, "result": CREATED}
            else:
                updated = False
                attrs = {
                    "title": "title",
                    "description": "description",
                    "type": "type",
                    "limitedScope": "limited_scope",
                }
                for key, attr in attrs.items():
                    if key in self.exam_f and getattr(exam, attr) != self.exam_f[key]:
                        setattr(exam, attr, self.exam_f[key])
                        updated = True
                        rescope = rescope or key == "limitedScope"
                if updated:
                    exam.edited = now
                out["exam"] = {"sid": exam.sid, "result": UPDATED if updated else FOUND}
                if self.config_sent:
                    assert self.config is not None
                    if self.config != exam.config:
                        exam.config = self.config
                        exam.edited = now
                        # Sessions not yet booked follow the exam's duration.
                        for s in inst.sessions.values():
                            if s.exam_sid == exam.sid and s.status == NEEDS_PROCTOR:
                                s.duration = self.config["duration"]
                        out["configuration"] = {"sid": exam.config_sid, "result": UPDATED}
                    else:
                        out["configuration"] = {"sid": exam.config_sid, "result": FOUND}
        # User.
        user = self.user
        user_created = False
        if self.user_ids is not None:
            if user is None:
                kind, value = self.user_ids
                user = User(
                    w._new_sid(inst, "US"),
                    self.user_f["firstName"],
                    self.user_f["lastName"],
                    self.user_f["email"],
                    self.user_f.get("timeZone", inst.default_timezone),
                    self.user_f.get("currencyCode", inst.default_currency),
                    {kind: value},
                    now,
                    now,
                )
                inst.add_user(user)
                user_created = True
                out["user"] = {"sid": user.sid, "result": CREATED}
            else:
                updated = False
                attrs = {
                    "firstName": "first_name",
                    "lastName": "last_name",
                    "email": "email",
                    "timeZone": "time_zone",
                    "currencyCode": "currency_code",
                }
                for key, attr in attrs.items():
                    if key in self.user_f and getattr(user, attr) != self.user_f[key]:
                        setattr(user, attr, self.user_f[key])
                        updated = True
                if updated:
                    user.edited = now
                out["user"] = {"sid": user.sid, "result": UPDATED if updated else FOUND}
        # Enrollment: asked for, or implied (as a learner) for a newly created user.
        enrollment: Enrollment | None = None
        enrollment_touched = False
        if user is not None and (self.enrollment_sent or user_created):
            en_sid = inst.enrollment_by_pair.get((user.sid, course.sid))
            if en_sid is None:
                enrollment = Enrollment(
                    w._new_sid(inst, "EN"),
                    user.sid,
                    course.sid,
                    self.role or "learner",
                    "active",
                    now,
                    now,
                )
                inst.add_enrollment(enrollment)
                enrollment_touched = True
                result = CREATED
            else:
                enrollment = inst.enrollments[en_sid]
                result = FOUND
                if self.role is not None and enrollment.role != self.role:
                    enrollment.role = self.role
                    enrollment.edited = now
                    if self.role != "learner":
                        # An instructor takes no exams: drop it from every assignment list.
                        for ex_sid in inst.exams_by_course.get(course.sid, []):
                            inst.exams[ex_sid].assigned.pop(enrollment.sid, None)
                    enrollment_touched = True
                    result = UPDATED
            if self.enrollment_sent:
                out["enrollment"] = {"sid": enrollment.sid, "result": result}
        # Sessions follow scope (§4: unlimited exams give every learner a session).
        if exam is not None and rescope:
            w._reconcile_exam(inst, exam, now, REASON_REMOVED)
        if enrollment is not None and enrollment_touched:
            w._reconcile_enrollment(inst, enrollment, now)
        if self.signon is not None:
            token = w._sids.hex32()
            out["signon"] = {
                "redirect": f"https://signon.smarterproctoring.com/sso/{self.signon}?token={token}",
                "token": token,
            }
        self.changed = any(
            v.get("result") in (CREATED, UPDATED) for k, v in out.items() if k != "signon"
        ) or (enrollment_touched and not self.enrollment_sent)
        return out


__all__ = ["ProvisionPlan", "parse_configuration", "parse_ids"]
