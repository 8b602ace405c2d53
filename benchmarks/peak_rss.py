"""Run the spsync CLI and record the process's own peak RSS when it exits.

    PEAK_RSS_FILE=/tmp/peak python benchmarks/peak_rss.py plan manifests/acme

writes the peak resident set size in KiB (``VmHWM`` of ``/proc/self/status``) to
``$PEAK_RSS_FILE``. The benchmarks use it rather than ``wait4``'s ``ru_maxrss``, which also
counts the pages a child shared with its parent before ``exec``: a benchmark holding a large
simulator in memory would otherwise report its own size for every command it starts.
"""

from __future__ import annotations

import atexit
import os
from pathlib import Path


def peak_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _record() -> None:
    target = os.environ.get("PEAK_RSS_FILE")
    if target:
        Path(target).write_text(f"{peak_kib()}\n")


if __name__ == "__main__":
    atexit.register(_record)
    from spsync.cli import run

    run()
