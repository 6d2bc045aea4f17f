"""The plan service: check, deduplicate, store, queue, record — between the routes and the runner.

Synchronous methods touch the database or do CPU work: routes call them in a worker thread.
Results of the runner are recorded from the runner's thread, before anyone waiting on the
plan is woken, so that a GET right after a synchronous POST sees the finished plan.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import logging
import threading
import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal

from service.errors import Conflict, InvalidRequest, QueueFull
from service.jobs import JobResult, JobRunner, QueueFullError
from service.observability import Metrics
from service.settings import Settings
from service.store import UNFINISHED, Cursor, DuplicateIdempotencyKey, PlanRow, Store, canonical_json, utcnow
from service.tasks import solve_plan, stub_plan
from solver import FieldError, ModelTooLarge, PlanRequest, parse_request
from solver.model import count_variables, prepare
from solver.solve import LIBRARY_MAX_TIME_LIMIT_S

log = logging.getLogger("capplan.plans")

CACHEABLE = ("queued", "running", "optimal", "feasible", "infeasible", "unbounded")
"""Statuses of a stored plan that an identical request may reuse (not failed/time_limit)."""


@dataclass(frozen=True)
class Prepared:
    request: PlanRequest
    request_dict: dict[str, Any]
    canonical: str
    hash: str
    variables: int
    time_limit_s: float


@dataclass(frozen=True)
class Outcome:
    """How a solve ended for those waiting on it."""

    kind: Literal["finished", "interrupted", "cancelled"]
    plan_json: str | None = None


@dataclass(frozen=True)
class Created:
    """What ``create`` did: the stored row, whether it is new, and how to wait for it."""

    row: PlanRow
    created: bool
    waiter: Future[Outcome] | None


def encode_cursor(row: PlanRow) -> str:
    raw = f"{row.created_at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        stamp, _, plan_id = raw.partition("|")
        created = dt.datetime.fromisoformat(stamp)
        if created.tzinfo is None or not plan_id:
            raise ValueError(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest(
            [FieldError("query:cursor", "not a cursor given by this service (use the 'next' link)")]
        ) from None
    return Cursor(created, plan_id)


class PlanService:
    def __init__(self, *, store: Store, runner: JobRunner, settings: Settings, metrics: Metrics) -> None:
        self.store = store
        self.runner = runner
        self.settings = settings
        self.metrics = metrics
        self._lock = threading.Lock()
        self._waiters: dict[str, Future[Outcome]] = {}

    # -- checking ------------------------------------------------------------------------

    def prepare(self, body: Any) -> Prepared:
        """Validate (RequestInvalid), size-check (ModelTooLarge) and hash a request body."""
        req = parse_request(body)
        nvar = count_variables(prepare(req))
        if nvar > self.settings.max_variables:
            raise ModelTooLarge(nvar, self.settings.max_variables)
        request_dict = req.model_dump(mode="json")
        canonical = canonical_json(request_dict)
        limit = min(req.solver.time_limit_s, self.settings.max_time_limit_s, LIBRARY_MAX_TIME_LIMIT_S)
        return Prepared(
            req, request_dict, canonical, hashlib.sha256(canonical.encode()).hexdigest(), nvar, limit
        )

    # -- creating ------------------------------------------------------------------------

    def create(self, tenant: str, prep: Prepared, *, idempotency_key: str | None, use_cache: bool) -> Created:
        """Store and queue a plan, or return the stored one."""
        if idempotency_key is not None:
            existing = self.store.find_by_idempotency_key(tenant, idempotency_key)
            if existing is not None:
                return Created(self._same_key(existing, prep), False, self.waiter(existing.id))
        elif use_cache:
            cached = self.store.find_cached(tenant, prep.hash, CACHEABLE)
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
        )
        try:
            self.store.insert_plan(row)
        except DuplicateIdempotencyKey:  # a concurrent retry won the race
            existing = self.store.find_by_idempotency_key(tenant, idempotency_key or "")
            if existing is None:
                raise
            return Created(self._same_key(existing, prep), False, self.waiter(existing.id))
        try:
            waiter = self._submit(plan_id, prep.request_dict, prep.time_limit_s, force=False)
        except QueueFullError as exc:
            self.store.delete_plan(tenant, plan_id)
            raise self._queue_full(exc.retry_after_s) from None
        return Created(row, True, waiter)

    def _same_key(self, existing: PlanRow, prep: Prepared) -> PlanRow:
        if existing.request_hash != prep.hash:
            raise Conflict(
                "this Idempotency-Key was used with a different request body; use a new key",
                plan_id=existing.id,
            )
        return existing

    def _queue_full(self, retry_after: int) -> QueueFull:
        return QueueFull(
            f"{self.runner.queue_depth()} solves are waiting (limit {self.settings.queue_limit}); "
            f"retry in about {retry_after} s",
            headers={"Retry-After": str(retry_after)},
            retry_after_s=retry_after,
        )

    def _submit(self, plan_id: str, request: dict[str, Any], limit: float, *, force: bool) -> Future[Outcome]:
        waiter: Future[Outcome] = Future()
        with self._lock:
            self._waiters[plan_id] = waiter
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
                on_start=lambda: self._on_start(plan_id, request),
                force=force,
            )
        except BaseException:
            with self._lock:
                self._waiters.pop(plan_id, None)
            raise
        fut.add_done_callback(lambda f: self._on_done(plan_id, request, f.result()))
        return waiter

    def _on_start(self, plan_id: str, request: dict[str, Any]) -> None:
        self.store.mark_running(plan_id, stub_plan(plan_id, request, "running").model_dump_json())

    def _on_done(self, plan_id: str, request: dict[str, Any], result: JobResult) -> None:
        outcome = Outcome("finished")
        try:
            outcome = self._record(plan_id, request, result)
        except Exception:  # noqa: BLE001 - keep the runner alive; the plan stays unfinished
            log.exception("could not record the result of plan %s", plan_id)
            outcome = Outcome("interrupted")
        finally:
            with self._lock:
                waiter = self._waiters.pop(plan_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(outcome)

    def _record(self, plan_id: str, request: dict[str, Any], result: JobResult) -> Outcome:
        if result.status == "interrupted":
            self.store.requeue_plan(plan_id, stub_plan(plan_id, request, "queued").model_dump_json())
            return Outcome("interrupted")
        if result.status == "cancelled":
            return Outcome("cancelled")
        if result.status == "done":
            value = result.value
            status, plan_json = value["status"], value["plan_json"]
            self.store.finish_plan(plan_id, status, plan_json, objective_value=value.get("objective_value"))
        else:
            status = "time_limit" if result.status == "timeout" else "failed"
            reason = result.error or result.status
            if result.status == "error":
                reason = f"the solve failed: {reason}"
            plan_json = stub_plan(plan_id, request, status, reason, [reason]).model_dump_json()
            self.store.finish_plan(plan_id, status, plan_json, error=reason)
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

    def recover(self) -> int:
        """Queue again every plan left queued or running by an earlier process."""
        n = 0
        for row in self.store.unfinished_plans():
            request = json.loads(row.request)
            if row.attempts >= self.settings.max_attempts:
                reason = (
                    f"abandoned after {row.attempts} attempts: the service stopped during each one "
                    "(a solve that crashes the service, or repeated restarts)"
                )
                plan_json = stub_plan(row.id, request, "failed", reason, [reason]).model_dump_json()
                self.store.finish_plan(row.id, "failed", plan_json, error=reason)
                continue
            self.store.requeue_plan(row.id, stub_plan(row.id, request, "queued").model_dump_json())
            limit = min(
                float(request.get("solver", {}).get("time_limit_s", 60.0)),
                self.settings.max_time_limit_s,
                LIBRARY_MAX_TIME_LIMIT_S,
            )
            self._submit(row.id, request, limit, force=True)
            n += 1
        if n:
            log.info("re-queued %d unfinished plans", n)
        return n

    def delete(self, tenant: str, plan_id: str) -> bool:
        """Cancel a queued or running solve and remove the plan; False if there is none."""
        row = self.store.get_plan(tenant, plan_id)
        if row is None:
            return False
        if row.status in UNFINISHED:
            self.runner.cancel(plan_id)
        return self.store.delete_plan(tenant, plan_id)
