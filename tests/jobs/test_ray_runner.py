"""The Ray job runner against a real Ray node (``ray start --head`` as its own processes).

Same outcomes as the local process runner: a result says where it ran, an exception is an
``error``, a worker that dies is ``crashed`` and not retried, the watchdog stops an overrun
(killing the worker process), cancel kills a running task or drops a queued one, the queue
limit answers QueueFullError, and a shutdown interrupts what still runs.

Skipped (with the reason) only when Ray is not installed.  All Ray tests share one xdist
worker (group ``ray``), so at most one test cluster runs at a time.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.jobs.runner import QueueFullError
from service.jobs.tasks import solve_plan
from tests.helpers import service as h
from tests.helpers.ray_cluster import RayCluster, ray_cluster, ray_missing, use_in_this_process

pytestmark = [pytest.mark.xdist_group("ray"), pytest.mark.slow]

GRACE_S = 0.5


# ----------------------------------------------------------------------------- worker functions


def pid_then_sleep(payload: dict[str, Any]) -> int:
    """Write this process's pid to ``payload["file"]``, then sleep ``payload["seconds"]``."""
    Path(payload["file"]).write_text(str(os.getpid()))
    time.sleep(float(payload["seconds"]))
    return os.getpid()


def _pid_from(path: Path, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.05)
    return int(path.read_text())


def _gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    reason = ray_missing()
    if reason:
        pytest.skip(reason)
    with ray_cluster(workers=0, cpus_per_node=2, isolate=False) as c:
        yield c


@pytest.fixture(scope="module")
def runner(cluster: RayCluster) -> Iterator[Any]:
    use_in_this_process()
    from service.jobs.ray_runner import RayRunner

    r = RayRunner(cluster.address, namespace="capplan-test", queue_limit=2, grace_s=GRACE_S)
    r.start()
    try:
        h.wait_ready(r, timeout=120)
        yield r
    finally:
        r.shutdown(5)


