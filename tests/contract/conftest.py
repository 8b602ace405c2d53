"""The simulator's contract suite: every statement of the API contract, checked over real
HTTP against a real ``spsync sandbox serve`` process, as an independent client would see it,
one file per part of the contract (test_contract_*.py) and its fuzz.

Section numbers (§) refer to the API contract. Where the contract leaves a point open the
suite accepts each reading listed in docs/sandbox.md and says so next to the check; where
the simulator pins one reading (the integration guide's example bodies, the exact
``details`` paths of an error), the check says so too. Each file has one server (clock
fixed at ``NOW``); each test uses its own install. Helpers: ``support.sandbox_probe`` (the
server process, the ``Api`` client, shape checks) and ``support.sandbox_flow`` (``flow``:
calls that assert their status).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.sandbox_flow import Flow
from support.sandbox_probe import Api, Served, serving


@pytest.fixture(scope="module")
def srv() -> Iterator[Served]:
    """One plain server for the module; tests isolate themselves by install."""
    yield from serving()


@pytest.fixture
def api(srv: Served) -> Iterator[Api]:
    """A client bound to a fresh install."""
    client = srv.client()
    yield client
    client.close()


@pytest.fixture
def flow(api: Api) -> Flow:
    """The install of ``api`` through the step helper that asserts each call's status (the
    bodies are the integration guide's example, ``support.sandbox_payloads``)."""
    return Flow(api.http, api.install)
