"""Scenarios over a job runner: the CLI's pool (:class:`service.jobs.mapper.LocalPoolMapper`, the
service's local runner) answers as the in-process ``map``, stops its workers and their solver
processes when cancelled, keeps Ctrl-C off them, and survives a worker that dies mid-result."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from service.jobs.local import LocalProcessRunner
from service.jobs.mapper import LocalPoolMapper
from solver.scenarios.run import RunOptions, ScenarioOutcome, ScenarioTask
from solver.scenarios.sweep import prepare_sweep, run_sweep
from tests.helpers.scenario_requests import power_request, rel_close
from tests.helpers.workers import alive, half_sent_worker, parent_worker, sigint_state, slow_worker

ROOT = Path(__file__).resolve().parents[2]


def test_pool_rows_equal_in_process_rows() -> None:
    body = {
        "base": power_request(),
        "parameters": [{"path": "sites/s/power_mw", "values": [9, 11, 14, 19, 30]}],
    }
    serial = run_sweep(prepare_sweep(body))
    with LocalPoolMapper(2) as pool:
        parallel = run_sweep(prepare_sweep(body), RunOptions(mapper=pool))
    assert [r.status for r in parallel.rows] == [r.status for r in serial.rows]
    for a, b in zip(serial.rows, parallel.rows, strict=True):
        assert a.index == b.index and a.values == b.values
        if a.objective is not None:
            assert rel_close(a.objective, b.objective)


def test_cancelling_a_running_sweep_stops_its_workers() -> None:
    body = {
        "base": power_request(),
        "parameters": [{"path": "sites/s/power_mw", "values": [11, 12, 13, 14, 15]}],
    }
    sweep = prepare_sweep(body)
    first = threading.Event()
    out: dict[str, Any] = {}
    with LocalPoolMapper(2) as pool:
        opts = RunOptions(mapper=pool, worker=slow_worker, on_result=lambda *a: first.set())

        def go() -> None:
            out["result"] = run_sweep(sweep, opts)

        th = threading.Thread(target=go)
        th.start()
        assert first.wait(120), "the quick scenario never finished"
        pids = pool.pids()
        assert pids and any(alive(p) for p in pids)
        pool.cancel()
        th.join(60)
        assert not th.is_alive(), "the sweep did not stop after cancel()"
    assert out["result"].cancelled
    assert out["result"].done == 1
    deadline = time.monotonic() + 30
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if alive(p)], "workers still running after cancel"
    assert math.isfinite(out["result"].rows[0].objective or math.nan)


def test_workers_ignore_ctrl_c_in_a_group_of_their_own_and_the_caller_keeps_it() -> None:
    # Ctrl-C goes to the whole foreground group: a worker that saw it printed a traceback.
    # Out of the group and ignoring SIGINT, a worker never sees it; the caller still does
    # (and stops the workers), its handler and signal mask as they were.
    handler = signal.getsignal(signal.SIGINT)
    with LocalPoolMapper(2) as pool:
        outs = list(pool(sigint_state, [ScenarioTask(i, {}, f"p{i}") for i in range(4)]))
    assert sorted(o.error or "" for o in outs) == ["ignored=True own_group=True"] * 4
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert signal.getsignal(signal.SIGINT) is handler


def test_cancel_kills_the_solver_processes_a_worker_started(tmp_path: Path) -> None:
    # a CBC solve runs as the worker's child: it ran on to its time limit after the worker
    marker = tmp_path / "child"
    tasks = [ScenarioTask(0, {"marker": str(marker)}, "p0")]
    with LocalPoolMapper(1) as pool:
        consumer = threading.Thread(target=lambda: list(pool(parent_worker, tasks)), daemon=True)
        consumer.start()
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the worker never started its child"
        child = int(marker.read_text())
        try:
            pool.cancel()
            consumer.join(60)
            deadline = time.monotonic() + 30
            while alive(child) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not alive(child), "the worker's child still runs"
        finally:
            if alive(child):
                os.kill(child, signal.SIGKILL)


def test_a_worker_killed_while_sending_its_result_fails_its_scenario_and_the_pool_goes_on(
    tmp_path: Path,
) -> None:
    # The spawn pool's manager thread, reading a result a killed worker had only partly sent,
    # waited for the rest forever: 'capplan sweep' hung after Ctrl-C.  The runner reads each
    # worker's own pipe, whose only write end dies with the worker: the read ends.
    tasks = [ScenarioTask(0, {"marker": str(tmp_path / "sent")}, "p0")]
    with LocalPoolMapper(1) as pool:
        outs: list[ScenarioOutcome] = list(pool(half_sent_worker, tasks))
        assert [(o.index, o.plan.status if o.plan else None) for o in outs] == [(0, "failed")]
        assert outs[0].error == "the solver process died (signal 9)"
        again = list(pool(sigint_state, [ScenarioTask(1, {}, "p1")]))
    assert [o.error for o in again] == ["ignored=True own_group=True"]


def test_the_fork_server_and_the_workers_start_with_ctrl_c_blocked() -> None:
    # The fork server imports its preload (the solver: a second or two) before it ignores
    # SIGINT: a Ctrl-C then printed its traceback.  Started with SIGINT blocked (a fresh
    # process: the fork server is started once per process), it never sees one.
    code = (
        "import multiprocessing.forkserver as fs\n"
        "from service.jobs.mapper import LocalPoolMapper\n"
        "with LocalPoolMapper(1) as pool:\n"
        "    print(fs._forkserver._forkserver_pid, *pool.pids())\n"
    )
    script = (
        f"{code}"
        "    for pid in [fs._forkserver._forkserver_pid, *pool.pids()]:\n"
        "        status = open(f'/proc/{pid}/status').read()\n"
        "        blocked = int(next(l for l in status.splitlines() if l.startswith('SigBlk:')).split()[1], 16)\n"
        "        print(bool(blocked & (1 << (signal.SIGINT - 1))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import signal\n" + script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split("\n")
    assert out[1:3] == ["True", "True"], out


def test_a_ctrl_c_while_the_pool_starts_stops_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # The KeyboardInterrupt held off while the pool started was raised out of __enter__, so
    # __exit__ never ran: the pool ran on until the interpreter's exit, whose SIGTERM to its
    # workers the dispatcher logged after "interrupted" ('capplan sweep', now and then).
    started = LocalProcessRunner.start

    def start_then_ctrl_c(self: LocalProcessRunner) -> None:
        started(self)
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(LocalProcessRunner, "start", start_then_ctrl_c)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a shell's command
    try:
        pool = LocalPoolMapper(1)
        with pytest.raises(KeyboardInterrupt), pool:
            pytest.fail("the pool was entered")
    finally:
        signal.signal(signal.SIGINT, previous)
    dispatcher = pool.pool._thread
    assert dispatcher is not None and not dispatcher.is_alive()
    assert pool.pool.ready() == (False, "shutting down")
