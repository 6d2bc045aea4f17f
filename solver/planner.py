"""``plan()``: validate → prepare → build → solve → (stage two) → extract → duals → diagnose."""

from __future__ import annotations

import dataclasses
import math
import time
import uuid
from collections.abc import Mapping
from typing import Any

from solver.advice import extract_idle_purchases, idle_purchase_warnings, opex_budget_warning
from solver.diagnose import diagnose
from solver.extract import (
    Values,
    binding_strings,
    discount,
    extract_binding,
    extract_contracts,
    extract_periods,
    extract_shadow_prices,
    extract_summary,
    objective_mismatch,
    priced_limits,
)
from solver.lp import GE, LE, Expr
from solver.model import (
    MAX_SERVED_TOLERANCE,
    Built,
    bound_tiers,
    build_model,
    net_spend_terms,
    prepare,
    set_objective,
    solver_unit,
    spend_bound,
)
from solver.schema import Contract, ObjectiveOut, Plan, PlanRequest, ShadowPrices, SolverOut
from solver.size import check_model_size
from solver.solve import LIBRARY_MAX_TIME_LIMIT_S, SolveOutcome, WarmStarts, solve_model
from solver.validate import parse_request


def plan(
    request: PlanRequest | Mapping[str, Any] | str | bytes,
    *,
    plan_id: str | None = None,
    max_variables: int | None = None,
    max_time_limit_s: float | None = None,
    warm: WarmStarts | None = None,
) -> Plan:
    """Solve a planning request and explain the answer.

    Parameters
    ----------
    request
        A PlanRequest, or its JSON (dict or text); invalid input raises RequestInvalid.
    plan_id
        Identifier to give the plan (a fresh one by default).
    max_variables
        Refuse (ModelTooLarge) models with more columns, or a derived table with more entries
        (:func:`solver.size.check_model_size`), before deriving anything.
    max_time_limit_s
        Cap on the request's time limit (the library caps at LIBRARY_MAX_TIME_LIMIT_S too).
    warm
        Bases of earlier LPs to start the main solve from when its structure matches
        (:class:`solver.solve.WarmStarts`: a sweep worker keeps one); the answer is the same.
    """
    req = parse_request(request)
    t_start = time.perf_counter()
    if max_variables is not None:
        check_model_size(req, max_variables)
    data = prepare(req)
    run = _Run(
        req, t_start, effective_time_limit(req.solver.time_limit_s, max_time_limit_s), list(data.warnings)
    )
    run.warm = warm
    run.note_library_cap(max_time_limit_s)
    if req.solver.method == "pdlp":
        run.warnings.append(
            "method pdlp: a first-order method without crossover; the plan, its figures and its prices "
            "are approximate (to HiGHS's PDLP tolerances), not a vertex of the LP"
        )
    m = build_model(data, integer=req.solver.integer)
    run.mixed = m.has_integers  # before _integer_fixed_prices makes those columns continuous
    run.build_s = time.perf_counter() - t_start
    out = _solve(m, run)
    value, prices, priced, out = _objective_and_prices(m, run, out)
    plan_out = _plan_shell(m, run, out, value, plan_id or uuid.uuid4().hex)
    if out.status in ("optimal", "feasible"):
        return _with_solution(m, run, plan_out, value, prices, priced)
    if out.status == "infeasible":
        _explain_infeasible(m, run, plan_out)
    return plan_out


def effective_time_limit(asked_s: float, cap_s: float | None = None) -> float:
    """The time limit a solve gets: the request's, capped by the caller's (the service's
    ``max_time_limit_s``) and by the library's :data:`LIBRARY_MAX_TIME_LIMIT_S`."""
    return min(asked_s, LIBRARY_MAX_TIME_LIMIT_S, math.inf if cap_s is None else cap_s)


