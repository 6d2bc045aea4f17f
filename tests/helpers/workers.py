"""Scenario workers and process checks shared by the scenario tests (library and service).

Top-level functions, so that worker processes can import them by name.
"""

from __future__ import annotations

import os
import time

from solver.scenarios import ScenarioOutcome, ScenarioTask, solve_scenario


def slow_worker(task: ScenarioTask) -> ScenarioOutcome:
    """Scenario 0 is quick; every other one takes far longer than any test waits."""
    if task.index != 0:
        time.sleep(600)
    return solve_scenario(task)


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, exited but not yet reaped, counts as stopped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False
