"""The functional core imports neither httpx nor click, nor the simulator (design.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "spsync"
CORE = ["model", "secrets", "errors", "planner", "plan", "render", "observed", "sanitize"]
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