@dataclasses.dataclass
class _Run:
    """What one ``plan()`` call carries from phase to phase: the request, its clock and time
    limit, the backend in use, the warnings said so far and the seconds spent solving."""

    req: PlanRequest
    t_start: float
    limit: float
    warnings: list[str]
    backend: str = ""
    mixed: bool = False
    explained: bool = False  # a warning already says why the plan is only "feasible"
    build_s: float = 0.0
    solve_s: float = 0.0
    warm: WarmStarts | None = None

    def __post_init__(self) -> None:
        self.backend = self.req.solver.backend

    @property
    def kind(self) -> str:
        return self.req.objective.kind

    def remaining(self) -> float:
        """Time left for a later stage (never less than a second, or the whole limit if shorter)."""
        return max(min(1.0, self.limit), self.limit - (time.perf_counter() - self.t_start))

    def note_library_cap(self, cap_s: float | None) -> None:
        """Say when the library, not the caller, capped the request's time limit (a lower cap of
        the caller's, e.g. the service's, is the caller's to report)."""
        asked = self.req.solver.time_limit_s
        if asked > LIBRARY_MAX_TIME_LIMIT_S and (cap_s or math.inf) > LIBRARY_MAX_TIME_LIMIT_S:
            self.warnings.append(
                f"time limit capped at {LIBRARY_MAX_TIME_LIMIT_S:g} s by the library (the request asked "
                f"{asked:g} s)"
            )


def _solve(m: Built, run: _Run) -> SolveOutcome:
    """The main solve: discount tiers sized by the optimality bound for the MIP, HiGHS with CBC
    as its fallback, and a tier MIP that says infeasible rescued without its tiers."""
    opts = run.req.solver
    bounded: list[int] = []  # vendors whose tiers the MIP sees sized by the optimality bound
    mip_limit = run.limit
    if m.var.get("tier") and run.kind != "max_served" and not opts.integer:
        bounds, bound_s = optimality_spend_bounds(m, run.backend, run.remaining())
        run.solve_s += bound_s
        for vendor, bound in sorted(bounds.items()):
            if bound < spend_bound(m, vendor):
                bound_tiers(m, vendor, bound)
                bounded.append(vendor)
        mip_limit = run.remaining()
    out = solve_model(m, run.backend, mip_limit, opts.mip_gap, run.warm, opts.method)
    run.solve_s += out.seconds
    if out.status == "failed" and run.backend == "highs":
        # CBC is the fallback backend: a HiGHS error is retried there before giving up
        run.warnings.append(f"HiGHS failed ({out.detail}); retried with CBC")
        run.backend = "cbc"
        out = solve_model(m, run.backend, run.remaining(), opts.mip_gap)
        run.solve_s += out.seconds
    for vendor in bounded:  # only the MIP sees the tighter widths; the fixed LP the model's own
        bound_tiers(m, vendor, spend_bound(m, vendor))
    if out.status == "infeasible" and m.var.get("reached") and run.kind != "max_served":
        rescue = _without_tiers(m, run.backend, run.remaining(), opts.mip_gap)
        if rescue is not None:  # tiers only credit money: their infeasibility was numerical
            run.explained = True
            run.solve_s += rescue.seconds
            out = rescue
            run.warnings.append(
                "the mixed-integer solve with discount tiers said infeasible, but the request is "
                "feasible without them (tiers only credit money): the plan starts from the solve "
                "without tiers, with the tiers its net spend reaches, improved tier by tier "
                "(feasible, not proven optimal)"
            )
    return out


