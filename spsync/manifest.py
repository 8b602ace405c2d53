"""Manifests -> ``Desired``: discovery, reading, cross-resource checks, implied entries.

``load()`` is the only entry point. It reads a tenant directory (``tenant.yaml`` plus any
number of ``*.yaml``/``*.yml`` resource files) or a directory of tenant directories, and
either returns one validated, defaulted, normalised ``Desired`` per tenant or raises
``ManifestError`` carrying *every* problem found, each located as ``file:line:col``.

The work is layered:

- ``spsync.yamlload`` turns bytes into located nodes (syntax, duplicate keys, tags, limits);
- ``spsync.schema`` reads one node at a time (fields, types, formats, secrets);
- this module relates resources to each other: names unique across files, references,
  required-to-create fields, defaults, session windows, duplicates and conflicts, and the
  implied entries (a session implies its assignment, an assignment a learner enrollment).

Nothing here touches the network; the environment is read only through ``env``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from spsync.errors import ManifestError, Problem, UsageError
from spsync.model import TENANT_PATTERN, Desired
from spsync.schema import (
    COURSE,
    ENROLLMENT,
    EXAM,
    RESOURCES,
    SECTIONS,
    SESSION,
    TENANT,
    USER,
    ref_spec,
)
from spsync.schema_formats import name_spec
from spsync.schema_spec import INVALID, Ctx, Obj
from spsync.secrets import env_refusal
from spsync.suggest import Suggester, Vocab
from spsync.yamlload import (
    MAX_FILE_BYTES,
    Map,
    Node,
    Scalar,
    Seq,
    decode,
    describe,
    gc_paused,
    parse,
)

TENANT_FILE = "tenant.yaml"
RESOURCE_SUFFIXES = (".yaml", ".yml")

#: fields a resource must carry when it is not identified by ``ids.sid`` (spsync may create it)
REQUIRED_TO_CREATE = {
    "course": ("title", "code"),
    "exam": ("title", "configuration"),
    "user": ("firstName", "lastName", "email"),
}
SECTION_OF = {"course": "courses", "exam": "exams", "user": "users"}

_NAME = name_spec("")
_REF = ref_spec("")


def load(
    path: Path,
    *,
    tenants: Sequence[str] = (),
    sandbox: bool = False,
    env: Mapping[str, str] | None = None,
    secrets: bool = True,
) -> list[Desired]:
    """Read and validate the manifests under ``path``.

    ``path`` is a tenant directory (holding ``tenant.yaml``) or a directory of them;
    tenants come back in name order, narrowed to ``tenants`` when given (an unknown name is
    a ``UsageError`` listing the known ones). ``sandbox``: the API token is not read (it
    is ``None`` in the result); every other secret still is, and a missing one is still a
    problem. ``env`` defaults to ``os.environ``. ``secrets=False`` (``validate
    --no-secrets``): secret references are checked for shape but not read, neither from
    the environment nor from files; each secret of the result is an ``UnreadSecret`` that
    cannot be revealed (and the token is ``None``), so such a result is for validation only.

    Raises ``ManifestError`` with every problem of the selected tenants.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    path = Path(path)
    problems: list[Problem] = []
    suggest = Suggester()
    root = config_root(path)
    with gc_paused():
        dirs = _discover(path, problems, narrowed=bool(tenants))
        heads = [_read_head(d, environ, sandbox, suggest, secrets, root) for d in dirs]
        known = sorted({h.name for h in heads})
        for head in heads:
            _check_token_owner(head, known)
        unknown = [t for t in tenants if t not in known]
        if unknown and not problems:
            listed = ", ".join(known) if known else "none"
            raise UsageError(
                f"unknown tenant {', '.join(repr(t) for t in unknown)} in {path} (known: {listed})"
            )
        selected = [h for h in heads if not tenants or h.name in tenants]
        _check_unique(heads, selected)
        selected.sort(key=lambda h: (h.name, h.file))
        out: list[Desired] = []
        for head in selected:
            desired = _TenantLoader(
                head, environ, sandbox, suggest, secrets, tuple(known), root
            ).run()
            problems.extend(head.problems)
            if desired is not None:
                out.append(desired)
    if problems:
        raise ManifestError(problems)
    return out


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


