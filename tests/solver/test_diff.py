"""diff_plans: hand-solved plan pairs whose differences are known in advance.

The power micro-instance (see test_scenarios.power_request): 10 units needed; a costs
$1e5 and draws 2 MW, b costs $3e5 and draws 1 MW.  With P MW (10 <= P <= 20) the plan buys
a = P − 10 and b = 20 − P, and one more MW is worth $2e5 while power binds.
"""

from __future__ import annotations

import copy

import pytest

from solver import plan
from solver.diff import diff_plans
from tests.helpers.price_cases import total_budget_case, vendor_share_case
from tests.helpers.scenario_requests import power_request


def with_power(mw: float | list[float], periods: int = 1) -> dict:
    req = power_request()
    req["sites"][0]["power_mw"] = mw
    req["horizon"]["periods"] = periods
    return req


class TestUnitsAndCosts:
    def test_more_power_swaps_b_for_a(self) -> None:
        d = diff_plans(plan(with_power(15)), plan(with_power(18)))
        assert d.objective.a == pytest.approx(2.0e6) and d.objective.b == pytest.approx(1.4e6)
        assert d.objective.delta == pytest.approx(-6e5)
        assert d.summary["npv_cost_usd"].delta == pytest.approx(-6e5)
        assert d.cost_components["capex/hardware"].delta == pytest.approx(-6e5)
        assert d.cost_components["opex/energy"].delta == 0
        assert d.units_acquired["a"].model_dump() == pytest.approx({"a": 5, "b": 8, "delta": 3})
        assert d.units_acquired["b"].model_dump() == pytest.approx({"a": 5, "b": 2, "delta": -3})
        assert [(u.site, u.hardware, u.period) for u in d.units] == [
            ("s", "a", "2026-01"),
            ("s", "b", "2026-01"),
        ]
        assert d.units[0].installed.delta == pytest.approx(3)
        assert d.peak_power_mw["s"].delta == pytest.approx(3)
        # power binds in both at the same price: no binding or price change
        assert d.binding_added == [] and d.binding_removed == [] and d.shadow_prices == []
        assert d.changed

    def test_volume_discount_rebates_are_compared(self) -> None:
        # 10 % back above $1e6: spend 2e6 at 15 MW (5 a + 5 b), 1.4e6 at 18 MW (8 a + 2 b)
        tiers = [{"vendor": "v", "discount_tiers": [{"above_spend_usd": 1e6, "discount": 0.1}]}]
        d = diff_plans(
            plan({**with_power(15), "contracts": tiers}), plan({**with_power(18), "contracts": tiers})
        )
        assert d.summary["contract_discount_usd"].model_dump() == pytest.approx(
            {"a": 1e5, "b": 4e4, "delta": -6e4}
        )
        assert d.objective.delta == pytest.approx(-6e5 + 6e4)

    def test_units_are_matched_by_site_hardware_and_period(self) -> None:
        def two_periods(p2: float) -> dict:
            req = with_power([15, p2], periods=2)
            req["workloads"][0]["demand_tokens_per_s"] = [1000, 1300]  # 3 more units in 2027
            req["economics"]["discount_rate"] = 0.1  # buy just in time
            return req

        # 2027 headroom 5 MW: 2 a + 1 b;  8 MW: 3 a.  2026 (15 MW) is 5 a + 5 b in both.
        d = diff_plans(plan(two_periods(20)), plan(two_periods(23)))
        by_key = {(u.hardware, u.period): u for u in d.units}
        assert set(by_key) == {("a", "2027-01"), ("b", "2027-01")}
        assert by_key[("a", "2027-01")].acquired.model_dump() == pytest.approx({"a": 2, "b": 3, "delta": 1})
        assert by_key[("a", "2027-01")].installed.model_dump() == pytest.approx({"a": 7, "b": 8, "delta": 1})
        assert by_key[("b", "2027-01")].acquired.model_dump() == pytest.approx({"a": 1, "b": 0, "delta": -1})
        assert d.cost_components["capex/hardware"].delta == pytest.approx(1e5 - 3e5)


