"""The SmarterProctoring API client (``Client``) and its wire models (``wire``).

Importing the package loads nothing else: ``spsync.api.wire`` and the pure modules beside
it (``retry_decision``, ``aliases``) are imported without httpx or asyncio. ``Client``,
``CallRecord``, ``run``, ``RetryPolicy`` and ``AdaptiveRateLimiter`` stay importable from
here (``from spsync.api import Client``): each is loaded from its module on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spsync.api.client import CallRecord, Client, run
    from spsync.api.limiter import AdaptiveRateLimiter
    from spsync.api.retry import RetryPolicy

__all__ = ["AdaptiveRateLimiter", "CallRecord", "Client", "RetryPolicy", "run"]

#: the names above -> the module that defines them
_HOMES = {
    "AdaptiveRateLimiter": "spsync.api.limiter",
    "CallRecord": "spsync.api.client",
    "Client": "spsync.api.client",
    "RetryPolicy": "spsync.api.retry",
    "run": "spsync.api.client",
}


def __getattr__(name: str) -> Any:
    """Load one of the package's exported names from its module, on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