def _discover(path: Path, problems: list[Problem], *, narrowed: bool) -> list[Path]:
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
        elif not narrowed and _yaml_files(child):
            hint = " (rename tenant.yml to tenant.yaml)" if (child / "tenant.yml").exists() else ""
            fail(child, f"has YAML files but no tenant.yaml{hint}")
    if not found and not problems and _yaml_files(path):
        hint = " (rename tenant.yml to tenant.yaml)" if (path / "tenant.yml").exists() else ""
        return fail(path, f"has YAML files but no tenant.yaml{hint}")
    if not found and not problems:
        return fail(
            path,
            "no tenant.yaml here or in its sub-directories: give a tenant directory "
            "(holding tenant.yaml) or a directory of them",
        )
    return found


def _yaml_files(directory: Path) -> list[Path]:
    try:
        return sorted(
            p
            for p in directory.iterdir()
            if p.suffix in RESOURCE_SUFFIXES and not p.name.startswith(".") and p.is_file()
        )
    except OSError:
        return []


def _read_file(path: Path, display: str, problems: list[Problem]) -> Map | None:
    """One YAML file as a top-level mapping, or None (problems reported)."""

    def fail(line: int, col: int, where: str, message: str) -> None:
        problems.append(Problem(display, line, col, where, message))

    try:
        size = path.stat().st_size
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
        fail(1, 1, "", "the file is empty (expected a mapping)")
        return None
    if not isinstance(root, Map):
        fail(root.line, root.col, "", f"the top level must be a mapping, got {describe(root)}")
        return None
    return root


# --- tenant.yaml -------------------------------------------------------------------------


@dataclass
class _Head:
    """A tenant directory and its tenant.yaml, read before tenants are selected."""

    dir: Path
    file: str
    problems: list[Problem]
    root: Map | None
    values: dict[str, Any]
    #: the tenant's name, or the directory's when tenant.yaml does not give a valid one
    name: str
    name_node: Node | None


def _read_head(
    directory: Path,
    env: Mapping[str, str],
    sandbox: bool,
    suggest: Suggester,
    secrets: bool = True,
    config: Path | None = None,
) -> _Head:
    file = str(directory / TENANT_FILE)
    problems: list[Problem] = []
    root = _read_file(directory / TENANT_FILE, file, problems)
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
            tenant=_name_given(root) or _valid_name(directory.name),
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
    return _Head(directory, file, problems, root, values, name, name_node)


def _name_given(root: Map) -> str | None:
    """The ``tenant:`` of a tenant.yaml before it is checked, when it is a valid name (the
    token's variable is checked against it while the rest of the file is read)."""
    pair = root.items.get("tenant")
    if pair is None or type(pair[1]) is not Scalar or pair[1].is_null:
        return None
    return _valid_name(pair[1].value.strip()) or None


def _valid_name(name: str) -> str:
    """``name`` when it is a valid tenant name, else ``""``: an invalid name is already a
    problem, and the prefix rule of ``{env:}`` secrets is checked against valid names."""
    return name if re.match(TENANT_PATTERN, name) else ""


def _check_token_owner(head: _Head, known: list[str]) -> None:
    """The token of ``head`` must not be read from another tenant's longer prefix (only
    checkable once every tenant's name is known)."""
    token = head.values.get("api", {}).get("token")
    source = getattr(token, "source", "")
    if not source.startswith("env:") or head.root is None or not _valid_name(head.name):
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


def _check_unique(heads: list[_Head], selected: list[_Head]) -> None:
    first: dict[str, _Head] = {}
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


# --- resources ---------------------------------------------------------------------------

#: what an entry's node is once the trees are let go (``_TenantLoader._forget_nodes``)
_NO_NODE = Scalar(0, 0, "", False, None)


@dataclass(slots=True)
class _Named:
    """A course, exam or user as declared."""

    kind: str
    name: str
    cx: Ctx
    key: Scalar
    node: Node
    values: dict[str, Any] | None
    where: str


@dataclass(slots=True)
class _Item:
    """An enrollment or session list entry, or one user of an assignments list."""

    cx: Ctx
    node: Node
    where: str
    values: dict[str, Any]


