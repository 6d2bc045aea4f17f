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
from collections.abc import Iterator
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
    """How this worker stands to Ctrl-C (its ``error`` says ``ignored=… own_group=…``): whether
    it ignores SIGINT, and whether it leads a process group of its own (out of the terminal's)."""
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    return ScenarioOutcome(task.index, None, f"ignored={ignored} own_group={os.getpgrp() == os.getpid()}")


def half_sent_worker(task: ScenarioTask) -> ScenarioOutcome:
    """Send the start of a result to the runner (a header announcing 1 MiB, then 16 bytes) and
    die: what a worker killed in the middle of sending its result leaves behind.  Touches the
    file ``task.request["marker"]`` once the bytes are written."""
    from multiprocessing.connection import Connection

    # the worker's pipe to the runner: its only writable Connection (the lifeline is read-only)
    conn = next(o for o in gc.get_objects() if isinstance(o, Connection) and o.writable)
    os.write(conn.fileno(), struct.pack("!i", 1 << 20) + bytes(16))
    Path(task.request["marker"]).touch()
    os.kill(os.getpid(), signal.SIGKILL)
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


def _proc_stats() -> Iterator[tuple[int, list[str]]]:
    """Each live process's pid and the fields of its /proc stat after "pid (command)"."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                yield int(entry.name), (entry / "stat").read_text().rsplit(") ", 1)[-1].split()
            except OSError:
                continue


def process_group(pgid: int) -> list[int]:
    """The processes of group ``pgid``."""
    return [pid for pid, fields in _proc_stats() if int(fields[2]) == pgid]


def session_members(sid: int) -> list[int]:
    """The live processes of session ``sid``: a command started in a session of its own, and
    everything it started, whatever process group they moved to."""
    return [pid for pid, fields in _proc_stats() if int(fields[3]) == sid and fields[0] != "Z"]
