"""The cost-vs-served frontier: the least NPV cost at evenly spaced served fractions between the
least and the most that can be served (see :class:`PreparedFrontier`)."""

from __future__ import annotations

import copy
import itertools
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from solver.scenarios.results import (
    FrontierResult,
    FrontierRow,
    discounted_million_tokens,
    knee_of,
    row_from_plan,
)
from solver.scenarios.run import RunOptions, ScenarioOutcome, ScenarioTask, run_tasks
from solver.scenarios.specs import FrontierSpec, Json, base_request, parse_spec


@dataclass
class PreparedFrontier:
    """The frontier's two end requests and how to make the points between them.

    * low end: the base as a ``min_cost`` request (its own minimum service kept), i.e. the
      least that must be served and the cheapest way to serve it;
    * high end: the base as a ``max_served`` request (stage two: least cost at the most);
    * point k: the base as ``min_cost`` with ``policy.min_total_served_fraction`` =
      low + k·(high − low)/(points − 1).

    In all of them every workload weight is 1 (served is counted in plain million tokens,
    as ``summary.served_fraction`` is) and unmet-demand penalties are 0 (the curve is cost
    against served, not cost plus a price on unmet demand).  Values per million tokens are 0
    too: neither objective reads them (so no plan warns that they are ignored).
    """

    points: int
    base: Json

    def request(self, kind: str, served_fraction: float | None = None) -> Json:
        req = copy.deepcopy(self.base)
        req["objective"] = {"kind": kind}
        for w in req["workloads"]:
            w["weight"] = 1.0
            w["unmet_penalty_usd_per_million_tokens"] = 0.0
            w["value_usd_per_million_tokens"] = 0.0
        req.setdefault("policy", {})["min_total_served_fraction"] = served_fraction
        return req


def prepare_frontier(data: FrontierSpec | Mapping[str, Any]) -> PreparedFrontier:
    """Check a frontier body (``{"base": PlanRequest, "points": n}``); nothing is solved."""
    spec: FrontierSpec = parse_spec(FrontierSpec, data)
    base = base_request(spec.base)
    fr = PreparedFrontier(spec.points, base)
    for kind in ("min_cost", "max_served"):
        base_request(fr.request(kind))
    return fr


def run_frontier(fr: PreparedFrontier, opts: RunOptions | None = None) -> FrontierResult:
    """Solve the two ends, then the interior points, all through ``opts.mapper``."""
    opts = opts or RunOptions()
    total = fr.points
    result = FrontierResult(points=fr.points, total=total, done=0)
    ends = {0: fr.request("min_cost"), total - 1: fr.request("max_served")}
    ids = {k: opts.new_plan_id(k) for k in range(total)}
    targets: dict[int, float] = {}
    values: dict[int, dict[str, Any]] = {
        0: {"objective/kind": "min_cost"},
        total - 1: {"objective/kind": "max_served"},
    }

    def make_row(out: ScenarioOutcome) -> FrontierRow:
        base = row_from_plan(out.plan, out.index, ids[out.index], out.error)
        # an end aims at what its plan serves: unknown (null) without a plan
        target = targets.get(out.index, base.served_fraction)
        return FrontierRow(
            **base.model_dump(exclude={"values"}),
            values=values[out.index],
            target_served_fraction=target,
            discounted_million_tokens_served=discounted_million_tokens(out.plan)
            if base.npv_cost_usd is not None
            else None,
        )

    def tasks_for(reqs: Mapping[int, Json]) -> list[ScenarioTask]:
        return [
            ScenarioTask(k, r, ids[k], opts.max_variables, opts.max_time_limit_s)
            for k, r in sorted(reqs.items())
        ]

    rows, cancelled = run_tasks(tasks_for(ends), ends, make_row, opts, 0, total)
    frows: dict[int, FrontierRow] = {k: typing.cast(FrontierRow, r) for k, r in rows.items()}
    result.done = len(frows)
    lo_row, hi_row = frows.get(0), frows.get(total - 1)
    if cancelled or lo_row is None or hi_row is None:
        result.cancelled = True
        result.rows = [frows[k] for k in sorted(frows)]
        return result
    for end, row in (("least served (min_cost)", lo_row), ("most served (max_served)", hi_row)):
        if row.status not in ("optimal", "feasible") or row.served_fraction is None:
            result.error = f"the {end} end is {row.status}" + (f" ({row.error})" if row.error else "")
            result.rows = [frows[k] for k in sorted(frows)]
            return result
    lo = typing.cast(float, lo_row.served_fraction)
    hi = max(lo, typing.cast(float, hi_row.served_fraction))
    result.low_served_fraction, result.high_served_fraction = lo, hi
    lo_row.target_served_fraction, hi_row.target_served_fraction = lo, hi
    if hi - lo <= 1e-9:
        result.note = f"the served fraction cannot vary (the least and the most are both {lo:.6g})"
        result.total = result.done = 2
        hi_row.index = 1  # the two ends of a two-row result
        result.rows = [lo_row, hi_row]
        return result
    inner: dict[int, Json] = {}
    for k in range(1, total - 1):
        f = lo + k * (hi - lo) / (total - 1)
        targets[k] = f
        values[k] = {"objective/kind": "min_cost", "policy/min_total_served_fraction": f}
        inner[k] = fr.request("min_cost", f)
    rows2, cancelled = run_tasks(tasks_for(inner), inner, make_row, opts, 2, total)
    frows.update({k: typing.cast(FrontierRow, r) for k, r in rows2.items()})
    result.done = len(frows)
    result.cancelled = cancelled
    ordered = [frows[k] for k in sorted(frows)]
    ok = [r for r in ordered if r.npv_cost_usd is not None and r.served_fraction is not None]
    for prev, cur in itertools.pairwise(ok):
        # Levelised, like cost_per_million_tokens_usd beside it: NPV dollars per *discounted*
        # million tokens (a token served in period t counts d_t).  Per undiscounted token the
        # marginal would stand on another basis than the average: with a constant present-value
        # cost per discounted token it would read d_t times the average.
        assert prev.discounted_million_tokens_served is not None
        assert cur.discounted_million_tokens_served is not None
        dserved = cur.discounted_million_tokens_served - prev.discounted_million_tokens_served
        if dserved > 1e-12 * max(1.0, cur.discounted_million_tokens_served):
            cur.marginal_cost_usd_per_million_tokens = (
                typing.cast(float, cur.npv_cost_usd) - typing.cast(float, prev.npv_cost_usd)
            ) / dserved
    if not cancelled:
        knee = knee_of(
            [typing.cast(float, r.served_fraction) for r in ok],
            [typing.cast(float, r.npv_cost_usd) for r in ok],
        )
        if knee is not None:
            ok[knee].knee = True
            result.knee_index = ok[knee].index
    result.rows = ordered
    return result
