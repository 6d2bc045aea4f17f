"""Hand-solved micro-instances for the fleet: lead times, lifetimes, the existing fleet
and throughput curves (DESIGN.md, Throughput / Fleet).  Defaults as in test_model_costs:
$100 a unit, 1,000 tokens/s per unit, 100,000 tokens/s demanded, 12-month periods."""

from __future__ import annotations

from typing import Any

import pytest

from solver import RequestInvalid, parse_request
from solver.catalog import catalog_hardware
from solver.model import build_model, count_variables, prepare
from solver.schema import PlanRequest
from tests.helpers.recompute import PlanMismatch, check_plan
from tests.helpers.requests import Json, fleet, hardware, request, served, site, solve, workload

REL = 1e-7


class TestLeadTimes:
    def test_units_arrive_lead_periods_later(self) -> None:
        # Lead 1: bought in t=0, installed from t=1.  Residual 1 - (2 - 0 - 1)/5 = 0.8.
        p = solve(
            request(
                periods=2, hardware_=[hardware(lead_time_periods=1)], workloads=[workload(demand=[0, 1e5])]
            )
        )
        assert fleet(p, t=0)[:2] == (pytest.approx(100, rel=REL), 0)
        assert fleet(p, t=1)[:2] == (0, pytest.approx(100, rel=REL))
        assert p.objective.value == pytest.approx(2000, rel=REL)

    def test_demand_before_the_first_arrival_is_infeasible(self) -> None:
        p = solve(
            request(periods=2, hardware_=[hardware(lead_time_periods=1)], workloads=[workload(demand=1e5)])
        )
        assert p.status == "infeasible"
        # the plan says why before any diagnosis: nothing can be installed before 2027-01
        assert any("nothing that can serve it is installed before 2027-01" in w for w in p.warnings)
        # and only serving less helps: the whole first-quarter demand
        assert [(d.option, d.limit, d.period, d.amount) for d in p.diagnosis] == [
            ("reduce_service", "min_service", "2026-01", pytest.approx(1e5, rel=REL))
        ]

    def test_no_lead_time_warning_when_an_existing_fleet_serves_the_first_period(self) -> None:
        p = solve(
            request(
                periods=2,
                sites=[site(existing=[{"hardware": "h", "units": 100}])],
                hardware_=[hardware(lead_time_periods=1)],
                workloads=[workload(demand=1e5)],
            )
        )
        assert p.status == "optimal"
        assert not any("installed before" in w for w in p.warnings)

    def test_no_purchase_arriving_past_the_horizon(self) -> None:
        # 3 periods, lead 2: only t=0 purchases arrive in time.  A purchase in t=2 would
        # arrive in t=4 and be credited 1 - (3 - 2 - 2)/5 = 1.2x its price as residual,
        # an unbounded "profit"; the model must not offer it.  Optimum: 100 bought in t=0,
        # residual 1 - 1/5 = 0.8 -> $2,000.
        p = solve(
            request(
                periods=3, hardware_=[hardware(lead_time_periods=2)], workloads=[workload(demand=[0, 0, 1e5])]
            )
        )
        assert p.status == "optimal"
        assert [fleet(p, t=t)[0] for t in range(3)] == [pytest.approx(100, rel=REL), 0, 0]
        assert p.objective.value == pytest.approx(2000, rel=REL)

    def test_lead_past_the_horizon_warns(self) -> None:
        p = solve(
            request(
                periods=2,
                hardware_=[hardware("late", lead_time_periods=2), hardware("now", price=200)],
            )
        )
        assert any("late" in w and "horizon" in w for w in p.warnings)
        assert fleet(p, hw="now")[0] == pytest.approx(100, rel=REL)

    def test_check_plan_rejects_a_late_arrival(self) -> None:
        req = request(
            periods=2, hardware_=[hardware(lead_time_periods=1)], workloads=[workload(demand=[0, 1e5])]
        )
        p = solve(req)
        bad = p.model_copy(deep=True)
        bad.periods[1].fleet[0].acquired = 5.0  # bought in the last period, lead 1
        with pytest.raises(PlanMismatch, match="arriving after the horizon"):
            check_plan(req, bad)


