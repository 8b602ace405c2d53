"""Live objects -> a tenant directory of manifests and its state (``spsync export``).

Three layers, so that most of it is pure:

- ``read_install`` reads what an install holds for some courses through the client's batch
  readers (one call per course or exam, paged lists; users one GET each, or the paged user
  list past ``USER_LIST_THRESHOLD``): ``Snapshot``;
- ``build`` turns a snapshot into the text of each manifest file and, per address, the SID
  and refs that state keeps (``Export``): no I/O, no clock, deterministic;
- ``state_of`` makes the state from the manifests as ``manifest.load`` read them back, so
  what state records as applied is exactly what the next plan computes from the files.

The API has no list of courses: the courses to export are given by SID (``--course``) or
taken from the tenant's existing state.

Local names are derived from each object's own ids (``external``, then ``api``, then
``lms``; a SID when it has none), made safe for a name; objects whose names would collide
all get a suffix from their SID, so a name never depends on the order of the reads.

What the API does not show is left out of the manifests (not managed) and said in the
files' comments: a session's amount, currency and proctor-type sub-category, the tenant's
signon and policy. Exam passwords are never written: each becomes an ``{env: …}``
reference, and state keeps the keyed fingerprint of the live value.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from spsync.api import wire
from spsync.api.client import Client, gather_all
from spsync.errors import NotFoundError, UsageError
from spsync.fields import applied_fields
from spsync.model import Desired
from spsync.observe import USER_LIST_THRESHOLD
from spsync.observe_sessions import current_session, is_assigned
from spsync.observed import BOOKED_STATUSES
from spsync.sanitize import json_text
from spsync.secrets import Secret, env_prefix
from spsync.state import ResourceState
from spsync.translate import course_fields, exam_fields, session_fields, user_fields

#: the files of an exported tenant, in the order they are written (as manifests/globex)
FILES: tuple[str, ...] = (
    "tenant.yaml",
    "courses.yaml",
    "exams.yaml",
    "users.yaml",
    "enrollments.yaml",
    "assignments.yaml",
    "sessions.yaml",
)

HEADER = "# Exported by `spsync export` from install {install}."


# --- reading ---------------------------------------------------------------------------------


@dataclass
class Snapshot:
    """What an install holds for some courses, as read (wire objects)."""

    courses: list[wire.Course]
    #: course SID -> its exams (full objects, configuration included)
    exams: dict[str, list[wire.Exam]]
    #: course SID -> its enrollments
    enrollments: dict[str, list[wire.Enrollment]]
    users: dict[str, wire.User]
    #: exam SID -> every session of the exam (the appointments report)
    sessions: dict[str, list[wire.Session]]


async def _course(client: Client, sid: str) -> wire.Course:
    try:
        return await client.get_course(sid)
    except NotFoundError:
        raise UsageError(f"course {sid} not found in install {client.install}") from None


async def read_install(
    client: Client, course_sids: Iterable[str], *, user_sids: Iterable[str] = ()
) -> Snapshot:
    """Read the courses ``course_sids`` and everything hanging off them, plus the users
    ``user_sids`` (e.g. the users of an existing state) even when they are enrolled in none.
    Read-only; a course that does not exist is a ``UsageError``."""
    sids = sorted(set(course_sids))
    for sid in sids:
        if not wire.is_sid(sid, "CU"):
            raise UsageError(f"--course {sid!r}: not a course SID (CU + 32 lowercase hex)")
    courses = await gather_all(*(_course(client, s) for s in sids))
    listed = await gather_all(*(client.list_exams(s) for s in sids))
    enrolled = await gather_all(*(client.list_enrollments(s) for s in sids))
    exam_refs = [(c, e.sid) for c, group in zip(sids, listed, strict=True) for e in group]
    full = await gather_all(*(client.get_exam(c, e) for c, e in exam_refs))
    exams: dict[str, list[wire.Exam]] = {s: [] for s in sids}
    for (course_sid, _sid), exam in zip(exam_refs, full, strict=True):
        exams[course_sid].append(exam)
    wanted = {e.userSid for group in enrolled for e in group} | set(user_sids)
    if len(wanted) > USER_LIST_THRESHOLD:
        users = {u.sid: u for u in await client.list_users() if u.sid in wanted}
    else:
        got = await gather_all(*(_maybe_user(client, s) for s in sorted(wanted)))
        users = {u.sid: u for u in got if u is not None}
    exam_sids = [e for _c, e in exam_refs]
    reports = await gather_all(*(client.appointments(exam_sid=e) for e in exam_sids))
    return Snapshot(
        courses=list(courses),
        exams=exams,
        enrollments=dict(zip(sids, enrolled, strict=True)),
        users=users,
        sessions=dict(zip(exam_sids, reports, strict=True)),
    )


async def _maybe_user(client: Client, sid: str) -> wire.User | None:
    try:
        return await client.get_user(sid)
    except NotFoundError:
        return None


# --- names -----------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^a-z0-9_-]+")


def slug(text: str) -> str:
    """``text`` as a local name: lower case, runs of other characters as ``-``."""
    return _UNSAFE.sub("-", text.lower()).strip("-_")


def unique_names(wanted: Mapping[str, str], prefix: str) -> dict[str, str]:
    """SID -> local name, from SID -> preferred name; names that collide (or are empty) all
    get a suffix from their SID (hex digits after the 2-letter prefix)."""
    by_name: dict[str, list[str]] = defaultdict(list)
    for sid, name in wanted.items():
        by_name[name or prefix].append(sid)
    out: dict[str, str] = {}
    for name, sids in by_name.items():
        if len(sids) == 1 and wanted[sids[0]]:
            out[sids[0]] = name
            continue
        for width in (8, 12, 32):
            tails = {sid: sid[2 : 2 + width].lower() for sid in sids}
            if len(set(tails.values())) == len(sids):
                break
        for sid in sids:
            out[sid] = f"{name}-{tails[sid]}"
    taken = Counter(out.values())
    if any(n > 1 for n in taken.values()):  # a suffixed name equal to another's own name
        out = {sid: (f"{n}-{sid[2:]}" if taken[n] > 1 else n) for sid, n in out.items()}
    return out


def preferred_ids(ids: Mapping[str, str | None]) -> tuple[str, str]:
    """``(kind, value)`` of the identifier a manifest uses: external, api, lms, else sid."""
    for kind in ("external", "api", "lms", "sid"):
        value = ids.get(kind)
        if value:
            return kind, value
    raise ValueError("no identifier")


def env_name(tenant: str, exam: str) -> str:
    """The variable an exported exam's password is read from, under the tenant's own prefix
    (the only variables its manifests may read): ``SPSYNC_ACME_CERT_456_PASSWORD``."""
    return env_prefix(tenant) + re.sub(r"[^A-Z0-9]+", "_", f"{exam}_PASSWORD".upper()).strip("_")


# --- YAML text -------------------------------------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z][\w.@/+-]*(?: [\w.@/+()&'-]*[\w.)])*")
_RESERVED = frozenset(["true", "false", "yes", "no", "on", "off", "y", "n", "null", "nan", "inf"])


def scalar(value: Any) -> str:
    """A YAML scalar: plain where that reads back as the same string, else double-quoted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in _RESERVED:
        return text
    # DEL, C1 and bidi characters as \uXXXX escapes: a YAML reader refuses the first two
    # raw, and a bidi override would make the line read otherwise in a pull request
    return json_text(json.dumps(text, ensure_ascii=False))


