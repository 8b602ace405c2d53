"""The markdown comment at any size: per-tenant fair shares within MARKDOWN_LIMIT, what is
shown first within a tenant, every cut counted exactly per kind, the refusal notice at the
top; and the text of the state-only actions (move, refresh, forget) and of cancels that are
the effect of another change. Plans are built as data (support.plan.hand_plan)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from itertools import accumulate, takewhile
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.apply import sandbox_acme
from support.plan import hand_change, hand_plan

from spsync import render_markdown as render_markdown_module
from spsync.cli import main
from spsync.plan import Adoption, Change, TenantPlan, make_plan
from spsync.render import MARKDOWN_LIMIT, render_markdown, render_text

#: actions whose resource kind goes without saying in a cut line
KIND_IMPLIED = {"assign", "unassign", "schedule", "reschedule", "cancel", "replace"}
HEADER = re.compile(r"^.{3} (\S+)  \((\w+): ")
RECORD = re.compile(r"^  = (\S+) \(found remotely")
MORE = re.compile(r"^… and ([\d,]+) more (.+)$")
NOT_SHOWN = re.compile(r"^([\d,]+) (.+) not shown$")
LIST_CUT = re.compile(r"^- (… and [\d,]+ more|[\d,]+) (unassign|cancel|replace)( not shown)?$")
LEFT_OUT = (
    "_Details not shown: the comment is at its size limit (the whole plan: "
    "`spsync show PLANFILE`)._"
)


def label(action: str, address: str) -> str:
    return action if action in KIND_IMPLIED else f"{address.split('.')[0]} {action}"


def totals(tp: TenantPlan) -> Counter[str]:
    """How many details of each kind the tenant has (what shown + cut must add up to)."""
    out = Counter(label(c.action, c.address) for c in tp.changes)
    changed = {c.address for c in tp.changes}
    out.update(label("record", a) for a in tp.adopt if a not in changed)
    return out


def sections(text: str) -> dict[str, list[str]]:
    """The lines of each tenant's section, by tenant."""
    out: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        if m := re.match(r"^#### `([^`]+)` — ", line):
            current = out.setdefault(m.group(1), [])
        current.append(line)
    for lines in out.values():
        while lines and not lines[-1]:
            lines.pop()  # the blank line before the next tenant's heading
    return out


def details(section: list[str]) -> list[str]:
    """The lines inside the ```diff fence of a section ([] when the details are left out)."""
    starts = [i for i, x in enumerate(section) if x.endswith("diff") and x.startswith("```")]
    if not starts:
        assert LEFT_OUT in section
        return []
    start = starts[0]
    fence = section[start][: -len("diff")]
    end = section.index(fence, start + 1)
    return section[start + 1 : end]


def counted(tp: TenantPlan, section: list[str]) -> tuple[Counter[str], dict[str, str]]:
    """The details shown per kind and the cut line of each kind, after checking the cut
    lines against what is shown: shown + cut = the tenant's total of that kind, "… and N
    more" only for a kind of which some are shown, "N not shown" only when none is."""
    shown: Counter[str] = Counter()
    cuts: dict[str, str] = {}
    cut_counts: Counter[str] = Counter()
    for line in details(section):
        if m := HEADER.match(line):
            shown[label(m.group(2), m.group(1))] += 1
        elif m := RECORD.match(line):
            shown[label("record", m.group(1))] += 1
        elif m := MORE.match(line) or NOT_SHOWN.match(line):
            kind = m.group(2)
            assert kind not in cuts, line
            cuts[kind] = line
            cut_counts[kind] = int(m.group(1).replace(",", ""))
            assert (shown[kind] > 0) == line.startswith("… and "), line
    want = totals(tp)
    if LEFT_OUT in section:
        return shown, cuts
    assert set(shown) | set(cut_counts) <= set(want)
    for kind, n in want.items():
        assert shown[kind] + cut_counts[kind] == n, kind
    return shown, cuts


