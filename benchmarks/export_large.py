"""`spsync export` of a large tenant (20,000 students by default): wall time, peak RSS and
API calls, then the plan of what it wrote (which must report no changes).

Prints figures, asserts nothing. The tenant is plan_large.py's (one course, one
limited-scope exam, N users, each enrolled, assigned and scheduled), filled into the
simulator directly through its model and served by `spsync sandbox serve` in another
process, so the figures are the command's own, over HTTP.

Run: ``.venv/bin/python benchmarks/export_large.py [--users N]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from plan_large import KEY, NOW, WorldClient, manifests, serve_world
from support.plan_sandbox import ENV, INSTALL, TOKEN, provision_all, write_manifests

from spsync import manifest
from spsync.sandbox.persistence import dumps
from spsync.sandbox.server import build_world

PEAK = Path(__file__).with_name("peak_rss.py")


def timed_cli(label: str, args: list[str], env: dict[str, str], peak: Path) -> str:
    """Run the CLI under peak_rss.py; print wall time, peak RSS and its last line."""
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, str(PEAK), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env, "PEAK_RSS_FILE": str(peak)},
    )
    elapsed = time.perf_counter() - t0
    rss = int(peak.read_text()) / 1024
    lines = (r.stdout.strip() or r.stderr.strip()).splitlines()
    print(f"  {label:<36} {elapsed:7.2f} s   RSS {rss:7.1f} MiB   exit {r.returncode}")
    for line in lines[:2] + lines[-1:]:
        print(f"      {line[:110]}")
    return r.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=20_000)
    n = ap.parse_args().users
    tmp = Path(tempfile.mkdtemp(prefix="spsync-bench-export-"))
    print(f"tenant: {n:,} students ({4 * n + 2:,} resources), work dir {tmp}")

    tdir = write_manifests(tmp / "manifests", "http://127.0.0.1:1", manifests(n))
    desired = manifest.load(tdir, env=ENV)[0]
    t0 = time.perf_counter()
    world = build_world(now=NOW, seed=1)
    state = asyncio.run(provision_all(desired, WorldClient(world), KEY))  # type: ignore[arg-type]
    (tmp / "world.json").write_bytes(dumps(world.to_json()))
    course = state.resources["course.main"].sid
    assert course is not None
    print(f"  {'(setup) fill the simulator':<36} {time.perf_counter() - t0:7.2f} s")

    server, url = serve_world(tmp / "world.json")
    try:
        env = {"SPSYNC_BIG_TOKEN": TOKEN}
        state_dir = ["--state-dir", str(tmp / "state")]
        timed_cli(
            "`spsync export`",
            [*state_dir, "export", str(tmp / "exported"), "--tenant", "big",
             "--install", INSTALL, "--api-url", url, "--course", course],
            env, tmp / "peak-export",
        )  # fmt: skip
        env["SPSYNC_BIG_EXAM_CERT_PASSWORD"] = ENV["SPSYNC_ACME_CERT_PW"]
        timed_cli(
            "`spsync plan` of the export",
            [*state_dir, "plan", str(tmp / "exported" / "big"), "--detailed-exitcode"],
            env, tmp / "peak-plan",
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()


if __name__ == "__main__":
    main()
