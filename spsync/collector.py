"""Keeping the cyclic garbage collector off the data a command builds in bulk.

A plan of 20,000 students builds over a million long-lived objects (manifests, state, live
objects, decisions), none of them garbage and none in reference cycles; the collector
still looks at each of them twice (once young, once middle-aged): 0.3-0.4 s of such a plan's
5 s. ``bulk()`` pauses the collector while such data is built and, in the CLI's process,
then freezes what exists (``gc.freeze``): the collector never looks at it again.

Freezing keeps any reference cycle made during the phase until the process ends, so it is
for one-shot processes only: ``spsync.cli.run`` turns it on (``freeze_after_bulk``); a
process that runs commands in a loop (the tests) only gets the pause.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_freeze = False


def freeze_after_bulk(on: bool = True) -> None:
    """Whether ``bulk()`` freezes what exists when it ends (see the module's doc)."""
    global _freeze
    _freeze = on


@contextmanager
def bulk() -> Iterator[None]:
    """Pause the cyclic collector while long-lived, acyclic data is built. Nested and
    concurrent uses are fine: the collector is on again when the use that found it on
    ends."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if _freeze:
            gc.freeze()
        if was:
            gc.enable()
