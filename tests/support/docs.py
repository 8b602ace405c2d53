"""Helpers of the documentation tests (tests/test_docs_*.py): the example repository, a
``spsync`` shim for running documented commands on the sandbox, markdown code blocks."""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
DOCS = REPO / "docs"

#: the simulated clock of every documentation test (and of ``make demo``): the example
#: appointments (2028) stay in the future of it however much time passes
PINNED_NOW = "2027-06-01T00:00:00Z"


def secret_refs(data: Any) -> Iterator[dict[str, str]]:
    """Every ``{env: X}`` / ``{file: X}`` mapping in a loaded YAML document."""
    if isinstance(data, dict):
        if len(data) == 1 and set(data) <= {"env", "file"}:
            yield data
            return
        for v in data.values():
            yield from secret_refs(v)
    elif isinstance(data, list):
        for v in data:
            yield from secret_refs(v)


def example_files() -> list[Path]:
    """The example manifests, every YAML file of every tenant."""
    return sorted(p for p in MANIFESTS.rglob("*.y*ml"))


def example_env_names(kind: str = "all") -> set[str]:
    """Environment variables the example manifests read (``tokens``, ``passwords`` or all)."""
    names = set()
    for path in example_files():
        is_tenant = path.name == "tenant.yaml"
        if (kind == "tokens" and not is_tenant) or (kind == "passwords" and is_tenant):
            continue
        for ref in secret_refs(yaml.safe_load(path.read_text(encoding="utf-8"))):
            if "env" in ref:
                names.add(ref["env"])
    return names


def example_env() -> dict[str, str]:
    """Values for the example exam passwords (the sandbox stores them like the service)."""
    return {name: f"example-{name.lower()}" for name in sorted(example_env_names("passwords"))}


def write_exe(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def plain_shim(prefix: str = "") -> str:
    """An ``spsync`` executable running this checkout's CLI (``prefix``: options first)."""
    return f'#!/bin/sh\nexec "{sys.executable}" -m spsync {prefix} "$@"\n'


def make_shims(bin_dir: Path, skip_log: Path, spsync: str) -> None:
    """``spsync`` (the executable text ``spsync``: this checkout's CLI, on the sandbox);
    ``make``: the repository's Makefile run on the working directory's manifests with that
    ``spsync`` (no virtualenv set-up). ``make test`` is the suite that runs these very
    tests: it is not run again, only logged in ``skip_log``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    write_exe(bin_dir / "spsync", spsync)
    make = shutil.which("make") or "make"
    write_exe(
        bin_dir / "make",
        "#!/bin/sh\n"
        'if [ "$*" = test ]; then\n'
        f'  echo "make $*" >> "{skip_log}"\n'
        "  exit 0\n"
        "fi\n"
        f'exec "{make}" -s -f "{REPO / "Makefile"}" STAMP= BIN="{bin_dir}" "$@"\n',
    )


def sandbox_workdir(root: Path, spsync: str | None = None) -> dict[str, str]:
    """A copy of the example manifests in ``root``, with shims (``spsync``: the text of the
    ``spsync`` executable; default: this checkout's CLI with ``--sandbox``); returns the
    environment to run documented commands in (example passwords set, clock pinned, no
    colour)."""
    shutil.copytree(MANIFESTS, root / "manifests")
    make_shims(root / ".bin", root / ".skipped", spsync or plain_shim("--sandbox"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SPSYNC_", "NO_COLOR", "FORCE_COLOR", "PYTEST_", "COV_"))
    }
    env.update(example_env())
    env.update(
        {
            "PATH": f"{root / '.bin'}{os.pathsep}{env.get('PATH', '')}",
            "SPSYNC_SANDBOX_NOW": PINNED_NOW,
            "NO_COLOR": "1",
            "HOME": str(root),
        }
    )
    return env


# --- markdown ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """A fenced code block: its info string, text and the line of its opening fence."""

    file: Path
    line: int
    info: str
    text: str

    @property
    def lang(self) -> str:
        return self.info.split()[0] if self.info else ""

    @property
    def attrs(self) -> dict[str, str]:
        """``key=value`` words of the info string (```yaml file=manifests/acme/x.yaml)."""
        return dict(w.split("=", 1) for w in self.info.split()[1:] if "=" in w)

    def where(self) -> str:
        return f"{self.file.relative_to(REPO)}:{self.line}"


_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)(?P<info>.*)$")


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a markdown file, indented ones (in lists) included."""
    out: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence = len(m["indent"]), m["fence"]
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        out.append(Block(path, i + 1, m["info"].strip(), "\n".join(body) + "\n"))
        i = j + 1
    return out


def doc_files() -> list[Path]:
    """README.md and every page of docs/."""
    return [REPO / "README.md", *sorted(DOCS.glob("*.md"))]
