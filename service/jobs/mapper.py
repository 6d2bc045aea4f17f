"""Scenarios as jobs: a :data:`solver.scenarios.run.Mapper` over a job runner.

Each scenario of a sweep or frontier is one job on the runner's workers (or, for a runner that
batches, one job solves several small scenarios in a row: :func:`service.jobs.tasks.run_batch`),
with the runner's watchdog and time limits.  The service maps over its own runner
(:class:`RunnerMapper`); the CLI over a local process pool of its own (:class:`LocalPoolMapper`):
one pool implementation, :class:`~service.jobs.local.LocalProcessRunner`, serves both.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import typing
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import replace
from multiprocessing import resource_tracker
from typing import Any

from service.jobs.local import LocalProcessRunner
from service.jobs.runner import JobResult, JobRunner, QueueFullError
from service.jobs.tasks import requested_time_limit, run_batch, stub_plan
from solver import parse_request
from solver.planner import effective_time_limit
from solver.scenarios.run import ScenarioOutcome, ScenarioTask, Worker
from solver.size import model_size


def task_time_limit(task: ScenarioTask) -> float:
    """The time limit a scenario's solve gets (its request's, capped as the task says): the
    watchdog stops the job ``grace_s`` after it."""
    return effective_time_limit(requested_time_limit(task.request), task.max_time_limit_s)


class RunnerMapper:
    """A :data:`solver.scenarios.run.Mapper` over the service's job runner.

    Keeps at most ``window`` jobs of this sweep queued or running; waits (without
    failing) while the runner's queue is full.  A scenario the watchdog stops, or whose
    worker dies, comes back with a stub plan (``time_limit`` / ``failed``).  ``cancel()``
    cancels every scenario in flight (the runner kills their processes).  A runner with a
    ``batch_size(tasks, variables)`` method (Ray) gets small scenarios in batches: one job
    runs several in a row (:func:`service.jobs.tasks.run_batch`), its time limit their sum.
    """

    def __init__(
        self,
        runner: JobRunner,
        window: int,
        time_limit_s: Callable[[ScenarioTask], float] = task_time_limit,
    ) -> None:
        self.runner = runner
        self.time_limit_s = time_limit_s
        self.window = max(1, window)
        self.cancelled = threading.Event()
        self.stopping = threading.Event()
        self.interrupted = False
        self._lock = threading.Lock()
        self._inflight: set[str] = set()

    def cancel(self) -> None:
        self.cancelled.set()
        with self._lock:
            ids = list(self._inflight)
        for job_id in ids:
            self.runner.cancel(job_id)

    def _submit(
        self, fn: Worker, unit: list[ScenarioTask], done: queue.Queue[tuple[list[ScenarioTask], JobResult]]
    ) -> bool:
        task = unit[0]
        job_fn: Callable[[Any], Any]
        payload: Any
        if len(unit) == 1:
            job_id, job_fn, payload, limit = task.plan_id, fn, task, self.time_limit_s(task)
        else:
            job_id, job_fn = f"batch-{task.plan_id}", run_batch
            payload, limit = {"fn": fn, "items": unit}, sum(self.time_limit_s(t) for t in unit)
        while not self.cancelled.is_set():
            try:
                fut: Future[JobResult] = self.runner.submit(job_id, job_fn, payload, time_limit_s=limit)
            except QueueFullError as exc:
                self.cancelled.wait(min(2.0, max(0.2, exc.retry_after_s / 10)))
                continue
            with self._lock:
                self._inflight.add(job_id)
            fut.add_done_callback(lambda f, u=unit: done.put((u, f.result())))  # type: ignore[misc]
            return True
        return False

    def _batch_size(self, tasks: Sequence[ScenarioTask]) -> int:
        size_of = getattr(self.runner, "batch_size", None)
        if size_of is None or len(tasks) < 2:
            return 1
        variables = model_size(parse_request(tasks[0].request)).variables
        return max(1, int(size_of(len(tasks), variables)))

    def __call__(self, fn: Worker, tasks: Sequence[ScenarioTask]) -> Iterator[ScenarioOutcome]:
        size = self._batch_size(tasks)
        k = -(-len(tasks) // size)  # batches, of sizes differing by at most one
        cut = [round(i * len(tasks) / k) for i in range(k + 1)] if tasks else [0]
        pending = deque(list(tasks[cut[i] : cut[i + 1]]) for i in range(len(cut) - 1))
        done: queue.Queue[tuple[list[ScenarioTask], JobResult]] = queue.Queue()
        running = 0

        def top_up() -> bool:
            nonlocal running
            while pending and running < self.window and not self.stopping.is_set():
                if not self._submit(fn, pending[0], done):
                    return False
                pending.popleft()
                running += 1
            return True

        try:
            while (pending or running) and not self.cancelled.is_set():
                if self.stopping.is_set() and not running:
                    self.interrupted = True  # the service stops: the rest resumes at the next start
                    return
                if not top_up():
                    return
                try:
                    unit, res = done.get(timeout=0.5)
                except queue.Empty:
                    continue
                running -= 1
                with self._lock:
                    self._inflight.discard(unit[0].plan_id if len(unit) == 1 else f"batch-{unit[0].plan_id}")
                if res.status in ("cancelled", "interrupted"):
                    self.interrupted = res.status == "interrupted"
                    return
                if not top_up():  # the next job runs while these results are recorded
                    return
                if len(unit) == 1:
                    yield _outcome(unit[0], res)
                    continue
                results = res.value if res.status == "done" else [(False, None)] * len(unit)
                for task, (ok, value) in zip(unit, results, strict=True):
                    if ok:
                        yield _outcome(task, replace(res, value=value))
                    elif res.status == "done":  # the scenario raised inside its batch
                        yield _outcome(task, replace(res, status="error", value=None, error=value))
                    else:
                        yield _outcome(task, res)
        finally:
            with self._lock:
                left = list(self._inflight)
                self._inflight.clear()
            for job_id in left:  # stopped early: drop what is still queued or running
                self.runner.cancel(job_id)


def _outcome(task: ScenarioTask, res: JobResult) -> ScenarioOutcome:
    if res.status == "done" and isinstance(res.value, ScenarioOutcome):
        if res.worker and res.value.plan is not None:
            res.value.plan.solver.worker = res.worker  # where it ran (Ray: the node id)
        return res.value
    status = "time_limit" if res.status == "timeout" else "failed"
    reason = res.error or res.status
    return ScenarioOutcome(
        task.index, stub_plan(task.plan_id, task.request, status, reason, [reason]), reason
    )


class LocalPoolMapper(RunnerMapper):
    """A :class:`RunnerMapper` over a :class:`~service.jobs.local.LocalProcessRunner` of its own:
    how the CLI runs the scenarios of a sweep or frontier on every core.

    Use it as a context manager: the pool starts on entry (``workers`` processes, default one
    per core), is reused by every call (a frontier maps twice) and is stopped on exit.  Ctrl-C
    reaches the caller only (a KeyboardInterrupt, which stops the pool); the pool's processes
    never see it: the fork server and the workers start with SIGINT blocked, and each worker
    ignores it in a process group of its own (see :func:`_sigint_held`).  ``cancel()`` (from any
    thread) stops the current and every later call; the runner kills the workers in flight,
    with the solver processes they started (CBC).
    """

    def __init__(self, workers: int | None = None, *, grace_s: float = 15.0) -> None:
        size = max(1, workers or os.cpu_count() or 1)
        super().__init__(LocalProcessRunner(size, queue_limit=size, grace_s=grace_s), window=size)
        self.pool = typing.cast(LocalProcessRunner, self.runner)

    def __enter__(self) -> LocalPoolMapper:
        # multiprocessing's resource tracker unblocks SIGINT after starting itself: start it
        # (if need be) before SIGINT is blocked for the fork server and the workers
        if _HAVE_SIGMASK:
            resource_tracker.ensure_running()
        try:
            with _sigint_held():  # a Ctrl-C meanwhile is raised here, once the pool has started
                self.pool.start()
        except BaseException:
            self.__exit__()  # then the pool stops at once, not at the interpreter's exit
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()
        with _sigint_held():  # a second Ctrl-C does not cut the clean-up short
            self.pool.shutdown(0)

    def pids(self) -> list[int]:
        """Process ids of the current workers (for monitoring and tests)."""
        return [pid for pid in self.pool.worker_pids() if pid is not None]


_HAVE_SIGMASK = hasattr(signal, "pthread_sigmask")  # not on Windows


@contextmanager
def _sigint_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) off this thread while processes start or stop.

    Processes started inside begin with SIGINT blocked: the signal mask is inherited through
    fork and exec, so the fork server, still importing its preload, never sees the Ctrl-C sent
    to the whole foreground group (before it ignores SIGINT, one would print a
    KeyboardInterrupt traceback), nor does a worker before it leaves the group.  In the main thread the
    KeyboardInterrupt meant for this process is raised when the block ends, never halfway
    through starting or stopping the pool.
    """
    caught: list[int] = []
    previous: Any = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGINT)
        if callable(previous):  # the Python handler (KeyboardInterrupt): run it afterwards
            signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
        else:  # SIG_IGN or SIG_DFL: left as it is
            previous = None
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if _HAVE_SIGMASK else None
    try:
        yield
    finally:
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending SIGINT is caught now
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
            if caught:
                previous(signal.SIGINT, None)  # raises KeyboardInterrupt
