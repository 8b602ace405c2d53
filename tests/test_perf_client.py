"""The API client's per-request overhead: a module httpcore keeps asking for is looked up
once, when the client is imported, not on every request."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from spsync.api.client import run

#: run in a fresh interpreter: count the searches for sniffio from before the client is
#: imported, then import it as httpcore does, several times per request
_SNIFFIO_PROBE = """
import importlib.util, sys

class Counting:
    lookups = 0

    def find_spec(self, fullname, path, target=None):
        if fullname == "sniffio":
            Counting.lookups += 1
        return None

sys.meta_path.insert(0, Counting())
installed = importlib.util.find_spec("sniffio") is not None
Counting.lookups = 0
import spsync.api.client
on_import = Counting.lookups
for _ in range(5):
    try:
        import sniffio
    except ModuleNotFoundError:
        pass
print(installed, on_import, Counting.lookups, sys.modules.get("sniffio", "absent") is None)
"""


def test_a_missing_sniffio_is_looked_up_once_not_per_request() -> None:
    """Importing the client records that sniffio is absent (one search); httpcore's imports
    of it then fail at once instead of searching sys.path again each time."""
    out = subprocess.run(
        [sys.executable, "-c", _SNIFFIO_PROBE], capture_output=True, text=True, check=True
    ).stdout.split()
    if out[0] == "True":
        # a real sniffio is left alone: its import succeeds, and Python caches it anyway
        assert out[1:] == ["0", "1", "False"]
        return
    # one search when the client was imported; the absence was recorded, never searched again
    assert out == ["False", "1", "1", "True"]


class _Big:
    """A result whose repr is expensive (think: a plan of 80,000 changes)."""

    reprs = 0

    def __repr__(self) -> str:
        _Big.reprs += 1
        return "_Big()"


def test_run_hands_back_the_result_without_ever_formatting_it() -> None:
    async def plan() -> _Big:
        await asyncio.sleep(0)
        return _Big()

    _Big.reprs = 0
    result = run(plan())
    assert isinstance(result, _Big)
    # asyncio.run formats its main task (result included) when it restores the SIGINT
    # handler; the result must not be that task's
    assert _Big.reprs == 0
