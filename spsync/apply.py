"""The executor: runs one tenant's plan against the API and records every success at once.

Execution model
---------------
The plan's changes are grouped into *operations* (``spsync.apply_ops``), each one API round
(or a few) completing one or more changes, and each run by the work its dispatch table
names: provision calls (``spsync.provisioning``: a user shares its call with one of its
enrollments), session booking (``spsync.booking``: schedule, reschedule, cancel, replace,
never twice), the assignments of one exam (here: at most ``BATCH`` enrollments per call,
never one call per user; unlimited-scope exams have no assignment step), and the work of
``forget`` and ``refresh``, which only change the state. ``move`` changes are recorded
before any work starts.

Operations start as soon as every change in their ``Change.depends_on`` is done (the
planner lists there all that the requests need: an exam's course, a session's enrollment,
the cancel an unassign waits for), at most ``parallelism`` at a time (not counting those
waiting for a read another one makes for them: ``Executor.aside``). The first failure
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
import contextlib
import heapq
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal

from spsync.apply_ops import Op, build_ops
from spsync.apply_report import ApplyResult, Outcome, Status
from spsync.audit import CURRENT_ADDRESS
from spsync.booking import SessionBooking
from spsync.errors import ApiError, ApplyError, SpsyncError
from spsync.fields import unmasked
from spsync.journal import Journal
from spsync.model import Desired, Exam
from spsync.observed import LiveSession
from spsync.plan import Adoption, Change
from spsync.ports import StateSaver, WriteClient
from spsync.progress import NullProgress, Progress
from spsync.provisioning import Provisioning
from spsync.state import ResourceState, State

#: enrollments per assignments call
BATCH = 100


def _error_code(e: BaseException) -> str | None:
    return getattr(e, "code", None) if isinstance(e, ApiError) else None


def _error_text(e: BaseException) -> str:
    if isinstance(e, SpsyncError):  # an ApiError names the call: method, path, status, code
        return str(e)
    return f"internal error: {type(e).__name__}: {e}"


class Executor:
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
        adopt: Mapping[str, Adoption] | None = None,
        live_sessions: Mapping[str, LiveSession] | None = None,
        parallelism: int = 8,
        continue_on_error: bool = False,
        progress: Progress | None = None,
        compact_every: int = 500,
        compact_interval_s: float = 15.0,
    ) -> None:
        if parallelism < 1:
            raise ValueError("parallelism must be at least 1")
        #: the changes not done yet, by address (in plan order): each is let go once it
        #: has an outcome, so that a large first apply does not hold every change beside
        #: the state that replaces them
        self._in_plan = {c.address: c for c in changes if c.action != "noop"}
        #: every address to change, in plan order (the outcomes are reported in it)
        self._order = list(self._in_plan)
        self.desired = desired
        self.state = state
        self.client = client
        self.store = store
        self.journal = journal
        self._applied_of = applied_of
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
        #: operations not started yet, as (start position, op): a heap
        self._queue: list[tuple[int, Op]] = []
        #: operations waiting, by the address of a dependency that has no outcome yet
        self._parked: dict[str, list[tuple[int, Op]]] = {}
        self._interrupted = False
        self._tasks: dict[asyncio.Task[None], Op] = {}
        #: operations waiting inside ``aside`` (their places are lent), and the future that
        #: wakes the run's loop when one steps aside
        self._aside = 0
        self._nudge: asyncio.Future[None] | None = None
        self._last_compact = time.monotonic()
        self._compact_cost = 0.0
        self._recorded = 0
        self.booking = SessionBooking(self)
        self.provisioning = Provisioning(self)
        #: the dispatch table: an operation's ``work`` -> what runs it
        self._work: dict[str, Callable[[Op], Awaitable[None]]] = {
            "forget": self._forget,
            "refresh": self._refresh,
            "course": self.provisioning.course,
            "exam": self.provisioning.exam,
            "user": self.provisioning.user,
            "enrollment": self.provisioning.enrollment,
            "session": self.booking.session,
            "assignments": self._assignments,
        }

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

    def applied_of(self, address: str) -> dict[str, Any]:
        """The drift baseline to record for ``address``: the plan's own map of what its
        change sends when it holds the same (no secret masked in it), rather than an equal
        copy. A first apply of 100,000 students keeps its 400,000 changes and the state it
        builds to the end: one map each instead of two."""
        fields = self._applied_of(address)
        change = self._in_plan.get(address)
        if change is not None and change.after is not None and change.after == fields:
            return change.after
        return fields

    def put(self, address: str, resource: ResourceState) -> None:
        self.state.resources[address] = resource
        self.journal.put(address, resource)
        self._maybe_compact()

    def drop(self, address: str) -> None:
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
            if not self._order or 4 * (len(self._order) - len(self.outcomes)) >= count:
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
            self.put(
                address,
                ResourceState(
                    sid=found.sid, refs=dict(found.refs), applied=self.applied_of(address)
                ),
            )

    def _settled(self, change: Change, outcome: Outcome) -> None:
        self.outcomes[change.address] = outcome
        self._in_plan.pop(change.address, None)

    def done(self, change: Change) -> None:
        self._settled(change, Outcome(change.address, change.action, "done"))
        self._wake(change.address)
        self.progress.advance(change.address, True)

    def _fail(self, change: Change, e: BaseException) -> None:
        self._settled(
            change,
            Outcome(change.address, change.action, "failed", _error_text(e), _error_code(e)),
        )
        self._wake(change.address)
        self.progress.advance(change.address, False)

    def _mark(self, change: Change, status: Status, message: str = "") -> None:
        if change.address not in self.outcomes:
            self._settled(change, Outcome(change.address, change.action, status, message))
            self._wake(change.address)

    def _wake(self, address: str) -> None:
        """The operations parked on ``address`` are looked at again, now that it has an
        outcome."""
        for entry in self._parked.pop(address, ()):
            heapq.heappush(self._queue, entry)

    # --- lookups ---------------------------------------------------------------------------

    def sid(self, address: str, needed_by: str) -> str:
        rs = self.state.resources.get(address)
        if rs is None or rs.sid is None:
            raise ApplyError(
                f"{needed_by} needs the SID of {address}, which is not in state "
                "(its change failed or was not applied)"
            )
        return rs.sid

    def _exam(self, name: str) -> Exam:
        return self.desired.exams[f"exam.{name}"]

    # --- scheduling ------------------------------------------------------------------------

    def _dep_state(self, deps: tuple[str, ...]) -> Literal["ready", "wait", "blocked"]:
        """``blocked`` when a dependency did not succeed, else ``wait`` while one has no
        outcome yet, else ``ready``."""
        return self._waits_on(deps)[0]

    def _waits_on(self, deps: tuple[str, ...]) -> tuple[Literal["ready", "wait", "blocked"], str]:
        """``_dep_state``, and while waiting one dependency that has no outcome yet."""
        blocker = ""
        for dep in deps:
            o = self.outcomes.get(dep)
            if o is None:
                blocker = blocker or dep
            elif o.status != "done":
                return "blocked", ""
        return ("wait", blocker) if blocker else ("ready", "")

    def _readiness(self, op: Op) -> tuple[Literal["ready", "wait", "blocked"], str]:
        """Whether ``op`` may start (``_dep_state``; a group: ``wait`` while any member
        waits, else ``ready`` when any member may run), and while it waits, a dependency
        it waits for."""
        if not op.group:
            return self._waits_on(op.deps)
        ready = False
        for deps in op.member_deps.values():
            st, blocker = self._waits_on(deps)
            if st == "wait":
                return st, blocker
            ready = ready or st == "ready"
        return ("ready" if ready else "blocked"), ""

    async def run(self) -> ApplyResult:
        """Execute every change; never raises for a failed change (see the outcomes)."""
        t0 = time.monotonic()
        calls0 = sum(getattr(self.client, "calls", {}).values())
        # already in start order: a valid heap. Only the queue holds the operations, so
        # each is let go once done (300,000 of them for 100,000 students)
        changes = list(self._in_plan.values())
        self._queue = list(enumerate(build_ops(changes, self.desired, self.state)))
        self._record_moves(changes)
        del changes
        self._record_adoptions()
        self.progress.start(self.state.tenant, len(self._order))
        self._parked = {}
        try:
            while True:
                if not self._stopping:
                    self._start_ready()
                if not self._tasks:
                    break
                if self._nudge is None or self._nudge.done():
                    self._nudge = asyncio.get_running_loop().create_future()
                done, _ = await asyncio.wait(
                    [*self._tasks, self._nudge], return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    if isinstance(task, asyncio.Task):  # not the nudge
                        self._settle(self._tasks.pop(task), task)
        finally:
            self.progress.finish()
        left = [*self._queue, *(e for entries in self._parked.values() for e in entries)]
        self._queue, self._parked = [], {}
        for _, op in sorted(left, key=lambda entry: entry[0]):
            for c in op.changes:
                self._mark(c, "not-started")
        calls = sum(getattr(self.client, "calls", {}).values()) - calls0
        outcomes = [self.outcomes[a] for a in self._order if a in self.outcomes]
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

    def _start_ready(self) -> None:
        """Start queued operations, in start order, while there is room.

        An operation still waiting for a dependency is parked on it (``_parked``) and looked
        at again only when that dependency gets an outcome (``_wake``): a scan of every
        pending operation after each completion was quadratic in the plan's size."""
        queue = self._queue
        while queue and not self._stopping:
            if len(self._tasks) - min(self._aside, MAX_LENT) >= self.parallelism:
                return
            entry = heapq.heappop(queue)
            op = entry[1]
            st, blocker = self._readiness(op)
            if st == "wait":
                self._parked.setdefault(blocker, []).append(entry)
                continue
            if st == "blocked":
                for c in op.changes:
                    self._mark(c, "skipped", "a change it depends on did not succeed")
                    self.progress.advance(c.address, False)
                continue
            task = asyncio.ensure_future(self._guarded(op))
            self._tasks[task] = op

    @contextlib.asynccontextmanager
    async def aside(self) -> AsyncIterator[None]:
        """While inside, the calling operation waits for what another one is reading for it
        (the exam's report that a wave of schedules shares) and makes no call: it does not
        count against ``parallelism``, and the next operations start in its place.

        Otherwise a wave's schedules, started as their assignments were done, filled every
        place while one of them read the report, and the next wave's provisions waited a
        round trip or two each time: a fifth of a first apply's time at 100 ms. The calls
        in flight stay bounded by the client's window, whatever the operations started.
        """
        self._aside += 1
        if self._nudge is not None and not self._nudge.done():
            self._nudge.set_result(None)
        try:
            yield
        finally:
            self._aside -= 1

    async def _guarded(self, op: Op) -> None:
        token = CURRENT_ADDRESS.set(op.label)
        try:
            await self._work[op.work](op)
        finally:
            CURRENT_ADDRESS.reset(token)

    def _settle(self, op: Op, task: asyncio.Task[None]) -> None:
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

    # --- work: state only ----------------------------------------------------------------

    async def _forget(self, op: Op) -> None:
        (c,) = op.changes
        self.drop(c.address)
        self.done(c)

    async def _refresh(self, op: Op) -> None:
        """State takes the live fields the plan showed (secrets keep their fingerprints:
        a plan never holds them)."""
        (c,) = op.changes
        rec = self.state.resources.get(c.address)
        if rec is None:
            raise ApplyError(f"{c.address}: not in state any more; make the plan again")
        applied = unmasked(c.after or {}, rec.applied)
        self.put(c.address, rec.model_copy(update={"applied": applied}))
        self.done(c)

    def _record_moves(self, changes: list[Change]) -> None:
        """Give every moved entry its new address before any work starts: the old entry is
        dropped first, so a process killed in between leaves no second owner of the SID
        (the next plan finds the object again by its identity)."""
        for c in changes:
            if c.previous_address is None:
                continue
            rec = self.state.resources.get(c.previous_address)
            if rec is None:
                rec = self.state.resources.get(c.address)
            else:
                self.drop(c.previous_address)
            if rec is not None and c.action == "move":
                rec = rec.model_copy(update={"applied": self.applied_of(c.address)})
            if rec is not None:
                self.put(c.address, rec)
            if c.action == "move":
                self.done(c)

    # --- work: assignments -----------------------------------------------------------------

    async def _assignments(self, op: Op) -> None:
        runnable: list[Change] = []
        for c in op.changes:
            if self._dep_state(op.member_deps.get(c.address, ())) == "ready":
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
            exam_sid = self.sid(f"exam.{asg.exam}", op.label)
            course_sid = self.sid(f"course.{exam.course}", op.label)
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
        # removals are sent whatever the scope; whether reads can confirm them is the exam's
        shows_assignments = asg is not None or self._limited(exam_sid)
        for start in range(0, len(items), BATCH):
            if self._stopping and start:
                for c, _, _ in items[start:]:
                    self._mark(c, "not-started")
                return
            chunk = items[start : start + BATCH]
            add = [sid for _, how, sid in chunk if how == "add"]
            remove = [sid for _, how, sid in chunk if how == "remove"]
            try:
                await self.client.update_assignments(
                    course_sid, exam_sid, add=add, remove=remove, limited=shows_assignments
                )
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
                self.booking.assigned(exam_sid)
            for c, how, enr_sid in chunk:
                self._record_assignment(c, how, course_sid, exam_sid, enr_sid)

    def _limited(self, exam_sid: str) -> bool:
        """Whether the exam of ``exam_sid`` is of limited scope as the manifests say (where
        its sessions show its assignments); one they no longer hold counts as limited."""
        for address, exam in self.desired.exams.items():
            rec = self.state.resources.get(address)
            if rec is not None and rec.sid == exam_sid:
                return exam.limited
        return True

    def _assignment_item(self, c: Change) -> tuple[str, str]:
        if c.action == "assign":
            asg = self.desired.assignments[c.address]
            exam = self._exam(asg.exam)
            return "add", self.sid(f"enrollment.{exam.course}.{asg.user}", c.address)
        rs = self.state.resources.get(c.address)
        enr_sid = rs.refs.get("enrollment") if rs else None
        if not enr_sid:
            raise ApplyError(f"{c.address}: no enrollment SID recorded in state to unassign")
        return "remove", enr_sid

    def _record_assignment(
        self, c: Change, how: str, course_sid: str, exam_sid: str, enr_sid: str
    ) -> None:
        if how == "add":
            self.put(
                c.address,
                ResourceState.holding(
                    None,
                    {"course": course_sid, "exam": exam_sid, "enrollment": enr_sid},
                    self.applied_of(c.address),
                ),
            )
        else:
            self.drop(c.address)
            # the service cancelled the session with the assignment: forget it too
            sess = "session." + c.address.split(".", 1)[1]
            if sess in self.state.resources and sess not in self.desired.sessions:
                self.drop(sess)
        self.done(c)


MAX_LENT = 1024
"""Most places lent at once by operations waiting inside ``Executor.aside``. A wave's
schedules all wait for the exam's report while one reads it: at 100,000 students the read
is 1,000 pages, and unbounded lending started every schedule of the wave meanwhile, some
80,000 waiting tasks (hundreds of MB, and a wait over all of them after each call)."""


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
    del changes  # the executor's alone now: it lets each go once done
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
