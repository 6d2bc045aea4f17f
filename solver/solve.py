"""Run a built model on HiGHS (default) or CBC and map the solver's *real* status.

HiGHS gets the model in bulk (one ``passModel`` with CSR arrays) rather than through
PuLP's per-column adapter, which costs more than the solve on large LPs.  The status comes
from HiGHS's own model status and primal-solution status: a time-limited run with an
incumbent is ``feasible``, without one ``time_limit``; PuLP's "Optimal" is never trusted.
CBC runs through PuLP's bundled binary in a private temporary directory, at one thread.

After a solve every variable handle has ``varValue`` and every row handle ``pi`` (the
dual, d(minimised objective)/d(rhs), LP only) and ``slack`` (rhs − activity, ≥ 0 when
the row holds).

Rows are handed to either backend divided by their family's unit (``Built.row_units``,
:func:`solver.model.solver_unit`: millions of tokens/s or dollars on large models), and the
dollar columns (tier, vested, shortfall) in the same unit of dollars (``Built.column_units``),
so that the solvers' absolute tolerances mean something on rows of 1e10.  The handles stay in
natural units: slack = row unit × the solver's slack, π = the solver's dual / row unit (the
row a·x <= b solved as (a/u)·x <= b/u has dual d(objective)/d(b/u) = u·π), value = column
unit × the solver's value.  Column scaling moves no row dual.
"""

from __future__ import annotations

import math
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Literal

import highspy
import numpy as np
import pulp

from solver.model import EQ, GE, LE, Built

LIBRARY_MAX_TIME_LIMIT_S = 3600.0
"""The longest time limit the library grants, whatever a request asks for."""
FEASIBILITY_TOL = 1e-6


SolveStatus = Literal["optimal", "feasible", "infeasible", "unbounded", "time_limit", "failed"]
"""How a solve ended: the finished plan statuses (:data:`solver.schema.PlanStatus`)."""


@dataclass
class SolveOutcome:
    status: SolveStatus
    detail: str
    objective: float | None  # minimised objective, constant included
    seconds: float
    mip_gap: float | None = None
    has_duals: bool = False


def _row_bounds(c: pulp.LpConstraint) -> tuple[float, float]:
    rhs = -c.constant
    if c.sense == LE:
        return -math.inf, rhs
    if c.sense == GE:
        return rhs, math.inf
    return rhs, rhs


def _is_mip(m: Built) -> bool:
    return any(v.cat == pulp.LpInteger for v in m.columns)


def solve_model(
    m: Built, backend: str = "highs", time_limit_s: float = 60.0, mip_gap: float = 1e-4
) -> SolveOutcome:
    """Solve ``m`` in place (values and duals on the handles) and report the real status."""
    limit = min(time_limit_s, LIBRARY_MAX_TIME_LIMIT_S)
    if backend == "cbc":
        return _solve_cbc(m, limit, mip_gap)
    return _solve_highs(m, limit, mip_gap)


_BANNER_SHOWN = False


def new_highs() -> highspy.Highs:
    """A silent Highs instance.

    HiGHS prints its banner on stdout when the first instance of a process is made; that
    would corrupt ``capplan solve --json``, so the first one is made with stdout muted.
    """
    global _BANNER_SHOWN
    if _BANNER_SHOWN:
        h = highspy.Highs()  # type: ignore[no-untyped-call]
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                h = highspy.Highs()  # type: ignore[no-untyped-call]
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _BANNER_SHOWN = True
    h.setOptionValue("output_flag", False)
    return h