def warnings_shown(tp: TenantPlan, section: list[str]) -> int:
    """How many of the tenant's warnings are shown (its first ones), checking the cut line."""
    shown = [x.removeprefix("- :warning: ") for x in section if x.startswith("- :warning: ")]
    k = len(shown)
    assert shown == list(tp.warnings[:k])
    hidden = len(tp.warnings) - k
    cut = [x for x in section if x.endswith((" more warnings", " more warning", "not shown"))]
    cut = [x for x in cut if "warning" in x]
    if hidden == 0:
        assert cut == []
    elif k:
        assert cut == [f"- … and {hidden:,} more {'warning' if hidden == 1 else 'warnings'}"]
    else:
        assert cut == [f"- {hidden:,} {'warning' if hidden == 1 else 'warnings'} not shown"]
    return k


def listed(tp: TenantPlan, section: list[str]) -> Counter[str]:
    """How many destructive changes of each action the section lists, checking that they are
    the first ones of their action, in plan order, and that the cut lines count the rest."""
    lines = [x for x in section if x.startswith("- **")]
    by_action: dict[str, list[str]] = {}
    for line in destructive_lines(tp):
        by_action.setdefault(line.split("**")[1], []).append(line)
    n = Counter(x.split("**")[1] for x in lines)
    assert lines == [x for x in destructive_lines(tp) if x in lines]
    cuts = []
    for action, all_lines in by_action.items():
        assert set(all_lines[: n[action]]) == {x for x in lines if x.split("**")[1] == action}
        hidden = len(all_lines) - n[action]
        if hidden and n[action]:
            cuts.append(f"- … and {hidden:,} more {action}")
        elif hidden:
            cuts.append(f"- {hidden:,} {action} not shown")
    assert [x for x in section if LIST_CUT.match(x)] == cuts
    return n


def destructive_lines(tp: TenantPlan) -> list[str]:
    out = []
    for c in tp.changes:
        if c.destructive:
            by = f"; by `{c.depends_on[0]}`" if c.reason == "unassigned" else ""
            out.append(f"- **{c.action}** `{c.address}` ({c.reason}{by})")
    return out


# --- one tenant of 40,000 changes ----------------------------------------------------------------


def user_after(n: str) -> dict[str, object]:
    return {"ids": {"external": f"x-{n}"}, "firstName": "Student", "email": f"{n}@example.edu"}


def big_tenant(name: str = "acme", users: int = 9_000, warnings: int = 200) -> TenantPlan:
    """40,000 changes when ``users`` is 9,000: a course and two exams created, one exam and
    ten users updated, five moves, five forgets, 30 destructive changes (10 unassign, 10
    cancels caused by them, 5 removed sessions cancelled, 5 replaced), and the bulk — a user,
    an enrollment and an assignment per student, and schedules for the rest."""
    cs: list[Change] = [
        hand_change("course.main", "create", after={"title": "Main"}),
        hand_change("exam.e1", "create", after={"title": "E1"}),
        hand_change("exam.e2", "create", after={"title": "E2"}),
        hand_change("exam.cert", "update", "manifest-changed", before={"t": 1}, after={"t": 2}),
    ]
    cs += [
        hand_change(
            f"user.up{i}", "update", "drift", before={"lastName": "A"}, after={"lastName": "B"}
        )
        for i in range(10)
    ]
    cs += [
        hand_change(f"user.mv{i}", "move", "renamed", previous_address=f"user.old{i}")
        for i in range(5)
    ]
    cs += [hand_change(f"user.gone{i}", "forget", "removed") for i in range(5)]
    for i in range(10):
        cs.append(hand_change(f"assignment.cert.g{i}", "unassign", "removed"))
        cs.append(
            hand_change(
                f"session.cert.g{i}",
                "cancel",
                "unassigned",
                before={"appointment": "2027-03-01T14:00:00Z"},
                depends_on=(f"assignment.cert.g{i}", "exam.cert"),
            )
        )
    cs += [
        hand_change(f"session.cert.r{i}", "cancel", "removed", before={"type": "a"})
        for i in range(5)
    ]
    cs += [
        hand_change(
            f"session.cert.x{i}", "replace", "drift", before={"type": "a"}, after={"type": "b"}
        )
        for i in range(5)
    ]
    for i in range(users):
        n = f"s{i:05d}"
        cs.append(hand_change(f"user.{n}", "create", after=user_after(n)))
        cs.append(hand_change(f"enrollment.main.{n}", "create", after={"role": "learner"}))
        cs.append(hand_change(f"assignment.cert.{n}", "assign", after={}))
    schedules = 40_000 - len(cs) if users == 9_000 else users
    for i in range(schedules):
        cs.append(hand_change(f"session.cert.s{i:05d}", "schedule", after={"type": "automated"}))
    ws = tuple(
        f"session.cert.w{i:03d}: the session is Closed; its manifest changes can no longer be "
        "applied"
        for i in range(warnings)
    )
    return hand_plan(name, cs, warnings=ws)


