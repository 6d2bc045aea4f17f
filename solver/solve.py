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

import inspect
import math
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from itertools import chain
from typing import Literal

import highspy
import numpy as np
import pulp

from solver.lp import EQ, GE, LE
from solver.model import Built
from solver.schema import PULP_BACKENDS

pulp.set_v4_migration_warnings(False) if hasattr(pulp, "set_v4_migration_warnings") else None

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
    warm_started: bool = False  # HiGHS started from the basis of an LP of the same structure


def _is_mip(m: Built) -> bool:
    return m.lp.has_integers


class WarmStarts:
    """Optimal bases of LPs solved before, by model structure, to start HiGHS from when the
    same structure comes again (a sweep worker's next scenario: only coefficients, bounds and
    right-hand sides differ).

    The structure is the matrix's sparsity pattern and shape; the values may differ.  A basis
    is a starting point only: the solve still ends at an optimum of its own model, so a warm
    start changes how fast, not what (on a degenerate LP the optimum it ends at may be another
    of the same value).  One instance per worker process; not shared across threads."""

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self._bases: dict[tuple[int, int, int, int, bool], highspy.HighsBasis] = {}

    @staticmethod
    def key(lp: highspy.HighsLp) -> tuple[int, int, int, int, bool]:
        a = lp.a_matrix_
        pattern = hash(np.asarray(a.start_).tobytes()) ^ hash(np.asarray(a.index_).tobytes())
        return (lp.num_col_, lp.num_row_, len(a.index_), pattern, bool(len(lp.integrality_)))

    def get(self, key: tuple[int, int, int, int, bool]) -> highspy.HighsBasis | None:
        return self._bases.get(key)

    def put(self, key: tuple[int, int, int, int, bool], basis: highspy.HighsBasis) -> None:
        self._bases.pop(key, None)
        self._bases[key] = basis
        while len(self._bases) > self.capacity:  # the oldest structure goes first
            self._bases.pop(next(iter(self._bases)))


def lp_method(method: str, columns: int) -> str:
    """HiGHS's ``solver`` option for an LP of ``columns`` columns asked to use ``method``:
    'auto' is the dual simplex at every size (see :class:`solver.schema.SolverOptions`)."""
    return "simplex" if method == "auto" else method


def solve_model(
    m: Built,
    backend: str = "highs",
    time_limit_s: float = 60.0,
    mip_gap: float = 1e-4,
    warm: WarmStarts | None = None,
    method: str = "auto",
) -> SolveOutcome:
    """Solve ``m`` in place (values and duals on the handles) and report the real status;
    ``warm`` (HiGHS, LPs): start from the basis of the last LP of the same structure;
    ``method`` (HiGHS, LPs): :func:`lp_method`."""
    limit = min(time_limit_s, LIBRARY_MAX_TIME_LIMIT_S)
    if backend == "highs":
        return _solve_highs(m, limit, mip_gap, warm, method)
    return _solve_pulp(m, backend, limit, mip_gap)


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
    # One thread for every instance: HiGHS's thread pool is global to the process, made by the
    # first run, and a later run asking another number fails ("Not Set"): a CBC-solved plan
    # whose idle check ran HiGHS at the default made every later HiGHS solve fall back to CBC.
    h.setOptionValue("threads", 1)
    return h