@dataclass
class _Pending:
    """Implied or explicit pair, with the entry that declared or implied it."""

    cx: Ctx
    node: Node
    implied: bool


@dataclass
class _TenantLoader:
    """Reads one tenant's resource files and relates them; ``run()`` gives its Desired."""

    head: _Head
    env: Mapping[str, str]
    sandbox: bool
    suggest: Suggester
    #: False: secrets are checked for shape, not read (``validate --no-secrets``)
    read_secrets: bool = True
    #: every tenant's name (for the prefix rule of ``{env:}`` secrets)
    tenants: tuple[str, ...] = ()
    #: the configuration repository (``{file:}`` secrets stay inside it)
    root: Path | None = None
    named: dict[str, dict[str, _Named]] = field(
        default_factory=lambda: {"course": {}, "exam": {}, "user": {}}
    )
    enrollments: list[_Item] = field(default_factory=list)
    assignments: list[_Item] = field(default_factory=list)
    #: each exam key of an assignments section (checked once, however many users it lists)
    assignment_exams: list[tuple[str, Scalar, Ctx]] = field(default_factory=list)
    sessions: list[_Item] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: (kind, name) offered as a did-you-mean: that name's own problems would only echo the typo
    suggested: set[tuple[str, str]] = field(default_factory=set)
    # what relating finds, keyed by name pairs: (course, user), (exam, user)
    enrolled: dict[tuple[str, str], tuple[_Item, str]] = field(default_factory=dict)
    assigned: dict[tuple[str, str], _Pending] = field(default_factory=dict)
    scheduled: dict[tuple[str, str], _Item] = field(default_factory=dict)
    implied_enrollments: dict[tuple[str, str], _Pending] = field(default_factory=dict)
    addresses: dict[str, tuple[str, str]] = field(default_factory=dict)
    vocabs: dict[str, Vocab] = field(default_factory=dict)

    def run(self) -> Desired | None:
        head = self.head
        for path in _yaml_files(head.dir):
            if path.name == TENANT_FILE:
                continue
            self._read_resources(path, str(head.dir / path.name))
        return self._relate()

    # -- reading ---------------------------------------------------------------------------

    def _cx(self, display: str) -> Ctx:
        return Ctx(
            display,
            self.problems,
            base_dir=self.head.dir,
            env=self.env,
            sandbox=self.sandbox,
            read_secrets=self.read_secrets,
            suggest=self.suggest,
            tenant=_valid_name(self.head.name),
            tenants=self.tenants,
            root=self.root,
        )

    def _read_resources(self, path: Path, display: str) -> None:
        root = _read_file(path, display, self.problems)
        if root is None:
            return
        cx = self._cx(display)
        for key, (knode, vnode) in root.items.items():
            if key not in SECTIONS:
                RESOURCES.unknown(key, knode, "", cx, root)
                continue
            if isinstance(vnode, Scalar) and vnode.is_null:
                continue  # an empty section (everything commented out) is fine
            if key == "courses":
                self._read_named("course", COURSE, vnode, cx)
            elif key == "exams":
                self._read_named("exam", EXAM, vnode, cx)
            elif key == "users":
                self._read_named("user", USER, vnode, cx)
            elif key == "enrollments":
                self._read_list(key, ENROLLMENT, vnode, cx, self.enrollments)
            elif key == "sessions":
                self._read_list(key, SESSION, vnode, cx, self.sessions)
            else:
                self._read_assignments(vnode, cx)

    def _read_named(self, kind: str, spec: Obj, node: Node, cx: Ctx) -> None:
        section = SECTION_OF[kind]
        if not isinstance(node, Map):
            cx.add(node, section, f"must be a mapping of {kind} names, got {describe(node)}")
            return
        registry = self.named[kind]
        for name, (knode, vnode) in node.items.items():
            where = f"{section}.{name}"
            _NAME.check(knode, where, cx)
            values = spec.check(vnode, where, cx)
            prior = registry.get(name)
            if prior is not None:
                cx.add(
                    knode,
                    where,
                    f'{kind} "{name}" is already defined at {_at(prior.cx, prior.key, cx)}',
                )
                continue
            registry[name] = _Named(
                kind, name, cx, knode, vnode, values if values is not INVALID else None, where
            )

    def _read_list(self, section: str, spec: Obj, node: Node, cx: Ctx, into: list[_Item]) -> None:
        if not isinstance(node, Seq):
            cx.add(node, section, f"must be a list, got {describe(node)}")
            return
        for i, item in enumerate(node.items):
            where = f"{section}[{i}]"
            values = spec.check(item, where, cx)
            if values is not INVALID:
                into.append(_Item(cx, item, where, values))

    def _read_assignments(self, node: Node, cx: Ctx) -> None:
        if not isinstance(node, Map):
            cx.add(node, "assignments", f"must be a mapping of exam -> users, got {describe(node)}")
            return
        for exam, (knode, vnode) in node.items.items():
            where = f"assignments.{exam}"
            self.assignment_exams.append((exam, knode, cx))
            if not isinstance(vnode, Seq):
                cx.add(vnode, where, f"must be a list of user names, got {describe(vnode)}")
                continue
            for i, item in enumerate(vnode.items):
                path = f"{where}[{i}]"
                user = _REF.check(item, path, cx)
                if user is not INVALID:
                    self.assignments.append(_Item(cx, item, path, {"exam": exam, "user": user}))

    # -- relating ----------------------------------------------------------------------------

    def _vocab(self, kind: str) -> Vocab:
        """The names of a kind, for did-you-means (built once: all files are read by now)."""
        vocab = self.vocabs.get(kind)
        if vocab is None:
            vocab = self.vocabs[kind] = Vocab(self.named[kind])
        return vocab

    def _ref(self, kind: str, item: _Item, key: str) -> str | None:
        """The name ``item`` refers to under ``key`` if it is defined; else report it.

        An assignment's user is the list item itself; other references are fields."""
        name = item.values.get(key)
        if name is None:
            return None
        if name in self.named[kind]:
            return str(name)
        if isinstance(item.node, Map):
            node, where = _child(item.node, key), f"{item.where}.{key}"
        else:
            node, where = item.node, item.where
        best = self.suggest.best(name, self._vocab(kind))
        if best is None:
            item.cx.add(node, where, f'{kind} "{name}" is not defined')
        else:
            item.cx.add(node, where, f'{kind} "{name}" is not defined; did you mean "{best}"?')
            self.suggested.add((kind, best))
        return None

    def _relate(self) -> Desired | None:
        """Every check between resources, then the result if nothing was wrong."""
        defaults = self.head.values.get("defaults", {})
        self._check_named(defaults)
        self._check_enrollments()
        self._check_assignments()
        self._check_sessions(defaults.get("session", {}))
        self._imply_enrollments()
        self._check_unenrolled_users()
        if self.problems or self.head.problems:
            self.head.problems.extend(self.problems)
            self.problems.clear()
            return None
        return self._build()

    def _check_named(self, defaults: dict[str, dict[str, Any]]) -> None:
        """Courses, exams, users: defaults, what creating them needs, an exam's course."""
        courses = self.named["course"]
        for kind, registry in self.named.items():
            kind_defaults = defaults.get(kind, {})
            for entry in registry.values():
                values = entry.values
                if values is None:
                    continue
                node = entry.node
                assert isinstance(node, Map)
                ids = values.get("ids")
                # a reference by sid to an existing object: only what it writes is managed
                if ids is None or "sid" not in ids:
                    for key, value in kind_defaults.items():
                        if key not in node.items:
                            values[key] = value
                if ids is not None and "sid" not in ids:
                    missing = [k for k in REQUIRED_TO_CREATE[kind] if not entry.cx.given(node, k)]
                    if missing:
                        entry.cx.add(
                            entry.key,
                            entry.where,
                            f"missing {_and(missing)}: required to create a {kind} that is "
                            "not identified by ids.sid",
                        )
                course = values.get("course")
                if kind == "exam" and course is not None and course not in courses:
                    hint = self.suggest(course, self._vocab("course"))
                    entry.cx.add(
                        node.items["course"][1],
                        f"{entry.where}.course",
                        f'course "{course}" is not defined{hint}',
                    )

    def _claim(self, address: str, pair: tuple[str, str], cx: Ctx, node: Node) -> bool:
        """Take an address for a pair of names. Names may contain dots, so two different
        pairs can spell the same address: the second one is an error."""
        prior = self.addresses.setdefault(address, pair)
        if prior != pair:
            kind = address.split(".", 1)[0]
            cx.add(
                node,
                address,
                f"this address also names the {kind} of {prior[0]} and {prior[1]}: "
                "rename one of them (names containing dots can collide)",
            )
            return False
        return True

    def _check_enrollments(self) -> None:
        for item in self.enrollments:
            user = self._ref("user", item, "user")
            course = self._ref("course", item, "course")
            if user is None or course is None:
                continue
            # None: the role was given but invalid (already reported)
            role = item.values.get("role", None if "role" in _keys(item.node) else "learner")
            pair = (course, user)
            address = f"enrollment.{course}.{user}"
            prior = self.enrolled.get(pair)
            if prior is not None:
                first, first_role = prior
                at = _at(first.cx, first.node, item.cx)
                if role is not None and first_role and role != first_role:
                    message = (
                        f'user "{user}" is enrolled in course "{course}" twice with different '
                        f"roles: {first_role} at {at} and {role} here"
                    )
                else:
                    message = f'user "{user}" is already enrolled in course "{course}" (at {at})'
                item.cx.add(item.node, address, message)
            elif self._claim(address, pair, item.cx, item.node):
                self.enrolled[pair] = (item, role or "")

    def _check_assignments(self) -> None:
        exams = self.named["exam"]
        for exam, knode, cx in self.assignment_exams:
            if exam not in exams:
                hint = self.suggest(exam, self._vocab("exam"))
                cx.add(knode, f"assignments.{exam}", f'exam "{exam}" is not defined{hint}')
        for item in self.assignments:
            exam = item.values["exam"]
            user = self._ref("user", item, "user")
            if exam not in exams or user is None:
                continue
            pair = (exam, user)
            address = f"assignment.{exam}.{user}"
            prior = self.assigned.get(pair)
            if prior is not None:
                item.cx.add(
                    item.node,
                    address,
                    f'user "{user}" is already assigned to exam "{exam}" '
                    f"(at {_at(prior.cx, prior.node, item.cx)})",
                )
            elif self._claim(address, pair, item.cx, item.node):
                self.assigned[pair] = _Pending(item.cx, item.node, implied=False)

    def _check_sessions(self, defaults: dict[str, Any]) -> None:
        """Defaults, required fields, references, duplicates, windows; implied assignments."""
        for item in self.sessions:
            values = item.values
            node = item.node
            assert isinstance(node, Map)
            for key, value in defaults.items():
                if key not in node.items:
                    values[key] = value
            for key in ("type", "proctorLocation"):
                if key not in values and not item.cx.given(node, key):
                    item.cx.add(
                        node,
                        item.where,
                        f'missing required field "{key}" (or set defaults.session.{key} '
                        "in tenant.yaml)",
                    )
            exam = self._ref("exam", item, "exam")
            user = self._ref("user", item, "user")
            if exam is None or user is None:
                continue
            pair = (exam, user)
            address = f"session.{exam}.{user}"
            prior = self.scheduled.get(pair)
            if prior is not None:
                item.cx.add(
                    node,
                    address,
                    f'a second session for exam "{exam}" and user "{user}" '
                    f"(first at {_at(prior.cx, prior.node, item.cx)}); "
                    "a user has at most one session per exam",
                )
                continue
            if not self._claim(address, pair, item.cx, node):
                continue
            self.scheduled[pair] = item
            self._check_session_times(item, self.named["exam"][exam])
            if pair not in self.assigned:
                self.assigned[pair] = _Pending(item.cx, node, implied=True)
                self._claim(f"assignment.{exam}.{user}", pair, item.cx, node)

    def _imply_enrollments(self) -> None:
        """Each assignment needs a learner enrollment in its exam's course."""
        courses, exams = self.named["course"], self.named["exam"]
        for (exam, user), pending in self.assigned.items():
            course = (exams[exam].values or {}).get("course")
            if course is None or course not in courses:
                continue  # reported with the exam
            pair = (course, user)
            explicit = self.enrolled.get(pair)
            if explicit is not None:
                item, role = explicit
                if role == "instructor":
                    what = "session" if pending.implied else "assignment"
                    pending.cx.add(
                        pending.node,
                        f"{what}.{exam}.{user}",
                        f'this {what} needs user "{user}" to be a learner in course "{course}", '
                        f"but they are enrolled as instructor at "
                        f"{_at(item.cx, item.node, pending.cx)}",
                    )
            elif pair not in self.implied_enrollments and self._claim(
                f"enrollment.{course}.{user}", pair, pending.cx, pending.node
            ):
                self.implied_enrollments[pair] = pending

    def _check_unenrolled_users(self) -> None:
        """A user can only be provisioned together with a course.

        Users named by any enrollment, assignment or session count as enrolled: when that
        entry has a problem of its own (an undefined exam or course), that is the one to
        report. So does a user offered as a did-you-mean (the typo is the problem)."""
        with_course = {u for (_c, u) in self.enrolled} | {u for (_c, u) in self.implied_enrollments}
        for entries in (self.enrollments, self.assignments, self.sessions):
            with_course.update(str(i.values.get("user")) for i in entries)
        for name, entry in self.named["user"].items():
            if name not in with_course and ("user", name) not in self.suggested:
                entry.cx.add(
                    entry.key,
                    entry.where,
                    f'user "{name}" has no enrollment: users are provisioned together with a '
                    "course, so enroll them (enrollments: [{user: "
                    f"{name}, course: COURSE}}]) or assign them to an exam",
                )

    def _check_session_times(self, item: _Item, exam: _Named) -> None:
        """Appointment inside the exam's windows (the API refuses it otherwise).

        The start must lie in the access window and the scheduling window (when given),
        and start + duration must end by access.close. Only the first violation is
        reported: they all have one fix, moving the appointment."""
        config = (exam.values or {}).get("configuration")
        appointment = item.values.get("appointment")
        if appointment is not None and config:
            start = _dt(appointment)
            access = config.get("access") or {}
            scheduling = config.get("scheduling") or {}
            duration = config.get("duration")
            name = exam.name
            why = ""
            if "open" in access and start < _dt(access["open"]):
                why = f'is before exam "{name}" opens (access.open {access["open"]})'
            elif (
                "close" in access
                and duration is not None
                and start + timedelta(minutes=duration) > _dt(access["close"])
            ):
                why = (
                    f'+ {duration} minutes ends after exam "{name}" closes '
                    f"(access.close {access['close']})"
                )
            elif "open" in scheduling and start < _dt(scheduling["open"]):
                why = (
                    f'is before the scheduling window of exam "{name}" opens '
                    f"(scheduling.open {scheduling['open']})"
                )
            elif "close" in scheduling and start > _dt(scheduling["close"]):
                why = (
                    f'is after the scheduling window of exam "{name}" closes '
                    f"(scheduling.close {scheduling['close']})"
                )
            if why:
                item.cx.add(
                    _child(item.node, "appointment"),
                    f"{item.where}.appointment",
                    f"{appointment} {why}",
                )
        sub = item.values.get("proctorTypeSubCategory")
        types = config.get("proctorTypes") if config else None
        if sub is not None and types is not None and sub not in types:
            item.cx.add(
                _child(item.node, "proctorTypeSubCategory"),
                f"{item.where}.proctorTypeSubCategory",
                f'{sub} is not one of the proctorTypes of exam "{exam.name}"',
            )

    # -- building ------------------------------------------------------------------------------

    def _build(self) -> Desired:
        """Every resource as plain data, validated into ``Desired`` in one pydantic call.

        One ``model_validate`` over nested dicts runs in pydantic-core; building a model
        object per entry costs several times more on a 20,000-user roster. The YAML nodes
        are let go first (each address keeps its position), and each entry's checked values
        are the dict validated, not a copy: the models are built with only those in memory
        (at 100,000 students the node tree alone is 300 MB)."""
        locations = self._locations()
        self._forget_nodes()
        groups: dict[str, dict[str, dict[str, Any]]] = {}
        for kind, registry in self.named.items():
            group = groups[SECTION_OF[kind]] = {}
            for name, e in registry.items():
                values = e.values if e.values is not None else {}
                values.setdefault("name", name)
                group[f"{kind}.{name}"] = values
        enrollments = groups["enrollments"] = {}
        for (course, user), (_item, role) in self.enrolled.items():
            address = f"enrollment.{course}.{user}"
            enrollments[address] = {"user": user, "course": course, "role": role}
        for course, user in self.implied_enrollments:
            address = f"enrollment.{course}.{user}"
            enrollments[address] = {"user": user, "course": course, "implied": True}
        assignments = groups["assignments"] = {}
        for (exam, user), pending in self.assigned.items():
            address = f"assignment.{exam}.{user}"
            assignments[address] = {"exam": exam, "user": user, "implied": pending.implied}
        sessions = groups["sessions"] = {}
        for (exam, user), item in self.scheduled.items():
            values = item.values
            values.setdefault("exam", exam)
            values.setdefault("user", user)
            sessions[f"session.{exam}.{user}"] = values
        # canonical order: by address, whichever file declared what
        ordered = {k: dict(sorted(g.items())) for k, g in groups.items()}
        return Desired.model_validate(
            {"tenant": self._tenant(), **ordered, "locations": dict(sorted(locations.items()))}
        )

    def _locations(self) -> dict[str, tuple[str, int, int]]:
        """Where each address was declared (or implied): file, line, column."""
        locations: dict[str, tuple[str, int, int]] = {}

        def locate(address: str, cx: Ctx, node: Node) -> None:
            locations[address] = (cx.file, node.line, node.col)

        for kind, registry in self.named.items():
            for name, e in registry.items():
                locate(f"{kind}.{name}", e.cx, e.key)
        for (course, user), (item, _role) in self.enrolled.items():
            locate(f"enrollment.{course}.{user}", item.cx, item.node)
        for (course, user), pending in self.implied_enrollments.items():
            locate(f"enrollment.{course}.{user}", pending.cx, pending.node)
        for (exam, user), pending in self.assigned.items():
            locate(f"assignment.{exam}.{user}", pending.cx, pending.node)
        for (exam, user), item in self.scheduled.items():
            locate(f"session.{exam}.{user}", item.cx, item.node)
        return locations

    def _forget_nodes(self) -> None:
        """Let the YAML node trees go: every check that points at a position has run."""
        for registry in self.named.values():
            for e in registry.values():
                e.node = e.key = _NO_NODE
        for items in (self.enrollments, self.assignments, self.sessions):
            for item in items:
                item.node = _NO_NODE
        for pending in (*self.assigned.values(), *self.implied_enrollments.values()):
            pending.node = _NO_NODE
        self.assignment_exams.clear()

    def _tenant(self) -> dict[str, Any]:
        values = {k: v for k, v in self.head.values.items() if k != "defaults"}
        return {**values, "file": self.head.file}


# --- small helpers -------------------------------------------------------------------------

_DT_CACHE: dict[str, datetime] = {}


def _dt(text: str) -> datetime:
    """A normalised ``…Z`` time as an aware datetime (cached: rosters repeat times)."""
    dt = _DT_CACHE.get(text)
    if dt is None:
        if len(_DT_CACHE) > 100_000:
            _DT_CACHE.clear()
        dt = _DT_CACHE[text] = datetime.fromisoformat(text)
    return dt


def _keys(node: Node) -> dict[str, tuple[Scalar, Node]]:
    return node.items if isinstance(node, Map) else {}


def _child(node: Node, key: str) -> Node:
    """The value node of ``key`` in a mapping node, or the mapping itself."""
    pair = _keys(node).get(key)
    return pair[1] if pair is not None else node


def _at(cx: Ctx, node: Node, here: Ctx) -> str:
    """Where something else was written, short when it is in the same file."""
    if cx.file == here.file:
        return f"line {node.line}, col {node.col}"
    return f"{cx.file}:{node.line}:{node.col}"


def _and(words: list[str]) -> str:
    quoted = [f'"{w}"' for w in words]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
