"""``capplan solve``, ``capplan validate`` and ``capplan catalog``: one request, or the catalog."""

from __future__ import annotations

import argparse
import json
from typing import Any

from service.cli import EXIT_OK
from service.cli.inputs import read_json
from service.cli.output import emit, text_console
from solver import Plan, parse_request, plan


def format_plan(p: Plan) -> str:
    """A readable summary of a plan (what ``capplan solve`` prints)."""
    from rich.table import Table

    console = text_console(110)
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
    result = plan(read_json(args.file))
    return emit(result, args.json, lambda: format_plan(result))


def cmd_validate(args: argparse.Namespace) -> int:
    from solver.inspect import describe_request

    req = parse_request(read_json(args.file))
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
    from rich.table import Table

    console = text_console()
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


def register(sub: Any) -> None:
    """Add ``solve``, ``validate`` and ``catalog`` to the ``capplan`` subcommands."""
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
