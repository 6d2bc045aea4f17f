"""Small request builders and a checked ``solve`` used by every solver test.

The defaults describe the micro-instance of the issue: one site, one period of 12 months,
one hardware ``h`` (vendor ``v``, $100 a unit, 1 kW, 5-year life, 1,000 tokens/s per unit
at 10 tokens/s per user on model ``m``) and one workload ``w`` demanding 100,000 tokens/s.
"""

from __future__ import annotations

import copy
from typing import Any

from solver import Plan, plan
from tests.helpers.recompute import check_plan

Json = dict[str, Any]


def hardware(
    id: str = "h",
    *,
    vendor: str = "v",
    price: float = 100.0,
    kw: float = 1.0,
    life: float = 5.0,
    model: str = "m",
    points: tuple[tuple[float, float], ...] = ((10.0, 1000.0),),
    upr: float = 1.0,
    **extra: Any,
) -> Json:
    """A hardware item with one performance curve ``points`` = ((speed, tokens/s per unit), …)."""
    return {
        "id": id,
        "vendor": vendor,
        "unit_price_usd": price,
        "it_power_kw": kw,
        "lifetime_years": life,
        "performance": {
            model: {
                "units_per_replica": upr,
                "points": [{"tokens_per_s_per_user": x, "tokens_per_s_per_unit": y} for x, y in points],
            }
        },
        **extra,
    }


def site(id: str = "s", *, power: float | list[float] = 100.0, **extra: Any) -> Json:
    return {"id": id, "power_mw": power, **extra}


def workload(
    id: str = "w",
    *,
    model: str = "m",
    speed: float = 10.0,
    demand: float | list[float] = 100_000.0,
    **extra: Any,
) -> Json:
    return {
        "id": id,
        "model": model,
        "min_tokens_per_s_per_user": speed,
        "demand_tokens_per_s": demand,
        **extra,
    }


def request(
    *,
    sites: list[Json] | None = None,
    hardware_: list[Json] | None = None,
    workloads: list[Json] | None = None,
    periods: int = 1,
    period_months: int = 12,
    **top: Any,
) -> Json:
    """A request dict; ``top`` adds or replaces top-level sections (economics, budget, …)."""
    req: Json = {
        "horizon": {"start": "2026-01", "periods": periods, "period_months": period_months},
        "sites": sites if sites is not None else [site()],
        "hardware": hardware_ if hardware_ is not None else [hardware()],
        "workloads": workloads if workloads is not None else [workload()],
    }
    req.update(top)
    return copy.deepcopy(req)


def solve(req: Json, **changes: Any) -> Plan:
    """``plan(req)`` with the plan checked against its recomputation (every test uses this).

    ``changes`` are applied to the solver options, e.g. ``solve(req, backend="cbc")``.
    """
    if changes:
        req = copy.deepcopy(req)
        req["solver"] = {**req.get("solver", {}), **changes}
    result = plan(req)
    check_plan(req, result)
    return result


def fleet(result: Plan, t: int = 0, site_id: str = "s", hw: str = "h") -> tuple[float, float, float]:
    """(acquired, installed, allocated total) of one fleet row; zeros when the row is absent."""
    for row in result.periods[t].fleet:
        if row.site == site_id and row.hardware == hw:
            return row.acquired, row.installed, sum(row.allocated.values())
    return 0.0, 0.0, 0.0


def served(result: Plan, t: int = 0, wl: str = "w") -> float:
    return next(w.served_tokens_per_s for w in result.periods[t].workloads if w.id == wl)


def big_request(workloads: int = 700, sites: int = 100, periods: int = 240) -> Json:
    """A body far over the service's size limit: 240 monthly periods, 100 sites, 3 catalog
    hardware, 700 workloads.

    Every catalog item serves llama-70b at 20 tokens/s per user and arrives after its 3-month
    lead time (3 monthly periods), so with the defaults:
        buy     100 sites × 3 hardware × (240 − 3) periods   =     71,100
        alloc   100 × 3 × 700 eligible triples × 240 periods = 50,400,000
        served  700 workloads × 240 periods                  =    168,000
    50,639,100 columns, about 75 KB of JSON.
    """
    return request(
        periods=periods,
        period_months=1,
        sites=[site(f"s{i}") for i in range(sites)],
        hardware_=[{"catalog": c} for c in ("nvidia-gb300-nvl72", "nvidia-b200-8x", "cerebras-cs3")],
        workloads=[
            workload(f"w{i}", model="llama-70b", speed=20, demand=1000.0 + i) for i in range(workloads)
        ],
    )


BIG_VARIABLES = 71_100 + 50_400_000 + 168_000
