"""Tenant directories and their ``tenant.yaml``: finding them under the path given, reading
one YAML file into located nodes, and each tenant's head (its name, API settings, token,
defaults) read before tenants are selected.

Part of ``manifest.load()``; the files are read here (plain reads through ``pathlib``)."""

from __future__ import annotations

import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spsync.errors import Problem
from spsync.model import TENANT_PATTERN
from spsync.schema import TENANT
from spsync.schema_spec import Ctx
from spsync.secrets import env_refusal
from spsync.suggest import Suggester
from spsync.yamlload import MAX_FILE_BYTES, Map, Node, Scalar, decode, describe, parse

TENANT_FILE = "tenant.yaml"
RESOURCE_SUFFIXES = (".yaml", ".yml")


# --- discovery -------------------------------------------------------------------------


def config_root(path: Path) -> Path:
    """The configuration repository ``path`` is in, which ``{file:}`` secrets may not leave.

    The nearest directory up from ``path`` holding ``.git``; without one, the working
    directory when it holds ``path`` (and is not ``/``); else the directory of tenants.
    """
    real = Path(path).resolve()
    for directory in (real, *real.parents):
        if (directory / ".git").exists():
            return directory
    cwd = Path.cwd().resolve()
    if cwd != Path(cwd.anchor) and real.is_relative_to(cwd):
        return cwd
    return real.parent if (real / TENANT_FILE).is_file() else real


def discover(path: Path, problems: list[Problem], *, narrowed: bool) -> list[Path]:
    """Tenant directories under ``path`` (as given, so messages show paths the user typed)."""

    def fail(where: Path, message: str) -> list[Path]:
        problems.append(Problem(str(where), 0, 0, "", message))
        return []

    if not path.exists():
        return fail(path, "no such file or directory")
    if path.is_file():
        if path.name == TENANT_FILE:
            return [path.parent]
        return fail(
            path,
            "is a file: give a tenant directory (holding tenant.yaml) or a directory of them",
        )
    if (path / TENANT_FILE).is_file():
        return [path]
    try:
        children = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as e:
        return fail(path, f"cannot be read: {e.strerror}")
    found: list[Path] = []
    for child in children:
        if (child / TENANT_FILE).is_file():
            found.append(child)
        elif not narrowed and yaml_files(child):
            hint = " (rename tenant.yml to tenant.yaml)" if (child / "tenant.yml").exists() else ""
            fail(child, f"has YAML files but no tenant.yaml{hint}")
    if not found and not problems and yaml_files(path):
        hint = " (rename tenant.yml to tenant.yaml)" if (path / "tenant.yml").exists() else ""
        return fail(path, f"has YAML files but no tenant.yaml{hint}")
    if not found and not problems:
        return fail(
            path,
            "no tenant.yaml here or in its sub-directories: give a tenant directory "
            "(holding tenant.yaml) or a directory of them",
        )
    return found


def yaml_files(directory: Path) -> list[Path]:
    """The YAML files of ``directory`` in name order (hidden ones left out; none when it
    cannot be read). Every name with a YAML suffix is one, whatever it is: a link to
    nothing, a directory or a pipe is a file that cannot be read (``read_file`` says so),
    never one left out, whose resources the plan would then remove."""
    try:
        return sorted(
            p
            for p in directory.iterdir()
            if p.suffix in RESOURCE_SUFFIXES and not p.name.startswith(".")
        )
    except OSError:
        return []


#: the problem of a file with nothing in it (which defines nothing: read, not unreadable)
EMPTY_FILE = "the file is empty (expected a mapping)"


def read_file(path: Path, display: str, problems: list[Problem]) -> Map | None:
    """One YAML file as a top-level mapping, or None (problems reported)."""

    def fail(line: int, col: int, where: str, message: str) -> None:
        problems.append(Problem(display, line, col, where, message))

    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            fail(0, 0, "", f"cannot be read: not a regular file ({_not_a_file(info.st_mode)})")
            return None
        size = info.st_size
        if size > MAX_FILE_BYTES:
            fail(0, 0, "", f"file too large ({size:,} bytes; at most {MAX_FILE_BYTES:,})")
            return None
        data = path.read_bytes()
    except OSError as e:
        fail(0, 0, "", f"cannot be read: {e.strerror or type(e).__name__}")
        return None
    text, problem = decode(data)
    if problem is not None:
        fail(problem.line, problem.col, problem.where, problem.message)
        return None
    assert text is not None
    root, found = parse(text)
    for p in found:
        fail(p.line, p.col, p.where, p.message)
    if found and root is None:
        return None
    if root is None:
        fail(1, 1, "", EMPTY_FILE)
        return None
    if not isinstance(root, Map):
        fail(root.line, root.col, "", f"the top level must be a mapping, got {describe(root)}")
        return None
    return root


