"""Warnings about questionable advice (solver/advice.py), on hand-solved micro-instances.

* Idle purchases: units a plan buys that stand idle from the period they arrive, with the
  limit that likely makes it buy them (take-or-pay, vendor share, bought ahead of a later
  supply limit), and nothing for units that served when they arrived.
* Opex no budget caps: max_served (and max_profit with a binding capex budget) with a budget on
  capex only says how much opex the plan spends outside it; min_cost and total budgets do not.

Defaults (tests/helpers/requests.py): one site, one yearly period, hardware ``h`` of vendor
``v`` at $100 (5-year life: 80 % residual after one year), 1 kW, 1,000 tokens/s per unit; one
workload of 100,000 tokens/s (100 units).
"""

from __future__ import annotations

from typing import Any

import pytest

from solver import Plan
from solver.schema import IdlePurchase
from tests.helpers.requests import hardware, request, site, solve, workload

REL = 1e-7


def only(p: Plan) -> IdlePurchase:
    assert len(p.idle_purchases) == 1, p.idle_purchases
    return p.idle_purchases[0]


def idle_warnings(p: Plan) -> list[str]:
    return [w for w in p.warnings if w.startswith("purchased units stand idle")]


class TestIdlePurchases:
    def test_take_or_pay_met_with_idle_units(self) -> None:
        # 100 units serve the demand ($10,000); the commitment is $15,000.  50 more units cost
        # $5,000 − 80 % residual = $1,000 net, the shortfall $5,000: the plan buys 50 idle.
        p = solve(request(contracts=[{"vendor": "v", "min_spend_usd": 15_000}]))
        item = only(p)
        assert (item.site, item.hardware, item.periods, item.causes) == (
            "s",
            "h",
            ["2026-01"],
            ["take_or_pay v"],
        )
        assert item.units == pytest.approx(50, rel=REL)
        assert item.idle_on_arrival_units == pytest.approx(50, rel=REL)
        assert item.capex_usd == pytest.approx(5000, rel=REL)
        assert item.opex_usd == 0
        (text,) = idle_warnings(p)
        assert text.startswith(
            "purchased units stand idle: s/h: up to 50 units in 2026-01 ($5,000 of capex; $0"
        )
        assert "take-or-pay commitment with v ($15,000) is met exactly by the spend" in text
        assert "residual value" in text

    def test_take_or_pay_not_met_still_names_it(self) -> None:
        # A capex budget of $12,000 in the period stops the purchases at 120 units: $3,000 of
        # shortfall remains, and each idle unit still costs less than the shortfall it avoids.
        budget = {"capex_per_period_usd": 12_000}
        p = solve(request(contracts=[{"vendor": "v", "min_spend_usd": 15_000}], budget=budget))
        item = only(p)
        assert item.units == pytest.approx(20, rel=REL) and item.causes == ["take_or_pay v"]
        assert "is not met ($3,000 of shortfall)" in idle_warnings(p)[0]

    @pytest.mark.parametrize(
        ("policy", "cause"),
        [
            ({"max_vendor_share": {"n": 0.8}}, "vendor_max n"),
            ({"min_vendor_share": {"a": 0.2}}, "vendor_min a"),
        ],
    )
    def test_vendor_share_met_with_idle_units(self, policy: dict[str, Any], cause: str) -> None:
        # 100 existing n units serve all the demand.  n at most 80 % of IT power (or a at
        # least 20 %): 25 kW of vendor a, whose units cost $10 (net $2).  The solver may
        # allocate the new a units and leave existing n units idle (the allocation is
        # degenerate); the warning counts existing units first, so the a units are idle.
        hws = [hardware("nv", vendor="n"), hardware("amd", vendor="a", price=10)]
        p = solve(
            request(sites=[site(existing=[{"hardware": "nv", "units": 100}])], hardware_=hws, policy=policy)
        )
        item = only(p)
        assert (item.hardware, item.causes) == ("amd", [cause])
        assert item.units == pytest.approx(25, rel=REL) and item.capex_usd == pytest.approx(250, rel=REL)
        assert "of IT power) binds" in idle_warnings(p)[0]
        # the share's price: 1 kW of relief saves 1.25 a units ($2.50); K = 125 kW; per point
        # 2.5 × 125 / 100
        assert p.shadow_prices is not None
        (price,) = p.shadow_prices.vendor_share_per_percentage_point
        assert price.value == pytest.approx(3.125, rel=REL)

    def test_the_degenerate_allocation_is_read_existing_first(self) -> None:
        # Same plan: whatever the solver allocated, the idle units reported are the a units.
        hws = [hardware("nv", vendor="n"), hardware("amd", vendor="a", price=10)]
        p = solve(
            request(
                sites=[site(existing=[{"hardware": "nv", "units": 100}])],
                hardware_=hws,
                policy={"max_vendor_share": {"n": 0.8}},
            )
        )
        fleet = {row.hardware: row for row in p.periods[0].fleet}
        assert fleet["amd"].installed == pytest.approx(25, rel=REL)
        assert only(p).idle_units == {"2026-01": pytest.approx(25, rel=REL)}

    def test_units_bought_ahead_of_a_supply_limit(self) -> None:
        # Demand 50,000 then 100,000 tokens/s; at most 10 units can be bought in 2027-01, so 90
        # are bought in 2026-01, 40 of them idle until demand grows.
        hws = [hardware(max_units_per_period=[200, 10])]
        p = solve(request(periods=2, hardware_=hws, workloads=[workload(demand=[5e4, 1e5])]))
        item = only(p)
        assert item.periods == ["2026-01"] and item.causes == ["supply h"]
        assert item.units == pytest.approx(40, rel=REL) and item.idle_on_arrival_units == pytest.approx(
            40, rel=REL
        )
        assert "bought ahead of use: the supply of h binds in a later period" in idle_warnings(p)[0]

    def test_units_that_served_on_arrival_are_not_listed(self) -> None:
        # Demand falls from 100,000 to 50,000 tokens/s: 50 of the 100 units idle in 2027-01,
        # but they were needed when bought.
        p = solve(request(periods=2, workloads=[workload(demand=[1e5, 5e4])]))
        assert p.idle_purchases == [] and idle_warnings(p) == []

    def test_no_idle_purchase_without_a_reason(self) -> None:
        p = solve(request(contracts=[{"vendor": "v", "min_spend_usd": 5_000}]))
        assert p.idle_purchases == [] and idle_warnings(p) == []

    def test_less_than_a_replica_idle_in_integer_mode_is_not_listed(self) -> None:
        # 101,000 tokens/s need 101 units; replicas of 4 make it 104 (26 replicas): the 3 left
        # over are the granularity of whole replicas.
        req = request(hardware_=[hardware(upr=4)], workloads=[workload(demand=1.01e5)])
        p = solve(req, integer=True)
        assert p.summary.units_acquired == {"h": pytest.approx(104)}
        assert p.idle_purchases == []
        # ... but 50 whole units bought for a take-or-pay are (with the 3 left over: 53 idle)
        req["contracts"] = [{"vendor": "v", "min_spend_usd": 15_400}]
        p = solve(req, integer=True)
        assert only(p).units == pytest.approx(53) and only(p).causes == ["take_or_pay v"]


