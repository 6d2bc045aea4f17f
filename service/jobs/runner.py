"""What the service needs from a place that runs solves: the :class:`JobRunner` protocol, its
results, and the admission and ``Retry-After`` rules every runner shares.

Routes, the plan service and the scenario jobs see only :class:`JobRunner`: ``submit`` a picklable
top-level function with a JSON payload and a time limit, get a :class:`concurrent.futures.Future`
of a :class:`JobResult`; ``cancel``; ask for queue depth and readiness; ``shutdown``.  The local
process pool (:mod:`service.jobs.local`) and the Ray backend (:mod:`service.jobs.ray_runner`)
implement it; ``CAPPLAN_RUNNER`` picks one (:func:`service.jobs.backends.make_runner`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal, Protocol

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


def refuse(
    *,
    stopping: bool,
    known: bool,
    job_id: str,
    force: bool,
    waiting: int,
    queue_limit: int,
    idle: int,
    retry_after: Callable[[], int],
) -> JobResult | None:
    """The admission rule every runner applies to ``submit``, under its own lock.

    A stopping runner answers at once with an ``interrupted`` result (returned); a job id it
    already holds is a ``ValueError``; ``waiting`` jobs beyond the ``queue_limit`` and the
    ``idle`` slots are a :class:`QueueFullError`, unless ``force``.  None: admitted.
    """
    if stopping:
        return JobResult("interrupted", error="the service is shutting down")
    if known:
        raise ValueError(f"job {job_id} is already queued or running")
    if not force and waiting >= queue_limit + idle:
        raise QueueFullError(retry_after(), waiting, queue_limit)
    return None


class JobRunner(Protocol):
    """What the service needs from a place that runs solves."""

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

        ``on_start`` is called (from a runner thread) when a worker picks the job up.
        Raises :class:`QueueFullError` when the queue is full.
        """
        ...

    def cancel(self, job_id: str) -> bool:
        """Stop a queued or running job (its future resolves ``cancelled``); False if unknown."""
        ...

    def queue_depth(self) -> int:
        """Jobs waiting for a worker."""
        ...

    def running(self) -> int:
        """Jobs being run."""
        ...

    def ready(self) -> tuple[bool, str]:
        """Whether the runner can take work, and a short explanation."""
        ...

    def shutdown(self, grace_s: float) -> None:
        """Stop taking jobs, let running ones finish for ``grace_s``, then stop the rest.

        Every unfinished job's future resolves ``interrupted``.
        """
        ...
