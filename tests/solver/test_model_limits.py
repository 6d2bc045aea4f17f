"""Hand-solved micro-instances for every constraint family (DESIGN.md, Constraints).

Defaults as in test_model_costs: $100 a unit (net $20 a year after residual when bought
in the last year of a 5-year life), 1 kW, 1,000 tokens/s per unit, 100,000 tokens/s
demanded, 12-month periods, so one token/s for a period is 31.536 million tokens.
"""

from __future__ import annotations

import math

import pytest

from tests.helpers.requests import fleet, hardware, request, served, site, solve, workload

REL = 1e-7
MT = 31.536  # million tokens per token/s over a year
MS = 2e-6
"""max_served stage two may give up 1e-6 of the stage-one value to save cost."""


class TestDemand:
    def test_growth_is_a_continuous_curve_served_at_its_peak(self) -> None:
        # 44 %/year over quarters: the rate is 1e5 x 1.44^y. A quarter's demand is the curve's
        # average over it, 1e5 x 1.44^(t/4) x (1.44^0.25 - 1)/(0.25 ln 1.44), and capacity meets
        # its peak, the rate at the quarter's end: 109.54k, 120k, 131.45k, 144k tokens/s.
        # 5-year life: units stay, so each quarter buys only the increment.
        p = solve(request(periods=4, period_months=3, workloads=[workload(demand_growth_per_year=0.44)]))
        avg = (1.44**0.25 - 1) / (0.25 * math.log(1.44))
        assert [x.workloads[0].demand_tokens_per_s for x in p.periods] == [
            pytest.approx(1e5 * 1.44 ** (t / 4) * avg, rel=1e-12) for t in range(4)
        ]
        peaks = [x.workloads[0].demand_peak_tokens_per_s for x in p.periods]
        assert peaks[1] == pytest.approx(1.2e5, rel=1e-12) and peaks[3] == pytest.approx(1.44e5, rel=1e-12)
        assert [fleet(p, t=t)[1] for t in range(4)] == [
            pytest.approx(1e2 * 1.44 ** ((t + 1) / 4), rel=REL) for t in range(4)
        ]
        assert fleet(p, t=3)[1] == pytest.approx(144, rel=REL)
        assert served(p, t=2) == pytest.approx(p.periods[2].workloads[0].demand_tokens_per_s, rel=REL)

    @pytest.mark.parametrize("period_months", [12, 3, 1])
    def test_the_period_length_changes_neither_the_tokens_nor_the_final_fleet(
        self, period_months: int
    ) -> None:
        # Doubling yearly over 2 years: 1e5 -> 4e5 tokens/s. Whatever the period, the plan holds
        # the curve's tokens, 1e5 x (4 - 1)/ln 2 token/s-years, and ends with the 400 units its
        # last moment needs (demand taken at each period's start gave 200, 368 and 378 units).
        n = 24 // period_months
        wl = workload(demand_growth_per_year=1.0)
        p = solve(request(periods=n, period_months=period_months, workloads=[wl]))
        assert p.summary.demand_million_tokens == pytest.approx(1e5 * 3 / math.log(2) * MT, rel=1e-9)
        assert fleet(p, t=n - 1)[1] == pytest.approx(400, rel=REL)
        assert p.summary.served_fraction == pytest.approx(1.0, rel=REL)

    def test_declining_demand_peaks_at_each_period_start(self) -> None:
        # Halving yearly, annual periods: capacity for 1e5 then 5e4 tokens/s (units stay,
        # so 100 units throughout); tokens are the averages 1e5 x 0.5^t x 0.5/ln 2.
        p = solve(request(periods=2, workloads=[workload(demand_growth_per_year=-0.5)]))
        assert [x.workloads[0].demand_peak_tokens_per_s for x in p.periods] == [
            pytest.approx(1e5, rel=1e-12),
            pytest.approx(5e4, rel=1e-12),
        ]
        assert p.periods[1].workloads[0].demand_tokens_per_s == pytest.approx(
            5e4 * 0.5 / math.log(2), rel=1e-12
        )
        assert fleet(p, t=0)[1] == pytest.approx(100, rel=REL)

    @pytest.mark.parametrize("g", [1e-17, -1e-17, 5e-324, 1e-12])
    def test_growth_too_small_to_see_is_no_growth(self, g: float) -> None:
        # 1 + 1e-17 == 1 in floating point: the period's growth factor minus 1 was 0, and the
        # average over the period divided by it (a ZeroDivisionError, a 500 in the service).
        # Growth of 1e-12 a year moves the demand by 1e-13 over a quarter: still 100 units.
        p = solve(request(periods=4, period_months=3, workloads=[workload(demand_growth_per_year=g)]))
        assert p.status == "optimal"
        for x in p.periods:
            w = x.workloads[0]
            assert w.demand_tokens_per_s == pytest.approx(1e5, rel=1e-11)
            assert w.demand_peak_tokens_per_s == pytest.approx(1e5, rel=1e-11)
        assert fleet(p, t=3)[1] == pytest.approx(100, rel=REL)

    def test_a_demand_list_is_flat_within_each_period(self) -> None:
        p = solve(request(periods=2, workloads=[workload(demand=[1e5, 3e5])]))
        assert [x.workloads[0].demand_peak_tokens_per_s for x in p.periods] == [1e5, 3e5]
        assert fleet(p, t=1)[1] == pytest.approx(300, rel=REL)

    def test_zero_demand_needs_nothing(self) -> None:
        p = solve(request(workloads=[workload(demand=0)]))
        assert p.objective.value == 0 and p.summary.units_acquired == {}
        assert p.summary.served_fraction == 1.0 and p.summary.cost_per_million_tokens_usd is None


