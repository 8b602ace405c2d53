"""Strict JSON for spsync's own files (state, plan, journal): pure, no I/O.

Ordinary parsers settle a key given twice silently (the last one wins), so a state file
edited by hand or by a pull request could say one thing to a reviewer reading its first
``resources`` and another to spsync. Here a duplicate key is an error, and so are the
``NaN``/``Infinity`` extensions.
"""

from __future__ import annotations

import json
from typing import Any


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(f"key {json.dumps(key)} appears twice in one object")
            seen.add(key)
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class TooDeepError(ValueError):
    """A JSON text nested deeper than the parser can follow (a hostile file, not one of
    spsync's)."""


def strict_loads(text: str | bytes) -> Any:
    """``json.loads``, refusing duplicate keys (``DuplicateKeyError``), the NaN/Infinity
    extensions (``ValueError``) and nesting too deep to parse (``TooDeepError``)."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except RecursionError:
        raise TooDeepError("arrays or objects nested too deeply") from None


def strict_decoder() -> json.JSONDecoder:
    """A decoder as strict as ``strict_loads`` (its ``raw_decode`` reads one value of a
    text from a given index: a large file read value by value)."""
    return json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


def _keys_only(pairs: list[tuple[str, Any]]) -> None:
    """Check one object's keys and keep nothing of it: the parse builds no tree."""
    _no_duplicates(pairs)


def duplicate_key(text: str | bytes) -> str | None:
    """The duplicate-key problem of a JSON text already known to parse, or ``None``.

    Every object is dropped as soon as its keys are checked, so that checking a large state
    file costs no second copy of it in memory (80 MB at 20,000 students)."""
    try:
        json.loads(text, object_pairs_hook=_keys_only)
    except DuplicateKeyError as e:
        return str(e)
    except ValueError:
        return None
    return None
