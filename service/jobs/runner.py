"""What the service needs from a place that runs solves: :class:`JobRunner`, its results, and
the admission and ``Retry-After`` rules every runner shares.

Routes, the plan service and the scenario jobs see only :class:`JobRunner`: ``submit`` a picklable
top-level function with a JSON payload and a time limit, get a :class:`concurrent.futures.Future`
of a :class:`JobResult`; ``cancel``; ask for queue depth and readiness; ``shutdown``.  The local
process pool (:mod:`service.jobs.local`) and the Ray backend (:mod:`service.jobs.ray_runner`)
implement it; ``CAPPLAN_RUNNER`` picks one (:func:`service.jobs.backends.make_runner`).
"""

from __future__ import annotations

import math
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal

JobStatus = Literal["done", "error", "timeout", "crashed", "cancelled", "interrupted"]
"""done: fn returned; error: fn raised; timeout: killed by the watchdog; crashed: the worker
died; cancelled: cancel() was called; interrupted: the runner shut down first."""


@dataclass
class JobResult:
    status: JobStatus
    value: Any = None
    error: str | None = None
    seconds: float = 0.0
    worker: str = ""
    """Where it ran, when the runner knows (the Ray runner: ``ray:<node id>``)."""


class QueueFullError(Exception):
    """Too many jobs waiting (``waiting``, the most the runner lets wait: ``limit``);
    ``retry_after_s`` estimates when the queue has drained.  The API answers it 429."""

    def __init__(self, retry_after_s: int, waiting: int, limit: int) -> None:
        super().__init__(f"{waiting} jobs are waiting (limit {limit}); retry in about {retry_after_s} s")
        self.retry_after_s = retry_after_s
        self.waiting = waiting
        self.limit = limit


RETRY_AFTER_MAX_S = 3600


def retry_after_estimate(
    now: float,
    running: Iterable[tuple[float, float]],
    avg_s: float,
    grace_s: float,
    *,
    waiting: int,
    workers: int,
) -> int:
    """Seconds until a full queue has likely drained (``Retry-After``), 1 to an hour.

    The work still to do, spread over the ``workers``: each of the ``waiting`` jobs is expected
    to take ``avg_s`` (the recent solve time), and each running job what it has left.
    ``running``: ``(started, time_limit_s)`` of each running job (``time.monotonic()``).  A job
    that has run ``e`` seconds is expected to need ``max(avg_s − e, e)`` more: one already past
    the typical solve is a long one, and with solve times this heavy-tailed "as long again" is
    the better guess than the recent average; never more than the watchdog allows
    (``limit + grace − e``).  Not the first running job's end: every refused client would
    come back then, and all but one be refused again while the queue takes minutes to drain.
    """
    left = sum(
        max(0.0, min(max(avg_s - (now - started), now - started), limit + grace_s - (now - started)))
        for started, limit in running
    )
    seconds = (left + max(0, waiting) * avg_s) / max(1, workers)
    return int(min(RETRY_AFTER_MAX_S, max(1, math.ceil(seconds))))


def recent_seconds(avg_s: float, result: JobResult) -> float:
    """The recent solve time once ``result`` is in (an exponential average): a job that ended
    by itself or by the watchdog counts for as long as it held its worker; a cancelled or
    interrupted one, cut short on purpose, does not count."""
    if result.status in ("cancelled", "interrupted") or result.seconds <= 0:
        return avg_s  # (no time: it never reached a worker)
    return 0.8 * avg_s + 0.2 * result.seconds


@dataclass(eq=False)
class Job:
    """A submitted job as its runner holds it (each runner adds what it tracks)."""

    job_id: str
    fn: Callable[[Any], Any]
    payload: Any
    time_limit_s: float
    on_start: Callable[[], None] | None
    future: Future[JobResult]