def highs_model(m: Built) -> highspy.HighsLp:
    """The HighsLp of a built model (rowwise CSR), objective offset included, in the solver's
    units: every row divided by its unit (``Built.row_units``), every column in its unit
    (``Built.column_units``: coefficients and cost times it, bounds divided by it)."""
    cols = m.columns
    index = {v.hash: i for i, v in enumerate(cols)}
    col_unit = m.column_units()
    lp = highspy.HighsLp()
    lp.num_col_ = len(cols)
    lp.num_row_ = len(m.rows)
    cost = np.zeros(len(cols))
    obj = m.prob.objective
    for v, c in obj.items():
        i = index[v.hash]
        cost[i] = c * col_unit[i]
    lp.col_cost_ = cost
    lp.offset_ = float(obj.constant)
    inf = highspy.kHighsInf
    lp.col_lower_ = np.array(
        [-inf if v.lowBound is None else v.lowBound / u for v, u in zip(cols, col_unit, strict=True)],
        dtype=float,
    )
    lp.col_upper_ = np.array(
        [inf if v.upBound is None else v.upBound / u for v, u in zip(cols, col_unit, strict=True)],
        dtype=float,
    )
    lower = np.empty(len(m.rows))
    upper = np.empty(len(m.rows))
    starts = np.empty(len(m.rows) + 1, dtype=np.int32)
    idx: list[int] = []
    val: list[float] = []
    starts[0] = 0
    for r, (c, unit) in enumerate(zip(m.rows, m.row_units(), strict=True)):
        for v, a in c.expr.items():
            i = index[v.hash]
            idx.append(i)
            val.append(a * col_unit[i] / unit)
        starts[r + 1] = len(idx)
        lo, hi = _row_bounds(c)
        lower[r] = -inf if lo == -math.inf else lo / unit
        upper[r] = inf if hi == math.inf else hi / unit
    lp.row_lower_ = lower
    lp.row_upper_ = upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = starts
    lp.a_matrix_.index_ = np.array(idx, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(val, dtype=float)
    lp.a_matrix_.num_col_ = len(cols)
    lp.a_matrix_.num_row_ = len(m.rows)
    if _is_mip(m):
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if v.cat == pulp.LpInteger else highspy.HighsVarType.kContinuous
            for v in cols
        ]
    return lp


_HIGHS_LIMITS = {
    "kTimeLimit",
    "kIterationLimit",
    "kInterrupt",
    "kHighsInterrupt",
    "kSolutionLimit",
    "kObjectiveBound",
    "kObjectiveTarget",
}


def _solve_highs(m: Built, limit: float, mip_gap: float) -> SolveOutcome:
    t0 = time.perf_counter()
    h = new_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("time_limit", float(limit))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    h.passModel(highs_model(m))
    h.run()
    ms = h.getModelStatus()
    name = h.modelStatusToString(ms)
    key = str(ms).split(".")[-1]
    if key == "kUnboundedOrInfeasible":
        h.setOptionValue("presolve", "off")
        h.run()
        ms = h.getModelStatus()
        name = h.modelStatusToString(ms)
        key = str(ms).split(".")[-1]
    info = h.getInfo()
    has_primal = info.primal_solution_status == 2
    mip = _is_mip(m)
    gap = float(info.mip_gap) if mip and has_primal else None
    status: SolveStatus
    if key == "kOptimal":
        status = "optimal"
    elif key == "kInfeasible":
        status = "infeasible"
    elif key in ("kUnbounded", "kUnboundedOrInfeasible"):
        status = "unbounded" if key == "kUnbounded" else "infeasible"
    elif key in _HIGHS_LIMITS:
        status = "feasible" if has_primal else "time_limit"
    else:
        status = "failed"
    seconds = time.perf_counter() - t0
    if status not in ("optimal", "feasible"):
        return SolveOutcome(status, f"HiGHS: {name}", None, seconds, gap)
    sol = h.getSolution()
    x = sol.col_value
    for v, val, unit in zip(m.columns, x, m.column_units(), strict=True):
        v.varValue = float(val) * unit
    duals_ok = bool(sol.dual_valid) and not mip and status == "optimal"
    activity = sol.row_value
    dual = sol.row_dual
    for r, (c, unit) in enumerate(zip(m.rows, m.row_units(), strict=True)):
        c.pi = float(dual[r]) / unit if duals_ok else None
        _set_slack(c, float(activity[r]) * unit)
    objective = float(info.objective_function_value)
    return SolveOutcome(status, f"HiGHS: {name}", objective, seconds, gap, duals_ok)


def _set_slack(c: pulp.LpConstraint, activity: float) -> None:
    """Set the row's slack (rhs − activity, >= 0 when it holds) from its natural activity."""
    lo, hi = _row_bounds(c)
    c.slack = (hi - activity) if c.sense == LE else (activity - lo if c.sense == GE else 0.0)