class TestReserveMargin:
    def test_reserve_margin_adds_capacity(self) -> None:
        # capacity >= 1.25 x served: 125 units -> $2,500; capacity 125,000 tokens/s.
        p = solve(request(policy={"reserve_margin": 0.25}))
        assert fleet(p)[1] == pytest.approx(125, rel=REL)
        assert p.periods[0].workloads[0].capacity_tokens_per_s == pytest.approx(125_000, rel=REL)
        assert p.objective.value == pytest.approx(2500, rel=REL)


class TestMinService:
    # One unit costs $20 a year and serves 1,000 tokens/s = 31,536 M tokens: $6.342e-4 per M.

    def test_penalty_above_unit_cost_serves_everything(self) -> None:
        p = solve(
            request(workloads=[workload(min_service_fraction=0.5, unmet_penalty_usd_per_million_tokens=1e-3)])
        )
        assert served(p) == pytest.approx(1e5, rel=REL)
        assert p.objective.value == pytest.approx(2000, rel=REL)

    def test_penalty_below_unit_cost_serves_the_minimum(self) -> None:
        # Serve 50 %: 50 units ($1,000) + penalty on 50,000 tokens/s = 1,576,800 M x 1e-4.
        p = solve(
            request(workloads=[workload(min_service_fraction=0.5, unmet_penalty_usd_per_million_tokens=1e-4)])
        )
        assert served(p) == pytest.approx(5e4, rel=REL)
        assert p.periods[0].workloads[0].unmet_tokens_per_s == pytest.approx(5e4, rel=REL)
        assert p.summary.npv_cost_usd == pytest.approx(1000, rel=REL)
        assert p.summary.served_fraction == pytest.approx(0.5, rel=REL)
        assert p.objective.value == pytest.approx(1000 + 5e4 * MT * 1e-4, rel=REL)
        assert "min_service w 2026-01" in p.binding

    def test_penalty_is_discounted(self) -> None:
        # Two years, r = 10 %, 1-year life, msf 0 and a penalty below the unit cost:
        # nothing served; penalty 1e5 x 31.536 x 1e-4 = 315.36 a year, 2nd year / 1.1.
        p = solve(
            request(
                periods=2,
                hardware_=[hardware(life=1)],
                workloads=[workload(min_service_fraction=0, unmet_penalty_usd_per_million_tokens=1e-4)],
                economics={"discount_rate": 0.1},
            )
        )
        assert served(p, 0) == 0 and served(p, 1) == 0
        assert p.objective.value == pytest.approx(315.36 * (1 + 1 / 1.1), rel=REL)


