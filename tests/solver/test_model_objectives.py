"""Hand-solved objectives: min_cost, max_served (lexicographic), max_profit, and integer mode.

Defaults as in test_model_costs: one 12-month period, $100 units (5-year life, $20 net),
1 kW, 1,000 tokens/s per unit, demand 100,000 tokens/s; a token/s for a year is 31.536 M
tokens, so a unit-year serves 31,536 M tokens.
"""

from __future__ import annotations

import math

import pytest

from solver import parse_request
from solver.inspect import describe_request
from solver.scenarios.frontier import prepare_frontier
from tests.helpers.requests import Json, fleet, hardware, request, served, site, solve, workload

REL = 1e-7
MT = 31.536
MS = 2e-6  # max_served stage two may give up 1e-6 of the stage-one value


class TestMinCost:
    def test_default_objective_is_min_cost(self) -> None:
        p = solve(request())
        assert p.objective.kind == "min_cost"
        assert p.objective.value == pytest.approx(p.summary.npv_cost_usd, rel=REL)

    def test_cheapest_mix(self) -> None:
        # g: $150 but 2,000 tokens/s -> $15 net per 1,000 tokens/s; h: $20.  All g: 50 units.
        hws = [hardware("h"), hardware("g", price=150, points=((10.0, 2000.0),))]
        p = solve(request(hardware_=hws))
        assert fleet(p, hw="g")[1] == pytest.approx(50, rel=REL)
        assert p.objective.value == pytest.approx(1500, rel=REL)


class TestMaxServed:
    def test_most_served_then_least_cost(self) -> None:
        # 0.05 MW: 50 units whatever the hardware; stage two picks the $100 one over the
        # $200 one (both 1 kW, 1,000 tokens/s).  Objective: 50,000 x 31.536 M tokens.
        hws = [hardware("dear", price=200), hardware("cheap")]
        p = solve(
            request(
                sites=[site(power=0.05)],
                hardware_=hws,
                workloads=[workload(min_service_fraction=0)],
                objective={"kind": "max_served"},
            )
        )
        assert p.objective.value == pytest.approx(5e4 * MT, rel=REL)
        assert served(p) == pytest.approx(5e4, rel=MS)
        assert fleet(p, hw="dear") == (0, 0, 0)
        assert p.summary.npv_cost_usd == pytest.approx(1000, rel=MS)

    def test_weights_decide_who_is_served(self) -> None:
        # 50 units' worth of power; w2 weighs 3 -> all 50,000 tokens/s to w2.
        wls = [workload("w1", min_service_fraction=0), workload("w2", min_service_fraction=0, weight=3)]
        p = solve(request(sites=[site(power=0.05)], workloads=wls, objective={"kind": "max_served"}))
        assert served(p, wl="w2") == pytest.approx(5e4, rel=MS)
        assert served(p, wl="w1") == pytest.approx(0, abs=1.0)
        assert p.objective.value == pytest.approx(3 * 5e4 * MT, rel=REL)

    def test_served_is_not_discounted(self) -> None:
        # Two years, r = 10 %, all served both years: 2 x 100,000 x 31.536 M, undiscounted.
        p = solve(request(periods=2, economics={"discount_rate": 0.1}, objective={"kind": "max_served"}))
        assert p.objective.value == pytest.approx(2e5 * MT, rel=REL)

    def test_budget_limits_served(self) -> None:
        # $6,000 of capex buys 60 units: 60,000 tokens/s.
        p = solve(
            request(
                workloads=[workload(min_service_fraction=0)],
                budget={"capex_usd": 6000},
                objective={"kind": "max_served"},
            )
        )
        assert p.objective.value == pytest.approx(6e4 * MT, rel=REL)


class TestMaxProfit:
    def test_value_above_cost_serves_everything(self) -> None:
        # $1e-3 per M token: a unit earns $31.536 for $20 -> serve all:
        # 100,000 x 31.536 x 1e-3 - 2,000 = $1,153.60.
        p = solve(
            request(
                workloads=[workload(value_usd_per_million_tokens=1e-3, min_service_fraction=0)],
                objective={"kind": "max_profit"},
            )
        )
        assert served(p) == pytest.approx(1e5, rel=REL)
        assert p.objective.value == pytest.approx(1153.6, rel=REL)

    def test_value_below_cost_serves_the_minimum(self) -> None:
        # $5e-4 per M: $15.77 a unit < $20.  msf 0.5: 50 units, 788.40 - 1,000 = -$211.60.
        wl = workload(value_usd_per_million_tokens=5e-4, min_service_fraction=0.5)
        p = solve(request(workloads=[wl], objective={"kind": "max_profit"}))
        assert served(p) == pytest.approx(5e4, rel=REL)
        assert p.objective.value == pytest.approx(-211.6, rel=REL)
        # msf 0: nothing at all.
        wl["min_service_fraction"] = 0
        p = solve(request(workloads=[wl], objective={"kind": "max_profit"}))
        assert served(p) == 0 and p.objective.value == pytest.approx(0, abs=1e-9)

    def test_value_is_discounted(self) -> None:
        # Two years, r = 10 %, $10 units with a 1-year life: each year earns 3,153.60 for
        # $1,000 of units; the second year at 1/1.1.
        p = solve(
            request(
                periods=2,
                hardware_=[hardware(price=10, life=1)],
                workloads=[workload(value_usd_per_million_tokens=1e-3, min_service_fraction=0)],
                economics={"discount_rate": 0.1},
                objective={"kind": "max_profit"},
            )
        )
        assert p.objective.value == pytest.approx((3153.6 - 1000) * (1 + 1 / 1.1), rel=REL)