def _wait_running(runner: Any, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while runner.running() < n:
        assert time.monotonic() < deadline, f"only {runner.running()} of {n} jobs started"
        time.sleep(0.05)


# ----------------------------------------------------------------------------- tests


class TestRayRunner:
    def test_ready_reports_the_cluster(self, runner: Any) -> None:
        ok, why = runner.ready()
        assert ok and why == "Ray cluster: 1 nodes, 2 CPUs"
        assert runner.slots() == 2

    def test_a_plan_solves_on_the_cluster_and_says_where(self, runner: Any, cluster: RayCluster) -> None:
        started: list[float] = []
        payload = {"plan_id": "p1", "request": h.small_request(demand=4200), "max_variables": None}
        fut = runner.submit("p1", solve_plan, payload, time_limit_s=30, on_start=lambda: started.append(1))
        res = fut.result(120)
        assert res.status == "done", res
        assert started == [1]  # on_start once, before the result
        # hand solution: 4.2 units at $1000 = $4200
        assert res.value["objective_value"] == pytest.approx(4200.0, rel=1e-9)
        head = cluster.nodes[0].node_id
        assert res.worker == f"ray:{head}"
        assert json.loads(res.value["plan_json"])["solver"]["worker"] == f"ray:{head}"

    def test_an_exception_is_an_error(self, runner: Any) -> None:
        res = runner.submit("e1", h.raise_value_error, None, time_limit_s=30).result(120)
        assert (res.status, res.error) == ("error", "ValueError: bad thing")

    def test_a_dying_worker_is_crashed_and_not_retried(self, runner: Any) -> None:
        before = runner.crashes
        res = runner.submit("d1", h.die, None, time_limit_s=30).result(120)
        assert res.status == "crashed"
        assert res.error == "the solver process died (Ray worker crashed)"
        assert runner.crashes == before + 1
        assert runner.submit("a1", h.add, {"a": 2, "b": 3}, time_limit_s=30).result(120).value == 5

    def test_the_watchdog_stops_an_overrunning_task_and_kills_its_process(
        self, runner: Any, tmp_path: Path
    ) -> None:
        marker = tmp_path / "pid"
        fut = runner.submit("w1", pid_then_sleep, {"file": str(marker), "seconds": 600}, time_limit_s=1.0)
        pid = _pid_from(marker)
        res = fut.result(120)
        assert res.status == "timeout"
        assert res.error is not None and res.error.startswith("stopped by the watchdog after ")
        assert "time limit of 1 s by more than the 0.5 s grace" in res.error
        assert res.seconds >= 1.0 + GRACE_S
        assert _gone(pid), "the overrunning worker process still runs"

    def test_cancel_kills_a_running_task(self, runner: Any, tmp_path: Path) -> None:
        marker = tmp_path / "pid"
        fut = runner.submit("c1", pid_then_sleep, {"file": str(marker), "seconds": 600}, time_limit_s=600)
        pid = _pid_from(marker)
        _wait_running(runner, 1)
        assert runner.cancel("c1")
        res = fut.result(10)
        assert (res.status, res.error) == ("cancelled", "cancelled while running")
        assert _gone(pid)
        assert not runner.cancel("c1")  # gone

    def test_queue_limit_cancel_of_a_queued_job_and_force(self, runner: Any, tmp_path: Path) -> None:
        sleep = {"file": str(tmp_path / "x"), "seconds": 600}
        busy = [runner.submit(f"b{i}", pid_then_sleep, sleep, time_limit_s=600) for i in range(2)]
        _wait_running(runner, 2)  # both CPUs taken
        queued = [runner.submit(f"q{i}", h.add, {"a": i, "b": 1}, time_limit_s=60) for i in range(2)]
        assert runner.queue_depth() == 2
        with pytest.raises(QueueFullError) as info:
            runner.submit("q-over", h.add, {"a": 0, "b": 0}, time_limit_s=60)
        assert info.value.retry_after_s >= 1
        forced = runner.submit("q-forced", h.add, {"a": 40, "b": 2}, time_limit_s=60, force=True)
        assert runner.cancel("q0")
        assert queued[0].result(10).error == "cancelled before it started"
        for i in range(2):
            assert runner.cancel(f"b{i}")
            assert busy[i].result(10).status == "cancelled"
        assert queued[1].result(120).value == 2
        assert forced.result(120).value == 42

    def test_shutdown_interrupts_running_jobs(self, runner: Any, tmp_path: Path) -> None:
        from service.jobs.ray_runner import RayRunner

        other = RayRunner(runner.address, namespace="capplan-test", queue_limit=4, grace_s=GRACE_S)
        other.start()  # shares this process's Ray connection
        h.wait_ready(other, timeout=60)
        marker = tmp_path / "pid"
        fut = other.submit("s1", pid_then_sleep, {"file": str(marker), "seconds": 600}, time_limit_s=600)
        pid = _pid_from(marker)
        other.shutdown(0.5)
        res = fut.result(10)
        assert (res.status, res.error) == ("interrupted", "the service stopped")
        assert _gone(pid)
        assert other.submit("late", h.add, {"a": 1, "b": 1}, time_limit_s=5).result(1).status == "interrupted"
        assert runner.ready()[0]  # the connection it shared is still up
        assert runner.submit("after", h.add, {"a": 1, "b": 1}, time_limit_s=30).result(120).value == 2


class TestBatchSize:
    def test_small_scenarios_are_batched_big_ones_are_not(self, runner: Any) -> None:
        # 2 CPUs: about four tasks per CPU; at most 20,000 columns per task; at most max_batch;
        # an even number of tasks when a size down to a third smaller gives one
        assert runner.batch_size(40, 10) == 5  # ceil(40 / 8), 8 tasks
        assert runner.batch_size(1000, 10) == 14  # max_batch 16: 63 tasks; 15: 67; 14: 72
        assert runner.batch_size(1000, 7000) == 2  # 20000 // 7000
        assert runner.batch_size(30, 3000) == 4  # ceil(30 / 8): 8 tasks
        assert runner.batch_size(50, 3000) == 5  # 20000 // 3000 = 6 gives 9 tasks, 5 gives 10
        assert runner.batch_size(1000, 50_000) == 1
        assert runner.batch_size(3, 10) == 1