class TestBindingAndPrices:
    def test_power_stops_binding_and_its_price_falls_to_zero(self) -> None:
        d = diff_plans(plan(with_power(15)), plan(with_power(25)))
        assert d.binding_removed == ["power s 2026-01"] and d.binding_added == []
        (price,) = [p for p in d.shadow_prices if p.kind == "power"]
        assert (price.key, price.period) == ("s", "2026-01")
        assert price.change.a == pytest.approx(2e5) and price.change.b == 0.0
        assert price.change.delta == pytest.approx(-2e5)
        assert price.unit == "usd per MW"

    def test_total_budget_and_vendor_share_prices_are_compared(self) -> None:
        # The instances of test_shadow_prices: a total budget of $8,000 binds, $12,000 does
        # not; a's share held at 60 % binds, at 100 % it does not.
        case = total_budget_case("min_cost")
        loose = copy.deepcopy(case.req)
        loose["budget"]["total_usd"] = 12_000
        a, b = plan(case.req), plan(loose)
        d = diff_plans(a, b)
        assert a.shadow_prices is not None
        (price,) = [p for p in d.shadow_prices if p.kind == "total_budget"]
        assert (price.key, price.period, price.unit) == (None, None, "usd per usd")
        assert price.change.model_dump() == pytest.approx(
            {
                "a": a.shadow_prices.total_budget_per_usd,
                "b": 0.0,
                "delta": -a.shadow_prices.total_budget_per_usd,
            }
        )
        assert d.binding_removed == ["total_budget"]
        share = vendor_share_case("min_cost", "max")
        free = copy.deepcopy(share.req)
        free["policy"]["max_vendor_share"]["a"] = 1.0
        d = diff_plans(plan(share.req), plan(free))
        got = [
            (p.kind, p.key, p.period, p.change.a, p.change.b)
            for p in d.shadow_prices
            if p.kind.startswith("vendor")
        ]
        assert got == [
            ("vendor_share_max", "a", "2026-01", pytest.approx(100.0), 0.0),
            ("vendor_share_max", "a", "2027-01", pytest.approx(100 / 1.1), 0.0),
        ]
        assert {p.unit for p in d.shadow_prices if p.kind.startswith("vendor")} == {
            "usd per percentage point"
        }

    def test_reversed_order_reverses_every_delta(self) -> None:
        a, b = plan(with_power(15)), plan(with_power(25))
        ab, ba = diff_plans(a, b), diff_plans(b, a)
        assert ab.binding_removed == ba.binding_added
        assert ab.objective.delta == pytest.approx(-(ba.objective.delta or 0))
        assert [p.change.delta for p in ab.shadow_prices] == pytest.approx(
            [-(p.change.delta or 0) for p in ba.shadow_prices]
        )


