"""Nothing imports the CLI (docs/design.md): no module outside ``spsync/cli`` reaches
``spsync.cli``, neither by its own import statements (at the top or inside a function)
nor through what it imports, in a fresh interpreter. ``spsync/__main__.py`` is the one
exception: it is the CLI's entry point.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "spsync"

#: run in a fresh interpreter: import each module in turn, and name the first one after
#: which ``spsync.cli`` is loaded (the module that reaches it, directly or transitively)
_PROBE = """
import importlib, json, sys
culprit = None
for name in sys.argv[1:]:
    importlib.import_module(name)
    if culprit is None and any(m == "spsync.cli" or m.startswith("spsync.cli.")
                               for m in sys.modules):
        culprit = name
print(json.dumps({"culprit": culprit, "imported": len(sys.argv) - 1}))
"""


def _outside_cli() -> list[str]:
    """Every module of the package but the CLI's and the entry points (``__main__``)."""
    names = []
    for path in sorted(PKG.rglob("*.py")):
        parts = path.relative_to(PKG.parent).with_suffix("").parts
        if parts[1:2] == ("cli",) or parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _imported_names(path: Path) -> set[str]:
    """The modules ``path``'s import statements name, wherever they are (a function's
    deferred import too), relative ones resolved."""
    package = ".".join(path.relative_to(PKG.parent).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)  # from spsync import cli
    return names


def _reaches_cli(name: str) -> bool:
    return name == "spsync.cli" or name.startswith("spsync.cli.")


def test_no_module_outside_the_cli_names_it() -> None:
    offenders = {
        str(path.relative_to(PKG.parent)): sorted(
            n for n in _imported_names(path) if _reaches_cli(n)
        )
        for path in sorted(PKG.rglob("*.py"))
        if path.parent.name != "cli" and path.name != "__main__.py"
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_module_outside_the_cli_loads_it_in_a_fresh_interpreter() -> None:
    modules = _outside_cli()
    assert "spsync.planning" in modules and "spsync.workflow" in modules
    assert "spsync.sandbox.embedded" in modules
    assert not any(_reaches_cli(m) for m in modules)
    found = _probe(modules)
    assert found == {"culprit": None, "imported": len(modules)}


def test_the_checks_see_an_import_of_the_cli() -> None:
    """The checks themselves: the entry point names the CLI, and importing it loads it."""
    assert "spsync.cli" in _imported_names(PKG / "__main__.py")
    assert "spsync.cli.common" in _imported_names(PKG / "cli" / "plan_cmd.py")
    assert _probe(["spsync.errors", "spsync.__main__"])["culprit"] == "spsync.__main__"


def _probe(modules: list[str]) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *modules],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    return json.loads(out.stdout)
