"""Plan time and peak memory for a large tenant (20,000 users by default).

Prints figures, asserts nothing. Scenarios: a state that matches the manifests (no-op) and
one with 10% of the users changed, each without refresh (manifests vs state) and with
refresh (observed live objects). Run: ``.venv/bin/python benchmarks/plan_large.py [USERS]``.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from plan_helpers import applied_state, observed_matching, user, world

from spsync.planner import build_plan


def measure(label: str, fn: Callable[[], Any]) -> Any:
    tracemalloc.start()
    t0 = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label:<48} {elapsed:8.2f} s   peak {peak / 2**20:8.1f} MiB")
    return result


def changed_world(desired: Any, share: float) -> Any:
    """``desired`` with every 1/share-th user renamed (an update per changed user)."""
    step = max(1, round(1 / share))
    users = dict(desired.users)
    for i, address in enumerate(sorted(users)):
        if i % step == 0:
            name = address.split(".", 1)[1]
            users[address] = user(name, lastName="Changed")
    return desired.model_copy(update={"users": users})


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    names = [f"u{i:05d}" for i in range(n)]
    desired = measure(f"build desired ({n} users)", lambda: world(names))
    state = measure("build matching state", lambda: applied_state(desired))
    observed = measure("build matching observation", lambda: observed_matching(state, desired))
    changed = changed_world(desired, 0.10)
    for label, d in (("no-op", desired), ("10% changed", changed)):
        tp = measure(f"plan {label}, --no-refresh", lambda d=d: build_plan(d, state, None))
        print(f"    {sum(tp.summary.values())} addresses, {len(tp.changes)} changes")
        tp = measure(
            f"plan {label}, observed (pure part)", lambda d=d: build_plan(d, state, observed)
        )
        print(f"    {sum(tp.summary.values())} addresses, {len(tp.changes)} changes")


if __name__ == "__main__":
    main()