def highs_model(m: Built) -> highspy.HighsLp:
    """The HighsLp of a built model (rowwise CSR straight from its arrays), objective offset
    included, in the solver's units: every row divided by its unit, every column in its unit
    (coefficients and cost times it, bounds divided by it)."""
    lp = m.lp
    n = lp.num_cols
    col_unit = np.asarray(lp.unit, dtype=float)
    out = highspy.HighsLp()
    out.num_col_ = n
    out.num_row_ = len(lp.rows)
    cost = np.zeros(n)
    if lp.objective.terms:
        cols = np.fromiter(lp.objective.terms.keys(), dtype=np.int64, count=len(lp.objective.terms))
        cost[cols] = np.fromiter(lp.objective.terms.values(), dtype=float, count=len(cols))
    out.col_cost_ = cost * col_unit
    out.offset_ = float(lp.objective.constant)
    inf = highspy.kHighsInf
    out.col_lower_ = np.maximum(np.asarray(lp.lb, dtype=float) / col_unit, -inf)
    out.col_upper_ = np.minimum(np.asarray(lp.ub, dtype=float) / col_unit, inf)
    sizes = np.fromiter((len(r.expr) for r in lp.rows), dtype=np.int64, count=len(lp.rows))
    starts = np.zeros(len(lp.rows) + 1, dtype=np.int64)
    np.cumsum(sizes, out=starts[1:])
    nnz = int(starts[-1])
    idx = np.fromiter(chain.from_iterable(r.expr for r in lp.rows), dtype=np.int32, count=nnz)
    val = np.fromiter(chain.from_iterable(r.expr.values() for r in lp.rows), dtype=float, count=nnz)
    row_unit = np.asarray([r.unit for r in lp.rows], dtype=float)
    val = val * col_unit[idx] / np.repeat(row_unit, sizes)
    bounds = np.asarray([r.bounds() for r in lp.rows], dtype=float).reshape(len(lp.rows), 2)
    out.row_lower_ = np.maximum(bounds[:, 0] / row_unit, -inf) if len(lp.rows) else np.zeros(0)
    out.row_upper_ = np.minimum(bounds[:, 1] / row_unit, inf) if len(lp.rows) else np.zeros(0)
    out.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    out.a_matrix_.start_ = starts.astype(np.int32)
    out.a_matrix_.index_ = idx
    out.a_matrix_.value_ = val
    out.a_matrix_.num_col_ = n
    out.a_matrix_.num_row_ = len(lp.rows)
    if lp.integer:
        kinds = [highspy.HighsVarType.kContinuous] * n
        for i in lp.integer:
            kinds[i] = highspy.HighsVarType.kInteger
        out.integrality_ = kinds
    return out


_HIGHS_LIMITS = {
    "kTimeLimit",
    "kIterationLimit",
    "kInterrupt",
    "kHighsInterrupt",
    "kSolutionLimit",
    "kObjectiveBound",
    "kObjectiveTarget",
}


def _solve_highs(
    m: Built, limit: float, mip_gap: float, warm: WarmStarts | None = None, method: str = "auto"
) -> SolveOutcome:
    t0 = time.perf_counter()
    h = new_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("time_limit", float(limit))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    model = highs_model(m)
    if not m.lp.has_integers:
        h.setOptionValue("solver", lp_method(method, m.lp.num_cols))
    h.passModel(model)
    structure = WarmStarts.key(model) if warm is not None and not m.lp.has_integers else None
    basis = warm.get(structure) if warm is not None and structure is not None else None
    warmed = basis is not None and h.setBasis(basis) == highspy.HighsStatus.kOk
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
    lp = m.lp
    lp.x = (np.asarray(sol.col_value, dtype=float) * np.asarray(lp.unit, dtype=float)).tolist()
    duals_ok = bool(sol.dual_valid) and not mip and status == "optimal"
    activity = sol.row_value
    dual = sol.row_dual
    for r, c in enumerate(lp.rows):
        c.pi = float(dual[r]) / c.unit if duals_ok else None
        c.set_activity(float(activity[r]) * c.unit)
    objective = float(info.objective_function_value)
    if warm is not None and structure is not None and status == "optimal":
        warm.put(structure, h.getBasis())
    return SolveOutcome(status, f"HiGHS: {name}", objective, seconds, gap, duals_ok, warmed)


def pulp_problem(m: Built) -> tuple[pulp.LpProblem, list[pulp.LpVariable], list[pulp.LpConstraint]]:
    """The program as a PuLP problem in the solver's units (the portable emitter: CBC, and any
    solver PuLP drives), with its variables and rows in the program's order.  Names are
    positional (``x12``, ``r3``): nothing reads them back."""
    lp = m.lp
    prob = pulp.LpProblem("capplan", pulp.LpMinimize)
    xs = [
        pulp.LpVariable(
            f"x{i}",
            None if lo == -math.inf else lo / u,
            None if hi == math.inf else hi / u,
            pulp.LpInteger if i in lp.integer else pulp.LpContinuous,
        )
        for i, (lo, hi, u) in enumerate(zip(lp.lb, lp.ub, lp.unit, strict=True))
    ]
    unit = lp.unit
    obj = pulp.LpAffineExpression([(xs[i], a * unit[i]) for i, a in lp.objective.items()])
    obj.constant = lp.objective.constant
    prob.setObjective(obj)
    rows = []
    for r, c in enumerate(lp.rows):
        expr = pulp.LpAffineExpression([(xs[i], a * unit[i] / c.unit) for i, a in c.expr.items()])
        row = pulp.LpConstraint(expr, c.sense, f"r{r}", c.rhs / c.unit)
        prob.addConstraint(row)
        rows.append(row)
    prob._add_variables(xs)  # variables in no row would otherwise never reach the solver
    return prob, xs, rows


