"""``capplan sweep``, ``capplan frontier`` and ``capplan diff``: scenario analysis on the
command line, through the same library calls as the API (:mod:`solver.scenarios`,
:mod:`solver.diff`).  Scenarios run on a pool of solver processes using every core
(:class:`service.jobs.mapper.LocalPoolMapper`, the service's local runner: its watchdog
stops a solve that overruns its time limit); ``--workers 1`` runs them one by one in this
process.  A progress bar goes to stderr so that ``--json`` output on stdout stays clean.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from service.cli.inputs import FileInvalid, about, read_json
from service.cli.output import emit, text_console
from service.jobs.mapper import LocalPoolMapper
from solver import FieldError, Plan, RequestInvalid, plan
from solver.diff import PlanDiff, diff_plans
from solver.scenarios.frontier import prepare_frontier, run_frontier
from solver.scenarios.results import FrontierResult, ScenarioRow, SweepResult
from solver.scenarios.run import Mapper, RunOptions
from solver.scenarios.specs import DEFAULT_MAX_SCENARIOS
from solver.scenarios.sweep import prepare_sweep, run_sweep


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def _parse_token(text: str) -> Any:
    """A command-line value: JSON if it parses (numbers, true, null, lists), else a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_assignment(text: str, option: str) -> tuple[str, list[Any]]:
    """``PATH=v1,v2`` (or ``PATH=[v1, v2]``, a JSON list, for values that contain commas)."""
    path, sep, rhs = text.partition("=")
    path = path.strip()
    if not sep or not path or not rhs.strip():
        raise RequestInvalid([FieldError(option, f"{text!r}: expected PATH=v1,v2")])
    rhs = rhs.strip()
    if rhs.startswith("["):
        try:
            values = json.loads(rhs)
        except ValueError as exc:
            raise RequestInvalid([FieldError(option, f"{path}: not a JSON list: {exc}")]) from None
        if not isinstance(values, list):
            raise RequestInvalid([FieldError(option, f"{path}: not a JSON list")])
        return path, values
    return path, [_parse_token(x.strip()) for x in rhs.split(",")]


def sweep_body(args: argparse.Namespace) -> dict[str, Any]:
    """The sweep body from FILE (a request, or a whole sweep body) and the options."""
    doc = read_json(args.file)
    if isinstance(doc, dict) and "base" in doc:
        body = dict(doc)
        body["parameters"] = list(body.get("parameters") or [])
    else:
        body = {"base": doc, "parameters": []}
    for text in args.vary or []:
        path, values = parse_assignment(text, "--vary")
        body["parameters"].append({"path": path, "values": values})
    for text in args.scale or []:
        path, values = parse_assignment(text, "--scale")
        body["parameters"].append({"path": path, "scale": values})
    if args.mode:
        body["mode"] = args.mode
    if not body["parameters"]:
        raise RequestInvalid(
            [FieldError("--vary", "give at least one --vary or --scale (or parameters in FILE)")]
        )
    return body


@contextmanager
def _mapper(workers: int | None) -> Iterator[Mapper]:
    if workers == 1:
        yield map
        return
    with LocalPoolMapper(workers) as pool:
        yield pool


@contextmanager
def _progress(total: int, label: str, quiet: bool) -> Iterator[Callable[..., None]]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=sys.stderr)
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet or not console.is_terminal,
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=total)

        def advance(_row: ScenarioRow, _plan: Plan | None, _req: Any, done: int, total_: int) -> None:
            bar.update(task, completed=done, total=total_)

        yield advance


def _fmt(x: Any, spec: str = ",.6g") -> str:
    """A table cell: ``-`` for none, a float in ``spec`` (a sign, if any, then the rest; no
    fill or alignment) never as -0, a list as its first items, anything else as JSON spells it
    (true, not True)."""
    if x is None:
        return "-"
    if isinstance(x, float):
        sign = spec[:1] if spec[:1] in "+- " and spec else ""
        return format(x, f"{sign}z{spec[len(sign) :]}")  # z: -0.0 (or -0.001 at .0f) prints 0
    if isinstance(x, list):
        head = ", ".join(_fmt(v) for v in x[:3])
        return f"[{head}{', …' if len(x) > 3 else ''}]"
    if isinstance(x, str):
        return x
    return json.dumps(x, ensure_ascii=False)  # true/false (as the report and the JSON), objects


