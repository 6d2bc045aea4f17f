"""Property tests on generated requests (hypothesis).

Small random requests (1-2 sites, 1-3 hardware, 1-2 workloads, 1-4 periods, random prices,
power, demand, lead times, lifetimes, optional expansion, existing fleet, budgets on capex
and on capex + opex, vendor shares, contracts, any objective):

* every solved plan passes ``check_plan`` (every figure recomputed from its fleet table);
* more power or more budget never worsens the objective (LP);
* scaling every money figure by k scales the cost (and a money objective) by k;
* integer plans never beat the LP relaxation (and pass check_plan too);
* HiGHS and CBC agree on the status and the optimal objective (1e-6 relative).

Examples are derandomised so that CI is reproducible.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver import Plan
from tests.helpers.requests import Json, request, solve

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MODELS = ("m1", "m2")
VENDORS = ("a", "b")
SOLVED = ("optimal", "feasible")
T = TypeVar("T")


class Draw:
    """Uniform draws from a Random seeded by hypothesis: spread over the ranges (hypothesis's
    own number strategies cluster at their ends) and reproducible from the seed."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd

    def num(self, lo: float, hi: float) -> float:
        return round(self.rnd.uniform(lo, hi), 6)

    def pick(self, options: Sequence[T]) -> T:
        return self.rnd.choice(list(options))

    def coin(self, p: float = 0.5) -> bool:
        return self.rnd.random() < p

    def per_period(self, n: int, lo: float, hi: float) -> float | list[float]:
        return self.num(lo, hi) if self.coin() else [self.num(lo, hi) for _ in range(n)]


def _performance(g: Draw) -> dict[str, Any]:
    out = {}
    for m in sorted(g.rnd.sample(MODELS, g.pick([1, 2]))):
        xs = sorted({g.rnd.randint(20, 40), *g.rnd.sample(range(5, 20), g.pick([0, 1, 2]))})
        out[m] = {
            "units_per_replica": g.pick([1, 1, 2, 4]),
            "points": [
                {"tokens_per_s_per_user": float(x), "tokens_per_s_per_unit": g.num(200, 3000)} for x in xs
            ],
        }
    return out


def _hardware(g: Draw, i: int, n: int) -> Json:
    hw: Json = {
        "id": f"h{i}",
        "vendor": g.pick(VENDORS),
        "unit_price_usd": g.num(0, 500),
        "recurring_usd_per_unit_hour": g.pick([0.0, 0.0, 0.003, 0.01]),
        "maintenance_fraction_per_year": g.pick([0.0, 0.05, 0.2]),
        "it_power_kw": g.num(0.2, 3),
        "lifetime_years": g.pick([0.5, 1, 1.5, 2, 5]),
        "lead_time_periods": 0 if i == 0 else g.pick([0, 1, 2]),  # h0 can serve period 0
        "performance": _performance(g),
    }
    if g.coin(0.3):
        hw["max_units_per_period"] = g.per_period(n, 30, 500)
    return hw


def _site(g: Draw, j: int, n: int, hw_ids: list[str]) -> Json:
    s: Json = {
        "id": f"s{j}",
        "power_mw": g.per_period(n, 0.05, 1.0),
        "pue": g.num(1, 1.6),
        "energy_usd_per_mwh": g.num(0, 100),
        "lease_usd_per_kw_month": g.pick([0.0, 0.0, 2.0]),
    }
    if g.coin(0.3):
        s["allowed_hardware"] = g.rnd.sample(hw_ids, g.rnd.randint(1, len(hw_ids)))
    if g.coin(0.4):
        s["expansion"] = {
            "max_mw": g.num(0, 0.5),
            "usd_per_mw": g.num(0, 5e4),
            "lead_time_periods": g.pick([0, 1, 2]),
            "lifetime_years": g.pick([1, 10, 20]),
        }
    if g.coin(0.3):
        s["existing"] = [
            {
                "hardware": g.pick(s.get("allowed_hardware", hw_ids)),
                "units": g.num(0, 50),
                "remaining_life_years": g.pick([None, 0.25, 1.0, 3.0]),
            }
        ]
    return s


def _workload(g: Draw, k: int, n: int, models: list[str]) -> Json:
    w: Json = {
        "id": f"w{k}",
        "model": g.pick(models),
        "min_tokens_per_s_per_user": 45.0 if g.coin(0.05) else float(g.rnd.randint(3, 25)),  # 45: too fast
        "min_service_fraction": g.pick([0.0, 0.5, 0.9, 1.0]),
        "unmet_penalty_usd_per_million_tokens": g.pick([0.0, 1e-3, 1e-2, 0.1]),
        "value_usd_per_million_tokens": g.pick([0.0, 1e-3, 1e-2, 0.1]),
        "weight": g.pick([1.0, 2.0]),
    }
    if g.coin():
        w["demand_tokens_per_s"] = g.num(1e3, 3e4)
        w["demand_growth_per_year"] = g.pick([0.0, 0.3])
    else:
        w["demand_tokens_per_s"] = [0.0 if g.coin(0.1) else g.num(1, 3e4) for _ in range(n)]  # 0 or >= 1
    return w


