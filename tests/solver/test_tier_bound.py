"""The optimality bound on a tiered vendor's net spend (solver.planner.optimality_spend_bounds).

The tier MIP (min_cost and max_profit, continuous units) sizes the last discount tier by a
bound on the net spend that every optimal plan obeys, instead of the physical spend bound.
It must change no optimum: checked against the MIP with the model's own widths and against a
brute force over tier counts that uses no tier columns at all (one LP per combination of
counts, the rebate linear on each count's segment of net spend).
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest

import solver.planner as planner
from solver.extract import discount
from solver.model import (
    GE,
    LE,
    ModelData,
    bound_tiers,
    build_model,
    net_spend_terms,
    prepare,
    spend_bound,
    tier_widths,
)
from solver.planner import BOUND_MARGIN, BOUND_SLACK, optimality_spend_bounds
from solver.solve import solve_model
from solver.validate import parse_request
from tests.helpers.requests import Json, hardware, request, site, solve, workload

DATA = Path(__file__).resolve().parent.parent / "data"
REL = 1e-7


def brute_force(data: ModelData) -> tuple[float, dict[int, float]]:
    """The least minimised objective over every combination of tier counts, and the net
    spend of each tiered vendor at it.

    With r tiers of vendor v reached, B_v lies in [T_{r-1}, T_r] (0 and no end at the ends)
    and the rebate is f(T_{r-1}) + δ_{r-1}·(B_v − T_{r-1}): linear, so each combination is
    one LP of the request without tiers.
    """
    tiered = [
        (data.vendors.index(c.vendor), c.discount_tiers) for c in data.req.contracts if c.discount_tiers
    ]
    best: tuple[float, dict[int, float]] | None = None
    for counts in itertools.product(*(range(len(t) + 1) for _, t in tiered)):
        m = build_model(data, discounts=False)
        objective = m.lp.objective.copy()
        spends = {}
        for (v, tiers), r in zip(tiered, counts, strict=True):
            terms, fixed = net_spend_terms(m, v)
            spends[v] = (terms, fixed)
            low = tiers[r - 1].above_spend_usd if r else 0.0
            if r:
                m.new_row("segment_low", (v,), terms, GE, low - fixed)
            if r < len(tiers):
                m.new_row("segment_high", (v,), terms, LE, tiers[r].above_spend_usd - fixed)
            if r:  # − d_N·(f(low) + δ·(B − low))
                rate = data.d_end * tiers[r - 1].discount
                objective.constant -= data.d_end * discount(tiers, low)[0] + rate * (fixed - low)
                for x, a in terms:
                    objective[x] = objective.get(x, 0.0) - rate * a
        m.lp.objective = objective
        out = solve_model(m, "highs", 60)
        if out.status != "optimal" or out.objective is None:
            assert out.status == "infeasible", out.status  # a count the spend cannot reach
            continue
        if best is None or out.objective < best[0]:
            net = {v: fixed + sum(a * m.value(x) for x, a in terms) for v, (terms, fixed) in spends.items()}
            best = (out.objective, net)
    assert best is not None
    return best


def mip_value(data: ModelData, bounded: bool) -> float:
    """The tier MIP's optimum, with the model's own widths or with the optimality bound."""
    m = build_model(data)
    if bounded:
        bounds, _ = optimality_spend_bounds(m, "highs", 60)
        for v, b in bounds.items():
            bound_tiers(m, v, min(b, spend_bound(m, v)))
    out = solve_model(m, "highs", 60, 1e-9)
    assert out.status == "optimal" and out.objective is not None
    return out.objective


def without_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(planner, "optimality_spend_bounds", lambda *a, **k: ({}, 0.0))


def close(a: float, b: float, rel: float = 1e-6) -> bool:
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


# ------------------------------------------------------------------ random small instances


def random_request(seed: int) -> Json:
    """Two vendors (a: two hardware items, b: one) on ample power, so that the physical spend
    bound is mostly far above any sensible spend (supply caps make it small in a few);
    thresholds around the net spend of the plan without tiers, so that reaching a tier may
    pay for moving purchases between vendors."""
    rnd = random.Random(seed)

    def num(lo: float, hi: float) -> float:
        return round(rnd.uniform(lo, hi), 4)

    periods = rnd.choice([2, 3, 4])
    hw = [
        hardware("a1", vendor="a", price=num(60, 140), kw=num(0.5, 2), life=rnd.choice([1.0, 2.0, 3.0])),
        hardware("a2", vendor="a", price=num(60, 140), kw=num(0.5, 2), life=rnd.choice([1.0, 2.0, 3.0])),
        hardware("b1", vendor="b", price=num(60, 140), kw=num(0.5, 2), life=rnd.choice([1.0, 2.0, 3.0])),
    ]
    for h in hw:
        if rnd.random() < 0.3:
            h["recurring_usd_per_unit_hour"] = num(0.0005, 0.003)
        if rnd.random() < 0.3:
            h["maintenance_fraction_per_year"] = num(0.01, 0.1)
        if rnd.random() < 0.3:
            h["max_units_per_period"] = num(40, 150)
    kind = rnd.choice(["min_cost", "min_cost", "max_profit"])
    wls = [
        workload(
            f"w{i}",
            demand=num(5e4, 2e5),
            demand_growth_per_year=num(0, 0.5),
            min_service_fraction=num(0, 0.6) if kind == "min_cost" else 0.0,
            unmet_penalty_usd_per_million_tokens=num(0.003, 0.03),
            value_usd_per_million_tokens=num(0.003, 0.03),
        )
        for i in range(rnd.choice([1, 2]))
    ]
    req = request(
        sites=[site(power=num(2, 5))],
        hardware_=hw,
        workloads=wls,
        periods=periods,
        period_months=12,
        economics={"discount_rate": num(0, 0.1), "residual_value": rnd.random() < 0.5},
        objective={"kind": kind},
    )
    data = prepare(parse_request(req))
    m = build_model(data, discounts=False)
    assert solve_model(m, "highs", 60).status == "optimal"
    contracts = []
    for vendor in ("a", "b") if rnd.random() < 0.5 else ("a",):
        terms, fixed = net_spend_terms(m, data.vendors.index(vendor))
        base = max(1000.0, fixed + sum(a * m.value(x) for x, a in terms))
        t0 = base * num(0.3, 1.5)
        tiers = [{"above_spend_usd": t0, "discount": num(0.02, 0.4)}]
        if rnd.random() < 0.6:
            tiers.append({"above_spend_usd": t0 * num(1.1, 1.8), "discount": num(0.02, 0.5)})
        c: dict[str, Any] = {"vendor": vendor, "discount_tiers": tiers}
        if rnd.random() < 0.3:
            c["min_spend_usd"] = base * num(0.5, 1.5)
        if rnd.random() < 0.3:
            c["warrants"] = {
                "equity_fraction_max": num(0.001, 0.01),
                "full_vest_spend_usd": base * num(0.5, 2),
                "company_valuation_usd": base * num(1, 20),
            }
        contracts.append(c)
    req["contracts"] = contracts
    return req


SEEDS = range(16)


@functools.cache
def solved(seed: int) -> tuple[Json, float, dict[int, float]]:
    """A random request, its brute-force optimum and the tiered vendors' net spend there."""
    req = random_request(seed)
    best, spends = brute_force(prepare(parse_request(req)))
    return req, best, spends


