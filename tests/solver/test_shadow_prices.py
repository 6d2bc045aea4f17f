"""Every shadow-price kind against finite-difference re-solves (DESIGN.md, Shadow prices).

Convention (solver/extract.py): power, budget, per-period budget and supply prices are
"how much the reported objective improves per unit of relief" (relief = a larger limit);
demand prices are "the nominal change of the minimised objective per extra million tokens
demanded" (the minimised objective is the cost for min_cost, minus the reported value for
max_served and max_profit).

For an LP, the reported objective as a function of one limit is piecewise linear — concave
when read as an improvement, convex when read as the minimised objective — so the
published dual must lie between the one-sided finite differences, and equal both where the
basis does not change.  Each instance is chosen so that the limit binds (price > 0).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from solver import Plan
from tests.helpers.price_cases import (
    KINDS,
    MT,
    PROFIT_PENALTY,
    Case,
    R,
    budget_case,
    budget_period_case,
    demand_case,
    demand_penalty_case,
    one_price,
    power_case,
    set_list,
    supply_case,
    total_budget_case,
    total_budget_period_case,
    vendor_share_case,
)
from tests.helpers.requests import Json, hardware, request, site, solve, workload

DATA = Path(__file__).resolve().parent.parent / "data"


def fleet_units(p: Plan, hw: str, t: int = 0) -> float:
    """Units of ``hw`` acquired in period t (summed over sites)."""
    return sum(row.acquired for row in p.periods[t].fleet if row.hardware == hw)


BACKENDS = ("highs", "cbc")


def _value(case: Case, x: float, backend: str) -> float:
    req = copy.deepcopy(case.req)
    case.set_limit(req, x)
    p = solve(req, backend=backend)
    assert p.status == "optimal", p.status
    assert p.objective.value is not None
    return p.objective.value


def _bracket(lo: float, mid: float, hi: float) -> None:
    tol = 1e-4 * max(abs(lo), abs(mid), abs(hi)) + 1e-9
    assert lo - tol <= mid <= hi + tol, f"{mid} not within [{lo}, {hi}]"


LIMIT_CASES: dict[str, Callable[[str], Case]] = {
    "power": power_case,
    "budget": budget_case,
    "budget_period": budget_period_case,
    "total_budget": total_budget_case,
    "total_budget_period": total_budget_period_case,
    "supply": supply_case,
    "vendor_max": lambda kind: vendor_share_case(kind, "max"),
    "vendor_min": lambda kind: vendor_share_case(kind, "min"),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("family", sorted(LIMIT_CASES))
def test_limit_price_matches_finite_difference(family: str, kind: str, backend: str) -> None:
    case = LIMIT_CASES[family](kind)
    p = solve(case.req, backend=backend)
    assert p.status == "optimal" and p.shadow_prices is not None
    price = case.price(p)
    assert price > 0, f"{family} does not bind in this instance"
    sense = -1.0 if kind == "min_cost" else 1.0  # improvement of the reported objective
    h = 1e-3 * case.x0
    f0 = p.objective.value
    assert f0 is not None
    right = sense * (_value(case, case.x0 + h, backend) - f0) / h
    left = sense * (f0 - _value(case, case.x0 - h, backend)) / h
    # concave improvement: right slope <= price <= left slope
    _bracket(right, price, left)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_demand_price_matches_finite_difference(kind: str, backend: str) -> None:
    case = demand_case(kind)
    p = solve(case.req, backend=backend)
    assert p.status == "optimal" and p.shadow_prices is not None
    price = case.price(p)
    assert price != 0
    sense = 1.0 if kind == "min_cost" else -1.0  # the minimised objective
    h = 1e-3 * case.x0
    f0 = p.objective.value
    assert f0 is not None
    # a nominal million tokens in period 1 (discounted, except in the undiscounted max_served)
    d1 = 1.0 if kind == "max_served" else 1 / (1 + R)
    per_mtok = h * MT * d1
    right = sense * (_value(case, case.x0 + h, backend) - f0) / per_mtok
    left = sense * (f0 - _value(case, case.x0 - h, backend)) / per_mtok
    # convex minimised objective: left slope <= price <= right slope
    _bracket(left, price, right)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("regime", sorted(PROFIT_PENALTY))
def test_demand_price_max_profit_with_penalty(regime: str, backend: str) -> None:
    case = demand_penalty_case(regime)
    p = solve(case.req, backend=backend)
    assert p.status == "optimal" and p.shadow_prices is not None
    price = case.price(p)
    assert price != 0
    h = 1e-3 * case.x0
    f0 = p.objective.value
    assert f0 is not None
    per_mtok = h * MT / (1 + R)  # a nominal million tokens in period 1
    # the minimised objective is minus the reported profit
    right = -(_value(case, case.x0 + h, backend) - f0) / per_mtok
    left = -(f0 - _value(case, case.x0 - h, backend)) / per_mtok
    _bracket(left, price, right)


@pytest.mark.parametrize("backend", BACKENDS)
def test_demand_price_with_min_total_served(backend: str) -> None:
    # The frontier's served_total row (Σ served >= fraction·Σ D) moves with D too.  Half of
    # the 180k token-periods must be served: all 80k of period 1 (cheaper, at 1/1.1) and
    # 10k in period 0.  One more unit of D_1 is served in period 1 and lets period 0 serve
    # half a unit less: c·(1/1.1 - 0.5) discounted, c·(1 - 0.55) nominal, c = $100/31,536.
    case = demand_case("min_cost")
    wl = case.req["workloads"][0]
    wl.update(min_service_fraction=0.0, unmet_penalty_usd_per_million_tokens=0.0)
    case.req["policy"] = {"min_total_served_fraction": 0.5}
    p = solve(case.req, backend=backend)
    assert p.status == "optimal"
    price = case.price(p)
    h = 1e-3 * case.x0
    f0 = p.objective.value
    assert f0 is not None
    per_mtok = h * MT / (1 + R)
    right = (_value(case, case.x0 + h, backend) - f0) / per_mtok
    left = (f0 - _value(case, case.x0 - h, backend)) / per_mtok
    _bracket(left, price, right)
    assert price == pytest.approx(0.45 * 100 / 31_536, rel=1e-7)


class TestHandValues:
    """A few prices worked out by hand, so that the finite differences are not the only check."""

    def test_power_min_cost(self) -> None:
        # One MW more lets 2,000 "hog" replace 2,000 "eff" units in period 1: each swap saves
        # $100 nominal ($200 - $100, 1-year life), discounted by 1/1.1: $181,818.18 per MW.
        p = solve(power_case("min_cost").req)
        assert power_case("min_cost").price(p) == pytest.approx(200_000 / 1.1, rel=1e-7)

    def test_power_max_served(self) -> None:
        # One MW = 1,000 more units x 1,000 tokens/s x 31.536 M tokens (weight 1).
        p = solve(power_case("max_served").req)
        assert p.shadow_prices is not None and p.shadow_prices.objective_unit == "weighted_million_tokens"
        assert power_case("max_served").price(p) == pytest.approx(1000 * 1000 * MT, rel=1e-7)

    def test_power_max_profit(self) -> None:
        # A unit-year earns $1e-2 x 31,536 M = $315.36 against its $100 price (1-year life);
        # one MW more = 1,000 more units in period 1, discounted by 1/1.1.
        p = solve(power_case("max_profit").req)
        assert power_case("max_profit").price(p) == pytest.approx((315.36 - 100) * 1000 / 1.1, rel=1e-7)

    def test_demand_max_profit(self) -> None:
        # An extra million tokens served: $100/31,536 of cost less $1e-2 of value (nominal).
        p = solve(demand_case("max_profit").req)
        assert demand_case("max_profit").price(p) == pytest.approx(100 / 31_536 - 1e-2, rel=1e-7)

    def test_budget_min_cost(self) -> None:
        # Each $ of capex buys 1/100 of a unit in t=0 ($100 now, residual 0.6 x $100 at
        # d_2 = 1/1.21) that replaces a lease in t=0 ($30) and in t=1 ($30 at 1/1.1).
        case = budget_case("min_cost")
        p = solve(case.req)
        assert case.price(p) == pytest.approx((30 + 30 / 1.1 - 100 + 60 / 1.21) / 100, rel=1e-7)

    def test_total_budget_min_cost(self) -> None:
        # All 100 units leased costs $6,000 nominal ($30 a unit-year, twice); each unit bought
        # in t=0 instead adds $100 − $60 = $40 of spend, so $8,000 buys 50.  Per $ of total
        # budget: 1/40 of a unit-swap worth $30 + $30/1.1 − ($100 − $60/1.21).  The capex
        # budget's price would divide by $100: only the total counts the lease fees.
        case = total_budget_case("min_cost")
        p = solve(case.req)
        assert case.price(p) == pytest.approx((30 + 30 / 1.1 - 100 + 60 / 1.21) / 40, rel=1e-7)
        assert fleet_units(p, "buy") == pytest.approx(50, rel=1e-9)
        assert p.summary.capex_usd + p.summary.opex_usd == pytest.approx(8000, rel=1e-9)
        assert "total_budget" in p.binding

    def test_total_budget_period_min_cost(self) -> None:
        # 2026-01 may spend $6,500: 100·x + 30·(100 − x) for x units bought, so x = 50; each $
        # more swaps 1/70 of a unit from a lease in t=0 plus a unit bought in t=1 ($100/1.1 −
        # $80/1.21, residual 0.8) to a unit bought in t=0 ($100 − $60/1.21).
        case = total_budget_period_case("min_cost")
        p = solve(case.req)
        swap = 30 + (100 / 1.1 - 80 / 1.21) - (100 - 60 / 1.21)
        assert case.price(p) == pytest.approx(swap / 70, rel=1e-7)
        assert p.periods[0].capex_usd + p.periods[0].opex_usd == pytest.approx(6500, rel=1e-9)

    def test_total_budget_max_served(self) -> None:
        # $120 of total spend per unit-year (price + fee): one $ serves 1000/120 tokens/s for
        # a year, 31.536·1000/120 million tokens (weight 1).
        case = total_budget_case("max_served")
        p = solve(case.req)
        assert case.price(p) == pytest.approx(31.536 * 1000 / 120, rel=1e-7)

    def test_vendor_share_min_cost(self) -> None:
        # a ($100) may be 60 % of 100 kW; a point more swaps one kW of b ($200) for a: $100 in
        # 2026-01 and $100/1.1 in 2027-01.  Held at min b 0.4 the prices are the same.
        for limit in ("max", "min"):
            p = solve(vendor_share_case("min_cost", limit).req)
            assert p.shadow_prices is not None
            prices = {x.period: x.value for x in p.shadow_prices.vendor_share_per_percentage_point}
            assert prices == pytest.approx({"2026-01": 100.0, "2027-01": 100 / 1.1}, rel=1e-7)

    def test_vendor_share_max_served(self) -> None:
        # 100 kW at the site: a point of share moves a kW from b (500 tokens/s per kW) to a
        # (1000): 500 tokens/s for a year, 15,768 million tokens in each (undiscounted) period.
        p = solve(vendor_share_case("max_served", "max").req)
        assert p.shadow_prices is not None
        assert [x.value for x in p.shadow_prices.vendor_share_per_percentage_point] == pytest.approx(
            [500 * MT] * 2, rel=1e-7
        )

    def test_demand_min_cost_with_penalty(self) -> None:
        # Period 1, msf 0.5, penalty $0.01/M above the unit cost ($100 / 31,536 M): the whole
        # extra million tokens is served at $100/31,536 nominal.
        p = solve(demand_case("min_cost").req)
        assert demand_case("min_cost").price(p) == pytest.approx(100 / 31_536, rel=1e-7)

    def test_demand_min_cost_penalty_below_cost(self) -> None:
        # Penalty $1e-3/M below the unit cost: half of an extra million tokens is served
        # ($100/31,536 x 0.5) and half is paid as penalty ($1e-3 x 0.5).
        case = demand_case("min_cost")
        case.req["workloads"][0]["unmet_penalty_usd_per_million_tokens"] = 1e-3
        p = solve(case.req)
        assert case.price(p) == pytest.approx(0.5 * 100 / 31_536 + 0.5 * 1e-3, rel=1e-7)

    def test_demand_max_profit_with_penalty(self) -> None:
        # All served: an extra million tokens costs $100/31,536 and earns $1e-2; the penalty
        # it would have paid ($1e-3) and the penalty constant cancel.
        p = solve(demand_penalty_case("served").req)
        assert demand_penalty_case("served").price(p) == pytest.approx(100 / 31_536 - 1e-2, rel=1e-7)
        # None served: an extra million tokens demanded pays the penalty, $1e-3.
        p = solve(demand_penalty_case("unserved").req)
        assert demand_penalty_case("unserved").price(p) == pytest.approx(1e-3, rel=1e-7)
        # msf 0.5: half is served ($100/31,536 less $1e-3 of value, x 0.5), half pays $1e-3.
        p = solve(demand_penalty_case("floor").req)
        want = 0.5 * (100 / 31_536 - 1e-3) + 0.5 * 1e-3
        assert demand_penalty_case("floor").price(p) == pytest.approx(want, rel=1e-7)

    def test_demand_max_served(self) -> None:
        # Every extra million tokens demanded is served: weight 2, nominal -> -2.
        p = solve(demand_case("max_served").req)
        assert demand_case("max_served").price(p) == pytest.approx(-2, rel=1e-7)


class TestPowerPriceIsForOnePeriod:
    """A power price is the value of one more MW in that one period alone; a MW from period t
    to the horizon end is worth the sum of the prices from t on (docs/formulation.md).

    Two yearly periods, rate 0, no residual value, 5-year units bought in 2026 serving both
    years: "hog" ($100, 1 kW) and "eff" ($300, 0.1 kW), 100 units of 1,000 tokens/s needed,
    50 kW in each year.  hog + eff = 100, hog + 0.1·eff <= 50: hog = 44.4, cost $21,111.
    One more kW in *both* years swaps 1/0.9 eff for hog: $222.22, i.e. $222,222 per MW.  One
    more MW in one year alone is worth nothing (the other year still holds the same fleet);
    one less in either costs the full $222,222.  The LP is degenerate: each year's price may
    be anything in [0, 222,222] as long as the two add up to 222,222.
    """

    REQ = request(
        periods=2,
        economics={"residual_value": False},
        sites=[site(power=[0.05, 0.05])],
        hardware_=[hardware("hog", price=100, kw=1), hardware("eff", price=300, kw=0.1)],
    )
    PER_MW = 200 / 0.9 * 1000

    def cost(self, power: list[float]) -> float:
        req = copy.deepcopy(self.REQ)
        req["sites"][0]["power_mw"] = power
        p = solve(req)
        assert p.status == "optimal" and p.objective.value is not None
        return p.objective.value

    def test_the_prices_add_up_to_a_permanent_mw_and_each_is_one_side_of_its_kink(self) -> None:
        p = solve(self.REQ)
        assert p.objective.value == pytest.approx(100 * 400 / 9 + 300 * 500 / 9, rel=1e-7)
        assert p.shadow_prices is not None
        prices = [
            one_price(p.shadow_prices.power_usd_per_mw, lab, site="s") for lab in ("2026-01", "2027-01")
        ]
        assert sum(prices) == pytest.approx(self.PER_MW, rel=1e-7)
        h = 1e-3 * 0.05
        f0 = p.objective.value
        # a MW from 2026 to the end: one more saves the sum, one less costs it
        assert (f0 - self.cost([0.05 + h, 0.05 + h])) / h == pytest.approx(sum(prices), rel=1e-6)
        assert (self.cost([0.05 - h, 0.05 - h]) - f0) / h == pytest.approx(sum(prices), rel=1e-6)
        # one year alone: one more saves 0, one less costs the whole 222,222; each price lies between
        for t, price in enumerate(prices):
            up, down = [0.05, 0.05], [0.05, 0.05]
            up[t] += h
            down[t] -= h
            gain, loss = (f0 - self.cost(up)) / h, (self.cost(down) - f0) / h
            assert gain == pytest.approx(0, abs=1e-6 * self.PER_MW)
            assert loss == pytest.approx(self.PER_MW, rel=1e-6)
            _bracket(gain, price, loss)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_an_integer_plan_has_no_shadow_prices(kind: str, backend: str) -> None:
    """With whole units fixed, the fixed LP would price a binding MW at 0 while a re-solve
    with one more MW is worth PER_MW (DESIGN.md: null in integer mode)."""
    case = power_case(kind)
    req = copy.deepcopy(case.req)
    req["solver"] = {"integer": True, "backend": backend}
    p = solve(req)
    assert p.status == "optimal" and p.shadow_prices is None
    assert any(b.family == "power" for b in p.binding_limits)
    [note] = [w for w in p.warnings if w.startswith("integer plan: no shadow prices")]
    assert "re-solve with the limit moved" in note


class TestMaxServedBindingAndNoise:
    """Binding limits of max_served, and what counts as a price (hand-checked instances)."""

    FLEET = {"existing": [{"hardware": "h", "units": 100}]}

    def served_plan(self, **top: Any) -> Plan:
        wl = [workload(demand=1e6, min_service_fraction=0)]
        return solve(
            request(sites=[site(**self.FLEET)], workloads=wl, objective={"kind": "max_served"}, **top)
        )

    def test_a_tiny_negative_price_is_noise_a_tiny_positive_one_is_not(self) -> None:
        from solver.extract import PRICE_NOISE, PRICE_TOL, _noise

        scale = 3.8e6  # the objective's size; relief = −dual
        # −6e-8 (relief) on a 1 MW limit: moving it all moves the objective by 6e-8, far
        # below PRICE_TOL of it, and no relaxation can hurt: round-off, though above PRICE_NOISE
        assert _noise(6e-8, True, 1.0, scale)
        # the same size with the right sign may be a real (small) price: kept
        assert not _noise(-6e-8, False, 1.0, scale)
        assert _noise(-PRICE_NOISE / 2, False, 1.0, scale)
        # a negative price that moves the objective visibly is not hidden (check_plan fails it)
        assert not _noise(1.0, True, 1.0, scale) and PRICE_TOL * scale < 1.0

    def test_no_negative_price_in_a_plan_that_once_publishedone_price(self) -> None:
        # max_served, two sites, an expansion, an existing fleet and take-or-pay (a random
        # instance): power s1 2026-01 came out −5.96e-8 beside real prices of 8e6 per MW
        # (re-solves with the limit moved ±1e-4 give slopes of −0.0013 and −0.0003: noise).
        req = json.loads((DATA / "max-served-noise-price.json").read_text())
        p = solve(req)  # check_plan: no negative power price
        assert p.status == "optimal" and p.shadow_prices is not None
        assert min(x.value for x in p.shadow_prices.power_usd_per_mw) == 0.0
        assert max(x.value for x in p.shadow_prices.power_usd_per_mw) > 1e6

    def test_a_priced_budget_binds_although_stage_two_leaves_slack(self) -> None:
        # 100 existing units serve 1e5 of 1e6 tokens/s; $100 buys one more unit: 31,536 M
        # tokens a year, 315.36 per $.  Stage two may serve 1e-6·z* (3.19 M tokens) less and
        # so spends $0.01 less: the budget was left out of `binding` (its slack tolerance is
        # $0.001), though its price says it binds.
        p = self.served_plan(budget={"capex_usd": 100})
        assert p.shadow_prices is not None and p.shadow_prices.budget_per_usd == pytest.approx(
            315.36, rel=1e-7
        )
        assert p.periods[0].capex_usd < 100 - 1e-3  # the slack stage two leaves
        assert "budget" in p.binding

    def test_a_priced_supply_cap_binds_too(self) -> None:
        p = self.served_plan(hardware=[hardware(max_units_per_period=1)])
        assert p.shadow_prices is not None
        assert p.shadow_prices.supply_per_unit[0].value == pytest.approx(31_536, rel=1e-7)
        assert "supply h 2026-01" in p.binding

    def test_a_small_price_on_a_large_limit_is_a_price(self) -> None:
        # A $1e12 unit serves 1 token/s: 31.536 M tokens per $1e12, a price of 3.15e-11 per $.
        # Over the $1e13 budget that is the whole objective; a fixed 1e-9 filter zeroed it.
        hw = [hardware(price=1e12, points=((10.0, 1.0),))]
        wl = [workload(demand=1e6, min_service_fraction=0)]
        p = solve(
            request(
                sites=[site(power=1000)],
                hardware_=hw,
                workloads=wl,
                objective={"kind": "max_served"},
                budget={"capex_usd": 1e13},
            )
        )
        assert p.shadow_prices is not None
        assert p.shadow_prices.budget_per_usd == pytest.approx(31.536 / 1e12, rel=1e-7)
        assert "budget" in p.binding

    def test_a_price_on_a_limit_of_zero_is_a_price(self) -> None:
        # No capex in the first quarter, $1e11 after: 10,000 $1M servers wait a quarter and
        # demand goes unserved at $20 per million tokens.  The first quarter's budget is worth
        # 0.0958 $ per $ (a $1M re-solve agrees); measured against a limit of 0 the relative
        # noise filter alone published 0.
        def served(first: float) -> Plan:
            return solve(
                request(
                    sites=[site(power=500.0)],
                    hardware_=[hardware(price=1e6, kw=10.0)],
                    workloads=[
                        workload(
                            demand=1e7, min_service_fraction=0, unmet_penalty_usd_per_million_tokens=20.0
                        )
                    ],
                    periods=8,
                    period_months=3,
                    economics={"discount_rate": 0.08},
                    budget={"capex_per_period_usd": [first] + [1e11] * 7},
                )
            )

        p, more = served(0.0), served(1e6)
        assert (
            p.shadow_prices is not None and p.objective.value is not None and more.objective.value is not None
        )
        price = p.shadow_prices.budget_per_period_per_usd[0].value
        assert price == pytest.approx((p.objective.value - more.objective.value) / 1e6, rel=1e-6)
        assert price > 0.09 and "budget 2026-01" in p.binding


class TestBalanceInTheDeliveryPeriod:
    """A per-period budget that binds in the period units arrive, because their balance is
    paid then (hardware.deposit_fraction): its price is still d(objective)/d(limit).

    Two yearly periods at r = 10 %, demand only in 2027: "buy" ($100, 5-year life, one year of
    lead time, 30 % deposit) can only be ordered in 2026 and pays $30 then and $70 on arrival
    in 2027; "lease" ($50 a unit-year, no lead time) can cover 2027 too.  A bought unit costs
    $30 + $70/1.1 − $80/1.21 (residual 0.8 at the horizon end) = $27.52 NPV against $50/1.1 =
    $45.45 for the lease: the plan buys as many as the 2027 limit lets it pay for.
    """

    SAVING = 50 / 1.1 - (30 + 70 / 1.1 - 80 / 1.21)  # NPV saved by each unit bought, not leased

    @staticmethod
    def req(budget: Json) -> Json:
        hws = [
            hardware("buy", lead_time_periods=1, deposit_fraction=0.3),
            hardware("lease", price=0, life=1, recurring_usd_per_unit_hour=50 / 8760),
        ]
        return request(
            periods=2,
            hardware_=hws,
            workloads=[workload(demand=[0, 1e5])],
            economics={"discount_rate": R},
            budget=budget,
        )

    def case(self, family: str) -> Case:
        if family == "budget_period":
            # 2027 capex: the balances, $70 a unit: 5,000 pays for 71.43 units
            req = self.req({"capex_per_period_usd": [1e6, 5000]})
            key, items = "capex_per_period_usd", "budget_per_period_per_usd"
        else:
            # 2027 spend: $70·bought + $50·leased = 5,000 + 20·bought <= 6,000: 50 bought
            req = self.req({"total_per_period_usd": [1e6, 6000]})
            key, items = "total_per_period_usd", "total_budget_per_period_per_usd"
        return Case(
            req,
            set_list(("budget", key), 1),
            req["budget"][key][1],
            lambda p: one_price(getattr(p.shadow_prices, items) if p.shadow_prices else [], "2027-01"),
        )

    @pytest.mark.parametrize("backend", BACKENDS)
    @pytest.mark.parametrize("family", ["budget_period", "total_budget_period"])
    def test_price_matches_finite_difference(self, family: str, backend: str) -> None:
        case = self.case(family)
        p = solve(case.req, backend=backend)
        assert p.status == "optimal" and p.shadow_prices is not None
        price = case.price(p)
        assert price > 0
        h = 1e-3 * case.x0
        f0 = p.objective.value
        assert f0 is not None
        right = -(_value(case, case.x0 + h, backend) - f0) / h
        left = -(f0 - _value(case, case.x0 - h, backend)) / h
        _bracket(right, price, left)
        # no kink here: both sides agree with the price (CBC's round-off: 1e-5)
        assert right == pytest.approx(price, rel=1e-5) and left == pytest.approx(price, rel=1e-5)

    def test_hand_values(self) -> None:
        p = solve(self.case("budget_period").req)
        assert fleet_units(p, "buy") == pytest.approx(5000 / 70, rel=1e-9)
        assert [x.capex_usd for x in p.periods] == pytest.approx([30 * 5000 / 70, 5000], rel=1e-9)
        assert "budget 2027-01" in p.binding and "budget 2026-01" not in p.binding
        assert self.case("budget_period").price(p) == pytest.approx(self.SAVING / 70, rel=1e-7)
        p = solve(self.case("total_budget_period").req)
        assert fleet_units(p, "buy") == pytest.approx(50, rel=1e-9)
        assert p.periods[1].capex_usd + p.periods[1].opex_usd == pytest.approx(6000, rel=1e-9)
        assert "total_budget 2027-01" in p.binding
        assert self.case("total_budget_period").price(p) == pytest.approx(self.SAVING / 20, rel=1e-7)
