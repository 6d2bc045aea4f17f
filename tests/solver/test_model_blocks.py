"""Scenario blocks (solver/model.py ``build_block``): one problem, one block per future, the
here-and-now decisions shared — the builder the two-stage stochastic plan stands on."""

from __future__ import annotations

import pytest

from solver.lp import Expr
from solver.model import Built, Problem, build_block, build_model, minimised_objective, prepare
from solver.solve import solve_model
from solver.validate import parse_request
from tests.helpers.requests import hardware, request, site, workload


def data_of(req: dict):
    return prepare(parse_request(req))


def two_stage(
    reqs: list[dict], probabilities: list[float], decide_periods: int
) -> tuple[Problem, list[Built]]:
    """Blocks of ``reqs`` in one problem sharing the first's here-and-now columns, objective
    Σ_k π_k·(block k's minimised objective): the expected cost."""
    problem = Problem()
    first = build_block(problem, data_of(reqs[0]), decide_periods=decide_periods)
    blocks = [first] + [
        build_block(problem, data_of(r), shared_with=first, decide_periods=decide_periods) for r in reqs[1:]
    ]
    objective = Expr()
    for pi, b in zip(probabilities, blocks, strict=True):
        objective = objective.plus(minimised_objective(b), pi)
    problem.lp.objective = objective
    return problem, blocks


def newsvendor(lease_per_period: float, demand_units: float) -> dict:
    """Buy now or lease later: h ($100, one-period lead, a one-year life: ordered in 2026 it
    serves 2027 only) or the lease l (no price, ``lease_per_period`` a year in fees, no lead);
    demand is 0 in 2026 and ``demand_units`` × 1,000 tokens/s in 2027 (one unit of either serves
    1,000); no residual value, no discounting."""
    fee = lease_per_period / 8760.0
    return request(
        periods=2,
        sites=[site(power=1e6)],
        hardware_=[
            hardware(life=1.0, lead_time_periods=1),
            hardware("l", price=0.0, life=1.0, recurring_usd_per_unit_hour=fee),
        ],
        workloads=[workload(demand=[0.0, demand_units * 1000.0])],
        economics={"residual_value": False},
    )


class TestSharing:
    def test_here_and_now_columns_are_shared_and_the_rest_are_not(self) -> None:
        req = request(
            periods=3,
            sites=[site(expansion={"max_mw": 10.0, "usd_per_mw": 1.0})],
            hardware_=[hardware(), hardware("g", price=120.0)],
        )
        alone = build_model(data_of(req))
        problem, (a, b) = two_stage([req, req], [0.5, 0.5], decide_periods=1)
        for family in ("buy", "expand"):
            for key, v in a.var[family].items():
                same = b.var[family][key] is v
                assert same == (key[-1] == 0), (family, key)  # period 0 decided now, later not
        shared = sum(1 for f in ("buy", "expand") for k in a.var[f] if k[-1] == 0)
        assert shared == 2 * 1 + 1  # buy of h and g at s in period 0, the expansion started then
        assert problem.lp.num_cols == 2 * alone.lp.num_cols - shared
        assert len(problem.lp.rows) == 2 * len(alone.lp.rows)
        # the blocks share exactly the here-and-now columns, and b's rows use b's columns only
        cols_a = {v for handles in a.var.values() for v in handles.values()}
        cols_b = {v for handles in b.var.values() for v in handles.values()}
        shared_cols = {v for f in ("buy", "expand") for k, v in a.var[f].items() if k[-1] == 0}
        assert cols_a & cols_b == shared_cols
        assert all(set(c.expr) <= cols_b for rows in b.con.values() for c in rows.values())

    def test_decide_periods_zero_shares_nothing(self) -> None:
        req = request(periods=2)
        problem, (a, b) = two_stage([req, req], [0.5, 0.5], decide_periods=0)
        assert not set(map(id, a.var["buy"].values())) & set(map(id, b.var["buy"].values()))

    def test_a_scenario_without_a_here_and_now_decision_is_refused(self) -> None:
        """A scenario whose hardware has a longer lead time cannot order it in period 0 (it
        would not arrive): the shared decision is missing from it."""
        req = request(periods=2)
        later = request(periods=2, hardware_=[hardware(lead_time_periods=1)])
        problem = Problem()
        first = build_block(problem, data_of(later), decide_periods=2)
        with pytest.raises(ValueError, match="scenario 1 has buy"):
            build_block(problem, data_of(req), shared_with=first, decide_periods=2)


class TestOneBlockIsTheDeterministicModel:
    def test_identical_scenarios_cost_the_deterministic_plan(self) -> None:
        req = request(periods=2, workloads=[workload(demand=[50_000.0, 120_000.0])])
        alone = build_model(data_of(req))
        solo = solve_model(alone)
        problem, blocks = two_stage([req, req, req], [0.2, 0.3, 0.5], decide_periods=1)
        out = solve_model(blocks[0])
        assert solo.status == out.status == "optimal"
        # 50 units in 2026 and 70 more in 2027 at $100, each keeping 4/5 or 3/5 of its price:
        # 50·100·(1 − 3/5) + 70·100·(1 − 4/5) = 2,000 + 1,400
        assert solo.objective == pytest.approx(3400.0, rel=1e-9)
        assert out.objective == pytest.approx(solo.objective, rel=1e-9)


class TestNewsvendor:
    """Buy now at c = $100 a unit or lease later at q a unit; demand 100 or 300 units with
    probability ½ each.  The expected cost c·x + ½·q·Σ_k max(0, D_k − x) falls while
    q·P(D > x) > c, so the optimal purchase is the (q − c)/q quantile of demand."""

    @pytest.mark.parametrize(
        ("q", "buy", "cost"),
        [
            # P(D > x) = ½ between 100 and 300: ½·150 < 100, stop at 100.
            # cost 100·100 + ½·150·(300 − 100) = 10,000 + 15,000
            (150.0, 100.0, 25_000.0),
            # ½·250 > 100: buy up to 300.  cost 100·300 = 30,000 (vs 10,000 + ½·250·200 = 35,000)
            (250.0, 300.0, 30_000.0),
        ],
    )
    def test_the_purchase_is_the_quantile(self, q: float, buy: float, cost: float) -> None:
        problem, (low, high) = two_stage([newsvendor(q, 100.0), newsvendor(q, 300.0)], [0.5, 0.5], 1)
        out = solve_model(low)
        assert out.status == "optimal"
        assert out.objective == pytest.approx(cost, rel=1e-9)
        bought = low.var["buy"][(0, 0, 0)]
        assert bought is high.var["buy"][(0, 0, 0)]
        assert low.value(bought) == pytest.approx(buy, rel=1e-9)
        # the leases adapt per scenario: the demand left after the shared purchase
        for block, demand in ((low, 100.0), (high, 300.0)):
            leased = block.value(block.var["buy"][(0, 1, 1)])
            assert leased == pytest.approx(max(0.0, demand - buy), abs=1e-6)
