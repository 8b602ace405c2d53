"""One very large tenant end to end (100,000 students by default): wall time, peak RSS, CPU
and API calls of each command, as a user runs them.

Prints figures, asserts nothing. The tenant is plan_large's (one course, one limited-scope
exam, N users, each enrolled, assigned and scheduled: 4N + 2 resources). A fresh
``spsync sandbox serve`` runs in another process (its memory is not counted), and the CLI
runs, in this order:

1. ``spsync validate`` (offline);
2. the first ``spsync apply --auto-approve`` (everything created);
3. ``spsync plan --detailed-exitcode`` (refresh, no changes);
4. ``spsync apply --auto-approve`` again (a no-op: the refresh, nothing written).

``--skip-apply`` stops after validate (the first apply of 100,000 students takes minutes).
``--saved-plan`` makes step 2 the reviewed flow instead: ``spsync plan --out plan.json``,
``spsync show plan.json`` in each format, then ``spsync apply plan.json`` (each its own
process, each measured).
Peak RSS is the CLI process's own (``peak_rss.py``); calls are counted by the simulator.

Run: ``.venv/bin/python benchmarks/roster_large.py [--users N] [--skip-apply]``
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from plan_large import manifests
from support.plan_sandbox import ENV, TOKEN, write_manifests

HERE = Path(__file__).resolve().parent


def start_server() -> tuple[subprocess.Popen[str], str]:
    """A fresh, empty ``spsync sandbox serve`` in another process, and its URL."""
    server = subprocess.Popen(
        [sys.executable, "-m", "spsync", "sandbox", "serve", "--port", "0", "--token", TOKEN,
         "--now", "2027-01-15T12:00:00Z"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert server.stdout is not None
    return server, server.stdout.readline().strip().rsplit(" ", 1)[-1]


def requests_served(url: str) -> int:
    """API calls the simulator has answered so far."""
    r = httpx.get(url + "/_sandbox/requests", headers={"token": TOKEN}, timeout=60)
    return int(r.json()["total"])


def run_cli(label: str, args: list[str], work: Path, url: str | None) -> None:
    """Run ``spsync ARGS`` and print its wall time, CPU, peak RSS and calls."""
    peak = work / "peak-rss"
    before = requests_served(url) if url else 0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, str(HERE / "peak_rss.py"), "--state-dir", str(work / "state"), *args],
        capture_output=True, text=True, check=False, cwd=work,
        env={**os.environ, **ENV, "PEAK_RSS_FILE": str(peak)},
    )  # fmt: skip
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    calls = requests_served(url) - before if url else 0
    rss = int(peak.read_text()) / 1024 if peak.exists() else float("nan")
    last = (r.stdout.strip().splitlines() or [r.stderr.strip()])[-1][:90]
    per_call = f"{1000 * cpu / calls:5.2f} ms/call" if calls else ""
    print(
        f"  {label:<28} {wall:8.1f} s  CPU {cpu:7.1f} s  peak RSS {rss:7.1f} MiB  "
        f"{calls:>7,} calls {per_call}  exit {r.returncode}: {last}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--skip-apply", action="store_true", help="only validate")
    ap.add_argument(
        "--saved-plan", action="store_true", help="first apply as plan --out, then apply PLANFILE"
    )
    args = ap.parse_args()
    n = args.users
    work = Path(tempfile.mkdtemp(prefix="spsync-roster-"))
    print(f"tenant: {n:,} students ({4 * n + 2:,} resources), work dir {work}", flush=True)
    text = manifests(n)
    tdir = write_manifests(work / "manifests", "http://127.0.0.1:1", text)
    run_cli("validate", ["validate", str(tdir)], work, None)
    if args.skip_apply:
        return
    server, url = start_server()
    try:
        write_manifests(work / "manifests", url, text)
        if args.saved_plan:
            saved = str(work / "plan.json")
            run_cli("plan --out (first)", ["plan", str(tdir), "--out", saved], work, url)
            print(f"  plan file: {os.path.getsize(saved) / 2**20:,.1f} MiB", flush=True)
            for fmt in ("text", "json", "markdown"):  # what a reviewer reads
                run_cli(f"show --format {fmt}", ["show", saved, "--format", fmt], work, None)
            run_cli("apply PLANFILE (first)", ["apply", saved], work, url)
        else:
            run_cli("first apply", ["apply", str(tdir), "--auto-approve"], work, url)
        run_cli("plan (no-op, refresh)", ["plan", str(tdir), "--detailed-exitcode"], work, url)
        run_cli("apply (no-op)", ["apply", str(tdir), "--auto-approve"], work, url)
    finally:
        server.terminate()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()


if __name__ == "__main__":
    main()
