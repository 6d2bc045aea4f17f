"""The ``capplan`` command line: the same library calls as the API.

Exit codes: 0 a plan was produced (whatever its status), 2 invalid request (message on
stderr naming the field), 130 interrupted (Ctrl-C), 1 anything else.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import json
import logging
import math
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from solver import FieldError, Plan, RequestInvalid, parse_request, plan
from solver.errors import pointer_token
from solver.validate import beyond_float_range

EXIT_OK, EXIT_ERROR, EXIT_INVALID = 0, 1, 2
EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as a shell reports a command the signal ended


def _read_json(path: str) -> dict[str, Any]:
    """The JSON object in file ``path`` (``-``: stdin), UTF-8 with or without a byte-order mark.

    Raises
    ------
    RequestInvalid
        (exit 2) Text that is not UTF-8, not JSON, nested too deeply, JSON that is not an
        object (a JSON string holding a request is refused, as the API refuses it), or that
        holds NaN, Infinity or a number beyond the float range (not JSON, though Python reads
        it; refused as the API refuses it: a plan or result file would show "$nan").
    """
    if path == "-":
        buffer = getattr(sys.stdin, "buffer", None)
        raw = buffer.read() if buffer is not None else sys.stdin.read().encode("utf-8")
    else:
        raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RequestInvalid(
            [FieldError("/", f"not UTF-8 text (byte {exc.start} cannot be decoded): save the file as UTF-8")]
        ) from None
    non_finite: list[str] = []  # the tokens, in the order read

    def constant(token: str) -> object:  # NaN, Infinity, -Infinity
        non_finite.append(token)
        return _NON_FINITE

    def number(token: str) -> object:  # 1e999 reads as inf
        value = float(token)
        return value if math.isfinite(value) else constant(token)

    def integer(token: str) -> object:  # 1 followed by 400 zeros: beyond the float range too
        return constant(token) if beyond_float_range(token) else int(token)

    try:
        doc = json.loads(text, parse_constant=constant, parse_float=number, parse_int=integer)
    except RecursionError:
        raise RequestInvalid([FieldError("/", "not valid JSON: nested too deeply")]) from None
    except ValueError as exc:
        raise RequestInvalid([FieldError("/", f"not valid JSON: {exc}")]) from None
    if not isinstance(doc, dict):
        kind = {str: "a string", list: "an array", bool: "a boolean"}.get(type(doc), "a number")
        raise RequestInvalid(
            [FieldError("/", f"must be a JSON object, not {'null' if doc is None else kind}")]
        )
    if non_finite:
        token = non_finite[0]
        shown = token if len(token) <= 24 else f"{token[:12]}... ({len(token)} characters)"
        msg = (
            f"not a finite number ({shown}): NaN, Infinity and numbers beyond the float range are not allowed"
        )
        raise RequestInvalid([FieldError(_first_non_finite(doc), msg)])
    return doc


_NON_FINITE = object()
"""What :func:`_read_json` reads NaN, Infinity and an overflowing number as (never returned)."""


def _first_non_finite(doc: Any) -> str:
    """The JSON pointer of the first :data:`_NON_FINITE` in ``doc``, in document order (walked
    without recursion: the document may be nested as deeply as the parser allows)."""
    stack: list[tuple[Any, str]] = [(doc, "")]
    while stack:
        obj, path = stack.pop()
        if obj is _NON_FINITE:
            return path or "/"
        if isinstance(obj, dict):
            stack.extend((v, f"{path}/{pointer_token(k)}") for k, v in reversed(obj.items()))
        elif isinstance(obj, list):
            stack.extend((v, f"{path}/{i}") for i, v in reversed(list(enumerate(obj))))
    return "/"


class FileInvalid(RequestInvalid):
    """An invalid request about one input file of a command that reads several kinds of file
    (diff, report, export): printed with the file's name before each field."""

    def __init__(self, source: str, errors: list[FieldError]) -> None:
        self.source = "stdin" if source == "-" else source
        super().__init__(errors)


@contextmanager
def about(source: str) -> Iterator[None]:
    """Re-raise an invalid request raised inside as one about the file ``source``."""
    try:
        yield
    except FileInvalid:
        raise
    except RequestInvalid as exc:
        raise FileInvalid(source, exc.errors) from None


def _print_invalid(exc: RequestInvalid) -> None:
    where = f"{exc.source}: " if isinstance(exc, FileInvalid) else ""
    for err in exc.errors:
        print(f"invalid request: {where}{err.path}: {err.message}", file=sys.stderr)


