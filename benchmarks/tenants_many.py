"""Many tenants in one run: ``spsync plan manifests`` over a directory of tenants.

Prints figures, asserts nothing. The same 20,000 students are laid out three ways: 100
tenants of 200, 10 tenants of 2,000, and one tenant of 20,000 (each tenant: plan_large's
roster, one course and one limited-scope exam, every student enrolled, assigned and
scheduled, on an install of its own). The simulator is filled directly through its model,
saved, and served by ``spsync sandbox serve`` in another process; each state is what an
apply would have written. Then ``spsync plan DIR --detailed-exitcode`` runs with refresh,
nothing to change: wall time, CPU, peak RSS (the CLI's own, ``peak_rss.py``), API calls
(counted by the simulator) and CPU per call, each layout against the one tenant of 20,000.

Run: ``.venv/bin/python benchmarks/tenants_many.py [--layouts 100x200,10x2000,1x20000]``
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from plan_large import KEY, NOW, WorldClient, end_to_end, manifests, serve_world
from support.plan_sandbox import ENV, TOKEN, provision_all

from spsync import manifest
from spsync.sandbox.persistence import dumps
from spsync.sandbox.server import build_world
from spsync.secrets import env_prefix
from spsync.store import StateStore

TENANT_YAML = """\
tenant: {name}
install: {install}
api:
  url: {url}
  token: {{env: {prefix}TOKEN}}
defaults:
  user: {{timeZone: America/New_York}}
  exam: {{type: online, limitedScope: true}}
  session: {{type: automated, amount: 0, currency: USD}}
"""


def layout_env(names: list[str]) -> dict[str, str]:
    """Every tenant's token and exam password (the prefix rule: each reads its own)."""
    env: dict[str, str] = {}
    for name in names:
        env[f"{env_prefix(name)}TOKEN"] = TOKEN
        env[f"{env_prefix(name)}CERT_PW"] = ENV["SPSYNC_ACME_CERT_PW"]
    return env


def write_layout(root: Path, tenants: int, students: int, url: str) -> list[str]:
    """``tenants`` tenant directories of ``students`` each under ``root``; their names."""
    roster = manifests(students)
    names = [f"t{i:03d}" for i in range(tenants)]
    for i, name in enumerate(names):
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        install = f"AI{0xA0000000 + i:032x}"
        (d / "tenant.yaml").write_text(
            TENANT_YAML.format(name=name, install=install, url=url, prefix=env_prefix(name))
        )
        (d / "main.yaml").write_text(
            roster.replace("SPSYNC_ACME_CERT_PW", f"{env_prefix(name)}CERT_PW")
        )
    return names


def measure(tenants: int, students: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="spsync-tenants-"))
    root = tmp / "manifests"
    names = write_layout(root, tenants, students, "http://127.0.0.1:1")
    env = layout_env(names)
    t0 = time.perf_counter()
    world = build_world(now=NOW, seed=1)
    states = []
    for desired in manifest.load(root, env=env):
        client = WorldClient(world, desired.tenant.install)
        states.append(asyncio.run(provision_all(desired, client, KEY)))  # type: ignore[arg-type]
    (tmp / "world.json").write_bytes(dumps(world.to_json()))
    del world
    fill = time.perf_counter() - t0
    server, url = serve_world(tmp / "world.json")
    try:
        write_layout(root, tenants, students, url)
        store = StateStore(tmp / "state")
        for state in states:
            store.save(state.model_copy(update={"api_url": url}))
        del states
        print(f"{tenants} x {students:,} students (setup {fill:.1f} s, work dir {tmp})")
        end_to_end(["plan", str(root), "--detailed-exitcode"], tmp, url, env=env)
    finally:
        server.terminate()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--layouts",
        default="100x200,10x2000,1x20000",
        help="TENANTSxSTUDENTS, comma-separated",
    )
    args = ap.parse_args()
    for layout in args.layouts.split(","):
        tenants, students = (int(x) for x in layout.split("x"))
        measure(tenants, students)


if __name__ == "__main__":
    main()