def flow(value: Any) -> str:
    """``value`` in flow style: ``{a: 1, b: [x, y]}``."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(k)}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    return scalar(value)


def _dropped_none(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


# --- building --------------------------------------------------------------------------------


@dataclass
class Export:
    """What ``build`` makes: file name -> text, and what state needs beyond the manifests."""

    files: dict[str, str]
    #: address -> (SID, refs) of each exported object (assignments: SID None)
    records: dict[str, tuple[str | None, dict[str, str]]]
    #: password variable -> the live password (None: the API did not return it)
    passwords: dict[str, Secret | None]
    counts: dict[str, int]
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Parts:
    """Lines of each resource file, and the records, while building."""

    tenant: str
    records: dict[str, tuple[str | None, dict[str, str]]] = field(default_factory=dict)
    passwords: dict[str, Secret | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _most_common(values: Iterable[Any]) -> Any:
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return None
    best = max(counts.values())
    return min(v for v, n in counts.items() if n == best)


def build(snap: Snapshot, *, tenant: str, install: str, api_url: str, token_env: str) -> Export:
    """The manifest files and state records of ``snap`` (pure)."""
    p = _Parts(tenant)
    course_name = unique_names({c.sid: _preferred_slug(c.ids) for c in snap.courses}, "course")
    all_exams = [e for group in snap.exams.values() for e in group]
    exam_name = unique_names({e.sid: _preferred_slug(e.ids) for e in all_exams}, "exam")
    user_name = unique_names(
        {
            u.sid: _preferred_slug({"external": u.externalId, "api": u.apiId, "lms": u.lmsId})
            for u in snap.users.values()
        },
        "user",
    )
    user_defaults = {
        "timeZone": _most_common(u.timeZone for u in snap.users.values()),
        "currencyCode": _most_common(u.currencyCode for u in snap.users.values()),
    }
    exam_defaults = {
        "type": _most_common(e.type for e in all_exams),
        "limitedScope": _most_common(e.limitedScope for e in all_exams),
    }
    files = {
        "tenant.yaml": _tenant_yaml(
            tenant, install, api_url, token_env, user_defaults, exam_defaults
        ),
        "courses.yaml": _courses_yaml(p, snap, course_name, install),
        "exams.yaml": _exams_yaml(p, snap, course_name, exam_name, exam_defaults, install),
        "users.yaml": _users_yaml(p, snap, user_name, user_defaults, install),
    }
    enroll, assign, sessions = _pairs(p, snap, course_name, exam_name, user_name)
    files["enrollments.yaml"] = enroll
    files["assignments.yaml"] = assign
    files["sessions.yaml"] = sessions
    counts = Counter(a.split(".", 1)[0] for a in p.records)
    return Export(
        files={name: files[name] for name in FILES},
        records=p.records,
        passwords=p.passwords,
        counts=dict(counts),
        warnings=p.warnings,
    )


def _preferred_slug(ids: Any) -> str:
    if ids is None:
        return ""
    data = ids if isinstance(ids, dict) else ids.model_dump()
    data = {k: v for k, v in data.items() if k != "sid"}
    if not any(data.values()):
        return ""
    return slug(preferred_ids(data)[1])


def _ids_of(ids: Any, sid: str, *, exam: bool = False) -> dict[str, str]:
    data = {} if ids is None else (ids if isinstance(ids, dict) else ids.model_dump())
    kinds = ("external",) if exam else ("external", "api", "lms")
    for kind in kinds:
        if data.get(kind):
            return {kind: data[kind]}
    return {"sid": sid}


def _tenant_yaml(
    tenant: str,
    install: str,
    api_url: str,
    token_env: str,
    user_defaults: dict[str, Any],
    exam_defaults: dict[str, Any],
) -> str:
    defaults = {
        "user": _dropped_none(user_defaults),
        "exam": _dropped_none(exam_defaults),
    }
    lines = [
        HEADER.format(install=install),
        "# Not shown by the API, so not exported: the signon integration (add",
        "# `signon: {integrationSid: II…}` if the tenant uses one) and the policy (spsync's own",
        "# defaults below).",
        f"tenant: {scalar(tenant)}",
        f"install: {scalar(install)}",
        "api:",
        f"  url: {scalar(api_url)}",
        f"  token: {{env: {token_env}}}   # not read with --sandbox",
    ]
    kept = {k: v for k, v in defaults.items() if v}
    if kept:
        lines.append("# the most common values; each object states only where it differs")
        lines.append("defaults:")
        lines.extend(f"  {k}: {flow(v)}" for k, v in kept.items())
    lines += ["policy:", "  maxDestroy: 10", "  maxDestroyPercent: 20"]
    return "\n".join(lines) + "\n"


def _courses_yaml(p: _Parts, snap: Snapshot, names: dict[str, str], install: str) -> str:
    lines = [HEADER.format(install=install), "courses:"]
    for c in sorted(snap.courses, key=lambda c: names[c.sid]):
        name = names[c.sid]
        fields = _dropped_none(course_fields(c))
        lines.append(f"  {scalar(name)}:")
        lines.append(f"    ids: {flow(_ids_of(c.ids, c.sid))}")
        lines.extend(f"    {k}: {scalar(v)}" for k, v in fields.items())
        p.records[f"course.{name}"] = (c.sid, {})
    return "\n".join(lines) + "\n"


def _exams_yaml(
    p: _Parts,
    snap: Snapshot,
    course_name: dict[str, str],
    names: dict[str, str],
    defaults: dict[str, Any],
    install: str,
) -> str:
    lines = [
        HEADER.format(install=install),
        "# Passwords are never written: each is read from the variable named here.",
        "exams:",
    ]
    exams = [(c, e) for c, group in snap.exams.items() for e in group]
    for course_sid, e in sorted(exams, key=lambda ce: names[ce[1].sid]):
        name = names[e.sid]
        fields = exam_fields(e)
        lines.append(f"  {scalar(name)}:")
        lines.append(f"    course: {scalar(course_name[course_sid])}")
        lines.append(f"    ids: {flow(_ids_of(e.ids, e.sid, exam=True))}")
        for key in ("title", "description", "type", "limitedScope"):
            value = fields.get(key)
            if value is not None and not (key in defaults and defaults[key] == value):
                lines.append(f"    {key}: {scalar(value)}")
        refs = {"course": e.courseSid or course_sid}
        conf = fields.get("configuration")
        if conf is not None:
            lines.extend(_configuration_lines(p, name, conf, _options_unseen(e)))
            if _options_unseen(e):
                p.warnings.append(
                    f"exam {e.sid}: the API does not return its proctor types' options; "
                    f"written as none: an update of exam.{name} sends them as written, "
                    "replacing the live ones (set them in exams.yaml)"
                )
            if e.configuration is not None and e.configuration.sid:
                refs["configuration"] = e.configuration.sid
        p.records[f"exam.{name}"] = (e.sid, refs)
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _options_unseen(e: wire.Exam) -> bool:
    """Whether the read named the exam's proctor types without their options (the v1
    form): the options are unknown, not none."""
    conf = e.configuration
    return conf is not None and conf.proctorTypes is None and conf.proctorTypeSids is not None


def _configuration_lines(
    p: _Parts, exam: str, conf: dict[str, Any], options_unseen: bool = False
) -> list[str]:
    variable = env_name(p.tenant, exam)
    password = conf.get("password")
    p.passwords[variable] = password if isinstance(password, Secret) else None
    out = ["    configuration:"]
    for key in ("url", "access", "scheduling", "duration"):
        if conf.get(key) is not None:
            out.append(f"      {key}: {flow(conf[key])}")
    note = "" if password is not None else "   # not returned by the API: set it to the live one"
    out.append(f"      password: {{env: {variable}}}{note}")
    if conf.get("attempts") is not None:
        out.append(f"      attempts: {conf['attempts']}")
    unseen = "   # options not returned by the API: written as none" if options_unseen else ""
    out.append(f"      proctorTypes:{unseen}")
    for ts, setting in (conf.get("proctorTypes") or {}).items():
        out.append(f"        {scalar(ts)}: {flow(setting or {})}")
    notes = _dropped_none(conf.get("notes") or {})
    if notes:
        out.append(f"      notes: {flow(notes)}")
    items = conf.get("permittedItems")
    if items:
        out.append("      permittedItems:")
        out.extend(f"        {scalar(k)}: {flow(v or {})}" for k, v in items.items())
    return out


def _users_yaml(
    p: _Parts, snap: Snapshot, names: dict[str, str], defaults: dict[str, Any], install: str
) -> str:
    lines = [HEADER.format(install=install), "users:"]
    for u in sorted(snap.users.values(), key=lambda u: names[u.sid]):
        ids = _ids_of({"external": u.externalId, "api": u.apiId, "lms": u.lmsId}, u.sid)
        body: dict[str, Any] = {"ids": ids}
        for key, value in user_fields(u).items():
            # defaults are not applied to an object given by its SID: it states every field
            if value is not None and ("sid" in ids or defaults.get(key) != value):
                body[key] = value
        lines.append(f"  {scalar(names[u.sid])}: {flow(body)}")
        p.records[f"user.{names[u.sid]}"] = (u.sid, {})
    return "\n".join(lines) + "\n"


def _pairs(
    p: _Parts,
    snap: Snapshot,
    course_name: dict[str, str],
    exam_name: dict[str, str],
    user_name: dict[str, str],
) -> tuple[str, str, str]:
    """enrollments.yaml, assignments.yaml and sessions.yaml."""
    # enrollment SID -> (course SID, user name, role)
    enrollments: dict[str, tuple[str, str, str]] = {}
    for course_sid, group in snap.enrollments.items():
        for en in group:
            if en.userSid not in user_name:
                p.warnings.append(f"enrollment {en.sid}: its user {en.userSid} was not found")
                continue
            enrollments[en.sid] = (course_sid, user_name[en.userSid], en.role or "learner")
            cname, uname = course_name[course_sid], user_name[en.userSid]
            p.records[f"enrollment.{cname}.{uname}"] = (
                en.sid,
                {"course": en.courseSid or course_sid, "user": en.userSid},
            )
    implied: set[str] = set()  # enrollment SIDs implied by an assignment or a session
    assignments: dict[str, list[str]] = defaultdict(list)
    sessions: list[tuple[str, str, dict[str, Any]]] = []
    for course_sid, exams in snap.exams.items():
        for e in sorted(exams, key=lambda e: exam_name[e.sid]):
            per: dict[str, list[wire.Session]] = defaultdict(list)
            for s in snap.sessions.get(e.sid, ()):
                if s.enrollmentSid:
                    per[s.enrollmentSid].append(s)
            for en_sid, group in per.items():
                if en_sid not in enrollments:
                    continue
                _c, user, role = enrollments[en_sid]
                current = current_session(group)
                limited = bool(e.limitedScope)
                if role != "learner" or (limited and not is_assigned(current)):
                    continue
                refs = {"course": course_sid, "exam": e.sid, "enrollment": en_sid}
                name = exam_name[e.sid]
                if current is not None and current.status in BOOKED_STATUSES:
                    fields = _dropped_none(session_fields(current))
                    if "proctorLocation" in fields and "appointment" in fields:
                        sessions.append((name, user, fields))
                        p.records[f"session.{name}.{user}"] = (current.sid, refs)
                    elif not limited:
                        p.warnings.append(f"session {current.sid}: no appointment or location")
                        continue
                    else:
                        # the booking cannot be written, but the assignment it implies is
                        # known: the enrollment is not one "without an exam assigned"
                        p.warnings.append(
                            f"session {current.sid}: no appointment or location; "
                            f"exported as an assignment of {name} to {user}"
                        )
                        assignments[name].append(user)
                elif not limited:
                    continue
                else:
                    assignments[name].append(user)
                implied.add(en_sid)
                if limited:
                    p.records[f"assignment.{name}.{user}"] = (None, refs)
    return (
        _enrollments_text(snap, enrollments, implied, course_name),
        _assignments_text(assignments),
        _sessions_text(sessions),
    )


def _enrollments_text(
    snap: Snapshot,
    enrollments: dict[str, tuple[str, str, str]],
    implied: set[str],
    course_name: dict[str, str],
) -> str:
    lines = [
        "# Instructors, and learners enrolled without an exam assigned or booked",
        "enrollments:",
    ]
    rows = sorted(
        (course_name[c], user, role)
        for sid, (c, user, role) in enrollments.items()
        if sid not in implied
    )
    for course, user, role in rows:
        body = {"user": user, "course": course}
        if role != "learner":
            body["role"] = role
        lines.append(f"  - {flow(body)}")
    if not rows:
        lines[-1] = "enrollments: []"
    return "\n".join(lines) + "\n"


def _assignments_text(assignments: dict[str, list[str]]) -> str:
    lines = [
        "# Assigned, not scheduled (a booked session implies its assignment), and assigned",
        "# with a booking the API does not show whole (not exported)",
        "assignments:",
    ]
    for exam in sorted(assignments):
        lines.append(f"  {scalar(exam)}: {flow(sorted(assignments[exam]))}")
    if not assignments:
        lines[-1] = "assignments: {}"
    return "\n".join(lines) + "\n"


def _sessions_text(sessions: list[tuple[str, str, dict[str, Any]]]) -> str:
    lines = [
        "# Booked sessions. Not shown by the API, so not exported (not managed): amount,",
        "# currency, proctorTypeSubCategory.",
        "sessions:",
    ]
    for exam, user, fields in sorted(sessions, key=lambda t: (t[0], t[1])):
        body = {"exam": exam, "user": user, **fields}
        lines.append(f"  - {flow(body)}")
    if not sessions:
        lines[-1] = "sessions: []"
    return "\n".join(lines) + "\n"


# --- state -----------------------------------------------------------------------------------


def state_resources(
    desired: Desired, ex: Export, key: bytes, *, unknown: Iterable[str] = ()
) -> dict[str, ResourceState]:
    """The state entries of the exported tenant: each address's SID and refs from the export,
    its ``applied`` fields from the manifests as loaded (so the next plan finds nothing to
    change). An assignment of an unlimited exam is not kept (the planner keeps none).
    ``unknown``: password variables whose value neither the API nor the environment gave
    (their fingerprint is left out: the first plan compares the manifest with the live exam)."""
    unknown = set(unknown)
    out: dict[str, ResourceState] = {}
    for address in desired.addresses():
        if address.startswith("assignment."):
            exam = desired.exams[f"exam.{desired.assignments[address].exam}"]
            if not exam.limited:
                continue
        if address not in ex.records:
            raise AssertionError(f"exported manifests declare {address}, which was not read")
        sid, refs = ex.records[address]
        applied = applied_fields(desired, address, key)
        if address.startswith("exam."):
            variable = env_name(desired.tenant.tenant, address.split(".", 1)[1])
            if variable in unknown:
                applied.get("configuration", {}).pop("password", None)
        out[address] = ResourceState(sid=sid, refs=refs, applied=applied)
    return dict(sorted(out.items()))
