"""Plan files written and read a piece at a time (spsync/plan_file.py): the same text as
``dump_plan``, and for apply the same plan (without its changes) and the same verdicts as
``load_plan``, a change at a time when the file is as spsync writes it."""

from __future__ import annotations

import json

import pytest
from test_render_golden import large_plan, small_plan

from spsync import json_pieces, plan_file
from spsync.errors import PlanError
from spsync.plan import (
    Adoption,
    Change,
    Plan,
    TenantPlan,
    change_mark,
    change_marks,
    dump_plan,
    fingerprint_marks,
    load_plan,
    make_plan,
    staleness,
    summarize,
)
from spsync.plan_file import SavedPlan, plan_file_chunks, read_plan_to_show, read_saved_plan
from spsync.render import chunks, render

PLANS = {"small": small_plan, "large": large_plan}


def _expected(plan: Plan) -> SavedPlan:
    """What reading the whole file gives, as apply keeps it."""
    tenants = tuple(
        tp.model_copy(update={"changes": (), "fingerprints": {}}) for tp in plan.tenants
    )
    marks = {tp.tenant: change_marks(tp.changes) for tp in plan.tenants}
    prints = {tp.tenant: fingerprint_marks(tp.fingerprints) for tp in plan.tenants}
    return SavedPlan(plan.model_copy(update={"tenants": tenants}), marks, prints)


def _empty_tenant(name: str) -> TenantPlan:
    return TenantPlan(
        tenant=name,
        install="AI" + "0" * 32,
        api_url="https://api.example.test",
        state_serial=0,
        state_lineage="l",
        summary=summarize([]),
    )


