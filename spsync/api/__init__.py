"""The SmarterProctoring API client (``Client``) and its wire models (``wire``)."""

from __future__ import annotations

from spsync.api.client import CallRecord, Client, run
from spsync.api.limiter import AdaptiveRateLimiter
from spsync.api.retry import RetryPolicy

__all__ = ["AdaptiveRateLimiter", "CallRecord", "Client", "RetryPolicy", "run"]
