"""The API client's per-request overhead: a module httpcore keeps asking for is looked up
once, not on every request."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

import pytest

from spsync.api.client import Client, run
from spsync.secrets import Secret

INSTALL = "AI" + "ab" * 16


class _CountingFinder:
    """A meta-path finder that finds nothing and counts the lookups of one module."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lookups = 0

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname == self.name:
            self.lookups += 1
        return None


def test_a_missing_sniffio_is_looked_up_once_not_per_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "sniffio", raising=False)
    installed = importlib.util.find_spec("sniffio") is not None
    finder = _CountingFinder("sniffio")
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    asyncio.run(Client("http://127.0.0.1:1", INSTALL, Secret("t")).aclose())
    if installed:
        # a real sniffio is left alone: its import succeeds, and Python caches it anyway
        assert sys.modules.get("sniffio", "not imported") is not None
        return
    for _ in range(5):  # what httpcore does several times per request
        with pytest.raises(ModuleNotFoundError):
            import sniffio  # noqa: F401
    # one search when the client was made; the absence was recorded, never searched again
    assert finder.lookups == 1


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
