"""The functional core imports neither httpx nor click, nor the simulator (design.md).

Two checks: each core file's own import statements (no ``os`` or ``time`` either), and,
in a fresh interpreter, every module the core reaches through spsync's modules and the
standard library (no I/O, concurrency or shell module, however deep).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections import deque
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "spsync"
CORE = [
    "model",
    "secrets",
    "errors",
    "planner",
    "fields",
    "plan",
    "render",
    "render_parts",
    "render_markdown",
    "observed",
    "sanitize",
    "schema",
    "schema_spec",
    "schema_formats",
    "manifest_relate",
    "api/retry_decision",
    "doctor_values",
    "doctor_forms",
    "doctor_calls",
    "doctor_render",
    "apply_ops",
    "apply_report",
    "planner_base",
    "planner_provision",
    "planner_sessions",
    "sharing",
    "fresh_copy",
    "plan_file",
    "json_pieces",
    "address_table",
]
FORBIDDEN = ("httpx", "click", "spsync.sandbox", "spsync.api", "spsync.cli", "os", "time")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", CORE)
def test_core_module_is_pure(module: str) -> None:
    path = PKG / f"{module}.py"
    if not path.exists():
        pytest.fail(f"core module {module}.py is missing")
    bad = {n for n in _imports(path) if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)}
    assert bad == set()


# --- what the core reaches, transitively ----------------------------------------------------

#: the functional core (docs/design.md): values, planning and rendering, no I/O
PURE = (
    "model",
    "plan",
    "planner",
    "fields",
    "render",
    "render_parts",
    "render_markdown",
    "manifest",
    "manifest_relate",
    "manifest_tenant",
    "schema",
    "schema_spec",
    "schema_formats",
    "state",
    "sharing",
    "fresh_copy",
    "plan_file",
    "json_pieces",
    "address_table",
    "collector",
    "moves",
    "suggest",
    "observed",
    "ports",
    "doctor",
    "translate",
    "api.retry_decision",
    "doctor_values",
    "doctor_forms",
    "doctor_calls",
    "doctor_render",
    "apply_ops",
    "apply_report",
    "planner_base",
    "planner_provision",
    "planner_sessions",
)
#: I/O, concurrency and shell modules the core must not reach through its own imports
UNREACHABLE = ("fcntl", "getpass", "httpx", "asyncio", "click", "socket", "ssl", "subprocess")
#: the libraries the core is built on; what they import for themselves is theirs (pydantic
#: loads importlib.metadata, hence email and socket; deepdiff's cache loads asyncio)
LIBRARIES = ("pydantic", "pydantic_core", "yaml", "deepdiff", "typing_extensions")

#: run in a fresh interpreter: record who imports whom while the core is imported
_PROBE = """
import builtins, importlib, importlib.util, json, sys
before = sorted(sys.modules)
edges = {}
real_import = builtins.__import__

def record(name, globals=None, locals=None, fromlist=(), level=0):
    module = real_import(name, globals, locals, fromlist, level)
    importer = (globals or {}).get("__name__") or "?"
    full = name
    if level:
        package = (globals or {}).get("__package__") or importer
        full = importlib.util.resolve_name("." * level + name, package)
    parts = full.split(".")
    targets = {".".join(parts[: i + 1]) for i in range(len(parts))} if full else set()
    for item in fromlist or ():
        if f"{full}.{item}" in sys.modules:
            targets.add(f"{full}.{item}")
    edges.setdefault(importer, set()).update(t for t in targets if t != importer)
    return module

builtins.__import__ = record
for name in sys.argv[1:]:
    importlib.import_module(name)
builtins.__import__ = real_import
print(json.dumps({"before": before, "edges": {k: sorted(v) for k, v in edges.items()}}))
"""


def _probe(modules: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Modules loaded at interpreter start, and the import edges met importing ``modules``."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *modules],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    found = json.loads(out.stdout)
    return found["before"], found["edges"]


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def _stdlib(name: str) -> bool:
    """Part of the standard library (``_sysconfigdata_*`` is named after the platform)."""
    top = _top(name)
    return top in sys.stdlib_module_names or top.startswith("_sysconfigdata_")


def _reach(start: list[str], edges: dict[str, list[str]]) -> dict[str, list[str]]:
    """Every module reachable from ``start`` through spsync's own and standard-library
    modules, each with a shortest import chain leading to it; third-party modules end a
    chain."""
    chains = {m: [m] for m in start}
    todo = deque(start)
    while todo:
        here = todo.popleft()
        if _top(here) != "spsync" and not _stdlib(here):
            continue
        for there in edges.get(here, []):
            if there not in chains:
                chains[there] = [*chains[here], there]
                todo.append(there)
    return chains


def test_the_core_reaches_no_io_module_transitively() -> None:
    """Imported in a fresh interpreter, the core's modules reach no I/O or shell module,
    neither directly nor through what they import (spsync's modules, the standard library);
    and no third-party library but the ones it is built on."""
    modules = [f"spsync.{m}" for m in PURE]
    before, edges = _probe(modules)
    assert [m for m in before if _top(m) in UNREACHABLE] == []
    chains = _reach(modules, edges)
    bad = {m: " -> ".join(c) for m, c in chains.items() if _top(m) in UNREACHABLE}
    assert bad == {}
    foreign = {
        " -> ".join(c)
        for m, c in chains.items()
        if _top(m) not in {"spsync", *LIBRARIES} and not _stdlib(m)
    }
    assert foreign == set()


def test_the_reach_check_sees_through_the_standard_library() -> None:
    """The check itself: the shell reaches what the core must not, and it is found both
    directly and through the standard library."""
    _before, edges = _probe(["spsync.store"])
    chains = _reach(["spsync.store"], edges)
    assert chains["fcntl"] == ["spsync.store", "fcntl"]
    assert chains["getpass"] == ["spsync.store", "getpass"]
    _before, edges = _probe(["spsync.api.client"])
    chains = _reach(["spsync.api.client"], edges)
    assert chains["httpx"] == ["spsync.api.client", "httpx"]
    via = chains["subprocess"]  # asyncio's child watchers import it
    assert via[0] == "spsync.api.client" and via[-1] == "subprocess" and len(via) > 2
    assert all(_stdlib(m) for m in via[1:])