def format_sweep(result: SweepResult, paths: list[str]) -> str:
    """The rows of a sweep (and its tornado) as readable tables."""
    from rich.table import Table

    console = text_console()
    table = Table(title=f"{result.mode} sweep: {result.done} of {result.total} scenarios", show_edge=False)
    table.add_column("#", justify="right")
    for p in paths:
        table.add_column(p, justify="right", overflow="fold")
    for col in (
        "status",
        "objective",
        "NPV cost $",
        "served",
        "$/M tok",
        "top power price NPV $/MW (1 period)",
    ):
        table.add_column(col, justify="right")
    for r in result.rows:
        top = r.power_shadow_price_max
        table.add_row(
            str(r.index),
            *[_fmt(r.values.get(p)) + (" *" if r.parameter == p else "") for p in paths],
            r.status if r.error is None else f"{r.status}: {r.error[:40]}",
            _fmt(r.objective),
            _fmt(r.npv_cost_usd, ",.0f"),
            "-" if r.served_fraction is None else f"{r.served_fraction:z.2%}",
            _fmt(r.cost_per_million_tokens_usd, ",.4f"),
            "-" if top is None else f"{top.value:,.0f} ({top.site} {top.period})",
        )
    console.print(table)
    if result.mode == "one_at_a_time":
        console.print("* the parameter moved in that scenario (the others at their base value)")
    if result.tornado:
        tor = Table(
            title="Tornado (objective; parameters with a setting that has no plan first, then largest swing)",
            show_edge=False,
        )
        for col in ("parameter", "low value", "objective", "high value", "objective", "swing", "no plan at"):
            tor.add_column(col, justify="right")
        for b in result.tornado:
            tor.add_row(
                b.path,
                _fmt(b.low_value),
                _fmt(b.low),
                _fmt(b.high_value),
                _fmt(b.high),
                _fmt(b.swing),
                "; ".join(
                    f"{n.status} at {_fmt(n.value) if n.factor is None else f'×{n.factor:g}'}"
                    for n in b.no_value
                )
                or "-",
            )
        console.print(tor)
        if any(b.no_value for b in result.tornado):
            console.print(
                "low, high and swing cover only the settings with a plan; 'no plan at' lists the "
                "others (their effect is unbounded, so they rank first)"
            )
    if result.cancelled:
        console.print("cancelled: the table shows the scenarios finished before the stop")
    return str(console.export_text())


def format_frontier(result: FrontierResult) -> str:
    from rich.table import Table

    console = text_console()
    table = Table(title="Cost-vs-served frontier (least NPV cost at each served fraction)", show_edge=False)
    cols = ("#", "target served", "served", "NPV cost $", "marginal $/M tok*", "$/M tok*", "status", "")
    for col in cols:
        table.add_column(col, justify="right")
    for r in result.rows:
        table.add_row(
            str(r.index),
            "-" if r.target_served_fraction is None else f"{r.target_served_fraction:z.4%}",
            "-" if r.served_fraction is None else f"{r.served_fraction:z.4%}",
            _fmt(r.npv_cost_usd, ",.0f"),
            _fmt(r.marginal_cost_usd_per_million_tokens, ",.4f"),
            _fmt(r.cost_per_million_tokens_usd, ",.4f"),
            r.status,
            "knee" if r.knee else "",
        )
    console.print(table)
    console.print(
        "* levelised, both: NPV $ per discounted million tokens served (a token in period t counts "
        "its discount factor d_t); marginal: from the previous point"
    )
    if result.error:
        console.print(f"no frontier: {result.error}")
    elif result.note:
        console.print(result.note)
    elif result.knee_index is None and not result.cancelled:
        console.print("no knee: the cost rises linearly with the served fraction")
    return str(console.export_text())


def format_diff(d: PlanDiff) -> str:
    from rich.table import Table

    console = text_console()
    console.print(f"[bold]plan {d.b} vs plan {d.a}[/bold]  (delta = b − a)")
    console.print(f"status: {d.status['a']} → {d.status['b']}")
    head = Table(title="Headline", show_edge=False)
    for col in ("", "a", "b", "delta"):
        head.add_column(col, justify="right")
    kinds = dict.fromkeys(d.objective_kind.values())  # one kind, or "a → b" (no delta then)
    head.add_row(
        f"objective ({' → '.join(kinds)})",
        _fmt(d.objective.a),
        _fmt(d.objective.b),
        _fmt(d.objective.delta),
    )
    for name, c in {**d.summary, **{f"cost {k}": v for k, v in d.cost_components.items()}}.items():
        if c.a or c.b:
            head.add_row(name, _fmt(c.a), _fmt(c.b), _fmt(c.delta))
    for name, c in d.units_acquired.items():
        head.add_row(f"units {name}", _fmt(c.a), _fmt(c.b), _fmt(c.delta))
    for name, c in d.it_power_share_by_vendor.items():
        head.add_row(f"IT power share {name}", _fmt(c.a, ".2%"), _fmt(c.b, ".2%"), _fmt(c.delta, "+.2%"))
    console.print(head)
    if d.units:
        units = Table(title=f"Fleet changes ({len(d.units)} site/hardware/period entries)", show_edge=False)
        for col in ("site", "hardware", "period", "acquired a", "acquired b", "installed a", "installed b"):
            units.add_column(col, justify="right")
        for u in d.units[:60]:
            units.add_row(
                u.site,
                u.hardware,
                u.period,
                _fmt(u.acquired.a),
                _fmt(u.acquired.b),
                _fmt(u.installed.a),
                _fmt(u.installed.b),
            )
        console.print(units)
        if len(d.units) > 60:
            console.print(f"… {len(d.units) - 60} more (see --json)")
    if d.binding_added:
        console.print("binding only in b: " + "; ".join(d.binding_added))
    if d.binding_removed:
        console.print("binding only in a: " + "; ".join(d.binding_removed))
    if d.shadow_prices:
        sp = Table(title=f"Shadow prices that changed ({len(d.shadow_prices)})", show_edge=False)
        for col in ("kind", "of", "period", "a", "b", "unit"):
            sp.add_column(col, justify="right")
        for x in d.shadow_prices[:60]:
            sp.add_row(x.kind, x.key or "", x.period or "", _fmt(x.change.a), _fmt(x.change.b), x.unit)
        console.print(sp)
    for note in d.notes:
        console.print(f"note: {note}")
    if not d.changed:
        console.print("no differences beyond the tolerance")
    return str(console.export_text())