@pytest.mark.parametrize("seed", SEEDS)
def test_the_bound_keeps_every_optimum(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    req, best, spends = solved(seed)
    data = prepare(parse_request(req))
    m = build_model(data)
    bounds, _ = optimality_spend_bounds(m, "highs", 60)
    assert bounds.keys() == {v for v, _ in m.var.get("tier", {})}
    for v, b in bounds.items():
        assert spends[v] < b / (1 + BOUND_MARGIN)  # the optimum is inside, by the margin
    # the MIP on either widths, and the plan (read off the fixed LP after the walk)
    assert close(mip_value(data, bounded=True), best)
    assert close(mip_value(data, bounded=False), best)
    sign = -1.0 if req["objective"]["kind"] == "max_profit" else 1.0
    p = solve(req)
    assert p.status == "optimal" and p.objective.value is not None
    assert close(sign * p.objective.value, best)
    without_bound(monkeypatch)
    q = solve(req)
    assert q.objective.value is not None and close(q.objective.value, p.objective.value)


def test_the_instances_test_the_bound() -> None:
    # The seeds test the bound only if it is below the physical one (most instances have
    # ample power; supply caps make some small) and some optima spend more with a vendor than
    # the plan without tiers (whose spend would be a bound there, and a wrong one).
    tightened = moved = 0
    for seed in SEEDS:
        req, _, spends = solved(seed)
        data = prepare(parse_request(req))
        m = build_model(data)
        bounds, _ = optimality_spend_bounds(m, "highs", 60)
        tightened += sum(b < spend_bound(m, v) for v, b in bounds.items())
        plain = build_model(data, discounts=False)
        assert solve_model(plain, "highs", 60).status == "optimal"
        for v, b in spends.items():
            terms, fixed = net_spend_terms(plain, v)
            moved += b > (fixed + sum(a * m.value(x) for x, a in terms)) * (1 + 1e-6)
    assert tightened >= 12 and moved >= 3, (tightened, moved)


# ------------------------------------------------------------------------- the 20-year case


def test_twenty_years_the_last_tier_shrinks_and_the_optimum_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    # NVIDIA tiers at $5B, $20B and $50B.  The physical bound (all power filled with NVIDIA
    # units, bought again every lifetime) is $1.0668e12: a last tier $1.0168e12 wide.  The
    # request without tiers costs 3.1407e11, 3.1181e11 with the rebates its spend earns; no
    # plan that costs no more spends over $1.2616e11 with NVIDIA (1.2629e11 with the margin):
    # the last tier is 7.63e10 wide, 13 times narrower.  The optimum spends 1.2521e11.
    req = json.loads((DATA / "tiers-20-years.json").read_text())
    data = prepare(parse_request(req))
    m = build_model(data)
    v = data.vendors.index("nvidia")
    bounds, _ = optimality_spend_bounds(m, "highs", 60)
    assert spend_bound(m, v) == pytest.approx(1.06678e12, rel=1e-5)
    assert bounds[v] == pytest.approx(1.26288e11, rel=1e-4)
    physical, tight = tier_widths(m, v), tier_widths(m, v, bounds[v])
    assert physical == pytest.approx([1.5e10, 3e10, 1.01678e12], rel=1e-5)
    assert tight == pytest.approx([1.5e10, 3e10, 7.6288e10], rel=1e-4)
    best, spends = brute_force(data)
    assert best == pytest.approx(3.1181411e11, rel=1e-7)
    assert spends[v] == pytest.approx(1.2521e11, rel=1e-4) and spends[v] < bounds[v] / (1 + BOUND_MARGIN)
    p = solve(req)
    assert p.objective.value == pytest.approx(best, rel=1e-7)
    assert next(c for c in p.contracts if c.vendor == "nvidia").discount_tiers_reached == 3
    without_bound(monkeypatch)
    q = solve(req)
    assert q.objective.value == pytest.approx(best, rel=1e-7)


def test_twenty_years_the_mip_without_the_bound_finds_the_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    # The tier MIP on the model's own widths (a last tier 1.0168e12 wide), no optimality bound.
    # In tokens/s and dollars HiGHS threw out its LP optimum for a 1.019e-6 violation of a
    # capacity row of ~1e10 tokens/s (and the optimum itself for 4.8e-5 of discount_spend,
    # terms ~7.5e10) and called a plan serving nothing, 5.64e12, optimal; with the rows alone
    # scaled it proved a dual bound of 3.1343e11 above the optimum.  With rows and dollar
    # columns in the solver's units (millions here) it finds the brute force's optimum.
    req = json.loads((DATA / "tiers-20-years.json").read_text())
    data = prepare(parse_request(req))
    best, _ = brute_force(data)
    assert (data.tokens_unit, data.usd_unit) == (1e6, 1e6)
    out = solve_model(build_model(data), "highs", 60, 1e-9)
    assert out.objective is not None and out.objective == pytest.approx(best, rel=1e-9)
    # and so does the plan's MIP, with the walk having nothing to improve
    without_bound(monkeypatch)
    mip: list[float | None] = []
    real = planner.solve_model

    def spy(m: Any, *a: Any, **k: Any) -> Any:
        got = real(m, *a, **k)
        if m.has_integers:
            mip.append(got.objective)
        return got

    monkeypatch.setattr(planner, "solve_model", spy)
    p = solve(req)
    assert len(mip) == 1 and mip[0] == pytest.approx(best, rel=1e-9)
    assert p.objective.value == pytest.approx(best, rel=1e-9)
    assert not any("walk over the counts improved" in w for w in p.warnings)


def test_twenty_years_without_tiers_one_idle_binary_keeps_the_lp_optimum() -> None:
    # The same failure without any tier: the request without tiers, plus one binary in no row,
    # makes HiGHS run its MIP, which in tokens/s threw out the LP optimum (1.019e-6 over on a
    # capacity row of ~1e10 tokens/s) and returned 5.64e12 as optimal.
    data = prepare(parse_request(json.loads((DATA / "tiers-20-years.json").read_text())))
    lp = solve_model(build_model(data, discounts=False), "highs", 60)
    m = build_model(data, discounts=False)
    m.lp.integer.add(m.new_var("idle", (0,), 0.0, 1.0))
    mip = solve_model(m, "highs", 60, 1e-9)
    assert lp.objective is not None and lp.objective == pytest.approx(3.1407147e11, rel=1e-7)
    assert mip.objective is not None and mip.objective == pytest.approx(lp.objective, rel=1e-9)


# -------------------------------------------------------- prices of the fixed LP with a bound


def _moved(req: Json, path: tuple[Any, ...], x: float) -> Json:
    out = copy.deepcopy(req)
    node: Any = out
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = x
    return out


def _assert_price_is_the_finite_difference(req: Json, path: tuple[Any, ...], price: float, h: float) -> None:
    """The published price (improvement of the objective per unit of relief) against re-solves
    with the limit moved by ±h (each re-solve computes its own bound), where no tier moves."""
    node: Any = req
    for k in path:
        node = node[k]
    x0 = float(node)
    f = {dx: solve(_moved(req, path, x0 + dx)) for dx in (-h, 0.0, h)}
    assert all(p.status == "optimal" and p.objective.value is not None for p in f.values())
    reached = {p.contracts[0].discount_tiers_reached for p in f.values()}
    assert len(reached) == 1
    right = (f[0.0].objective.value - f[h].objective.value) / h  # type: ignore[operator]
    left = (f[-h].objective.value - f[0.0].objective.value) / h  # type: ignore[operator]
    assert price == pytest.approx(right, rel=1e-6) and price == pytest.approx(left, rel=1e-6)


FLAT = {"residual_value": False}


def test_budget_price_with_the_spend_at_the_bound() -> None:
    # $5,000 of budget buys 50 of the 100 units demanded (the $0.01/M penalty is worth more
    # than a unit); 10 % above $2,000.  Without tiers the plan spends the same $5,000, and no
    # plan spends more: the bound is $5,005 (the margin) against $1e7 physically, so the MIP
    # sees a last tier $3,005 wide with the optimum $5 inside it.  Each budget dollar buys
    # 1/100 unit that serves 315.36 M tokens ($3.15 of penalty) for $1 less 10 % rebate.
    wl = [workload(min_service_fraction=0, unmet_penalty_usd_per_million_tokens=0.01)]
    req = request(
        economics=dict(FLAT), workloads=wl, contracts=[_tier(2000, 0.1)], budget={"capex_usd": 5000}
    )
    data = prepare(parse_request(req))
    m = build_model(data)
    bounds, _ = optimality_spend_bounds(m, "highs", 60)
    assert bounds[0] == pytest.approx(5000 * (1 + BOUND_MARGIN), rel=1e-7)
    assert bounds[0] < spend_bound(m, 0) / 1000
    p = solve(req)
    assert p.shadow_prices is not None and p.shadow_prices.basis == "integer_fixed"
    assert p.contracts[0].net_spend_usd == pytest.approx(5000, rel=REL)
    price = float(p.shadow_prices.budget_per_usd or 0.0)
    assert price == pytest.approx(3.1536 - 0.9, rel=1e-7)
    _assert_price_is_the_finite_difference(req, ("budget", "capex_usd"), price, 1.0)


def test_power_price_with_a_bound_below_the_physical_one() -> None:
    # 0.05 MW at s holds 50 of the 100 units needed ($100); the rest are $150 units at t
    # (100 MW).  Spend 12,500, 10 % above $2,000: bound ≈ 12,735 (cost − 10 % of the spend
    # <= 11,450), physically $1.5e7.  A MW more at s swaps 1,000 dear units for cheap ones:
    # $50 each, less the $5 of rebate that goes with it — $45,000 per MW.
    hw = [hardware("h"), hardware("h2", price=150)]
    sites = [site("s", power=0.05, allowed_hardware=["h"]), site("t", power=100, allowed_hardware=["h2"])]
    req = request(economics=dict(FLAT), sites=sites, hardware_=hw, contracts=[_tier(2000, 0.1)])
    data = prepare(parse_request(req))
    m = build_model(data)
    bounds, _ = optimality_spend_bounds(m, "highs", 60)
    assert bounds[0] == pytest.approx(11_450 * (1 + BOUND_SLACK) / 0.9 * (1 + BOUND_MARGIN), rel=1e-9)
    assert bounds[0] < spend_bound(m, 0) / 1000
    p = solve(req)
    assert p.shadow_prices is not None and p.contracts[0].net_spend_usd == pytest.approx(12_500, rel=REL)
    price = next(x.value for x in p.shadow_prices.power_usd_per_mw if x.site == "s")
    assert price == pytest.approx(45_000, rel=1e-7)
    _assert_price_is_the_finite_difference(req, ("sites", 0, "power_mw"), price, 1e-5)


def _tier(above: float, rate: float) -> Json:
    return {"vendor": "v", "discount_tiers": [{"above_spend_usd": above, "discount": rate}]}


def test_only_the_mip_sees_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fixed LP (prices, the walk) and everything after the MIP get the model's own widths
    # back: a width at the bound could otherwise bind in a walk's trial (whose count no
    # optimum has) and leave a rebate unpaid that the plan's recomputation pays.
    req = request(economics=dict(FLAT), contracts=[_tier(5000, 0.1)])
    seen: list[tuple[bool, float, float]] = []
    real = planner.solve_model

    def spy(m: Any, *a: Any, **k: Any) -> Any:
        if m.var.get("tier"):
            x, b = m.var["tier"][(0, 0)], m.var["reached"][(0, 0)]
            seen.append((m.has_integers, m.lp.ub[x], -m.con["tier_open"][(0, 0)].expr[b]))
        return real(m, *a, **k)

    monkeypatch.setattr(planner, "solve_model", spy)
    p = solve(req)
    assert p.status == "optimal" and p.objective.value == pytest.approx(10_000 - 500, rel=REL)
    m = build_model(prepare(parse_request(req)))
    physical = spend_bound(m, 0) - 5000  # 100 MW of $100 1-kW units: $1e7
    bounded = 9500 * (1 + BOUND_SLACK) / 0.9 * (1 + BOUND_MARGIN) - 5000  # 0.9·B <= U = 9,500
    assert seen[0][0] and seen[0][1:] == pytest.approx((bounded, bounded), rel=1e-9)
    assert len(seen) > 1 and all(not mip and (w, c) == (physical, physical) for mip, w, c in seen[1:])
