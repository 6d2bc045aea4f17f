"""The local backend of :class:`~service.jobs.runner.JobRunner`: a pool of solver processes on
this machine, with a watchdog.

:class:`LocalProcessRunner` keeps ``workers`` long-lived processes (forkserver on Linux,
spawn elsewhere; each is its own process group so that a kill also takes a CBC child), one
job at a time each.  A dispatcher thread hands queued jobs to idle workers, collects results,
kills a job that overruns ``time_limit_s + grace_s`` (HiGHS time limits are not hard) or is
cancelled, and replaces any worker that died or was killed.  At most ``queue_limit`` jobs
wait beyond the idle workers; past that ``submit`` raises
:class:`~service.jobs.runner.QueueFullError`.  A worker whose parent vanished (``kill -9`` of
the service) kills itself at once: it waits on a pipe whose only write end the service holds.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from service.jobs.runner import Job, JobResult, JobRunner, JobStatus, recent_seconds

log = logging.getLogger("capplan.jobs")


# ----------------------------------------------------------------------------- worker side


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, exited but not reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(") ", 1)[-1][:1] != "Z"
    except OSError:
        return True  # no /proc: it answered the signal


def _watch_service(lifeline: Connection) -> None:
    """Wait for the end of the lifeline (the service holds its only write end): when the service
    is gone (e.g. ``kill -9``), take the whole group (CBC children too).  Only the service's end
    counts: a dead fork server, or any other process, leaves a running solve alone."""
    with contextlib.suppress(EOFError, OSError):
        while True:
            lifeline.recv_bytes()
    with contextlib.suppress(OSError):
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os._exit(1)


def _worker_main(conn: Connection, lifeline: Connection, preload: tuple[str, ...]) -> None:
    """Body of a worker process: import, say ready, then run jobs one at a time."""
    with contextlib.suppress(OSError):
        os.setpgrp()  # its own group, so a kill reaches solver children
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the service decides when workers stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threading.Thread(target=_watch_service, args=(lifeline,), daemon=True).start()
    for name in preload:
        importlib.import_module(name)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        job_id, fn, payload = msg
        t0 = time.perf_counter()
        try:
            value = fn(payload)
            out: tuple[Any, ...] = ("result", job_id, True, value, time.perf_counter() - t0)
        except BaseException as exc:
            log.error("job %s raised\n%s", job_id, traceback.format_exc())
            text = f"{type(exc).__name__}: {exc}"
            out = ("result", job_id, False, text, time.perf_counter() - t0)
        try:
            conn.send(out)
        except (BrokenPipeError, OSError):
            return
        except Exception as exc:
            conn.send(("result", job_id, False, f"result not transferable: {exc}", out[4]))


# ----------------------------------------------------------------------------- parent side


@dataclass(eq=False)
class _Job(Job):
    started: float = 0.0
    cancel_requested: bool = False


@dataclass
class _Worker:
    process: Any  # multiprocessing.Process of the chosen context
    conn: Connection
    lifeline: Connection
    """The write end of the worker's lifeline: closed (here, or by the service's death) it stops the worker."""
    ready: bool = False
    job: _Job | None = None
    jobs_run: int = 0
    killed_for: JobStatus | None = None
    started_at: float = field(default_factory=time.monotonic)
    orphaned: bool = False
    """Its fork server died: the process sentinel no longer tells when it exits (it reads the
    server's report, and says exit code 255 at once); the end of its pipe does."""


def _context(preload: tuple[str, ...]) -> Any:
    if sys.platform.startswith("linux"):
        ctx = multiprocessing.get_context("forkserver")
        # Imported once in the fork server, so a replacement worker starts in milliseconds.
        ctx.set_forkserver_preload(["service.jobs.local", *preload])
        return ctx
    return multiprocessing.get_context("spawn")


class LocalProcessRunner(JobRunner):
    """A bounded pool of solver processes with a watchdog (see the module docstring)."""

    def __init__(
        self,
        workers: int,
        *,
        queue_limit: int,
        grace_s: float = 15.0,
        max_jobs_per_worker: int = 200,
        preload: Iterable[str] = ("solver",),
    ) -> None:
        super().__init__(queue_limit=queue_limit, grace_s=grace_s)
        self.size = workers
        self.max_jobs_per_worker = max_jobs_per_worker
        self.preload = tuple(preload)
        self._ctx = _context(self.preload)
        self._workers: list[_Worker] = []
        self._wake_r, self._wake_w = self._ctx.Pipe(duplex=False)
        self.crashes = 0

    # -- public API --------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        # One thread per worker for numeric libraries (HiGHS itself is set to threads=1).
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")
        for _ in range(self.size):
            self._workers.append(self._spawn())
        self._thread = threading.Thread(target=self._loop, name="capplan-jobs", daemon=True)
        self._thread.start()

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return False
            if job in self._pending:
                self._pending.remove(job)
                del self._jobs[job_id]
                queued = True
            else:
                job.cancel_requested = True
                queued = False
        if queued:
            job.future.set_result(JobResult("cancelled", error="cancelled before it started"))
        else:
            self._wake()
        return True

    def ready(self) -> tuple[bool, str]:
        with self._lock:
            alive = sum(1 for w in self._workers if w.ready and (w.orphaned or w.process.is_alive()))
            stopping = self._stopping
        if stopping:
            return False, "shutting down"
        if self._thread is None or not self._thread.is_alive():
            return False, "dispatcher not running"
        if alive == 0:
            return False, f"0 of {self.size} workers ready"
        return True, f"{alive} of {self.size} workers ready"

    def worker_pids(self) -> list[int | None]:
        """Process ids of the current workers."""
        with self._lock:
            return [w.process.pid for w in list(self._workers)]

    # -- internals ---------------------------------------------------------------------

    job_type = _Job

    def _waiting_locked(self) -> int:
        return len(self._pending)

    def _idle_locked(self) -> int:
        return sum(1 for w in self._workers if w.job is None)

    def _started_locked(self) -> list[tuple[float, float]]:
        return [(w.job.started, w.job.time_limit_s) for w in self._workers if w.job is not None]

    def _slots_locked(self) -> int:
        return self.size

    def _accept_locked(self, job: _Job) -> bool:
        self._pending.append(job)
        return True

    def _hand_over(self, job: _Job) -> None:
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send_bytes(b"x")

    def _spawn(self) -> _Worker:
        parent_conn, child_conn = self._ctx.Pipe()
        life_r, life_w = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(
            target=_worker_main,
            args=(child_conn, life_r, self.preload),
            name="capplan-worker",
            daemon=True,
        )
        proc.start()
        child_conn.close()
        life_r.close()
        return _Worker(proc, parent_conn, life_w)

    def _kill(self, w: _Worker) -> None:
        pid = w.process.pid
        if pid is not None and (w.process.exitcode is None or w.orphaned):  # never a reaped (reusable) pid
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        w.process.join(5)
        w.conn.close()
        w.lifeline.close()

    def _finish(self, w: _Worker, result: JobResult) -> None:
        job = w.job
        w.job = None
        if job is None:
            return
        with self._lock:
            self._jobs.pop(job.job_id, None)
        self._avg_seconds = recent_seconds(self._avg_seconds, result)
        if not job.future.done():
            job.future.set_result(result)

    def _replace(self, w: _Worker) -> None:
        idx = self._workers.index(w)
        if self._stopping:
            self._workers.pop(idx)
            return
        self._workers[idx] = self._spawn()

    def _handle_message(self, w: _Worker) -> bool:
        """Read one message of ``w``; False at end of stream (the sentinel tells the rest)."""
        try:
            msg = w.conn.recv()
        except (EOFError, OSError):
            return False
        if msg[0] == "ready":
            w.ready = True
            return True
        _, job_id, ok, value, seconds = msg
        if w.job is None or w.job.job_id != job_id:
            return True
        if ok:
            self._finish(w, JobResult("done", value=value, seconds=seconds))
        else:
            self._finish(w, JobResult("error", error=str(value), seconds=seconds))
        w.jobs_run += 1
        if w.jobs_run >= self.max_jobs_per_worker and not self._stopping:
            with contextlib.suppress(OSError):
                w.conn.send(None)
            w.process.join(5)
            self._kill(w)
            self._replace(w)
        return True

    def _lost_fork_server(self, w: _Worker) -> bool:
        """Whether ``w``'s sentinel fired because its fork server died, not the worker."""
        return (
            self._ctx.get_start_method() == "forkserver"
            and w.process.exitcode == 255
            and w.process.pid is not None
            and _running(w.process.pid)
        )

    def _handle_death(self, w: _Worker) -> None:
        code = w.process.exitcode
        if w.job is not None:
            reason = w.killed_for
            seconds = time.monotonic() - w.job.started
            if reason == "timeout":
                limit = w.job.time_limit_s
                self._finish(
                    w,
                    JobResult(
                        "timeout",
                        error=f"stopped by the watchdog after {seconds:.1f} s: the solve overran its "
                        f"time limit of {limit:g} s by more than the {self.grace_s:g} s grace",
                        seconds=seconds,
                    ),
                )
            elif reason == "cancelled":
                self._finish(w, JobResult("cancelled", error="cancelled while running", seconds=seconds))
            elif reason == "interrupted":
                self._finish(w, JobResult("interrupted", error="the service stopped", seconds=seconds))
            else:
                self.crashes += 1
                sig = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                if w.orphaned:
                    sig = "exit status unknown: the fork server that started it had died"
                log.error("worker %s died (%s) while running job %s", w.process.pid, sig, w.job.job_id)
                self._finish(
                    w, JobResult("crashed", error=f"the solver process died ({sig})", seconds=seconds)
                )
        with contextlib.suppress(OSError):
            w.conn.close()
        with contextlib.suppress(OSError):
            w.lifeline.close()
        if not w.ready and time.monotonic() - w.started_at < 5:
            log.error("worker %s died while starting (exit code %s)", w.process.pid, code)
            time.sleep(1.0)  # do not spin if workers cannot start at all
        self._replace(w)

    def _dispatch(self) -> None:
        now = time.monotonic()
        for w in self._workers:
            if w.job is not None or not w.ready:
                continue
            with self._lock:
                if self._stopping or not self._pending:
                    return
                job = self._pending.popleft()
            job.started = now
            w.job = job
            try:
                w.conn.send((job.job_id, job.fn, job.payload))
            except Exception as exc:
                if isinstance(exc, (BrokenPipeError, OSError)):
                    w.killed_for = None  # the worker died: its sentinel reports the crash
                    continue
                self._finish(w, JobResult("error", error=f"job not transferable: {exc}"))
                continue
            if job.on_start is not None:
                try:
                    job.on_start()
                except Exception:
                    log.exception("on_start hook of job %s failed", job.job_id)

    def _loop(self) -> None:
        try:
            while True:
                now = time.monotonic()
                if self._stopping:
                    busy = [w for w in self._workers if w.job is not None]
                    if not busy:
                        break
                    if self._draining_until is not None and now >= self._draining_until:
                        for w in busy:
                            w.killed_for = "interrupted"
                            self._kill(w)
                            self._handle_death(w)
                        break
                timeout = 0.5
                for w in self._workers:
                    job = w.job
                    if job is None:
                        continue
                    if job.cancel_requested:
                        w.killed_for = "cancelled"
                        self._kill(w)
                        self._handle_death(w)
                        continue
                    deadline = job.started + job.time_limit_s + self.grace_s
                    if now >= deadline:
                        w.killed_for = "timeout"
                        self._kill(w)
                        self._handle_death(w)
                        continue
                    timeout = min(timeout, deadline - now)
                self._dispatch()
                waitables: list[Any] = [self._wake_r]
                by_obj: dict[Any, tuple[_Worker, str]] = {}
                for w in self._workers:
                    waitables.append(w.conn)
                    by_obj[w.conn] = (w, "conn")
                    if not w.orphaned:
                        waitables.append(w.process.sentinel)
                        by_obj[w.process.sentinel] = (w, "dead")
                ready = wait(waitables, timeout=max(0.0, timeout))
                if self._wake_r in ready:
                    while self._wake_r.poll():
                        self._wake_r.recv_bytes()
                dead: list[_Worker] = []
                for obj in ready:
                    if obj is self._wake_r:
                        continue
                    w, what = by_obj[obj]
                    if w not in self._workers:
                        continue
                    if what == "conn":
                        while w in self._workers and not w.conn.closed and w.conn.poll():
                            if not self._handle_message(w):
                                if w.orphaned and w not in dead:  # its pipe's end is its exit
                                    dead.append(w)
                                break
                    elif w not in dead:
                        dead.append(w)
                for w in dead:
                    if w in self._workers:
                        # A result may have arrived just before the exit.
                        while w in self._workers and not w.conn.closed and w.conn.poll():
                            if not self._handle_message(w):
                                break
                        if w in self._workers and not w.orphaned and self._lost_fork_server(w):
                            w.orphaned = True
                            log.warning(
                                "the fork server died; worker %s runs on, watched through its pipe",
                                w.process.pid,
                            )
                        elif w in self._workers:
                            self._handle_death(w)
        except Exception:
            log.exception("job dispatcher failed")
            raise
        finally:
            for w in list(self._workers):
                with contextlib.suppress(OSError):
                    w.conn.send(None)
            for w in list(self._workers):
                w.process.join(2)
                if w.process.is_alive():
                    self._kill(w)
                with contextlib.suppress(OSError):
                    w.lifeline.close()
            self._workers.clear()
            with self._lock:
                leftover = list(self._jobs.values())
                self._jobs.clear()
                self._pending.clear()
            for job in leftover:
                if not job.future.done():
                    job.future.set_result(JobResult("interrupted", error="the service stopped"))