def cmd_sweep(args: argparse.Namespace) -> int:
    sweep = prepare_sweep(sweep_body(args), max_scenarios=args.max_scenarios)
    with _mapper(args.workers) as mapper, _progress(len(sweep.scenarios), "sweep", args.json) as advance:
        result = run_sweep(sweep, RunOptions(mapper=mapper, on_result=advance))
    return emit(result, args.json, lambda: format_sweep(result, sweep.paths))


def cmd_frontier(args: argparse.Namespace) -> int:
    fr = prepare_frontier({"base": read_json(args.file), "points": args.points})
    with _mapper(args.workers) as mapper, _progress(fr.points, "frontier", args.json) as advance:
        result = run_frontier(fr, RunOptions(mapper=mapper, on_result=advance))
    return emit(result, args.json, lambda: format_frontier(result))


def load_plan(path: str) -> Plan:
    """A saved Plan JSON file, or a request file (which is solved).  An invalid file is an
    invalid request naming the file (diff reads two)."""
    with about(path):
        doc = read_json(path)
        if isinstance(doc, dict) and "horizon" in doc:
            return plan(doc)
    try:
        return Plan.model_validate(doc)
    except ValueError as exc:
        raise FileInvalid(
            path, [FieldError("/", f"neither a plan nor a request ({str(exc).splitlines()[0]})")]
        ) from None


def cmd_diff(args: argparse.Namespace) -> int:
    a, b = load_plan(args.a), load_plan(args.b)
    d = diff_plans(a, b)
    return emit(d, args.json, lambda: format_diff(d))


def register(sub: Any) -> None:
    """Add ``sweep``, ``frontier`` and ``diff`` to the ``capplan`` subcommands."""
    p = sub.add_parser(
        "sweep",
        help="solve a request under many parameter values (grid or one at a time)",
        description="Paths are '/'-separated request fields, list items by id, e.g. "
        "hardware/cerebras-cs3/unit_price_usd, sites/tx-1/power_mw, budget/capex_usd. "
        "FILE is a request, or a sweep body {base, parameters, mode}.",
    )
    p.add_argument("file", help="request (or sweep body) JSON file ('-' for stdin)")
    p.add_argument("--vary", action="append", metavar="PATH=v1,v2", help="values that replace the base value")
    p.add_argument("--scale", action="append", metavar="PATH=f1,f2", help="factors on the base value")
    p.add_argument("--mode", choices=("grid", "one_at_a_time"), default=None, help="default: grid")
    p.add_argument("--workers", type=_positive, default=None, help="worker processes (default: all cores)")
    p.add_argument("--max-scenarios", type=int, default=DEFAULT_MAX_SCENARIOS, help="refuse larger sweeps")
    p.add_argument("--json", action="store_true", help="print the sweep result JSON on stdout")
    p.set_defaults(func=cmd_sweep)
    p = sub.add_parser("frontier", help="least cost at evenly spaced served fractions (cost-vs-served curve)")
    p.add_argument("file", help="request JSON file ('-' for stdin)")
    p.add_argument("--points", type=int, default=9, help="points on the curve, both ends included (2-101)")
    p.add_argument("--workers", type=_positive, default=None, help="worker processes (default: all cores)")
    p.add_argument("--json", action="store_true", help="print the frontier result JSON on stdout")
    p.set_defaults(func=cmd_frontier)
    p = sub.add_parser("diff", help="what changed between two plans")
    p.add_argument("a", help="plan JSON (capplan solve --json) or request file (solved)")
    p.add_argument("b", help="plan JSON or request file, compared against A")
    p.add_argument("--json", action="store_true", help="print the diff JSON on stdout")
    p.set_defaults(func=cmd_diff)
