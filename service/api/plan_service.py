"""The plan service: check, deduplicate, store, queue, record — between the routes and the runner.

Synchronous methods touch the database or do CPU work: routes call them in a worker thread.
The runner's starts and results are written by one recorder thread of this service, in the
order they happen, never by the runner's own thread (a database that stops answering then
stalls the records, not the runner's dispatching and watchdog).  A result is recorded before
anyone waiting on the plan is woken, so that a GET right after a synchronous POST sees the
finished plan.

Several replicas may share one database.  A replica owns the plans it accepted (a lease it
renews); :meth:`PlanService.recover` takes over plans whose owner went silent, and
:meth:`PlanService.fence` stops local solves of plans this replica no longer holds (taken
over after a long stall, or deleted through another replica).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal

from service.api.errors import Conflict
from service.api.observability import Metrics
from service.jobs.runner import JobResult, JobRunner
from service.jobs.store import (
    REUSABLE,
    UNFINISHED,
    DuplicateIdempotencyKey,
    DuplicateRequest,
    PlanRow,
    Store,
    canonical_json,
    utcnow,
)
from service.jobs.tasks import requested_time_limit, solve_plan, stub_plan
from service.settings import Settings
from solver import PlanRequest, parse_request
from solver.planner import effective_time_limit
from solver.size import ModelSize, check_model_size

log = logging.getLogger("capplan.plans")


@dataclass(frozen=True)
class Prepared:
    request: PlanRequest
    request_dict: dict[str, Any]
    canonical: str
    hash: str
    size: ModelSize
    time_limit_s: float


@dataclass(frozen=True)
class Outcome:
    """How a solve ended for those waiting on it."""

    kind: Literal["finished", "interrupted", "cancelled", "moved"]
    """moved: this replica's solve does not count (another replica holds the plan now, or it was
    deleted): those waiting read the stored plan."""
    plan_json: str | None = None


@dataclass(frozen=True)
class Created:
    """What ``create`` did: the stored row, whether it is new, and how to wait for it."""

    row: PlanRow
    created: bool
    waiter: Future[Outcome] | None


class Recorder:
    """One thread that runs the service's database writes for the runner, first come first run.

    ``submit`` never blocks the caller (the runner's dispatcher, whose watchdog must keep
    running when the database does not answer); after :meth:`close` it runs the call inline.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._closed = False
        self._gate = threading.Lock()  # nothing is queued behind the stop mark
        self._thread = threading.Thread(target=self._run, name="capplan-record", daemon=True)
        self._thread.start()

    def submit(self, fn: Any, *args: Any) -> None:
        with self._gate:
            if not self._closed:
                self._queue.put((fn, *args))
                return
        fn(*args)

    def flush(self, timeout_s: float) -> bool:
        """Wait until what was submitted so far has run; False if that took over ``timeout_s``."""
        done = threading.Event()
        self.submit(done.set)
        return done.wait(timeout_s)

    def close(self, timeout_s: float) -> bool:
        """Run what is queued (for at most ``timeout_s``) and stop; False if that timed out."""
        with self._gate:
            self._closed = True
            self._queue.put(None)
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, *args = item
            try:
                fn(*args)
            except Exception:
                log.exception("a record of the runner's work failed")