@pytest.mark.parametrize("name", sorted(PLANS))
@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_the_pieces_are_the_plan_file(
    name: str, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(json_pieces, "CHUNK", chunk)
    plan = PLANS[name]()
    pieces = list(plan_file_chunks(plan))
    assert "".join(pieces) == dump_plan(plan)
    changes = sum(len(tp.changes) for tp in plan.tenants)
    assert len(pieces) > changes // chunk  # in pieces, not one text


def test_no_changes_and_no_tenants_are_written_as_dump_plan_writes_them() -> None:
    for plan in (make_plan([]), make_plan([_empty_tenant("b"), _empty_tenant("a")])):
        assert "".join(plan_file_chunks(plan)) == dump_plan(plan)


def test_no_plan_can_hold_the_placeholder() -> None:
    """The writer splits on the placeholder's JSON: a plan holding it is never made (its
    checksum is taken over UTF-8, which has no lone surrogate)."""
    odd = _empty_tenant("a").model_copy(update={"warnings": (json_pieces._HOLE,)})
    with pytest.raises(UnicodeEncodeError):
        make_plan([odd])


@pytest.mark.parametrize("name", sorted(PLANS))
def test_a_file_as_spsync_writes_it_is_read_change_by_change(name: str) -> None:
    plan = PLANS[name]()
    text = dump_plan(plan)
    read = plan_file._Reader(text).plan()  # the piecewise reader itself, no fallback
    assert read == _expected(plan)
    assert all(tp.changes == () for tp in read.plan.tenants)
    assert read_saved_plan(text) == read
    for tp in plan.tenants:  # every change and fingerprint is in the marks
        marks, prints = read.marks[tp.tenant], read.fingerprints[tp.tenant]
        assert [(c.address, change_mark(c)) for c in sorted(tp.changes, key=_address)] == list(
            marks.items()
        )
        assert len(prints) == len(tp.fingerprints)


def test_a_file_in_another_layout_is_read_whole_to_the_same_plan() -> None:
    plan = small_plan()
    compact = json.dumps(json.loads(dump_plan(plan)))  # same content, keys as they come
    reordered = json.dumps(dict(reversed(json.loads(dump_plan(plan)).items())))
    for text in (compact, reordered):
        assert read_saved_plan(text) == _expected(plan)
    with pytest.raises(plan_file._Unexpected):
        plan_file._Reader(reordered).plan()


def _damaged(text: str) -> list[str]:
    """Damaged copies of a plan file text (each one's error is ``load_plan``'s)."""
    first = text.index('"address"')
    return [
        text.replace('"action": "create"', '"action": "creat"', 1),  # invalid
        text.replace('"action": "create"', '"action": "update"', 1),  # checksum mismatch
        text[:first] + '"address": "x", ' + text[first:],  # a key twice in a change
        text.replace('"destructive": false', '"destructive": NaN', 1),
        text.replace('"format_version": "1"', '"format_version": "2"'),
        text[: len(text) // 2],
        text + "{}",
        "[]",
    ]


def test_a_damaged_file_is_refused_with_the_whole_file_readers_error() -> None:
    text = dump_plan(small_plan())
    for bad in _damaged(text):
        with pytest.raises(PlanError) as whole:
            load_plan(bad, "p.json")
        with pytest.raises(PlanError) as piecewise:
            read_saved_plan(bad, "p.json")
        assert str(piecewise.value) == str(whole.value)
        assert str(whole.value).startswith("p.json: ")


def _change(address: str, action: str = "create", **fields: object) -> Change:
    values: dict[str, object] = {
        "address": address,
        "action": action,
        "reason": "new",
        "destructive": False,
        "after": {"firstName": "A"},
        **fields,
    }
    return Change(**values)  # type: ignore[arg-type]


def test_marks_tell_a_different_change_from_one_waiting_for_others() -> None:
    saved = _empty_tenant("a").model_copy(
        update={
            "changes": (
                _change("user.a"),
                _change("user.b"),
                _change("user.c", depends_on=("course.x",)),
                _change("user.d"),
            )
        }
    )
    fresh = saved.model_copy(
        update={
            "changes": (
                _change("user.a"),
                _change("user.b", action="update"),
                _change("user.c"),
                _change("user.e"),
            )
        }
    )
    marks = change_marks(saved.changes)
    shell = saved.model_copy(update={"changes": ()})
    assert (
        staleness(shell, fresh, marks)
        == staleness(saved, fresh)
        == [
            "a: changes not in the plan: user.e",
            "a: changes no longer needed: user.d",
            "a: changes that are now different: user.b (create -> update)",
            "a: changes whose dependencies are now different (was the plan made by another "
            "version of spsync?): user.c",
        ]
    )
    assert staleness(shell, saved, marks, fingerprint_marks({})) == []


def test_a_saved_plan_lets_go_of_its_witnesses_once_checked() -> None:
    plan = large_plan()
    saved = read_saved_plan(dump_plan(plan))
    assert len(saved.marks["acme"]) == len(plan.tenants[0].changes) > 0
    assert len(saved.fingerprints["acme"]) == len(plan.tenants[0].fingerprints) > 0
    saved.release_witnesses()
    assert saved.marks == saved.fingerprints == {}
    assert saved.plan == _expected(plan).plan


def _address(c: Change) -> str:
    return c.address


def test_a_plan_file_with_two_changes_of_one_address_is_read_whole() -> None:
    """As ``load_plan`` takes it, the last of the two counting (as a dict of them would)."""
    plan = small_plan()
    doc = json.loads(dump_plan(plan))
    changes = doc["tenants"][0]["changes"]
    changes.append(changes[0])
    twice = make_plan([TenantPlan.model_validate(t) for t in doc["tenants"]])
    text = dump_plan(twice)
    with pytest.raises(ValueError, match="is in the table twice"):  # left to load_plan
        plan_file._Reader(text).plan()
    assert read_saved_plan(text) == _expected(twice)


# --- reading for show --------------------------------------------------------------------------


def _with_record_only(plan: Plan) -> Plan:
    """``plan`` with an object found live that no change covers (only recorded in state)."""
    found = {"user.zed": Adoption(sid="US" + "9" * 32, refs={})}
    tenants = tuple(tp.model_copy(update={"adopt": {**tp.adopt, **found}}) for tp in plan.tenants)
    return make_plan(list(tenants))


@pytest.mark.parametrize("name", sorted(PLANS))
@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
@pytest.mark.parametrize("batch", [1, 7, 1000])
@pytest.mark.parametrize("record_only", [True, False])
def test_show_reads_a_file_as_spsync_writes_it_a_batch_of_changes_at_a_time(
    name: str, fmt: str, batch: int, record_only: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan_file, "_BATCH", batch)
    plan = _with_record_only(PLANS[name]()) if record_only else PLANS[name]()
    text = dump_plan(plan)
    expected = render(load_plan(text), fmt)
    found = "Found remotely, to be recorded in state" in render(plan, "text")
    assert found == record_only
    assert plan.has_changes  # (the markdown of the plan held aside must not say otherwise)

    def whole(*_a: object) -> Plan:
        raise AssertionError("the whole-file reader was used")

    monkeypatch.setattr(plan_file, "load_plan", whole)
    shown, changes_of = read_plan_to_show(text, "p.json")
    assert all(tp.changes == () for tp in shown.tenants)
    for tp, original in zip(shown.tenants, plan.tenants, strict=True):
        given = changes_of(tp)
        assert not isinstance(given, tuple | list)  # one at a time
        assert tuple(given) == original.changes
    assert "".join(chunks(shown, fmt, changes_of=changes_of)) == expected


def test_show_reads_a_file_in_another_layout_whole() -> None:
    plan = small_plan()
    reordered = json.dumps(dict(reversed(json.loads(dump_plan(plan)).items())))
    shown, changes_of = read_plan_to_show(reordered, "p.json")
    assert shown == load_plan(reordered) == plan
    assert [tuple(changes_of(tp)) for tp in shown.tenants] == [tp.changes for tp in plan.tenants]


def test_show_refuses_a_damaged_file_with_the_whole_file_readers_error() -> None:
    for bad in _damaged(dump_plan(small_plan())):
        with pytest.raises(PlanError) as whole:
            load_plan(bad, "p.json")
        with pytest.raises(PlanError) as shown:
            read_plan_to_show(bad, "p.json")
        assert str(shown.value) == str(whole.value)


def test_show_of_plans_without_changes_or_tenants() -> None:
    for plan in (make_plan([]), make_plan([_empty_tenant("b"), _empty_tenant("a")])):
        text = dump_plan(plan)
        shown, changes_of = read_plan_to_show(text, "p.json")
        assert [list(changes_of(tp)) for tp in shown.tenants] == [[] for _ in plan.tenants]
        for fmt in ("text", "markdown", "json"):
            assert "".join(chunks(shown, fmt, changes_of=changes_of)) == render(plan, fmt)