def _objective_and_prices(
    m: Built, run: _Run, out: SolveOutcome
) -> tuple[float | None, ShadowPrices | None, set[tuple[str, tuple[int, ...]]], SolveOutcome]:
    """The reported objective, the shadow prices and the limits priced at stage one, after
    max_served's stage two and, for a mixed-integer model, the fixed-integer LP."""
    value: float | None = None
    prices: ShadowPrices | None = None
    priced: set[tuple[str, tuple[int, ...]]] = set()
    if out.status not in ("optimal", "feasible") or out.objective is None:
        return value, prices, priced, out
    value = _reported(out.objective, run.kind)
    if run.kind == "max_served":
        if out.has_duals:
            prices = extract_shadow_prices(m, "lp")
        priced = priced_limits(m)  # stage one's: binding even if stage two leaves slack
        out = _stage_two(m, run, value, out)
    elif out.has_duals:
        prices = extract_shadow_prices(m, "lp")
    if not run.mixed and out.status == "optimal" and not out.has_duals:
        run.warnings.append(
            f"the {run.backend} backend returned no duals: no shadow prices (solve with 'highs' or "
            "'cbc' for them)"
        )
    if run.mixed:
        prices, value, out = _fixed_integer_prices(m, run, prices, value, out)
    if out.status == "feasible" and not run.explained:
        gap = f" (relative MIP gap {out.mip_gap:.3g})" if out.mip_gap is not None else ""
        run.warnings.append(f"stopped at the time limit with a feasible, unproven plan{gap}")
    return value, prices, priced, out


def _stage_two(m: Built, run: _Run, value: float, out: SolveOutcome) -> SolveOutcome:
    """max_served: the least cost at the most served (stage one restored if it fails)."""
    opts = run.req.solver
    stage2 = _second_stage(m, value, run.backend, run.remaining(), opts.mip_gap)
    run.solve_s += stage2.seconds
    if stage2.status not in ("optimal", "feasible"):
        run.warnings.append(f"cost minimisation at the most served ended {stage2.status}")
        _drop_served_floor(m)
        set_objective(m, stage=1)
        return solve_model(m, run.backend, run.remaining(), opts.mip_gap)  # restore stage one
    return stage2 if stage2.status == "feasible" else out


def _fixed_integer_prices(
    m: Built, run: _Run, prices: ShadowPrices | None, value: float, out: SolveOutcome
) -> tuple[ShadowPrices | None, float, SolveOutcome]:
    """A mixed-integer model: the plan read off the LP with its integer decisions fixed, its
    prices (tier-only MIPs) or none (integer plans), and the warnings that say which."""
    opts = run.req.solver
    snapshot = _Snapshot(m)
    # with whole units fixed the net spend is fixed: only one tier count is feasible
    walk = run.kind != "max_served" and not opts.integer
    prices, fixed = _integer_fixed_prices(m, run.backend, run.remaining(), walk=walk)
    if run.kind != "max_served" and fixed.status == "optimal" and fixed.objective is not None:
        # The plan is read off the LP with the integer decisions fixed at whole values:
        # a binary the MIP left at 1e-9 could let a discount tier of width 1e11 hold
        # $100 that was never spent; fixed at 0, it holds nothing.
        run.solve_s += fixed.seconds
        value = _reported(fixed.objective, run.kind)
        if fixed.detail.endswith(WALKED):
            out = dataclasses.replace(out, status="feasible", mip_gap=None)
            run.explained = True  # no "time limit" warning: this one says why
            run.warnings.append(
                "the mixed-integer solve stopped at discount-tier counts that a walk over "
                "the counts improved on (its big-M rows are weak on long horizons): the "
                "plan is better than the solver's but not proven optimal"
            )
    else:
        snapshot.restore()
    if opts.integer:
        # With whole units fixed no purchase can move: the fixed LP prices power, budgets
        # and supply at 0 whatever they are worth.  An integer program has no shadow
        # prices; the plan says how to value a limit instead.
        prices = None
        run.warnings.append(
            "integer plan: no shadow prices (an integer program has none, and with the whole "
            "units fixed every limit would read 0); to value one more MW, dollar or unit, "
            "re-solve with the limit moved (capplan sweep, or a sweep or tornado job)"
        )
    elif prices is not None:
        at = "their optimum" if out.status == "optimal" else "the best plan found (not proven optimal)"
        run.warnings.append(
            "shadow prices are marginal values of the LP with the discount tiers reached "
            f"fixed at {at} (basis 'integer_fixed')"
        )
    if not opts.integer:
        run.warnings.append(
            "contract discount tiers make this a mixed-integer program (one binary per "
            "tier): solved by branch and bound within mip_gap"
        )
    return prices, value, out


