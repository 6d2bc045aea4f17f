"""``capplan serve``: the REST service, once it holds its database and its port."""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import math
import os
import socket
import sys
from pathlib import Path
from typing import Any

from service.cli import EXIT_ERROR, EXIT_OK

SERVE_SWITCH_INTERVAL_S = 0.001
"""How long a thread of ``capplan serve`` holds the GIL before one waiting for it (the event
loop) gets it: Python's default is 5 ms.  A request check or a report runs in a worker thread
for milliseconds at a time, and every wake-up of the event loop waited up to the whole interval
for the GIL: with four 75 KB over-large bodies arriving at once, /healthz p99 15–21 ms against
10 ms at 1 ms (bench/size_refusal.py, docs/performance.md)."""


def cmd_serve(args: argparse.Namespace) -> int:
    """Take the database, then the port, then serve: a server that cannot have either stops
    (exit 1, one line) before it reads or writes any plan."""
    import uvicorn

    from service.api.app import create_app, request_stop
    from service.jobs.ownership import StartupError, hold_database
    from service.settings import get_settings

    settings = get_settings()
    sys.setswitchinterval(SERVE_SWITCH_INTERVAL_S)
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    try:
        hold = hold_database(settings)
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        try:
            sock = _listen(host, port)
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            hint = " (choose another with --port)" if exc.errno == errno.EADDRINUSE else ""
            print(f"error: cannot listen on {host}:{port}: {reason}{hint}", file=sys.stderr)
            return EXIT_ERROR
        with sock:
            return _run_server(uvicorn, create_app(settings, hold=hold), settings, sock, request_stop)
    finally:
        hold.release()


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (as uvicorn binds one; it listens once serving)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _run_server(uvicorn: Any, app: Any, settings: Any, sock: socket.socket, request_stop: Any) -> int:
    host, port = sock.getsockname()[:2]
    lines = banner(settings, host, port)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[Any] | None = None) -> None:
            await super().startup(sockets)
            if self.started:  # the app is up and the port open: tell the person who started it
                logging.getLogger("capplan.service").info(
                    "capplan serving", extra={"url": lines.splitlines()[0].split()[3]}
                )
                with contextlib.suppress(OSError, ValueError):
                    print(lines, flush=True)

        async def shutdown(self, sockets: list[Any] | None = None) -> None:
            request_stop()  # the runner drains while uvicorn waits for open requests
            await super().shutdown(sockets)

    config = uvicorn.Config(
        app,
        log_config=None,
        # synchronous POSTs answer within the grace (their solve ends or is interrupted)
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_s) + 10,
    )
    try:
        Server(config).run(sockets=[sock])
    except SystemExit as exc:
        # uvicorn exits 3 when the service cannot start (it logs why): the CLI's codes are 0/1/2
        if exc.code in (None, 0):
            return EXIT_OK
        print("error: the service did not start (the log above says why)", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def banner(settings: Any, host: str, port: int) -> str:
    """What ``capplan serve`` prints on stdout once it serves (the logs go to stderr)."""
    from sqlalchemy.engine import make_url

    from service.jobs.ownership import sqlite_file

    shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # every address: name this machine's
    base = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
    url = settings.database_url
    database = sqlite_file(url) if url.startswith("sqlite") else None
    where = str(database) if database is not None else make_url(url).render_as_string(hide_password=True)
    if settings.database_schema:
        where += f" (schema {settings.database_schema})"
    solves = (
        f"{settings.workers} local solver process{'es' if settings.workers != 1 else ''}"
        if settings.runner == "local"
        else f"on Ray ({settings.ray_address or 'a private one-machine cluster'})"
    )
    out = [
        f"capplan serving at {base}" + (" (and every other address of this machine)" if shown != host else "")
    ]
    out.append(f"  API docs  {base}/docs   (OpenAPI {base}/openapi.json)")
    out.append(f"  health    {base}/healthz  {base}/readyz  {base}/metrics")
    out.append(f"  database  {where}")
    out.append(f"  solves    {solves}, at most {settings.queue_limit} waiting")
    if settings.api_keys:
        tenants = len(set(settings.api_keys.values()))
        said = f"{tenants} tenant" + ("s" if tenants != 1 else "")
        out.append(f"  auth      'Authorization: Bearer <key>' on /v1 ({said})")
    legacy = Path("capplan.db")
    if settings.default_data_dir is not None and legacy.exists() and legacy.absolute() != database:
        out.append(
            f"  note      {legacy.absolute()} is not this database: the default moved to the user's data "
            "folder (CAPPLAN_DATA_DIR=. serves the one here)"
        )
    out.append(f"Ctrl-C stops it (running solves get {settings.shutdown_grace_s:g} s to finish).")
    return "\n".join(out)


def _port(text: str) -> int:
    """A TCP port for ``--port``: 0 (any free port) to 65535, as the settings allow."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"{n} is not a TCP port (0 to 65535; 0: any free port)")
    return n


def register(sub: Any) -> None:
    """Add ``serve`` to the ``capplan`` subcommands."""
    p = sub.add_parser("serve", help="run the REST service")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=_port, default=None, help="TCP port (default: CAPPLAN_PORT or 8000)")
    p.set_defaults(func=cmd_serve)