def test_a_tenant_of_40000_changes_shows_what_matters_and_counts_every_cut() -> None:
    tp = big_tenant()
    assert len(tp.changes) == 40_000 and len(tp.destructive) == 30
    text = render_markdown(make_plan([tp]))
    assert len(text) <= MARKDOWN_LIMIT
    lines = text.splitlines()
    assert lines[:5] == [
        "### spsync plan",
        "",
        "| tenant | create | update | assign | unassign | schedule | cancel | replace | move "
        "| forget | unchanged |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        "| `acme` | 18,003 | 11 | 9,000 | 10 | 12,946 | 15 | 5 | 5 | 5 | 0 |",
    ]
    section = sections(text)["acme"]
    assert section[:4] == [
        "#### `acme` — Plan: 18,003 to create, 11 to update, 9,000 to assign, 10 to unassign, "
        "12,946 to schedule, 15 to cancel, 5 to replace, 5 to move, 5 to forget; 0 unchanged.",
        "",
        "**30 destructive changes:**",
        "",
    ]
    # every destructive change is listed, first, with the change that causes an effect
    assert section[4:34] == destructive_lines(tp)
    assert listed(tp, section) == {"unassign": 10, "cancel": 15, "replace": 5}
    assert section[34] == ""
    assert "- **cancel** `session.cert.g3` (unassigned; by `assignment.cert.g3`)" in section
    # warnings: the first ones, within a quarter of the room, then counted
    k = warnings_shown(tp, section)
    assert 0 < k < 200
    assert sum(len(x) + 1 for x in section if x.startswith("- :warning:")) <= MARKDOWN_LIMIT // 4
    # the details: all but the bulk shown whole, the bulk cut and counted per kind
    shown, cuts = counted(tp, section)
    assert list(cuts.values()) == [
        f"… and {9_000 - shown['user create']:,} more user create",
        f"… and {9_000 - shown['enrollment create']:,} more enrollment create",
        f"… and {9_000 - shown['assign']:,} more assign",
        f"… and {12_946 - shown['schedule']:,} more schedule",
    ]
    assert min(shown[k] for k in ("user create", "enrollment create", "assign", "schedule")) > 50
    assert "(the whole plan: spsync show PLANFILE)" in details(section)


def test_destructive_changes_beyond_the_room_are_counted_per_kind() -> None:
    cancels = [hand_change(f"session.cert.u{i:04d}", "cancel", "removed") for i in range(2_500)]
    unassigns = [
        hand_change(f"assignment.cert.u{i:04d}", "unassign", "removed") for i in range(700)
    ]
    tp = hand_plan("acme", cancels + unassigns)
    text = render_markdown(make_plan([tp]))
    assert len(text) <= MARKDOWN_LIMIT
    section = sections(text)["acme"]
    n = listed(tp, section)
    assert 0 < n["unassign"] < 700 and 0 < n["cancel"] < 2_500
    assert [x for x in section if x.startswith("- … and")] == [
        f"- … and {700 - n['unassign']:,} more unassign",
        f"- … and {2_500 - n['cancel']:,} more cancel",
    ]
    # the list took the room: the details of these changes are counted, none shown
    assert details(section)[-4:] == [
        "700 unassign not shown",
        "2,500 cancel not shown",
        "",
        "(the whole plan: spsync show PLANFILE)",
    ]
    counted(tp, section)


