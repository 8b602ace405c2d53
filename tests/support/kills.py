"""Kill loops of the two writers apply relies on, each in a child process using the same
functions apply uses: ``StateStore.save`` (the atomic state file) and ``Journal.put`` (the
write-ahead journal). Shared by the fast crash tests and the soak."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from spsync.journal import fold, journal_path, read_entries
from spsync.state import State
from spsync.store import StateStore
from support.reliability import RUN_TIMEOUT

#: a child saving the state of tenant "acme" again and again: the content of serial N is a
#: pure function of N (every resource says N), so a torn or mixed file cannot pass for one
STATE_WRITER = """
import sys
from pathlib import Path
from spsync.state import ResourceState, State
from spsync.store import StateStore

store = StateStore(Path(sys.argv[1]))
size = int(sys.argv[2])

def content(serial):
    return {
        f"user.u{i:05d}": ResourceState(
            sid=f"US{serial:016x}{i:016x}", refs={"course": f"CU{serial:032x}"},
            applied={"email": f"u{i}@example.com", "serial": serial},
        )
        for i in range(size)
    }

state = store.read("acme")
if state is None:
    state = State(lineage="0f0e0d0c-0b0a-4908-8706-050403020100", tenant="acme",
                  install="AI" + "ab" * 16, api_url="http://127.0.0.1:1")
print("ready", flush=True)
while True:
    state = store.save(state.model_copy(update={"resources": content(state.serial + 1)}))
"""

#: a child appending journal entries (after the state file of that lineage exists)
JOURNAL_WRITER = """
import sys
from pathlib import Path
from spsync.journal import Journal, journal_path
from spsync.state import ResourceState

directory, lineage, serial = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
with Journal(journal_path(directory, "acme"), lineage=lineage, base_serial=serial) as j:
    print("ready", flush=True)
    i = 0
    while True:
        rs = ResourceState(sid=f"US{i:032x}", applied={"n": i, "pad": "x" * 300})
        j.put(f"user.u{i:06d}", rs)
        i += 1
"""

LINEAGE = "0f0e0d0c-0b0a-4908-8706-050403020100"


def expected_resources(serial: int, size: int) -> dict[str, dict[str, object]]:
    return {
        f"user.u{i:05d}": {
            "sid": f"US{serial:016x}{i:016x}",
            "refs": {"course": f"CU{serial:032x}"},
            "applied": {"email": f"u{i}@example.com", "serial": serial},
        }
        for i in range(size)
    }


@dataclass
class Kills:
    done: int = 0
    leftovers: int = 0


def kill_child(script: str, args: list[str], rng: random.Random, most: float) -> bool:
    """Start ``script``, wait for its "ready", let it write for a random time up to
    ``most`` seconds, SIGKILL it; returns whether it was still running when killed."""
    with subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            ready = proc.stdout.readline()
            time.sleep(rng.uniform(0.0, most))
            alive = proc.poll() is None
            proc.send_signal(signal.SIGKILL)
        finally:
            _, err = proc.communicate(timeout=RUN_TIMEOUT)
    assert ready == "ready\n", err
    assert "Traceback" not in err, err
    return alive


def state_save_kills(directory: Path, trials: int, seed: int, size: int = 300) -> Kills:
    """Kill a loop of state saves ``trials`` times; after each kill the file must parse and
    hold exactly the content of its serial (old or new, never torn), and the serial never
    goes back."""
    rng = random.Random(seed)
    store = StateStore(directory)
    kills = Kills()
    last = 0
    for _ in range(trials):
        assert kill_child(STATE_WRITER, [str(directory), str(size)], rng, 0.25), "ended early"
        kills.done += 1
        state = store.read("acme")  # raises StateError on a torn file
        if state is None:  # killed before its first save completed: still the old (no) file
            assert last == 0, "the state file disappeared"
            continue
        assert state.serial >= last, (state.serial, last)
        assert state.model_dump(mode="json")["resources"] == expected_resources(state.serial, size)
        last = state.serial
    kills.leftovers = len(list(directory.glob(".acme.json.*.tmp")))
    return kills


def journal_kills(directory: Path, trials: int, seed: int) -> Kills:
    """Kill a loop of journal appends ``trials`` times; after each kill every complete line
    reads back, in order, with nothing lost before it, and folds into the state."""
    rng = random.Random(seed)
    store = StateStore(directory)
    base = store.save(State(lineage=LINEAGE, tenant="acme", install="AI" + "ab" * 16,
                            api_url="http://127.0.0.1:1"))  # fmt: skip
    path = journal_path(directory, "acme")
    kills = Kills()
    for _ in range(trials):
        path.unlink(missing_ok=True)
        args = [str(directory), LINEAGE, str(base.serial)]
        assert kill_child(JOURNAL_WRITER, args, rng, 0.1), "the writer ended before the kill"
        kills.done += 1
        entries = read_entries(path)  # a torn last line is dropped, any other is an error
        assert [e.address for e in entries] == [f"user.u{i:06d}" for i in range(len(entries))]
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
        folded, n = fold(base, entries)
        assert n == len(entries) and len(folded.resources) == len(entries)
    return kills
