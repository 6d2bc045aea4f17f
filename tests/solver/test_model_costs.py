"""Hand-solved micro-instances for every cost term (DESIGN.md, Cost).

Unless a test says otherwise: one site, one 12-month period, one hardware ``h`` at $100
a unit, 1 kW, 5-year life, 1,000 tokens/s per unit; demand 100,000 tokens/s, so the plan
needs exactly 100 units.  A year holds 8,760 h and 31.536e6 s, so one token/s for a year
is 31.536 million tokens.
"""

from __future__ import annotations

import pytest

from tests.helpers.requests import fleet, hardware, request, site, solve, workload

REL = 1e-7


class TestCapexAndResidual:
    def test_issue_example(self) -> None:
        # 100 units x $100 = $10,000 capex; 5-year life, 1 of 5 years used: residual
        # 1 - (1 - 0 - 0)/5 = 0.8 of the price -> $8,000; NPV cost $2,000.
        p = solve(request())
        assert p.status == "optimal"
        assert p.objective.value == pytest.approx(2000, rel=REL)
        assert p.summary.capex_usd == pytest.approx(10_000, rel=REL)
        assert p.summary.residual_value_usd == pytest.approx(8000, rel=REL)
        assert p.summary.units_acquired == {"h": pytest.approx(100, rel=REL)}

    def test_no_residual(self) -> None:
        # residual_value false: the whole $10,000 is a cost.
        p = solve(request(economics={"residual_value": False}))
        assert p.objective.value == pytest.approx(10_000, rel=REL)
        assert p.summary.residual_value_usd == 0

    def test_residual_of_a_partly_used_life(self) -> None:
        # 4 quarters, 2-year life = 8 periods; bought in t=0: 1 - 4/8 = 0.5 left -> $5,000.
        p = solve(request(periods=4, period_months=3, hardware_=[hardware(life=2)]))
        assert p.summary.residual_value_usd == pytest.approx(5000, rel=REL)
        assert p.objective.value == pytest.approx(5000, rel=REL)


class TestEnergy:
    def test_energy_cost(self) -> None:
        # 100 kW x 8,760 h = 876 MWh x $50 = $43,800, on top of $2,000.
        p = solve(request(sites=[site(energy_usd_per_mwh=50)]))
        assert p.periods[0].opex_breakdown["energy"] == pytest.approx(43_800, rel=REL)
        assert p.objective.value == pytest.approx(45_800, rel=REL)

    def test_pue_scales_energy_and_power(self) -> None:
        # PUE 1.5: 0.15 MW drawn, 1,314 MWh -> $65,700.
        p = solve(request(sites=[site(energy_usd_per_mwh=50, pue=1.5)]))
        assert p.periods[0].sites[0].power_used_mw == pytest.approx(0.15, rel=REL)
        assert p.periods[0].opex_breakdown["energy"] == pytest.approx(65_700, rel=REL)
        assert p.objective.value == pytest.approx(67_700, rel=REL)

    def test_pue_counts_against_the_power_limit(self) -> None:
        # 100 units need 0.1 MW IT x 1.5 = 0.15 MW; 0.149 MW is not enough.
        ok = solve(request(sites=[site(power=0.15, pue=1.5)]))
        assert ok.status == "optimal"
        short = solve(request(sites=[site(power=0.149, pue=1.5)]))
        assert short.status == "infeasible"

    def test_load_factor(self) -> None:
        # load factor 0.5 halves the energy bill: $21,900; the power limit still sees 0.1 MW.
        p = solve(request(sites=[site(energy_usd_per_mwh=50)], economics={"load_factor": 0.5}))
        assert p.periods[0].opex_breakdown["energy"] == pytest.approx(21_900, rel=REL)
        assert p.periods[0].sites[0].power_used_mw == pytest.approx(0.1, rel=REL)
        assert p.objective.value == pytest.approx(23_900, rel=REL)


class TestMaintenance:
    def test_maintenance_fraction(self) -> None:
        # 10 %/year of $100 on 100 units = $1,000.
        p = solve(request(hardware_=[hardware(maintenance_fraction_per_year=0.1)]))
        assert p.periods[0].opex_breakdown["maintenance"] == pytest.approx(1000, rel=REL)
        assert p.objective.value == pytest.approx(3000, rel=REL)

    def test_maintenance_per_quarter(self) -> None:
        # 4 quarters, 10 %/year -> $2.5 per unit-quarter; 100 units x 4 = $1,000 in all;
        # residual of the 5-year (20-quarter) life: 1 - 4/20 = 0.8 -> cost 2,000 + 1,000.
        p = solve(
            request(periods=4, period_months=3, hardware_=[hardware(maintenance_fraction_per_year=0.1)])
        )
        assert [x.opex_breakdown["maintenance"] for x in p.periods] == [pytest.approx(250, rel=REL)] * 4
        assert p.objective.value == pytest.approx(3000, rel=REL)


