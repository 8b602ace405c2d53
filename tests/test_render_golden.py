"""Rendered plans checked against golden files (tests/golden/), in all three formats, for a
small plan with every action and a larger one; plus the markdown size cap on a plan for
20,000 users. After an intended change: SPSYNC_UPDATE_GOLDEN=1 pytest tests/test_render_golden.py
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from support.plan import (
    LINEAGE,
    applied_state,
    exam,
    hand_plan,
    observed_matching,
    session,
    tenant,
    user,
    world,
)

import spsync.render
from spsync import json_pieces
from spsync.plan import Change, Plan, TenantPlan, make_plan, summarize
from spsync.planner import build_plan
from spsync.render import MARKDOWN_LIMIT, render, render_markdown, render_text
from spsync.render_parts import summary_line

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("SPSYNC_UPDATE_GOLDEN") == "1"
EXT = {"text": "txt", "markdown": "md", "json": "json"}


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run with SPSYNC_UPDATE_GOLDEN=1"
    assert text == path.read_text()


def small_plan() -> Plan:
    """Every action: create, update, assign, unassign, schedule, reschedule, cancel, replace,
    forget — plus an adoption and a warning — and a second tenant without changes."""
    base = world(["bob", "dave", "erin", "fred", "jane", "kim"])
    st = applied_state(base)
    live = observed_matching(st, base)
    d = world(
        ["bob", "carl", "erin", "fred", "jane", "kim", "lou"],
        scheduled=["bob", "carl", "erin", "jane", "kim", "lou"],
        exams=[exam(password="rotated-exam-pw")],
    )
    d = d.model_copy(
        update={
            "users": {**d.users, "user.jane": user("jane", lastName="Doe")},
            "sessions": {
                **d.sessions,
                "session.cert.bob": session("cert", "bob", appointment="2027-03-08T09:30:00Z"),
                "session.cert.erin": session("cert", "erin", type="b-virtual"),
            },
        }
    )
    kim = live.objects["session.cert.kim"].replace(status="Closed")
    lou = live.objects["user.bob"].replace(
        sid="US" + "7" * 32,
        fields={**live.objects["user.bob"].fields, "firstName": "Lou"},
    )
    live = live.model_copy(
        update={
            "objects": {**live.objects, "session.cert.kim": kim},
            "adopted": {"user.lou": lou},
        }
    )
    d = d.model_copy(
        update={
            "sessions": {**d.sessions, "session.cert.kim": session("cert", "kim", notes="Late")}
        }
    )
    acme = build_plan(d, st, live)
    g = world(["zoe"], t=tenant("globex"))
    globex = build_plan(g, applied_state(g), None)
    return make_plan([globex, acme])


def large_plan() -> Plan:
    """120 users in state (12 renamed), 40 more to create, 5 sessions cancelled."""
    names = [f"u{i:03d}" for i in range(120)]
    st = applied_state(world(names))
    more = [f"n{i:03d}" for i in range(40)]
    d = world(names + more, scheduled=names[5:] + more)
    users = dict(d.users)
    for n in names[::10]:
        users[f"user.{n}"] = user(n, lastName="Renamed")
    return make_plan([build_plan(d.model_copy(update={"users": users}), st, None)])


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_small_plan_golden(fmt: str) -> None:
    check_golden(f"plan_small.{EXT[fmt]}", render(small_plan(), fmt))


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_large_plan_golden(fmt: str) -> None:
    check_golden(f"plan_large.{EXT[fmt]}", render(large_plan(), fmt))


def test_small_plan_covers_every_action() -> None:
    plan = small_plan()
    acme = plan.tenants[0]
    assert acme.tenant == "acme"
    assert {a for a, n in acme.summary.items() if n} == {
        "create", "update", "assign", "unassign", "schedule", "reschedule", "cancel",
        "replace", "forget", "noop",
    }  # fmt: skip
    assert list(acme.adopt) == ["user.lou"]
    assert len(acme.warnings) == 1
    assert plan.tenants[1].changes == ()


def test_secrets_are_masked_in_every_format() -> None:
    plan = small_plan()
    for fmt in ("text", "markdown", "json"):
        text = render(plan, fmt)
        assert "rotated-exam-pw" not in text and "pw-1" not in text and "tok-acme" not in text
        assert "hmac-sha256" not in text
        assert "(sensitive) -> (changed)" in text or '"(changed)"' in text


def test_json_has_exactly_the_public_fields() -> None:
    doc = json.loads(render(small_plan(), "json"))
    assert list(doc) == ["format_version", "tenants", "checksum"]
    assert doc["format_version"] == "1"
    t = doc["tenants"][0]
    assert list(t) == [
        "tenant", "install", "state_serial", "state_lineage", "summary", "changes", "adopt",
        "warnings",
    ]  # fmt: skip
    assert t["state_lineage"] == LINEAGE
    assert list(t["summary"]) == [
        "create", "update", "assign", "unassign", "schedule", "reschedule", "cancel",
        "replace", "move", "refresh", "forget", "noop",
    ]  # fmt: skip
    for c in t["changes"]:
        assert list(c) == [
            "address", "action", "reason", "destructive", "before", "after", "depends_on",
            "previous_address",
        ]  # fmt: skip
    assert t["adopt"] == {"user.lou": {"sid": "US" + "7" * 32, "refs": {}}}
    assert t["warnings"] == [
        "session.cert.kim: the session is Closed; its manifest changes can no longer be applied"
    ]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", doc["checksum"])


def test_text_colour_only_when_asked() -> None:
    plan = small_plan()
    plain = render_text(plan)
    coloured = render_text(plan, color=True)
    assert "\x1b[" not in plain
    assert "\x1b[32m  + user.carl  (create: new)\x1b[0m" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain


def test_no_changes_text() -> None:
    d = world()
    tp = build_plan(d, applied_state(d), None)
    assert render_text(make_plan([tp], refresh=False)) == (
        "Tenant acme (install AIa1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1, state serial 3, live objects "
        "not read: --no-refresh)\n\nNo changes. acme matches its manifests (10 resources "
        "unchanged).\n"
    )


# --- the markdown cap -----------------------------------------------------------------------------


def huge_plan(users: int = 20_000) -> Plan:
    """A first plan for ``users`` students (create + enroll + assign + schedule each), with
    a handful of destructive changes, built directly as data."""
    changes: list[Change] = []
    for i in range(users):
        n = f"s{i:05d}"
        after = {
            "ids": {"external": f"student-{i:05d}"},
            "firstName": "Student",
            "lastName": f"Number {i}",
            "email": f"{n}@example.edu",
        }
        changes.append(
            Change(
                address=f"user.{n}", action="create", reason="new", destructive=False, after=after
            )
        )
        changes.append(
            Change(
                address=f"enrollment.main.{n}",
                action="create",
                reason="new",
                destructive=False,
                after={"role": "learner"},
            )
        )
        changes.append(
            Change(
                address=f"assignment.cert.{n}",
                action="assign",
                reason="new",
                destructive=False,
                after={},
            )
        )
    for i in range(7):
        changes.append(
            Change(
                address=f"session.cert.old{i}",
                action="cancel",
                reason="removed",
                destructive=True,
                before={"appointment": "2027-03-01T14:00:00Z", "type": "automated"},
            )
        )
    return make_plan([hand_plan("acme", changes, desired_count=3 * users)])


def test_markdown_of_20000_users_fits_a_comment() -> None:
    plan = huge_plan()
    text = render_markdown(plan)
    assert len(text) <= MARKDOWN_LIMIT
    lines = text.splitlines()
    assert lines[:5] == [
        "### spsync plan",
        "",
        "| tenant | create | assign | cancel | unchanged |",
        "|---|---:|---:|---:|---:|",
        "| `acme` | 40,000 | 20,000 | 7 | 0 |",
    ]
    # every destructive change is listed, and shown in the details
    for i in range(7):
        assert f"- **cancel** `session.cert.old{i}` (removed)" in lines
        assert f"-   session.cert.old{i}  (cancel: removed, destructive)" in lines
    # the bulk shares what is left, kind by kind, and each cut is counted exactly
    shown = {
        kind: sum(1 for line in lines if line.startswith(f"+   {kind}.") and "(" in line)
        for kind in ("user", "enrollment", "assignment")
    }
    assert [line for line in lines if line.startswith("… and ")] == [
        f"… and {20_000 - shown['user']:,} more user create",
        f"… and {20_000 - shown['enrollment']:,} more enrollment create",
        f"… and {20_000 - shown['assignment']:,} more assign",
    ]
    assert max(shown.values()) - min(shown.values()) <= 1
    check_golden("plan_20000_users.md", text)


def test_markdown_cap_holds_for_any_limit() -> None:
    plan = huge_plan(2_000)
    for limit in (5_000, 12_345, 30_000):
        assert len(render_markdown(plan, limit=limit)) <= limit


def test_markdown_keeps_small_plans_whole() -> None:
    text = render_markdown(small_plan())
    assert "… and" not in text
    assert text.count("<details>") == 1  # globex has no changes: no details


def test_markdown_details_put_plus_and_minus_in_the_first_column() -> None:
    """A pull-request page colours a diff line by its first character: the lines of
    creations start with "+", of removals with "-"; the rest keep their indentation."""
    text = render_markdown(small_plan())
    body = text.split("```diff\n", 1)[1].split("\n```", 1)[0].splitlines()
    assert "+   user.carl  (create: new)" in body
    assert '+       email: "carl@example.com"' in body
    assert "-   assignment.cert.dave  (unassign: removed, destructive)" in body
    assert "  ~ user.jane  (update: manifest-changed)" in body
    assert '      ~ lastName: "Smith" -> "Doe"' in body
    assert not [line for line in body if line.lstrip().startswith(("+", "-")) and line[0] == " "]


@pytest.mark.parametrize("chunk", [1, 200, 4096, 1 << 16])
def test_text_in_chunks_is_the_golden_text_in_whole_lines(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import spsync.render

    monkeypatch.setattr(spsync.render, "CHUNK_CHARS", chunk)
    for name, plan in (("plan_small.txt", small_plan()), ("plan_large.txt", large_plan())):
        chunks = list(spsync.render.text_chunks(plan))
        assert "".join(chunks) == (GOLDEN / name).read_text()
        assert all(c.endswith("\n") for c in chunks)
        longest = max(len(line) + 1 for line in "".join(chunks).splitlines())
        assert all(len(c) < chunk + longest for c in chunks)
        if chunk == 1:  # one line each
            assert len(chunks) == len("".join(chunks).splitlines())


@pytest.mark.parametrize("chunk", [1, 7, 1000])
@pytest.mark.parametrize("name", ["small", "large"])
def test_json_in_pieces_is_the_golden_json(
    name: str, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(json_pieces, "CHUNK", chunk)
    plan = {"small": small_plan, "large": large_plan}[name]()
    pieces = list(spsync.render.json_chunks(plan))
    check_golden(f"plan_{name}.json", "".join(pieces))
    changes = sum(len(tp.changes) for tp in plan.tenants)
    assert len(pieces) > changes // chunk  # in pieces, not one text
    # from changes given one at a time instead of the tenants' own: the same text
    lazily = spsync.render.json_chunks(plan, changes_of=lambda tp: iter(tp.changes))
    assert "".join(lazily) == "".join(pieces)


def test_json_in_pieces_of_no_tenants_and_of_a_few_changes() -> None:
    for plan in (make_plan([]), huge_plan(0)):
        text = "".join(spsync.render.json_chunks(plan))
        doc = json.loads(text)
        # laid out as json.dumps lays out its own content
        assert text == json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        assert list(doc) == ["format_version", "tenants", "checksum"]
        assert doc["checksum"] == plan.checksum
        assert [t["tenant"] for t in doc["tenants"]] == [tp.tenant for tp in plan.tenants]
        for t, tp in zip(doc["tenants"], plan.tenants, strict=True):
            assert list(t)[5] == "changes"
            assert [c["address"] for c in t["changes"]] == [c.address for c in tp.changes]


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_every_format_in_pieces_from_changes_given_apart(fmt: str) -> None:
    """What ``spsync show`` does: each tenant's changes come from elsewhere, one at a time;
    the text is the golden one (objects found live and covered by a change included)."""
    plan = small_plan()
    given = {tp.tenant: tp.changes for tp in plan.tenants}
    bare = plan.model_copy(
        update={"tenants": tuple(tp.model_copy(update={"changes": ()}) for tp in plan.tenants)}
    )
    pieces = spsync.render.chunks(bare, fmt, changes_of=lambda tp: iter(given[tp.tenant]))
    check_golden(f"plan_small.{EXT[fmt]}", "".join(pieces))


@pytest.mark.parametrize(
    ("unchanged", "line"),
    [
        (0, "No changes. t matches its manifests (0 resources unchanged)."),
        (1, "No changes. t matches its manifests (1 resource unchanged)."),
        (2, "No changes. t matches its manifests (2 resources unchanged)."),
        (1234, "No changes. t matches its manifests (1,234 resources unchanged)."),
    ],
)
def test_the_no_changes_line_counts_in_words(unchanged: int, line: str) -> None:
    tp = TenantPlan(
        tenant="t",
        install="AI" + "0" * 32,
        api_url="https://api.example.test",
        state_serial=1,
        state_lineage="l",
        summary=summarize(["noop"] * unchanged),
    )
    assert summary_line(tp) == line
