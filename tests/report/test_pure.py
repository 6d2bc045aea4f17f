"""A report renders from stored results without a solver or a web framework: in a fresh
process, rendering a stored plan (its HTML report and CSV tables) and a stored sweep and
frontier imports neither PuLP, HiGHS nor FastAPI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from solver import plan
from solver.scenarios.frontier import prepare_frontier, run_frontier
from solver.scenarios.sweep import prepare_sweep, run_sweep
from tests.helpers.scenario_requests import frontier_request, power_request

ROOT = Path(__file__).resolve().parents[2]

RENDER = """
import json, sys
from solver.schema import Plan
from service.report import plan_tables, render_frontier_report, render_plan_report, render_sweep_report

plan = Plan.model_validate_json(open(sys.argv[1]).read())
pages = [
    render_plan_report(plan),
    render_sweep_report(json.load(open(sys.argv[2]))),
    render_frontier_report(json.load(open(sys.argv[3]))),
]
tables = plan_tables(plan)
print(json.dumps({
    "pages": [len(p) for p in pages],
    "tables": sorted(tables),
    "loaded": [m for m in ("pulp", "highspy", "fastapi", "starlette") if m in sys.modules],
}))
"""


def test_rendering_stored_results_loads_no_solver_and_no_web_framework(tmp_path: Path) -> None:
    stored = tmp_path / "plan.json"
    stored.write_text(plan(power_request()).model_dump_json())
    sweep = run_sweep(
        prepare_sweep(
            {"base": power_request(), "parameters": [{"path": "sites/s/power_mw", "values": [9, 30]}]}
        )
    )
    (tmp_path / "sweep.json").write_text(sweep.model_dump_json())
    frontier = run_frontier(prepare_frontier({"base": frontier_request(), "points": 3}))
    (tmp_path / "frontier.json").write_text(frontier.model_dump_json())
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            RENDER,
            str(stored),
            str(tmp_path / "sweep.json"),
            str(tmp_path / "frontier.json"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    got = json.loads(out.stdout)
    assert got["loaded"] == []
    assert all(n > 1000 for n in got["pages"])  # three whole pages, not error stubs
    assert got["tables"] == ["fleet", "idle_purchases", "periods", "shadow_prices", "sites", "workloads"]
