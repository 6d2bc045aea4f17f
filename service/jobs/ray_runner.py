"""The Ray backend of :class:`service.jobs.runner.JobRunner`: every job is one Ray task.

``RayRunner(address)`` joins a Ray cluster (``CAPPLAN_RAY_ADDRESS``: ``auto`` on a cluster
node, or ``host:port`` of the head's GCS; unset: start a private one-machine Ray).  Each job
is a task with ``num_cpus=1`` (HiGHS runs one thread: the solver sets it) and
``max_retries=0`` — a solve that crashes its worker process would crash it again, so it
ends ``crashed`` ("the solver process died").  Ray schedules the tasks over the cluster's
nodes and queues what does not fit; the service's database stays the record (plans, job
rows, statuses): nothing here lives longer than the API process.

* **Start and watchdog.**  A task reports its start to a small actor of this runner (no CPU,
  placed on the API's node); the dispatcher thread polls it ten times a second, calls the
  job's ``on_start`` (the plan becomes ``running``) and from then on counts the time limit.
  A job past ``time_limit_s + grace_s`` is stopped with ``ray.cancel(ref, force=True)``
  (its worker process is killed) and ends ``timeout``, as with local processes.
* **Cancel**: ``ray.cancel(ref, force=True)``; the future resolves ``cancelled`` at once.
* **A node lost mid-task** (``NodeDiedError``, or the result lost with the node) is not the
  solver's fault: the job is submitted once more (Ray places it on a live node).  Lost a
  second time it ends ``crashed`` with the reason ("the Ray node running the solve was
  lost twice …") — never stuck.
* **Queue**: jobs not yet started count against ``queue_limit`` beyond the cluster's idle
  CPUs; past that :class:`~service.jobs.runner.QueueFullError` (429), unless ``force``.
* **Batches**: :meth:`RayRunner.batch_size` tells a sweep how many small scenarios to solve
  in one task, so that Ray's per-task cost (a few ms) stays small next to the solves.

Each result says where it ran (:attr:`~service.jobs.runner.JobResult.worker` =
``ray:<node id>``); plan solves also write it to ``plan.solver.worker``
(the task sets ``CAPPLAN_WORKER_NAME`` in its worker process).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import (
    GetTimeoutError,
    NodeDiedError,
    ObjectLostError,
    OutOfMemoryError,
    RayError,
    RayTaskError,
    TaskCancelledError,
    WorkerCrashedError,
)
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from service.jobs.runner import Job, JobResult, JobRunner, recent_seconds

log = logging.getLogger("capplan.jobs.ray")

WORKER_ENV = "CAPPLAN_WORKER_NAME"
"""Set in a Ray worker process to ``ray:<node id>`` while it runs capplan tasks."""

BATCH_TARGET_VARIABLES = 20_000
"""A batch of scenarios holds about this many LP columns in all (tiny models: many per task)."""

_POLL_S = 0.05
_INIT_LOCK = threading.Lock()
_STARTS_EVERY_S = 0.1
_CLUSTER_EVERY_S = 2.0


# ----------------------------------------------------------------------------- worker side


def run_task(
    job_id: str, attempt: int, fn: Callable[[Any], Any], payload: Any, starts: Any
) -> tuple[Any, ...]:
    """Body of every task: say where and that it started, run ``fn(payload)``, report.

    Returns ``(ok, value_or_error, seconds, node_id)``; an exception of ``fn`` is a result
    (``ok`` false), not a task failure, so only real crashes reach Ray's error path.
    """
    node = ray.get_runtime_context().get_node_id()
    os.environ[WORKER_ENV] = f"ray:{node}"
    if starts is not None:
        with contextlib.suppress(Exception):
            starts.started.remote(job_id, attempt)
    t0 = time.perf_counter()
    try:
        value = fn(payload)
    except Exception as exc:
        log.error("job %s raised\n%s", job_id, traceback.format_exc())
        return (False, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0, node)
    return (True, value, time.perf_counter() - t0, node)


class StartLog:
    """An actor that collects ``(job_id, attempt)`` of started tasks until drained."""

    def __init__(self) -> None:
        self._events: list[tuple[str, int]] = []

    def started(self, job_id: str, attempt: int) -> None:
        self._events.append((job_id, attempt))

    def drain(self) -> list[tuple[str, int]]:
        out, self._events = self._events, []
        return out


# ----------------------------------------------------------------------------- driver side


@dataclass(eq=False)
class _Job(Job):
    attempt: int = 0
    ref: Any = None
    started: float | None = None  # time.monotonic() when the task reported its start
    start_fired: bool = False
    cancelled: bool = False


class RayRunner(JobRunner):
    """Jobs as Ray tasks (see the module docstring)."""

    def __init__(
        self,
        address: str | None = None,
        *,
        namespace: str = "capplan",
        queue_limit: int = 64,
        grace_s: float = 15.0,
        max_batch: int = 16,
        node_retries: int = 1,
        local_cpus: int | None = None,
    ) -> None:
        super().__init__(queue_limit=queue_limit, grace_s=grace_s)
        self.address = address
        self.namespace = namespace
        self.max_batch = max(1, max_batch)
        self.node_retries = node_retries
        self.local_cpus = local_cpus
        # _pending: jobs accepted before the cluster was reached
        self._by_ref: dict[Any, _Job] = {}
        self._woken = threading.Event()
        self._connected = False
        self._owns_ray = False
        self._remote: Any = None
        self._starts: Any = None
        self._error = "connecting to Ray"
        self._cpus = 0.0
        self._nodes = 0
        self.crashes = 0
        self.node_losses = 0

    # -- public API --------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="capplan-ray", daemon=True)
        self._thread.start()

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            job = self._jobs.pop(job_id, None)
            if job is None:
                return False
            job.cancelled = True
            if job in self._pending:
                self._pending.remove(job)
            ref = job.ref
            if ref is not None:
                self._by_ref.pop(ref, None)
        if ref is not None:
            self._kill(ref)
        started = job.started is not None
        job.future.set_result(
            JobResult(
                "cancelled", error="cancelled while running" if started else "cancelled before it started"
            )
        )
        return True

    def slots(self) -> int:
        """CPUs of the cluster (at least 1): how many tasks run at once."""
        return max(1, int(self._cpus))

    def batch_size(self, tasks: int, variables: int) -> int:
        """How many of ``tasks`` scenarios (of about ``variables`` columns each) one task solves.

        At most ``max_batch``; about :data:`BATCH_TARGET_VARIABLES` columns per task; small
        enough that every CPU gets about four tasks (balance, progress, and less lost with a
        node); and, if a size at most a third smaller allows it, a number of tasks that is a
        multiple of the CPUs, so that the last round keeps every CPU busy.
        """
        slots = self.slots()
        by_spread = math.ceil(tasks / (4 * slots))
        by_size = max(1, BATCH_TARGET_VARIABLES // max(1, variables))
        size = max(1, min(self.max_batch, by_spread, by_size))
        for smaller in range(size, max(1, size * 2 // 3) - 1, -1):
            if math.ceil(tasks / smaller) % slots == 0:
                return smaller
        return size

    def ready(self) -> tuple[bool, str]:
        with self._lock:
            stopping, connected, cpus, nodes, error = (
                self._stopping,
                self._connected,
                self._cpus,
                self._nodes,
                self._error,
            )
        if stopping:
            return False, "shutting down"
        if self._thread is None or not self._thread.is_alive():
            return False, "dispatcher not running"
        if not connected:
            return False, error
        if cpus < 1:
            return False, f"Ray cluster has no CPU ({nodes} nodes alive)"
        return True, f"Ray cluster: {nodes} nodes, {cpus:g} CPUs"

    # -- internals ---------------------------------------------------------------------

    JOIN_MARGIN_S = 30.0

    job_type = _Job

    def _waiting_locked(self) -> int:
        return sum(1 for j in self._jobs.values() if j.started is None)

    def _idle_locked(self) -> int:
        return max(0, int(self._cpus) - len(self._started_locked()))

    def _started_locked(self) -> list[tuple[float, float]]:
        return [(j.started, j.time_limit_s) for j in self._jobs.values() if j.started is not None]

    def _slots_locked(self) -> int:
        return int(self._cpus)

    def _accept_locked(self, job: _Job) -> bool:
        if not self._connected:
            self._pending.append(job)
            return False
        return True

    def _hand_over(self, job: _Job) -> None:
        self._launch(job)

    def _wake(self) -> None:
        self._woken.set()

    def _connect(self) -> None:
        with _INIT_LOCK:  # several runners of one process share its one Ray connection
            if not ray.is_initialized():
                kwargs: dict[str, Any] = {
                    "namespace": self.namespace,
                    "log_to_driver": False,
                    "configure_logging": False,
                }
                if self.address:
                    kwargs["address"] = self.address
                else:  # a private one-machine Ray
                    kwargs["include_dashboard"] = False
                    if self.local_cpus is not None:
                        kwargs["num_cpus"] = self.local_cpus
                ray.init(**kwargs)
                self._owns_ray = True
        self._remote = ray.remote(run_task)
        self._new_start_log()
        self._refresh_cluster()
        with self._lock:
            self._connected = True
            pending = list(self._pending)
            self._pending.clear()
        for job in pending:
            self._launch(job)
        log.info("connected to Ray", extra={"nodes": self._nodes, "cpus": self._cpus})

    def _new_start_log(self) -> None:
        here = ray.get_runtime_context().get_node_id()
        self._starts = (
            ray.remote(StartLog)
            .options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=True))
            .remote()
        )

    def _refresh_cluster(self) -> None:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        cpus = sum(float(n.get("Resources", {}).get("CPU", 0.0)) for n in nodes)
        with self._lock:
            self._nodes, self._cpus = len(nodes), cpus

    def _launch(self, job: _Job) -> None:
        try:
            ref = self._remote.options(num_cpus=1, max_retries=0, name=f"capplan:{job.job_id}").remote(
                job.job_id, job.attempt, job.fn, job.payload, self._starts
            )
        except Exception as exc:
            self._finish(job, JobResult("error", error=f"job not transferable: {exc}"))
            return
        with self._lock:
            if job.cancelled:
                cancelled = True
            else:
                cancelled = False
                job.ref = ref
                self._by_ref[ref] = job
        if cancelled:
            self._kill(ref)
        self._wake()

    def _kill(self, ref: Any) -> None:
        with contextlib.suppress(Exception):
            ray.cancel(ref, force=True)

    def _fire_start(self, job: _Job) -> None:
        if job.start_fired:
            return
        job.start_fired = True
        if job.on_start is not None:
            try:
                job.on_start()
            except Exception:
                log.exception("on_start hook of job %s failed", job.job_id)

    def _finish(self, job: _Job, result: JobResult) -> None:
        with self._lock:
            if self._jobs.get(job.job_id) is job:
                del self._jobs[job.job_id]
            if job.ref is not None:
                self._by_ref.pop(job.ref, None)
        self._avg_seconds = recent_seconds(self._avg_seconds, result)
        if not job.future.done():
            job.future.set_result(result)

    def _drain_starts(self) -> None:
        try:
            events = ray.get(self._starts.drain.remote(), timeout=10)
        except (RayError, GetTimeoutError) as exc:
            # The start log is gone: make a new one; tasks already sent cannot report to it,
            # so count them as started now (the watchdog then runs from here).
            log.warning("task start log lost (%s): starting a new one", type(exc).__name__)
            self._new_start_log()
            now = time.monotonic()
            with self._lock:
                orphans = [j for j in self._jobs.values() if j.ref is not None and j.started is None]
                for j in orphans:
                    j.started = now
            for j in orphans:
                self._fire_start(j)
            return
        now = time.monotonic()
        for job_id, attempt in events:
            with self._lock:
                job = self._jobs.get(job_id)
                if job is None or job.attempt != attempt or job.started is not None:
                    continue
                job.started = now
            self._fire_start(job)

    def _watchdog(self, now: float) -> None:
        with self._lock:
            late = [
                j
                for j in self._jobs.values()
                if j.started is not None and now >= j.started + j.time_limit_s + self.grace_s
            ]
        for job in late:
            if job.ref is not None:
                self._kill(job.ref)
            seconds = now - (job.started or now)
            self._finish(
                job,
                JobResult(
                    "timeout",
                    error=f"stopped by the watchdog after {seconds:.1f} s: the solve overran its "
                    f"time limit of {job.time_limit_s:g} s by more than the {self.grace_s:g} s grace",
                    seconds=seconds,
                ),
            )

    def _collect(self, ref: Any) -> None:
        with self._lock:
            job = self._by_ref.pop(ref, None)
        if job is None or job.cancelled:
            return
        seconds = time.monotonic() - job.started if job.started is not None else 0.0
        try:
            ok, value, run_s, node = ray.get(ref)
        except TaskCancelledError:  # not by cancel() or the watchdog: they unregister the job first
            self._fire_start(job)
            self._finish(job, JobResult("crashed", error="the Ray task was cancelled outside capplan"))
            return
        except (NodeDiedError, ObjectLostError) as exc:
            self.node_losses += 1
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if job.attempt < self.node_retries and not self._stopping:
                log.warning("job %s lost with its Ray node (%s): submitting it again", job.job_id, first)
                with self._lock:
                    job.attempt += 1
                    job.started = None
                    job.ref = None
                self._launch(job)
                return
            times = "twice" if job.attempt == 1 else f"{job.attempt + 1} times"
            self._fire_start(job)
            self._finish(
                job,
                JobResult(
                    "crashed",
                    error=f"the Ray node running the solve was lost {times}"
                    if job.attempt
                    else f"the Ray node running the solve was lost ({first})",
                    seconds=seconds,
                ),
            )
            return
        except WorkerCrashedError:
            self.crashes += 1
            self._fire_start(job)
            self._finish(
                job,
                JobResult("crashed", error="the solver process died (Ray worker crashed)", seconds=seconds),
            )
            return
        except OutOfMemoryError:
            self.crashes += 1
            self._fire_start(job)
            self._finish(
                job,
                JobResult(
                    "crashed", error="the solver process was killed by Ray: out of memory", seconds=seconds
                ),
            )
            return
        except RayTaskError as exc:  # the task body itself failed (e.g. fn not importable there)
            self._fire_start(job)
            cause = exc.cause if exc.cause is not None else exc
            self._finish(job, JobResult("error", error=f"{type(cause).__name__}: {cause}", seconds=seconds))
            return
        except RayError as exc:
            self.crashes += 1
            self._fire_start(job)
            first = str(exc).splitlines()[0] if str(exc) else ""
            self._finish(
                job, JobResult("crashed", error=f"Ray: {type(exc).__name__}: {first}", seconds=seconds)
            )
            return
        self._fire_start(job)
        where = f"ray:{node}"
        if ok:
            self._finish(job, JobResult("done", value=value, seconds=run_s, worker=where))
        else:
            self._finish(job, JobResult("error", error=str(value), seconds=run_s, worker=where))

    def _step(self, last: dict[str, float]) -> None:
        now = time.monotonic()
        if now - last["starts"] >= _STARTS_EVERY_S:
            last["starts"] = now
            self._drain_starts()
        if now - last["cluster"] >= _CLUSTER_EVERY_S:
            last["cluster"] = now
            self._refresh_cluster()
        self._watchdog(now)
        with self._lock:
            refs = list(self._by_ref)
        if not refs:
            self._woken.wait(_POLL_S)
            self._woken.clear()
            return
        ready, rest = ray.wait(refs, num_returns=1, timeout=_POLL_S, fetch_local=True)
        if ready and rest:
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0, fetch_local=True)
            ready += more
        for ref in ready:
            self._collect(ref)

    def _stop_now(self) -> bool:
        with self._lock:
            if not self._stopping:
                return False
            busy = list(self._jobs.values())
        if not busy:
            return True
        if self._draining_until is not None and time.monotonic() >= self._draining_until:
            for job in busy:
                if job.ref is not None:
                    self._kill(job.ref)
                self._finish(job, JobResult("interrupted", error="the service stopped"))
            return True
        return False

    def _loop(self) -> None:
        delay = 0.5
        last = {"starts": 0.0, "cluster": time.monotonic()}
        try:
            while not self._connected:
                if self._stopping:
                    return
                try:
                    self._connect()
                except Exception as exc:
                    self._error = (
                        f"cannot reach Ray at {self.address or 'a local Ray'}: {type(exc).__name__}: {exc}"
                    )
                    log.error("%s (retrying in %.0f s)", self._error, delay)
                    self._woken.wait(delay)
                    self._woken.clear()
                    delay = min(30.0, delay * 2)
            while not self._stop_now():
                try:
                    self._step(last)
                except Exception:
                    log.exception("Ray dispatcher round failed")
                    time.sleep(0.5)
        finally:
            with self._lock:
                leftover = list(self._jobs.values())
                self._jobs.clear()
                self._pending.clear()
                self._by_ref.clear()
                self._connected = False
            for job in leftover:
                if job.ref is not None:
                    self._kill(job.ref)
                if not job.future.done():
                    job.future.set_result(JobResult("interrupted", error="the service stopped"))
            if self._starts is not None:
                with contextlib.suppress(Exception):
                    ray.kill(self._starts)
            if self._owns_ray:
                with contextlib.suppress(Exception):
                    ray.shutdown()
