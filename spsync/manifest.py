"""Manifests -> ``Desired``: discovery, reading, cross-resource checks, implied entries.

``load()`` is the only entry point. It reads a tenant directory (``tenant.yaml`` plus any
number of ``*.yaml``/``*.yml`` resource files) or a directory of tenant directories, and
either returns one validated, defaulted, normalised ``Desired`` per tenant or raises
``ManifestError`` carrying *every* problem found, each located as ``file:line:col``.

The work is layered:

- ``spsync.yamlload`` turns bytes into located nodes (syntax, duplicate keys, tags, limits);
- ``spsync.schema`` reads one node at a time (fields, types, formats, secrets);
- ``spsync.manifest_tenant`` finds the tenant directories and reads their ``tenant.yaml``;
- this module reads each tenant's resource files into entries and builds its ``Desired``;
- ``spsync.manifest_relate`` relates the entries to each other: names unique across files,
  references, required-to-create fields, defaults, session windows, duplicates and
  conflicts, and the implied entries (a session implies its assignment, an assignment a
  learner enrollment).

Nothing here touches the network; the environment is read only through ``env``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spsync.collector import bulk
from spsync.errors import ManifestError, Problem, UsageError
from spsync.fresh_copy import Packed, pack
from spsync.manifest_relate import Item, Named, Relations, written_at
from spsync.manifest_tenant import (
    EMPTY_FILE,
    TENANT_FILE,
    Head,
    check_token_owner,
    check_unique,
    config_root,
    discover,
    read_file,
    read_head,
    valid_name,
    yaml_files,
)
from spsync.model import Desired, Locations
from spsync.schema import COURSE, ENROLLMENT, EXAM, RESOURCES, SECTIONS, SESSION, USER, ref_spec
from spsync.schema_formats import name_spec
from spsync.schema_spec import INVALID, Ctx, Obj
from spsync.sharing import share
from spsync.suggest import Suggester
from spsync.yamlload import Map, Node, Scalar, Seq, describe

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
    with bulk():
        dirs = discover(path, problems, narrowed=bool(tenants))
        heads = [read_head(d, environ, sandbox, suggest, secrets, root) for d in dirs]
        known = sorted({h.name for h in heads})
        for head in heads:
            check_token_owner(head, known)
        unknown = [t for t in tenants if t not in known]
        if unknown and not problems:
            listed = ", ".join(known) if known else "none"
            raise UsageError(
                f"unknown tenant {', '.join(repr(t) for t in unknown)} in {path} (known: {listed})"
            )
        selected = [h for h in heads if not tenants or h.name in tenants]
        check_unique(heads, selected)
        selected.sort(key=lambda h: (h.name, h.file))
        read: list[_Read] = []
        for head in selected:
            tenant = _TenantLoader(
                head=head,
                env=environ,
                sandbox=sandbox,
                suggest=suggest,
                read_secrets=secrets,
                tenants=tuple(known),
                root=root,
            ).run()
            problems.extend(head.problems)
            if tenant is not None:
                read.append(tenant)
        if problems:
            raise ManifestError(problems)
        # every reader is gone now, and with it every text of the YAML trees: the models
        # are built from fresh copies, side by side in new memory (``spsync.fresh_copy``)
        del dirs, heads, selected, suggest
        return [read.pop(0).desired() for _ in range(len(read))]


@dataclass
class _Read:
    """One tenant read and checked: what its ``Desired`` is validated from."""

    tenant: dict[str, Any]
    locations: Locations
    #: resources by section, then address: packed when they were plain data, else as read
    groups: Packed | dict[str, dict[str, dict[str, Any]]]

    def desired(self) -> Desired:
        """The tenant's ``Desired`` (the packed copy is let go as it is unpacked)."""
        groups = self.groups
        if isinstance(groups, Packed):
            self.groups = {}
            groups = {
                kind: {share(address): values for address, values in group.items()}
                for kind, group in groups.unpack().items()
            }
        return Desired.model_validate(
            {"tenant": self.tenant, **groups, "locations": self.locations}
        )


#: what an entry's node is once the trees are let go (``_TenantLoader._forget_nodes``)
_NO_NODE = Scalar(0, 0, "", False, None)


