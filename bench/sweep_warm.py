"""Benchmark: a 50-scenario sweep of the 750 MW example (a 5 × 10 grid over the GB300 price and
the agentic-fast demand growth), per-scenario time cold and warm-started, and 1 versus 2 workers.

Printed, in one run:

* in-process, cold: every scenario solved from scratch (no warm starts);
* in-process, warm: each scenario starts HiGHS from the previous basis of its structure;
* with ``--baseline DIR`` (a checkout of an earlier commit with its own ``.venv``): the same
  cold in-process sweep run by that checkout, so that "today's cold path" and this one are
  measured in the same run on the same machine;
* process pool with 1 and 2 workers (the local process pool, what ``capplan sweep`` uses), warm.

Each configuration runs ``REPEAT`` times, interleaved, and the fastest counts (shared machine).

    python bench/sweep_warm.py [--baseline /path/to/old/checkout]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPEAT = 3
PRICE = [0.7, 0.85, 1.0, 1.15, 1.3]
GROWTH = [0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9, 1.0]


def sweep_body() -> dict[str, Any]:
    base = json.loads((HERE.parent / "examples" / "cerebras-750mw.json").read_text())
    return {
        "base": base,
        "parameters": [
            {"path": "hardware/nvidia-gb300-nvl72/unit_price_usd", "scale": PRICE},
            {"path": "workloads/agentic-fast/demand_growth_per_year", "scale": GROWTH},
        ],
    }


def cold_in_process() -> tuple[float, int]:
    """Seconds per scenario solving every scenario from scratch, and how many were optimal."""
    from solver import plan
    from solver.scenarios.sweep import prepare_sweep

    sweep = prepare_sweep(sweep_body())
    t0 = time.perf_counter()
    solved = sum(plan(sc.request).status == "optimal" for sc in sweep.scenarios)
    return (time.perf_counter() - t0) / len(sweep.scenarios), solved


def warm_in_process() -> tuple[float, int, int]:
    """Seconds per scenario with warm starts (a fresh cache), optimal and warm-started counts."""
    from solver.scenarios.run import WORKER_WARM_STARTS
    from solver.scenarios.sweep import prepare_sweep, run_sweep

    sweep = prepare_sweep(sweep_body())
    WORKER_WARM_STARTS._bases.clear()
    t0 = time.perf_counter()
    result = run_sweep(sweep)
    seconds = (time.perf_counter() - t0) / len(sweep.scenarios)
    return seconds, sum(r.status == "optimal" for r in result.rows), sum(r.warm_start for r in result.rows)


def pooled(workers: int) -> float:
    from service.jobs.mapper import LocalPoolMapper
    from solver.scenarios.run import RunOptions
    from solver.scenarios.sweep import prepare_sweep, run_sweep

    sweep = prepare_sweep(sweep_body())
    with LocalPoolMapper(workers) as mapper:
        body = sweep_body()
        body["parameters"] = [{"path": "budget/capex_usd", "values": [None] * workers}]
        run_sweep(prepare_sweep(body), RunOptions(mapper=mapper))  # the workers up before the clock
        t0 = time.perf_counter()
        run_sweep(sweep, RunOptions(mapper=mapper))
        return (time.perf_counter() - t0) / len(sweep.scenarios)


def baseline(checkout: Path) -> float:
    """The cold in-process time per scenario of another checkout (its own interpreter)."""
    python = checkout / ".venv" / "bin" / "python"
    out = subprocess.run(
        [str(python), str(HERE / "sweep_warm.py"), "--cold-only"],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(checkout)},
    )
    return float(out.stdout.split()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", type=Path)
    ap.add_argument("--cold-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(Path.cwd()))
    if args.cold_only:  # the baseline's side: print its best cold time per scenario
        print(min(cold_in_process()[0] for _ in range(REPEAT)))
        return
    best: dict[str, float] = {}
    counts = ""
    for _ in range(REPEAT):
        cold, ok = cold_in_process()
        warm, ok_w, warmed = warm_in_process()
        counts = f"{ok}/50 optimal cold, {ok_w}/50 warm ({warmed} warm-started)"
        best["cold"] = min(best.get("cold", 1e9), cold)
        best["warm"] = min(best.get("warm", 1e9), warm)
        if args.baseline is not None:
            best["baseline"] = min(best.get("baseline", 1e9), baseline(args.baseline))
        for w in (1, 2):
            best[f"pool{w}"] = min(best.get(f"pool{w}", 1e9), pooled(w))
    print(f"load average {os.getloadavg()[0]:.2f}; {counts}")
    print("| configuration | ms per scenario | ratio |")
    print("|---|---|---|")
    if "baseline" in best:
        print(f"| baseline cold (in process) | {best['baseline'] * 1e3:.1f} | 1.00 |")
        ref = best["baseline"]
    else:
        ref = best["cold"]
    print(f"| cold (in process) | {best['cold'] * 1e3:.1f} | {ref / best['cold']:.2f} |")
    print(f"| warm (in process) | {best['warm'] * 1e3:.1f} | **{ref / best['warm']:.2f}** |")
    print(f"| 1 worker (warm) | {best['pool1'] * 1e3:.1f} | |")
    print(f"| 2 workers (warm) | {best['pool2'] * 1e3:.1f} | **{best['pool1'] / best['pool2']:.2f}** vs 1 |")


if __name__ == "__main__":
    main()
