"""How often apply folds its journal into the state file: rarely enough that rewriting a
growing state costs a few full saves in all (not one per few hundred changes, which is
O(N²)), and never more than a small share of the run's time."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.plan import tenant, world

from spsync.apply import Executor
from spsync.journal import Journal, journal_path
from spsync.plan import Change
from spsync.state import ResourceState, State, new_state
from spsync.store import StateStore


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Store(StateStore):
    """Counts saves; each save 'takes' ``cost`` seconds of the fake clock."""

    def __init__(self, directory: Path, clock: _Clock | None = None, cost: float = 0.0) -> None:
        super().__init__(directory)
        self.saved_at: list[float] = []
        self.sizes: list[int] = []
        self.clock = clock
        self.cost = cost

    def save(self, state: State) -> State:
        if self.clock is not None:
            self.clock.now += self.cost
            self.saved_at.append(self.clock.now)
        self.sizes.append(len(state.resources))
        return super().save(state)


def _executor(tmp_path: Path, store: StateStore, **kw: object) -> Executor:
    t = tenant()
    state = store.save(new_state(t))
    journal = Journal(
        journal_path(store.directory, t.tenant), lineage=state.lineage, base_serial=state.serial
    )
    return Executor(
        [],
        world(),
        state,
        None,
        store=store,
        journal=journal,
        applied_of=lambda a: {},
        **kw,  # type: ignore[arg-type]
    )


def _rs(i: int) -> ResourceState:
    return ResourceState(sid=f"US{i:032x}")


def test_compactions_grow_with_the_state(tmp_path: Path) -> None:
    store = _Store(tmp_path / "state")
    ex = _executor(tmp_path, store, compact_every=10, compact_interval_s=3600.0)
    store.sizes.clear()
    for i in range(1000):
        ex.put(f"user.u{i}", _rs(i))
        # the journal never grows past the larger of compact_every and half the state
        assert ex.journal.count < max(10, len(ex.state.resources) // 2) + 1
    # each save holds about twice as much as the last, so 1,000 changes cost 7 saves (a
    # fixed period of 10 would cost 100)
    assert store.sizes == [10, 20, 39, 77, 153, 305, 609]
    ex.compact()
    ex.journal.discard()
    assert len(store.load(tenant()).resources) == 1000


def test_a_costly_compaction_spaces_out_the_timed_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = _Clock()
    monkeypatch.setattr("spsync.apply.time.monotonic", clock)
    store = _Store(tmp_path / "state", clock, cost=2.0)
    ex = _executor(tmp_path, store, compact_every=10**9, compact_interval_s=15.0)
    store.saved_at.clear()
    for i in range(200):
        clock.now += 1.0
        ex.put(f"user.u{i}", _rs(i))
    ex.journal.discard()
    # the executor starts at t=2 (after the initial save): the first compaction comes 15 s
    # later and takes 2 s, so the next waits 20 x 2 = 40 s, not 15
    assert store.saved_at[0] == pytest.approx(19.0)
    gaps = [b - a for a, b in zip(store.saved_at, store.saved_at[1:], strict=False)]
    assert gaps and all(g == pytest.approx(42.0) for g in gaps)


def test_no_compaction_by_count_when_the_end_is_near(tmp_path: Path) -> None:
    store = _Store(tmp_path / "state")
    ex = _executor(tmp_path, store, compact_every=10, compact_interval_s=3600.0)
    changes = [
        Change(address=f"user.u{i}", action="create", reason="new", destructive=False)
        for i in range(640)
    ]
    ex._in_plan = {c.address: c for c in changes}  # as the executor holds a plan's changes
    ex._order = list(ex._in_plan)
    store.sizes.clear()
    for i, c in enumerate(changes):
        ex.put(c.address, _rs(i))
        ex.done(c)
        # past the threshold only by what is left to do: at most a quarter more
        assert ex.journal.count <= 1.25 * max(10, len(ex.state.resources) // 2) + 1
    # 609 would have been saved after 609 of 640 changes: the final save comes soon after
    assert store.sizes == [10, 20, 39, 77, 153, 305]
    assert ex.journal.count == 640 - 305
    ex.compact()
    ex.journal.discard()
    assert len(store.load(tenant()).resources) == 640