class TestLifetimes:
    def test_retirement_forces_replacement(self) -> None:
        # 1-year life: units bought in t=0 retire after t=0; 100 more in t=1.  No
        # residual (1 - 2/1 < 0 and 1 - 1/1 = 0): $20,000.
        p = solve(request(periods=2, hardware_=[hardware(life=1)]))
        assert [fleet(p, t=t)[0] for t in range(2)] == [pytest.approx(100, rel=REL)] * 2
        assert [fleet(p, t=t)[1] for t in range(2)] == [pytest.approx(100, rel=REL)] * 2
        assert p.objective.value == pytest.approx(20_000, rel=REL)

    @pytest.mark.parametrize(
        ("life", "cost"),
        [
            (1.5, 10_000),  # ceil(1.5) = 2 periods: serves both, residual 1 - 2/2 = 0
            (2.5, 10_000 - 10_000 / 3),  # ceil(2.5) = 3 periods: residual 1 - 2/3
            (0.5, 20_000),  # max(1, ceil(0.5)) = 1 period: replaced in t=1
        ],
    )
    def test_life_in_whole_periods(self, life: float, cost: float) -> None:
        p = solve(request(periods=2, hardware_=[hardware(life=life)]))
        assert p.objective.value == pytest.approx(cost, rel=REL)

    def test_quarterly_life_rounds_up(self) -> None:
        # 0.6 years of 3-month periods = 2.4 -> 3 quarters; 4 quarters of demand:
        # bought in t=0 (3 quarters) and t=3 (residual 1 - 1/3 = 2/3): 10,000 + 3,333.33.
        p = solve(request(periods=4, period_months=3, hardware_=[hardware(life=0.6)]))
        assert [fleet(p, t=t)[0] for t in range(4)] == [
            pytest.approx(100, rel=REL),
            0,
            0,
            pytest.approx(100, rel=REL),
        ]
        assert p.objective.value == pytest.approx(10_000 + 10_000 / 3, rel=REL)


class TestExistingFleet:
    def test_existing_with_remaining_life(self) -> None:
        # 60 existing units alive for 1 year.  New units net $40 if bought in t=0
        # (residual 0.6), $20 in t=1 (residual 0.8): buy 40 in t=0, 60 in t=1 -> $2,800.
        # Maintenance 10 %/year on every installed unit, existing ones included: 2 x $1,000.
        s = site(existing=[{"hardware": "h", "units": 60, "remaining_life_years": 1}])
        p = solve(request(periods=2, sites=[s], hardware_=[hardware(maintenance_fraction_per_year=0.1)]))
        rows = [p.periods[t].fleet[0] for t in range(2)]
        assert [r.existing for r in rows] == [60, 0]
        assert [r.acquired for r in rows] == [pytest.approx(40, rel=REL), pytest.approx(60, rel=REL)]
        assert [r.installed for r in rows] == [pytest.approx(100, rel=REL)] * 2
        assert p.objective.value == pytest.approx(2800 + 2000, rel=REL)

    def test_remaining_life_defaults_to_lifetime(self) -> None:
        # 100 existing units with a 5-year life cover both years: nothing to buy, cost 0.
        s = site(existing=[{"hardware": "h", "units": 100}])
        p = solve(request(periods=2, sites=[s]))
        assert p.summary.units_acquired == {}
        assert p.objective.value == pytest.approx(0, abs=1e-9)

    def test_existing_fleet_uses_power(self) -> None:
        # 100 existing units fill the 0.1 MW site: no room for the 50 more units needed.
        s = site(power=0.1, existing=[{"hardware": "h", "units": 100}])
        p = solve(request(sites=[s], workloads=[workload(demand=1.5e5)]))
        assert p.status == "infeasible"


