"""Compare the simulator's world (``GET /_sandbox/world``) with what the manifests ask for.

Used by the apply tests to show that after an apply the remote side is *exactly* the
manifests: every managed field equal, the assignment list of every limited exam equal to
the manifests' assignments, one Scheduled session per desired session and no other, and
at most one active session per enrollment and exam (no double booking).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from spsync.model import Desired, Ids

ACTIVE = ("Needs Proctor", "Scheduled")


def _install(world: dict[str, Any], sid: str) -> dict[str, Any] | None:
    return next((i for i in world["installs"] if i["sid"] == sid), None)


def _match(items: list[dict[str, Any]], ids: Ids, extra: dict[str, Any] | None = None) -> list:
    out = []
    for x in items:
        if extra and any(x.get(k) != v for k, v in extra.items()):
            continue
        if ids.kind == "sid":
            if x["sid"] == ids.sid:
                out.append(x)
        elif x.get("ids", {}).get(ids.kind) == ids.value:
            out.append(x)
    return out


def _norm_types(pts: dict[str, Any] | None) -> dict[str, Any]:
    return {k: (v or {}).get("options") or {} for k, v in (pts or {}).items()}


def _norm_items(items: dict[str, Any] | None) -> dict[str, Any]:
    return {k: (v or {}).get("notes") for k, v in (items or {}).items()}


def active_duplicates(world: dict[str, Any]) -> list[str]:
    """(enrollment, exam) pairs with more than one active session, in every install."""
    bad = []
    for inst in world["installs"]:
        pairs = Counter(
            (s["enrollmentSid"], s["examSid"]) for s in inst["sessions"] if s["status"] in ACTIVE
        )
        bad += [f"{inst['sid']}: {p} has {n} active sessions" for p, n in pairs.items() if n > 1]
    return bad


def world_mismatches(world: dict[str, Any], desired: Desired, *, exact: bool = True) -> list[str]:
    """Every difference between the world and ``desired`` (empty: they match).

    ``exact``: the install must hold nothing but the manifests' courses, exams, users and
    enrollments (true for a world only spsync has written to, with nothing removed).
    """
    inst = _install(world, desired.tenant.install)
    if inst is None:
        return [f"install {desired.tenant.install} is not in the world"]
    bad: list[str] = []

    course_sid: dict[str, str] = {}
    for addr, c in desired.courses.items():
        found = _match(inst["courses"], c.ids)
        if len(found) != 1:
            bad.append(f"{addr}: {len(found)} courses with ids {c.ids.wire()}")
            continue
        x = found[0]
        course_sid[c.name] = x["sid"]
        for f in ("title", "code"):
            want = getattr(c, f)
            if want is not None and x[f] != want:
                bad.append(f"{addr}.{f}: world {x[f]!r} != manifest {want!r}")

    exam_sid: dict[str, str] = {}
    exam_by_sid: dict[str, dict[str, Any]] = {}
    for addr, e in desired.exams.items():
        cs = course_sid.get(e.course)
        found = _match(inst["exams"], e.ids, {"courseSid": cs} if cs else None)
        if len(found) != 1:
            bad.append(f"{addr}: {len(found)} exams with ids {e.ids.wire()}")
            continue
        x = found[0]
        exam_sid[e.name] = x["sid"]
        exam_by_sid[x["sid"]] = x
        for f in ("title", "description", "type", "limitedScope"):
            want = getattr(e, f)
            if want is not None and x[f] != want:
                bad.append(f"{addr}.{f}: world {x[f]!r} != manifest {want!r}")
        cfg, got = e.configuration, x["configuration"]
        if cfg is None:
            continue
        pairs: list[tuple[str, Any, Any]] = [
            ("url", got.get("url"), cfg.url),
            ("access", got.get("access"), cfg.access.model_dump()),
            ("duration", got.get("duration"), cfg.duration),
            ("password", got.get("password"), cfg.password.reveal()),
            ("proctorTypes", _norm_types(got.get("proctorTypes")), _norm_types(
                {k: v.model_dump() for k, v in cfg.proctorTypes.items()}
            )),
        ]  # fmt: skip
        if cfg.scheduling is not None:
            pairs.append(("scheduling", got.get("scheduling"), cfg.scheduling.model_dump()))
        if cfg.attempts is not None:
            pairs.append(("attempts", got.get("attempts"), cfg.attempts))
        if cfg.notes is not None:
            g_notes = got.get("notes") or {}
            for k in ("student", "proctor"):
                if getattr(cfg.notes, k) is not None:
                    pairs.append((f"notes.{k}", g_notes.get(k), getattr(cfg.notes, k)))
        if cfg.permittedItems is not None:
            pairs.append((
                "permittedItems",
                _norm_items(got.get("permittedItems")),
                _norm_items({k: v.model_dump() for k, v in cfg.permittedItems.items()}),
            ))  # fmt: skip
        for name, have, want in pairs:
            if have != want:
                shown = "(hidden)" if name == "password" else f"{have!r} != manifest {want!r}"
                bad.append(f"{addr}.configuration.{name}: world {shown}")

    user_sid: dict[str, str] = {}
    for addr, u in desired.users.items():
        found = _match(inst["users"], u.ids)
        if len(found) != 1:
            bad.append(f"{addr}: {len(found)} users with ids {u.ids.wire()}")
            continue
        x = found[0]
        user_sid[u.name] = x["sid"]
        for f in ("firstName", "lastName", "email", "timeZone", "currencyCode"):
            want = getattr(u, f)
            if want is not None and x[f] != want:
                bad.append(f"{addr}.{f}: world {x[f]!r} != manifest {want!r}")

    enr_sid: dict[tuple[str, str], str] = {}
    by_pair = {(x["userSid"], x["courseSid"]): x for x in inst["enrollments"]}
    for addr, en in desired.enrollments.items():
        us, cs = user_sid.get(en.user), course_sid.get(en.course)
        if us is None or cs is None:
            continue
        x = by_pair.get((us, cs))
        if x is None:
            bad.append(f"{addr}: no enrollment in the world")
            continue
        enr_sid[(en.course, en.user)] = x["sid"]
        if x["role"] != en.role:
            bad.append(f"{addr}.role: world {x['role']!r} != manifest {en.role!r}")

    for name, e in ((e.name, e) for e in desired.exams.values()):
        sid = exam_sid.get(name)
        if sid is None or not e.limited:
            continue
        want = {
            enr_sid.get((e.course, a.user), f"?{a.user}")
            for a in desired.assignments.values()
            if a.exam == name
        }
        have = set(exam_by_sid[sid].get("assigned", []))
        if have != want:
            bad.append(
                f"exam.{name}: assigned {len(have)} enrollments, manifests {len(want)} "
                f"(extra {sorted(have - want)[:3]}, missing {sorted(want - have)[:3]})"
            )

    scheduled_wanted: set[str] = set()
    for addr, s in desired.sessions.items():
        e = desired.exams[f"exam.{s.exam}"]
        es, en = exam_sid.get(s.exam), enr_sid.get((e.course, s.user))
        if es is None or en is None:
            bad.append(f"{addr}: its exam or enrollment is missing")
            continue
        active = [
            x
            for x in inst["sessions"]
            if x["examSid"] == es and x["enrollmentSid"] == en and x["status"] in ACTIVE
        ]
        if len(active) != 1 or active[0]["status"] != "Scheduled":
            bad.append(f"{addr}: active sessions {[x['status'] for x in active]}")
            continue
        x = active[0]
        scheduled_wanted.add(x["sid"])
        checks = {
            "appointmentDate": s.appointment,
            "sessionType": s.type,
            "proctorLocationSid": s.proctorLocation,
        }
        if s.amount is not None:
            checks["amount"] = s.amount
        if s.currency is not None:
            checks["currency"] = s.currency
        if s.externalAppointmentId is not None:
            checks["externalAppointmentId"] = s.externalAppointmentId
        if s.notes is not None:
            checks["notes"] = s.notes
        for f, want in checks.items():
            if x[f] != want:
                bad.append(f"{addr}.{f}: world {x[f]!r} != manifest {want!r}")

    managed_exams = set(exam_sid.values())
    extra = [
        x["sid"]
        for x in inst["sessions"]
        if x["status"] == "Scheduled"
        and x["examSid"] in managed_exams
        and x["sid"] not in scheduled_wanted
    ]
    if extra:
        bad.append(f"{len(extra)} Scheduled sessions the manifests do not have: {extra[:3]}")
    bad += active_duplicates(world)

    if exact:
        for kind, want_n in (
            ("courses", len(desired.courses)),
            ("exams", len(desired.exams)),
            ("users", len(desired.users)),
            ("enrollments", len(desired.enrollments)),
        ):
            if len(inst[kind]) != want_n:
                bad.append(f"the world has {len(inst[kind])} {kind}, the manifests {want_n}")
    return bad