class TestPower:
    def test_power_limit_per_period_list(self) -> None:
        # max_served: 0.1 MW then 0.05 MW, 1-year life -> 100 then 50 units;
        # served 150,000 token-years = 4,730,400 M; cost 100 x 100 + 50 x 100 = $15,000.
        p = solve(
            request(
                periods=2,
                sites=[site(power=[0.1, 0.05])],
                hardware_=[hardware(life=1)],
                workloads=[workload(min_service_fraction=0)],
                objective={"kind": "max_served"},
            )
        )
        assert [served(p, t) for t in range(2)] == [pytest.approx(1e5, abs=MS * 1.5e5)] + [
            pytest.approx(5e4, abs=MS * 1.5e5)
        ]
        assert p.objective.value == pytest.approx(1.5e5 * MT, rel=REL)
        assert p.summary.npv_cost_usd == pytest.approx(15_000, rel=MS)
        # (2027-01 binds at the stage-one optimum; stage two may leave it 1e-6 short.)
        assert "power s 2026-01" in p.binding
        assert p.summary.peak_power_mw == {"s": pytest.approx(0.1, rel=REL)}

    def test_power_split_over_sites(self) -> None:
        # Site a (0.03 MW) and b (1 MW, dearer energy): a takes 30 units, b the other 70.
        sites = [site("a", power=0.03, energy_usd_per_mwh=10), site("b", power=1, energy_usd_per_mwh=20)]
        p = solve(request(sites=sites))
        assert fleet(p, site_id="a")[1] == pytest.approx(30, rel=REL)
        assert fleet(p, site_id="b")[1] == pytest.approx(70, rel=REL)
        # energy: 30 kW x 8,760 h x $10/MWh + 70 kW x 8,760 h x $20/MWh
        assert p.objective.value == pytest.approx(2000 + 0.03 * 8760 * 10 + 0.07 * 8760 * 20, rel=REL)


class TestExpansion:
    EXP = {"max_mw": 1.0, "usd_per_mw": 1000.0, "lead_time_periods": 1, "lifetime_years": 20}

    def test_expansion_online_after_its_lead_time(self) -> None:
        # 0.05 MW site, demand 50k then 100k tokens/s.  t=1 needs 0.1 MW: start 0.05 MW
        # in t=0 ($50, residual 1 - (2-0-1)/20 = 0.95 -> net $2.5).  Hardware: 50 units in
        # t=0 (net $40 each) and 50 in t=1 (net $20 each) = $3,000.
        p = solve(
            request(
                periods=2,
                sites=[site(power=0.05, expansion=self.EXP)],
                workloads=[workload(demand=[5e4, 1e5])],
            )
        )
        assert [x.sites[0].expansion_started_mw for x in p.periods] == [pytest.approx(0.05, rel=REL), 0]
        assert [x.sites[0].power_available_mw for x in p.periods] == [
            pytest.approx(0.05, rel=REL),
            pytest.approx(0.1, rel=REL),
        ]
        assert p.summary.residual_value_usd == pytest.approx(47.5 + 50 * 60 + 50 * 80, rel=REL)
        assert p.periods[0].capex_breakdown["expansion"] == pytest.approx(50, rel=REL)
        assert p.objective.value == pytest.approx(3002.5, rel=REL)

    def test_expansion_cannot_help_before_it_is_online(self) -> None:
        p = solve(request(periods=2, sites=[site(power=0.05, expansion=self.EXP)]))
        assert p.status == "infeasible"

    def test_max_mw(self) -> None:
        # max_served with 0.05 MW + at most 0.03 MW expansion (lead 0): 80 units serve 80k.
        ex = dict(self.EXP, max_mw=0.03, lead_time_periods=0)
        p = solve(
            request(
                sites=[site(power=0.05, expansion=ex)],
                workloads=[workload(min_service_fraction=0)],
                objective={"kind": "max_served"},
            )
        )
        assert served(p) == pytest.approx(8e4, rel=MS)
        assert p.objective.value == pytest.approx(8e4 * MT, rel=REL)
        assert "expansion s" in p.binding
        # cost: 80 units net $20 + 0.03 MW x $1000 less residual 1 - 1/20 = 0.95.
        assert p.summary.npv_cost_usd == pytest.approx(1600 + 30 * 0.05, rel=MS)


