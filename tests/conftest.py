"""Generic fixtures for tests that need the SmarterProctoring simulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from spsync.sandbox.server import ThreadedServer

#: The simulated "now" of sandbox fixtures: well before the sample exams' windows.
SANDBOX_NOW = datetime(2027, 1, 15, 12, 0, 0, tzinfo=UTC)
SANDBOX_TOKEN = "test-token"
SANDBOX_INSTALL = "AI" + "0123456789abcdef" * 2


@pytest.fixture
def sandbox_server() -> Iterator[ThreadedServer]:
    """A fresh simulator over real HTTP: token ``test-token``, clock fixed, SIDs seeded."""
    with ThreadedServer(token=SANDBOX_TOKEN, seed=7, now=SANDBOX_NOW) as srv:
        yield srv


@pytest.fixture
def sandbox_client(sandbox_server: ThreadedServer) -> Iterator[httpx.Client]:
    """An httpx client for ``sandbox_server``, token header set."""
    with httpx.Client(
        base_url=sandbox_server.url, headers={"token": SANDBOX_TOKEN}, timeout=10
    ) as client:
        yield client