def _plan_shell(m: Built, run: _Run, out: SolveOutcome, value: float | None, plan_id: str) -> Plan:
    """The plan's identity, status, objective and solver record (its tables come after)."""
    req = run.req
    return Plan(
        id=plan_id,
        name=req.name,
        status=out.status,
        period_months=req.horizon.period_months,
        objective=ObjectiveOut(kind=req.objective.kind, value=value),
        solver=SolverOut(
            backend=run.backend,
            integer=req.solver.integer,
            seconds=run.solve_s,
            build_seconds=run.build_s,
            variables=m.lp.num_cols,
            constraints=len(m.lp.rows),
            mip_gap=out.mip_gap,
            mixed_integer=run.mixed,
            detail=out.detail,
            warm_started=out.warm_started,
        ),
        warnings=run.warnings,
    )


def _with_solution(
    m: Built,
    run: _Run,
    plan_out: Plan,
    value: float | None,
    prices: ShadowPrices | None,
    priced: set[tuple[str, tuple[int, ...]]],
) -> Plan:
    """Extract → duals → advice: the plan's tables, prices, binding limits and warnings, or a
    failed plan when its own tables disagree with the solver's objective."""
    x = Values(m)
    periods = extract_periods(m, x)
    contracts = extract_contracts(m, x, periods)
    plan_out.periods = periods
    plan_out.contracts = contracts
    plan_out.summary = extract_summary(m, x, periods, contracts)
    plan_out.shadow_prices = prices
    plan_out.binding_limits = extract_binding(m, priced, prices)
    plan_out.binding = binding_strings(plan_out.binding_limits)
    plan_out.idle_purchases = extract_idle_purchases(
        m, x, plan_out.summary, contracts, plan_out.binding_limits
    )
    plan_out.warnings += idle_purchase_warnings(m, plan_out.idle_purchases, contracts)
    opex_note = opex_budget_warning(m, periods, plan_out.binding_limits)
    if opex_note is not None:
        plan_out.warnings.append(opex_note)
    trouble = objective_mismatch(m, value, periods, plan_out.summary) if value is not None else None
    if trouble is None:
        return plan_out
    # the numbers do not add up: no plan rather than a wrong one
    return Plan(
        id=plan_out.id,
        name=run.req.name,
        status="failed",
        period_months=run.req.horizon.period_months,
        objective=ObjectiveOut(kind=run.req.objective.kind),
        solver=plan_out.solver.model_copy(update={"detail": trouble}),
        warnings=[*run.warnings, trouble],
    )


def _explain_infeasible(m: Built, run: _Run, plan_out: Plan) -> None:
    """The diagnosis of an infeasible plan (elastic re-solves in the time left)."""
    integer = run.req.solver.integer
    entries, note, whole = diagnose(m, time_limit_s=run.remaining(), backend=run.backend, integer=integer)
    plan_out.diagnosis = entries
    if integer:
        plan_out.warnings.append(
            "diagnosis made with whole units: the continuous relaxation is feasible, "
            "whole units (replicas) are what does not fit"
            if whole
            else "diagnosis made on the continuous relaxation"
        )
    if note:
        plan_out.warnings.append(note)


def _reported(objective: float, kind: str) -> float:
    """The objective value a plan reports: the minimised objective, negated for the maximising
    kinds (the model minimises −profit or −served), never −0.0 (a plan that serves nothing
    reports 0, not "-0")."""
    value = objective if kind == "min_cost" else -objective
    return value + 0.0  # −0.0 + 0.0 is +0.0; any other value is unchanged


