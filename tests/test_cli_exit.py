"""The CLI ends without freeing its objects one by one (``cli._leave``): exit codes, exit
handlers and everything written on stdout are as with the interpreter's own exit."""

from __future__ import annotations

import subprocess
import sys

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
