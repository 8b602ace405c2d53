"""Running the simulator with uvicorn: in a background thread (tests, benchmarks) or in the
foreground until Ctrl-C / SIGTERM (``spsync sandbox serve``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from types import FrameType, TracebackType

import uvicorn

from spsync.sandbox.app import SandboxApp, create_app
from spsync.sandbox.dialect import Dialect
from spsync.sandbox.persistence import load_world
from spsync.sandbox.timefmt import SettableClock
from spsync.sandbox.world import World


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (``port`` 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio only disables Nagle (TCP_NODELAY) on accepted sockets whose
    # proto is IPPROTO_TCP, and without it every keep-alive answer waits ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, stopping gracefully on SIGINT/SIGTERM and then returning normally
    (uvicorn itself re-raises the signal after shutdown, which kills the process).
    ``on_started`` is called once it serves, its signal handlers in place: a Ctrl-C from
    then on stops it gracefully."""

    on_started: Callable[[], None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self.on_started is not None:
            self.on_started()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def stop(sig: int, frame: FrameType | None) -> None:
            if self.should_exit:
                self.force_exit = True  # a second Ctrl-C: stop waiting for connections
            self.should_exit = True

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class _NoShutdownCancels(logging.Filter):
    """Drops the traceback of a request cancelled because the server stops (one held by
    ``--latency-ms`` or an injected timeout): the stop is what the user asked for, and the
    line before it already says that running requests were cancelled."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, asyncio.CancelledError)


_SHUTDOWN_FILTER = _NoShutdownCancels()


def _config(
    app: SandboxApp, *, tls_cert: Path | None = None, tls_key: Path | None = None
) -> uvicorn.Config:
    config = _uvicorn_config(app, tls_cert=tls_cert, tls_key=tls_key)
    # after the config's own logging set-up; adding the same filter twice keeps one
    logging.getLogger("uvicorn.error").addFilter(_SHUTDOWN_FILTER)
    return config


def _uvicorn_config(
    app: SandboxApp, *, tls_cert: Path | None, tls_key: Path | None
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
        # An injected "timeout" fault holds its request; do not let it hold a shutdown too.
        timeout_graceful_shutdown=5,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
    )


def build_world(
    *,
    now: datetime | None = None,
    seed: int | None = None,
    data_path: Path | None = None,
    dialect: Dialect | None = None,
) -> World:
    """A world with a settable clock (fixed at ``now`` if given), loaded from ``data_path``.

    ``dialect`` is accepted for symmetry with ``create_app``: a world is the same in every
    dialect (only the answers differ), so it does not change the world.
    """
    clock = SettableClock(now)
    if data_path is not None:
        return load_world(data_path, clock=clock, seed=seed)
    return World(clock=clock, seed=seed)


class ThreadedServer:
    """The simulator served by uvicorn on 127.0.0.1 and a free port, in a daemon thread.

    ::

        with ThreadedServer(tokens={"t"}, seed=1) as srv:
            httpx.get(srv.url + "/v1/installs/AI…/settings", headers={"token": "t"})

    Takes ``create_app``'s options, plus ``world`` (default: a new one with a settable clock,
    fixed at ``now`` if given), ``token`` (shorthand for ``tokens={token}``), ``host`` and
    ``port``. ``dialect``: ``Dialect.vendor(after_cancel="same")`` speaks the vendor's API.
    """

    def __init__(
        self,
        world: World | None = None,
        *,
        tokens: set[str] | None = None,
        token: str | None = None,
        latency_ms: float = 0,
        fault_rate: float = 0.0,
        fault_kinds: tuple[str, ...] | None = None,
        rate_limit: float | None = None,
        require_tls: bool = False,
        data_path: Path | None = None,
        seed: int | None = None,
        now: datetime | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        dialect: Dialect | None = None,
    ) -> None:
        if token is not None:
            tokens = {*(tokens or set()), token}
        if world is None:
            world = build_world(now=now, seed=seed, data_path=data_path)
        self.world = world
        self.app = create_app(
            world,
            tokens=tokens,
            latency_ms=latency_ms,
            fault_rate=fault_rate,
            fault_kinds=fault_kinds,
            rate_limit=rate_limit,
            require_tls=require_tls,
            data_path=data_path,
            seed=seed,
            dialect=dialect,
        )
        self.host = host
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.url = ""

    def start(self) -> ThreadedServer:
        """Start serving; returns once the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError("already started")
        sock = self._sock = bind(self.host, self._port)
        port = sock.getsockname()[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{port}"
        server = self._server = uvicorn.Server(_config(self.app))
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(server.serve(sockets=[sock]))
            except BaseException as e:  # surfaced by start()
                failure.append(e)

        self._thread = threading.Thread(target=run, name="spsync-sandbox", daemon=True)
        self._thread.start()
        while not self._server.started:
            if failure or not self._thread.is_alive():
                raise RuntimeError(f"sandbox server failed to start: {failure}")
            self._thread.join(0.005)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._thread = None

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    app: SandboxApp,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``app`` in the foreground until Ctrl-C or SIGTERM, then shut down gracefully
    and return. ``on_ready`` gets the base URL once the server serves (and watches for
    those signals)."""
    sock = bind(host, port)
    scheme = "https" if tls_cert else "http"
    shown = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{shown}:{sock.getsockname()[1]}"
    server = _Server(_config(app, tls_cert=tls_cert, tls_key=tls_key))
    if on_ready is not None:
        server.on_started = lambda: on_ready(url)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
