"""Instances whose every kind of shadow price binds, with a handle on the limit: the
finite-difference checks of tests/solver/test_shadow_prices.py and the price changes of
tests/solver/test_diff.py re-solve them with the limit moved."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from solver import Plan
from tests.helpers.requests import Json, hardware, request, site, workload

MT = 31.536  # million tokens per token/s over a 12-month period
R = 0.1  # discount rate of every instance: 2 yearly periods, d_1 = 1/1.1
KINDS = ("min_cost", "max_served", "max_profit")


def _base(kind: str, **top: Any) -> Json:
    """2 yearly periods; msf 0 for the max kinds (so serving is a choice), value $1e-2/M
    (a unit-year serves 31,536 M tokens: $315.36 of value against its $100 price)."""
    wl = workload(demand=1e5, value_usd_per_million_tokens=1e-2)
    if kind != "min_cost":
        wl["min_service_fraction"] = 0.0
    top.setdefault("workloads", [wl])
    return request(periods=2, economics={"discount_rate": R}, objective={"kind": kind}, **top)


def _buy_and_lease(**buy: Any) -> list[Json]:
    # buy: $100, 5 years; lease: $30 a unit-year, 1-year term.  Lease serves min_cost only
    # (its curve is for another model in the max kinds would change nothing: keep both).
    return [hardware("buy", **buy), hardware("lease", price=0, life=1, recurring_usd_per_unit_hour=30 / 8760)]


@dataclass
class Case:
    """An instance, how to move its limit, and where its published price is."""

    req: Json
    set_limit: Callable[[Json, float], None]
    x0: float
    price: Callable[[Plan], float]


def set_list(path: tuple[Any, ...], index: int) -> Callable[[Json, float], None]:
    def setter(req: Json, x: float) -> None:
        node: Any = req
        for k in path:
            node = node[k]
        node[index] = x

    return setter


def _set_key(path: tuple[Any, ...], key: str) -> Callable[[Json, float], None]:
    def setter(req: Json, x: float) -> None:
        node: Any = req
        for k in path:
            node = node[k]
        node[key] = x

    return setter


def power_case(kind: str) -> Case:
    if kind == "min_cost":
        # efficient-but-dear "eff" (0.5 kW, $200) vs "hog" (1 kW, $100), 80 kW a year.
        hws = [hardware("eff", price=200, kw=0.5, life=1), hardware("hog", life=1)]
        req = _base(kind, sites=[site(power=[0.08, 0.08])], hardware_=hws)
    else:
        req = _base(kind, sites=[site(power=[0.05, 0.05])], hardware_=[hardware(life=1)])
    return Case(
        req,
        set_list(("sites", 0, "power_mw"), 1),
        req["sites"][0]["power_mw"][1],
        lambda p: one_price(p.shadow_prices.power_usd_per_mw if p.shadow_prices else [], "2027-01", site="s"),
    )


def budget_case(kind: str) -> Case:
    if kind == "min_cost":
        req = _base(kind, hardware_=_buy_and_lease(), budget={"capex_usd": 6000})
    else:
        req = _base(kind, hardware_=[hardware(life=1)], budget={"capex_usd": 12_000})
    return Case(
        req,
        _set_key(("budget",), "capex_usd"),
        req["budget"]["capex_usd"],
        lambda p: float(p.shadow_prices.budget_per_usd or 0.0) if p.shadow_prices else 0.0,
    )


def budget_period_case(kind: str) -> Case:
    if kind == "min_cost":
        req = _base(kind, hardware_=_buy_and_lease(), budget={"capex_per_period_usd": [6000, 3000]})
    else:
        req = _base(kind, hardware_=[hardware(life=1)], budget={"capex_per_period_usd": [5000, 6000]})
    return Case(
        req,
        set_list(("budget", "capex_per_period_usd"), 1),
        req["budget"]["capex_per_period_usd"][1],
        lambda p: one_price(p.shadow_prices.budget_per_period_per_usd if p.shadow_prices else [], "2027-01"),
    )


def supply_case(kind: str) -> Case:
    if kind == "min_cost":
        req = _base(kind, hardware_=_buy_and_lease(max_units_per_period=[60, 30]))
    else:
        req = _base(kind, hardware_=[hardware(life=1, max_units_per_period=[60, 70])])
    hw0 = req["hardware"][0]["id"]
    return Case(
        req,
        set_list(("hardware", 0, "max_units_per_period"), 1),
        req["hardware"][0]["max_units_per_period"][1],
        lambda p: one_price(
            p.shadow_prices.supply_per_unit if p.shadow_prices else [], "2027-01", hardware=hw0
        ),
    )


def demand_case(kind: str) -> Case:
    req = _base(kind, hardware_=[hardware(life=1)], workloads=[])
    wl = workload(demand=[1e5, 8e4], value_usd_per_million_tokens=1e-2, weight=2)
    if kind == "min_cost":  # half must be served; the penalty exceeds the unit cost
        wl.update(min_service_fraction=0.5, unmet_penalty_usd_per_million_tokens=1e-2)
    else:
        wl["min_service_fraction"] = 0.0
    req["workloads"] = [wl]
    return Case(
        req,
        set_list(("workloads", 0, "demand_tokens_per_s"), 1),
        wl["demand_tokens_per_s"][1],
        lambda p: one_price(
            p.shadow_prices.demand_usd_per_million_tokens if p.shadow_prices else [], "2027-01", workload="w"
        ),
    )


PROFIT_PENALTY = {
    # regime: (value, penalty, min_service_fraction), all per million tokens; a unit-year
    # costs $100 and serves 31,536 M tokens ($100/31,536 = $0.00317 per M)
    "served": (1e-2, 1e-3, 0.0),  # value alone beats the cost: all served
    "unserved": (1e-3, 1e-3, 0.0),  # value + penalty avoided ($0.002) below it: none served
    "floor": (1e-3, 1e-3, 0.5),  # the same, half served by the minimum service
}


def demand_penalty_case(regime: str) -> Case:
    """demand_case("max_profit") with an unmet-demand penalty, which max_profit counts: its
    objective holds the constant d_t·penalty·D·sec/1e6, so the demand price carries
    d_t·penalty·sec/1e6 on top of the row duals, as min_cost's does."""
    case = demand_case("max_profit")
    value, penalty, msf = PROFIT_PENALTY[regime]
    case.req["workloads"][0].update(
        value_usd_per_million_tokens=value,
        unmet_penalty_usd_per_million_tokens=penalty,
        min_service_fraction=msf,
        weight=1,
    )
    return case


