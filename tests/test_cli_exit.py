"""The CLI ends without freeing its objects one by one (``cli._leave``): exit codes, exit
handlers and everything written on stdout are as with the interpreter's own exit."""

from __future__ import annotations

import pstats
import subprocess
import sys
from pathlib import Path

SCRIPT = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('handler ran', file=sys.stderr))\n"
    "from spsync.cli import run\n"
    "sys.argv = ['spsync', *sys.argv[1:]]\n"
    "run()\n"
)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, check=False
    )


def test_exit_codes_handlers_and_the_whole_output() -> None:
    ok = _run("schema")
    assert ok.returncode == 0
    assert ok.stdout.rstrip().endswith("}") and len(ok.stdout) > 20_000  # all of it flushed
    assert ok.stderr.strip().splitlines()[-1] == "handler ran"
    bad = _run("plna")
    assert bad.returncode == 1
    assert "No such command 'plna'" in bad.stderr and "handler ran" in bad.stderr


def test_a_profiled_run_ends_as_usual_so_the_profile_is_written(tmp_path: Path) -> None:
    """``python -m cProfile -o FILE -m spsync ...`` (how docs/performance.md profiles an
    apply) writes FILE after the command returns: a profiled run keeps the interpreter's
    own exit."""
    out = tmp_path / "run.prof"
    done = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "spsync", "schema"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    stats = pstats.Stats(str(out))
    assert any("spsync" in path for path, _line, _name in stats.stats)  # type: ignore[attr-defined]
