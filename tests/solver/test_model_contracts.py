"""Hand-solved vendor contracts: take-or-pay minimum spend and warrants (DESIGN.md, Contracts).

Defaults as in test_model_costs: one 12-month period, $100 units with a 5-year life
(residual 0.8 -> $20 net each), 100 units needed.  Spend S_v = upfront + recurring fees paid
to vendor v; a shortfall min_spend − S_v is paid at the horizon end (d_N) and counts in the
capex budget; warrants vest equity_fraction_max·min(1, S_v/full_vest) valued at d_N.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from solver.model import Built
from tests.helpers.requests import fleet, hardware, request, site, solve, workload

REL = 1e-7
DATA = Path(__file__).resolve().parent.parent / "data"


def take_or_pay(amount: float) -> list[dict]:
    return [{"vendor": "v", "min_spend_usd": amount}]


def warrants(fraction: float, full_vest: float, valuation: float) -> list[dict]:
    w = {
        "equity_fraction_max": fraction,
        "full_vest_spend_usd": full_vest,
        "company_valuation_usd": valuation,
    }
    return [{"vendor": "v", "warrants": w}]


class TestTakeOrPay:
    def test_buying_more_beats_paying_the_shortfall(self) -> None:
        # $15,000 committed, 100 units spend $10,000.  Each extra unit costs $100 - $80
        # residual = $20 and removes $100 of shortfall: buy 150 units, cost 150 x 20.
        p = solve(request(contracts=take_or_pay(15_000)))
        assert fleet(p)[0] == pytest.approx(150, rel=REL)
        assert p.contracts[0].spend_usd == pytest.approx(15_000, rel=REL)
        assert p.contracts[0].shortfall_usd == pytest.approx(0, abs=1e-6)
        assert p.objective.value == pytest.approx(3000, rel=REL)

    def test_shortfall_paid_when_units_cost_more(self) -> None:
        # Maintenance 90 %/year: an extra unit costs 100 + 90 - 80 = $110 > $100 saved.
        # 100 units x 110 + $5,000 shortfall.
        p = solve(
            request(hardware_=[hardware(maintenance_fraction_per_year=0.9)], contracts=take_or_pay(15_000))
        )
        assert fleet(p)[0] == pytest.approx(100, rel=REL)
        assert p.contracts[0].shortfall_usd == pytest.approx(5000, rel=REL)
        assert p.summary.contract_shortfall_usd == pytest.approx(5000, rel=REL)
        assert p.objective.value == pytest.approx(16_000, rel=REL)

    def test_shortfall_is_discounted_at_the_horizon_end(self) -> None:
        # r = 10 %: capex 10,000 + maintenance 9,000 now; residual 8,000 and shortfall
        # 5,000 at d_1 = 1/1.1.  (An extra unit: 190 - 80/1.1 = 117.3 > 100/1.1 saved.)
        p = solve(
            request(
                hardware_=[hardware(maintenance_fraction_per_year=0.9)],
                contracts=take_or_pay(15_000),
                economics={"discount_rate": 0.1},
            )
        )
        assert p.objective.value == pytest.approx(19_000 - 8000 / 1.1 + 5000 / 1.1, rel=REL)

    def test_shortfall_counts_in_the_capex_budget(self) -> None:
        # capex 10,000 + shortfall 5,000 = 15,000 against the budget.
        hws = [hardware(maintenance_fraction_per_year=0.9)]
        ok = solve(request(hardware_=hws, contracts=take_or_pay(15_000), budget={"capex_usd": 15_000}))
        assert ok.status == "optimal"
        assert "budget" in ok.binding
        short = solve(request(hardware_=hws, contracts=take_or_pay(15_000), budget={"capex_usd": 14_999}))
        assert short.status == "infeasible"

    def test_recurring_fees_count_as_spend(self) -> None:
        # 100 existing leased units at $0.01/h: $8,760 of recurring fees to v; commitment
        # $5,000 -> no shortfall, nothing bought, cost = the fees.
        hws = [hardware(price=0, recurring_usd_per_unit_hour=0.01)]
        s = site(existing=[{"hardware": "h", "units": 100}])
        p = solve(request(sites=[s], hardware_=hws, contracts=take_or_pay(5000)))
        assert p.contracts[0].spend_usd == pytest.approx(8760, rel=REL)
        assert p.contracts[0].shortfall_usd == 0
        assert p.objective.value == pytest.approx(8760, rel=REL)

    def test_other_vendors_do_not_count(self) -> None:
        # $30,000 committed to vendor "x", whose units cost $300 ($60 net); v's cost $100
        # ($20 net) and do not count.  With k x-units (k <= 100): cost 20(100 - k) + 60k +
        # (30,000 - 300k) = 32,000 - 260k, falling to k = 100; beyond, idle x units only add
        # $60 each.  So 100 x-units, no v-units: $6,000.
        hws = [hardware("hv"), hardware("hx", vendor="x", price=300)]
        p = solve(request(hardware_=hws, contracts=[{"vendor": "x", "min_spend_usd": 30_000}]))
        assert fleet(p, hw="hx")[0] == pytest.approx(100, rel=REL)
        assert p.objective.value == pytest.approx(6000, rel=REL)


class TestWarrants:
    """Equity vests on the net spend: a unit's $100 counts $20, the $80 it keeps as residual
    value is not spent in the horizon.  (On the gross spend a buyer of idle units got both
    the residual and the equity: a plan bought 2,106 idle CS-3s in its last quarter to vest a
    warrant at the 750 MW deal's $0.13 of equity per dollar.)"""

    def test_vesting_is_capped_at_full_vest(self) -> None:
        # 1 % of a $10M company vests linearly over $20,000 of net spend: $5 of equity per net
        # $.  An extra unit costs $20 net and vests $100: buy up to full vest (1,000 units, net
        # $20,000), no further.  Cost 1,000 x 20 - $100,000.
        p = solve(request(contracts=warrants(0.01, 20_000, 1e7)))
        assert fleet(p)[0] == pytest.approx(1000, rel=REL)
        c = p.contracts[0]
        assert (c.spend_usd, c.net_spend_usd) == (
            pytest.approx(100_000, rel=REL),
            pytest.approx(20_000, rel=REL),
        )
        assert c.equity_fraction == pytest.approx(0.01, rel=REL)
        assert c.equity_value_usd == pytest.approx(100_000, rel=REL)
        assert p.objective.value == pytest.approx(-80_000, rel=REL)

    def test_linear_vesting_below_the_cap(self) -> None:
        # Valuation $100k: $0.05 per net $, $1 per unit < $20: buy only the 100 needed.
        # Equity 1 % x 2,000/20,000 = 0.1 %, worth $100 (on the gross $10,000 it was $500).
        p = solve(request(contracts=warrants(0.01, 20_000, 1e5)))
        assert fleet(p)[0] == pytest.approx(100, rel=REL)
        assert p.contracts[0].equity_fraction == pytest.approx(0.001, rel=REL)
        assert p.summary.warrant_value_usd == pytest.approx(100, rel=REL)
        assert p.objective.value == pytest.approx(1900, rel=REL)

    def test_without_residual_value_the_whole_spend_vests(self) -> None:
        # Residual value off: net spend = spend.  $0.05 per $: 0.5 % of $100k = $500.
        p = solve(request(contracts=warrants(0.01, 20_000, 1e5), economics={"residual_value": False}))
        assert p.contracts[0].net_spend_usd == pytest.approx(10_000, rel=REL)
        assert p.summary.warrant_value_usd == pytest.approx(500, rel=REL)
        assert p.objective.value == pytest.approx(10_000 - 500, rel=REL)

    def test_warrant_value_is_discounted(self) -> None:
        # r = 10 %: an extra unit costs 100 - 80/1.1 = 27.3 and vests 100/1.1 = 90.9: to 1,000.
        p = solve(request(contracts=warrants(0.01, 20_000, 1e7), economics={"discount_rate": 0.1}))
        assert fleet(p)[0] == pytest.approx(1000, rel=REL)
        assert p.objective.value == pytest.approx(100_000 - 80_000 / 1.1 - 100_000 / 1.1, rel=REL)

    def test_vesting_of_small_net_bases_is_not_lost_to_solver_tolerances(self) -> None:
        # 1 % of a $1T vendor vests over $100B: 1e-13 of equity per net $.  Units bought in
        # the last months keep most of their value: their net base times 1e-13 fell below
        # HiGHS's small_matrix_value and was dropped (the plan then failed its self-check).
        # 24 months, demand +1e6 tokens/s a month: 24,000 $100k units, $2.4B spent, $1.9B kept,
        # net $500M vests 5e-5 of $1T = $50M.  Cost 500M - 50M.
        n = 24
        req = request(
            sites=[site(power=1000.0)],
            hardware_=[hardware(price=1e5, kw=10.0)],
            workloads=[workload(demand=[1e6 * (t + 1) for t in range(n)])],
            periods=n,
            period_months=1,
            contracts=warrants(0.01, 1e11, 1e12),
        )
        p = solve(req)
        assert p.status == "optimal"
        c = p.contracts[0]
        assert (c.spend_usd, c.net_spend_usd) == (pytest.approx(2.4e9, rel=REL), pytest.approx(5e8, rel=REL))
        assert c.equity_fraction == pytest.approx(5e-5, rel=REL)
        assert p.objective.value == pytest.approx(5e8 - 5e7, rel=REL)

    def test_take_or_pay_and_warrants_together(self) -> None:
        # Commitment $15,000 of (gross) spend: 150 units beat a shortfall (50 x $20 < $5,000).
        # Warrants at $0.05 per net $ over $20,000: net 150 x 20 = 3,000 -> 0.15 % -> $150.
        c = [{**take_or_pay(15_000)[0], "warrants": warrants(0.01, 20_000, 1e5)[0]["warrants"]}]
        p = solve(request(contracts=c))
        assert fleet(p)[0] == pytest.approx(150, rel=REL)
        assert p.contracts[0].shortfall_usd == 0
        assert p.contracts[0].equity_fraction == pytest.approx(0.0015, rel=REL)
        assert p.objective.value == pytest.approx(3000 - 150, rel=REL)


def tiers(*pairs: tuple[float, float], vendor: str = "v", **extra: object) -> list[dict]:
    t = [{"above_spend_usd": a, "discount": d} for a, d in pairs]
    return [{"vendor": vendor, "discount_tiers": t, **extra}]


MIXED = [hardware("ha", vendor="a"), hardware("hb", vendor="b", price=95)]
"""a: $100; b: $95. Without a discount b wins."""

FLAT = {"residual_value": False}
"""Residual value off: the rebate base is the spend itself (TestRebateBase covers the rest)."""


def flat(**kw: object) -> dict:
    return request(economics=dict(FLAT), **kw)  # type: ignore[arg-type]


class TestDiscountTiers:
    """Incremental tiers: base between T_k and T_{k+1} earns discount_k, rebated at d_N."""

    def test_rebate_on_the_spend_above_each_threshold(self) -> None:
        # 100 units spend $10,000: 10 % of 5,000..8,000 + 15 % of 8,000..10,000 = 300 + 300.
        # An extra unit costs $100 and earns $15: buy only the 100 needed.  10,000 − 600.
        p = solve(flat(contracts=tiers((5000, 0.1), (8000, 0.15))))
        assert fleet(p)[0] == pytest.approx(100, rel=REL)
        c = p.contracts[0]
        assert (c.discount_usd, c.discount_tiers_reached) == (pytest.approx(600, rel=REL), 2)
        assert c.net_spend_usd == pytest.approx(10_000, rel=REL)
        assert p.summary.contract_discount_usd == pytest.approx(600, rel=REL)
        assert p.objective.value == pytest.approx(9400, rel=REL)
        assert (p.solver.integer, p.solver.mixed_integer) == (False, True)
        assert p.shadow_prices is not None and p.shadow_prices.basis == "integer_fixed"
        assert any("mixed-integer" in w for w in p.warnings)

    @pytest.mark.parametrize("backend", ["highs", "cbc"])
    def test_a_vendor_whose_spend_no_decision_moves_keeps_the_tiers_it_reaches(self, backend: str) -> None:
        # Vendor a: 10 existing units leased at $1/h, none can be bought (lead time = horizon),
        # so its spend is fixed: $1 x 10 x 8,760 h x 2 years = $175,200, past its $1,000 tier.
        # (The fixed LP's tier cap had no terms and was left out; fixing the tiers then raised
        # KeyError.)  Vendor b serves the other 10,000 tokens/s: 10 units of $100 (residual 0.6
        # after 2 of 5 years: $400 net).  No discount: 175,200 + 400 = 175,600; the rebate is
        # 10 % of 175,200 − 1,000 = 17,420 at d_N = 1: 158,180.
        ha = hardware("ha", vendor="a", price=0, lead_time_periods=2, recurring_usd_per_unit_hour=1.0)
        hb = hardware("hb", vendor="b", price=100)
        req = request(
            periods=2,
            sites=[site(existing=[{"hardware": "ha", "units": 10}])],
            hardware_=[ha, hb],
            workloads=[workload(demand=20_000)],
            contracts=[{"vendor": "a", "discount_tiers": [{"above_spend_usd": 1000, "discount": 0.1}]}],
        )
        p = solve(req, backend=backend)
        assert p.status == "optimal", p.solver.detail
        assert p.objective.value == pytest.approx(158_180, rel=REL)
        [a] = [c for c in p.contracts if c.vendor == "a"]
        assert (a.discount_usd, a.discount_tiers_reached) == (pytest.approx(17_420, rel=REL), 1)
        assert fleet(p, hw="hb")[0] == pytest.approx(10, rel=REL)

    def test_a_threshold_beyond_any_possible_spend_keeps_the_lp(self) -> None:
        # 0.1 MW holds at most 100 units of $100 in the one period: spend can never pass
        # $10,000, so a tier at $50,000 is left out and the plan is an LP with true prices.
        p = solve(flat(sites=[site(power=0.1)], contracts=tiers((50_000, 0.2))))
        assert p.solver.mixed_integer is False
        assert p.shadow_prices is not None and p.shadow_prices.basis == "lp"
        assert p.objective.value == pytest.approx(10_000, rel=REL)
        assert not any("mixed-integer" in w for w in p.warnings)

    def test_falling_discounts_still_fill_the_tiers_in_order(self) -> None:
        # 15 % of 5,000..8,000 and 5 % above: 450 + 100 (each tier its own rate, in order).
        p = solve(flat(contracts=tiers((5000, 0.15), (8000, 0.05))))
        assert p.contracts[0].discount_usd == pytest.approx(550, rel=REL)
        assert p.objective.value == pytest.approx(9450, rel=REL)

    def test_a_tier_out_of_reach_changes_nothing(self) -> None:
        # Reaching $15,000 takes 50 idle units ($5,000) and earns nothing at the threshold.
        p = solve(flat(contracts=tiers((15_000, 0.2))))
        assert fleet(p)[0] == pytest.approx(100, rel=REL)
        assert (p.contracts[0].discount_usd, p.contracts[0].discount_tiers_reached) == (0, 0)
        assert p.objective.value == pytest.approx(10_000, rel=REL)

    @pytest.mark.parametrize("backend", ["highs", "cbc"])
    def test_a_volume_discount_moves_the_whole_fleet(self, backend: str) -> None:
        # k units of a: 100k + 95(100 − k) − 0.15·max(0, 100k − 5,000) = 10,250 − 10k above
        # k = 50, 9,500 + 5k below: all 100 from a, $9,250.  (The LP relaxation of the tier
        # would credit 15 % of every dollar: 10,000 − 1,500; a plan at 8,500 would be wrong.)
        p = solve(flat(hardware_=MIXED, contracts=tiers((5000, 0.15), vendor="a")), backend=backend)
        assert fleet(p, hw="ha")[0] == pytest.approx(100, rel=REL)
        assert fleet(p, hw="hb")[0] == pytest.approx(0, abs=1e-6)
        assert p.objective.value == pytest.approx(9250, rel=REL)

    def test_a_threshold_too_high_leaves_the_cheaper_vendor(self) -> None:
        # a reaches $15,000 only with 50 idle units: b for everything, $9,500.
        p = solve(flat(hardware_=MIXED, contracts=tiers((15_000, 0.1), vendor="a")))
        assert fleet(p, hw="hb")[0] == pytest.approx(100, rel=REL)
        assert p.objective.value == pytest.approx(9500, rel=REL)

    def test_in_integer_mode_too(self) -> None:
        p = solve(flat(hardware_=MIXED, contracts=tiers((5000, 0.15), vendor="a")), integer=True)
        assert fleet(p, hw="ha")[0] == 100
        assert p.objective.value == pytest.approx(9250, rel=REL)

    def test_the_rebate_is_discounted_at_the_horizon_end(self) -> None:
        # r = 10 %: capex 10,000 now; rebate 600 at d_1 = 1/1.1.
        req = flat(contracts=tiers((5000, 0.1), (8000, 0.15)))
        req["economics"]["discount_rate"] = 0.1
        p = solve(req)
        assert p.objective.value == pytest.approx(10_000 - 600 / 1.1, rel=REL)

    def test_commitments_warrants_and_budget_count_the_spend_before_rebate(self) -> None:
        # $10,000 committed, 100 units spend exactly that: no shortfall although $500 comes
        # back; warrants vest on $10,000; a $10,000 capex budget is met (the rebate comes later).
        w = {"equity_fraction_max": 0.01, "full_vest_spend_usd": 20_000, "company_valuation_usd": 1e5}
        c = tiers((5000, 0.1), min_spend_usd=10_000, warrants=w)
        p = solve(flat(contracts=c, budget={"capex_usd": 10_000}))
        assert p.status == "optimal"
        assert p.contracts[0].shortfall_usd == 0
        assert p.contracts[0].equity_value_usd == pytest.approx(500, rel=REL)
        assert p.contracts[0].discount_usd == pytest.approx(500, rel=REL)
        assert p.objective.value == pytest.approx(10_000 - 500 - 500, rel=REL)

    def test_budget_price_matches_a_re_solve(self) -> None:
        # The budget binds (50 of 100 units): its price is published on the LP with the tier
        # binaries fixed ('integer_fixed'); a re-solve with $1 more agrees while no tier moves.
        # (a unit serves 31,536 million tokens a year: $315 of penalty at $0.01, more than $100)
        wl = [workload(min_service_fraction=0, unmet_penalty_usd_per_million_tokens=0.01)]
        base = flat(workloads=wl, contracts=tiers((2000, 0.1)), budget={"capex_usd": 5000})
        p = solve(base)
        assert p.shadow_prices is not None and p.shadow_prices.basis == "integer_fixed"
        assert p.contracts[0].discount_tiers_reached == 1
        more = solve({**base, "budget": {"capex_usd": 5001}})
        assert more.contracts[0].discount_tiers_reached == 1
        assert p.objective.value is not None and more.objective.value is not None
        fd = p.objective.value - more.objective.value
        assert p.shadow_prices.budget_per_usd == pytest.approx(fd, rel=1e-6)
        assert fd > 0

    def test_the_last_tier_is_not_cut_short_when_power_binds(self) -> None:
        # 0.1 MW holds exactly the 100 units needed; a 1-year life over 8 quarters means two
        # generations: 200 units, $20,000 — exactly the spend bound that sizes the last tier.
        # 10 % above $15,000: $500, credited in full (check_plan compares the objective with
        # the rebate recomputed from the spend).
        hw = [hardware(life=1.0)]
        p = solve(
            request(
                sites=[site(power=0.1)],
                hardware_=hw,
                periods=8,
                period_months=3,
                contracts=tiers((15_000, 0.1)),
            )
        )
        assert sum(per.fleet[0].acquired for per in p.periods) == pytest.approx(200, rel=REL)
        assert p.contracts[0].spend_usd == pytest.approx(20_000, rel=REL)
        assert p.contracts[0].discount_usd == pytest.approx(500, rel=REL)
        assert "power s 2026-01" in p.binding


class TestRebateBase:
    """With residual value, tiers count the spend net of the residual of the vendor's
    purchases: a rebate on value the plan keeps would pay it to buy units it does not need."""

    SHORT = {"periods": 2, "period_months": 3}
    """Two quarters, 5-year life: a unit bought in quarter 1 keeps 1 − 2/20 = 90 %, one bought
    in quarter 2 keeps 95 %."""

    def test_no_rebate_on_value_kept(self) -> None:
        # Demand needs 1 unit (1,000 tokens/s).  On the gross spend a 15 % tier above $5 would
        # return $15 for an extra $100 unit that keeps $95: the plan bought all 1,000 allowed.
        # On the base: the needed unit adds 100 − 90 = $10 (rebate 15 % of 10 − 5 = 0.75); an
        # extra one in quarter 2 adds $5 of base, earns $0.75 and costs $5: none.
        hw = [hardware(max_units_per_period=1000)]
        req = request(
            hardware_=hw, workloads=[workload(demand=1000.0)], contracts=tiers((5, 0.15)), **self.SHORT
        )
        p = solve(req)
        assert p.summary.units_acquired == {"h": pytest.approx(1, rel=REL)}
        c = p.contracts[0]
        assert c.spend_usd == pytest.approx(100, rel=REL)
        assert c.net_spend_usd == pytest.approx(10, rel=REL)
        assert c.discount_usd == pytest.approx(0.75, rel=REL)
        assert p.objective.value == pytest.approx(100 - 90 - 0.75, rel=REL)

    def test_recurring_fees_count_in_full(self) -> None:
        # A leased unit ($0 upfront, $0.01 an hour) keeps nothing: its 2,190 hours a quarter
        # are all base.  1 unit over 2 quarters: $43.80 of fees, 10 % above $10: $3.38.
        hw = [hardware(price=0.0, recurring_usd_per_unit_hour=0.01)]
        req = request(
            hardware_=hw, workloads=[workload(demand=1000.0)], contracts=tiers((10, 0.1)), **self.SHORT
        )
        p = solve(req)
        c = p.contracts[0]
        assert c.net_spend_usd == pytest.approx(c.spend_usd, rel=REL)
        assert c.discount_usd == pytest.approx(0.1 * (c.spend_usd - 10), rel=REL)

    def test_tiers_are_read_off_the_spend_not_off_the_binaries(self) -> None:
        # 1,000,000 MW: the last tier is as wide as the spend bound (~1e11).  Within the MIP's
        # feasibility tolerance its binary opened $0.5 of rebate that was never earned (the
        # objective said 1,000.0); the plan is now read off the LP with each tier fixed by
        # the base the purchases reach: 100 units, base 2,000, 50 % of 1,999 = 999.5.
        p = solve(request(sites=[site(power=1e6)], contracts=tiers((1, 0.5))))
        assert p.contracts[0].discount_usd == pytest.approx(999.5, rel=REL)
        assert p.objective.value == pytest.approx(2000 - 999.5, rel=1e-9)


def first_mip_says_infeasible(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the plan's first MIP answer "infeasible" (the optimality bound's LPs come before
    it and are left alone); every later solve is real."""
    import solver.planner as planner

    real = planner.solve_model
    calls: list[bool] = []

    def mip_says_infeasible(m: Built, *a: object, **k: object) -> object:
        if m.has_integers and not calls:
            calls.append(True)
            return planner.SolveOutcome("infeasible", "HiGHS: Infeasible", None, 0.0)
        return real(m, *a, **k)

    monkeypatch.setattr(planner, "solve_model", mip_says_infeasible)


def first_mip_stops_between_the_first_two_thresholds(monkeypatch: pytest.MonkeyPatch, vendor: str) -> None:
    """Make the plan's first MIP stop at one tier reached for ``vendor``, as HiGHS's did on the
    20-year case before the rows were scaled: it is solved with ``vendor``'s net spend held
    below its second threshold by a row of its own, removed afterwards; every other solve is real."""
    import solver.planner as planner
    from solver.lp import LE
    from solver.model import net_spend_terms

    real = planner.solve_model
    calls: list[bool] = []

    def mip_stops_at_one_tier(m: Built, *a: object, **k: object) -> object:
        if not m.has_integers or calls:
            return real(m, *a, **k)
        calls.append(True)
        v = m.data.vendors.index(vendor)
        second = next(c for c in m.data.req.contracts if c.vendor == vendor).discount_tiers[1].above_spend_usd
        terms, fixed = net_spend_terms(m, v)
        m.new_row("stopped_at_one_tier", (v,), terms, LE, 0.99 * second - fixed, m.data.usd_unit)
        try:
            return real(m, *a, **k)
        finally:
            m.drop_row("stopped_at_one_tier", (v,))
            m.con.pop("stopped_at_one_tier")

    monkeypatch.setattr(planner, "solve_model", mip_stops_at_one_tier)


class TestTierWalk:
    def test_a_long_plan_reaches_the_tiers_its_spend_earns(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # The 750 MW case over 80 quarters with NVIDIA take-or-pay $5B and tiers at $5B,
        # $20B, $50B (4/8/10 %).  The MIP's big-M rows (a last tier about 1e12 wide) left it
        # "optimal" between the first two thresholds, and the plan read off the fixed LP was
        # consistent with that count: 1.169e12, 3.7 times the 3.118e11 CBC finds with all
        # three tiers.  The fixed LP now walks the tier count while that lowers the cost.
        # The request pins the GB300 rack at 132 kW, the catalog's figure when the case was found
        # (and again now): at the 120 kW the catalog used in between, the MIP happens to stop at
        # the right count itself.
        # Its demand is the per-period list of rates that 25 %/year growth gave when demand was
        # taken at each period's start (growth is now a continuous curve served at its peak).
        # (HiGHS's MIP said 5.64e12, serving nothing: it threw out its LP optimum for a 1e-6
        # violation of a capacity row of ~1e10 tokens/s.  With the rows and dollar columns in
        # the solver's units the MIP finds the optimum itself (test_tier_bound.py), so here it
        # is made to stop between the first two thresholds as it did: the walk is what this
        # test is about.  The MIP runs on the model's own widths, without the optimality bound.)
        import solver.planner as planner

        monkeypatch.setattr(planner, "optimality_spend_bounds", lambda *a, **k: ({}, 0.0))
        first_mip_stops_between_the_first_two_thresholds(monkeypatch, "nvidia")
        req = json.loads((DATA / "tiers-20-years.json").read_text())
        p = solve(req)
        nvidia = next(c for c in p.contracts if c.vendor == "nvidia")
        assert nvidia.discount_tiers_reached == 3 and nvidia.net_spend_usd > 5e10
        # better than the MIP's "optimal", so not proven optimal: feasible, and said why
        assert p.status == "feasible" and p.solver.mip_gap is None
        assert any("walk over the counts improved" in w for w in p.warnings)
        assert p.objective.value is not None and p.objective.value < 3.13e11
        without = copy.deepcopy(req)
        for c in without["contracts"]:
            c.pop("discount_tiers", None)
        q = solve(without)  # tiers only credit money: never costlier than without them
        assert q.objective.value is not None and p.objective.value <= q.objective.value

    def test_a_tier_model_said_infeasible_is_solved_without_tiers_then_walked(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Over 240 monthly periods the MIP with tiers came back infeasible, though tiers only
        # credit money and the request without them is feasible.  Here the MIP is made to say
        # so: the plan starts from the solve without tiers (100 units, $10,000 of spend), fixes
        # the tiers that spend reaches (both: 300 + 300) and reports "feasible" with a warning.
        first_mip_says_infeasible(monkeypatch)
        p = solve(flat(contracts=tiers((5000, 0.1), (8000, 0.15))))
        assert p.status == "feasible"
        assert any("feasible without them" in w for w in p.warnings)
        assert not any("time limit" in w for w in p.warnings)
        assert p.contracts[0].discount_usd == pytest.approx(600, rel=REL)
        assert p.objective.value == pytest.approx(9400, rel=REL)

    def test_the_walk_tries_every_count_not_one_step(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # a: $100 with tiers 1 % above $1,000 and 50 % above $2,000; b: $95.  All from b costs
        # 9,500; one tier of a costs more (the 1 % does not pay for a's dearer units); both
        # tiers: 10,000 − (10 + 4,000) = 5,990.  From the tier-less plan (0 tiers, after a MIP
        # made to say infeasible) a one-step walk stopped at 9,500.
        hw = [hardware("ha", vendor="a"), hardware("hb", vendor="b", price=95)]
        req = flat(hardware_=hw, contracts=tiers((1000, 0.01), (2000, 0.5), vendor="a"))
        assert solve(req).objective.value == pytest.approx(5990, rel=REL)
        first_mip_says_infeasible(monkeypatch)
        p = solve(req)
        assert p.status == "feasible"
        assert p.contracts[0].discount_tiers_reached == 2
        assert p.objective.value == pytest.approx(5990, rel=REL)
