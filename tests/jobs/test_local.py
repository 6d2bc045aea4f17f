"""The local job runner: results, errors, the watchdog, crashes, cancel, the queue limit, shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.jobs.local import LocalProcessRunner
from service.jobs.runner import JobResult, QueueFullError, recent_seconds, retry_after_estimate
from tests.helpers import service as h
from tests.helpers.workers import alive

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runner() -> Iterator[LocalProcessRunner]:
    r = LocalProcessRunner(2, queue_limit=2, grace_s=0.5, preload=())
    r.start()
    h.wait_ready(r)
    yield r
    r.shutdown(5)


def result(fut: object, timeout: float = 60) -> JobResult:
    res = fut.result(timeout)  # type: ignore[attr-defined]
    assert isinstance(res, JobResult)
    return res


class TestRunnerResults:
    def test_returns_the_function_value(self, runner: LocalProcessRunner) -> None:
        res = result(runner.submit("a1", h.add, {"a": 2.5, "b": 4}, time_limit_s=30))
        assert (res.status, res.value) == ("done", 6.5)

    def test_payload_round_trips(self, runner: LocalProcessRunner) -> None:
        payload = {"x": [1, 2, {"y": "z"}], "n": None}
        assert result(runner.submit("a2", h.echo, payload, time_limit_s=30)).value == {"echo": payload}

    def test_exception_becomes_error_result(self, runner: LocalProcessRunner) -> None:
        res = result(runner.submit("a3", h.raise_value_error, None, time_limit_s=30))
        assert res.status == "error"
        assert res.error == "ValueError: bad thing"

    def test_runs_in_another_process(self, runner: LocalProcessRunner) -> None:
        import os

        assert result(runner.submit("a4", h.worker_pid, None, time_limit_s=30)).value != os.getpid()

    def test_on_start_is_called(self, runner: LocalProcessRunner) -> None:
        seen: list[str] = []
        fut = runner.submit("a5", h.add, {"a": 1, "b": 1}, time_limit_s=30, on_start=lambda: seen.append("s"))
        assert result(fut).value == 2
        assert seen == ["s"]

    def test_duplicate_job_id_rejected(self, runner: LocalProcessRunner) -> None:
        fut = runner.submit("dup", h.sleep_then, {"seconds": 0.5}, time_limit_s=30)
        with pytest.raises(ValueError, match="already"):
            runner.submit("dup", h.add, {"a": 1, "b": 1}, time_limit_s=30)
        assert result(fut).status == "done"


class TestWatchdog:
    def test_overrunning_job_is_killed_and_worker_replaced(self, runner: LocalProcessRunner) -> None:
        res = result(runner.submit("slow", h.sleep_then, {"seconds": 60}, time_limit_s=0.5))
        assert res.status == "timeout"
        assert "time limit of 0.5 s" in (res.error or "")
        # The pool is whole again: two jobs can still run.
        futs = [runner.submit(f"after-{i}", h.add, {"a": i, "b": 1}, time_limit_s=30) for i in range(2)]
        assert [result(f).value for f in futs] == [1, 2]


class TestCrash:
    def test_dead_worker_reports_crash_and_is_replaced(self, runner: LocalProcessRunner) -> None:
        before = runner.crashes
        res = result(runner.submit("boom", h.die, None, time_limit_s=30))
        assert res.status == "crashed"
        assert "signal 9" in (res.error or "")
        assert runner.crashes == before + 1
        assert result(runner.submit("alive", h.add, {"a": 1, "b": 2}, time_limit_s=30)).value == 3


class TestCancel:
    def test_cancel_running_job(self, runner: LocalProcessRunner) -> None:
        import time

        fut = runner.submit("c1", h.sleep_then, {"seconds": 60}, time_limit_s=120)
        deadline = time.monotonic() + 30
        while runner.running() == 0:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert runner.cancel("c1")
        assert result(fut).status == "cancelled"

    def test_cancel_unknown_job(self, runner: LocalProcessRunner) -> None:
        assert runner.cancel("nope") is False


def estimate(running: list[tuple[float, float]], avg_s: float, waiting: int = 0, workers: int = 1) -> int:
    """``retry_after_estimate`` at ``now = 100`` with a 15 s watchdog grace."""
    return retry_after_estimate(100.0, running, avg_s, 15.0, waiting=waiting, workers=workers)


class TestRetryAfter:
    """When a full queue has likely drained: the work left (running jobs' remainder plus the
    waiting jobs at the recent solve time), spread over the workers."""

    def test_the_waiting_jobs_at_the_recent_solve_time_over_the_workers(self) -> None:
        # The incident: 2 workers, 64 waiting, solves of ~1.4 s: the queue needs ~45 s to drain
        # (it used to say 4-5 s, the first running solve's end).  Two young jobs (run 0.4 s)
        # each have 1.4 - 0.4 = 1.0 s left: (1.0 + 1.0 + 64 * 1.4) / 2 = 45.8 -> 46 s.
        running = [(99.6, 60.0), (99.6, 60.0)]
        assert estimate(running, avg_s=1.4, waiting=64, workers=2) == 46

    def test_more_workers_drain_it_sooner(self) -> None:
        # 10 waiting at 6 s, nothing running: 60 s of work; 1 worker 60 s, 4 workers 15 s
        assert estimate([], avg_s=6.0, waiting=10, workers=1) == 60
        assert estimate([], avg_s=6.0, waiting=10, workers=4) == 15

    def test_a_job_past_the_average_is_expected_to_take_as_long_again(self) -> None:
        # quick solves so far (avg 0.05 s), but the one running has run 12 s of a 60 s limit:
        # 12 s more, plus 4 waiting * 0.05 s = 12.2 -> 13 s on one worker
        assert estimate([(88.0, 60.0)], avg_s=0.05, waiting=4) == 13

    def test_a_young_job_is_expected_to_end_at_the_average(self) -> None:
        # run 1 s of an 8 s average: 7 s left, 2 waiting * 8 s = 16: 23 s on one worker
        assert estimate([(99.0, 60.0)], avg_s=8.0, waiting=2) == 23

    def test_never_past_the_watchdog(self) -> None:
        # ran 50 s of a 40 s limit: the watchdog stops it at 40 + 15 = 55 s, 5 s from now
        assert estimate([(50.0, 40.0)], avg_s=1.0) == 5

    def test_bounds(self) -> None:
        assert estimate([], avg_s=4.2) == 1  # nothing to wait for: the least Retry-After
        assert estimate([(100.0, 60.0)], avg_s=0.01, waiting=3) == 1  # 0.04 s of work
        assert estimate([], avg_s=600.0, waiting=64, workers=2) == 3600  # capped at an hour


class TestRecentSeconds:
    def test_every_job_that_held_a_worker_counts_for_as_long_as_it_did(self) -> None:
        # 0.8 * 5 + 0.2 * 30 = 10: a watchdog kill after 30 s says solves are long now
        assert recent_seconds(5.0, JobResult("timeout", seconds=30.0)) == pytest.approx(10.0)
        assert recent_seconds(5.0, JobResult("done", seconds=1.0)) == pytest.approx(4.2)
        assert recent_seconds(5.0, JobResult("error", seconds=10.0)) == pytest.approx(6.0)

    def test_jobs_cut_short_on_purpose_or_never_run_do_not_count(self) -> None:
        assert recent_seconds(5.0, JobResult("cancelled", seconds=0.5)) == 5.0
        assert recent_seconds(5.0, JobResult("interrupted", seconds=0.5)) == 5.0
        assert recent_seconds(5.0, JobResult("error", error="job not transferable")) == 5.0


class TestQueueLimit:
    def test_queue_full_raises_with_retry_after(self) -> None:
        r = LocalProcessRunner(1, queue_limit=1, grace_s=0.5, preload=())
        r.start()
        try:
            h.wait_ready(r)
            futs = [r.submit("q0", h.sleep_then, {"seconds": 30}, time_limit_s=60)]
            accepted = 1
            with pytest.raises(QueueFullError) as info:
                for i in range(1, 5):
                    futs.append(r.submit(f"q{i}", h.sleep_then, {"seconds": 30}, time_limit_s=60))
                    accepted += 1
            # one running (or about to) + one waiting; the idle worker counts as room at most once
            assert accepted <= 2
            # at the first average (5 s): the young running job's rest and the waiting one's 5 s
            assert 5 <= info.value.retry_after_s <= 10
            forced = r.submit("forced", h.add, {"a": 1, "b": 1}, time_limit_s=60, force=True)
            # a cancelled queued job frees its place at once
            assert r.cancel(f"q{accepted - 1}")
            assert r.cancel("forced")
            assert result(forced).status == "cancelled"
        finally:
            r.shutdown(0)
        for f in futs:
            assert result(f).status in ("interrupted", "cancelled")


class TestShutdown:
    def test_running_job_finishes_within_grace(self) -> None:
        r = LocalProcessRunner(1, queue_limit=4, preload=())
        r.start()
        h.wait_ready(r)
        running = r.submit("s1", h.sleep_then, {"seconds": 0.5, "value": 7}, time_limit_s=30)
        waiting = r.submit("s2", h.sleep_then, {"seconds": 0.5, "value": 8}, time_limit_s=30)
        import time

        while r.running() == 0:
            time.sleep(0.02)
        r.shutdown(30)
        assert result(running).value == 7
        assert result(waiting).status == "interrupted"
        assert r.submit("late", h.add, {"a": 1, "b": 1}, time_limit_s=1).result(5).status == "interrupted"

    def test_running_job_past_grace_is_interrupted(self) -> None:
        r = LocalProcessRunner(1, queue_limit=4, preload=())
        r.start()
        h.wait_ready(r)
        fut = r.submit("s3", h.sleep_then, {"seconds": 60}, time_limit_s=120)
        import time

        while r.running() == 0:
            time.sleep(0.02)
        r.shutdown(0.2)
        assert result(fut).status == "interrupted"


class TestRecycling:
    def test_worker_is_replaced_after_its_job_quota(self) -> None:
        r = LocalProcessRunner(1, queue_limit=10, max_jobs_per_worker=2, preload=())
        r.start()
        try:
            h.wait_ready(r)
            pids = [result(r.submit(f"p{i}", h.worker_pid, None, time_limit_s=30)).value for i in range(5)]
        finally:
            r.shutdown(5)
        # jobs 1-2 on the first process, 3-4 on the second, 5 on the third
        assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]
        assert r.crashes == 0


class TestOrphans:
    def test_workers_die_with_the_service(self) -> None:
        """A service killed with SIGKILL leaves no worker behind, idle or solving."""
        script = (
            "import os, time\n"
            "from service.jobs.local import LocalProcessRunner\n"
            "from tests.helpers import service as h\n"
            "r = LocalProcessRunner(2, queue_limit=2, preload=())\n"
            "r.start()\n"
            "h.wait_ready(r)\n"
            "print(r.submit('pid', h.worker_pid, None, time_limit_s=30).result(30).value, flush=True)\n"
            "r.submit('busy', h.sleep_then, {'seconds': 120}, time_limit_s=300)\n"
            "while r.running() == 0:\n"
            "    time.sleep(0.02)\n"
            "print(' '.join(str(w.process.pid) for w in r._workers), flush=True)\n"
            "os.kill(os.getpid(), 9)\n"
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == -signal.SIGKILL, out.stderr
        pids = {int(p) for p in out.stdout.split()}
        assert len(pids) >= 2, out.stdout  # the idle worker and the busy one
        deadline = time.monotonic() + 10
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(p) for p in pids)

    @pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="the fork server is Linux's start method"
    )
    def test_a_dead_fork_server_leaves_running_solves_alone(self) -> None:
        from multiprocessing import forkserver

        r = LocalProcessRunner(1, queue_limit=4, grace_s=0.5, preload=())
        r.start()
        try:
            h.wait_ready(r)
            fut = r.submit("fs1", h.sleep_then, {"seconds": 1.5, "value": 3}, time_limit_s=30)
            while r.running() == 0:
                time.sleep(0.02)
            server = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
            assert server is not None and alive(server)
            os.kill(server, signal.SIGKILL)
            res = result(fut)
            assert (res.status, res.value) == ("done", 3), res.error
            assert r.ready()[0]
            # that worker's end is still seen (through its pipe), and its replacement comes
            # from a new fork server
            died = result(r.submit("fs2", h.die, None, time_limit_s=30))
            assert died.status == "crashed"
            assert died.error == (
                "the solver process died (exit status unknown: the fork server that started it had died)"
            )
            assert result(r.submit("fs3", h.add, {"a": 1, "b": 2}, time_limit_s=30)).value == 3
        finally:
            r.shutdown(5)