@st.composite
def requests(draw: st.DrawFn) -> Json:
    g = Draw(random.Random(draw(st.integers(0, 2**32 - 1))))
    n = draw(st.integers(1, 4))
    pm = g.pick([3, 6, 12])
    hws = [_hardware(g, i, n) for i in range(draw(st.integers(1, 3)))]
    hw_ids = [h["id"] for h in hws]
    models = sorted({m for h in hws for m in h["performance"]})
    sites = [_site(g, j, n, hw_ids) for j in range(draw(st.integers(1, 2)))]
    wls = [_workload(g, k, n, models) for k in range(draw(st.integers(1, 2)))]
    vendors = sorted({h["vendor"] for h in hws})
    req = request(
        periods=n,
        period_months=pm,
        sites=sites,
        hardware_=hws,
        workloads=wls,
        economics={
            "discount_rate": g.pick([0.0, 0.08]),
            "load_factor": g.pick([0.6, 1.0]),
            "residual_value": g.coin(0.8),
        },
        objective={"kind": g.pick(["min_cost", "max_served", "max_profit"])},
        policy={"reserve_margin": g.pick([0.0, 0.2])},
    )
    if g.coin(0.4):
        req["budget"] = {"capex_usd": g.num(1e4, 1e5)}
        if g.coin():
            req["budget"]["capex_per_period_usd"] = g.per_period(n, 5e3, 5e4)
    if len(vendors) > 1 and g.coin(0.4):
        req["policy"]["max_vendor_share"] = {vendors[0]: g.pick([0.3, 0.7])}
    if g.coin(0.3):
        c: Json = {"vendor": g.pick(vendors), "min_spend_usd": g.num(0, 2e4)}
        if g.coin():
            c["warrants"] = {
                "equity_fraction_max": 1e-3,
                "full_vest_spend_usd": g.num(1e3, 5e4),
                "company_valuation_usd": g.num(0, 1e7),
            }
        if g.coin(0.5):  # volume discounts: a MILP, solved to a zero gap so comparisons stay exact
            first = g.num(1e3, 3e4)
            c["discount_tiers"] = [{"above_spend_usd": first, "discount": g.pick([0.05, 0.1, 0.3])}]
            if g.coin():
                c["discount_tiers"].append({"above_spend_usd": first + g.num(1e3, 3e4), "discount": 0.15})
            req["solver"] = {"mip_gap": 0}
        req["contracts"] = [c]
    if g.coin(0.25):  # a budget on capex + opex (drawn last: the draws above stay as they were)
        req.setdefault("budget", {})["total_usd"] = g.num(1e3, 3e4)
        if g.coin():
            req["budget"]["total_per_period_usd"] = g.per_period(n, 500, 1e4)
    return req


def _value(p: Plan) -> float:
    assert p.objective.value is not None
    return p.objective.value


def _improves(kind: str) -> float:
    return -1.0 if kind == "min_cost" else 1.0


def _tol(*xs: float) -> float:
    return 1e-6 * max(1.0, *(abs(x) for x in xs))


@SETTINGS
@given(requests())
def test_every_plan_passes_check_plan(req: Json) -> None:
    p = solve(req)  # solve() runs check_plan on every plan
    assert p.status in ("optimal", "infeasible"), p.solver.detail
    if p.status == "infeasible":
        assert p.diagnosis or p.warnings


@SETTINGS
@given(requests(), st.sampled_from([1.5, 3.0]))
def test_more_power_or_budget_never_hurts(req: Json, factor: float) -> None:
    base = solve(req)
    if base.status != "optimal":
        return
    kind = req["objective"]["kind"]
    more = copy.deepcopy(req)
    for s in more["sites"]:
        p = s["power_mw"]
        s["power_mw"] = [x * factor for x in p] if isinstance(p, list) else p * factor
    relaxed = solve(more)
    assert relaxed.status == "optimal"
    gain = _improves(kind) * (_value(relaxed) - _value(base))
    assert gain >= -_tol(_value(base), base.summary.npv_cost_usd), (kind, _value(base), _value(relaxed))
    if "budget" in req:
        richer = copy.deepcopy(req)
        for key, cap in richer["budget"].items():
            if cap is not None:
                richer["budget"][key] = [x * factor for x in cap] if isinstance(cap, list) else cap * factor
        rich = solve(richer)
        assert rich.status == "optimal"
        gain = _improves(kind) * (_value(rich) - _value(base))
        assert gain >= -_tol(_value(base), base.summary.npv_cost_usd), (kind, _value(base), _value(rich))


