"""Benchmark: ``plan()`` end to end versus HiGHS's own ``run()`` on the same model, per size.

For each size (sites × hardware × workloads × periods) it generates a synthetic request and,
in a fresh process per size (so that peak memory is that size's), prints: the build and the
hand-over to HiGHS, the seconds HiGHS spends in ``run()`` inside ``plan()`` (every run: the main
solve and the idle-purchase check), ``plan()`` end to end, everything else as a ratio of those
``run()`` seconds (goal, issue 17: ≤ 0.25 at 100k and at 1M variables), and the process's peak
RSS.  With ``--baseline DIR`` (a checkout of an earlier commit with its own ``.venv``) the same
request is solved by that checkout too, in the same run, so that no size gets slower unseen.

    python bench/solver_scale.py                          # the default sizes
    python bench/solver_scale.py --sizes 20x20x50x50      # one size (1M variables)
    python bench/solver_scale.py --baseline ../old-checkout
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SIZES = ["2x4x4x12", "4x8x8x24", "10x12x20x40", "12x14x24x48", "20x20x50x50"]


def synthetic_request(n_sites: int, n_hw: int, n_wl: int, n_periods: int, seed: int = 1) -> dict[str, Any]:
    """A request where every hardware can serve every workload (a dense, hard instance)."""
    rng = random.Random(seed)
    models = [f"m{i}" for i in range(max(1, n_wl // 3))]
    hardware = []
    for h in range(n_hw):
        perf = {}
        for m in models:
            base = rng.uniform(2e4, 2e5)
            perf[m] = {
                "units_per_replica": 1,
                "points": [
                    {"tokens_per_s_per_user": 10, "tokens_per_s_per_unit": base},
                    {"tokens_per_s_per_user": 200, "tokens_per_s_per_unit": base * rng.uniform(0.1, 0.4)},
                ],
            }
        hardware.append(
            {
                "id": f"hw-{h}",
                "vendor": ["nvidia", "amd", "cerebras"][h % 3],
                "unit_price_usd": rng.uniform(2e5, 3e6),
                "maintenance_fraction_per_year": 0.05,
                "recurring_usd_per_unit_hour": rng.choice([0.0, rng.uniform(5, 50)]),
                "it_power_kw": rng.uniform(8, 130),
                "lifetime_years": rng.choice([3, 4, 5]),
                "lead_time_periods": 0
                if h % 2 == 0
                else rng.randint(1, 3),  # some of every vendor serve period 0
                "max_units_per_period": rng.uniform(200, 2000),
                "performance": perf,
            }
        )
    sites = [
        {
            "id": f"site-{s}",
            "power_mw": [rng.uniform(50, 150) * (1 + 0.02 * t) for t in range(n_periods)],
            "pue": rng.uniform(1.1, 1.4),
            "energy_usd_per_mwh": rng.uniform(40, 90),
            "expansion": {"max_mw": 200, "usd_per_mw": 1.1e7, "lead_time_periods": 4},
        }
        for s in range(n_sites)
    ]
    workloads = [
        {
            "id": f"wl-{w}",
            "model": models[w % len(models)],
            "min_tokens_per_s_per_user": rng.uniform(10, 150),
            "demand_tokens_per_s": rng.uniform(1e6, 4e6),
            "demand_growth_per_year": 0.4,
            "min_service_fraction": 0.8,
            "unmet_penalty_usd_per_million_tokens": 5.0,
        }
        for w in range(n_wl)
    ]
    return {
        "name": f"bench {n_sites}x{n_hw}x{n_wl}x{n_periods}",
        "horizon": {"start": "2026-01", "periods": n_periods, "period_months": 3},
        "economics": {"discount_rate": 0.08, "load_factor": 0.8},
        "sites": sites,
        "hardware": hardware,
        "workloads": workloads,
        "policy": {"max_vendor_share": {"nvidia": 0.7}, "reserve_margin": 0.1},
        "solver": {"time_limit_s": 1800},
    }


def measure(request_file: str) -> dict[str, Any]:
    """Run in a fresh process: phases of one request's ``plan()`` and HiGHS's ``run()`` time."""
    import highspy

    from solver import parse_request, plan
    from solver.model import build_model, prepare
    from solver.solve import highs_model

    req = json.loads(Path(request_file).read_text())
    t0 = time.perf_counter()
    m = build_model(prepare(parse_request(req)))
    t1 = time.perf_counter()
    highs_model(m)
    t2 = time.perf_counter()
    del m
    spent = [0.0]
    real_run = highspy.Highs.run

    def timed_run(self: Any) -> Any:
        r0 = time.perf_counter()
        try:
            return real_run(self)
        finally:
            spent[0] += time.perf_counter() - r0

    highspy.Highs.run = timed_run  # type: ignore[method-assign]
    t3 = time.perf_counter()
    result = plan(req)
    e2e = time.perf_counter() - t3
    return {
        "variables": result.solver.variables,
        "rows": result.solver.constraints,
        "build": t1 - t0,
        "hand_over": t2 - t1,
        "run": spent[0],
        "plan": e2e,
        "status": result.status,
        "objective": result.objective.value,
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def in_subprocess(python: Path, cwd: Path, request_file: str) -> dict[str, Any]:
    out = subprocess.run(
        [str(python), str(HERE / "solver_scale.py"), "--measure", request_file],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(cwd)},
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def measure_baseline(python: Path, cwd: Path, request_file: str) -> float:
    """``plan()`` seconds of another checkout on the same request (its own interpreter)."""
    code = (
        "import json, sys, time; from solver import plan; req = json.load(open(sys.argv[1])); "
        "t = time.perf_counter(); plan(req); print(time.perf_counter() - t)"
    )
    out = subprocess.run(
        [str(python), "-c", code, request_file],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(cwd)},
    )
    return float(out.stdout.split()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="*", default=SIZES)
    ap.add_argument("--baseline", type=Path)
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        sys.path.insert(0, str(Path.cwd()))
        print(json.dumps(measure(args.measure)))
        return
    here = HERE.parent
    print(f"load average {os.getloadavg()[0]:.2f}")
    head = "| size S×H×W×N | variables | rows | build s | to HiGHS s | HiGHS run() s | plan() s "
    head += "| rest / run() | peak RSS MiB | status |"
    sep = "|---|---|---|---|---|---|---|---|---|---|"
    if args.baseline is not None:
        head += " baseline plan() s | speed-up |"
        sep += "---|---|"
    print(head)
    print(sep)
    for size in args.sizes:
        dims = [int(x) for x in size.split("x")]
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(synthetic_request(*dims), f)
        try:
            r = in_subprocess(Path(sys.executable), here, f.name)
            rest = (r["plan"] - r["run"]) / r["run"] if r["run"] > 0 else float("nan")
            line = (
                f"| {size.replace('x', '×')} | {r['variables']:,} | {r['rows']:,} | {r['build']:.2f} "
                f"| {r['hand_over']:.2f} | {r['run']:.2f} | {r['plan']:.2f} | **{rest:.2f}** "
                f"| {r['rss_mib']:,.0f} | {r['status']} |"
            )
            if args.baseline is not None:
                old = measure_baseline(args.baseline / ".venv" / "bin" / "python", args.baseline, f.name)
                line += f" {old:.2f} | {old / r['plan']:.2f} |"
            print(line, flush=True)
        finally:
            os.unlink(f.name)


if __name__ == "__main__":
    main()
