"""What an apply did, as values and as text: each change's outcome, a tenant's result, and
the lines the command prints about them (summary, what was done, what failed). PURE."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from spsync.plan import ACTIONS
from spsync.state import State

Status = Literal["done", "failed", "skipped", "not-started", "interrupted"]

#: the statuses of what was not done, and how the summary names them
NOT_DONE: tuple[tuple[Status, str], ...] = (
    ("failed", "failed"),
    ("skipped", "skipped"),
    ("not-started", "not started"),
    ("interrupted", "interrupted"),
)


@dataclass(slots=True)
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
        """How many changes ended with ``status``."""
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> bool:
        """Every change done."""
        return all(o.status == "done" for o in self.outcomes)

    @property
    def failures(self) -> list[Outcome]:
        """The changes that failed."""
        return [o for o in self.outcomes if o.status == "failed"]


def summary_line(result: ApplyResult) -> str:
    """``acme: 12 done, 1 failed, 3 not started (16 changes, 41 API calls, 2.3s)``."""
    parts = [f"{result.count('done')} done"]
    if result.recorded:
        parts.append(f"{result.recorded} recorded")
    for status, label in NOT_DONE:
        n = result.count(status)
        if n:
            parts.append(f"{n} {label}")
    total = len(result.outcomes)
    return (
        f"{result.tenant}: {', '.join(parts)} ({total} change{'s' if total != 1 else ''}, "
        f"{result.calls} API call{'s' if result.calls != 1 else ''}, {result.duration_s:.1f}s)"
    )


def done_by_action(result: ApplyResult) -> str:
    """``3 create, 2 assign, 4 schedule`` over the changes that were done, in plan action order."""
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