@dataclass(kw_only=True)
class _TenantLoader(Relations):
    """Reads one tenant's resource files and relates them; ``run()`` gives its Desired."""

    head: Head
    env: Mapping[str, str]
    sandbox: bool
    #: False: secrets are checked for shape, not read (``validate --no-secrets``)
    read_secrets: bool = True
    #: every tenant's name (for the prefix rule of ``{env:}`` secrets)
    tenants: tuple[str, ...] = ()
    #: the configuration repository (``{file:}`` secrets stay inside it)
    root: Path | None = None
    #: a resource file could not be read (syntax, encoding, size): references unchecked
    unreadable: bool = False

    def run(self) -> _Read | None:
        head = self.head
        for path in yaml_files(head.dir):
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
            tenant=valid_name(self.head.name),
            tenants=self.tenants,
            root=self.root,
        )

    def _read_resources(self, path: Path, display: str) -> None:
        root = read_file(path, display, self.problems)
        if root is None:
            if self.problems and self.problems[-1].message != EMPTY_FILE:
                self.unreadable = True
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
                    f'{kind} "{name}" is already defined at {written_at(prior.cx, prior.key, cx)}',
                )
                continue
            registry[name] = Named(
                kind, name, cx, knode, vnode, values if values is not INVALID else None, where
            )

    def _read_list(self, section: str, spec: Obj, node: Node, cx: Ctx, into: list[Item]) -> None:
        if not isinstance(node, Seq):
            cx.add(node, section, f"must be a list, got {describe(node)}")
            return
        for i, item in enumerate(node.items):
            where = f"{section}[{i}]"
            values = spec.check(item, where, cx)
            if values is not INVALID:
                into.append(Item(cx, item, where, values))

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
                    self.assignments.append(Item(cx, item, path, {"exam": exam, "user": user}))

    def _relate(self) -> _Read | None:
        """Every check between resources, then the result if nothing was wrong. Not when a
        file could not be read at all: what it defines is unknown, and every reference to
        it would be reported as not defined (hundreds of problems hiding the one)."""
        if not self.unreadable:
            self.relate(self.head.values.get("defaults", {}))
        if self.problems or self.head.problems:
            self.head.problems.extend(self.problems)
            self.problems.clear()
            return None
        return self._build()

    # -- building ------------------------------------------------------------------------------

    def _build(self) -> _Read:
        """Every resource as plain data, to be validated into ``Desired`` in one pydantic
        call (``_Read.desired``) once every reader is gone.

        One ``model_validate`` over nested dicts runs in pydantic-core; building a model
        object per entry costs several times more on a 20,000-user roster. The YAML nodes
        are let go first (each address keeps its position), then the entries' checked
        values are packed (``spsync.fresh_copy``): the models are built from a copy in new
        memory rather than among what the node trees left (at 100,000 students the tree
        alone is 300 MB, and the memory it left held 670 MB to the end of the run)."""
        locations = self._locations()
        self._forget_nodes()
        groups: dict[str, dict[str, dict[str, Any]]] = {}
        for kind, registry in self.named.items():
            group = groups[SECTION_OF[kind]] = {}
            for name, e in registry.items():
                values = e.values if e.values is not None else {}
                values.setdefault("name", name)
                group[share(f"{kind}.{name}")] = values
        enrollments = groups["enrollments"] = {}
        for (course, user), (_item, role) in self.enrolled.items():
            address = share(f"enrollment.{course}.{user}")
            enrollments[address] = {"user": user, "course": course, "role": role}
        for course, user in self.implied_enrollments:
            address = share(f"enrollment.{course}.{user}")
            enrollments[address] = {"user": user, "course": course, "implied": True}
        assignments = groups["assignments"] = {}
        for (exam, user), pending in self.assigned.items():
            address = share(f"assignment.{exam}.{user}")
            assignments[address] = {"exam": exam, "user": user, "implied": pending.implied}
        sessions = groups["sessions"] = {}
        for (exam, user), item in self.scheduled.items():
            values = item.values
            values.setdefault("exam", exam)
            values.setdefault("user", user)
            sessions[share(f"session.{exam}.{user}")] = values
        # canonical order: by address, whichever file declared what
        ordered = {k: dict(sorted(g.items())) for k, g in groups.items()}
        del groups
        packed = pack(ordered)
        return _Read(self._tenant(), Locations(locations), ordered if packed is None else packed)

    def _locations(self) -> dict[str, tuple[str, int, int]]:
        """Where each address was declared (or implied): file, line, column."""
        locations: dict[str, tuple[str, int, int]] = {}

        def locate(address: str, cx: Ctx, node: Node) -> None:
            # the same text object as the address's key in Desired, the state and the plan
            locations[share(address)] = (cx.file, node.line, node.col)

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