class PlanService:
    def __init__(self, *, store: Store, runner: JobRunner, settings: Settings, metrics: Metrics) -> None:
        self.store = store
        self.runner = runner
        self.settings = settings
        self.metrics = metrics
        self._lock = threading.Lock()
        self._waiters: dict[str, Future[Outcome]] = {}
        self._since: dict[str, float] = {}  # plan id -> time.monotonic() of its submission
        self._moved: set[str] = set()  # plans cancelled here because another replica holds them
        # submitted plans whose row is still being written (from before the runner sees them),
        # their runner futures (results are recorded once the row exists), and those a worker
        # has already started
        self._row_pending: set[str] = set()
        self._unwritten: dict[str, tuple[Future[JobResult], contextvars.Context]] = {}
        self._started_early: set[str] = set()
        self._abandoned: set[str] = set()  # submitted plans whose row could not be written
        self._recorder = Recorder()

    def flush_records(self, timeout_s: float = 30.0) -> bool:
        """Wait until the starts and results reported so far are written (tests, shutdown)."""
        return self._recorder.flush(timeout_s)

    def close(self, timeout_s: float = 30.0) -> None:
        """Write the starts and results the runner has reported (after the runner stopped)."""
        if not self._recorder.close(timeout_s):
            log.error("the database did not take the last results within %g s", timeout_s)

    # -- checking ------------------------------------------------------------------------

    def prepare(self, body: Any) -> Prepared:
        """Validate (RequestInvalid), size-check (ModelTooLarge) and hash a request body."""
        req = parse_request(body)
        size = check_model_size(req, self.settings.max_variables)  # from the request: nothing derived
        request_dict = req.model_dump(mode="json")
        canonical = canonical_json(request_dict)
        limit = effective_time_limit(req.solver.time_limit_s, self.settings.max_time_limit_s)
        return Prepared(
            req, request_dict, canonical, hashlib.sha256(canonical.encode()).hexdigest(), size, limit
        )

    # -- creating ------------------------------------------------------------------------

    def create(self, tenant: str, prep: Prepared, *, idempotency_key: str | None, use_cache: bool) -> Created:
        """Store and queue a plan, or return the stored one."""
        for _ in range(3):  # an identical request that won the race may have ended meanwhile: again
            made = self._create_once(tenant, prep, idempotency_key=idempotency_key, use_cache=use_cache)
            if made is not None:
                return made
        raise RuntimeError("could not store the plan: identical requests kept winning the race")

    def _create_once(
        self, tenant: str, prep: Prepared, *, idempotency_key: str | None, use_cache: bool
    ) -> Created | None:
        if idempotency_key is not None:
            existing = self.store.find_by_idempotency_key(tenant, idempotency_key)
            if existing is not None:
                return Created(self._same_key(existing, prep), False, self.waiter(existing.id))
        elif use_cache:
            cached = self.store.find_cached(tenant, prep.hash, REUSABLE)
            if cached is not None:
                self.metrics.cache_hits.inc()
                return Created(cached, False, self.waiter(cached.id))
        now = utcnow()
        plan_id = uuid.uuid4().hex
        row = PlanRow(
            id=plan_id,
            tenant=tenant,
            status="queued",
            name=prep.request.name,
            objective_kind=prep.request.objective.kind,
            objective_value=None,
            request=prep.canonical,
            request_hash=prep.hash,
            idempotency_key=idempotency_key,
            plan=stub_plan(plan_id, prep.request_dict, "queued").model_dump_json(),
            error=None,
            attempts=0,
            created_at=now,
            updated_at=now,
            owner=self.store.owner,
            lease_expires_at=self.store.lease_until() if self.store.owner is not None else None,
            # an unfinished plan other identical requests may reuse: one per tenant and hash
            inflight_hash=prep.hash if idempotency_key is None and use_cache else None,
        )
        # The solve starts first and the row is written meanwhile (off the critical path of a
        # short solve).  Nobody has been told of the plan before the row is committed: a
        # synchronous POST answers after the solve, an asynchronous one after this returns.
        # Until then the runner's start is noted, not written, and its result waits (_row_written).
        waiter = self._submit(plan_id, prep.request_dict, prep.time_limit_s, force=False, row_written=False)
        try:
            self.store.insert_plan(row)
        except BaseException as exc:
            self._row_failed(plan_id, prep.request_dict)
            if isinstance(exc, DuplicateIdempotencyKey):  # a concurrent retry won the race
                existing = self.store.find_by_idempotency_key(tenant, idempotency_key or "")
                if existing is None:
                    raise
                return Created(self._same_key(existing, prep), False, self.waiter(existing.id))
            if isinstance(exc, DuplicateRequest):  # an identical request (maybe elsewhere) won
                cached = self.store.find_cached(tenant, prep.hash, REUSABLE)
                if cached is None:
                    return None
                self.metrics.cache_hits.inc()
                return Created(cached, False, self.waiter(cached.id))
            raise
        self._row_written(plan_id, prep.request_dict)
        return Created(row, True, waiter)

    def _row_written(self, plan_id: str, request: dict[str, Any]) -> None:
        """The row of a submitted plan exists: write a start noted meanwhile, then let the
        result be recorded (at once, if the solve has already ended)."""
        with self._lock:
            self._row_pending.discard(plan_id)
            fut, ctx = self._unwritten.pop(plan_id)
            started = plan_id in self._started_early
            self._started_early.discard(plan_id)
            self._since[plan_id] = time.monotonic()  # fence() may judge it from now on
        if started:  # written by the recorder, before the result (first come, first written)
            self._recorder.submit(ctx.copy().run, self._on_start, plan_id, request)
        self._when_done(plan_id, request, fut, ctx)

    def _row_failed(self, plan_id: str, request: dict[str, Any]) -> None:
        """The row of a submitted plan could not be written: stop the solve, record nothing."""
        with self._lock:
            self._row_pending.discard(plan_id)
            fut, ctx = self._unwritten.pop(plan_id)
            self._started_early.discard(plan_id)
            self._abandoned.add(plan_id)
        self.runner.cancel(plan_id)
        self._when_done(plan_id, request, fut, ctx)

    def _same_key(self, existing: PlanRow, prep: Prepared) -> PlanRow:
        if existing.request_hash != prep.hash:
            raise Conflict(
                "this Idempotency-Key was used with a different request body; use a new key",
                plan_id=existing.id,
            )
        return existing

    def _submit(
        self,
        plan_id: str,
        request: dict[str, Any],
        limit: float,
        *,
        force: bool,
        row_written: bool = True,
    ) -> Future[Outcome]:
        """Hand a plan to the runner.  Without its row yet (``row_written=False``), the caller
        must then call :meth:`_row_written` or :meth:`_row_failed`."""
        waiter: Future[Outcome] = Future()
        with self._lock:
            self._waiters[plan_id] = waiter
            if row_written:
                self._since[plan_id] = time.monotonic()
            else:
                self._row_pending.add(plan_id)  # before the runner can start it
        # The runner's hooks run on its own threads: they run in the submitter's context, so
        # that their log lines carry the request id of the POST that queued the plan.
        ctx = contextvars.copy_context()
        payload = {
            "plan_id": plan_id,
            "request": request,
            "max_variables": self.settings.max_variables,
            "max_time_limit_s": self.settings.max_time_limit_s,
        }
        try:
            fut = self.runner.submit(
                plan_id,
                solve_plan,
                payload,
                time_limit_s=limit,
                on_start=lambda: self._recorder.submit(ctx.copy().run, self._on_start, plan_id, request),
                force=force,
            )
        except BaseException:
            with self._lock:
                self._waiters.pop(plan_id, None)
                self._since.pop(plan_id, None)
                self._row_pending.discard(plan_id)
            raise
        if row_written:
            self._when_done(plan_id, request, fut, ctx)
        else:
            with self._lock:
                self._unwritten[plan_id] = (fut, ctx)
        return waiter

    def _when_done(
        self, plan_id: str, request: dict[str, Any], fut: Future[JobResult], ctx: contextvars.Context
    ) -> None:
        fut.add_done_callback(
            lambda f: self._recorder.submit(ctx.copy().run, self._on_done, plan_id, request, f.result())
        )

    def _on_start(self, plan_id: str, request: dict[str, Any]) -> None:
        with self._lock:
            if plan_id in self._row_pending:  # no row yet: _row_written writes the start
                self._started_early.add(plan_id)
                return
            if plan_id in self._abandoned:
                return
        self.store.mark_running(plan_id, stub_plan(plan_id, request, "running").model_dump_json())

    def _on_done(self, plan_id: str, request: dict[str, Any], result: JobResult) -> None:
        outcome = Outcome("finished")
        try:
            with self._lock:
                abandoned = plan_id in self._abandoned
            outcome = Outcome("cancelled") if abandoned else self._record(plan_id, request, result)
        except Exception:
            log.exception("could not record the result of plan %s", plan_id)
            outcome = Outcome("interrupted")
        finally:
            with self._lock:
                waiter = self._waiters.pop(plan_id, None)
                self._since.pop(plan_id, None)
                self._abandoned.discard(plan_id)
            if waiter is not None and not waiter.done():
                waiter.set_result(outcome)

    def _record(self, plan_id: str, request: dict[str, Any], result: JobResult) -> Outcome:
        if result.status == "interrupted":
            self.store.requeue_plan(plan_id, stub_plan(plan_id, request, "queued").model_dump_json())
            return Outcome("interrupted")
        if result.status == "cancelled":
            with self._lock:
                moved = plan_id in self._moved
                self._moved.discard(plan_id)
            return Outcome("moved" if moved else "cancelled")
        if result.status == "done":
            value = result.value
            status, plan_json = value["status"], value["plan_json"]
            error = (value.get("detail") or status) if status in ("failed", "time_limit") else None
            recorded = self.store.finish_plan(
                plan_id, status, plan_json, objective_value=value.get("objective_value"), error=error
            )
        else:
            status = "time_limit" if result.status == "timeout" else "failed"
            reason = result.error or result.status
            if result.status == "error":
                reason = f"the solve failed: {reason}"
            plan_json = stub_plan(plan_id, request, status, reason, [reason]).model_dump_json()
            recorded = self.store.finish_plan(plan_id, status, plan_json, error=reason)
        if not recorded:
            # Deleted, or taken over by another replica while this one stalled past its lease:
            # this copy of the solve does not count; those waiting read the stored plan.
            log.warning("plan %s was not recorded here: it is no longer this replica's", plan_id)
            return Outcome("moved")
        self.metrics.solves.labels(status).inc()
        self.metrics.solve_seconds.observe(result.seconds)
        log.info(
            "plan %s finished: %s", plan_id, status, extra={"plan_id": plan_id, "seconds": result.seconds}
        )
        return Outcome("finished", plan_json)

    def waiter(self, plan_id: str) -> Future[Outcome] | None:
        with self._lock:
            return self._waiters.get(plan_id)

    # -- recovery, deletion --------------------------------------------------------------

    def recover(self, *, startup: bool = True) -> int:
        """Take over and queue the plans no live replica holds; how many were queued.

        Claims unfinished plans whose owner is unset or whose lease expired (at ``startup``
        also those of this replica id: an earlier process of the same id is gone).  A plan
        already started ``max_attempts`` times is marked failed instead.
        """
        n = 0
        while True:  # (own rows stay claimable at start-up: take them all in one go)
            limit = 1_000_000 if startup else 100
            rows = self.store.claim_plans(limit=limit, include_own=startup)
            for row in rows:
                n += self._resume(row)
            if len(rows) < limit:
                break
        if n:
            log.info("re-queued %d unfinished plans", n)
        return n

    def _resume(self, row: PlanRow) -> int:
        with self._lock:
            if row.id in self._waiters:  # already running here
                return 0
        request = json.loads(row.request)
        if row.attempts >= self.settings.max_attempts:
            reason = (
                f"abandoned after {row.attempts} attempts: the service stopped during each one "
                "(a solve that crashes the service, or repeated restarts)"
            )
            plan_json = stub_plan(row.id, request, "failed", reason, [reason]).model_dump_json()
            if self.store.finish_plan(row.id, "failed", plan_json, error=reason):
                self.metrics.solves.labels("failed").inc()
            return 0
        queued = stub_plan(row.id, request, "queued").model_dump_json()
        if not self.store.requeue_plan(row.id, queued, release=False):
            return 0  # deleted meanwhile
        limit = effective_time_limit(requested_time_limit(request), self.settings.max_time_limit_s)
        self._submit(row.id, request, limit, force=True)
        return 1

    def local_ids(self) -> set[str]:
        """Plans this replica is solving (submitted to its runner, result not yet recorded)."""
        with self._lock:
            return set(self._waiters)

    def fence(self, owned: set[str], renewed_at: float) -> int:
        """Stop local solves of plans this replica no longer holds; how many were stopped.

        ``owned``: the unfinished plans the store says this replica holds, as read by a lease
        renewal that began at ``renewed_at`` (``time.monotonic()``); plans submitted after
        that are left alone.
        """
        with self._lock:
            candidates = [p for p, t in self._since.items() if t < renewed_at and p not in owned]
        if not candidates:
            return 0
        held = self.store.plan_holders(candidates)
        n = 0
        for plan_id in candidates:
            status_owner = held.get(plan_id)
            if status_owner is not None and (
                status_owner[0] not in UNFINISHED or status_owner[1] == self.store.owner
            ):
                continue  # finished (its result is being recorded) or still ours
            log.warning("plan %s is no longer held by this replica: stopping its solve here", plan_id)
            with self._lock:
                self._moved.add(plan_id)
            if not self.runner.cancel(plan_id):
                with self._lock:
                    self._moved.discard(plan_id)
            n += 1
        return n

    def delete(self, tenant: str, plan_id: str) -> bool:
        """Cancel a queued or running solve and remove the plan; False if there is none."""
        row = self.store.get_plan(tenant, plan_id)
        if row is None:
            return False
        if row.status in UNFINISHED:
            self.runner.cancel(plan_id)
        return self.store.delete_plan(tenant, plan_id)
