"""Benchmark: plan() on the 20-year discount-tier case, with and without the optimality bound
on the tier widths (solver.planner.optimality_spend_bounds).

Prints, per run: wall seconds of plan(), ``solver.seconds``, the seconds of the tier MIP alone
and of all LPs (the bound's, the fixed LP, the walk), the status, the objective and the MIP's
own objective.  The bound applies to continuous units only; ``--integer`` shows that integer
mode is unchanged.

    python bench/tier_bound.py                # LP mode, with and without the bound, 3 runs each
    python bench/tier_bound.py --integer --runs 1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import solver.planner as planner
from solver import plan

CASE = Path(__file__).resolve().parent.parent / "tests" / "data" / "tiers-20-years.json"


def one(req: dict[str, Any], bound: bool) -> str:
    real_solve, real_bounds = planner.solve_model, getattr(planner, "optimality_spend_bounds", None)
    seconds = {"mip": 0.0, "lp": 0.0}
    mip_objective: list[float | None] = []

    def timed(m: Any, *a: Any, **k: Any) -> Any:
        out = real_solve(m, *a, **k)
        seconds["mip" if m.has_integers else "lp"] += out.seconds
        if m.has_integers:
            mip_objective.append(out.objective)
        return out

    planner.solve_model = timed  # type: ignore[assignment]
    if not bound and real_bounds is not None:
        planner.optimality_spend_bounds = lambda *a, **k: ({}, 0.0)  # type: ignore[assignment]
    try:
        t0 = time.perf_counter()
        p = plan(req)
        wall = time.perf_counter() - t0
    finally:
        planner.solve_model = real_solve  # type: ignore[assignment]
        if real_bounds is not None:
            planner.optimality_spend_bounds = real_bounds  # type: ignore[assignment]
    mip = ", ".join(f"{x:.6g}" if x is not None else "-" for x in mip_objective)
    return (
        f"| {'on' if bound else 'off'} | {wall:.2f} | {p.solver.seconds:.2f} | {seconds['mip']:.2f} "
        f"| {seconds['lp']:.2f} | {p.status} | {p.objective.value:.10g} | {mip} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--integer", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=["on", "off"], help="one variant only")
    args = ap.parse_args()
    req = json.loads(CASE.read_text())
    req["solver"]["integer"] = args.integer
    print(f"{CASE.name}, integer={args.integer}")
    print("| bound | plan() s | solver.seconds | MIP s | LPs s | status | objective | MIP objective |")
    print("|---|---|---|---|---|---|---|---|")
    for variant in ("off", "on"):
        if args.only and variant != args.only:
            continue
        for _ in range(args.runs):
            print(one(req, variant == "on"), flush=True)


if __name__ == "__main__":
    main()