def format_plan(p: Plan) -> str:
    """A readable summary of a plan (what ``capplan solve`` prints)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(record=True, width=110, force_terminal=False, file=io.StringIO())
    s = p.summary
    # the "z" in the formats: a value that rounds to zero prints 0, never -0
    if p.objective.value is None:
        value = "-"
    elif p.objective.kind == "max_served":
        value = f"{p.objective.value:z,.0f} weighted million tokens"
    else:
        value = f"${p.objective.value:z,.0f}"
    console.print(f"[bold]{p.name}[/bold]  status: {p.status}  objective ({p.objective.kind}): {value}")
    if p.status in ("optimal", "feasible"):
        cpm = "-" if s.cost_per_million_tokens_usd is None else f"${s.cost_per_million_tokens_usd:z,.4f}"
        console.print(
            f"NPV cost ${s.npv_cost_usd:z,.0f}  capex ${s.capex_usd:z,.0f}  opex ${s.opex_usd:z,.0f}  "
            f"residual ${s.residual_value_usd:z,.0f}"
        )
        console.print(f"served {s.served_fraction:z.2%} of demand  cost per million tokens {cpm}")
        mix = ", ".join(f"{v} {x:z.1%}" for v, x in s.it_power_share_by_vendor.items())
        console.print(f"IT power by vendor: {mix or '-'}")
        units = Table(title="Units acquired", show_edge=False)
        units.add_column("hardware")
        units.add_column("units", justify="right")
        for h, u in s.units_acquired.items():
            units.add_row(h, f"{u:z,.2f}")
        console.print(units)
        per = Table(title="Per period", show_edge=False)
        for col in ("period", "capex $", "opex $", "power used / available MW", "served / demand tok/s"):
            per.add_column(col, justify="right")
        for pr in p.periods:
            used = sum(x.power_used_mw for x in pr.sites)
            avail = sum(x.power_available_mw for x in pr.sites)
            served = sum(w.served_tokens_per_s for w in pr.workloads)
            dem = sum(w.demand_tokens_per_s for w in pr.workloads)
            per.add_row(
                pr.label,
                f"{pr.capex_usd:z,.0f}",
                f"{pr.opex_usd:z,.0f}",
                f"{used:z,.1f} / {avail:z,.1f}",
                f"{served:z,.4g} / {dem:z,.4g}",
            )
        console.print(per)
        if p.binding:
            console.print("binding: " + "; ".join(p.binding))
        if p.shadow_prices is not None and p.shadow_prices.budget_per_usd is not None:
            console.print(f"budget shadow price: {p.shadow_prices.budget_per_usd:z.6g} per $")
        if p.shadow_prices is not None and p.shadow_prices.total_budget_per_usd is not None:
            console.print(
                f"total budget (capex + opex) shadow price: {p.shadow_prices.total_budget_per_usd:z.6g} per $"
            )
    for d in p.diagnosis:
        console.print(f"diagnosis: {d.message}")
    for c in p.contracts:
        rebate = (
            f", rebate ${c.discount_usd:z,.0f} ({c.discount_tiers_reached} discount tiers reached)"
            if c.discount_usd or c.discount_tiers_reached
            else ""
        )
        console.print(
            f"contract {c.vendor}: spend ${c.spend_usd:z,.0f} of ${c.min_spend_usd:z,.0f} "
            f"(${c.net_spend_usd:z,.0f} net of residual value), shortfall ${c.shortfall_usd:z,.0f}, "
            f"equity {c.equity_fraction:z.2%} (${c.equity_value_usd:z,.0f}){rebate}"
        )
    for w in p.warnings:
        console.print(f"warning: {w}")
    return console.export_text()


def cmd_solve(args: argparse.Namespace) -> int:
    result = plan(_read_json(args.file))
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        print(format_plan(result), end="")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from solver.inspect import describe_request

    req = parse_request(_read_json(args.file))
    info = describe_request(req)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(
            f"valid: {req.name} ({info['model_size']['variables']} variables, "
            f"{info['model_size']['constraints']} constraints)"
        )
        for pair in info["throughput"]:
            print(
                f"  {pair['hardware']:>28} -> {pair['workload']:<20} {pair['tokens_per_s_per_unit']:>14,.1f} tok/s/unit"
            )
        for w in info["warnings"]:
            print(f"warning: {w}")
    return EXIT_OK


def cmd_catalog(args: argparse.Namespace) -> int:
    from solver.catalog import load_catalog

    entries = load_catalog()
    if args.json:
        print(json.dumps(list(entries), indent=2))
        return EXIT_OK
    print(format_catalog(entries), end="")
    return EXIT_OK


def format_catalog(entries: Any) -> str:
    """The catalog as a table: price (or hourly fee), power, life and, per model, the fastest
    tokens/s per user and the tokens/s per unit at the slowest point; * marks an estimate."""
    from rich.console import Console
    from rich.table import Table

    console = Console(record=True, width=150, force_terminal=False, file=io.StringIO())
    table = Table(
        title="Default hardware catalog (* = estimate; sources: capplan catalog --json, docs/catalog.md)"
    )
    for col, justify in (
        ("id", "left"),
        ("vendor", "left"),
        ("kind", "left"),
        ("price", "right"),
        ("IT kW", "right"),
        ("life y", "right"),
        ("model: max tok/s/user (tok/s/unit at the slowest point)", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for e in entries:
        est: dict[str, str] = e.get("estimates", {})

        def star(field: str, est: dict[str, str] = est) -> str:
            return "*" if field in est else ""

        if e.get("recurring_usd_per_unit_hour"):
            price = f"${e['recurring_usd_per_unit_hour']:,.2f}/h{star('recurring_usd_per_unit_hour')}"
        else:
            price = f"${e.get('unit_price_usd', 0):,.0f}{star('unit_price_usd')}"
        models = []
        for m, perf in sorted(e.get("performance", {}).items()):
            pts, last = perf["points"], len(perf["points"]) - 1
            fast = star(f"performance/{m}/points/{last}/tokens_per_s_per_user")
            slow = star(f"performance/{m}/points/0/tokens_per_s_per_unit")
            models.append(
                f"{m}: {pts[-1]['tokens_per_s_per_user']:,.4g}{fast} ({pts[0]['tokens_per_s_per_unit']:,.0f}{slow})"
            )
        table.add_row(
            e["id"],
            e["vendor"],
            e["kind"],
            price,
            f"{e['it_power_kw']:,.1f}{star('it_power_kw')}",
            f"{e.get('lifetime_years', 5):g}{star('lifetime_years')}",
            "\n".join(models),
        )
    console.print(table)
    return console.export_text()


def cmd_serve(args: argparse.Namespace) -> int:
    """Take the database, then the port, then serve: a server that cannot have either stops
    (exit 1, one line) before it reads or writes any plan."""
    import uvicorn

    from service.api.app import create_app, request_stop
    from service.jobs.ownership import StartupError, hold_database
    from service.settings import get_settings

    settings = get_settings()
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="capplan", description="Inference-capacity planning.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("solve", help="solve a request file and print the plan")
    p.add_argument("file", help="request JSON file ('-' for stdin)")
    p.add_argument("--json", action="store_true", help="print the Plan JSON on stdout")
    p.set_defaults(func=cmd_solve)
    p = sub.add_parser("validate", help="check a request without solving it")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("catalog", help="print the default hardware catalog")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_catalog)
    p = sub.add_parser("serve", help="run the REST service")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=_port, default=None, help="TCP port (default: CAPPLAN_PORT or 8000)")
    p.set_defaults(func=cmd_serve)
    for register in _extensions():
        register(sub)
    return parser


def _extensions() -> list[Any]:
    """Subcommands living in their own modules (sweep, frontier, diff, report, export…).

    Each module listed here exposes ``register(subparsers)``; a module that is missing is
    skipped so that the core commands never depend on it.
    """
    import importlib

    out = []
    for name in ("service.cli_scenarios", "service.cli_report"):
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        out.append(mod.register)
    return out


def _stdout_closed() -> int:
    """The reader of stdout went away (``capplan solve --json FILE | head -1``): not an error.

    Printing stops quietly; stdout is pointed at /dev/null so that the interpreter's last
    flush does not complain.  Exit 0: printing is every command's last step, after its work
    (export writes all its files before it lists them).
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    except (AttributeError, OSError, ValueError):  # no file descriptor (a test's capture)
        pass
    return EXIT_OK


def _interrupted() -> int:
    """Ctrl-C: one line and exit 130.  Another Ctrl-C while the interpreter exits ends the
    process by the signal itself (the same 130 to a shell), not with a traceback."""
    print("interrupted", file=sys.stderr)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    return EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)  # imports the subcommands' modules: Ctrl-C-able
        return int(args.func(args))
    except RequestInvalid as exc:
        _print_invalid(exc)
        return EXIT_INVALID
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        return _stdout_closed()
    except KeyboardInterrupt:  # Ctrl-C: the workers of a sweep or frontier are stopped by now
        return _interrupted()
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
