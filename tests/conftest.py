"""Generic fixtures for tests that need the SmarterProctoring simulator."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx
import pytest
from support.plan import applied_state, observed_matching, world
from support.sandbox_flow import SANDBOX_NOW, SANDBOX_TOKEN

from spsync.model import Desired
from spsync.observed import Observed
from spsync.sandbox.server import ThreadedServer
from spsync.secrets import forget_known
from spsync.state import State

_install_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def _independent_secrets() -> Iterator[None]:
    """Each test starts with no secret registered for masking: values read by an earlier
    test in the same process must not mask this one's output."""
    forget_known()
    yield


@pytest.fixture
def sandbox_server() -> Iterator[ThreadedServer]:
    """A fresh simulator over real HTTP: token ``test-token``, clock fixed at SANDBOX_NOW,
    SIDs seeded."""
    with ThreadedServer(token=SANDBOX_TOKEN, seed=7, now=SANDBOX_NOW) as srv:
        yield srv


@pytest.fixture
def sandbox_client(sandbox_server: ThreadedServer) -> Iterator[httpx.Client]:
    """An httpx client for ``sandbox_server``, token header set."""
    with httpx.Client(
        base_url=sandbox_server.url, headers={"token": SANDBOX_TOKEN}, timeout=10
    ) as client:
        yield client


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[ThreadedServer]:
    """One simulator for the whole run (clock fixed at SANDBOX_NOW; do not change it).
    Isolate tests by giving each its own install: see ``fresh_install``."""
    with ThreadedServer(token=SANDBOX_TOKEN, now=SANDBOX_NOW) as srv:
        yield srv


@pytest.fixture
def fresh_install() -> str:
    """An install SID no other test uses (installs are created on first use)."""
    return f"AI{next(_install_numbers):032x}"


@pytest.fixture
def shared_client(shared_sandbox: ThreadedServer) -> Iterator[httpx.Client]:
    """An httpx client for ``shared_sandbox``, token header set."""
    with httpx.Client(
        base_url=shared_sandbox.url, headers={"token": SANDBOX_TOKEN}, timeout=10
    ) as client:
        yield client


# --- a small applied world for the planner's tests (support.plan.world) ---------------------


@pytest.fixture
def d() -> Desired:
    return world()


@pytest.fixture
def st(d: Desired) -> State:
    return applied_state(d)


@pytest.fixture
def live(st: State, d: Desired) -> Observed:
    return observed_matching(st, d)
