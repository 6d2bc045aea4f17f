"""Benchmark: what refusing a too-large request, and checking a large one, costs the API process.

Starts a real ``capplan serve`` (2 workers, a temporary SQLite file) and measures

1. the time to the 422 ``model-too-large`` of ``POST /v1/plans`` against the body's size:
   240 monthly periods, 100 sites, 3 catalog hardware and a growing number of workloads
   (700 workloads: 75 KB, 50.6M variables; the goal: every one within 2 s), with the CPU
   seconds the server process spent on each;
2. ``GET /healthz`` alone, then while four clients POST such a 75 KB body at once, round after
   round: 0.25 s after the four answers, then at once (the server as busy as four clients can
   keep it): p50/p99/max (goal p99 <= 50 ms);
3. ``POST /v1/validate`` of an accepted 2 MB request (1 site, 1 hardware, 20,000 workloads,
   1 period: 40,001 variables, described by a worker process).

    python bench/size_refusal.py
    python bench/size_refusal.py --max-workloads 1400 --healthz 300

The server runs whatever ``service`` the interpreter imports: ``PYTHONPATH=<an older tree>``
measures that tree's server with the same client.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

HEADERS = {"content-type": "application/json", "cache-control": "no-cache"}


def oversized(workloads: int) -> dict[str, Any]:
    """240 monthly periods, 100 sites, 3 catalog hardware: 72,000·workloads + 71,100 + 240·workloads
    variables (every item serves llama-70b at 20 tokens/s per user)."""
    return {
        "name": "oversized",
        "horizon": {"start": "2026-01", "periods": 240, "period_months": 1},
        "sites": [{"id": f"s{i}", "power_mw": 100.0} for i in range(100)],
        "hardware": [{"catalog": c} for c in ("nvidia-gb300-nvl72", "nvidia-b200-8x", "cerebras-cs3")],
        "workloads": [
            {
                "id": f"w{i}",
                "model": "llama-70b",
                "min_tokens_per_s_per_user": 20,
                "demand_tokens_per_s": 1000.0 + i,
            }
            for i in range(workloads)
        ],
    }


def accepted_2mb() -> dict[str, Any]:
    """1 site, 1 hardware (no lead time), 20,000 workloads, 1 period: 1 + 20,000 + 20,000 variables."""
    return {
        "name": "20k workloads",
        "horizon": {"start": "2026-01", "periods": 1, "period_months": 1},
        "sites": [{"id": "s", "power_mw": 1000.0}],
        "hardware": [{"catalog": "cerebras-cs3", "lead_time_months": 0}],
        "workloads": [
            {
                "id": f"w{i}",
                "model": "llama-70b",
                "min_tokens_per_s_per_user": 20,
                "demand_tokens_per_s": 10.0 + i,
            }
            for i in range(20_000)
        ],
    }


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q / 100 * (len(xs) - 1))))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "CAPPLAN_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
        "CAPPLAN_WORKERS": "2",
        "CAPPLAN_LOG_LEVEL": "warning",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
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


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _refusal(client: httpx.Client, pid: int, body: bytes, runs: int) -> tuple[list[float], float, int]:
    """Seconds to each 422, the server's CPU seconds per refusal, and the variables it named."""
    times, variables = [], 0
    cpu0 = _cpu_s(pid)
    for _ in range(runs):
        t0 = time.perf_counter()
        r = client.post("/v1/plans", content=body, headers=HEADERS)
        times.append(time.perf_counter() - t0)
        if r.status_code != 422 or r.json().get("type", "").rsplit("/", 1)[-1] != "model-too-large":
            raise SystemExit(f"expected a 422 model-too-large, got {r.status_code}: {r.text[:300]}")
        variables = int(r.json()["variables"])
    return times, (_cpu_s(pid) - cpu0) / runs, variables


def _healthz(client: httpx.Client, samples: int) -> list[float]:
    out = []
    for _ in range(samples):
        t0 = time.perf_counter()
        client.get("/healthz").raise_for_status()
        out.append(time.perf_counter() - t0)
        time.sleep(0.01)
    return out