# --- many tenants ------------------------------------------------------------------------------


def small_tenant(name: str) -> TenantPlan:
    return hand_plan(name, [hand_change(f"assignment.cert.{name}", "assign", after={})])


def test_a_hundred_tenants_share_the_room_fairly() -> None:
    """95 small tenants are shown whole (as if alone), and five large ones share what is
    left: none of them starves, and nearly all the room is used."""
    small = [small_tenant(f"t{i:03d}") for i in range(95)]
    large = [big_tenant(f"big{i}", users=400 * (i + 1), warnings=3) for i in range(5)]
    plan = make_plan(small + large)
    text = render_markdown(plan)
    assert MARKDOWN_LIMIT - 1_000 < len(text) <= MARKDOWN_LIMIT
    by_tenant = sections(text)
    assert list(by_tenant) == [tp.tenant for tp in plan.tenants]
    for tp in small:
        alone = sections(render_markdown(make_plan([tp])))[tp.tenant]
        assert by_tenant[tp.tenant] == alone
        assert "… and" not in "\n".join(alone)
    sizes = []
    for tp in large:
        section = by_tenant[tp.tenant]
        assert listed(tp, section) == {"unassign": 10, "cancel": 15, "replace": 5}
        assert warnings_shown(tp, section) == 3
        shown, cuts = counted(tp, section)
        assert set(cuts) == {"user create", "enrollment create", "assign", "schedule"}
        assert min(shown.values()) >= 1
        sizes.append(sum(len(x) + 1 for x in section))
    # equal shares, but for the last detail that did not fit in each
    assert max(sizes) - min(sizes) < 600
    assert min(sizes) > 7_000


def bulk_tenant(name: str, n: int = 30) -> TenantPlan:
    """A cancel, and ``n`` users created, assigned and scheduled."""
    cs = [hand_change(f"session.cert.{name}-gone", "cancel", "removed", before={"type": "a"})]
    for i in range(n):
        u = f"{name}-{i:03d}"
        cs += [
            hand_change(f"user.{u}", "create", after=user_after(u)),
            hand_change(f"assignment.cert.{u}", "assign", after={}),
            hand_change(f"session.cert.{u}", "schedule", after={"type": "automated"}),
        ]
    return hand_plan(name, cs)


def test_a_squeezed_comment_never_claims_more_of_a_kind_none_of_which_is_shown() -> None:
    """100 tenants of 91 changes: a few hundred characters each, a detail or two per kind
    at most; each cut is "… and N more" or "N not shown" as some are shown or none."""
    plans = [bulk_tenant(f"t{i:03d}") for i in range(100)]
    text = render_markdown(make_plan(plans))
    assert len(text) <= MARKDOWN_LIMIT
    by_tenant = sections(text)
    forms: Counter[str] = Counter()
    for tp in plans:
        section = by_tenant[tp.tenant]
        assert listed(tp, section) == {"cancel": 1}
        shown, cuts = counted(tp, section)
        assert shown["cancel"] == 1
        forms.update("more" if x.startswith("… and ") else "none" for x in cuts.values())
    assert forms["more"] > 0 and forms["none"] > 0  # both occur, each checked by counted()


def test_tenants_too_many_for_their_details_keep_their_destructive_changes() -> None:
    """100 tenants of 30 destructive changes: not even the counts of the details fit, so
    each shows the first of its destructive changes and counts the rest."""
    plans = [big_tenant(f"t{i:03d}", users=20, warnings=2) for i in range(100)]
    text = render_markdown(make_plan(plans))
    assert len(text) <= MARKDOWN_LIMIT
    by_tenant = sections(text)
    assert by_tenant["t000"][1:] == [
        "",
        "**30 destructive changes:**",
        "",
        "- **unassign** `assignment.cert.g0` (removed)",
        "- **cancel** `session.cert.g0` (unassigned; by `assignment.cert.g0`)",
        "- **replace** `session.cert.x0` (drift)",
        "- … and 9 more unassign",
        "- … and 14 more cancel",
        "- … and 4 more replace",
        "",
        "- 2 warnings not shown",
        "",
        LEFT_OUT,
    ]
    for tp in plans:
        assert sum(listed(tp, by_tenant[tp.tenant]).values()) >= 2
        warnings_shown(tp, by_tenant[tp.tenant])