def lease_and_buy(kind: str, **budget: float) -> dict[str, Any]:
    """Buy ($100, 5 years) or lease ($30 a unit-year); a $5,000 capex budget buys 50."""
    hws = [hardware("buy"), hardware("lease", price=0, life=1, recurring_usd_per_unit_hour=30 / 8760)]
    wl = workload(min_service_fraction=0 if kind != "min_cost" else 1, value_usd_per_million_tokens=1.0)
    return request(hardware_=hws, workloads=[wl], objective={"kind": kind}, budget=budget)


class TestOpexOutsideTheBudget:
    def test_max_served_with_a_capex_budget_says_how_much_opex(self) -> None:
        # 50 bought ($5,000 of capex), 50 leased: $1,500 of fees no budget bounds.
        p = solve(lease_and_buy("max_served", capex_usd=5000))
        (text,) = [w for w in p.warnings if w.startswith("objective max_served")]
        assert p.summary.opex_usd == pytest.approx(1500, rel=1e-5)  # stage two: 1e-6 less served
        assert "This plan's opex is $1,500 nominal ($1,500 NPV; $1,500 of it lease and hosting fees)" in text
        assert "on top of $5,000 of capex" in text and "budget.total_usd" in text

    def test_not_with_a_total_budget(self) -> None:
        for budget in ({"total_usd": 1e9}, {"total_per_period_usd": 1e9}):
            p = solve(lease_and_buy("max_served", capex_usd=5000, **budget))
            assert not [w for w in p.warnings if w.startswith("objective")]

    def test_not_for_min_cost_nor_without_a_budget(self) -> None:
        assert not [
            w for w in solve(lease_and_buy("min_cost", capex_usd=5000)).warnings if w.startswith("objective")
        ]
        p = solve(lease_and_buy("max_served"))
        assert not [w for w in p.warnings if w.startswith("objective")]

    def test_max_profit_only_when_the_capex_budget_binds(self) -> None:
        binds = solve(lease_and_buy("max_profit", capex_usd=5000))
        assert "budget" in binds.binding
        assert [w for w in binds.warnings if w.startswith("objective max_profit with a budget on capex only")]
        loose = solve(lease_and_buy("max_profit", capex_usd=1e9))
        assert not [w for w in loose.warnings if w.startswith("objective")]

    def test_not_when_only_the_existing_fleet_has_opex(self) -> None:
        # 100 existing leased units serve everything; nothing bought has opex.
        hws = [hardware(price=0, life=1, recurring_usd_per_unit_hour=30 / 8760)]
        req = request(
            sites=[site(existing=[{"hardware": "h", "units": 100}])],
            hardware_=hws,
            workloads=[workload(min_service_fraction=0)],
            objective={"kind": "max_served"},
            budget={"capex_usd": 1000},
        )
        p = solve(req)
        assert p.summary.opex_usd == pytest.approx(3000, rel=REL)
        assert not [w for w in p.warnings if w.startswith("objective")]
