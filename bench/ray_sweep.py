"""Benchmark: sweep throughput on the local process pool versus a Ray cluster of one and of
two nodes, and the per-scenario overhead of each against bare ``plan()`` calls.

A 200-scenario grid (20 demand levels × 10 prices of one hardware option) over a synthetic
request (3 sites, 5 hardware options, 3 workloads, monthly periods) runs through the
service's own scenario mapper (:class:`service.jobs.mapper.RunnerMapper`, the code
``POST /v1/sweeps`` uses, minus the database) on:

* the local pool (:class:`service.jobs.local.LocalProcessRunner`) with 1 and with 2 workers;
* Ray (:class:`service.jobs.ray_runner.RayRunner`) on a real cluster started here with
  ``ray start``: the head alone (``--num-cpus=1``), then with a worker node added
  (``--num-cpus=1``, in its own network namespace when possible); with and without
  batching of small scenarios.

Every run's rows are checked against the bare ``plan()`` objectives (1e-6 relative).
Goal (issue 7): two nodes ≥ 1.8× one node.  Each configuration runs ``REPEAT`` times
(interleaved) and the fastest counts, since the machine may be shared.  This machine has 2
cores for everything: both Ray nodes, the driver (this process) and Ray's own daemons.

    python bench/ray_sweep.py              # 36 monthly periods (~2,300 columns)
    python bench/ray_sweep.py 12           # smaller scenarios (~760 columns): overhead shows
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.ray_cluster import (
    medium_request,
    ray_cluster,
    ray_missing,
    use_in_this_process,
)

REPEAT = 2
SCENARIOS = 200


def sweep_body(periods: int) -> dict[str, Any]:
    return {
        "base": {**medium_request(periods), "name": "ray sweep bench"},
        "parameters": [
            {"path": "workloads/w0/demand_tokens_per_s", "values": [20000.0 + 2500.0 * k for k in range(20)]},
            {"path": "hardware/h0/unit_price_usd", "scale": [0.6 + 0.1 * k for k in range(10)]},
        ],
        "mode": "grid",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("periods", nargs="?", type=int, default=36, help="monthly periods per scenario")
    periods = parser.parse_args().periods
    reason = ray_missing()
    if reason:
        sys.exit(f"cannot run: {reason}")
    use_in_this_process()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from service.jobs.local import LocalProcessRunner
    from service.jobs.mapper import RunnerMapper
    from service.jobs.ray_runner import RayRunner
    from solver import plan
    from solver.scenarios.run import RunOptions
    from solver.scenarios.sweep import prepare_sweep, run_sweep

    sweep = prepare_sweep(sweep_body(periods), max_scenarios=SCENARIOS)
    n = len(sweep.scenarios)
    assert n == SCENARIOS
    variables = plan(sweep.scenarios[0].request).solver.variables

    expected: dict[int, float] = {}

    def bare() -> float:
        t = time.perf_counter()
        for sc in sweep.scenarios:
            expected[sc.index] = plan(sc.request).objective.value or 0.0
        return time.perf_counter() - t

    def through(runner: Any, window: int) -> float:
        t = time.perf_counter()
        res = run_sweep(sweep, RunOptions(mapper=RunnerMapper(runner, window, lambda _t: 600.0)))
        secs = time.perf_counter() - t
        assert res.done == n and all(r.status == "optimal" for r in res.rows), "a scenario failed"
        for r in res.rows:
            want = expected[r.index]
            assert abs((r.objective or 0.0) - want) <= 1e-6 * max(1.0, abs(want)), (
                r.index,
                r.objective,
                want,
            )
        return secs

    def local(workers: int, noop: bool = False) -> float:
        runner = LocalProcessRunner(workers, queue_limit=10_000)
        runner.start()
        try:
            while not runner.ready()[0] or runner.ready()[1] != f"{workers} of {workers} workers ready":
                time.sleep(0.05)
            return round_trip(runner) if noop else through(runner, workers)
        finally:
            runner.shutdown(5)

    def round_trip(runner: Any, jobs: int = 100) -> float:
        """Seconds per job of a job that does nothing, one at a time: the runner's own cost."""
        t = time.perf_counter()
        for i in range(jobs):
            # abs(i) == i: a builtin, picklable by reference for every runner, that does nothing
            assert runner.submit(f"noop-{i}", abs, i, time_limit_s=60).result(60).value == i
        return (time.perf_counter() - t) / jobs

    runs: dict[str, list[float]] = {}
    nodes_seen: dict[str, int] = {}
    load = os.getloadavg()[0]
    with ray_cluster(workers=0) as cluster:
        ray_runner = RayRunner(cluster.address, queue_limit=10_000)
        unbatched = RayRunner(cluster.address, queue_limit=10_000, max_batch=1)
        ray_runner.start()
        unbatched.start()
        try:
            while not (ray_runner.ready()[0] and unbatched.ready()[0]):
                time.sleep(0.05)
            bare()  # the expected objectives
            through(ray_runner, 1)  # warm-up: worker processes import the solver once
            batches = {1: ray_runner.batch_size(n, variables)}

            def ray_run(name: str, runner: Any) -> None:
                runs.setdefault(name, []).append(through(runner, runner.slots()))

            for _ in range(REPEAT):
                runs.setdefault("bare", []).append(bare())
                runs.setdefault("local1", []).append(local(1))
                runs.setdefault("local2", []).append(local(2))
                runs.setdefault("noop-local", []).append(local(1, noop=True))
                runs.setdefault("noop-ray", []).append(round_trip(ray_runner))
                ray_run("ray1", ray_runner)
                ray_run("ray1-unbatched", unbatched)
            cluster.add_worker(1)
            deadline = time.monotonic() + 60
            while ray_runner.slots() < 2 or unbatched.slots() < 2:
                assert time.monotonic() < deadline, "the second node never showed up"
                time.sleep(0.1)
            through(ray_runner, 2)  # warm-up of the new node's workers
            batches[2] = ray_runner.batch_size(n, variables)
            for _ in range(REPEAT):
                ray_run("ray2", ray_runner)
                ray_run("ray2-unbatched", unbatched)
            nodes_seen["ray2"] = len(cluster.alive_nodes())
            isolation = cluster.isolation
        finally:
            unbatched.shutdown(5)  # first: it shares the connection ray_runner opened (and closes)
            ray_runner.shutdown(5)

    best = {k: min(v) for k, v in runs.items()}
    bare_s = best["bare"]
    print(
        f"{n} scenarios of {variables:,} columns ({periods} monthly periods); bare plan() "
        f"{bare_s / n * 1000:.1f} ms each; best of {REPEAT}; load average {load:.2f} at the start; "
        f"Ray nodes {nodes_seen.get('ray2', 0)} ({isolation}), one CPU each; this machine: {os.cpu_count()} cores; "
        f"batched: {batches[1]} scenarios per task on 1 node, {batches[2]} on 2"
    )
    print()
    print("| run | CPUs | wall s | scenarios/s | vs Ray 1 node | overhead per scenario vs bare plan() |")
    print("|---|---|---|---|---|---|")
    rows = [
        ("bare plan(), in process", "bare", 1),
        ("local pool, 1 worker", "local1", 1),
        ("local pool, 2 workers", "local2", 2),
        ("Ray, 1 node, batched", "ray1", 1),
        ("Ray, 1 node, one task per scenario", "ray1-unbatched", 1),
        ("Ray, 2 nodes, batched", "ray2", 2),
        ("Ray, 2 nodes, one task per scenario", "ray2-unbatched", 2),
    ]
    for label, key, cpus in rows:
        secs = best[key]
        vs = f"{best['ray1'] / secs:.2f}×" if key.startswith("ray") else "-"
        if key in ("ray2", "ray2-unbatched"):
            vs = f"**{best['ray1' if key == 'ray2' else 'ray1-unbatched'] / secs:.2f}×** (vs same mode, 1 node)"
        over = "-" if key == "bare" else f"{(secs * cpus - bare_s) / n * 1000:+.1f} ms CPU"
        print(f"| {label} | {cpus} | {secs:.2f} | {n / secs:.1f} | {vs} | {over} |")
    print()
    print(
        f"a job that does nothing, one at a time: local pool {best['noop-local'] * 1000:.1f} ms, "
        f"Ray {best['noop-ray'] * 1000:.1f} ms (submit, run, result back)"
    )
    print(
        "overhead = (wall × CPUs − bare) / scenarios: what each scenario costs beyond its solve, "
        "in CPU time (dispatch, pickling, the driver's share of the cores)"
    )


if __name__ == "__main__":
    main()
