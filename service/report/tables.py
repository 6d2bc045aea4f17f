"""A plan's tables as CSV for spreadsheets: one header row, one row per record, plain numbers.

=============  =====================================================================
table          one row per
=============  =====================================================================
fleet          period × site × hardware in service or acquired (``allocated_<workload>``
               columns hold the units serving each workload)
periods        period: nominal capex/opex with their components, power and tokens totals
sites          period × site: power used, available, expansion started
workloads      period × workload: demand, served, capacity, unmet (tokens/s)
shadow_prices  priced limit: power (site, period), budget, budget per period, total budget and
               total budget per period, supply (hardware, period), demand (workload, period),
               vendor share (vendor_share_max|min: vendor, period), with its unit (naming the
               money basis: ``usd_npv_per_mw_in_period``, ``usd_nominal_per_million_tokens``
               …, declared with each family in :mod:`solver.limits`) and basis (``lp`` or ``integer_fixed``)
idle_purchases period × site × hardware where purchased units stand idle: idle units, and the
               entry's capex, opex while idle, units idle on arrival and likely causes
               (repeated on each of its rows; sum them once per site and hardware)
=============  =====================================================================

Numbers are written positionally (no thousands separators, no exponent), so
``sum(column)`` in a spreadsheet equals the plan's total.  Text that starts like a formula
(an id such as ``=HYPERLINK(...)``) is written with a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from service.report.fmt import plain
from solver.limits import price_rows
from solver.schema import Plan

TABLES: tuple[str, ...] = ("fleet", "periods", "sites", "workloads", "shadow_prices", "idle_purchases")

Cell = str | float | int | None


def _text(cell: str) -> str:
    """A text cell a spreadsheet will not run: one that starts like a formula (``=``, ``+``,
    ``-``, ``@``, tab, CR) gets a leading apostrophe (OWASP's CSV-injection advice)."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def _csv(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([_text(h) for h in header])
    for row in rows:
        w.writerow([_text(c) if isinstance(c, str) else plain(c) for c in row])
    return buf.getvalue()


def _workload_ids(plan: Plan) -> list[str]:
    ids: dict[str, None] = {}
    for p in plan.periods:
        for wl in p.workloads:
            ids.setdefault(wl.id, None)
        for row in p.fleet:
            for k in row.allocated:
                ids.setdefault(k, None)
    return list(ids)


def fleet_csv(plan: Plan) -> str:
    wls = _workload_ids(plan)
    header = ["period", "site", "hardware", "acquired", "existing", "installed"]
    header += [f"allocated_{w}" for w in wls]
    rows: list[list[Cell]] = []
    for p in plan.periods:
        for r in p.fleet:
            row: list[Cell] = [p.label, r.site, r.hardware, r.acquired, r.existing, r.installed]
            rows.append(row + [r.allocated.get(w, 0.0) for w in wls])
    return _csv(header, rows)


def _components(plan: Plan) -> tuple[list[str], list[str]]:
    capex: dict[str, None] = {}
    opex: dict[str, None] = {}
    for p in plan.periods:
        for k in p.capex_breakdown:
            capex.setdefault(k, None)
        for k in p.opex_breakdown:
            opex.setdefault(k, None)
    return list(capex), list(opex)


def periods_csv(plan: Plan) -> str:
    capex, opex = _components(plan)
    header = ["period", "discount_factor", "capex_usd", "opex_usd"]
    header += [f"capex_{k}_usd" for k in capex] + [f"opex_{k}_usd" for k in opex]
    header += [
        "power_used_mw",
        "power_available_mw",
        "expansion_started_mw",
        "demand_tokens_per_s",
        "served_tokens_per_s",
        "capacity_tokens_per_s",
    ]
    rows: list[list[Cell]] = []
    for p in plan.periods:
        head: list[Cell] = [p.label, p.discount_factor, p.capex_usd, p.opex_usd]
        rows.append(
            head
            + [p.capex_breakdown.get(k, 0.0) for k in capex]
            + [p.opex_breakdown.get(k, 0.0) for k in opex]
            + [
                sum(s.power_used_mw for s in p.sites),
                sum(s.power_available_mw for s in p.sites),
                sum(s.expansion_started_mw for s in p.sites),
                sum(w.demand_tokens_per_s for w in p.workloads),
                sum(w.served_tokens_per_s for w in p.workloads),
                sum(w.capacity_tokens_per_s for w in p.workloads),
            ]
        )
    return _csv(header, rows)


def sites_csv(plan: Plan) -> str:
    header = ["period", "site", "power_used_mw", "power_available_mw", "expansion_started_mw"]
    rows: list[list[Cell]] = [
        [p.label, s.id, s.power_used_mw, s.power_available_mw, s.expansion_started_mw]
        for p in plan.periods
        for s in p.sites
    ]
    return _csv(header, rows)


def workloads_csv(plan: Plan) -> str:
    header = [
        "period",
        "workload",
        "demand_tokens_per_s",
        "demand_peak_tokens_per_s",
        "served_tokens_per_s",
        "capacity_tokens_per_s",
        "unmet_tokens_per_s",
    ]
    rows: list[list[Cell]] = [
        [
            p.label,
            w.id,
            w.demand_tokens_per_s,
            w.demand_peak_tokens_per_s,
            w.served_tokens_per_s,
            w.capacity_tokens_per_s,
            w.unmet_tokens_per_s,
        ]
        for p in plan.periods
        for w in p.workloads
    ]
    return _csv(header, rows)


def shadow_prices_csv(plan: Plan) -> str:
    """One row per published price (the registry's families, solver.limits): its limit kind,
    subject, value, unit (saying its money basis: docs/formulation.md) and basis."""
    header = ["limit", "site", "hardware", "workload", "vendor", "period", "value", "unit", "basis"]
    sp = plan.shadow_prices
    rows: list[list[Cell]] = []
    if sp is not None:
        for row in price_rows(sp):
            price, x = row.family.price, row.subject
            assert price is not None
            ids = [x.site or "", x.hardware or "", x.workload or "", x.vendor or "", x.period or ""]
            rows.append([price.kind, *ids, row.value, price.unit(sp.objective_unit), sp.basis])
    return _csv(header, rows)


def idle_purchases_csv(plan: Plan) -> str:
    header = [
        "period",
        "site",
        "hardware",
        "idle_units",
        "entry_capex_usd",
        "entry_opex_usd",
        "entry_idle_on_arrival_units",
        "entry_causes",
    ]
    order = {p.label: t for t, p in enumerate(plan.periods)}
    rows: list[list[Cell]] = []
    for x in plan.idle_purchases:
        causes = "; ".join(x.causes)
        for label in sorted(x.idle_units, key=lambda lab: order.get(lab, len(order))):
            rows.append(
                [
                    label,
                    x.site,
                    x.hardware,
                    x.idle_units[label],
                    x.capex_usd,
                    x.opex_usd,
                    x.idle_on_arrival_units,
                    causes,
                ]
            )
    return _csv(header, rows)


_BUILDERS = {
    "fleet": fleet_csv,
    "periods": periods_csv,
    "sites": sites_csv,
    "workloads": workloads_csv,
    "shadow_prices": shadow_prices_csv,
    "idle_purchases": idle_purchases_csv,
}


def table_csv(plan: Plan, name: str) -> str:
    """One table by name (one of :data:`TABLES`); KeyError for an unknown name."""
    return _BUILDERS[name](plan)


def plan_tables(plan: Plan) -> dict[str, str]:
    """Every table of the plan: ``{name: csv text}``."""
    return {name: build(plan) for name, build in _BUILDERS.items()}