def _second_stage(m: Built, best: float, backend: str, limit: float, gap: float) -> SolveOutcome:
    """max_served stage two: keep the served value within tolerance, minimise cost.

    ``served_floor`` is in weighted million tokens (up to ~1e13 over 20 years), handed to the
    solver in units of :func:`solver_unit` of the floor (its dual, not used, rescaled back).
    """
    assert m.served_value is not None
    floor = best - MAX_SERVED_TOLERANCE * max(abs(best), 1.0)
    m.new_row("served_floor", (), list(m.served_value.items()), GE, floor, solver_unit(abs(floor)))
    set_objective(m, stage=2)
    return solve_model(m, backend, limit, gap)


WALKED = "tier counts improved by the walk"


def _integer_fixed_prices(
    m: Built, backend: str, limit: float, walk: bool = False
) -> tuple[ShadowPrices | None, SolveOutcome]:
    """Fix the integer decisions and re-solve the LP (stage one's objective): its duals, and
    how the solve went (its values are left on the handles).

    Whole units are fixed at their rounded values; a discount tier's ``reached`` at whether
    the net spend of the MIP's purchases passes its threshold (the contract's own rule), not
    at the binary's value: within the MIP's feasibility tolerance a binary of 1e-6 opens 1e-6
    of a tier as wide as the spend bound, or a binary at 0 leaves a tier the spend did pass
    unpaid.  The net spend is then kept below the first threshold not reached (``tier_cap``),
    so that the LP cannot move it past a tier it is not credited for.  With ``walk`` the
    number of tiers reached is then improved vendor by vendor (:func:`_walk_tiers`).
    """
    reached = {b: key for key, b in m.var.get("reached", {}).items()}
    count: dict[int, int] = {}  # vendor -> tiers reached at the MIP's purchases
    lp = m.lp
    for v in sorted(lp.integer):
        if v in reached:
            vendor, k = reached[v]
            if vendor not in count:
                terms, fixed = net_spend_terms(m, vendor)
                base = fixed + sum(c * m.value(x) for x, c in terms)
                thresholds = [t.above_spend_usd for t in _contract(m, vendor).discount_tiers]
                count[vendor] = sum(1 for t in thresholds if base >= t * (1 - 1e-9))
            val = float(k < count[vendor])
        else:
            val = float(round(m.value(v)))
        lp.lb[v] = lp.ub[v] = val
    lp.integer.clear()
    for vendor in count:
        terms, fixed = net_spend_terms(m, vendor)
        m.new_row("tier_cap", (vendor,), terms, LE, 0.0, m.data.usd_unit)  # dollars, as discount_spend
        _set_tiers(m, vendor, count[vendor])
    _drop_served_floor(m)
    set_objective(m, stage=1)
    out = solve_model(m, backend, limit)
    if walk and count and out.status == "optimal":
        start = dict(count)
        out = _walk_tiers(m, backend, limit, count, out)
        if count != start:  # the MIP's count was not the best: its optimality proves nothing
            out = dataclasses.replace(out, detail=out.detail + "; " + WALKED)
    if not out.has_duals:
        return None, out
    return extract_shadow_prices(m, "integer_fixed"), out


BOUND_SLACK = 1e-6
"""Relative slack on the known plan's value in :func:`optimality_spend_bounds` (solver round-off)."""
BOUND_MARGIN = 1e-3
"""Relative margin on an optimality bound, so that it is never tight at an optimum."""