class TestNothingServed:
    """A maximising plan that serves nothing reports an objective of 0, not -0.0 (the model
    minimises the negated objective; "-0" showed in the CLI and the JSON)."""

    @pytest.mark.parametrize(
        "top",
        [
            {"objective": {"kind": "max_served"}, "budget": {"capex_usd": 0}},
            {"objective": {"kind": "max_profit"}},
        ],
        ids=["max_served-no-budget", "max_profit-no-value"],
    )
    def test_the_objective_is_positive_zero(self, top: Json) -> None:
        wl = workload(value_usd_per_million_tokens=5e-4, min_service_fraction=0)
        p = solve(request(workloads=[wl], **top))
        assert served(p) == 0
        assert p.objective.value == 0 and math.copysign(1.0, p.objective.value) == 1.0
        assert '"value":0.0' in p.model_dump_json()


class TestMaxProfitPenalty:
    """max_profit counts unmet_penalty_usd_per_million_tokens as min_cost does: on all unmet
    demand, D − served, discounted; objective.value is the profit net of the penalties.

    Value $1e-4/M: a unit-year earns $3.1536 against its $20 net cost, so without a penalty
    nothing is served."""

    @staticmethod
    def req(penalty: float, msf: float = 0.0, **top: object) -> dict[str, object]:
        wl = workload(
            value_usd_per_million_tokens=1e-4,
            unmet_penalty_usd_per_million_tokens=penalty,
            min_service_fraction=msf,
        )
        return request(workloads=[wl], objective={"kind": "max_profit"}, **top)

    def test_penalty_above_cost_serves_everything(self) -> None:
        # $1e-3/M: a unit-year avoids $31.536 of penalty and earns $3.1536 for $20 -> serve all.
        # Profit: 100,000 x 31.536 x 1e-4 - 100 x $20 - 0 = 315.36 - 2,000 = -$1,684.64.
        p = solve(self.req(1e-3))
        assert served(p) == pytest.approx(1e5, rel=REL)
        assert p.summary.served_fraction == pytest.approx(1.0, rel=REL)
        assert p.objective.value == pytest.approx(-1684.64, rel=REL)
        assert not p.warnings

    def test_penalty_below_cost_serves_nothing_and_pays_it(self) -> None:
        # $2e-4/M: $6.3072 avoided + $3.1536 earned < $20 -> nothing served; the whole demand
        # pays the penalty: -100,000 x 31.536 x 2e-4 = -$630.72.
        p = solve(self.req(2e-4))
        assert served(p) == pytest.approx(0, abs=1e-6)
        assert p.objective.value == pytest.approx(-630.72, rel=REL)

    def test_penalty_counts_below_the_minimum_service_too(self) -> None:
        # msf 0.5 with the $2e-4 penalty: the floor, 50 units ($1,000), is served, and the
        # other half pays the penalty (as in min_cost: on all of D - served, not only below a
        # floor): 157.68 - 1,000 - 315.36 = -$1,157.68.
        p = solve(self.req(2e-4, msf=0.5))
        assert served(p) == pytest.approx(5e4, rel=REL)
        assert p.objective.value == pytest.approx(157.68 - 1000 - 315.36, rel=REL)

    def test_penalty_is_discounted(self) -> None:
        # Two years, r = 10 %, $100 units with a 1-year life: $1e-3/M avoids $31.536 a
        # unit-year, less than $100 -> nothing served; the penalty is 3,153.6 a year, the
        # second year at 1/1.1.
        p = solve(self.req(1e-3, periods=2, hardware_=[hardware(life=1)], economics={"discount_rate": 0.1}))
        assert p.summary.served_fraction == pytest.approx(0, abs=1e-9)
        assert p.objective.value == pytest.approx(-3153.6 * (1 + 1 / 1.1), rel=REL)

    def test_the_reported_issue(self) -> None:
        # $1/M of value and $1,000/M of penalty: max_profit served 0 % as without the penalty;
        # it now serves everything, as min_cost with the same penalty does.  Units of
        # 1,000 tokens/s at $1e6 (5-year life: $200,000 net a year) earn $31,536 a year.
        wl = workload(
            value_usd_per_million_tokens=1.0,
            unmet_penalty_usd_per_million_tokens=1000,
            min_service_fraction=0,
        )
        req = request(hardware_=[hardware(price=1e6)], workloads=[wl], objective={"kind": "max_profit"})
        p = solve(req)
        assert p.summary.served_fraction == pytest.approx(1.0, rel=REL)
        assert p.objective.value == pytest.approx(1e5 * MT * 1.0 - 100 * 200_000, rel=REL)
        req["objective"] = {"kind": "min_cost"}
        assert solve(req).summary.served_fraction == pytest.approx(1.0, rel=REL)