def _pulp_solver(backend: str, tmp: str, limit: float, mip_gap: float) -> pulp.LpSolver:
    """PuLP's solver for ``backend`` (:data:`solver.schema.PULP_BACKENDS`): silent, time- and
    gap-limited, one thread where it takes one, its files in ``tmp``."""
    name = PULP_BACKENDS[backend]
    if backend == "cbc":
        solver: pulp.LpSolver = pulp.PULP_CBC_CMD(msg=False, timeLimit=limit, gapRel=mip_gap, threads=1)
    else:  # solvers take different options: pass those its constructor has
        # whole seconds: GLPK's command line refuses "10.0"
        options = {"msg": False, "timeLimit": max(1, math.ceil(limit)), "gapRel": mip_gap}
        accepted = inspect.signature(getattr(pulp, name)).parameters
        solver = pulp.getSolver(name, **{k: v for k, v in options.items() if k in accepted})
    if hasattr(solver, "tmpDir"):
        solver.tmpDir = tmp  # a private folder: nothing is left behind, even on failure
    return solver


def _solve_pulp(m: Built, backend: str, limit: float, mip_gap: float) -> SolveOutcome:
    """Solve through PuLP (CBC, or any solver PuLP drives that is installed): the program
    emitted by :func:`pulp_problem`, PuLP's real status mapped, values and duals put back."""
    t0 = time.perf_counter()
    label = "CBC" if backend == "cbc" else PULP_BACKENDS[backend]
    prob, xs, sent = pulp_problem(m)
    mip = _is_mip(m)
    with tempfile.TemporaryDirectory(prefix="capplan-pulp-") as tmp:
        try:
            prob.solve(_pulp_solver(backend, tmp, limit, mip_gap))
        except pulp.PulpSolverError as exc:
            # PuLP's message names the solver binary by its absolute path: keep the file name only
            said = re.sub(r"(?:/[^/\s'\"]+)+/([^/\s'\"]+)", r"\1", str(exc))
            return SolveOutcome("failed", f"{label}: {said}", None, time.perf_counter() - t0)
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
    detail = f"{label}: {pulp.LpStatus[st]} / {pulp.LpSolution.get(sol, sol)}"
    if status not in ("optimal", "feasible"):
        return SolveOutcome(status, detail, None, seconds)
    lp = m.lp
    lp.set_values([(x.varValue or 0.0) * u for x, u in zip(xs, lp.unit, strict=True)])
    # a solver that reports no duals through PuLP (GLPK's command line, say) gives no prices
    duals_ok = not mip and status == "optimal" and all(row.pi is not None for row in sent)
    for c, row in zip(lp.rows, sent, strict=True):
        c.pi = (row.pi or 0.0) / c.unit if duals_ok else None
    value = lp.objective.value(lp.x)
    return SolveOutcome(status, detail, value, seconds, None, duals_ok)


def backend_available(backend: str) -> bool:
    """Whether ``backend`` can solve here (HiGHS and CBC ship with capplan's dependencies)."""
    if backend in ("highs", "cbc"):
        return True
    solver = pulp.getSolver(PULP_BACKENDS[backend], msg=False)
    return bool(solver.available())


def check_feasible(m: Built, tol: float = FEASIBILITY_TOL) -> list[str]:
    """Rows the current values violate by more than ``tol`` (relative to the rhs scale), by
    family and key."""
    bad = []
    for family, rows in m.con.items():
        for key, c in rows.items():
            if c.slack is not None and c.slack < -tol * max(1.0, abs(c.rhs)):
                bad.append(f"{family} {key}")
    return bad


__all__ = ["EQ", "GE", "LE", "SolveOutcome", "WarmStarts", "check_feasible", "highs_model", "solve_model"]
