"""Explain an infeasible request with elastic re-solves.

Every hard limit that a planner can move gets a non-negative slack column e:

* min_service[w,t]:  served + e >= msf·D        (tokens/s that cannot be served)
* power[s,t]:        ... − e <= P[s,t]           (MW missing at a site)
* budget / budget_period:  capex − e <= cap      ($ missing)
* total_budget / total_budget_period:  capex + opex − e <= cap  ($ missing)
* supply[h,t]:       Σ_s buy − e <= max_units    (units missing)
* vendor_max / vendor_min:  share rows ± e       (kW of IT power beyond the share)
* served_total:      Σ served + e >= fraction·Σ D  (when the policy sets it)

Each elastic model minimises Σ e / scale, where scale = max(|rhs|, floor of the family), so
a relaxation is weighed relative to the size of the limit it moves.  Dropping service is
always *a* way out, and relative to demand it is usually the smallest, so a single elastic
model would nearly always answer "serve less".  A planner wants both answers, so two
options are solved and reported:

1. ``add_capacity``: min service stays hard; power, budgets (capex and total), supply and
   vendor shares give —
   what it takes to serve the demand;
2. ``reduce_service``: only min service (and served_total) give — what the limits allow.

When neither option alone is feasible (an existing fleet over its site's power, say, while
demand cannot be met either), one model with every slack (``relax_all``) is reported.
Every slack above a small tolerance becomes a :class:`DiagnosisEntry` in its own unit.
"""

from __future__ import annotations

import math
import time

from solver.limits import Key, LimitFamily, relaxed, subject
from solver.lp import GE, Expr
from solver.model import Built, build_model
from solver.schema import DiagnosisEntry
from solver.solve import solve_model

_CAPACITY = relaxed("capacity")
_SERVICE = relaxed("service")
_OPTIONS: tuple[tuple[str, tuple[LimitFamily, ...]], ...] = (
    ("add_capacity", _CAPACITY),
    ("reduce_service", _SERVICE),
)
_TOL = 1e-6


TIME_FLOOR_S = 1.0
"""The least time an elastic re-solve is given, so that a diagnosis started just before the
deadline can still answer with the continuous model (an LP: usually milliseconds)."""


def diagnose(
    m0: Built, time_limit_s: float = 60.0, backend: str = "highs", integer: bool = False
) -> tuple[list[DiagnosisEntry], str, bool]:
    """Elastic re-solves of the model of ``m0``: entries, a note, and whether whole units
    were needed to find them.

    The continuous model comes first (fast, and usually the answer).  An integer request
    whose relaxation is feasible has nothing to show there: it is diagnosed again with whole
    units (the elastic model is then a MILP; its slack columns stay continuous).

    ``time_limit_s`` is the whole diagnosis's: the re-solves share it (each gets what is
    left, at least :data:`TIME_FLOOR_S`, or the whole limit if shorter), and none is started
    once it is spent.  A re-solve that ends at the limit without a relaxation is not read as
    "no relaxation helps": the note says that time ran out.
    """
    deadline = time.perf_counter() + time_limit_s
    floor = min(TIME_FLOOR_S, time_limit_s)
    timed_out = unproven = False

    def run(option: str, families: tuple[LimitFamily, ...], whole: bool) -> list[DiagnosisEntry] | None:
        nonlocal timed_out, unproven
        left = deadline - time.perf_counter()
        if left <= 0 and (timed_out or whole):  # spent: no more MILPs, nor LPs after one timed out
            timed_out = True
            return None
        found, status = _elastic(m0, option, families, max(floor, left), backend, whole)
        timed_out = timed_out or status == "time_limit"
        unproven = unproven or (status == "feasible" and bool(found))
        return found

    for whole in (False, True) if integer else (False,):
        entries: list[DiagnosisEntry] = []
        for option, families in _OPTIONS:
            found = run(option, families, whole)
            if found is not None:
                entries += found
        if not entries:
            entries = run("relax_all", _CAPACITY + _SERVICE, whole) or []
        if entries:
            said = []
            if timed_out:
                said.append("an option may be missing")
            if unproven:
                said.append("the relaxations shown are enough but not proven the smallest")
            note = (
                f"the diagnosis stopped at its time limit ({time_limit_s:.3g} s left of the solve's): "
                + "; ".join(said)
                if said
                else ""
            )
            return entries, note, whole
    if timed_out:
        return (
            [],
            f"the diagnosis ran out of time ({time_limit_s:.3g} s left of the solve's) before an "
            "elastic re-solve found a relaxation: raise solver.time_limit_s for one",
            integer,
        )
    return [], "the elastic re-solve found no relaxation of the movable limits that helps", integer


def _elastic(
    m0: Built,
    option: str,
    families: tuple[LimitFamily, ...],
    time_limit_s: float,
    backend: str,
    integer: bool,
) -> tuple[list[DiagnosisEntry] | None, str]:
    """Entries of one elastic model that relaxes ``families`` (None when it has no solution:
    infeasible, or stopped without one) and how its solve ended."""
    m = build_model(m0.data, integer=integer, discounts=False)  # rebates do not decide feasibility
    slacks: list[tuple[LimitFamily, Key, int]] = []
    objective: list[tuple[int, float]] = []
    for fam in families:
        assert fam.relax is not None
        family = fam.family
        rows = m.con.get(family, {})
        scale = {key: max(abs(c.rhs), fam.relax.floor) for key, c in rows.items()}
        # The solver gets each family's slacks in units of its largest scale, so that their
        # objective coefficients are >= 1 there: at 1/scale (1e-8 for 1e8 tokens/s) CBC took
        # them for zero and stopped at the first relaxation it met ("serve nothing").
        unit = 10.0 ** math.floor(math.log10(max(scale.values()))) if scale else 1.0
        for key, c in rows.items():
            e = m.new_var("elastic_" + family, key, unit=unit)
            c.expr[e] = 1.0 if c.sense == GE else -1.0
            slacks.append((fam, key, e))
            objective.append((e, 1.0 / scale[key]))
    if not slacks:
        return None, "infeasible"
    m.lp.objective = Expr(objective)
    out = solve_model(m, backend=backend, time_limit_s=time_limit_s)
    if out.status not in ("optimal", "feasible"):
        return None, out.status
    return [
        _entry(m, fam, key, m.value(e)).model_copy(update={"option": option})
        for fam, key, e in slacks
        if m.value(e) > _TOL * max(1.0, abs(m.con[fam.family][key].rhs))
    ], out.status


def amount_text(x: float) -> str:
    """An amount for a message: positional with thousands separators, never an exponent, six
    significant digits or every digit of the whole part ("4,553,831", "1,224.35", "0.403783",
    "0.000015"), like the other messages' "$2,000,000" and "17,931.7 more units"."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    decimals = max(0, 5 - math.floor(math.log10(abs(x))))
    text = f"{x:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _entry(m: Built, fam: LimitFamily, key: Key, amount: float) -> DiagnosisEntry:
    """A relaxation of ``amount`` (the family's unit) of the row ``key`` of ``fam``, in words."""
    assert fam.relax is not None
    ids = subject(m.data, fam, key).fields()
    message = fam.relax.message.format(**ids, amount=amount_text(amount), usd=f"${amount:,.0f}")
    return DiagnosisEntry(
        limit=fam.relax.limit,
        **{a: ids[a] for a in fam.axes},
        amount=amount,
        unit=fam.relax.unit,
        message=message,
    )