class JobRunner(ABC):
    """What the service needs from a place that runs solves, and what every runner does alike:
    admission (the queue limit), the jobs a shutdown interrupts before they start, the queue's
    ``Retry-After``.

    A runner keeps its jobs in ``_jobs`` (by id) and those not yet handed to a worker in
    ``_pending``, both under ``_lock``; its dispatcher thread is ``_thread``.  It says how many
    jobs wait and how many slots are idle, what is running since when, and how a job it
    accepted is handed over (the hooks below).
    """

    def __init__(self, *, queue_limit: int, grace_s: float) -> None:
        self.queue_limit = queue_limit
        self.grace_s = grace_s
        self._lock = threading.Lock()
        self._jobs: dict[str, Any] = {}
        self._pending: deque[Any] = deque()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._draining_until: float | None = None
        self._avg_seconds = 5.0

    @abstractmethod
    def start(self) -> None:
        """Start the workers (returns at once; :meth:`ready` turns true when they are up)."""

    def submit(
        self,
        job_id: str,
        fn: Callable[[Any], Any],
        payload: Any,
        *,
        time_limit_s: float,
        on_start: Callable[[], None] | None = None,
        force: bool = False,
    ) -> Future[JobResult]:
        """Queue ``fn(payload)``; ``force`` ignores the queue limit (start-up recovery).

        ``on_start`` is called (from a runner thread) when a worker picks the job up.  A stopping
        runner answers at once with an ``interrupted`` result; a job id it already holds is a
        ``ValueError``; waiting jobs beyond the queue limit and the idle slots are a
        :class:`QueueFullError`, unless ``force``.
        """
        fut: Future[JobResult] = Future()
        with self._lock:
            if self._stopping:
                fut.set_result(JobResult("interrupted", error="the service is shutting down"))
                return fut
            if job_id in self._jobs:
                raise ValueError(f"job {job_id} is already queued or running")
            waiting = self._waiting_locked()
            if not force and waiting >= self.queue_limit + self._idle_locked():
                raise QueueFullError(self._retry_after_locked(), waiting, self.queue_limit)
            job = self.job_type(job_id, fn, payload, time_limit_s, on_start, fut)
            self._jobs[job_id] = job
            hand_over = self._accept_locked(job)
        if hand_over:
            self._hand_over(job)
        return fut

    @abstractmethod
    def cancel(self, job_id: str) -> bool:
        """Stop a queued or running job (its future resolves ``cancelled``); False if unknown."""

    def queue_depth(self) -> int:
        """Jobs waiting for a worker."""
        with self._lock:
            return self._waiting_locked()

    def running(self) -> int:
        """Jobs being run."""
        with self._lock:
            return len(self._started_locked())

    @abstractmethod
    def ready(self) -> tuple[bool, str]:
        """Whether the runner can take work, and a short explanation."""

    def shutdown(self, grace_s: float) -> None:
        """Stop taking jobs, let running ones finish for ``grace_s``, then stop the rest.

        Every unfinished job's future resolves ``interrupted``.
        """
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            self._draining_until = time.monotonic() + grace_s
            pending = list(self._pending)
            self._pending.clear()
            for job in pending:
                self._jobs.pop(job.job_id, None)
        for job in pending:
            job.future.set_result(JobResult("interrupted", error="the service stopped before it started"))
        self._wake()
        if self._thread is not None:
            self._thread.join(grace_s + self.JOIN_MARGIN_S)

    JOIN_MARGIN_S = 10.0
    """How long beyond the grace a shutdown waits for the dispatcher to end."""
    job_type: type[Job] = Job
    """The runner's record of a job (a subclass adds what the runner tracks)."""

    def _retry_after_locked(self) -> int:
        return retry_after_estimate(
            time.monotonic(),
            self._started_locked(),
            self._avg_seconds,
            self.grace_s,
            waiting=self._waiting_locked(),
            workers=self._slots_locked(),
        )

    # -- what each runner says ---------------------------------------------------------

    @abstractmethod
    def _waiting_locked(self) -> int:
        """Jobs accepted and not started."""

    @abstractmethod
    def _idle_locked(self) -> int:
        """Slots that would take a job at once."""

    @abstractmethod
    def _started_locked(self) -> list[tuple[float, float]]:
        """``(started, time_limit_s)`` of every running job (``time.monotonic()``)."""

    @abstractmethod
    def _slots_locked(self) -> int:
        """Jobs that run at once."""

    @abstractmethod
    def _accept_locked(self, job: Any) -> bool:
        """Keep a job just admitted; whether :meth:`_hand_over` must then run (without the lock)."""

    @abstractmethod
    def _hand_over(self, job: Any) -> None:
        """Pass an accepted job on (wake the dispatcher, launch a task)."""

    @abstractmethod
    def _wake(self) -> None:
        """Wake the dispatcher thread."""