class TestSupply:
    def test_supply_per_period(self) -> None:
        # Demand 50k then 100k; 5-year life.  Free choice: 50 in t=0, 50 in t=1 ($3,000).
        # Supply [100, 30]: 70 in t=0 (net $40) + 30 in t=1 (net $20) = $3,400.
        free = solve(request(periods=2, workloads=[workload(demand=[5e4, 1e5])]))
        assert free.objective.value == pytest.approx(3000, rel=REL)
        p = solve(
            request(
                periods=2,
                hardware_=[hardware(max_units_per_period=[100, 30])],
                workloads=[workload(demand=[5e4, 1e5])],
            )
        )
        assert [fleet(p, t=t)[0] for t in range(2)] == [
            pytest.approx(70, rel=REL),
            pytest.approx(30, rel=REL),
        ]
        assert p.objective.value == pytest.approx(3400, rel=REL)
        assert "supply h 2027-01" in p.binding

    def test_supply_shared_by_sites(self) -> None:
        # 60 units a period in all, whichever site: 100 needed -> infeasible.
        sites = [site("a"), site("b")]
        p = solve(request(sites=sites, hardware_=[hardware(max_units_per_period=60)]))
        assert p.status == "infeasible"


def _buy_or_lease() -> list[dict]:
    # "buy": $100, 5-year life -> net $20 in a 1-year plan.  "lease": 1-year term at $30 a
    # year ($30/8760 an hour, no capex).
    return [hardware("buy"), hardware("lease", price=0, life=1, recurring_usd_per_unit_hour=30 / 8760)]


class TestBudget:
    def test_total_budget(self) -> None:
        # Unconstrained: 100 bought ($2,000).  $6,000 of capex: 60 bought, 40 leased:
        # 60 x 20 + 40 x 30 = $2,400.
        assert solve(request(hardware_=_buy_or_lease())).objective.value == pytest.approx(2000, rel=REL)
        p = solve(request(hardware_=_buy_or_lease(), budget={"capex_usd": 6000}))
        assert fleet(p, hw="buy")[1] == pytest.approx(60, rel=REL)
        assert fleet(p, hw="lease")[1] == pytest.approx(40, rel=REL)
        assert p.summary.capex_usd == pytest.approx(6000, rel=REL)
        assert p.objective.value == pytest.approx(2400, rel=REL)
        assert "budget" in p.binding

    def test_budget_too_small_for_min_service(self) -> None:
        p = solve(request(budget={"capex_usd": 9000}))
        assert p.status == "infeasible"

    def test_per_period_budget(self) -> None:
        # Two years.  Unconstrained: 100 bought in t=0 (net $40 each over 2 years) = $4,000.
        # capex [6000, no limit]: 60 bought in t=0 ($2,400), 40 leased in t=0 ($1,200), 40
        # bought in t=1 (net $20 -> $800): $4,400.
        free = solve(request(periods=2, hardware_=_buy_or_lease()))
        assert free.objective.value == pytest.approx(4000, rel=REL)
        p = solve(request(periods=2, hardware_=_buy_or_lease(), budget={"capex_per_period_usd": [6000, 1e9]}))
        assert [fleet(p, t=t, hw="buy")[0] for t in range(2)] == [
            pytest.approx(60, rel=REL),
            pytest.approx(40, rel=REL),
        ]
        assert fleet(p, t=0, hw="lease")[0] == pytest.approx(40, rel=REL)
        assert p.periods[0].capex_usd == pytest.approx(6000, rel=REL)
        assert p.objective.value == pytest.approx(4400, rel=REL)
        assert "budget 2026-01" in p.binding