class TestRecurringFees:
    def test_lease_fee(self) -> None:
        # A pure lease: price 0, $0.01 per unit-hour -> 100 x 0.01 x 8,760 = $8,760.
        p = solve(request(hardware_=[hardware(price=0, recurring_usd_per_unit_hour=0.01)]))
        assert p.periods[0].opex_breakdown["recurring"] == pytest.approx(8760, rel=REL)
        assert p.summary.capex_usd == 0
        assert p.objective.value == pytest.approx(8760, rel=REL)

    def test_lease_beats_buy_when_cheaper(self) -> None:
        # Buy: $20 net per unit-year.  Lease: $0.002/h = $17.52 per unit-year -> all leased.
        hws = [hardware("buy"), hardware("lease", price=0, recurring_usd_per_unit_hour=0.002)]
        p = solve(request(hardware_=hws))
        assert fleet(p, hw="lease")[1] == pytest.approx(100, rel=REL)
        assert fleet(p, hw="buy")[1] == 0
        assert p.objective.value == pytest.approx(1752, rel=REL)


class TestSiteLease:
    def test_lease_per_kw_month(self) -> None:
        # 100 kW x $2 per kW-month x 12 months = $2,400 (IT kW, not facility kW).
        p = solve(request(sites=[site(lease_usd_per_kw_month=2, pue=1.5)]))
        assert p.periods[0].opex_breakdown["site_lease"] == pytest.approx(2400, rel=REL)
        assert p.objective.value == pytest.approx(4400, rel=REL)


class TestDiscounting:
    def test_yearly_periods(self) -> None:
        # r = 10 %, 2 yearly periods, $50/MWh: 100 units bought in t=0 serve both years.
        # energy $43,800 per year; residual 1 - 2/5 = 0.6 -> $6,000 at d_2 = 1.1^-2.
        p = solve(request(periods=2, sites=[site(energy_usd_per_mwh=50)], economics={"discount_rate": 0.1}))
        want = 10_000 + 43_800 + 43_800 / 1.1 - 6000 / 1.1**2
        assert p.objective.value == pytest.approx(want, rel=REL)
        assert [x.discount_factor for x in p.periods] == [1.0, pytest.approx(1 / 1.1, rel=REL)]

    def test_quarterly_periods(self) -> None:
        # r = 8 %, 4 quarters: d_t = 1.08^(-t/4); energy $10,950 a quarter;
        # residual 1 - 4/20 = 0.8 -> $8,000 at d_4 = 1/1.08.
        p = solve(
            request(
                periods=4,
                period_months=3,
                sites=[site(energy_usd_per_mwh=50)],
                economics={"discount_rate": 0.08},
            )
        )
        want = 10_000 + sum(10_950 * 1.08 ** (-t / 4) for t in range(4)) - 8000 / 1.08
        assert p.objective.value == pytest.approx(want, rel=REL)

    def test_discounting_moves_purchases_late(self) -> None:
        # Demand only in year 2, 1-year life: buying in t=1 costs 10,000/1.1 (no residual).
        p = solve(
            request(
                periods=2,
                hardware_=[hardware(life=1)],
                workloads=[workload(demand=[0, 1e5])],
                economics={"discount_rate": 0.1},
            )
        )
        assert fleet(p, t=1)[0] == pytest.approx(100, rel=REL)
        assert p.objective.value == pytest.approx(10_000 / 1.1, rel=REL)


def _lead_one(**hw: object) -> dict[str, object]:
    """2 yearly periods at r = 10 %, demand only in year 2, h with a lead time of one year:
    the plan orders 100 units in t=0 that arrive in t=1 (nothing else can serve year 2)."""
    return request(
        periods=2,
        hardware_=[hardware(lead_time_periods=1, **hw)],
        workloads=[workload(demand=[0, 1e5])],
        economics={"discount_rate": 0.1, "residual_value": False},
    )