class TestExistingNotAllowed:
    def test_draws_power_and_costs_but_serves_nothing(self) -> None:
        # 1,000 existing g (1 kW, $100, 10 %/yr maintenance) at a site that allows only h.
        # h serves the 100,000 tokens/s with 100 units: $10,000 - $8,000 residual = $2,000.
        # The g fleet costs 1,000 x $100 x 0.1 = $10,000 of maintenance, draws 1 MW, and
        # serves nothing.  Objective $12,000; with 0.05 MW of power the site is infeasible
        # (g alone needs 1 MW).
        hws = [hardware("h"), hardware("g", maintenance_fraction_per_year=0.1)]
        s = site(allowed_hardware=["h"], existing=[{"hardware": "g", "units": 1000}])
        p = solve(request(sites=[s], hardware_=hws))
        assert p.objective.value == pytest.approx(12_000, rel=REL)
        g = next(f for f in p.periods[0].fleet if f.hardware == "g")
        assert (g.installed, g.acquired, g.allocated) == (1000, 0, {})
        assert p.periods[0].sites[0].power_used_mw == pytest.approx(1.0 + 0.1, rel=REL)
        tight = solve(request(sites=[{**s, "power_mw": 0.5}], hardware_=hws))
        assert tight.status == "infeasible"


class TestExistingFromTheCatalog:
    """An existing fleet of a catalog id that hardware[] does not list: the entry's figures,
    never bought.  Figures from the catalog's nvidia-h100-8x (read below; today $270,000,
    10.2 kW, 10 %/yr maintenance, 5-year life, llama-70b at 5 tokens/s per user 30,550.7
    tokens/s per unit) and a purchasable g ($100, 1 kW, 1,000 tokens/s per unit, no
    maintenance).  One 12-month period, discount rate 0, load factor 1."""

    H100 = catalog_hardware("nvidia-h100-8x") or {}
    PRICE, KW, MAINT = H100["unit_price_usd"], H100["it_power_kw"], H100["maintenance_fraction_per_year"]
    TPUT = next(
        p["tokens_per_s_per_unit"]
        for p in H100["performance"]["llama-70b"]["points"]
        if p["tokens_per_s_per_user"] == 5
    )
    HOURS = 8760.0

    def req(
        self,
        demand: float,
        *,
        price: float = 100.0,
        remaining_life: float | None = None,
        site_extra: Json | None = None,
        **top: Any,
    ) -> Json:
        """10 existing H100s at site s, g offered, one workload w of llama-70b at 5 tokens/s per user."""
        e: Json = {"hardware": "nvidia-h100-8x", "units": 10}
        if remaining_life is not None:
            e["remaining_life_years"] = remaining_life
        g = hardware("g", price=price, model="llama-70b", points=((5.0, 1000.0),))
        wl = workload(model="llama-70b", speed=5.0, demand=demand)
        return request(sites=[site(existing=[e], **(site_extra or {}))], hardware_=[g], workloads=[wl], **top)

    def test_it_serves_part_of_the_demand_at_its_catalog_opex(self) -> None:
        # 10 H100s serve 305,507 tokens/s; the other 50,000 need 50 g.  PUE 1.25, $60/MWh:
        #   H100 maintenance 10 x $270,000 x 0.1                = $270,000
        #   H100 energy 10 x 10.2 kW / 1000 x 1.25 x 8,760 h x $60 = $67,014
        #   g: 50 x $100 capex, $4,000 of it back as residual (1 - 1/5)
        #   g energy 50 x 1 kW / 1000 x 1.25 x 8,760 h x $60       = $32,850
        # NPV 270,000 + 67,014 + 5,000 + 32,850 - 4,000 = $370,864.
        demand = 10 * self.TPUT + 50_000
        p = solve(self.req(demand, site_extra={"pue": 1.25, "energy_usd_per_mwh": 60}))
        assert p.status == "optimal"
        h100 = next(f for f in p.periods[0].fleet if f.hardware == "nvidia-h100-8x")
        assert (h100.acquired, h100.existing, h100.installed) == (0, 10, 10)
        assert h100.allocated == {"w": pytest.approx(10, rel=REL)}
        assert fleet(p, hw="g")[:2] == (pytest.approx(50, rel=REL), pytest.approx(50, rel=REL))
        maint = 10 * self.PRICE * self.MAINT
        energy_h100 = 10 * self.KW / 1000 * 1.25 * self.HOURS * 60
        energy_g = 50 * 1 / 1000 * 1.25 * self.HOURS * 60
        assert (maint, round(energy_h100, 6), round(energy_g, 6)) == (
            270_000,
            67_014,
            32_850,
        )  # today's catalog
        per = p.periods[0]
        assert per.opex_breakdown["maintenance"] == pytest.approx(maint, rel=REL)
        assert per.opex_breakdown["energy"] == pytest.approx(energy_h100 + energy_g, rel=REL)
        assert per.capex_usd == pytest.approx(5_000, rel=REL)
        assert p.summary.residual_value_usd == pytest.approx(4_000, rel=REL)  # g's only
        assert p.summary.npv_cost_usd == pytest.approx(maint + energy_h100 + energy_g + 1_000, rel=REL)
        assert p.summary.units_acquired == {"g": pytest.approx(50, rel=REL)}  # as for any unbought hardware
        assert per.sites[0].power_used_mw == pytest.approx((10 * self.KW + 50) * 1.25 / 1000, rel=REL)
        assert p.idle_purchases == []

    def test_never_bought_even_when_it_would_be_cheapest(self) -> None:
        # 11 H100s' worth of demand and g at $1M per 1,000 tokens/s: one more H100 would cost
        # $270,000 x 0.2 net, but it is not for sale.  30.5507 g at $1M x 0.2 net = $6,110,140,
        # plus the 10 H100s' maintenance $270,000.
        req = self.req(11 * self.TPUT, price=1e6)
        p = solve(req)
        assert fleet(p, hw="nvidia-h100-8x")[:2] == (0, 10)
        assert fleet(p, hw="g")[0] == pytest.approx(self.TPUT / 1000, rel=REL)
        assert p.objective.value == pytest.approx(self.TPUT / 1000 * 2e5 + 270_000, rel=REL)
        # the model holds no purchase column of it, so no supply row, price or lease either
        m = build_model(prepare(parse_request(req)))
        assert [k[1] for k in m.var["buy"]] == [0]  # g's, the only one
        assert "supply" not in m.con and count_variables(m.data) == m.lp.num_cols
        assert p.shadow_prices is not None and p.shadow_prices.supply_per_unit == []
        # the same fleet listed in hardware[] (purchasable, no lead time) buys one H100 instead:
        # $54,000 net + 11 x $27,000 of maintenance
        listed = {
            **req,
            "hardware": [*req["hardware"], {"catalog": "nvidia-h100-8x", "lead_time_periods": 0}],
        }
        q = solve(listed)
        assert fleet(q, hw="nvidia-h100-8x")[:2] == (pytest.approx(1, rel=REL), pytest.approx(11, rel=REL))
        assert q.objective.value == pytest.approx(self.PRICE * 0.2 + 11 * self.PRICE * self.MAINT, rel=REL)

    def test_it_retires_per_remaining_life(self) -> None:
        # 1 year left of 2: g replaces all of it in 2027, 305.507 units at $100 x 0.2 net.
        p = solve(self.req(10 * self.TPUT, remaining_life=1, periods=2))
        assert [fleet(p, t=t, hw="nvidia-h100-8x") for t in range(2)] == [
            (0, 10, pytest.approx(10)),
            (0, 0, 0),
        ]
        assert [fleet(p, t=t, hw="g")[0] for t in range(2)] == [
            0,
            pytest.approx(10 * self.TPUT / 1000, rel=REL),
        ]
        assert p.objective.value == pytest.approx(10 * self.TPUT / 1000 * 20 + 270_000, rel=REL)

    def test_a_shortfall_is_diagnosed_as_service_not_as_supply(self) -> None:
        # nothing else serves llama-70b at 5 tokens/s per user (g serves another model): 400,000
        # demanded, 305,507 served by the 10 H100s, and only serving less helps.
        req = self.req(400_000)
        req["hardware"][0]["performance"] = {"m": req["hardware"][0]["performance"]["llama-70b"]}
        p = solve(req)
        assert p.status == "infeasible"
        assert [(d.option, d.limit, d.amount) for d in p.diagnosis] == [
            ("reduce_service", "min_service", pytest.approx(400_000 - 10 * self.TPUT, rel=REL))
        ]

    def test_it_counts_in_the_vendor_share(self) -> None:
        # nvidia at most half the IT power: the 10 H100s' 102 kW need 102 kW of g beside them,
        # 102 units bought to stand idle (the H100s serve all), $20 net each.
        p = solve(self.req(10 * self.TPUT, policy={"max_vendor_share": {"nvidia": 0.5}}))
        assert fleet(p, hw="g")[:3] == (
            pytest.approx(10 * self.KW, rel=REL),
            pytest.approx(10 * self.KW, rel=REL),
            0,
        )
        assert p.objective.value == pytest.approx(270_000 + 10 * self.KW * 20, rel=REL)
        assert p.summary.it_power_share_by_vendor == {"nvidia": pytest.approx(0.5), "v": pytest.approx(0.5)}
        [idle] = p.idle_purchases
        assert (idle.hardware, idle.causes) == ("g", ["vendor_max nvidia"])

    def test_a_commitment_to_its_vendor_can_only_be_paid_as_a_shortfall(self) -> None:
        # nothing of nvidia can be bought and the H100s pay no fee: the $100,000 is all shortfall
        p = solve(self.req(10 * self.TPUT, contracts=[{"vendor": "nvidia", "min_spend_usd": 1e5}]))
        [c] = p.contracts
        assert (c.spend_usd, c.shortfall_usd) == (0, pytest.approx(1e5, rel=REL))
        assert p.objective.value == pytest.approx(270_000 + 1e5, rel=REL)

    def test_the_plan_says_where_its_figures_come_from(self) -> None:
        p = solve(self.req(10 * self.TPUT))
        [note] = [w for w in p.warnings if "nvidia-h100-8x" in w]
        assert "existing-only, with the default catalog's figures" in note
        assert "site 's'" in note and "none are bought" in note

    def test_check_plan_refuses_a_purchase_of_it(self) -> None:
        req = self.req(10 * self.TPUT)
        p = solve(req)
        bad = p.model_copy(deep=True)
        row = next(f for f in bad.periods[0].fleet if f.hardware == "nvidia-h100-8x")
        row.acquired = 1.0
        with pytest.raises(PlanMismatch, match="existing-only hardware bought"):
            check_plan(req, bad)


