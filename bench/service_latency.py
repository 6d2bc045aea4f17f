"""Benchmark: the REST service's overhead, and how the event loop holds up while workers solve.

Starts a real ``capplan serve`` (2 workers, a temporary SQLite file) and measures

1. ``POST /v1/plans`` (synchronous, ``Cache-Control: no-cache`` so every call really solves)
   against the same ``plan()`` called in-process: p50 and p99 latency, and the ratio of the
   p50s (the service overhead; goal ≤ 1.3×) — for the 750 MW example and larger synthetic
   requests; the two are alternated call by call;
2. ``GET /healthz`` latency while both workers are busy with long solves (goal p99 ≤ 50 ms).

    python bench/service_latency.py            # default: 100 runs per request
    python bench/service_latency.py --runs 300
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from solver import plan

ROOT = Path(__file__).resolve().parent.parent


def _synthetic(*size: int) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("solver_scale", ROOT / "bench" / "solver_scale.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return dict(mod.synthetic_request(*size))


def _busy_request(tag: int) -> dict[str, Any]:
    """An integer request HiGHS cannot close quickly (mip_gap 0): it runs to its time limit."""
    sys.path.insert(0, str(ROOT))
    from tests.helpers.service import slow_request

    return slow_request(time_limit_s=20, tag=tag)


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, round(q / 100 * (len(xs) - 1))))
    return xs[k]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    script = Path(sys.executable).parent / "capplan"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "service.cli"]
    env = {
        **os.environ,
        "CAPPLAN_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
        "CAPPLAN_WORKERS": "2",
        "CAPPLAN_LOG_LEVEL": "warning",
        "CAPPLAN_MAX_TIME_LIMIT_S": "600",
    }
    proc = subprocess.Popen(
        [*cmd, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit("capplan serve did not become ready")
        time.sleep(0.1)


def _paired(client: httpx.Client, req: dict[str, Any], runs: int) -> tuple[list[float], list[float]]:
    """``runs`` in-process ``plan()`` calls and ``runs`` POSTs, alternated.

    Alternating keeps slow drifts of a shared machine (other tenants, CPU frequency) from
    landing on one side of the ratio only.
    """
    body = json.dumps(req).encode()
    headers = {"content-type": "application/json", "cache-control": "no-cache"}
    plan(req)  # warm-up: imports, first HiGHS instance; both workers
    for _ in range(2):
        client.post("/v1/plans", content=body, headers=headers).raise_for_status()
    local, http = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        plan(req)
        local.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        r = client.post("/v1/plans", content=body, headers=headers)
        http.append(time.perf_counter() - t0)
        if r.status_code != 201:
            raise SystemExit(f"POST answered {r.status_code}: {r.text[:300]}")
    return local, http


def _healthz_while_busy(client: httpx.Client, samples: int) -> tuple[list[float], int]:
    busy = []
    for tag in range(2):
        r = client.post("/v1/plans", json=_busy_request(tag), headers={"Prefer": "respond-async"})
        r.raise_for_status()
        busy.append(r.headers["location"])
    deadline = time.monotonic() + 30
    while client.get("/readyz").json()["running"] < 2:
        if time.monotonic() > deadline:
            raise SystemExit("the two long solves never ran at once")
        time.sleep(0.05)
    out = []
    running_at_end = 0
    for _ in range(samples):
        t0 = time.perf_counter()
        client.get("/healthz").raise_for_status()
        out.append(time.perf_counter() - t0)
        time.sleep(0.01)
    running_at_end = client.get("/readyz").json()["running"]
    for loc in busy:
        client.delete(loc)
    return out, running_at_end


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--healthz", type=int, default=300)
    args = parser.parse_args()

    requests: list[tuple[str, dict[str, Any]]] = [
        ("examples/cerebras-750mw.json", json.loads((ROOT / "examples" / "cerebras-750mw.json").read_text())),
        ("synthetic 2x4x4x12", _synthetic(2, 4, 4, 12)),
        ("synthetic 4x8x8x24", _synthetic(4, 8, 8, 24)),
    ]
    with tempfile.TemporaryDirectory(prefix="capplan-bench-") as tmp:
        proc, base = _start_server(Path(tmp))
        try:
            with httpx.Client(base_url=base, timeout=600) as client:
                rows = []
                for name, req in requests:
                    variables = plan(req).solver.variables
                    local, http = _paired(client, req, args.runs)
                    rows.append((name, variables, local, http))
                health, running = _healthz_while_busy(client, args.healthz)
        finally:
            proc.terminate()
            proc.wait(60)

    print(f"POST /v1/plans (sync, no-cache) vs plan() in-process, {args.runs} runs each, 2 workers")
    print(
        f"{'request':<30} {'vars':>6} {'plan() p50':>11} {'p99':>9} {'HTTP p50':>10} {'p99':>9} "
        f"{'overhead p50':>13} {'ratio p50':>10}"
    )
    for name, variables, local, http in rows:
        lp50, lp99 = statistics.median(local), _pct(local, 99)
        hp50, hp99 = statistics.median(http), _pct(http, 99)
        print(
            f"{name:<30} {variables:>6} {lp50 * 1e3:>9.1f}ms {lp99 * 1e3:>7.1f}ms {hp50 * 1e3:>8.1f}ms "
            f"{hp99 * 1e3:>7.1f}ms {(hp50 - lp50) * 1e3:>11.1f}ms {hp50 / lp50:>9.2f}x"
        )
    print()
    print(
        f"GET /healthz while both workers solve ({len(health)} samples, {running} solves still running "
        f"at the end): p50 {statistics.median(health) * 1e3:.2f} ms, p99 {_pct(health, 99) * 1e3:.2f} ms, "
        f"max {max(health) * 1e3:.2f} ms (goal p99 <= 50 ms)"
    )


if __name__ == "__main__":
    main()
