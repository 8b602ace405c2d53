"""The CLI's wiring of API clients: the tenant's API, or with ``--sandbox`` the embedded
simulator under ``.spsync/sandbox/``. The only place outside the simulator that starts it;
the shell (planning, the apply workflow, doctor's probe) is handed a ``ClientFactory``.
"""

from __future__ import annotations

from typing import Any

from spsync.api.client import Client
from spsync.cli.common import Globals, err
from spsync.errors import StateError
from spsync.files import make_dirs
from spsync.model import Desired
from spsync.planning import ClientFactory, api_client, client_options
from spsync.secrets import Secret

#: the token sent to the embedded simulator (it accepts any non-empty one)
SANDBOX_TOKEN = "spsync-sandbox"


def client_factory(g: Globals) -> ClientFactory:
    """The clients of one command: with ``--sandbox``, every tenant's client talks to the
    one embedded simulator, opened at the first client (two instances in one process would
    each write the world back whole); else each tenant's API with its token. Every client
    says its notices (a call still unanswered) on stderr, naming its tenant."""
    shared: dict[str, Any] = {}

    def make(desired: Desired, /, **options: Any) -> Client:
        if g.sandbox:
            client = _sandbox_client(desired, g, shared, options)
        else:
            client = api_client(desired, **options)
        tenant = desired.tenant.tenant
        client.on_notice = lambda text: err(f"{tenant}: {text}")
        return client

    return make


def _sandbox_client(
    desired: Desired, g: Globals, shared: dict[str, Any], options: dict[str, Any]
) -> Client:
    """A client of the embedded simulator (loaded into ``shared`` once per command)."""
    import httpx

    from spsync.sandbox.embedded import open_embedded

    made = client_options(desired, options)
    if "app" not in shared:
        make_dirs(g.sandbox_dir, "the sandbox directory", StateError)
        shared["app"], _world = open_embedded(g.sandbox_dir)
    # the simulator takes any non-empty token; the tenant's real one is never read here
    return Client(
        "http://127.0.0.1",
        desired.tenant.install,
        Secret(SANDBOX_TOKEN, "sandbox"),
        transport=httpx.ASGITransport(app=shared["app"]),
        **made,
    )
