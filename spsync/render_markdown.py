"""The markdown rendering of a ``Plan``: a pull-request comment within a size limit.
PURE: strings in, strings out; no I/O, no clock, no env.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from spsync.model import kind_of
from spsync.plan import ACTIONS, DESTRUCTIVE, Change, Plan, TenantPlan
from spsync.render_parts import (
    ChangesOf,
    change_block,
    effect_causes,
    own_changes,
    recorded_only,
    summary_line,
)
from spsync.sanitize import clean

#: GitHub's limit on a comment is 65,536 characters; stay well below it
MARKDOWN_LIMIT = 60_000

# A comment has room for MARKDOWN_LIMIT characters, whatever the size of the plan. The title,
# the refusal notice, the summary table and each tenant's heading are always shown; the room
# left is shared between tenants (max-min fair: a tenant needing less than an equal share is
# shown whole, what it leaves goes to the others). Within its share a tenant shows, in this
# order of priority (each kind of a tier in turn, one item at a time, so that no kind starves
# another): its destructive changes, its warnings (up to a quarter of the share), the
# details of destructive changes, of course/exam creations, updates and reschedules, of
# moves, refreshes and forgets, then the bulk (user and enrollment creations, assigns,
# schedules, adoptions), then the warnings left. What is left out is counted per kind.

#: the hint printed wherever something was left out
_WHOLE_PLAN = "(the whole plan: `spsync show PLANFILE`)"
#: the details are in a fence, where markdown is not rendered
_WHOLE_PLAN_FENCED = "(the whole plan: spsync show PLANFILE)"
#: the share of a tenant's room its warnings may take before the details have had theirs
_WARNINGS_SHARE = 4
#: actions whose kind of resource goes without saying
_KIND_IMPLIED = frozenset({"assign", "unassign", "schedule", "reschedule", "cancel", "replace"})
_BACKTICKS = re.compile("`+")
#: what could start markup (a link, an image, html, an entity, emphasis, code) in a line
_MARKUP = re.compile(r"([\\`*_\[\]<>&!~|#])")


def _inline(text: str) -> str:
    """``text`` (a warning, which may quote what a server answered) as literal text on one
    line of the comment: controls escaped, every character that could start markup
    backslash-escaped."""
    return _MARKUP.sub(r"\\\1", clean(text))


def _plural(word: str, n: int) -> str:
    return word if n == 1 else word + "s"


def _size(lines: list[str]) -> int:
    """Characters ``lines`` take in the comment (each ends with a newline)."""
    return sum(len(x) + 1 for x in lines)


def _summary_table(plan: Plan) -> list[str]:
    cols = [a for a in ACTIONS[:-1] if any(tp.summary.get(a, 0) for tp in plan.tenants)]
    header = ["tenant", *cols, "unchanged"]
    rows = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for tp in plan.tenants:
        cells = [f"`{tp.tenant}`"] + [f"{tp.summary.get(a, 0):,}" for a in cols]
        cells.append(f"{tp.summary.get('noop', 0):,}")
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _destructive_line(c: Change) -> str:
    causes = effect_causes(c)
    by = f"; by {', '.join(f'`{a}`' for a in causes)}" if causes else ""
    return f"- **{c.action}** `{c.address}` ({c.reason}{by})"


def _diff_line(line: str) -> str:
    """A line of a change block for a ```diff fence: a ``+`` or ``-`` moves to the first
    column, where the diff highlighting of pull-request pages colours it; the text after it
    stays where it was, so the block still reads as aligned. ``->`` (a move) is neither."""
    text = line.lstrip(" ")
    if text[:2] not in ("+ ", "- ", "-/"):
        return line
    return text[0] + " " * (len(line) - len(text)) + text[1:]


def _refusal_notice(plan: Plan, refused: Mapping[str, str]) -> list[str]:
    """The top of a refused plan's comment: which tenants, why (the policy's numbers), and
    what allows it."""
    if not refused:
        return []
    out = [
        "**:no_entry: Plan refused by the safety policy:** it is not saved and cannot be "
        "applied as it is.",
        "",
    ]
    emptied = {tp.tenant for tp in plan.tenants if tp.desired_count == 0 and tp.managed_count}
    for tenant in sorted(refused):
        why = refused[tenant].removeprefix(f"{tenant}: ").removeprefix("plan refused: ")
        if tenant in emptied:
            allow = "if that is really meant, plan again with `--allow-destroy`"
        else:
            allow = (
                "after review, plan again with `--allow-destroy`, or raise `policy.maxDestroy` "
                f"/ `policy.maxDestroyPercent` in the `tenant.yaml` of `{tenant}`"
            )
        out.append(f"- `{tenant}`: {why}")
        out.append(f"  - To allow it: {allow}.")
    return [*out, ""]


class _Group:
    """The items of one kind in one part of a tenant's section (its destructive list, its
    warnings, or its details): a prefix in plan order is shown, the rest is counted. Items
    are made into text only when they are weighed (a tenant of 80,000 changes shows a few
    hundred), and only a prefix that may fit is kept at all: once the items kept are sure
    to take more than ``keep`` characters (each takes at least its ``weight``), the next
    ones are only counted, so a plan read change by change is never gathered whole."""

    def __init__(
        self,
        label: str,
        make: Callable[[Any], str],
        *,
        plural: bool = False,
        keep: int | None = None,
    ) -> None:
        self.label = label
        self.plural = plural
        self.make = make
        self.sources: list[tuple[int, Any]] = []  # (position in plan order, what to show)
        self.texts: list[str] = []  # the texts of the first sources, made so far
        self.total = 0  # items, kept or only counted
        self.keep = keep  # characters the next kept items may surely take; None: no bound
        self.shown = 0
        self.spent = 0  # characters of the shown items

    def add(self, position: int, source: Any, weight: int = 0) -> None:
        """One more item, which takes at least ``weight`` characters when shown."""
        self.total += 1
        if self.keep is not None:
            if weight > self.keep:
                # with the items before it, it takes more than any room: neither it nor
                # any after it can be shown (what is shown is always a prefix)
                self.keep = -1
                return
            self.keep -= weight
        self.sources.append((position, source))

    def text(self, i: int) -> str:
        while len(self.texts) <= i:
            self.texts.append(self.make(self.sources[len(self.texts)][1]))
        return self.texts[i]

    @property
    def hidden(self) -> int:
        """Items not shown, kept or only counted."""
        return self.total - self.shown

    @property
    def more(self) -> bool:
        """Whether one more item may be shown (only a kept one may)."""
        return self.shown < len(self.sources)

    def show_next(self) -> int:
        """Show one more item; returns its characters."""
        cost = len(self.text(self.shown)) + 1
        self.shown += 1
        self.spent += cost
        return cost

    def unshow(self, cost: int) -> None:
        self.shown -= 1
        self.spent -= cost

    def shown_items(self) -> list[tuple[int, str]]:
        return [(p, self.text(i)) for i, (p, _s) in enumerate(self.sources[: self.shown])]

    def cut_line(self) -> str | None:
        """``… and 315 more assign``, or ``315 assign not shown`` when none of them was (never
        "more" of a kind none of which is shown); ``None`` when all are shown."""
        hidden = self.hidden
        if not hidden:
            return None
        noun = _plural(self.label, hidden) if self.plural else self.label
        if self.shown:
            return f"… and {hidden:,} more {noun}"
        return f"{hidden:,} {noun} not shown"


def _detail_label(action: str, address: str) -> str:
    """What a cut detail is counted as: ``assign``, ``cancel``, or, for an action on several
    kinds of resource, ``user create``, ``exam update``, ``session record``..."""
    return action if action in _KIND_IMPLIED else f"{kind_of(address)} {action}"


def _detail_tier(c: Change) -> int:
    """0: destructive; 1: course/exam creations, updates, reschedules; 2: moves, refreshes,
    forgets; 3: the bulk (user and enrollment creations, assigns, schedules)."""
    if c.action in DESTRUCTIVE:
        return 0
    if c.action in ("update", "reschedule") or (
        c.action == "create" and kind_of(c.address) in ("course", "exam")
    ):
        return 1
    if c.action in ("move", "refresh", "forget"):
        return 2
    return 3


def _record_block(address: str) -> str:
    return f"  = {address} (found remotely, recorded in state)\n"


class _TenantSection:
    """A tenant's markdown below its heading, fitted to a number of characters."""

    def __init__(self, tp: TenantPlan, changes: Iterable[Change], limit: int) -> None:
        """``changes``: the tenant's, in plan order, read once; ``limit``: the most room the
        section may be given (what surely takes more is counted, not kept)."""
        self.tp = tp
        self.n_changes = 0
        self.lean = False  # the details in one line (when even their counts do not fit)
        self.n_destructive = 0
        self.backticks = 0  # the longest run of backticks in the details made so far
        groups: dict[tuple[str, str], _Group] = {}
        destructive: list[_Group] = []
        tiers: list[list[_Group]] = [[], [], [], []]

        def put(where: list[_Group], key: tuple[str, str], make: Callable[[Any], str]) -> _Group:
            if key not in groups:
                groups[key] = _Group(key[1], make, keep=limit)
                where.append(groups[key])
            return groups[key]

        covered: set[str] = set()  # the objects found live that a change covers
        # every item's text holds its address and ends with a newline: its least weight
        for c in changes:
            self.n_changes += 1
            address = c.address
            if address in tp.adopt:
                covered.add(address)
            if c.destructive:
                self.n_destructive += 1
                put(destructive, ("list", c.action), _destructive_line).add(
                    self.n_changes, c, len(address) + 1
                )
            key = ("details", _detail_label(c.action, address))
            put(tiers[_detail_tier(c)], key, self._block).add(self.n_changes, c, len(address) + 1)
        self.adopt_only = recorded_only(tp, covered)
        for j, a in enumerate(self.adopt_only, start=self.n_changes + 1):
            key = ("details", _detail_label("record", a))
            put(tiers[3], key, self._record).add(j, a, len(a) + 1)
        self.warnings = _Group("warning", lambda w: f"- :warning: {_inline(w)}", plural=True)
        for j, w in enumerate(tp.warnings):
            self.warnings.add(j, w)
        self.destructive = destructive
        self.details = [g for tier in tiers for g in tier]
        self.groups = [*destructive, self.warnings, *self.details]
        # (groups, whether the tier may take only a part of the room), most important first
        self.tiers: list[tuple[list[_Group], bool]] = [
            (destructive, False),
            ([self.warnings], True),
            *((tier, False) for tier in tiers),
            ([self.warnings], False),
        ]

    def _block(self, c: Change) -> str:
        return self._detail("\n".join(_diff_line(x) for x in change_block(c)) + "\n")

    def _record(self, address: str) -> str:
        return self._detail(_record_block(address))

    def _detail(self, text: str) -> str:
        if "`" in text:
            self.backticks = max(self.backticks, *(len(r) for r in _BACKTICKS.findall(text)))
        return text

    @property
    def fence(self) -> str:
        """Longer than any run of backticks in the details made (a fence of the shown ones
        is never longer, so the section never grows past its size)."""
        return "`" * max(3, self.backticks + 1)

    def lines(self, *, items: bool = True) -> list[str]:
        """The section as shown now (``items=False``: without the shown items, whose
        characters ``size`` adds, so that sizing does not re-join hundreds of blocks)."""
        out: list[str] = []
        if self.destructive:
            n = self.n_destructive
            out += ["", f"**{n:,} destructive change{'s' if n != 1 else ''}:**", ""]
            out += self._shown(self.destructive, items)
            out += [f"- {x}" for g in self.destructive if (x := g.cut_line())]
        if self.warnings.sources:
            out += ["", *self._shown([self.warnings], items)]
            if cut := self.warnings.cut_line():
                out.append(f"- {cut}")
        cut_any = any(g.hidden for g in self.groups)
        if self.details and self.lean:
            out += ["", f"_Details not shown: the comment is at its size limit {_WHOLE_PLAN}._"]
        elif self.details:
            n = self.n_changes
            fence = self.fence
            out += [
                "",
                f"<details><summary>Details: {n:,} change{'s' if n != 1 else ''}</summary>",
                "",
                f"{fence}diff",
                *self._shown(self.details, items),
                *(x for g in self.details if (x := g.cut_line())),
                *(["", _WHOLE_PLAN_FENCED] if cut_any else []),
                fence,
                "",
                "</details>",
            ]
        elif cut_any:
            out += ["", _WHOLE_PLAN]
        return out

    @staticmethod
    def _shown(groups: list[_Group], items: bool) -> list[str]:
        if not items:
            return []
        return [t for _p, t in sorted(x for g in groups for x in g.shown_items())]

    def size(self) -> int:
        """The characters of the section as shown now."""
        return _size(self.lines(items=False)) + sum(g.spent for g in self.groups)

    def whole_size(self, cap: int) -> int:
        """The characters of the section with everything shown, or ``cap + 1`` if more than
        ``cap`` (a huge section is not made whole only to be weighed)."""
        for g in self.groups:
            g.shown = g.spent = 0
        if any(g.total > len(g.sources) for g in self.groups):
            return cap + 1  # some items were not even kept: they could not fit
        total = self.size()
        for g in self.groups:
            while g.more:
                total += g.show_next()
                if total > cap:
                    return cap + 1
        return self.size()  # the fence may have grown

    def fit(self, room: int) -> list[str]:
        """The section in at most ``room`` characters: whole if it fits; else chosen tier by
        tier; else, if even the counts of the details do not fit, its destructive changes and
        warnings with one line for the details; else one line; else nothing."""
        self.lean = False
        if self.whole_size(room) <= room:
            return self._finish()
        for g in self.groups:
            g.shown = g.spent = 0
        tiers = self.tiers
        if self.size() > room:
            self.lean = True
            tiers = [*self.tiers[:2], self.tiers[-1]]  # no details: destructive, warnings
            if self.size() > room:
                return self._left_out(room)
        for i, (groups, partial) in enumerate(tiers):
            self._fill(groups, room, room // _WARNINGS_SHARE if partial else room)
            if i == 0 and any(g.hidden for g in groups):
                break  # nothing else takes the place of a destructive change left out
        return self._finish()

    @staticmethod
    def _left_out(room: int) -> list[str]:
        """The section when nothing of it fits: one short line (its counts are in the
        table), or nothing."""
        line = "_Not shown: the comment is at its size limit._"
        return ["", line] if _size(["", line]) <= room else []

    def _fill(self, groups: list[_Group], room: int, allowance: int) -> None:
        """Show more of ``groups``, one item of each in turn, while the section stays within
        ``room`` and this call adds at most ``allowance`` characters; a kind whose next item
        does not fit stops there (what is shown of a kind is always its first items)."""
        start = self.size()
        active = [g for g in groups if g.more]
        while active:
            for g in list(active):
                cost = g.show_next()
                grown = self.size()
                if grown > room or grown - start > allowance:
                    g.unshow(cost)
                    active.remove(g)
                elif not g.more:
                    active.remove(g)

    def _finish(self) -> list[str]:
        lines = self.lines()
        if self.details and not self.lean and lines[-4].endswith("\n"):
            # the last block's blank line would stand before the closing fence (fewer
            # characters than sized: the section stays within its room)
            lines[-4] = lines[-4].rstrip("\n")
        return lines


def render_markdown(
    plan: Plan,
    *,
    limit: int = MARKDOWN_LIMIT,
    refused: Mapping[str, str] | None = None,
    changes_of: ChangesOf = own_changes,
) -> str:
    """A pull-request comment of at most ``limit`` characters: the refusal notice (tenant ->
    why, see ``render``) if any, the summary table, then per tenant its destructive changes,
    warnings, and the details folded in ``<details>``, within a fair share of the room; what
    is left out is counted per kind (``… and 315 more assign``). Each tenant's changes are
    those of ``changes_of``, read once, and only those that may be shown are kept."""
    sections = [_TenantSection(tp, changes_of(tp), limit) for tp in plan.tenants]
    head: list[str] = ["### spsync plan", ""]
    head += _refusal_notice(plan, refused or {})
    if not any(s.n_changes or s.tp.adopt for s in sections):  # the plan's has_changes
        head += ["No changes: every tenant matches its manifests.", ""]
    head += _summary_table(plan)
    if plan.targets:
        head += ["", f"Targeted: {', '.join(f'`{t}`' for t in plan.targets)}"]
    if not plan.refresh:
        head += ["", "Live objects were not read (`--no-refresh`)."]
    titles = {
        s.tp.tenant: ["", f"#### `{s.tp.tenant}` — {summary_line(s.tp, s.adopt_only)}"]
        for s in sections
    }
    room = limit - _size(head) - sum(_size(t) for t in titles.values())

    # max-min fair shares: every section that fits in an equal share of the room left is
    # shown whole; what they leave is shared again among the others, until none fits; those
    # are cut to an equal share each (what one leaves unused goes to the next)
    pending = sorted(sections, key=lambda s: s.tp.tenant)
    del sections
    bodies: dict[str, list[str]] = {}
    while pending:
        share = max(0, room) // len(pending)
        whole = [s for s in pending if s.whole_size(share) <= share]
        for i, section in enumerate(whole or pending):
            if not whole:
                share = max(0, room) // (len(pending) - i)
            body = bodies[section.tp.tenant] = section.fit(share)
            room -= _size(body)
        pending = [s for s in pending if s.tp.tenant not in bodies]

    out = list(head)
    for tp in plan.tenants:
        out += titles[tp.tenant] + bodies.get(tp.tenant, [])
    text = "\n".join(out) + "\n"
    return text if len(text) <= limit else _cut(text, limit)


def _cut(text: str, limit: int) -> str:
    """The last resort when even the headings do not fit (thousands of tenants): the text up
    to a line end, and a line that says so."""
    note = f"\n… cut: the comment is at its size limit {_WHOLE_PLAN}\n"
    end = text.rfind("\n", 0, max(0, limit - len(note)))
    return text[: max(0, end)] + note if end > 0 else note[-limit:]
