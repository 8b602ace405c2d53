"""``spsync sandbox serve``: run the SmarterProctoring simulator as an HTTP server."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from spsync.cli.common import SummaryGroup, err, global_options, out
from spsync.errors import UsageError

if TYPE_CHECKING:
    from spsync.sandbox.dialect import Dialect


def _parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    from spsync.sandbox.timefmt import parse_utc

    parsed = parse_utc(value)
    if parsed is None:
        raise UsageError(
            f"--now: expected an ISO-8601 UTC date-time ending in Z "
            f"(e.g. 2027-03-01T14:00:00Z), got {value!r}"
        )
    return parsed


def _check(
    port: int,
    tokens: tuple[str, ...],
    latency_ms: float,
    fault_rate: float,
    rate_limit: float | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    require_tls: bool,
) -> None:
    if not 0 <= port <= 65535:
        raise UsageError(f"--port: must be from 0 to 65535, got {port}")
    for t in tokens:
        if not t.strip():
            raise UsageError("--token: must not be empty")
    if not math.isfinite(latency_ms) or latency_ms < 0:
        raise UsageError(f"--latency-ms: must be a number >= 0, got {latency_ms}")
    if not math.isfinite(fault_rate) or not 0 <= fault_rate <= 1:
        raise UsageError(f"--fault-rate: must be a fraction from 0 to 1, got {fault_rate}")
    if rate_limit is not None and (not math.isfinite(rate_limit) or rate_limit <= 0):
        raise UsageError(
            f"--rate-limit: must be a number of requests per second > 0, got {rate_limit}"
        )
    if (tls_cert is None) != (tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together: give both or neither")
    for flag, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if path is not None and not path.is_file():
            raise UsageError(f"{flag}: no such file: {path}")
    if require_tls and tls_cert is None:
        err(
            "warning: --require-tls without --tls-cert: every plain-HTTP request will be "
            "answered 400 INVALIDPROTOCOL (fine behind a TLS-terminating proxy)"
        )


def _dialect(settings: dict[str, str | None]) -> Dialect:
    """The ``Dialect`` of the options; a bad value is a ``UsageError`` naming its option."""
    from spsync.sandbox.dialect import OPTIONS, DialectError, build

    try:
        return build(settings)
    except DialectError as e:
        raise UsageError(f"{OPTIONS[e.field]}: {e}") from None


@click.group(cls=SummaryGroup)
def sandbox() -> None:
    """The bundled SmarterProctoring simulator.

    The global --sandbox flag runs the simulator inside spsync itself; `sandbox serve`
    runs it as an HTTP server, for curl or for a tenant whose api.url points at it.

    \b
    Example:
      spsync sandbox serve --port 8765 --token t --now 2027-06-01T00:00:00Z
    """


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port (0: any free one).")
@click.option(
    "--token",
    "tokens",
    multiple=True,
    help="Accepted API token (repeatable). Default: any non-empty token.",
)
@click.option(
    "--data",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Keep the world in this JSON file: loaded at start, saved after every change.",
)
@click.option(
    "--latency-ms", default=0.0, show_default=True, type=float, help="Delay added to every answer."
)
@click.option(
    "--fault-rate",
    default=0.0,
    show_default=True,
    type=float,
    help="Fraction of API requests that fail (see --fault-kinds), before or after taking effect.",
)
@click.option(
    "--fault-kinds",
    default=None,
    metavar="KINDS",
    help="Comma-separated faults to inject, from 500,502,503,504,drop,timeout "
    "(default: 500,503,drop).",
)
@click.option(
    "--rate-limit",
    default=None,
    type=float,
    help="Requests per second above which the answer is 429 with Retry-After.",
)
@click.option("--now", default=None, help="Fix the simulated clock (ISO-8601 UTC, ...Z).")
@click.option("--require-tls", is_flag=True, help="Answer plain-HTTP requests 400 INVALIDPROTOCOL.")
@click.option(
    "--tls-cert", type=click.Path(path_type=Path), default=None, help="Serve HTTPS: certificate."
)
@click.option("--tls-key", type=click.Path(path_type=Path), default=None, help="Serve HTTPS: key.")
@click.option("--seed", type=int, default=None, help="Reproducible SIDs and injected faults.")
@click.option(
    "--dialect",
    default=None,
    metavar="NAME",
    help="The API spoken: contract (the project's, default) or vendor (the vendor's "
    "documents; see docs/sandbox.md).",
)
@click.option(
    "--assignment-form",
    default=None,
    metavar="FORM",
    help="vendor: the one assignment endpoint that exists: guide, exam or newest (default).",
)
@click.option(
    "--after-cancel",
    default=None,
    metavar="WHAT",
    help="vendor: what follows a cancel: new (a fresh session, default), same (the session "
    "reopened) or none.",
)
@click.option(
    "--page-max", default=None, metavar="N", help="vendor: the largest limit (default 100)."
)
@click.option(
    "--report-rows",
    default=None,
    metavar="ROWS",
    help="vendor: the sessions the appointments report lists: all (default) or booked.",
)
@global_options(hide=("--state-dir", "--sandbox", "--no-color"))
def serve(
    host: str,
    port: int,
    tokens: tuple[str, ...],
    data: Path | None,
    latency_ms: float,
    fault_rate: float,
    fault_kinds: str | None,
    rate_limit: float | None,
    now: str | None,
    require_tls: bool,
    tls_cert: Path | None,
    tls_key: Path | None,
    seed: int | None,
    dialect: str | None,
    assignment_form: str | None,
    after_cancel: str | None,
    page_max: str | None,
    report_rows: str | None,
) -> None:
    """Run the SmarterProctoring simulator as an HTTP server (Ctrl-C stops it).

    Ctrl-C or SIGTERM shuts it down gracefully; it then exits 0 (not 130: stopping is how
    a server ends).

    \b
    Example:
      spsync sandbox serve --port 8765 --token t
      spsync sandbox serve --dialect vendor --assignment-form exam --after-cancel same
      curl -H 'token: t' http://127.0.0.1:8765/v1/installs/AI$(printf 'a%.0s' {1..32})/settings
    """
    _check(port, tokens, latency_ms, fault_rate, rate_limit, tls_cert, tls_key, require_tls)
    spoken = _dialect(
        {
            "name": dialect,
            "assignment_form": assignment_form,
            "after_cancel": after_cancel,
            "page_max": page_max,
            "report_rows": report_rows,
        }
    )
    fixed = _parse_now(now)
    from spsync.sandbox.injection import parse_fault_kinds

    kinds = None
    if fault_kinds is not None:
        try:
            kinds = parse_fault_kinds(fault_kinds)
        except ValueError as e:
            raise UsageError(f"--fault-kinds: {e}") from e
    from spsync.sandbox.app import create_app
    from spsync.sandbox.server import build_world
    from spsync.sandbox.server import serve as run_server

    try:
        world = build_world(now=fixed, seed=seed, data_path=data)
    except (OSError, ValueError) as e:
        raise UsageError(f"--data: {e}") from e
    app = create_app(
        world,
        tokens=set(tokens) if tokens else None,
        latency_ms=latency_ms,
        fault_rate=fault_rate,
        fault_kinds=kinds,
        rate_limit=rate_limit,
        require_tls=require_tls,
        data_path=data,
        seed=seed,
        dialect=spoken,
    )
    if app.controls.persister is not None:
        # Find out now, not at the first change, that the file cannot be written.
        try:
            app.controls.persister.save()
        except OSError as e:
            raise UsageError(f"--data: cannot write {data}: {e.strerror or e}") from e
    try:
        run_server(
            app,
            host=host,
            port=port,
            tls_cert=tls_cert,
            tls_key=tls_key,
            on_ready=lambda url: out(f"spsync sandbox listening on {url}", nl=True),
        )
    except OSError as e:
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    except KeyboardInterrupt:
        # a Ctrl-C during start-up, before the server watches for it (the listening line
        # comes once it does), stops it as one a moment later does: exit 0
        pass
    err("spsync sandbox stopped")


COMMANDS = [sandbox]