class _CbcColumns:
    """The columns CBC gets: a handle itself, or for a column with a unit other than 1 a
    stand-in variable in that unit (x = unit·x_solver), with its bounds divided by it."""

    def __init__(self, m: Built) -> None:
        self.sent: list[pulp.LpVariable] = []
        self.unit: dict[int, tuple[pulp.LpVariable, float]] = {}  # handle's hash -> stand-in, unit
        for v, u in zip(m.columns, m.column_units(), strict=True):
            if u == 1.0:
                self.sent.append(v)
                continue
            lo = None if v.lowBound is None else v.lowBound / u
            hi = None if v.upBound is None else v.upBound / u
            x = pulp.LpVariable(v.name, lo, hi, v.cat)
            self.unit[v.hash] = (x, u)
            self.sent.append(x)

    def terms(self, e: pulp.LpAffineExpression, row_unit: float = 1.0) -> list[tuple[pulp.LpVariable, float]]:
        """The terms of ``e`` over the columns sent, divided by ``row_unit``."""
        out = []
        for v, a in e.items():
            x, u = self.unit.get(v.hash, (v, 1.0))
            out.append((x, a * u / row_unit))
        return out

    def row(self, c: pulp.LpConstraint, unit: float) -> pulp.LpConstraint:
        """The row in the solver's units (itself when nothing in it is scaled)."""
        if unit == 1.0 and not any(v.hash in self.unit for v in c.expr):
            return c
        expr = pulp.LpAffineExpression(self.terms(c.expr, unit))
        return pulp.LpConstraint(expr, c.sense, c.name, -c.constant / unit)


def _solve_cbc(m: Built, limit: float, mip_gap: float) -> SolveOutcome:
    t0 = time.perf_counter()
    prob = pulp.LpProblem("capplan", pulp.LpMinimize)  # fresh: rows are re-added every solve
    cols = _CbcColumns(m)
    obj = m.prob.objective
    prob.setObjective(pulp.LpAffineExpression(cols.terms(obj), constant=obj.constant))
    units = m.row_units()
    sent = [cols.row(c, unit) for c, unit in zip(m.rows, units, strict=True)]
    for c in sent:
        prob.addConstraint(c)
    for v in cols.sent:  # variables in no row would otherwise never reach the solver
        prob._add_variables([v])
    mip = _is_mip(m)
    with tempfile.TemporaryDirectory(prefix="capplan-cbc-") as tmp:
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=limit, gapRel=mip_gap, threads=1)
        solver.tmpDir = tmp  # a private folder: nothing is left behind, even on failure
        try:
            prob.solve(solver)
        except pulp.PulpSolverError as exc:
            # PuLP's message names the CBC binary by its absolute path: keep the file name only
            said = re.sub(r"(?:/[^/\s'\"]+)+/([^/\s'\"]+)", r"\1", str(exc))
            return SolveOutcome("failed", f"CBC: {said}", None, time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    st, sol = prob.status, prob.sol_status
    status: SolveStatus
    if st == pulp.LpStatusOptimal and sol == pulp.LpSolutionOptimal:
        status = "optimal"
    elif st == pulp.LpStatusOptimal and sol == pulp.LpSolutionIntegerFeasible:
        status = "feasible"
    elif st == pulp.LpStatusInfeasible:
        status = "infeasible"
    elif st == pulp.LpStatusUnbounded:
        status = "unbounded"
    elif st == pulp.LpStatusNotSolved:
        status = "time_limit"
    else:
        status = "failed"
    detail = f"CBC: {pulp.LpStatus[st]} / {pulp.LpSolution.get(sol, sol)}"
    if status not in ("optimal", "feasible"):
        return SolveOutcome(status, detail, None, seconds)
    for v in m.columns:
        x, u = cols.unit.get(v.hash, (v, 1.0))
        v.varValue = (x.varValue or 0.0) * u
    duals_ok = not mip and status == "optimal"
    for c, s, unit in zip(m.rows, sent, units, strict=True):
        _set_slack(c, sum(a * (v.varValue or 0.0) for v, a in c.expr.items()))
        c.pi = (s.pi or 0.0) / unit if duals_ok else None
    obj = m.prob.objective
    value = float(obj.constant) + sum(a * (v.varValue or 0.0) for v, a in obj.items())
    return SolveOutcome(status, detail, value, seconds, None, duals_ok)


def check_feasible(m: Built, tol: float = FEASIBILITY_TOL) -> list[str]:
    """Rows the current values violate by more than ``tol`` (relative to the rhs scale)."""
    bad = []
    for c in m.rows:
        if c.slack is not None and c.slack < -tol * max(1.0, abs(c.constant)):
            bad.append(c.name or "?")
    return bad


__all__ = ["EQ", "GE", "LE", "SolveOutcome", "check_feasible", "highs_model", "solve_model"]
