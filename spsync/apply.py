"""The executor: runs one tenant's plan against the API and records every success at once.

Execution model
---------------
The plan's changes are grouped into *operations*, each one API round (or a few) that
completes one or more changes:

- ``course.*`` create/update: one provision call (course);
- ``exam.*`` create/update: one provision call (course by SID + exam with configuration);
- ``user.*`` create/update: one provision call; when the plan also creates (or updates) an
  enrollment of that user, the two share the call (course by SID + user + enrollment);
- ``enrollment.*`` alone: provision with course ``{sid}`` + user ``{sid}`` + ``{role}``;
- ``assignment.*``: one operation per exam, sending at most ``BATCH`` enrollments per call
  (never one call per user); unlimited-scope exams have no assignment step;
- ``session.*``: schedule / reschedule / cancel / replace (cancel, then schedule the fresh
  ``Needs Proctor`` session the service creates);
- ``forget``: only drops the address from state.

Operations start as soon as every change in their ``Change.depends_on`` is done (the
planner lists there all that the requests need: an exam's course, a session's enrollment,
the cancel an unassign waits for), at most ``parallelism`` at a time. The first failure
stops new work (``continue_on_error`` instead skips only the changes that depend on the
failed one); work in flight is always finished, never abandoned half-recorded.

Recording
---------
Every completed change is written to the tenant's journal (``spsync.journal``) the moment
the response arrives, and folded into the state file now and then and at the end: when
the journal holds ``compact_every`` entries or half as many as the state (so that the
rewrites of a growing state file cost a few full saves in all, not O(N²)), or when
``compact_interval_s`` seconds passed and at least twenty times as long as the last
compaction took (so that saving a large state never takes more than a twentieth of the
run). What a killed process could not record is
found again by the next plan: provision matches by ids, and a session scheduled without
being recorded is seen in the appointments report and adopted, never booked twice. The
executor itself also adopts: a ``schedule`` whose enrollment already has a ``Scheduled``
session takes that session over (moving it, or cancelling and re-booking it when its type
or location differ) instead of booking another.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from spsync.api import wire
from spsync.audit import CURRENT_ADDRESS
from spsync.booking import SessionBooking
from spsync.errors import ApiError, ApplyError, SpsyncError
from spsync.journal import Journal
from spsync.model import (
    Desired,
    Exam,
    User,
    kind_of,
)
from spsync.payloads import (
    course_payload,
    exam_payload,
    unmasked,
    user_payload,
)
from spsync.plan import Change
from spsync.planner import courses_of_users, provision_course
from spsync.ports import StateSaver, WriteClient
from spsync.progress import NullProgress, Progress
from spsync.state import ResourceState, State

#: enrollments per assignments call
BATCH = 100
#: the memo of sessions spsync cancels

Status = Literal["done", "failed", "skipped", "not-started", "interrupted"]


@dataclass
class Outcome:
    """What became of one change. ``skipped``: a change it depends on failed;
    ``not-started``: apply stopped first; ``interrupted``: cut off in flight (outcome
    unknown until the next plan looks)."""

    address: str
    action: str
    status: Status
    message: str = ""
    code: str | None = None


@dataclass
class ApplyResult:
    """The outcome of one tenant's apply."""

    tenant: str
    outcomes: list[Outcome]
    calls: int
    duration_s: float
    interrupted: bool
    state: State
    #: live objects the plan adopted, recorded in state without an API change
    recorded: int = 0
    #: the client's window of calls in flight (``spsync.api.window.Window``), if it has one
    window: Any = None

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> bool:
        return all(o.status == "done" for o in self.outcomes)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]


@dataclass(eq=False)
class _Op:
    """One unit of work completing ``changes``."""

    label: str
    changes: list[Change]
    work: Callable[[_Op], Awaitable[None]]
    deps: set[str]
    order: int
    #: group operations run the members whose dependencies succeeded, skip the others
    group: bool = False
    #: member address -> its own dependencies (group operations only)
    member_deps: dict[str, set[str]] = field(default_factory=dict)


def _error_code(e: BaseException) -> str | None:
    return getattr(e, "code", None) if isinstance(e, ApiError) else None


def _error_text(e: BaseException) -> str:
    if isinstance(e, SpsyncError):  # an ApiError names the call: method, path, status, code
        return str(e)
    return f"internal error: {type(e).__name__}: {e}"


