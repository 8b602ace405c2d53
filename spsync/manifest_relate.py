"""How a tenant's resources relate to each other, checked once every file is read: names
unique across files, references (with did-you-means), what creating a resource needs,
defaults, session windows, duplicates and conflicts, and the implied entries (a session
implies its assignment, an assignment a learner enrollment).

Part of ``manifest.load()``; PURE: the entries were read already, every problem is located
at the entry that has it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from spsync.errors import Problem
from spsync.schema_spec import Ctx
from spsync.suggest import Suggester, Vocab
from spsync.yamlload import Map, Node, Scalar

#: fields a resource must carry when it is not identified by ``ids.sid`` (spsync may create it)
REQUIRED_TO_CREATE = {
    "course": ("title", "code"),
    "exam": ("title", "configuration"),
    "user": ("firstName", "lastName", "email"),
}


@dataclass(slots=True)
class Named:
    """A course, exam or user as declared."""

    kind: str
    name: str
    cx: Ctx
    key: Scalar
    node: Node
    values: dict[str, Any] | None
    where: str


@dataclass(slots=True)
class Item:
    """An enrollment or session list entry, or one user of an assignments list."""

    cx: Ctx
    node: Node
    where: str
    values: dict[str, Any]


@dataclass
class Pending:
    """Implied or explicit pair, with the entry that declared or implied it."""

    cx: Ctx
    node: Node
    implied: bool


@dataclass(kw_only=True)
class Relations:
    """The entries of one tenant as declared, and what relating them finds."""

    suggest: Suggester
    named: dict[str, dict[str, Named]] = field(
        default_factory=lambda: {"course": {}, "exam": {}, "user": {}}
    )
    enrollments: list[Item] = field(default_factory=list)
    assignments: list[Item] = field(default_factory=list)
    #: each exam key of an assignments section (checked once, however many users it lists)
    assignment_exams: list[tuple[str, Scalar, Ctx]] = field(default_factory=list)
    sessions: list[Item] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: (kind, name) offered as a did-you-mean: that name's own problems would only echo the typo
    suggested: set[tuple[str, str]] = field(default_factory=set)
    # what relating finds, keyed by name pairs: (course, user), (exam, user)
    enrolled: dict[tuple[str, str], tuple[Item, str]] = field(default_factory=dict)
    assigned: dict[tuple[str, str], Pending] = field(default_factory=dict)
    scheduled: dict[tuple[str, str], Item] = field(default_factory=dict)
    implied_enrollments: dict[tuple[str, str], Pending] = field(default_factory=dict)
    addresses: dict[str, tuple[str, str]] = field(default_factory=dict)
    vocabs: dict[str, Vocab] = field(default_factory=dict)

    def relate(self, defaults: dict[str, Any]) -> None:
        """Every check between resources (problems go to ``problems``), in an order where
        each finds what the ones before it found: defaults first, implied entries last."""
        self._check_named(defaults)
        self._check_enrollments()
        self._check_assignments()
        self._check_sessions(defaults.get("session", {}))
        self._imply_enrollments()
        self._check_unenrolled_users()

    def _vocab(self, kind: str) -> Vocab:
        """The names of a kind, for did-you-means (built once: all files are read by now)."""
        vocab = self.vocabs.get(kind)
        if vocab is None:
            vocab = self.vocabs[kind] = Vocab(self.named[kind])
        return vocab

    def _ref(self, kind: str, item: Item, key: str) -> str | None:
        """The name ``item`` refers to under ``key`` if it is defined; else report it.

        An assignment's user is the list item itself; other references are fields."""
        name = item.values.get(key)
        if name is None:
            return None
        if name in self.named[kind]:
            return str(name)
        if isinstance(item.node, Map):
            node, where = _child(item.node, key), f"{item.where}.{key}"
        else:
            node, where = item.node, item.where
        best = self.suggest.best(name, self._vocab(kind))
        if best is None:
            item.cx.add(node, where, f'{kind} "{name}" is not defined')
        else:
            item.cx.add(node, where, f'{kind} "{name}" is not defined; did you mean "{best}"?')
            self.suggested.add((kind, best))
        return None

    def _check_named(self, defaults: dict[str, dict[str, Any]]) -> None:
        """Courses, exams, users: defaults, what creating them needs, an exam's course."""
        courses = self.named["course"]
        for kind, registry in self.named.items():
            kind_defaults = defaults.get(kind, {})
            for entry in registry.values():
                values = entry.values
                if values is None:
                    continue
                node = entry.node
                assert isinstance(node, Map)
                ids = values.get("ids")
                # a reference by sid to an existing object: only what it writes is managed
                if ids is None or "sid" not in ids:
                    for key, value in kind_defaults.items():
                        if key not in node.items:
                            values[key] = value
                if ids is not None and "sid" not in ids:
                    missing = [k for k in REQUIRED_TO_CREATE[kind] if not entry.cx.given(node, k)]
                    if missing:
                        entry.cx.add(
                            entry.key,
                            entry.where,
                            f"missing {_and(missing)}: required to create a {kind} that is "
                            "not identified by ids.sid",
                        )
                course = values.get("course")
                if kind == "exam" and course is not None and course not in courses:
                    hint = self.suggest(course, self._vocab("course"))
                    entry.cx.add(
                        node.items["course"][1],
                        f"{entry.where}.course",
                        f'course "{course}" is not defined{hint}',
                    )

    def _claim(self, address: str, pair: tuple[str, str], cx: Ctx, node: Node) -> bool:
        """Take an address for a pair of names. Names may contain dots, so two different
        pairs can spell the same address: the second one is an error."""
        prior = self.addresses.setdefault(address, pair)
        if prior != pair:
            kind = address.split(".", 1)[0]
            cx.add(
                node,
                address,
                f"this address also names the {kind} of {prior[0]} and {prior[1]}: "
                "rename one of them (names containing dots can collide)",
            )
            return False
        return True

    def _check_enrollments(self) -> None:
        for item in self.enrollments:
            user = self._ref("user", item, "user")
            course = self._ref("course", item, "course")
            if user is None or course is None:
                continue
            # None: the role was given but invalid (already reported)
            role = item.values.get("role", None if "role" in _keys(item.node) else "learner")
            pair = (course, user)
            address = f"enrollment.{course}.{user}"
            prior = self.enrolled.get(pair)
            if prior is not None:
                first, first_role = prior
                at = written_at(first.cx, first.node, item.cx)
                if role is not None and first_role and role != first_role:
                    message = (
                        f'user "{user}" is enrolled in course "{course}" twice with different '
                        f"roles: {first_role} at {at} and {role} here"
                    )
                else:
                    message = f'user "{user}" is already enrolled in course "{course}" (at {at})'
                item.cx.add(item.node, address, message)
            elif self._claim(address, pair, item.cx, item.node):
                self.enrolled[pair] = (item, role or "")

    def _check_assignments(self) -> None:
        exams = self.named["exam"]
        for exam, knode, cx in self.assignment_exams:
            if exam not in exams:
                hint = self.suggest(exam, self._vocab("exam"))
                cx.add(knode, f"assignments.{exam}", f'exam "{exam}" is not defined{hint}')
        for item in self.assignments:
            exam = item.values["exam"]
            user = self._ref("user", item, "user")
            if exam not in exams or user is None:
                continue
            pair = (exam, user)
            address = f"assignment.{exam}.{user}"
            prior = self.assigned.get(pair)
            if prior is not None:
                item.cx.add(
                    item.node,
                    address,
                    f'user "{user}" is already assigned to exam "{exam}" '
                    f"(at {written_at(prior.cx, prior.node, item.cx)})",
                )
            elif self._claim(address, pair, item.cx, item.node):
                self.assigned[pair] = Pending(item.cx, item.node, implied=False)

    def _check_sessions(self, defaults: dict[str, Any]) -> None:
        """Defaults, required fields, references, duplicates, windows; implied assignments."""
        for item in self.sessions:
            values = item.values
            node = item.node
            assert isinstance(node, Map)
            for key, value in defaults.items():
                if key not in node.items:
                    values[key] = value
            for key in ("type", "proctorLocation"):
                if key not in values and not item.cx.given(node, key):
                    item.cx.add(
                        node,
                        item.where,
                        f'missing required field "{key}" (or set defaults.session.{key} '
                        "in tenant.yaml)",
                    )
            exam = self._ref("exam", item, "exam")
            user = self._ref("user", item, "user")
            if exam is None or user is None:
                continue
            pair = (exam, user)
            address = f"session.{exam}.{user}"
            prior = self.scheduled.get(pair)
            if prior is not None:
                item.cx.add(
                    node,
                    address,
                    f'a second session for exam "{exam}" and user "{user}" '
                    f"(first at {written_at(prior.cx, prior.node, item.cx)}); "
                    "a user has at most one session per exam",
                )
                continue
            if not self._claim(address, pair, item.cx, node):
                continue
            self.scheduled[pair] = item
            self._check_session_times(item, self.named["exam"][exam])
            if pair not in self.assigned:
                self.assigned[pair] = Pending(item.cx, node, implied=True)
                self._claim(f"assignment.{exam}.{user}", pair, item.cx, node)

    def _imply_enrollments(self) -> None:
        """Each assignment needs a learner enrollment in its exam's course."""
        courses, exams = self.named["course"], self.named["exam"]
        for (exam, user), pending in self.assigned.items():
            course = (exams[exam].values or {}).get("course")
            if course is None or course not in courses:
                continue  # reported with the exam
            pair = (course, user)
            explicit = self.enrolled.get(pair)
            if explicit is not None:
                item, role = explicit
                if role == "instructor":
                    what = "session" if pending.implied else "assignment"
                    pending.cx.add(
                        pending.node,
                        f"{what}.{exam}.{user}",
                        f'this {what} needs user "{user}" to be a learner in course "{course}", '
                        f"but they are enrolled as instructor at "
                        f"{written_at(item.cx, item.node, pending.cx)}",
                    )
            elif pair not in self.implied_enrollments and self._claim(
                f"enrollment.{course}.{user}", pair, pending.cx, pending.node
            ):
                self.implied_enrollments[pair] = pending

    def _check_unenrolled_users(self) -> None:
        """A user can only be provisioned together with a course.

        Users named by any enrollment, assignment or session count as enrolled: when that
        entry has a problem of its own (an undefined exam or course), that is the one to
        report. So does a user offered as a did-you-mean (the typo is the problem)."""
        with_course = {u for (_c, u) in self.enrolled} | {u for (_c, u) in self.implied_enrollments}
        for entries in (self.enrollments, self.assignments, self.sessions):
            with_course.update(str(i.values.get("user")) for i in entries)
        for name, entry in self.named["user"].items():
            if name not in with_course and ("user", name) not in self.suggested:
                entry.cx.add(
                    entry.key,
                    entry.where,
                    f'user "{name}" has no enrollment: users are provisioned together with a '
                    "course, so enroll them (enrollments: [{user: "
                    f"{name}, course: COURSE}}]) or assign them to an exam",
                )

    def _check_session_times(self, item: Item, exam: Named) -> None:
        """Appointment inside the exam's windows (the API refuses it otherwise).

        The start must lie in the access window and the scheduling window (when given),
        and start + duration must end by access.close. Only the first violation is
        reported: they all have one fix, moving the appointment."""
        config = (exam.values or {}).get("configuration")
        appointment = item.values.get("appointment")
        if appointment is not None and config:
            start = _dt(appointment)
            access = config.get("access") or {}
            scheduling = config.get("scheduling") or {}
            duration = config.get("duration")
            name = exam.name
            why = ""
            if "open" in access and start < _dt(access["open"]):
                why = f'is before exam "{name}" opens (access.open {access["open"]})'
            elif (
                "close" in access
                and duration is not None
                and start + timedelta(minutes=duration) > _dt(access["close"])
            ):
                why = (
                    f'+ {duration} minutes ends after exam "{name}" closes '
                    f"(access.close {access['close']})"
                )
            elif "open" in scheduling and start < _dt(scheduling["open"]):
                why = (
                    f'is before the scheduling window of exam "{name}" opens '
                    f"(scheduling.open {scheduling['open']})"
                )
            elif "close" in scheduling and start > _dt(scheduling["close"]):
                why = (
                    f'is after the scheduling window of exam "{name}" closes '
                    f"(scheduling.close {scheduling['close']})"
                )
            if why:
                item.cx.add(
                    _child(item.node, "appointment"),
                    f"{item.where}.appointment",
                    f"{appointment} {why}",
                )
        sub = item.values.get("proctorTypeSubCategory")
        types = config.get("proctorTypes") if config else None
        if sub is not None and types is not None and sub not in types:
            item.cx.add(
                _child(item.node, "proctorTypeSubCategory"),
                f"{item.where}.proctorTypeSubCategory",
                f'{sub} is not one of the proctorTypes of exam "{exam.name}"',
            )


# --- small helpers -------------------------------------------------------------------------

_DT_CACHE: dict[str, datetime] = {}


def _dt(text: str) -> datetime:
    """A normalised ``…Z`` time as an aware datetime (cached: rosters repeat times)."""
    dt = _DT_CACHE.get(text)
    if dt is None:
        if len(_DT_CACHE) > 100_000:
            _DT_CACHE.clear()
        dt = _DT_CACHE[text] = datetime.fromisoformat(text)
    return dt


def _keys(node: Node) -> dict[str, tuple[Scalar, Node]]:
    return node.items if isinstance(node, Map) else {}


def _child(node: Node, key: str) -> Node:
    """The value node of ``key`` in a mapping node, or the mapping itself."""
    pair = _keys(node).get(key)
    return pair[1] if pair is not None else node


def written_at(cx: Ctx, node: Node, here: Ctx) -> str:
    """Where something else was written, short when it is in the same file."""
    if cx.file == here.file:
        return f"line {node.line}, col {node.col}"
    return f"{cx.file}:{node.line}:{node.col}"


def _and(words: list[str]) -> str:
    quoted = [f'"{w}"' for w in words]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