def _fee_hardware() -> Json:
    # $100 a unit with a 1-year life plus a $20 a unit-year hosting fee: $120 of total spend per
    # unit-year, of which only $100 is capex
    return hardware(life=1, recurring_usd_per_unit_hour=20 / 8760)


def total_budget_case(kind: str) -> Case:
    # budget.total_usd caps capex + opex (the leases' and hosting fees here), nominal
    if kind == "min_cost":
        req = _base(kind, hardware_=_buy_and_lease(), budget={"total_usd": 8000})
    else:
        req = _base(kind, hardware_=[_fee_hardware()], budget={"total_usd": 6000})
    return Case(
        req,
        _set_key(("budget",), "total_usd"),
        req["budget"]["total_usd"],
        lambda p: float(p.shadow_prices.total_budget_per_usd or 0.0) if p.shadow_prices else 0.0,
    )


def total_budget_period_case(kind: str) -> Case:
    if kind == "min_cost":
        req = _base(kind, hardware_=_buy_and_lease(), budget={"total_per_period_usd": [6500, 6000]})
        index = 0
    else:
        req = _base(kind, hardware_=[_fee_hardware()], budget={"total_per_period_usd": [6000, 6000]})
        index = 1
    label = ("2026-01", "2027-01")[index]
    return Case(
        req,
        set_list(("budget", "total_per_period_usd"), index),
        req["budget"]["total_per_period_usd"][index],
        lambda p: one_price(
            p.shadow_prices.total_budget_per_period_per_usd if p.shadow_prices else [], label
        ),
    )


def _share_hardware(kind: str) -> list[Json]:
    """Vendor a's unit is the better buy; b's is dearer (min_cost) or half as fast per kW."""
    if kind == "min_cost":
        return [hardware("ha", vendor="a", life=1), hardware("hb", vendor="b", price=200, life=1)]
    return [hardware("ha", vendor="a", life=1), hardware("hb", vendor="b", life=1, points=((10.0, 500.0),))]


def vendor_share_case(kind: str, limit: str) -> Case:
    """a's share of IT power held at 60 % (max a 0.6, or min b 0.4).  The policy is one number
    for every period: its derivative is the sum of the per-period prices (per point, x100 per
    unit of share).  The limit moved is the relief coordinate: a's maximum, or 1 − b's minimum
    (a minimum is relieved by lowering it)."""
    power = [0.1, 0.1] if kind == "max_served" else 100.0  # max_served: power is what limits
    policy = {"max_vendor_share": {"a": 0.6}} if limit == "max" else {"min_vendor_share": {"b": 0.4}}
    req = _base(kind, sites=[site(power=power)], hardware_=_share_hardware(kind), policy=policy)
    vendor = "a" if limit == "max" else "b"

    def set_limit(r: Json, x: float) -> None:
        if limit == "max":
            r["policy"]["max_vendor_share"]["a"] = x
        else:
            r["policy"]["min_vendor_share"]["b"] = 1.0 - x

    def price(p: Plan) -> float:
        items = p.shadow_prices.vendor_share_per_percentage_point if p.shadow_prices else []
        hits = [x.value for x in items if x.vendor == vendor and x.limit == limit]
        assert len(hits) == 2, hits
        return 100 * sum(hits)

    return Case(req, set_limit, 0.6, price)


def one_price(prices: list[Any], period: str, **key: str) -> float:
    hits = [x.value for x in prices if x.period == period and all(getattr(x, k) == v for k, v in key.items())]
    assert len(hits) == 1, f"{len(hits)} prices for {period} {key}"
    return float(hits[0])