class TestExistingOnlyGiven:
    def test_an_inline_item_may_say_it_and_its_purchase_terms_are_named(self) -> None:
        # 100 existing h serve the demand; h cannot be bought, so its supply and lead time mean
        # nothing, and the plan says so
        h = hardware(existing_only=True, max_units_per_period=5, lead_time_periods=1)
        s = site(existing=[{"hardware": "h", "units": 100}])
        p = solve(request(sites=[s], hardware_=[h]))
        assert p.status == "optimal" and fleet(p)[:2] == (0, 100)
        assert p.warnings == [
            "hardware 'h' is existing_only, so lead_time_periods, max_units_per_period have no "
            "effect: it is never bought"
        ]

    def test_without_an_existing_fleet_it_plays_no_part(self) -> None:
        hws = [hardware("g"), hardware("h", existing_only=True)]
        p = solve(request(hardware_=hws))
        assert fleet(p, hw="g")[0] == pytest.approx(100, rel=REL) and fleet(p, hw="h") == (0, 0, 0)
        assert p.warnings == [
            "hardware 'h' is existing_only, but no site has existing units of it: it plays no part in the plan"
        ]


class TestThroughput:
    CURVE = ((10.0, 1000.0), (20.0, 500.0))

    @pytest.mark.parametrize(
        ("speed", "per_unit"),
        [
            (5.0, 1000.0),  # below the first point: y(min x)
            (10.0, 1000.0),
            (15.0, 750.0),  # halfway: linear interpolation
            (18.0, 600.0),
            (20.0, 500.0),  # at the last point
        ],
    )
    def test_interpolation(self, speed: float, per_unit: float) -> None:
        # units = demand / tokens-per-unit; cost $20 per unit.
        demand = 75_000.0
        p = solve(
            request(hardware_=[hardware(points=self.CURVE)], workloads=[workload(speed=speed, demand=demand)])
        )
        units = demand / per_unit
        assert fleet(p)[1] == pytest.approx(units, rel=REL)
        assert p.objective.value == pytest.approx(20 * units, rel=REL)

    # A curve that rises somewhere: the throughput at speed u is the best the curve offers
    # at any operating point at least as fast as u (the upper envelope), since a unit run at
    # a faster point serves users who need only u.
    BUMPY = ((10.0, 1000.0), (20.0, 500.0), (30.0, 800.0), (40.0, 200.0))

    @pytest.mark.parametrize(
        ("points", "speed", "per_unit"),
        [
            (BUMPY, 5.0, 1000.0),  # below the first point: the best of all points
            (BUMPY, 15.0, 800.0),  # curve 750; the 30 tok/s/user point gives 800
            (BUMPY, 25.0, 800.0),  # curve 650
            (BUMPY, 30.0, 800.0),
            (BUMPY, 35.0, 500.0),  # the curve itself (only 200 further on)
            (BUMPY, 40.0, 200.0),
            (((10.0, 500.0), (20.0, 1000.0)), 5.0, 1000.0),  # rising from the start: y(min x) was 500
            (((10.0, 500.0), (20.0, 1000.0)), 15.0, 1000.0),  # curve 750
        ],
    )
    def test_upper_envelope_of_a_rising_curve(
        self, points: tuple[tuple[float, float], ...], speed: float, per_unit: float
    ) -> None:
        demand = 80_000.0
        p = solve(
            request(hardware_=[hardware(points=points)], workloads=[workload(speed=speed, demand=demand)])
        )
        units = demand / per_unit
        assert fleet(p)[1] == pytest.approx(units, rel=REL)
        assert p.objective.value == pytest.approx(20 * units, rel=REL)

    def test_rising_curve_serves_the_slow_workload_at_the_fast_point(self) -> None:
        # Points (10, 1,000) and (50, 5,000); workloads "slow" (>= 10 tok/s/user) and "fast"
        # (>= 50), 100,000 tokens/s each.  A unit at the 50 tok/s/user point delivers 5,000
        # tokens/s to either: 20 + 20 = 40 units at $20 net ($100 - $80 residual) = $800.
        # Taking the curve at face value bought 100 + 20 = 120 units ($2,400).
        hws = [hardware(points=((10.0, 1000.0), (50.0, 5000.0)))]
        wls = [workload("slow", speed=10), workload("fast", speed=50)]
        p = solve(request(hardware_=hws, workloads=wls))
        assert fleet(p)[1] == pytest.approx(40, rel=REL)
        [row] = p.periods[0].fleet
        assert row.allocated == {"slow": pytest.approx(20, rel=REL), "fast": pytest.approx(20, rel=REL)}
        assert p.objective.value == pytest.approx(800, rel=REL)
        # one more million tokens of either costs $20 / 5,000 tokens/s over a year of seconds
        price = 20 / 5000 / (8760 * 3600 / 1e6)
        assert {x.workload: x.value for x in p.shadow_prices.demand_usd_per_million_tokens} == {
            "slow": pytest.approx(price, rel=1e-6),
            "fast": pytest.approx(price, rel=1e-6),
        }
        # the plan says the curve was not taken at face value, for "slow" only
        [warning] = [w for w in p.warnings if "rises with speed" in w]
        assert "'slow'" in warning and "5,000 tokens/s per unit" in warning and "curve's 1,000" in warning

    def test_falling_curves_are_the_curve_itself(self) -> None:
        # For a curve whose throughput never rises with speed the envelope is the curve:
        # y(min x) below the first point, the interpolation between points, no warning.
        import random

        from solver.curves import curve_throughput, throughput
        from solver.schema import Hardware, Workload

        rng = random.Random(7)
        for _ in range(200):
            k = rng.randint(1, 5)
            xs = sorted(rng.sample(range(1, 200), k))
            ys = sorted((rng.uniform(1, 1e4) for _ in range(k)), reverse=True)
            if rng.random() < 0.3 and k > 1:
                ys[1] = ys[0]  # a flat stretch
            hw = Hardware.model_validate(hardware(points=tuple(zip(map(float, xs), ys, strict=True))))
            for u in (0.5, *xs, *(x + 0.5 for x in xs)):
                wl = Workload.model_validate(workload(speed=u))
                assert throughput(hw, wl) == curve_throughput(hw, wl)
        p = solve(request(hardware_=[hardware(points=self.CURVE)], workloads=[workload(speed=15)]))
        assert not any("rises with speed" in w for w in p.warnings)

    def test_faster_than_the_last_point_is_ineligible(self) -> None:
        # h cannot serve 25 tokens/s per user; the slower, dearer g (30 tokens/s, 100 per
        # unit at $10 -> $2 net each) must carry it: 1,000 units -> $2,000.
        hws = [hardware("h", points=self.CURVE), hardware("g", price=10, points=((30.0, 100.0),))]
        p = solve(request(hardware_=hws, workloads=[workload(speed=25)]))
        assert fleet(p, hw="h") == (0, 0, 0)
        assert fleet(p, hw="g")[2] == pytest.approx(1000, rel=REL)
        assert p.objective.value == pytest.approx(2000, rel=REL)

    def test_ineligible_everywhere(self) -> None:
        # Only h, too slow: nothing can be served; min service 1 -> infeasible, 0 -> no plan.
        hws = [hardware(points=self.CURVE)]
        assert solve(request(hardware_=hws, workloads=[workload(speed=25)])).status == "infeasible"
        p = solve(request(hardware_=hws, workloads=[workload(speed=25, min_service_fraction=0)]))
        assert p.status == "optimal" and served(p) == 0 and p.objective.value == 0
        assert any("cannot be served" in w for w in p.warnings)

    def test_other_model_has_no_throughput(self) -> None:
        # g only has figures for model "x"; it never serves "m".
        hws = [hardware("h", price=300), hardware("g", price=1, model="x")]
        p = solve(request(hardware_=hws))
        assert fleet(p, hw="g") == (0, 0, 0)
        assert p.objective.value == pytest.approx(6000, rel=REL)

    def test_allowed_hardware_restricts_sites(self) -> None:
        # The cheap g is allowed only at site "b", which has no power for it.
        hws = [hardware("h", price=300), hardware("g")]
        sites = [site("a", allowed_hardware=["h"]), site("b", power=0.04, allowed_hardware=["g"])]
        p = solve(request(sites=sites, hardware_=hws))
        assert fleet(p, site_id="b", hw="g")[1] == pytest.approx(40, rel=REL)
        assert fleet(p, site_id="a", hw="h")[1] == pytest.approx(60, rel=REL)
        assert p.objective.value == pytest.approx(40 * 20 + 60 * 60, rel=REL)


def test_request_fixture_is_valid() -> None:
    # The builders produce a contract-valid request (guards every test above).
    PlanRequest.model_validate(request())
    with pytest.raises(RequestInvalid):
        solve(request(horizon={"periods": 0}))
