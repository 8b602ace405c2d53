"""The SmarterProctoring simulator.

``world`` is the pure in-memory model of the API (no HTTP, no real clock); ``app`` serves it
over HTTP as a Starlette ASGI app with fault injection, rate limiting and persistence;
``server`` runs that app with uvicorn (a background thread for tests, or the foreground for
``spsync sandbox serve``); ``embedded`` opens a persisted world for the CLI's ``--sandbox``
mode. The functional core of spsync never imports this package.
"""

from __future__ import annotations