READ_BY = {
    # workload field -> the objectives that read it (docs/formulation.md, Objective)
    "unmet_penalty_usd_per_million_tokens": "min_cost and max_profit do",
    "value_usd_per_million_tokens": "max_profit does",
    "weight": "max_served does",
}
IGNORED = [
    # (objective, field, a value away from its default)
    ("min_cost", "value_usd_per_million_tokens", 1e-3),
    ("min_cost", "weight", 2.0),
    ("max_served", "unmet_penalty_usd_per_million_tokens", 1e-3),
    ("max_served", "value_usd_per_million_tokens", 1e-3),
    ("max_profit", "weight", 2.0),
]
USED = [
    ("min_cost", "unmet_penalty_usd_per_million_tokens", 1e-3),
    ("max_served", "weight", 2.0),
    ("max_profit", "value_usd_per_million_tokens", 1e-3),
    ("max_profit", "unmet_penalty_usd_per_million_tokens", 1e-3),
]


def _objective_warnings(warnings: list[str]) -> list[str]:
    return [w for w in warnings if "does not use it" in w]


class TestIgnoredFieldWarnings:
    """A workload field the chosen objective does not read is not silently dropped: the plan
    warns, naming the field, the workloads and the objective; fields at their defaults (given
    or not) and fields the objective reads do not warn."""

    @staticmethod
    def req(kind: str, **fields: float) -> Json:
        wls = [workload("a", min_service_fraction=0, **fields), workload("b", min_service_fraction=0)]
        return request(workloads=wls, objective={"kind": kind})

    @pytest.mark.parametrize(("kind", "field", "value"), IGNORED)
    def test_an_ignored_field_warns(self, kind: str, field: str, value: float) -> None:
        p = solve(self.req(kind, **{field: value}))
        assert p.status == "optimal"
        assert _objective_warnings(p.warnings) == [
            f"{field} is set on workload 'a', but objective {kind} does not use it "
            f"(only {READ_BY[field]}): it has no effect on this plan"
        ]
        # and it has none: the plan is the one without the field
        assert p.objective.value == pytest.approx(solve(self.req(kind)).objective.value, rel=1e-9, abs=1e-9)

    @pytest.mark.parametrize(("kind", "field", "value"), USED)
    def test_a_used_field_does_not_warn(self, kind: str, field: str, value: float) -> None:
        assert not _objective_warnings(solve(self.req(kind, **{field: value})).warnings)

    @pytest.mark.parametrize("kind", ["min_cost", "max_served", "max_profit"])
    def test_defaults_do_not_warn_even_when_given(self, kind: str) -> None:
        defaults = {
            "unmet_penalty_usd_per_million_tokens": 0.0,
            "value_usd_per_million_tokens": 0.0,
            "weight": 1.0,
        }
        assert solve(self.req(kind, **defaults)).warnings == []
        assert solve(self.req(kind)).warnings == []

    def test_one_warning_per_field_naming_every_workload(self) -> None:
        wls = [
            workload(x, min_service_fraction=0, weight=3, value_usd_per_million_tokens=1e-3) for x in "abc"
        ]
        p = solve(request(workloads=wls, objective={"kind": "min_cost"}))
        assert _objective_warnings(p.warnings) == [
            "value_usd_per_million_tokens is set on workloads 'a', 'b', 'c', but objective min_cost "
            "does not use it (only max_profit does): it has no effect on this plan",
            "weight is set on workloads 'a', 'b', 'c', but objective min_cost does not use it "
            "(only max_served does): it has no effect on this plan",
        ]

    @pytest.mark.parametrize("kind", ["min_cost", "max_profit"])
    def test_a_penalty_on_demand_that_must_be_served_warns(self, kind: str) -> None:
        # min_service_fraction 1 (the default) on 'a': nothing may go unmet, the penalty prices
        # nothing; on 'b' (0.5) it prices what goes unmet: no warning for 'b'
        wls = [
            workload("a", unmet_penalty_usd_per_million_tokens=5.0),
            workload("b", min_service_fraction=0.5, unmet_penalty_usd_per_million_tokens=5.0),
        ]
        p = solve(request(workloads=wls, objective={"kind": kind}))
        assert [w for w in p.warnings if w.startswith("unmet_penalty")] == [
            "unmet_penalty_usd_per_million_tokens is set on workload 'a', but min_service_fraction is 1 "
            "(all demand must be served, the default): it has no effect on this plan; lower "
            "min_service_fraction to let demand go unmet at that penalty"
        ]
        wls[0]["unmet_penalty_usd_per_million_tokens"] = 0.0
        assert p.objective.value == pytest.approx(
            solve(request(workloads=wls, objective={"kind": kind})).objective.value, rel=1e-9
        )

    def test_validation_lists_them_too(self) -> None:
        info = describe_request(
            parse_request(self.req("max_served", unmet_penalty_usd_per_million_tokens=5.0))
        )
        assert _objective_warnings(info["warnings"]) == [
            "unmet_penalty_usd_per_million_tokens is set on workload 'a', but objective max_served does "
            "not use it (only min_cost and max_profit do): it has no effect on this plan"
        ]

    def test_the_frontier_does_not_warn_about_what_it_resets(self) -> None:
        # the frontier's requests (min_cost and max_served) set every weight to 1 and every
        # penalty and value to 0: its plans do not warn about fields the base sets
        base = self.req(
            "max_profit", value_usd_per_million_tokens=1e-3, unmet_penalty_usd_per_million_tokens=1e-3
        )
        base["workloads"][1]["weight"] = 2.0
        fr = prepare_frontier({"base": base, "points": 3})
        for kind in ("min_cost", "max_served"):
            assert not _objective_warnings(solve(fr.request(kind)).warnings)