class TestTotalBudget:
    """budget.total_usd caps nominal capex + opex (+ shortfall); the capex budget sees capex only."""

    def test_fees_count_against_the_total_not_the_capex_budget(self) -> None:
        # One year.  "buy" $100 (5-year life: net $20); "lease" $30 a year, no capex.  A
        # $6,000 capex budget alone: 60 bought + 40 leased ($1,200 of fees outside it).  A
        # total of $6,000 as well: 100·x + 30·(100 − x) <= 6000 -> x = 300/7 bought, the rest
        # leased: spend exactly $6,000.
        both = {"capex_usd": 6000, "total_usd": 6000}
        capex_only = solve(request(hardware_=_buy_or_lease(), budget={"capex_usd": 6000}))
        assert capex_only.summary.capex_usd + capex_only.summary.opex_usd == pytest.approx(7200, rel=REL)
        p = solve(request(hardware_=_buy_or_lease(), budget=both))
        x = 3000 / 70
        assert fleet(p, hw="buy")[0] == pytest.approx(x, rel=REL)
        assert fleet(p, hw="lease")[1] == pytest.approx(100 - x, rel=REL)
        assert p.summary.capex_usd + p.summary.opex_usd == pytest.approx(6000, rel=REL)
        assert p.objective.value == pytest.approx(20 * x + 30 * (100 - x), rel=REL)
        assert p.binding == ["total_budget"]

    def test_energy_and_the_existing_fleets_opex_count(self) -> None:
        # 40 existing units and 60 bought ($6,000); each of the 100 draws 1 kW for 8,760 h at
        # $1/MWh: $8.76 a unit, $876 of energy, the existing fleet's included.  Total spend
        # $6,876: a total budget of $6,876 holds, $6,875 does not.
        req = request(
            sites=[site(energy_usd_per_mwh=1.0, existing=[{"hardware": "h", "units": 40}])],
            budget={"total_usd": 6876},
        )
        p = solve(req)
        assert p.summary.opex_usd == pytest.approx(876, rel=REL)
        assert p.summary.capex_usd == pytest.approx(6000, rel=REL)
        req["budget"]["total_usd"] = 6875
        assert solve(req).status == "infeasible"

    def test_take_or_pay_shortfall_counts(self) -> None:
        # $10,000 of purchases against a $12,000 commitment: a $2,000 shortfall paid at the end
        # (no residual value, 10 % discounting: paying it a year later beats 20 idle units).
        top = {"contracts": [{"vendor": "v", "min_spend_usd": 12_000}]}
        top["economics"] = {"discount_rate": 0.1, "residual_value": False}
        ok = solve(request(budget={"total_usd": 12_000}, **top))
        assert ok.status == "optimal" and ok.summary.contract_shortfall_usd == pytest.approx(2000, rel=REL)
        assert solve(request(budget={"total_usd": 11_999}, **top)).status == "infeasible"

    def test_per_period_total(self) -> None:
        # Two years, "buy" (5-year life) or lease ($30 a year).  Unconstrained: 100 bought in
        # t=0 ($10,000 then, nothing in t=1).  $7,000 a period: 100·x + 30·(100 − x) <= 7000 ->
        # x = 400/7 bought in t=0; t=1 leases or buys the rest within its own $7,000.
        budget = {"total_per_period_usd": [7000, 7000]}
        p = solve(request(periods=2, hardware_=_buy_or_lease(), budget=budget))
        assert fleet(p, t=0, hw="buy")[0] == pytest.approx(4000 / 70, rel=REL)
        assert p.periods[0].capex_usd + p.periods[0].opex_usd == pytest.approx(7000, rel=REL)
        assert "total_budget 2026-01" in p.binding


