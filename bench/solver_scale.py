"""Benchmark: plan() end to end versus HiGHS alone on the same model.

For each size (sites × hardware × workloads × periods) it generates a synthetic request,
then prints build, solve and extract seconds, peak memory, and the ratio of ``plan()`` end
to end to HiGHS alone solving the same model (read from an exported MPS file; only the
``run()`` is timed).  Goal (issue 2): ratio ≤ 1.6 at ≥ 100k variables.

    python bench/solver_scale.py            # the default sizes
    python bench/solver_scale.py 10 12 20 40   # one size: S H W N
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from solver import parse_request, plan
from solver.extract import Values, extract_binding, extract_periods, extract_shadow_prices
from solver.model import build_model, prepare
from solver.solve import highs_model, new_highs, solve_model

SIZES = [(2, 4, 4, 12), (4, 8, 8, 24), (10, 12, 20, 40), (12, 14, 24, 48)]


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
        "solver": {"time_limit_s": 600},
    }


def highs_alone(req: dict[str, Any]) -> tuple[float, float, float]:
    """Seconds HiGHS alone needs to solve the model from MPS and from memory, and its objective."""
    m = build_model(prepare(parse_request(req)))
    h3 = new_highs()
    h3.setOptionValue("threads", 1)
    h3.setOptionValue("random_seed", 0)
    h3.passModel(highs_model(m))
    t0 = time.perf_counter()
    h3.run()
    in_memory = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "model.mps")
        h = new_highs()
        h.passModel(highs_model(m))
        h.writeModel(path)
        h2 = new_highs()
        h2.setOptionValue("threads", 1)
        h2.setOptionValue("random_seed", 0)
        h2.readModel(path)
        t0 = time.perf_counter()
        h2.run()
        secs = time.perf_counter() - t0
        return secs, in_memory, h2.getInfo().objective_function_value


def phases(req: dict[str, Any]) -> dict[str, float]:
    """Seconds of each phase of the pipeline, measured separately."""
    t0 = time.perf_counter()
    parsed = parse_request(req)
    data = prepare(parsed)
    t1 = time.perf_counter()
    m = build_model(data)
    t2 = time.perf_counter()
    out = solve_model(m, time_limit_s=600)
    t3 = time.perf_counter()
    x = Values(m)
    extract_periods(m, x)
    extract_shadow_prices(m, "lp")
    extract_binding(m)
    t4 = time.perf_counter()
    return {"validate": t1 - t0, "build": t2 - t1, "solve": t3 - t2, "extract": t4 - t3, "status": out.status}  # type: ignore[dict-item]


def run(size: tuple[int, int, int, int]) -> None:
    req = synthetic_request(*size)
    alone, in_memory, obj_alone = highs_alone(req)
    ph = phases(req)
    tracemalloc.start()
    t0 = time.perf_counter()
    result = plan(req)
    e2e = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # a second timed run without tracemalloc (it slows Python code down)
    t0 = time.perf_counter()
    result = plan(req)
    e2e = time.perf_counter() - t0
    rel = abs((result.objective.value or 0) - obj_alone) / max(1.0, abs(obj_alone))
    print(
        f"| {'×'.join(map(str, size))} | {result.solver.variables:,} | {result.solver.constraints:,} "
        f"| {ph['validate']:.2f} | {ph['build']:.2f} | {ph['solve']:.2f} | {ph['extract']:.2f} "
        f"| {peak / 2**20:,.0f} | {e2e:.2f} | {alone:.2f} | **{e2e / alone:.2f}** | {in_memory:.2f} "
        f"| {e2e / in_memory:.2f} | {rel:.1e} | {result.status} |",
        flush=True,
    )


def main() -> None:
    sizes = [tuple(int(x) for x in sys.argv[1:5])] if len(sys.argv) >= 5 else SIZES
    print(f"HiGHS {new_highs().version()}")
    print(
        "| size S×H×W×N | variables | rows | validate s | build s | solve s | extract s "
        "| peak MiB (Python) | plan() s | HiGHS alone (MPS) s | ratio | HiGHS alone (in memory) s "
        "| ratio | rel. obj. diff | status |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for size in sizes:
        run(size)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