class TestEdgeCases:
    def test_identical_plans_show_no_change(self) -> None:
        p = plan(with_power(15))
        q = p.model_copy(deep=True)
        q.id = "other"
        d = diff_plans(p, q)
        assert not d.changed and d.units == [] and d.shadow_prices == []
        assert (d.a, d.b) == (p.id, "other")

    def test_infeasible_against_optimal(self) -> None:
        d = diff_plans(plan(with_power(5)), plan(with_power(15)))
        assert d.status == {"a": "infeasible", "b": "optimal"}
        assert d.summary["npv_cost_usd"].a is None and d.summary["npv_cost_usd"].delta is None
        assert d.units_acquired["a"].a == 0 and d.units_acquired["a"].b == pytest.approx(5)
        assert d.changed

    def test_different_objectives_are_noted(self) -> None:
        req = copy.deepcopy(with_power(15))
        req["objective"] = {"kind": "max_served"}
        req["workloads"][0]["min_service_fraction"] = 0
        d = diff_plans(plan(with_power(15)), plan(req))
        assert any("objectives differ" in n for n in d.notes)

    def test_objectives_of_different_kinds_have_no_delta(self) -> None:
        # min_cost: $2e6; max_served: every token, 1000 tok/s for a year = 31,536 million tokens
        req = copy.deepcopy(with_power(15))
        req["objective"] = {"kind": "max_served"}
        req["workloads"][0]["min_service_fraction"] = 0
        d = diff_plans(plan(with_power(15)), plan(req))
        assert d.objective.a == pytest.approx(2e6) and d.objective.b == pytest.approx(31536)
        assert d.objective.delta is None
        npv = d.summary["npv_cost_usd"]  # both in $: a delta (stage two keeps served within 1e-6)
        assert npv.b == pytest.approx(2e6, rel=1e-5) and npv.delta == pytest.approx(npv.b - 2e6)
        # the power price: $2e5 per MW against 0 million tokens per MW, in different units
        (power,) = [p for p in d.shadow_prices if p.kind == "power"]
        assert power.change.a == pytest.approx(2e5) and power.change.b == 0 and power.change.delta is None
        assert power.unit == "a: usd per MW; b: per unit of objective per MW"
        assert all(p.change.delta is None for p in d.shadow_prices)
        assert "different objective units (usd vs weighted_million_tokens)" in " ".join(d.notes)

    def test_an_unsolved_plan_has_no_cost_components_or_vendor_shares(self) -> None:
        d = diff_plans(plan(with_power(15)), plan(with_power(5)))
        assert d.status == {"a": "optimal", "b": "infeasible"}
        assert d.it_power_share_by_vendor["v"].model_dump() == {"a": 1.0, "b": None, "delta": None}
        assert d.cost_components["capex/hardware"].model_dump() == {"a": 2e6, "b": None, "delta": None}
        assert all(c.b is None and c.delta is None for c in d.cost_components.values())
        assert d.units_acquired["a"].model_dump() == pytest.approx({"a": 5, "b": 0, "delta": -5})

    def test_shadow_prices_on_one_side_only_are_noted(self) -> None:
        a = plan(with_power(15))
        b = a.model_copy(deep=True)
        b.shadow_prices = None
        d = diff_plans(a, b)
        assert d.notes == ["only one plan has shadow prices (integer plan or a solver without duals)"]
        assert [p.change.b for p in d.shadow_prices] == [None] * len(d.shadow_prices) != []


class TestPeriodGrids:
    def test_annual_against_quarterly_has_no_per_period_entries(self) -> None:
        quarterly = with_power(15, periods=3)
        quarterly["horizon"]["period_months"] = 3
        d = diff_plans(plan(with_power(15)), plan(quarterly))
        # the same 5 a + 5 b, bought in 2026-01 and installed all year in both plans
        assert d.units == []
        assert d.units_acquired["a"].model_dump() == pytest.approx({"a": 5, "b": 5, "delta": 0})
        assert d.summary["capex_usd"].model_dump() == pytest.approx({"a": 2e6, "b": 2e6, "delta": 0})
        assert [p for p in d.shadow_prices if p.period is not None] == []
        assert d.notes == [
            "the plans have different period grids (a: 1 period of 12 months from 2026-01; b: 3 periods of "
            "3 months from 2026-01): per-period entries (units by period, per-period shadow prices) are not "
            "compared"
        ]

    def test_one_year_against_one_quarter_with_the_same_label(self) -> None:
        quarter = with_power(15)
        quarter["horizon"]["period_months"] = 3
        d = diff_plans(plan(with_power(15)), plan(quarter))
        assert d.units == [] and [p for p in d.shadow_prices if p.period is not None] == []
        assert "(a: 1 period of 12 months from 2026-01; b: 1 period of 3 months from 2026-01)" in d.notes[0]
        assert d.units_acquired["b"].model_dump() == pytest.approx({"a": 5, "b": 5, "delta": 0})

    def test_one_year_against_two_years_is_matched_by_label(self) -> None:
        d = diff_plans(plan(with_power(15)), plan(with_power(15, periods=2)))
        assert d.notes == ["the plans cover different periods: entries are matched by period label"]
        assert [(u.hardware, u.period) for u in d.units] == [("a", "2027-01"), ("b", "2027-01")]
        for u in d.units:
            assert u.installed.model_dump() == pytest.approx({"a": 0, "b": 5, "delta": 5})

    def test_longer_horizon_on_the_same_grid_is_matched_by_label(self) -> None:
        d = diff_plans(plan(with_power(15, periods=2)), plan(with_power(15, periods=3)))
        assert d.notes == ["the plans cover different periods: entries are matched by period label"]
        assert [(u.hardware, u.period) for u in d.units] == [("a", "2028-01"), ("b", "2028-01")]
        for u in d.units:
            assert u.installed.model_dump() == pytest.approx({"a": 0, "b": 5, "delta": 5})