class TestVendorShare:
    # Vendor a: $100 (net $20); vendor b: $150 (net $30); same 1 kW.
    HW = [hardware("ha", vendor="a"), hardware("hb", vendor="b", price=150)]

    def test_max_share(self) -> None:
        # a at most 70 % of IT power: 70 a + 30 b = 1,400 + 900.
        p = solve(request(hardware_=self.HW, policy={"max_vendor_share": {"a": 0.7}}))
        assert fleet(p, hw="ha")[1] == pytest.approx(70, rel=REL)
        assert p.summary.it_power_share_by_vendor == {
            "a": pytest.approx(0.7, rel=REL),
            "b": pytest.approx(0.3, rel=REL),
        }
        assert p.objective.value == pytest.approx(2300, rel=REL)
        assert "vendor_share max a 2026-01" in p.binding

    def test_min_share(self) -> None:
        # b at least 40 %: 60 a + 40 b = 1,200 + 1,200.
        p = solve(request(hardware_=self.HW, policy={"min_vendor_share": {"b": 0.4}}))
        assert fleet(p, hw="hb")[1] == pytest.approx(40, rel=REL)
        assert p.objective.value == pytest.approx(2400, rel=REL)

    def test_share_counts_it_power_not_units(self) -> None:
        # a draws 2 kW a unit: 2 x_a <= 0.5 (2 x_a + x_b) -> x_a <= x_b / 2, x_a + x_b = 100:
        # 33.33 a + 66.67 b = 666.67 + 2,000.
        hws = [hardware("ha", vendor="a", kw=2), hardware("hb", vendor="b", price=150)]
        p = solve(request(hardware_=hws, policy={"max_vendor_share": {"a": 0.5}}))
        assert fleet(p, hw="ha")[1] == pytest.approx(100 / 3, rel=REL)
        assert p.objective.value == pytest.approx(20 * 100 / 3 + 30 * 200 / 3, rel=REL)

    def test_share_holds_every_period(self) -> None:
        # Two years, 1-year life, max share of a 0.7 in both: 70 a + 30 b each year.
        hws = [hardware("ha", vendor="a", life=1), hardware("hb", vendor="b", price=150, life=1)]
        p = solve(request(periods=2, hardware_=hws, policy={"max_vendor_share": {"a": 0.7}}))
        assert [fleet(p, t=t, hw="ha")[1] for t in range(2)] == [pytest.approx(70, rel=REL)] * 2
        assert p.objective.value == pytest.approx(2 * (70 * 100 + 30 * 150), rel=REL)

    def test_a_period_with_only_existing_units_holds_the_share_too(self) -> None:
        # 100 existing a units (1 kW each) and b arriving only after a 1-year lead: in 2026 a
        # holds 100 % of the IT power, nothing can move it, and the plan must say it breaks the
        # 70 % cap (by 100 - 0.7 x 100 = 30 kW), not solve as if the cap were not there.
        hws = [
            hardware("ha", vendor="a", lead_time_periods=1),
            hardware("hb", vendor="b", lead_time_periods=1),
        ]
        s = site(existing=[{"hardware": "ha", "units": 100}])
        req = request(periods=2, sites=[s], hardware_=hws, policy={"max_vendor_share": {"a": 0.7}})
        p = solve(req)
        assert p.status == "infeasible"
        assert [(d.limit, d.vendor, d.period, d.amount) for d in p.diagnosis] == [
            ("vendor_share", "a", "2026-01", pytest.approx(30, rel=REL))
        ]
        # at 100 % allowed the same request solves: b is not needed, the a units serve both years
        p = solve({**req, "policy": {"max_vendor_share": {"a": 1.0}}})
        assert p.status == "optimal" and p.objective.value == pytest.approx(0, abs=1e-9)