class TestDeposit:
    """hardware.deposit_fraction f: f·price paid at the order, (1 − f)·price on arrival."""

    def test_deposit_at_order_and_balance_on_arrival(self) -> None:
        # 100 units ordered in t=0, arriving in t=1: $30 a unit in t=0, $70 in t=1 (at 1/1.1).
        p = solve(_lead_one(deposit_fraction=0.3))
        assert fleet(p, t=0)[0] == pytest.approx(100, rel=REL)
        assert p.objective.value == pytest.approx(100 * (30 + 70 / 1.1), rel=REL)
        assert p.summary.npv_cost_usd == pytest.approx(100 * (30 + 70 / 1.1), rel=REL)
        assert [x.capex_usd for x in p.periods] == [
            pytest.approx(3000, rel=REL),
            pytest.approx(7000, rel=REL),
        ]
        assert [x.capex_breakdown["hardware"] for x in p.periods] == [
            pytest.approx(3000, rel=REL),
            pytest.approx(7000, rel=REL),
        ]
        assert p.summary.capex_usd == pytest.approx(10_000, rel=REL)  # the nominal total is the price

    def test_without_it_the_whole_price_is_paid_at_order(self) -> None:
        p = solve(_lead_one())
        assert p.objective.value == pytest.approx(10_000, rel=REL)
        assert [x.capex_usd for x in p.periods] == [pytest.approx(10_000, rel=REL), 0.0]

    def test_no_deposit_pays_everything_on_arrival(self) -> None:
        p = solve(_lead_one(deposit_fraction=0.0))
        assert p.objective.value == pytest.approx(10_000 / 1.1, rel=REL)
        assert [x.capex_usd for x in p.periods] == [0.0, pytest.approx(10_000, rel=REL)]

    def test_residual_value_is_that_of_the_purchase(self) -> None:
        # residual on: bought in t=0, in service from t=1, 5-year life: 1 − (2 − 0 − 1)/5 = 0.8
        # of the price is left at the horizon end (d_2 = 1/1.21), whenever it was paid.
        req = _lead_one(deposit_fraction=0.3)
        req["economics"]["residual_value"] = True  # type: ignore[index]
        p = solve(req)
        assert p.summary.residual_value_usd == pytest.approx(8000, rel=REL)
        assert p.objective.value == pytest.approx(100 * (30 + 70 / 1.1 - 80 / 1.21), rel=REL)

    def test_vendor_spend_is_the_whole_price(self) -> None:
        # take-or-pay counts the nominal spend over the horizon: the price, however it is paid
        req = _lead_one(deposit_fraction=0.3)
        req["contracts"] = [{"vendor": "v", "min_spend_usd": 12_000}]
        p = solve(req)
        assert p.contracts[0].spend_usd == pytest.approx(10_000, rel=REL)
        assert p.contracts[0].shortfall_usd == pytest.approx(2000, rel=REL)

    @staticmethod
    def _same_plan(a: object, b: object) -> None:
        from solver import Plan

        assert isinstance(a, Plan) and isinstance(b, Plan)
        da, db = a.model_dump(mode="json"), b.model_dump(mode="json")
        for key in ("solver", "id", "created_at"):
            da.pop(key, None), db.pop(key, None)
        assert da == db

    def test_deposit_one_is_todays_plan_exactly(self) -> None:
        # a plan with lead times, a per-period budget that binds, residual value and quarters
        def req(**extra: object) -> dict[str, object]:
            return request(
                periods=4,
                period_months=3,
                hardware_=[
                    hardware("a", lead_time_periods=1, **extra),
                    hardware("b", price=150, lead_time_periods=2, **extra),
                ],
                workloads=[workload(demand=[0, 5e4, 1e5, 2e5])],
                economics={"discount_rate": 0.08},
                budget={"capex_per_period_usd": [12_000, 8000, 8000, 8000]},
            )

        base = solve(req())
        assert base.status == "optimal" and base.binding
        self._same_plan(solve(req(deposit_fraction=1.0)), base)

    def test_no_lead_time_ignores_it_and_says_so(self) -> None:
        base = solve(request(periods=2, economics={"discount_rate": 0.1}))
        given = solve(
            request(periods=2, hardware_=[hardware(deposit_fraction=0.3)], economics={"discount_rate": 0.1})
        )
        assert given.warnings == [
            "hardware 'h': deposit_fraction 0.3 has no effect without a lead time (a unit arrives in "
            "the period it is ordered: all of it is paid then)"
        ]
        self._same_plan(given.model_copy(update={"warnings": base.warnings}), base)
        assert base.periods[0].capex_usd == pytest.approx(10_000, rel=REL)