def _not_a_file(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


# --- tenant.yaml -------------------------------------------------------------------------


@dataclass
class Head:
    """A tenant directory and its tenant.yaml, read before tenants are selected."""

    dir: Path
    file: str
    problems: list[Problem]
    root: Map | None
    values: dict[str, Any]
    #: the tenant's name, or the directory's when tenant.yaml does not give a valid one
    name: str
    name_node: Node | None


def read_head(
    directory: Path,
    env: Mapping[str, str],
    sandbox: bool,
    suggest: Suggester,
    secrets: bool = True,
    config: Path | None = None,
) -> Head:
    """The tenant.yaml of ``directory``, checked (its problems kept in the result); the API
    token is required unless ``sandbox``. ``config``: the configuration repository."""
    file = str(directory / TENANT_FILE)
    problems: list[Problem] = []
    root = read_file(directory / TENANT_FILE, file, problems)
    values: dict[str, Any] = {}
    name, name_node = directory.name, None
    if root is not None:
        cx = Ctx(
            file,
            problems,
            base_dir=directory,
            env=env,
            sandbox=sandbox,
            read_secrets=secrets,
            suggest=suggest,
            tenant=_name_given(root) or valid_name(directory.name),
            root=config,
        )
        values = TENANT.check(root, "", cx)
        if "tenant" in values:
            name, name_node = values["tenant"], root.items["tenant"][1]
        api = values.get("api", {})
        api_node = root.items.get("api")
        if not sandbox and "token" not in api and not _has(api_node, "token"):
            where_node = api_node[1] if api_node else root
            cx.add(
                where_node,
                "api.token",
                "missing: give the API token as {env: VARIABLE} or {file: path} "
                "(not needed with --sandbox)",
            )
    return Head(directory, file, problems, root, values, name, name_node)


def _name_given(root: Map) -> str | None:
    """The ``tenant:`` of a tenant.yaml before it is checked, when it is a valid name (the
    token's variable is checked against it while the rest of the file is read)."""
    pair = root.items.get("tenant")
    if pair is None or type(pair[1]) is not Scalar or pair[1].is_null:
        return None
    return valid_name(pair[1].value.strip()) or None


def valid_name(name: str) -> str:
    """``name`` when it is a valid tenant name, else ``""``: an invalid name is already a
    problem, and the prefix rule of ``{env:}`` secrets is checked against valid names."""
    return name if re.match(TENANT_PATTERN, name) else ""


def check_token_owner(head: Head, known: list[str]) -> None:
    """The token of ``head`` must not be read from another tenant's longer prefix (only
    checkable once every tenant's name is known)."""
    token = head.values.get("api", {}).get("token")
    source = getattr(token, "source", "")
    if not source.startswith("env:") or head.root is None or not valid_name(head.name):
        return
    refusal = env_refusal(source[4:], head.name, known)
    if refusal is None:
        return
    node = _node_at(head.root, "api", "token", "env")
    head.problems.append(Problem(head.file, node.line, node.col, "api.token.env", refusal))
    head.values["api"]["token"] = None


def _node_at(node: Node, *keys: str) -> Node:
    """The node at ``keys`` down nested mappings that were read already, so hold them."""
    for key in keys:
        assert isinstance(node, Map), key
        node = node.items[key][1]
    return node


def _has(pair: tuple[Scalar, Node] | None, key: str) -> bool:
    return pair is not None and isinstance(pair[1], Map) and key in pair[1].items


def check_unique(heads: list[Head], selected: list[Head]) -> None:
    """A selected tenant whose name an earlier directory (in name order) already took gets
    a problem naming that directory's tenant.yaml."""
    first: dict[str, Head] = {}
    chosen = {id(h) for h in selected}
    for head in sorted(heads, key=lambda h: h.dir.name):
        if head.name_node is None:
            continue
        prior = first.setdefault(head.name, head)
        if prior is not head and id(head) in chosen:
            node = head.name_node
            head.problems.append(
                Problem(
                    head.file,
                    node.line,
                    node.col,
                    "tenant",
                    f'tenant "{head.name}" is already defined in {prior.file}; '
                    "tenant names must be unique",
                )
            )
