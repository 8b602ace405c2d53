"""Waits that Ctrl-C ends at the first press, inside ``asyncio.run`` too.

``asyncio.run``'s SIGINT handler only cancels the main task: a wait that blocks the event
loop (for a lock held by another run) never lets that happen, so the first press was lost
until the wait ended, up to its whole timeout.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


@contextlib.contextmanager
def ctrl_c_interrupts() -> Iterator[None]:
    """While inside, Ctrl-C raises ``KeyboardInterrupt`` at the first press (exit 130)."""
    try:
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread: the handler cannot be changed, nor needs to be
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