def optimality_spend_bounds(m: Built, backend: str, limit: float) -> tuple[dict[int, float], float]:
    """Bounds on the net spend B_v of every tiered vendor that every *optimal* plan of ``m``
    obeys (min_cost and max_profit, continuous units), and the seconds the LPs took.

    Z is the minimised objective of the tier model, Z* its optimum.

    1. An upper bound: the request without tiers is solved (an LP); its plan x0, with each
       tier filled as far as its net spend reaches, is feasible for the tier model (tiers only
       credit money), so Z* <= U = Z_plain(x0) − d_N·Σ_u f_u(B_u(x0)), f_u the rebate.
    2. A lower bound on Z for every feasible plan: the rebate Σ_k δ_k·tier[u,k] <= δmax_u·Σ_k
       tier[u,k] <= δmax_u·B_u (``discount_spend``), so Z(x) >= Z̃(x) = Z_plain(x) − d_N·Σ_u
       δmax_u·B_u(x), a linear function of the plan without its tier columns.
    3. Hence every optimum x* has Z̃(x*) <= Z(x*) = Z* <= U, and since x* without its tier
       columns lies in P, the LP relaxation of the request without tiers,
       B_v(x*) <= M'_v = max { B_v(x) : x in P, Z̃(x) <= U }, one LP per vendor.

    The bound returned is M'_v·(1 + BOUND_MARGIN), U itself taken BOUND_SLACK larger: solver
    round-off cannot make it cut off an optimum, and no optimum lies on it.  The termwise
    version of step 3 (each purchase costs at least d_N per dollar of net spend, every other
    term at least its minimum) needs no LP but is useless on long horizons: 1.6e12 on the
    20-year case, above M_v = 1.07e12; this one is 1.26e11 (the optimum spends 1.252e11).

    Not for integer mode: x0 is then no integer plan and U no bound on Z*.  Not for
    max_served: its plan minimises cost in stage two under a served floor, not Z.  A vendor
    is left out (no bound) when an LP does not end optimal.
    """
    tiered = sorted({v for v, _ in m.var.get("tier", {})})
    if not tiered:
        return {}, 0.0
    deadline = time.perf_counter() + limit
    data = m.data
    plain = build_model(data, integer=False, discounts=False)
    out = solve_model(plain, backend, limit)
    seconds = out.seconds
    if out.status != "optimal" or out.objective is None:
        return {}, seconds
    known = out.objective  # U: the tier-less plan's value with the rebates its spend earns
    relaxed = plain.lp.objective.copy()  # Z̃
    net = {}
    for v in tiered:
        tiers = _contract(m, v).discount_tiers
        terms, fixed = net_spend_terms(plain, v)
        net[v] = (terms, fixed)
        known -= data.d_end * discount(tiers, fixed + sum(a * plain.value(x) for x, a in terms))[0]
        rate = data.d_end * max(t.discount for t in tiers)
        for x, a in terms:
            relaxed[x] = relaxed.get(x, 0.0) - rate * a
        relaxed.constant -= rate * fixed
    cap = known + BOUND_SLACK * max(1.0, abs(known))
    # NPV dollars: in the unit of the model's dollar rows (solver_unit)
    plain.new_row("objective_cap", (), list(relaxed.items()), LE, cap - relaxed.constant, data.usd_unit)
    bounds: dict[int, float] = {}
    for v in tiered:
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        terms, fixed = net[v]
        plain.lp.objective = Expr((x, -a) for x, a in terms)  # max B_v
        most = solve_model(plain, backend, left)
        seconds += most.seconds
        if most.status == "optimal" and most.objective is not None:
            bounds[v] = (fixed - most.objective) * (1 + BOUND_MARGIN)
    return bounds, seconds


def _without_tiers(m: Built, backend: str, limit: float, gap: float) -> SolveOutcome | None:
    """Solve ``m``'s request without discount tiers; when that has a plan, put its values on
    ``m``'s handles (tier columns left at 0) and return it as ``feasible``, else None.

    A big-M tier row as wide as the spend bound can make a MIP that tiers cannot make
    infeasible come back infeasible (seen over 240 monthly periods).
    """
    plain = build_model(m.data, integer=m.integer, discounts=False)
    out = solve_model(plain, backend, limit, gap)
    if out.status not in ("optimal", "feasible") or out.objective is None:
        return None
    values = [0.0] * m.lp.num_cols  # tier columns left at 0
    for family, handles in plain.var.items():
        for key, x in handles.items():
            mine = m.var.get(family, {}).get(key)
            if mine is not None:
                values[mine] = plain.value(x)
    m.lp.set_values(values)
    return SolveOutcome("feasible", out.detail + " (without discount tiers)", out.objective, out.seconds)


