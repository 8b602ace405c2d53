"""``spsync state list|show|rm PATH …``: inspect state, or forget entries of it.

Like every command, these take the manifests' PATH (a tenant directory or a directory of
them) to know the tenants; only each ``tenant.yaml``'s ``tenant`` name is read, so they work
without credentials and with manifests that do not validate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from spsync.cli.common import SummaryGroup, addresses_given, global_options, globals_of, out
from spsync.errors import ManifestError, Problem, StateError, UsageError


def tenant_names(path: Path, only: tuple[str, ...] = ()) -> list[str]:
    """Tenant names under ``path`` (one tenant directory, or a directory of them), sorted.

    Each tenant.yaml is read as validate reads it (its encoding, its YAML) and must name a
    valid tenant, since the name is the state file's; the rest of it is not looked at.
    """
    if not path.is_dir():
        raise UsageError(f"{path}: not a directory of manifests")
    dirs = (
        [path]
        if (path / "tenant.yaml").is_file()
        else sorted(d for d in path.iterdir() if (d / "tenant.yaml").is_file())
    )
    if not dirs:
        raise UsageError(f"{path}: no tenant.yaml here nor in any sub-directory")
    problems: list[Problem] = []
    names = sorted(_tenant_name(d / "tenant.yaml", problems) for d in dirs)
    if problems:
        raise ManifestError(problems)
    if only:
        unknown = [t for t in only if t not in names]
        if unknown:
            raise UsageError(
                f"unknown tenant {', '.join(unknown)} under {path} (known: {', '.join(names)})"
            )
        names = [n for n in names if n in only]
    return names


def _tenant_name(file: Path, problems: list[Problem]) -> str:
    """The ``tenant:`` of ``file``; ``""`` with a problem added when it does not give one."""
    from spsync.manifest_tenant import read_file, valid_name
    from spsync.yamlload import Scalar, describe

    root = read_file(file, str(file), problems)
    if root is None:
        return ""
    pair = root.items.get("tenant")
    if pair is None:
        problems.append(Problem(str(file), 1, 1, "", 'missing required field "tenant"'))
        return ""
    node = pair[1]
    given = node.value.strip() if type(node) is Scalar and not node.is_null else ""
    if not valid_name(given):
        got = f'"{given}"' if given else describe(node)
        problems.append(
            Problem(str(file), node.line, node.col, "tenant", f"{_NOT_A_NAME}, got {got}")
        )
    return given


_NOT_A_NAME = (
    "must be a tenant name (lowercase letters, digits and '-', starting with a letter or digit)"
)


def _mask(value: Any, key: str = "") -> Any:
    if key == "password" and value is not None:
        return "(sensitive)"
    if isinstance(value, dict):
        return {k: _mask(v, k) for k, v in value.items()}
    return value


def _suggest(address: str, known: list[str]) -> str:
    from spsync.suggest import did_you_mean

    return did_you_mean(address, known, quoted=False)


@click.group("state", cls=SummaryGroup)
def state() -> None:
    """Inspect the state of tenants, move or forget entries of it.

    \b
    spsync state list PATH           every managed address and its SID
    spsync state show PATH ADDR      one entry (SIDs, refs, last applied fields)
    spsync state mv PATH FROM TO     a renamed entry, with its dependants (no API call)
    spsync state rm PATH ADDR...     forget entries (nothing changes remotely)

    \b
    Example:
      spsync state list manifests/acme
    """


_tenant_opt = click.option(
    "--tenant", "tenants", multiple=True, metavar="NAME", help="Only this tenant (repeatable)."
)


@state.command("list")
@click.argument("path", type=click.Path(path_type=Path))
@_tenant_opt
@global_options(hide=("--no-color",))
@click.pass_context
def state_list(ctx: click.Context, path: Path, tenants: tuple[str, ...]) -> int:
    """List every address in the state of each tenant under PATH, with its SID.

    \b
    Example:
      spsync state list manifests --tenant acme
    """
    from spsync.model import kind_rank
    from spsync.store import StateStore

    store = StateStore(globals_of(ctx).state_dir)
    for i, name in enumerate(tenant_names(path, tenants)):
        if i:
            out()
        st = store.read_known(name)
        if st is None:
            out(f"{name}: no state yet ({store.path(name)})")
            continue
        n = len(st.resources)
        out(
            f"{name}: {n} resource{'s' if n != 1 else ''} (serial {st.serial}, lineage "
            f"{st.lineage}, {store.path(name)})"
        )
        width = max((len(a) for a in st.resources), default=0)
        for address in sorted(st.resources, key=lambda a: (kind_rank(a), a)):
            sid = st.resources[address].sid or "(assigned)"
            out(f"  {address:<{width}}  {sid}")
    return 0


@state.command("show")
@click.argument("path", type=click.Path(path_type=Path))
@click.argument("address", metavar="ADDR", callback=addresses_given)
@_tenant_opt
@global_options(hide=("--no-color",))
@click.pass_context
def state_show(ctx: click.Context, path: Path, address: str, tenants: tuple[str, ...]) -> int:
    """Show one state entry as JSON: its SID, the SIDs it hangs off, its last applied fields.

    Exam passwords show as (sensitive): state holds only a keyed fingerprint of them.

    \b
    Example:
      spsync state show manifests/acme course.acme-main
    """
    from spsync.store import StateStore

    store = StateStore(globals_of(ctx).state_dir)
    found = []
    known: list[str] = []
    for name in tenant_names(path, tenants):
        st = store.read_known(name)
        if st is None:
            continue
        known.extend(st.resources)
        if address in st.resources:
            rec = st.resources[address]
            found.append({"tenant": name, "address": address, **_mask(rec.model_dump(mode="json"))})
    if not found:
        raise StateError(f"{address} is not in state{_suggest(address, known)}")
    for doc in found:
        out(json.dumps(doc, indent=2, sort_keys=True))
    return 0


@state.command("rm")
@click.argument("path", type=click.Path(path_type=Path))
@click.argument("addresses", nargs=-1, required=True, metavar="ADDR...", callback=addresses_given)
@_tenant_opt
@global_options(hide=("--no-color",))
@click.pass_context
def state_rm(
    ctx: click.Context, path: Path, addresses: tuple[str, ...], tenants: tuple[str, ...]
) -> int:
    """Forget ADDR (repeatable): drop it from state, leaving the remote object untouched.

    The next plan treats it as new (and finds it again remotely when it can: a user by its
    ids). Holds the tenant's lock while writing.

    \b
    Example:
      spsync state rm manifests/acme session.cert-456.jane
    """
    from spsync.store import StateStore

    g = globals_of(ctx)
    store = StateStore(g.state_dir)
    names = tenant_names(path, tenants)
    owners: dict[str, list[str]] = {a: [] for a in addresses}
    known: list[str] = []
    for name in names:
        st = store.read_known(name)
        if st is None:
            continue
        known.extend(st.resources)
        for a in addresses:
            if a in st.resources:
                owners[a].append(name)
    for a, ts in owners.items():
        if not ts:
            raise StateError(f"{a} is not in state{_suggest(a, known)}; nothing removed")
        if len(ts) > 1:
            raise UsageError(f"{a} is in the state of {', '.join(ts)}; choose one with --tenant")
    for name in names:
        mine = [a for a in addresses if owners[a] == [name]]
        if not mine:
            continue
        with store.lock(name, "state rm", unlock_hint=str(path)):
            st = store.read_known(name)
            assert st is not None
            resources = {a: r for a, r in st.resources.items() if a not in mine}
            saved = store.save(st.model_copy(update={"resources": resources}))
        for a in mine:
            out(f"Removed {a} from the state of {name} (serial {saved.serial}); kept remotely")
    return 0


@state.command("mv")
@click.argument("path", type=click.Path(path_type=Path))
@click.argument("source", metavar="FROM", callback=addresses_given)
@click.argument("dest", metavar="TO", callback=addresses_given)
@_tenant_opt
@global_options(hide=("--no-color",))
@click.pass_context
def state_mv(
    ctx: click.Context, path: Path, source: str, dest: str, tenants: tuple[str, ...]
) -> int:
    """Move FROM to TO in state: the object was renamed in the manifests.

    Nothing is sent to the API. A course, exam or user takes its enrollments, assignments
    and sessions along (``user.jane`` -> ``user.jane-smith`` also moves
    ``session.cert.jane`` -> ``session.cert.jane-smith``). plan detects most renames by
    itself (same ids, same SID) and shows them as moves; this is for the rest. Holds the
    tenant's lock while writing.

    \b
    Example:
      spsync state mv manifests/acme user.jane user.jane-smith
    """
    from spsync.moves import moved_with
    from spsync.store import StateStore

    if source == dest:
        raise UsageError(f"cannot move {source} to itself: FROM and TO are the same address")
    g = globals_of(ctx)
    store = StateStore(g.state_dir)
    owners = []
    known: list[str] = []
    for name in tenant_names(path, tenants):
        st = store.read_known(name)
        if st is not None:
            known.extend(st.resources)
            if source in st.resources:
                owners.append(name)
    if not owners:
        raise StateError(f"{source} is not in state{_suggest(source, known)}; nothing moved")
    if len(owners) > 1:
        raise UsageError(
            f"{source} is in the state of {', '.join(owners)}; choose one with --tenant"
        )
    (name,) = owners
    with store.lock(name, "state mv", unlock_hint=str(path)):
        st = store.read_known(name)
        assert st is not None
        try:
            moves = moved_with(st.resources, source, dest)
        except ValueError as e:
            raise UsageError(str(e)) from None
        _check_addresses((dest, *sorted(moves.values())))
        taken = sorted(new for new in moves.values() if new in st.resources)
        if taken:
            raise StateError(
                f"{', '.join(taken)} {'is' if len(taken) == 1 else 'are'} already in the state "
                f"of {name}; nothing moved (spsync state rm it first if it is stale)"
            )
        resources = {moves.get(a, a): r for a, r in st.resources.items()}
        saved = store.save(st.model_copy(update={"resources": resources}))
    for old, new in sorted(moves.items()):
        out(f"Moved {old} -> {new} in the state of {name} (serial {saved.serial})")
    return 0


def _check_addresses(addresses: Iterable[str]) -> None:
    """Every address a move would write must be one (``kind.name``), as a state file's
    must: else the state saved would be refused by every later command."""
    from spsync.model import ADDRESS_PATTERN, MAX_ADDRESS

    for address in addresses:
        if not re.fullmatch(ADDRESS_PATTERN, address):
            raise UsageError(
                f"{address} is not an address: KIND.NAME, the names made of "
                "letters, digits, '.', '_' and '-' (as in the manifests); nothing moved"
            )
        if len(address) > MAX_ADDRESS:
            raise UsageError(
                f"{address[:40]}…: an address of {len(address)} characters "
                f"(at most {MAX_ADDRESS}); nothing moved"
            )


COMMANDS = [state]