def _healthz_under_fire(base: str, body: bytes, samples: int, pause_s: float) -> tuple[list[float], int]:
    """/healthz samples while four clients POST ``body`` at once, round after round (a round
    starts when all four have their answer and ``pause_s`` has passed); how many were refused."""
    stop = threading.Event()
    refused = [0] * 4
    start = threading.Barrier(5)
    at_once = threading.Barrier(4)

    def fire(k: int) -> None:
        with httpx.Client(base_url=base, timeout=600) as c:
            start.wait()
            while not stop.is_set():
                try:
                    at_once.wait(timeout=60)
                except threading.BrokenBarrierError:
                    return
                if c.post("/v1/plans", content=body, headers=HEADERS).status_code == 422:
                    refused[k] += 1
                time.sleep(pause_s)

    threads = [threading.Thread(target=fire, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    try:
        with httpx.Client(base_url=base, timeout=60) as c:
            start.wait()
            out = _healthz(c, samples)
    finally:
        stop.set()
        for t in threads:
            t.join(600)
        at_once.abort()
    return out, sum(refused)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="refusals timed per body size")
    parser.add_argument("--max-workloads", type=int, default=44_800)
    parser.add_argument("--healthz", type=int, default=500, help="/healthz samples per phase")
    parser.add_argument("--skip-accepted", action="store_true", help="leave out the 2 MB /v1/validate")
    args = parser.parse_args()
    sizes = [w for w in (350, 700, 1400, 2800, 5600, 11_200, 22_400, 44_800) if w <= args.max_workloads]

    with tempfile.TemporaryDirectory(prefix="capplan-bench-") as tmp:
        proc, base = _start_server(Path(tmp))
        try:
            with httpx.Client(base_url=base, timeout=600) as client:
                client.post(
                    "/v1/plans", content=json.dumps(oversized(10)).encode(), headers=HEADERS
                )  # warm-up
                rows = []
                for w in sizes:
                    body = json.dumps(oversized(w)).encode()
                    times, cpu, variables = _refusal(client, proc.pid, body, args.runs)
                    rows.append((w, len(body), variables, times, cpu))
                idle = _healthz(client, args.healthz)
                fire_body = json.dumps(oversized(700)).encode()
                fired = [
                    (pause, *_healthz_under_fire(base, fire_body, args.healthz, pause))
                    for pause in (0.25, 0.0)
                ]
                accepted: tuple[int, float, int] | None = None
                if not args.skip_accepted:
                    body = json.dumps(accepted_2mb()).encode()
                    t0 = time.perf_counter()
                    r = client.post("/v1/validate", content=body, headers=HEADERS)
                    seconds = time.perf_counter() - t0
                    if r.status_code != 200:
                        raise SystemExit(f"/v1/validate answered {r.status_code}: {r.text[:300]}")
                    accepted = (len(body), seconds, int(r.json()["model_size"]["variables"]))
        finally:
            proc.terminate()
            proc.wait(60)

    print(
        f"POST /v1/plans of a too-large body: time to the 422, {args.runs} runs per size (goal: within 2 s)"
    )
    print(
        f"{'workloads':>9} {'body KB':>8} {'variables':>13} {'p50 ms':>9} {'max ms':>9} {'server CPU ms':>14}"
    )
    for w, size, variables, times, cpu in rows:
        print(
            f"{w:>9} {size / 1024:>8.0f} {variables:>13,} {statistics.median(times) * 1e3:>9.1f} "
            f"{max(times) * 1e3:>9.1f} {cpu * 1e3:>14.1f}"
        )
    print()
    phases = [("alone", idle)]
    for pause, xs, refused in fired:
        when = (
            f"every {pause:g} s after the last answers" if pause else "again as soon as all four are answered"
        )
        phases.append((f"while 4 clients POST the 75 KB body at once, {when} ({refused} refused)", xs))
    for name, xs in phases:
        print(
            f"GET /healthz {name}: p50 {statistics.median(xs) * 1e3:.2f} ms, p99 {_pct(xs, 99) * 1e3:.2f} ms, "
            f"max {max(xs) * 1e3:.2f} ms ({len(xs)} samples; goal p99 <= 50 ms)"
        )
    if accepted is not None:
        size, seconds, variables = accepted
        print()
        print(
            f"POST /v1/validate of an accepted {size / 2**20:.1f} MB body ({variables:,} variables): {seconds:.2f} s"
        )


if __name__ == "__main__":
    main()