class TestInteger:
    def test_whole_units(self) -> None:
        # 100,500 tokens/s: the LP buys 100.5 units ($2,010), integer mode 101 ($2,020).
        req = request(workloads=[workload(demand=100_500)])
        lp = solve(req)
        mip = solve(req, integer=True)
        assert fleet(lp)[0] == pytest.approx(100.5, rel=REL)
        assert lp.objective.value == pytest.approx(2010, rel=REL)
        assert fleet(mip)[0] == 101
        assert mip.objective.value == pytest.approx(2020, rel=REL)
        assert mip.solver.integer is True

    def test_whole_replicas(self) -> None:
        # 4 units per replica: 100.5 units of work -> 26 replicas = 104 units ($2,080).
        req = request(hardware_=[hardware(upr=4)], workloads=[workload(demand=100_500)])
        assert solve(req).objective.value == pytest.approx(2010, rel=REL)
        mip = solve(req, integer=True)
        acquired, installed, allocated = fleet(mip)
        assert (acquired, installed, allocated) == (104, 104, 104)
        assert mip.objective.value == pytest.approx(2080, rel=REL)

    @pytest.mark.parametrize("backend", ["highs", "cbc"])
    def test_integer_never_beats_the_lp(self, backend: str) -> None:
        # Two sizes of unit, reserve margin, two periods: the LP is a lower bound.
        hws = [hardware("small"), hardware("big", price=350, kw=3.5, points=((10.0, 3700.0),), upr=2)]
        req = request(
            periods=2,
            sites=[site(power=0.3, energy_usd_per_mwh=40)],
            hardware_=hws,
            workloads=[workload(demand=[123_456, 171_717])],
            policy={"reserve_margin": 0.07},
        )
        lp = solve(req, backend=backend)
        mip = solve(req, backend=backend, integer=True, mip_gap=0)
        assert lp.status == mip.status == "optimal"
        assert lp.objective.value is not None and mip.objective.value is not None
        assert mip.objective.value >= lp.objective.value - 1e-9 * abs(lp.objective.value)
        assert mip.objective.value > lp.objective.value  # fractional LP optimum here

    def test_integer_max_served(self) -> None:
        # 0.0505 MW: 50.5 units in the LP, 50 whole units in integer mode.
        req = request(
            sites=[site(power=0.0505)],
            workloads=[workload(min_service_fraction=0)],
            objective={"kind": "max_served"},
        )
        assert solve(req).objective.value == pytest.approx(50_500 * MT, rel=REL)
        mip = solve(req, integer=True)
        assert mip.objective.value == pytest.approx(50_000 * MT, rel=REL)
        assert fleet(mip)[0] == 50
