"""A ``map`` over a spawn process pool (:class:`ProcessMapper`): how the CLI runs the scenarios of a
sweep or frontier on every core, stopping its workers on Ctrl-C."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from multiprocessing import resource_tracker
from typing import Any

from solver.scenarios.run import ScenarioOutcome, ScenarioTask, Worker


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent, which stops them (no traceback per worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


_HAVE_SIGMASK = hasattr(signal, "pthread_sigmask")  # not on Windows


@contextmanager
def _sigint_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) off this thread while worker processes start or stop.

    Processes started inside begin with SIGINT blocked: the signal mask is inherited through
    fork and exec, so a spawn worker never sees the Ctrl-C sent to the whole foreground group,
    not even while it is still importing (before :func:`_ignore_sigint` runs, each one printed
    a KeyboardInterrupt traceback); the parent stops them.  In the main thread the
    KeyboardInterrupt meant for this process is raised when the block ends, never halfway
    through starting or stopping a worker, which could leave one running untracked.
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


class ProcessMapper:
    """A ``map`` over a spawn process pool, yielding results as they complete.

    Use it as a context manager: the pool starts at the first call, is reused by later
    calls (a frontier maps twice) and is shut down on exit.  ``cancel()`` (from any thread)
    stops everything: pending tasks are dropped and the worker processes are killed, even in
    the middle of a solve, with the solver processes they started (CBC).  A task whose worker dies comes back as a failed outcome.
    Ctrl-C reaches the caller only (a KeyboardInterrupt), which stops the workers; they never
    see it themselves (see :func:`_sigint_held`).
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> ProcessMapper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def pids(self) -> list[int]:
        """Process ids of the current workers (for monitoring and tests)."""
        with self._lock:
            ex = self._executor
        procs = getattr(ex, "_processes", None) or {}
        return [p.pid for p in list(procs.values()) if p.pid is not None]

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_ignore_sigint,
                )
            return self._executor

    def __call__(self, fn: Worker, tasks: Sequence[ScenarioTask]) -> Iterator[ScenarioOutcome]:
        tasks = list(tasks)
        if not tasks or self.cancelled:
            return
        futures: dict[Future[ScenarioOutcome], ScenarioTask] = {}
        finished = False
        try:
            # multiprocessing's resource tracker unblocks SIGINT after starting itself: start it
            # (if need be) before SIGINT is blocked for the workers
            if _HAVE_SIGMASK:
                resource_tracker.ensure_running()
            with _sigint_held():  # the workers start in the first submits
                ex = self._pool()
                for t in tasks:
                    futures[ex.submit(fn, t)] = t
            for f in as_completed(futures):
                if self.cancelled:
                    return
                try:
                    out = f.result()
                except Exception as exc:
                    out = ScenarioOutcome(
                        futures[f].index, None, f"worker failed: {type(exc).__name__}: {exc}"
                    )
                yield out
            finished = True
        finally:
            if not finished:  # cancelled, interrupted, or the consumer stopped early: stop the workers
                self._kill()

    def cancel(self) -> None:
        """Stop the current and every later call; terminate the workers."""
        self._cancelled.set()
        self._kill()

    def close(self) -> None:
        """Shut the pool down (waits for idle workers to exit)."""
        with self._lock:
            ex, self._executor = self._executor, None
        if ex is not None:
            ex.shutdown(wait=True, cancel_futures=True)

    def _kill(self) -> None:
        with _sigint_held():  # a second Ctrl-C does not cut the clean-up short
            with self._lock:
                ex, self._executor = self._executor, None
            if ex is not None:
                _terminate(ex)


def _terminate(ex: ProcessPoolExecutor) -> None:
    """Stop the pool ``ex`` now: drop its pending tasks, kill its workers (mid-solve too) and
    their solver processes, and make sure its manager thread ends.

    A worker terminated while it was sending a result leaves part of the result in the result
    pipe; the pool's manager thread, reading it, would wait for the rest forever, and the
    interpreter joins that thread at exit (concurrent.futures): the process hung after Ctrl-C,
    and a second one printed a traceback from that join.  Once every worker is dead, this
    process holds the pipe's last write end: closing it ends the read (the pool is broken),
    and the thread exits.
    """
    # shutdown(wait=False) forgets the executor's internals: take them first
    procs = list((getattr(ex, "_processes", None) or {}).values())
    results = getattr(ex, "_result_queue", None)
    manager = getattr(ex, "_executor_manager_thread", None)
    ex.shutdown(wait=False, cancel_futures=True)
    running = [p for p in procs if p.is_alive()]
    pids = {p.pid for p in running if p.pid is not None}
    for pid in pids:  # stopped, a worker starts no new solver process (CBC)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGSTOP)
    # A worker's CBC outlived it (it solved on to its time limit): kill those first.  Their pids
    # stay theirs meanwhile: one that ends is a zombie its stopped worker cannot reap.
    for pid in _descendants(pids):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    for p in running:
        p.kill()  # SIGKILL ends a stopped process too
    for p in procs:
        p.join(timeout=5)
    writer = getattr(results, "_writer", None)
    if writer is not None and not any(p.is_alive() for p in procs):
        with contextlib.suppress(OSError):
            writer.close()
    if manager is not None:
        manager.join(timeout=5)


def _descendants(roots: set[int]) -> list[int]:
    """The processes descended from ``roots`` (from /proc on Linux; none where there is none)."""
    parents: dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for name in entries:
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()  # after "pid (command)"
                parents[int(name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    found: list[int] = []
    level = set(roots)
    while level:
        level = {pid for pid, parent in parents.items() if parent in level}
        found.extend(level)
    return found