def test_each_way_of_cutting_as_the_room_shrinks() -> None:
    """40 tenants of 254 changes: in 25,000 characters each lists its first destructive
    changes; in 11,500 each says in one line that it is left out (but the last few); in
    3,000 not even the headings fit, and the comment says where it was cut."""
    plans = [big_tenant(f"t{i:02d}", users=50, warnings=5) for i in range(40)]
    plan = make_plan(plans)
    text = render_markdown(plan, limit=25_000)
    assert 24_000 < len(text) <= 25_000
    for tp in plans:
        section = sections(text)[tp.tenant]
        assert section[-1] == LEFT_OUT
        assert sum(listed(tp, section).values()) >= 3
        assert warnings_shown(tp, section) == 0
    text = render_markdown(plan, limit=11_500)
    assert len(text) <= 11_500
    by_tenant = sections(text)
    one_line = ["", "_Not shown: the comment is at its size limit._"]
    # what each leaves of its share goes to the next ones: the last have room for more
    richer = [t for t, x in by_tenant.items() if x[1:] != one_line]
    assert richer == ["t36", "t37", "t38", "t39"]
    assert {by_tenant[t][-1] for t in richer} == {LEFT_OUT}
    text = render_markdown(plan, limit=3_000)
    assert len(text) <= 3_000
    assert text.startswith("### spsync plan\n\n| tenant |")
    assert text.endswith(
        "\n… cut: the comment is at its size limit (the whole plan: `spsync show PLANFILE`)\n"
    )


# --- changes read once, only what may be shown kept --------------------------------------------


def _keeping_everything(
    self: render_markdown_module._Group, position: int, source: object, weight: int = 0
) -> None:
    """``_Group.add`` as it was before items that cannot fit were only counted."""
    self.total += 1
    self.sources.append((position, source))


def _variety() -> dict[str, list[TenantPlan]]:
    with_records = big_tenant("rec", users=300, warnings=2)
    found = {f"user.found{i}": Adoption(sid=f"US{i:032d}", refs={}) for i in range(400)}
    return {
        "one tenant of 40,000": [big_tenant()],
        "forty tenants": [big_tenant(f"t{i:02d}", users=50, warnings=5) for i in range(40)],
        "destructive only": [
            hand_plan(
                "acme",
                [hand_change(f"session.cert.u{i:04d}", "cancel", "removed") for i in range(2_500)],
            )
        ],
        "records": [with_records.model_copy(update={"adopt": {**with_records.adopt, **found}})],
        "quiet": [hand_plan("calm", [])],
    }