def _set_tiers(m: Built, vendor: int, r: int) -> None:
    """Fix vendor's first ``r`` tiers reached, the others not, and cap its net spend below the
    threshold of tier ``r`` (none past the last: the spend bound, twice over)."""
    thresholds = [t.above_spend_usd for t in _contract(m, vendor).discount_tiers]
    for (v, k), b in m.var.get("reached", {}).items():
        if v == vendor:
            m.lp.lb[b] = m.lp.ub[b] = float(k < r)
    cap = m.con.get("tier_cap", {}).get((vendor,))
    if cap is None:  # no decision moves the vendor's spend: its count is the one it reaches
        return
    _, fixed = net_spend_terms(m, vendor)
    top = thresholds[r] if r < len(thresholds) else 2 * spend_bound(m, vendor) + 1.0
    cap.rhs = top - fixed  # row: Σ terms + fixed <= top


def _walk_tiers(
    m: Built, backend: str, limit: float, count: dict[int, int], best: SolveOutcome
) -> SolveOutcome:
    """Give each vendor in turn the tier count that makes the fixed LP cheapest, every count
    tried (one LP each), until no vendor's count changes or ``limit`` seconds have passed; the
    outcome's seconds are the walk's.

    The MIP's big-M rows (a last tier as wide as the spend bound, 1e12 on a 20-year plan) can
    leave it "optimal" at a tier count far from the best: a plan 3.7 times too costly was
    handed out consistent with the wrong count.  Every count, not a step at a time: the cost
    over the count can rise before it falls (9,500 at 0 tiers, 9,550 at 1, 5,990 at 2).
    """
    # a vendor whose spend no decision moves (no tier_cap row: existing units only, say) keeps
    # the count its fixed spend reaches: no other count is feasible
    modelled = {
        v: len(_contract(m, v).discount_tiers) if (v,) in m.con.get("tier_cap", {}) else -1 for v in count
    }
    seconds = best.seconds
    current = True  # the handles (values and duals) hold the best solve
    deadline = time.perf_counter() + limit  # the walk stops with what it has when time is up
    for _ in range(len(count) + 1):
        moved = False
        for vendor in sorted(count):
            for r in range(modelled[vendor] + 1):
                left = deadline - time.perf_counter()
                if r == count[vendor] or left <= 0:
                    continue
                snapshot = _Snapshot(m)
                _set_tiers(m, vendor, r)
                trial = solve_model(m, backend, left)
                seconds += trial.seconds
                better = (
                    trial.status == "optimal"
                    and trial.objective is not None
                    and best.objective is not None
                    and trial.objective < best.objective - 1e-9 * max(1.0, abs(best.objective))
                )
                if better:
                    count[vendor], best, moved, current = r, trial, True, True
                    continue
                _set_tiers(m, vendor, count[vendor])
                snapshot.restore()  # values; the duals are the trial's until solved again
                current = False
        if not moved:
            break
    if not current:
        best = solve_model(m, backend, limit)
        seconds += best.seconds
    return dataclasses.replace(best, seconds=seconds)


def _contract(m: Built, vendor: int) -> Contract:
    return next(c for c in m.data.req.contracts if c.vendor == m.data.vendors[vendor])


def _drop_served_floor(m: Built) -> None:
    m.drop_row("served_floor", ())


class _Snapshot:
    """Primal values and slacks of a solved model, to put back after an auxiliary solve."""

    def __init__(self, m: Built) -> None:
        self.m = m
        self.values = list(m.lp.x)
        self.rows = list(m.lp.rows)
        self.slacks = [c.slack for c in m.lp.rows]

    def restore(self) -> None:
        self.m.lp.x = list(self.values)
        for c, sl in zip(self.rows, self.slacks, strict=True):
            c.slack = sl
