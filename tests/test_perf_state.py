"""Saving a large state writes the same text as ``dump_state`` without holding it whole."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

from support.plan import tenant

from spsync.state import ResourceState, State, dump_state, new_state
from spsync.store import StateStore


def _big_state(n: int) -> State:
    resources = {}
    for i in range(n):
        resources[f"user.u{i}"] = ResourceState(
            sid=f"US{i:032x}", applied={"lastName": f"L{i}", "ids": {"external": f"x{i}"}}
        )
        resources[f"enrollment.main.u{i}"] = ResourceState(
            sid=f"EN{i:032x}",
            refs={"course": "CU" + "c" * 32, "user": f"US{i:032x}"},
            applied={"role": "learner"},
        )
    return new_state(tenant()).model_copy(update={"resources": resources})


def test_a_saved_state_is_exactly_dump_state(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    saved = store.save(_big_state(50))
    assert store.path("acme").read_text(encoding="utf-8") == dump_state(saved)
    assert store.load(tenant()) == saved


def test_saving_does_not_build_the_whole_text_in_memory(tmp_path: Path) -> None:
    state = _big_state(3000)
    store = StateStore(tmp_path)
    tracemalloc.start()
    try:
        dump_state(state)
        _, whole = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        store.save(state)
        _, streamed = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the text alone is about 1.3 MB here; building it whole takes several times that
    assert streamed < whole / 2


def test_a_saved_state_is_exactly_dump_state_for_any_content(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    empty = store.save(new_state(tenant()))
    assert store.path("acme").read_text(encoding="utf-8") == dump_state(empty)
    odd = {
        'session.x."q"': ResourceState(
            sid="ES" + "e" * 32,
            applied={"notes": "line 1\nline 2: caf\u00e9 \u2603", "nested": {"b": [], "a": {}}},
        ),
        "assignment.x.y": ResourceState(),
    }
    saved = store.save(new_state(tenant()).model_copy(update={"resources": odd}))
    text = store.path("acme").read_text(encoding="utf-8")
    assert text == dump_state(saved)
    assert json.loads(text)["resources"]['session.x."q"']["applied"]["notes"].endswith("\u2603")