@pytest.mark.parametrize("limit", [MARKDOWN_LIMIT, 25_000, 11_500, 3_000, 400])
@pytest.mark.parametrize("name", sorted(_variety()))
def test_changes_given_one_at_a_time_make_the_same_comment(
    name: str, limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As ``spsync show`` gives them: each tenant's changes once, from an iterator, the plan
    itself holding none; what cannot fit is counted, not kept, and the comment is the same
    as when every change is kept."""
    plan = make_plan(_variety()[name])
    with monkeypatch.context() as m:
        m.setattr(render_markdown_module._Group, "add", _keeping_everything)
        expected = render_markdown(plan, limit=limit)
    held = {tp.tenant: tp.changes for tp in plan.tenants}
    asked: list[str] = []

    def once(tp: TenantPlan) -> Iterator[Change]:
        asked.append(tp.tenant)
        return iter(held[tp.tenant])

    aside = plan.model_copy(
        update={"tenants": tuple(tp.model_copy(update={"changes": ()}) for tp in plan.tenants)}
    )
    assert render_markdown(aside, limit=limit, changes_of=once) == expected
    assert asked == [tp.tenant for tp in plan.tenants]


def test_a_tenant_keeps_only_the_changes_that_may_fit() -> None:
    tp = big_tenant()
    section = render_markdown_module._TenantSection(tp, iter(tp.changes), MARKDOWN_LIMIT)
    assert {g.label: g.total for g in section.details} == totals(tp)
    assert {g.label: g.total for g in section.destructive} == Counter(
        c.action for c in tp.changes if c.destructive
    )
    assert section.warnings.total == len(section.warnings.sources) == 200
    shortest = min(len(c.address) for c in tp.changes) + 1
    kept = [len(g.sources) for g in section.groups]
    assert max(kept) <= MARKDOWN_LIMIT // shortest + 1
    # of the bulk, the first ones whose addresses alone fill the limit are kept
    for g in section.details:
        weights = [len(c.address) + 1 for c in tp.changes if label(c.action, c.address) == g.label]
        fitting = len(list(takewhile(lambda w: w <= MARKDOWN_LIMIT, accumulate(weights))))
        assert (len(g.sources), g.total) == (fitting, len(weights))
    assert {g.label: len(g.sources) for g in section.details if g.total > len(g.sources)} == {
        "user create": 5_000,  # "user.u0001": 11 characters and a newline
        "enrollment create": 2_608,
        "assign": 2_608,
        "schedule": 3_000,
    }
    assert sum(kept) < 0.4 * sum(g.total for g in section.groups)


# --- a plan refused by policy ------------------------------------------------------------------


def test_a_refused_plan_says_so_at_the_top_with_its_numbers_and_what_allows_it() -> None:
    acme = big_tenant(users=30, warnings=0)
    empty = hand_plan("globex", [hand_change("user.x", "forget", "removed")], desired_count=0)
    reasons = {
        "acme": "acme: plan refused: 30 destructive changes (10 unassign, 15 cancel, 5 replace) "
        "exceed the tenant policy (maxDestroy 10); review them and run again with "
        "--allow-destroy, or raise policy limits in tenant.yaml",
        "globex": "globex: the manifests hold no resources but the state manages 100; refusing "
        "to forget or remove all of them (wrong path?). If that is really meant, run again "
        "with --allow-destroy",
    }
    text = render_markdown(make_plan([acme, empty]), refused=reasons)
    assert text.splitlines()[:9] == [
        "### spsync plan",
        "",
        "**:no_entry: Plan refused by the safety policy:** it is not saved and cannot be "
        "applied as it is.",
        "",
        "- `acme`: 30 destructive changes (10 unassign, 15 cancel, 5 replace) exceed the tenant "
        "policy (maxDestroy 10); review them and run again with --allow-destroy, or raise "
        "policy limits in tenant.yaml",
        "  - To allow it: after review, plan again with `--allow-destroy`, or raise "
        "`policy.maxDestroy` / `policy.maxDestroyPercent` in the `tenant.yaml` of `acme`.",
        "- `globex`: the manifests hold no resources but the state manages 100; refusing to "
        "forget or remove all of them (wrong path?). If that is really meant, run again with "
        "--allow-destroy",
        "  - To allow it: if that is really meant, plan again with `--allow-destroy`.",
        "",
    ]
    assert text.splitlines()[9].startswith("| tenant |")
    assert "Plan refused" not in render_markdown(make_plan([acme, empty]))


def test_plan_command_puts_the_refusal_on_top_of_its_markdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = sandbox_acme(tmp_path, monkeypatch, "tenants")
    runner = CliRunner()
    r = runner.invoke(main, ["--sandbox", "apply", "tenants/acme", "--auto-approve"])
    assert r.exit_code == 0, r.stderr
    sessions = acme / "sessions.yaml"
    sessions.write_text(sessions.read_text().replace("acme-appt-", "acme-new-appt-"))
    tenant_yaml = acme / "tenant.yaml"
    tenant_yaml.write_text(tenant_yaml.read_text().replace("maxDestroy: 10", "maxDestroy: 3"))
    r = runner.invoke(main, ["--sandbox", "plan", "tenants/acme", "--format", "markdown"])
    assert r.exit_code == 1
    why = (
        "7 destructive changes (7 replace) exceed the tenant policy (maxDestroy 3); review them "
        "and run again with --allow-destroy, or raise policy limits in tenant.yaml"
    )
    assert r.stdout.splitlines()[2:6] == [
        "**:no_entry: Plan refused by the safety policy:** it is not saved and cannot be "
        "applied as it is.",
        "",
        f"- `acme`: {why}",
        "  - To allow it: after review, plan again with `--allow-destroy`, or raise "
        "`policy.maxDestroy` / `policy.maxDestroyPercent` in the `tenant.yaml` of `acme`.",
    ]
    assert r.stderr == f"error: acme: plan refused: {why}\n"


# --- the state-only actions and the effects of other changes ------------------------------------


def effect(address: str, reason: str, depends_on: tuple[str, ...]) -> Change:
    """A cancel caused by the call of another change (one of ``depends_on``)."""
    return hand_change(
        address, "cancel", reason, before={"type": "automated"}, depends_on=depends_on
    )


def vocabulary_plan() -> TenantPlan:
    smith = {"lastName": "Smith"}
    return hand_plan(
        "acme",
        [
            hand_change("user.jane-smith", "move", "renamed", before=smith, after=smith,
                   previous_address="user.jane"),
            hand_change("user.kim", "refresh", "drift", before={"lastName": "Old"},
                   after={"lastName": "Live"}),
            hand_change("user.dave", "forget", "removed", before={"lastName": "D"}),
            hand_change("user.yuki-tanaka", "update", "manifest-changed", before={"lastName": "T"},
                        after={"lastName": "Tanaka"}, previous_address="user.yuki"),
            hand_change("assignment.cert.john", "unassign", "removed"),
            effect("session.cert.john", "unassigned", ("assignment.cert.john", "exam.cert")),
            effect("session.quiz.ann", "scope-limited", ("enrollment.main.ann", "exam.quiz")),
        ],
    )  # fmt: skip


def test_text_of_moves_refreshes_forgets_and_effects() -> None:
    assert render_text(make_plan([vocabulary_plan()])).splitlines()[2:] == [
        " -> user.jane-smith  (move: renamed; from user.jane, no API call)",
        "        (1 unchanged field hidden)",
        "",
        " <= user.kim  (refresh: drift; state takes the live object, no API call)",
        '      ~ lastName: "Old" -> "Live"',
        "",
        "  . user.dave  (forget: removed; left untouched remotely)",
        "",
        "  ~ user.yuki-tanaka  (update: manifest-changed; moved from user.yuki)",
        '      ~ lastName: "T" -> "Tanaka"',
        "",
        "  - assignment.cert.john  (unassign: removed, destructive)",
        "",
        "  - session.cert.john  (cancel: unassigned, destructive; by assignment.cert.john)",
        '      - type: "automated"',
        "",
        "  - session.quiz.ann  (cancel: scope-limited, destructive; by exam.quiz)",
        '      - type: "automated"',
        "",
        "Plan: 1 to update, 1 to unassign, 2 to cancel, 1 to move, 1 to refresh, 1 to forget; "
        "0 unchanged.",
    ]


def test_markdown_of_moves_refreshes_and_effects() -> None:
    lines = render_markdown(make_plan([vocabulary_plan()])).splitlines()
    assert lines[2:5] == [
        "| tenant | update | unassign | cancel | move | refresh | forget | unchanged |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        "| `acme` | 1 | 1 | 2 | 1 | 1 | 1 | 0 |",
    ]
    assert lines[10:13] == [
        "- **unassign** `assignment.cert.john` (removed)",
        "- **cancel** `session.cert.john` (unassigned; by `assignment.cert.john`)",
        "- **cancel** `session.quiz.ann` (scope-limited; by `exam.quiz`)",
    ]
    # a move is not a removal: its arrow stays where it is, uncoloured by the diff fence
    assert " -> user.jane-smith  (move: renamed; from user.jane, no API call)" in lines
    assert " <= user.kim  (refresh: drift; state takes the live object, no API call)" in lines
    assert "-   session.cert.john  (cancel: unassigned, destructive; by assignment.cert.john)" in (
        lines
    )
