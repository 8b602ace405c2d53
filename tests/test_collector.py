"""``spsync.collector.bulk``: the cyclic collector paused while data is built in bulk, and
in the CLI's own process what was built frozen out of its sight."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

from spsync.collector import bulk, freeze_after_bulk

ROOT = Path(__file__).resolve().parents[1]


def test_bulk_pauses_the_collector_and_turns_it_on_again() -> None:
    assert gc.isenabled()
    with bulk():
        assert not gc.isenabled()
        with bulk():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner use found it off and leaves it off
    assert gc.isenabled()


def test_a_collector_found_off_stays_off() -> None:
    gc.disable()
    try:
        with bulk():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_pause_ends_on_an_error_too() -> None:
    try:
        with bulk():
            raise ValueError("boom")
    except ValueError:
        pass
    assert gc.isenabled()


def test_what_was_built_is_frozen_only_when_asked() -> None:
    before = gc.get_freeze_count()
    with bulk():
        kept = [[i] for i in range(1_000)]
    assert gc.get_freeze_count() == before  # a process running commands in a loop
    freeze_after_bulk()
    try:
        with bulk():
            kept += [[i] for i in range(1_000)]
        assert gc.get_freeze_count() >= before + 2_000
        assert gc.isenabled()
    finally:
        freeze_after_bulk(False)
        gc.unfreeze()


SCRIPT = (
    "import atexit, gc, sys\n"
    "atexit.register(lambda: print('frozen', gc.get_freeze_count(), gc.isenabled(),"
    " file=sys.stderr))\n"
    "from spsync.cli import run\n"
    "sys.argv = ['spsync', *sys.argv[1:]]\n"
    "run()\n"
)


def test_the_cli_freezes_the_manifests_it_loaded() -> None:
    """``spsync validate`` of the example tenants: the manifests, built in bulk, are frozen
    by the time the command ends, and the collector is on."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, "--sandbox", "validate", "--no-secrets", "manifests"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    word, count, enabled = done.stderr.strip().splitlines()[-1].split()
    assert (word, enabled) == ("frozen", "True")
    assert int(count) > 10_000