def scale_money(req: Json, k: float) -> Json:
    """Every money figure times k (prices, fees, energy, leases, budgets, penalties, values,
    contract amounts); physical quantities unchanged."""
    out = copy.deepcopy(req)

    def times(d: Json, key: str) -> None:
        v = d.get(key)
        if v is not None:
            d[key] = [x * k for x in v] if isinstance(v, list) else v * k

    for h in out["hardware"]:
        times(h, "unit_price_usd")
        times(h, "recurring_usd_per_unit_hour")
    for s in out["sites"]:
        times(s, "energy_usd_per_mwh")
        times(s, "lease_usd_per_kw_month")
        if "expansion" in s:
            times(s["expansion"], "usd_per_mw")
    for w in out["workloads"]:
        times(w, "unmet_penalty_usd_per_million_tokens")
        times(w, "value_usd_per_million_tokens")
    if "budget" in out:
        times(out["budget"], "capex_usd")
        times(out["budget"], "capex_per_period_usd")
        times(out["budget"], "total_usd")
        times(out["budget"], "total_per_period_usd")
    for c in out.get("contracts", []):
        times(c, "min_spend_usd")
        for t in c.get("discount_tiers", []):
            times(t, "above_spend_usd")
        if "warrants" in c:
            times(c["warrants"], "full_vest_spend_usd")
            times(c["warrants"], "company_valuation_usd")
    return out


@SETTINGS
@given(requests(), st.sampled_from([0.25, 7.0]))
def test_scaling_money_scales_the_cost(req: Json, k: float) -> None:
    base = solve(req)
    scaled = solve(scale_money(req, k))
    assert scaled.status == base.status
    if base.status != "optimal":
        return
    kind = req["objective"]["kind"]
    cost, cost_k = base.summary.npv_cost_usd, scaled.summary.npv_cost_usd
    # the cost scale: gross figures, not the (possibly cancelling) NPV alone
    mag = base.summary.capex_usd + base.summary.opex_usd + base.summary.residual_value_usd
    mag += base.summary.contract_shortfall_usd + base.summary.warrant_value_usd
    mag += base.summary.contract_discount_usd
    if kind == "max_served":
        assert _value(scaled) == pytest.approx(_value(base), rel=1e-6, abs=1e-6)
        assert cost_k == pytest.approx(k * cost, rel=1e-5, abs=1e-5 * k * max(1.0, mag))
    else:
        assert cost_k == pytest.approx(k * cost, rel=1e-6, abs=1e-6 * k * max(1.0, mag))
        assert _value(scaled) == pytest.approx(k * _value(base), rel=1e-6, abs=1e-6 * k * max(1.0, mag))


@SETTINGS
@given(requests())
def test_integer_never_beats_the_lp(req: Json) -> None:
    lp = solve(req)
    mip = solve(req, integer=True, time_limit_s=20)
    if lp.status == "infeasible":
        assert mip.status == "infeasible"
        return
    assert lp.status == "optimal"
    if mip.status not in SOLVED:
        assert mip.status in ("infeasible", "time_limit")
        return
    kind = req["objective"]["kind"]
    gain = _improves(kind) * (_value(mip) - _value(lp))
    assert gain <= _tol(_value(lp), lp.summary.npv_cost_usd), (kind, _value(lp), _value(mip))


@SETTINGS
@given(requests())
def test_highs_and_cbc_agree(req: Json) -> None:
    highs = solve(req, backend="highs")
    cbc = solve(req, backend="cbc")
    assert highs.status == cbc.status, (highs.solver.detail, cbc.solver.detail)
    if highs.status == "optimal":
        mag = highs.summary.capex_usd + highs.summary.opex_usd + highs.summary.residual_value_usd
        assert _value(cbc) == pytest.approx(_value(highs), rel=1e-6, abs=1e-6 * max(1.0, mag))


DEPOSITS = st.lists(st.sampled_from([0.0, 0.3, 1.0]), min_size=3, max_size=3)


def _with_deposits(req: Json, fractions: Sequence[float]) -> Json:
    """The request with a deposit_fraction on each hardware (drawn apart from the request, so
    the requests the other tests draw stay the same)."""
    out = copy.deepcopy(req)
    for h, f in zip(out["hardware"], fractions, strict=False):
        h["deposit_fraction"] = f
    return out


@SETTINGS
@given(requests(), DEPOSITS)
def test_plans_with_deposits_pass_check_plan_and_backends_agree(req: Json, fractions: list[float]) -> None:
    req = _with_deposits(req, fractions)
    highs = solve(req, backend="highs")  # check_plan: capex per period as paid, NPV from it
    cbc = solve(req, backend="cbc")
    assert highs.status == cbc.status, (highs.solver.detail, cbc.solver.detail)
    if highs.status == "optimal":
        mag = highs.summary.capex_usd + highs.summary.opex_usd + highs.summary.residual_value_usd
        assert _value(cbc) == pytest.approx(_value(highs), rel=1e-6, abs=1e-6 * max(1.0, mag))
        # what is paid over the horizon does not depend on when: nominal capex is the units' price
        assert sum(p.capex_usd for p in highs.periods) == pytest.approx(
            highs.summary.capex_usd, rel=1e-9, abs=1e-6
        )
