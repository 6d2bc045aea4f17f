"""Scenario workers and process checks shared by the scenario tests (library and service).

Top-level functions, so that worker processes can import them by name.
"""

from __future__ import annotations

import gc
import os
import signal
import struct
import subprocess
import time
from pathlib import Path

from solver.scenarios.run import ScenarioOutcome, ScenarioTask, solve_scenario


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


def sigint_state(task: ScenarioTask) -> ScenarioOutcome:
    """Whether SIGINT is blocked in this worker (its ``error`` says ``blocked=True/False``)."""
    blocked = signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    return ScenarioOutcome(task.index, None, f"blocked={blocked}")


def half_sent_worker(task: ScenarioTask) -> ScenarioOutcome:
    """Leave the start of a result in the pool's result pipe and wait to be killed: what a
    worker terminated in the middle of sending its result leaves behind.  Touches the file
    ``task.request["marker"]`` once the bytes are written."""
    from multiprocessing.queues import SimpleQueue

    # the pool's result queue is the worker's only SimpleQueue (its call queue is a Queue)
    results = next(o for o in gc.get_objects() if type(o) is SimpleQueue)
    with results._wlock:
        os.write(results._writer.fileno(), struct.pack("!i", 1 << 20) + bytes(16))  # 16 of 1 MiB
    Path(task.request["marker"]).touch()
    time.sleep(600)
    raise AssertionError("never reached")


def parent_worker(task: ScenarioTask) -> ScenarioOutcome:
    """Start a long child process (as CBC is one), write its pid to ``task.request["marker"]``
    and wait to be killed."""
    child = subprocess.Popen(["sleep", "600"])
    marker = Path(task.request["marker"])
    marker.with_suffix(".tmp").write_text(str(child.pid))
    marker.with_suffix(".tmp").rename(marker)  # whole, or not there
    child.wait()
    raise AssertionError("never reached")