class Executor(SessionBooking):
    """Runs ``changes`` (one tenant's plan, in plan order) against ``client``.

    ``desired`` supplies request payloads (secrets included: a plan never holds them);
    ``state`` is the state the plan was made from, updated in memory, journaled and saved
    through ``store`` as changes complete. ``applied_of(address)`` gives the drift baseline
    recorded for an address (the planner's normal form, secrets as fingerprints).
    """

    def __init__(
        self,
        changes: Sequence[Change],
        desired: Desired,
        state: State,
        client: WriteClient,
        *,
        store: StateSaver,
        journal: Journal,
        applied_of: Callable[[str], dict[str, Any]],
        adopt: Mapping[str, Any] | None = None,
        live_sessions: Mapping[str, Any] | None = None,
        parallelism: int = 8,
        continue_on_error: bool = False,
        progress: Progress | None = None,
        compact_every: int = 500,
        compact_interval_s: float = 15.0,
    ) -> None:
        if parallelism < 1:
            raise ValueError("parallelism must be at least 1")
        self.changes = [c for c in changes if c.action != "noop"]
        self.desired = desired
        self.state = state
        self.client = client
        self.store = store
        self.journal = journal
        self.applied_of = applied_of
        #: address -> Adoption (sid, refs): objects the plan found live, not yet in state
        self.adopt = dict(adopt or {})
        #: address -> the live session observation saw for it (a hint, re-checked on use)
        self.live_sessions = dict(live_sessions or {})
        self.parallelism = parallelism
        self.continue_on_error = continue_on_error
        self.progress: Progress = progress or NullProgress()
        self.compact_every = compact_every
        self.compact_interval_s = compact_interval_s
        self.outcomes: dict[str, Outcome] = {}
        self._stopping = False
        self._interrupted = False
        self._tasks: dict[asyncio.Task[None], _Op] = {}
        self._last_compact = time.monotonic()
        self._compact_cost = 0.0
        # exam SID -> enrollment SID -> its Needs Proctor session (one report read per exam)
        self._needs_proctor: dict[str, dict[str, wire.Session]] = {}
        # exams given new assignments since their report was read: read it again on a miss
        self._report_dirty: set[str] = set()
        self._report_locks: dict[str, asyncio.Lock] = {}
        self._in_plan = {c.address: c for c in self.changes}
        self._courses_of_user: dict[str, list[str]] | None = None
        self._recorded = 0

    # --- control ---------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Start no new work; let work in flight finish (SIGINT/SIGTERM)."""
        self._stopping = True
        self._interrupted = True

    def cancel_in_flight(self) -> None:
        """Cut off work in flight too (a second signal); its outcome is left to the next plan."""
        self.request_stop()
        for task in self._tasks:
            task.cancel()

    # --- state recording -------------------------------------------------------------------

    def _put(self, address: str, resource: ResourceState) -> None:
        self.state.resources[address] = resource
        self.journal.put(address, resource)
        self._maybe_compact()

    def _drop(self, address: str) -> None:
        self.state.resources.pop(address, None)
        self.journal.drop(address)
        self._maybe_compact()

    def _maybe_compact(self) -> None:
        # A compaction rewrites the whole state file, so its period grows with the state:
        # by entries (half the state: a replay never reads more lines than the state has)
        # and by time (twenty times the last compaction's cost: at most 5% of the run).
        count = self.journal.count
        if count >= max(self.compact_every, len(self.state.resources) // 2):
            # unless the end is near: the final compaction saves the state anyway, and the
            # journal grows by at most a quarter before it (at 2,000 students, the save at
            # 8,000 changes of 8,011 was a whole state encoded for nothing)
            if not self.changes or 4 * (len(self.changes) - len(self.outcomes)) >= count:
                self.compact()
        elif count:
            since = time.monotonic() - self._last_compact
            if since >= max(self.compact_interval_s, 20 * self._compact_cost):
                self.compact()

    def compact(self) -> None:
        """Save the state (atomically, serial + 1) and empty the journal."""
        started = time.monotonic()
        self.journal.sync()
        self.state = self.store.save(self.state)
        self.journal.rebase(self.state.serial)
        self._last_compact = time.monotonic()
        self._compact_cost = self._last_compact - started

    def _record_adoptions(self) -> None:
        """Record the live objects the plan adopted that need no change: they already
        match the manifests. Adoptions with a change are recorded when it succeeds."""
        for address, found in sorted(self.adopt.items()):
            if address in self._in_plan:
                continue
            self._recorded += 1
            self._put(
                address,
                ResourceState(
                    sid=found.sid, refs=dict(found.refs), applied=self.applied_of(address)
                ),
            )

    def _done(self, change: Change) -> None:
        self.outcomes[change.address] = Outcome(change.address, change.action, "done")
        self.progress.advance(change.address, True)

    def _fail(self, change: Change, e: BaseException) -> None:
        self.outcomes[change.address] = Outcome(
            change.address, change.action, "failed", _error_text(e), _error_code(e)
        )
        self.progress.advance(change.address, False)

    def _mark(self, change: Change, status: Status, message: str = "") -> None:
        if change.address not in self.outcomes:
            self.outcomes[change.address] = Outcome(change.address, change.action, status, message)

    # --- lookups ---------------------------------------------------------------------------

    def _sid(self, address: str, needed_by: str) -> str:
        rs = self.state.resources.get(address)
        if rs is None or rs.sid is None:
            raise ApplyError(
                f"{needed_by} needs the SID of {address}, which is not in state "
                "(its change failed or was not applied)"
            )
        return rs.sid

    def _exam(self, name: str) -> Exam:
        return self.desired.exams[f"exam.{name}"]

    # --- building operations ---------------------------------------------------------------

    def _deps(self, change: Change) -> set[str]:
        """The changes of this run that must be done first: the plan's ``depends_on``."""
        return {x for x in change.depends_on if x in self._in_plan and x != change.address}

    def _build(self) -> list[_Op]:
        d = self.desired
        order = {c.address: i for i, c in enumerate(self.changes)}
        ops: list[_Op] = []
        taken: set[str] = set()

        # users, each sharing its call with one enrollment of its own when there is one;
        # the candidates are indexed by user once (a scan of every change per user would
        # cost O(users x changes))
        partners: dict[str, list[Change]] = {}
        for e in self.changes:
            if (
                e.action in ("create", "update")
                and e.address in d.enrollments
                and kind_of(e.address) == "enrollment"
            ):
                partners.setdefault(d.enrollments[e.address].user, []).append(e)
        for c in self.changes:
            if kind_of(c.address) != "user" or c.action not in ("create", "update"):
                continue
            user = d.users.get(c.address)
            if user is None:
                continue
            partner = next((e for e in partners.get(user.name, ()) if e.address not in taken), None)
            members = [c] if partner is None else [c, partner]
            taken.update(m.address for m in members)
            addresses = {m.address for m in members}
            deps = set().union(*(self._deps(m) for m in members)) - addresses
            ops.append(
                _Op(
                    label=c.address,
                    changes=members,
                    work=self._provision_user,
                    deps=deps,
                    order=order[c.address],
                )
            )

        # assignments, one group per exam
        groups: dict[str, list[Change]] = {}
        for c in self.changes:
            if kind_of(c.address) == "assignment" and c.action in ("assign", "unassign"):
                groups.setdefault(self._assignment_exam_key(c), []).append(c)
                taken.add(c.address)
        for key, members in groups.items():
            member_deps = {m.address: self._deps(m) for m in members}
            inside = {m.address for m in members}
            ops.append(
                _Op(
                    label=f"assignment.{key}.*",
                    changes=members,
                    work=self._assignments,
                    deps=set().union(*member_deps.values()) - inside,
                    order=min(order[m.address] for m in members),
                    group=True,
                    member_deps={a: ds - inside for a, ds in member_deps.items()},
                )
            )

        for c in self.changes:
            if c.address in taken or c.action == "move":
                continue  # moves are recorded before any work starts
            kind = kind_of(c.address)
            work: Callable[[_Op], Awaitable[None]]
            if c.action == "forget":
                work = self._forget
            elif c.action == "refresh":
                work = self._refresh
            elif kind == "course":
                work = self._provision_course
            elif kind == "exam":
                work = self._provision_exam
            elif kind == "user":
                work = self._provision_user
            elif kind == "enrollment":
                work = self._provision_enrollment
            elif kind == "session":
                work = self._session
            elif kind == "assignment":
                work = self._forget  # an assignment "forget" only drops state
            else:  # pragma: no cover - the address grammar has no other kinds
                raise ApplyError(f"{c.address}: cannot apply {c.action} to a {kind}")
            ops.append(
                _Op(
                    label=c.address,
                    changes=[c],
                    work=work,
                    deps=self._deps(c),
                    order=order[c.address],
                )
            )
        ops.sort(key=lambda o: o.order)
        return ops

    def _user_course_address(self, user: User) -> str:
        """The course a user-only provision names (the planner made the user's change
        depend on it when it is a change of the plan too)."""
        if self._courses_of_user is None:
            self._courses_of_user = courses_of_users(self.desired)
        return provision_course(
            user.name, self._courses_of_user, self.state.resources, self.desired.courses
        )

    def _assignment_exam_key(self, c: Change) -> str:
        asg = self.desired.assignments.get(c.address)
        if asg is not None:
            return asg.exam
        rs = self.state.resources.get(c.address)
        exam_sid = rs.refs.get("exam") if rs else None
        for addr, res in self.state.resources.items():
            if kind_of(addr) == "exam" and res.sid == exam_sid and exam_sid:
                return addr.split(".", 1)[1]
        return exam_sid or "?"

    # --- scheduling ------------------------------------------------------------------------

    def _dep_state(self, deps: set[str]) -> Literal["ready", "wait", "blocked"]:
        waiting = False
        for dep in deps:
            o = self.outcomes.get(dep)
            if o is None:
                waiting = True
            elif o.status != "done":
                return "blocked"
        return "wait" if waiting else "ready"

    def _group_state(self, op: _Op) -> Literal["ready", "wait", "blocked"]:
        states = [self._dep_state(ds) for ds in op.member_deps.values()]
        if "wait" in states:
            return "wait"
        return "ready" if "ready" in states else "blocked"

    async def run(self) -> ApplyResult:
        """Execute every change; never raises for a failed change (see the outcomes)."""
        t0 = time.monotonic()
        calls0 = sum(getattr(self.client, "calls", {}).values())
        ops = self._build()
        self._record_moves()
        self._record_adoptions()
        self.progress.start(self.state.tenant, len(self.changes))
        pending = list(ops)
        try:
            while True:
                if not self._stopping:
                    self._start_ready(pending)
                if not self._tasks:
                    break
                done, _ = await asyncio.wait(list(self._tasks), return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    op = self._tasks.pop(task)
                    self._settle(op, task)
        finally:
            self.progress.finish()
        for op in pending:
            for c in op.changes:
                self._mark(c, "not-started")
        calls = sum(getattr(self.client, "calls", {}).values()) - calls0
        outcomes = [self.outcomes[c.address] for c in self.changes if c.address in self.outcomes]
        return ApplyResult(
            tenant=self.state.tenant,
            outcomes=outcomes,
            calls=calls,
            duration_s=time.monotonic() - t0,
            interrupted=self._interrupted,
            state=self.state,
            recorded=self._recorded,
            window=getattr(self.client, "window", None),
        )

    def _start_ready(self, pending: list[_Op]) -> None:
        progressed = True
        while progressed and not self._stopping:
            progressed = False
            for op in list(pending):
                if len(self._tasks) >= self.parallelism:
                    return
                st = self._group_state(op) if op.group else self._dep_state(op.deps)
                if st == "wait":
                    continue
                pending.remove(op)
                progressed = True
                if st == "blocked":
                    for c in op.changes:
                        self._mark(c, "skipped", "a change it depends on did not succeed")
                        self.progress.advance(c.address, False)
                    continue
                task = asyncio.ensure_future(self._guarded(op))
                self._tasks[task] = op

    async def _guarded(self, op: _Op) -> None:
        token = CURRENT_ADDRESS.set(op.label)
        try:
            await op.work(op)
        finally:
            CURRENT_ADDRESS.reset(token)

    def _settle(self, op: _Op, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            for c in op.changes:
                self._mark(c, "interrupted", "cut off in flight; the next plan will look")
            return
        e = task.exception()
        if e is None:
            return
        failed = False
        for c in op.changes:
            if c.address not in self.outcomes:
                self._fail(c, e)
                failed = True
        if failed and not self.continue_on_error:
            self._stopping = True

    # --- work: provision -------------------------------------------------------------------

    async def _provision(self, body: dict[str, Any]) -> wire.ProvisionResponse:
        return await self.client.provision(wire.ProvisionRequest.model_validate(body))

    async def _provision_course(self, op: _Op) -> None:
        (c,) = op.changes
        course = self.desired.courses[c.address]
        resp = await self._provision({"course": course_payload(course)})
        self._put(c.address, ResourceState(sid=resp.course.sid, applied=self.applied_of(c.address)))
        self._done(c)

    async def _provision_exam(self, op: _Op) -> None:
        (c,) = op.changes
        exam = self.desired.exams[c.address]
        course_sid = self._sid(f"course.{exam.course}", c.address)
        resp = await self._provision(
            {"course": {"ids": {"sid": course_sid}}, "exam": exam_payload(exam)}
        )
        if resp.exam is None:
            raise ApplyError(f"{c.address}: the provision response has no exam")
        refs = {"course": course_sid}
        if resp.configuration is not None:
            refs["configuration"] = resp.configuration.sid
        self._put(
            c.address,
            ResourceState(sid=resp.exam.sid, refs=refs, applied=self.applied_of(c.address)),
        )
        self._done(c)

    async def _provision_user(self, op: _Op) -> None:
        user_change = op.changes[0]
        user = self.desired.users[user_change.address]
        enrollment_change = op.changes[1] if len(op.changes) > 1 else None
        if enrollment_change is not None:
            enr = self.desired.enrollments[enrollment_change.address]
            course_address = f"course.{enr.course}"
        else:
            enr = None
            course_address = self._user_course_address(user)
        course_sid = self._sid(course_address, user_change.address)
        body: dict[str, Any] = {"course": {"ids": {"sid": course_sid}}, "user": user_payload(user)}
        if enr is not None:
            body["enrollment"] = {"role": enr.role}
        resp = await self._provision(body)
        if resp.user is None:
            raise ApplyError(f"{user_change.address}: the provision response has no user")
        self._put(
            user_change.address,
            ResourceState(sid=resp.user.sid, applied=self.applied_of(user_change.address)),
        )
        self._done(user_change)
        if enrollment_change is not None:
            if resp.enrollment is None:
                raise ApplyError(
                    f"{enrollment_change.address}: the provision response has no enrollment"
                )
            self._put(
                enrollment_change.address,
                ResourceState(
                    sid=resp.enrollment.sid,
                    refs={"course": course_sid, "user": resp.user.sid},
                    applied=self.applied_of(enrollment_change.address),
                ),
            )
            self._done(enrollment_change)

    async def _provision_enrollment(self, op: _Op) -> None:
        (c,) = op.changes
        enr = self.desired.enrollments[c.address]
        course_sid = self._sid(f"course.{enr.course}", c.address)
        user_sid = self._sid(f"user.{enr.user}", c.address)
        resp = await self._provision(
            {
                "course": {"ids": {"sid": course_sid}},
                "user": {"ids": {"sid": user_sid}},
                "enrollment": {"role": enr.role},
            }
        )
        if resp.enrollment is None:
            raise ApplyError(f"{c.address}: the provision response has no enrollment")
        self._put(
            c.address,
            ResourceState(
                sid=resp.enrollment.sid,
                refs={"course": course_sid, "user": user_sid},
                applied=self.applied_of(c.address),
            ),
        )
        self._done(c)

    async def _forget(self, op: _Op) -> None:
        (c,) = op.changes
        self._drop(c.address)
        self._done(c)

    async def _refresh(self, op: _Op) -> None:
        """State takes the live fields the plan showed (secrets keep their fingerprints:
        a plan never holds them)."""
        (c,) = op.changes
        rec = self.state.resources.get(c.address)
        if rec is None:
            raise ApplyError(f"{c.address}: not in state any more; make the plan again")
        applied = unmasked(c.after or {}, rec.applied)
        self._put(c.address, rec.model_copy(update={"applied": applied}))
        self._done(c)

    def _record_moves(self) -> None:
        """Give every moved entry its new address before any work starts: the old entry is
        dropped first, so a process killed in between leaves no second owner of the SID
        (the next plan finds the object again by its identity)."""
        for c in self.changes:
            if c.previous_address is None:
                continue
            rec = self.state.resources.get(c.previous_address)
            if rec is None:
                rec = self.state.resources.get(c.address)
            else:
                self._drop(c.previous_address)
            if rec is not None and c.action == "move":
                rec = rec.model_copy(update={"applied": self.applied_of(c.address)})
            if rec is not None:
                self._put(c.address, rec)
            if c.action == "move":
                self._done(c)

    # --- work: assignments -----------------------------------------------------------------

    async def _assignments(self, op: _Op) -> None:
        runnable: list[Change] = []
        for c in op.changes:
            if self._dep_state(op.member_deps.get(c.address, set())) == "ready":
                runnable.append(c)
            else:
                self._mark(c, "skipped", "a change it depends on did not succeed")
                self.progress.advance(c.address, False)
        if not runnable:
            return
        # an assignment being added names a desired exam; one being removed knows its refs
        first = runnable[0]
        asg = self.desired.assignments.get(first.address)
        if asg is not None:
            exam = self._exam(asg.exam)
            exam_sid = self._sid(f"exam.{asg.exam}", op.label)
            course_sid = self._sid(f"course.{exam.course}", op.label)
            limited = exam.limited
        else:
            rs = self.state.resources.get(first.address)
            refs = rs.refs if rs else {}
            exam_sid, course_sid = refs.get("exam", ""), refs.get("course", "")
            limited = True
        items: list[tuple[Change, str, str]] = []  # (change, add|remove, enrollment SID)
        for c in runnable:
            try:
                items.append((c, *self._assignment_item(c)))
            except SpsyncError as e:
                self._fail(c, e)
                if not self.continue_on_error:
                    self._stopping = True
                    return
        if not limited:
            # unlimited scope: every learner has a session anyway; nothing to send
            for c, how, enr_sid in items:
                self._record_assignment(c, how, course_sid, exam_sid, enr_sid)
            return
        if not exam_sid or not course_sid:
            raise ApplyError(f"{op.label}: the exam or course SID is not in state")
        for start in range(0, len(items), BATCH):
            if self._stopping and start:
                for c, _, _ in items[start:]:
                    self._mark(c, "not-started")
                return
            chunk = items[start : start + BATCH]
            add = [sid for _, how, sid in chunk if how == "add"]
            remove = [sid for _, how, sid in chunk if how == "remove"]
            try:
                await self.client.update_assignments(course_sid, exam_sid, add=add, remove=remove)
            except Exception as e:
                sent = {x[0].address for x in chunk}
                for c, _, _ in items[start:]:
                    if c.address not in self.outcomes:
                        if c.address in sent:
                            self._fail(c, e)
                        else:
                            self._mark(c, "not-started")
                if not self.continue_on_error:
                    self._stopping = True
                return
            if add:
                self._report_dirty.add(exam_sid)
            for c, how, enr_sid in chunk:
                self._record_assignment(c, how, course_sid, exam_sid, enr_sid)

    def _assignment_item(self, c: Change) -> tuple[str, str]:
        if c.action == "assign":
            asg = self.desired.assignments[c.address]
            exam = self._exam(asg.exam)
            return "add", self._sid(f"enrollment.{exam.course}.{asg.user}", c.address)
        rs = self.state.resources.get(c.address)
        enr_sid = rs.refs.get("enrollment") if rs else None
        if not enr_sid:
            raise ApplyError(f"{c.address}: no enrollment SID recorded in state to unassign")
        return "remove", enr_sid

    def _record_assignment(
        self, c: Change, how: str, course_sid: str, exam_sid: str, enr_sid: str
    ) -> None:
        if how == "add":
            self._put(
                c.address,
                ResourceState(
                    refs={"course": course_sid, "exam": exam_sid, "enrollment": enr_sid},
                    applied=self.applied_of(c.address),
                ),
            )
        else:
            self._drop(c.address)
            # the service cancelled the session with the assignment: forget it too
            sess = "session." + c.address.split(".", 1)[1]
            if sess in self.state.resources and sess not in self.desired.sessions:
                self._drop(sess)
        self._done(c)


class Interrupted(ApplyError):
    """Apply stopped on SIGINT (exit 130) or SIGTERM (exit 1) after finishing calls in flight."""

    def __init__(self, message: str, *, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


async def execute_tenant(
    changes: Sequence[Change],
    desired: Desired,
    state: State,
    client: WriteClient,
    store: StateSaver,
    *,
    applied_of: Callable[[str], dict[str, Any]],
    adopt: Mapping[str, Any] | None = None,
    live_sessions: Mapping[str, Any] | None = None,
    parallelism: int = 8,
    continue_on_error: bool = False,
    progress: Progress | None = None,
    on_executor: Callable[[Executor], None] | None = None,
    compact_every: int = 500,
) -> ApplyResult:
    """Apply one tenant's changes with a journal, then fold the journal into the state file.

    Call it holding the tenant's lock, with ``state`` as the plan saw it. A state that was
    never saved is saved first, so that journal entries name a lineage that exists on disk.
    ``on_executor`` receives the executor before it runs (signal handlers use it to stop).
    """
    from spsync.journal import journal_path

    if state.serial == 0:
        state = store.save(state)
    journal = Journal(
        journal_path(store.directory, state.tenant),
        lineage=state.lineage,
        base_serial=state.serial,
        deferred=True,
    )
    # entries are written in batches, each before the client sends its next request: no
    # call (dependent or not) leaves while a change already answered is unrecorded
    flushers = getattr(client, "before_send", None)
    if flushers is not None:
        flushers.append(journal.flush)
    ex = Executor(
        changes,
        desired,
        state,
        client,
        store=store,
        journal=journal,
        applied_of=applied_of,
        adopt=adopt,
        live_sessions=live_sessions,
        parallelism=parallelism,
        continue_on_error=continue_on_error,
        progress=progress,
        compact_every=compact_every,
    )
    if on_executor is not None:
        on_executor(ex)
    try:
        result = await ex.run()
    finally:
        if flushers is not None:
            flushers.remove(journal.flush)
        # whatever happened, what was recorded reaches the state file before we return
        if journal.count:
            ex.compact()
        journal.discard()
    result.state = ex.state
    return result


def summary_line(result: ApplyResult) -> str:
    """``acme: 12 done, 1 failed, 3 not started (16 changes, 41 API calls, 2.3s)``."""
    parts = [f"{result.count('done')} done"]
    if result.recorded:
        parts.append(f"{result.recorded} recorded")
    for status, label in (
        ("failed", "failed"),
        ("skipped", "skipped"),
        ("not-started", "not started"),
        ("interrupted", "interrupted"),
    ):
        n = result.count(status)  # type: ignore[arg-type]
        if n:
            parts.append(f"{n} {label}")
    total = len(result.outcomes)
    return (
        f"{result.tenant}: {', '.join(parts)} ({total} change{'s' if total != 1 else ''}, "
        f"{result.calls} API call{'s' if result.calls != 1 else ''}, {result.duration_s:.1f}s)"
    )


def done_by_action(result: ApplyResult) -> str:
    """``3 create, 2 assign, 4 schedule`` over the changes that were done, in plan action order."""
    from spsync.plan import ACTIONS

    counts: dict[str, int] = {}
    for o in result.outcomes:
        if o.status == "done":
            counts[o.action] = counts.get(o.action, 0) + 1
    text = ", ".join(f"{counts[a]} {a}" for a in ACTIONS if a in counts)
    if result.recorded:
        text += (", " if text else "") + f"{result.recorded} found remotely and recorded"
    return text or "nothing"


def failure_report(results: Sequence[ApplyResult]) -> str:
    """What was done and what was not, each failure with its address, API code and message."""
    lines: list[str] = []
    for r in results:
        lines.append(summary_line(r))
        for o in r.outcomes:
            if o.status == "failed":
                # the message of an API error names the call, its status and code
                lines.append(f"  failed: {o.address} ({o.action}): {o.message}")
        not_done = [o for o in r.outcomes if o.status in ("not-started", "skipped", "interrupted")]
        for o in not_done[:20]:
            lines.append(f"  {o.status}: {o.address} ({o.action})")
        if len(not_done) > 20:
            lines.append(f"  ... and {len(not_done) - 20} more not done")
    return "\n".join(lines)
