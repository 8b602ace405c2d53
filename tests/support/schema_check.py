"""A small JSON Schema checker for the keywords spsync's schemas use (manifests: ``spsync
schema``; plans: ``spsync schema --kind plan|plan-file``): ``type`` (a name or a list of
them), ``properties``, ``required``, ``additionalProperties``, ``propertyNames``,
``minProperties``/``maxProperties``, ``enum``, ``items``, ``pattern``, ``minLength``,
``minimum``/``maximum``, ``anyOf`` and ``$ref`` into ``$defs``. Other keywords are
annotations here (``description``, ``title``, ``default``, ``examples``)."""

from __future__ import annotations

import re
from typing import Any

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
    "null": type(None),
}


def _is(v: Any, t: str) -> bool:
    if isinstance(v, bool) and t != "boolean":
        return False
    return isinstance(v, _TYPES[t])


def schema_errors(
    s: dict[str, Any], v: Any, root: dict[str, Any] | None = None, at: str = "$"
) -> list[str]:
    """Where ``v`` breaks ``s`` (empty: it is valid); ``root`` holds the ``$defs``."""
    root = s if root is None else root
    if "$ref" in s:
        return schema_errors(root["$defs"][s["$ref"].split("/")[-1]], v, root, at)
    if "anyOf" in s:
        found = [schema_errors(sub, v, root, at) for sub in s["anyOf"]]
        return [] if any(not f for f in found) else [e for f in found for e in f]
    if "enum" in s:
        return [] if v in s["enum"] else [f"{at}: {v!r} not in enum"]
    t = s.get("type")
    if t is not None:
        types = t if isinstance(t, list) else [t]
        if not any(_is(v, x) for x in types):
            return [f"{at}: {type(v).__name__} is not {' or '.join(types)}"]
    errs: list[str] = []
    if isinstance(v, str):
        if "pattern" in s and not re.search(s["pattern"], v):
            errs.append(f"{at}: pattern")
        if len(v) < s.get("minLength", 0):
            errs.append(f"{at}: minLength")
        if len(v) > s.get("maxLength", 1 << 62):
            errs.append(f"{at}: maxLength")
    is_number = isinstance(v, int | float) and not isinstance(v, bool)
    if is_number and not s.get("minimum", -1e300) <= v <= s.get("maximum", 1e300):
        errs.append(f"{at}: range")
    if isinstance(v, dict):
        errs += [f"{at}: missing {k}" for k in s.get("required", []) if k not in v]
        if not s.get("minProperties", 0) <= len(v) <= s.get("maxProperties", 1 << 30):
            errs.append(f"{at}: property count")
        names = s.get("propertyNames", {})
        for k, item in v.items():
            if "pattern" in names and not re.search(names["pattern"], k):
                errs.append(f"{at}.{k}: name pattern")
            if len(k) > names.get("maxLength", 1 << 62):
                errs.append(f"{at}.{k}: name maxLength")
            if "enum" in names and k not in names["enum"]:
                errs.append(f"{at}.{k}: name not in enum")
            if k in s.get("properties", {}):
                errs += schema_errors(s["properties"][k], item, root, f"{at}.{k}")
            elif s.get("additionalProperties") is False:
                errs.append(f"{at}.{k}: not allowed")
            elif isinstance(s.get("additionalProperties"), dict):
                errs += schema_errors(s["additionalProperties"], item, root, f"{at}.{k}")
    if isinstance(v, list) and "items" in s:
        for i, item in enumerate(v):
            errs += schema_errors(s["items"], item, root, f"{at}[{i}]")
    return errs


def schema_nodes(node: Any, path: str = "$") -> list[tuple[str, dict[str, Any]]]:
    """Every object in ``node`` (a schema), with its path: for checks of the schema itself."""
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        out.append((path, node))
        for k, v in node.items():
            out.extend(schema_nodes(v, f"{path}.{k}"))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(schema_nodes(v, f"{path}[{i}]"))
    return out
