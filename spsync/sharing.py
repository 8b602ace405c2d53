"""One string object per distinct text, across the large structures of one run.

A plan of a large tenant holds the same texts three times over: the manifests' models, the
state's entries (what was last applied) and the live objects observation builds (what the
service answered) each parse their own copy of every SID, e-mail address, name and time,
and within the state, a student's enrollment SID is written in three entries (its own, its
assignment's, its session's). ``share`` keeps one: the interpreter's table of interned
strings, which holds no reference of its own (a string leaves it when the last user lets
it go). At 20,000 students the state alone held 18 MiB of repeated strings.

Pure: no I/O; each function changes only the containers it is given.
"""

from __future__ import annotations

import sys
from typing import Any

share = sys.intern
"""The one object of text ``s`` (an exact ``str``)."""


def share_values(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (a JSON-like mapping), every string in it, nested ones included, replaced in
    place by its shared object; returns ``values``."""
    for key, value in values.items():
        kind = type(value)
        if kind is str:
            values[key] = share(value)
        elif kind is dict:
            share_values(value)
        elif kind is list:
            _share_items(value)
    return values


def _share_items(items: list[Any]) -> None:
    for i, value in enumerate(items):
        kind = type(value)
        if kind is str:
            items[i] = share(value)
        elif kind is dict:
            share_values(value)
        elif kind is list:
            _share_items(value)
