"""Benchmark: a 40-scenario sweep, one worker versus all workers, and the per-scenario
overhead of a sweep versus bare ``plan()`` calls.

The base request is synthetic but realistic (catalog hardware, monthly periods, several
sites with expansion options, six workloads with growth and an unmet-demand penalty); the
sweep is a 5 × 8 grid over a site's power and the Cerebras CS-3 price.  Printed:

* bare plan(): the 40 scenario requests solved one after another with ``plan()``;
* in-process sweep: ``run_sweep`` with the builtin ``map`` (validation, row building);
* process pool, 1 worker and all workers (the local process pool, what ``capplan sweep`` uses).

Goal (issue 5): all workers ≥ 1.8× faster than 1 worker on 2 cores.  Each configuration
runs ``REPEAT`` times (interleaved) and the fastest run counts, since the machine may be
shared; the load average at the start is printed with the table.

    python bench/sweep_parallel.py                 # 6 sites, 36 monthly periods
    python bench/sweep_parallel.py 8 48            # sites, periods
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from service.jobs.mapper import LocalPoolMapper
from solver import plan
from solver.scenarios.run import RunOptions
from solver.scenarios.sweep import prepare_sweep, run_sweep

HARDWARE = (
    "cerebras-cs3",
    "nvidia-gb300-nvl72",
    "nvidia-gb200-nvl72",
    "nvidia-b200-8x",
    "nvidia-h200-8x",
    "amd-mi355x-8x",
    "amd-mi300x-8x",
)
REPEAT = 2
WORKLOADS = (
    ("llama-70b", 30),
    ("llama-70b", 120),
    ("llama-3.1-405b", 20),
    ("llama-3.1-405b", 60),
    ("llama-3.1-8b", 200),
    ("llama-70b", 60),
)


def bench_request(n_sites: int = 6, periods: int = 36) -> dict[str, Any]:
    sites = [
        {
            "id": f"site-{s}",
            "power_mw": [60 + 10 * s + 4 * t for t in range(periods)],
            "pue": 1.1 + 0.05 * s,
            "energy_usd_per_mwh": 50 + 8 * s,
            "expansion": {"max_mw": 150, "usd_per_mw": 1.1e7, "lead_time_periods": 6},
        }
        for s in range(n_sites)
    ]
    workloads = [
        {
            "id": f"wl-{i}",
            "model": model,
            "min_tokens_per_s_per_user": speed,
            "demand_tokens_per_s": 2e6 * (1 + i % 3),
            "demand_growth_per_year": 0.6,
            "min_service_fraction": 0.0,
            "unmet_penalty_usd_per_million_tokens": 20.0,
        }
        for i, (model, speed) in enumerate(WORKLOADS)
    ]
    return {
        "name": "sweep bench",
        "horizon": {"start": "2026-01", "periods": periods, "period_months": 1},
        "economics": {"discount_rate": 0.08, "load_factor": 0.8},
        "sites": sites,
        "hardware": [{"catalog": h} for h in HARDWARE],
        "workloads": workloads,
        "policy": {"max_vendor_share": {"nvidia": 0.7}, "reserve_margin": 0.1},
    }


def sweep_body(base: dict[str, Any]) -> dict[str, Any]:
    return {
        "base": base,
        "parameters": [
            {"path": "sites/site-0/power_mw", "scale": [0.8, 0.9, 1.0, 1.1, 1.2]},
            {
                "path": "hardware/cerebras-cs3/unit_price_usd",
                "scale": [0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4],
            },
        ],
        "mode": "grid",
    }


def main() -> None:
    n_sites, periods = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) >= 3 else (6, 36)
    cores = os.cpu_count() or 1
    body = sweep_body(bench_request(n_sites, periods))
    sweep = prepare_sweep(body)
    n = len(sweep.scenarios)
    print(
        f"{n} scenarios, base {n_sites} sites × {len(HARDWARE)} hardware × {len(WORKLOADS)} workloads × {periods} periods"
    )

    t0 = time.perf_counter()
    prepare_sweep(body)
    prepare_s = time.perf_counter() - t0
    serial = run_sweep(sweep)
    variables = plan(sweep.scenarios[0].request).solver.variables

    def bare() -> float:
        t = time.perf_counter()
        for sc in sweep.scenarios:
            plan(sc.request)
        return time.perf_counter() - t

    def in_process() -> float:
        t = time.perf_counter()
        run_sweep(sweep)
        return time.perf_counter() - t

    def pooled(workers: int) -> float:
        t = time.perf_counter()
        with LocalPoolMapper(workers) as pm:
            res = run_sweep(sweep, RunOptions(mapper=pm))
        secs = time.perf_counter() - t
        assert res.done == n and all(r.status == "optimal" for r in res.rows), "a scenario failed"
        for a, b in zip(res.rows, serial.rows, strict=True):
            assert abs((a.objective or 0) - (b.objective or 0)) <= 1e-6 * max(1.0, abs(b.objective or 0))
        return secs

    runs: dict[str, list[float]] = {"bare": [], "map": [], "one": [], "all": []}
    load = os.getloadavg()[0]
    for _ in range(REPEAT):
        runs["bare"].append(bare())
        runs["map"].append(in_process())
        runs["one"].append(pooled(1))
        runs["all"].append(pooled(cores))
    bare_s, serial_s, one_s, all_s = (min(runs[k]) for k in ("bare", "map", "one", "all"))

    print(
        f"{variables:,} variables per scenario; {cores} cores; prepare_sweep (validation of all) "
        f"{prepare_s:.2f} s; best of {REPEAT}; load average {load:.2f} at the start"
    )
    print()
    print(
        "| run | workers | wall s | s per scenario | speed-up vs 1 worker | overhead per scenario vs bare plan() |"
    )
    print("|---|---|---|---|---|---|")
    per = bare_s / n
    print(f"| bare plan() × {n} | 1 (in process) | {bare_s:.2f} | {per:.3f} | - | - |")
    print(
        f"| run_sweep, builtin map | 1 (in process) | {serial_s:.2f} | {serial_s / n:.3f} | - "
        f"| {(serial_s - bare_s) / n * 1000:+.1f} ms ({serial_s / bare_s:.2f}×) |"
    )
    print(
        f"| run_sweep, process pool | 1 | {one_s:.2f} | {one_s / n:.3f} | 1.00 "
        f"| {(one_s - bare_s) / n * 1000:+.1f} ms ({one_s / bare_s:.2f}×) |"
    )
    print(
        f"| run_sweep, process pool | {cores} | {all_s:.2f} | {all_s / n:.3f} | **{one_s / all_s:.2f}** "
        f"| {(all_s * cores - bare_s) / n * 1000:+.1f} ms CPU-equivalent |"
    )


if __name__ == "__main__":
    main()
