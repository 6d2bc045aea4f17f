"""Sweep and frontier jobs: created, run, resumed and cancelled for one app.

A sweep or frontier is a *job* (the store's generic ``jobs`` table, kind ``sweep`` or
``frontier``).  Once the route has checked its body (every path, value and generated scenario,
the scenario cap, the model size), :class:`ScenarioJobs` stores it and a thread of the API
process runs :func:`solver.scenarios.sweep.run_sweep` / ``run_frontier`` through a
:class:`~service.jobs.mapper.RunnerMapper`, so each scenario is one job on the same worker
processes as plans (at most ``workers`` scenarios of one sweep at a time, so plans keep their
turn).  As each scenario finishes its plan is stored as an ordinary plan and its row appended
to the job.  Deleting the job stops it: its queued scenarios are dropped, running ones are
killed with their worker process, and the job is removed (plans of finished scenarios stay).
Jobs left unfinished by a stopped service resume at the next start (sweeps skip the scenarios
already done; frontiers start over), or on another replica once this one's lease lapses.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from service.jobs.mapper import RunnerMapper
from service.jobs.runner import JobRunner
from service.jobs.store import JobRow, PlanRow, Store, canonical_json, utcnow
from service.jobs.tasks import stub_plan
from service.request_id import request_id_var
from service.settings import Settings
from solver import Plan, parse_request
from solver.errors import CapplanError
from solver.scenarios.frontier import PreparedFrontier, prepare_frontier, run_frontier
from solver.scenarios.results import ScenarioRow
from solver.scenarios.run import RunOptions, Worker, solve_scenario
from solver.scenarios.sweep import PreparedSweep, prepare_sweep, run_sweep
from solver.size import check_model_size

log = logging.getLogger("capplan.scenarios")


@dataclass
class _Active:
    tenant: str
    mapper: RunnerMapper
    thread: threading.Thread | None = None
    deleted: threading.Event = field(default_factory=threading.Event)


class ScenarioJobs:
    """Creates, runs, resumes and cancels the sweep and frontier jobs of one app."""

    def __init__(self, store: Store, runner: JobRunner, settings: Settings) -> None:
        self.store = store
        self.runner = runner
        self.settings = settings
        self.max_scenarios = settings.max_scenarios
        self.window = max(1, settings.workers)
        self.worker: Worker = solve_scenario
        self._lock = threading.Lock()
        self._active: dict[str, _Active] = {}

    # -- creating ------------------------------------------------------------------------

    def _check_size(self, request: dict[str, Any]) -> None:
        check_model_size(parse_request(request), self.settings.max_variables)

    def check_sweep(self, body: Any) -> PreparedSweep:
        """Check a sweep body (RequestInvalid, ModelTooLarge for its base, CheckTooLong)."""
        sweep = prepare_sweep(
            body, max_scenarios=self.max_scenarios, check_budget_s=self.settings.check_budget_s
        )
        self._check_size(sweep.base)
        return sweep

    def check_frontier(self, body: Any) -> PreparedFrontier:
        """Check a frontier body (RequestInvalid, ModelTooLarge for its base)."""
        fr = prepare_frontier(body)
        self._check_size(fr.base)
        return fr

    def create_sweep(self, tenant: str, sweep: PreparedSweep) -> JobRow:
        row = self.store.insert_job(
            job_id=uuid.uuid4().hex,
            tenant=tenant,
            kind="sweep",
            request=sweep.body(),
            total=len(sweep.scenarios),
        )
        self._start(row, lambda active: self._run_sweep(row.id, active, sweep))
        return row

    def create_frontier(self, tenant: str, fr: PreparedFrontier) -> JobRow:
        request = {"base": fr.base, "points": fr.points}
        row = self.store.insert_job(
            job_id=uuid.uuid4().hex, tenant=tenant, kind="frontier", request=request, total=fr.points
        )
        self._start(row, lambda active: self._run_frontier(row.id, active, fr))
        return row

    def _window(self) -> int:
        """Jobs of one sweep in flight at once: the runner's parallel slots (Ray: the cluster's
        CPUs, which may change), else ``workers``."""
        slots = getattr(self.runner, "slots", None)
        return max(1, int(slots()) if callable(slots) else self.window)

    def _start(self, row: JobRow, body: Callable[[_Active], None]) -> None:
        active = _Active(row.tenant, RunnerMapper(self.runner, self._window()))
        with self._lock:
            self._active[row.id] = active

        def run() -> None:
            try:
                body(active)
            except Exception as exc:
                log.exception("scenario job %s failed", row.id, extra={"job_id": row.id})
                if not active.deleted.is_set():
                    self._record_failure(row.id, failure_text(exc, row.id))
            finally:
                with self._lock:
                    self._active.pop(row.id, None)

        # In the submitter's context: the job's log lines carry the request id of its POST.
        ctx = contextvars.copy_context()
        active.thread = threading.Thread(
            target=ctx.run, args=(run,), name=f"capplan-{row.kind}-{row.id[:8]}", daemon=True
        )
        active.thread.start()

    def _record_failure(self, job_id: str, error: str) -> None:
        """Mark the job failed and finished.  When even that fails (the database is down) the
        job stays unfinished under this replica, which runs nothing for it: the lease keeper
        releases it as an orphan and it runs again (see :mod:`service.jobs.leases`)."""
        try:
            self.store.update_job(job_id, status="failed", error=error, finished_at=utcnow())
        except Exception:
            log.exception(
                "could not record the failure of scenario job %s: it will run again",
                job_id,
                extra={"job_id": job_id},
            )

    def _options(self, job_id: str, active: _Active) -> RunOptions:
        def on_result(
            row: ScenarioRow, plan: Plan | None, request: dict[str, Any], _done: int, _total: int
        ) -> None:
            self._record(job_id, active, row, plan, request)

        return RunOptions(
            mapper=active.mapper,
            on_result=on_result,
            cancelled=active.mapper.cancelled.is_set,
            worker=self.worker,
            max_variables=self.settings.max_variables,
            max_time_limit_s=self.settings.max_time_limit_s,
        )

    def _record(
        self, job_id: str, active: _Active, row: ScenarioRow, plan: Plan | None, request: dict[str, Any]
    ) -> None:
        """Store the scenario's plan as an ordinary plan, then its row on the job."""
        if active.deleted.is_set():
            return
        if plan is None:
            reason = row.error or "no plan"
            plan = stub_plan(row.plan_id, request, "failed", reason, [reason])
        self.store.insert_plan(_plan_row(active.tenant, plan, request, row.error))
        if not self.store.append_job_row(job_id, row.model_dump(mode="json")):
            active.mapper.cancel()  # the job is gone

    def _finish(self, job_id: str, active: _Active, interrupted: bool, **values: Any) -> None:
        if active.deleted.is_set():
            return
        if interrupted:  # the service is stopping: left running, resumed at the next start
            return
        self.store.update_job(job_id, finished_at=utcnow(), **values)
        log.info(
            "scenario job %s finished: %s, %d rows",
            job_id,
            values.get("status"),
            values.get("done", 0),
            extra={"job_id": job_id},
        )

    def _run_sweep(self, job_id: str, active: _Active, sweep: PreparedSweep) -> None:
        self.store.update_job(job_id, status="running", started_at=utcnow())
        result = run_sweep(sweep, self._options(job_id, active))
        job = self.store.get_job(active.tenant, job_id)  # its rows were recorded one by one
        interrupted = active.mapper.interrupted or (result.cancelled and not active.deleted.is_set())
        self._finish(job_id, active, interrupted, status="done", done=len(job.rows) if job else 0)

    def _run_frontier(self, job_id: str, active: _Active, fr: PreparedFrontier) -> None:
        self.store.update_job(job_id, status="running", started_at=utcnow(), rows=[], done=0)
        result = run_frontier(fr, self._options(job_id, active))
        interrupted = active.mapper.interrupted or (result.cancelled and not active.deleted.is_set())
        rows = [r.model_dump(mode="json") for r in result.rows]
        self._finish(
            job_id,
            active,
            interrupted,
            status="failed" if result.error else "done",
            error=result.error or result.note,  # a done frontier's note (see _frontier_view)
            rows=rows,
            total=result.total,
            done=len(rows),
        )

    # -- resuming, cancelling ------------------------------------------------------------

    def resume(self, startup: bool = True) -> int:
        """Run again the unfinished jobs no live replica holds (claimed through the store's
        leases: a stopped or dead replica's, and at ``startup`` this replica id's own)."""
        n = 0
        for row in self.store.claim_jobs(include_own=startup):
            with self._lock:
                if row.id in self._active:
                    continue
            if row.kind not in ("sweep", "frontier"):
                continue
            try:
                self._start(row, self._resumer(row))
            except Exception as exc:
                if isinstance(exc, CapplanError):
                    log.warning("scenario job %s could not resume: %s", row.id, exc, extra={"job_id": row.id})
                else:
                    log.exception("scenario job %s could not resume", row.id, extra={"job_id": row.id})
                self._record_failure(row.id, "could not resume: " + failure_text(exc, row.id, prefix=False))
                continue
            n += 1
        if n:
            log.info("resumed %d scenario jobs", n)
        return n

    def _resumer(self, row: JobRow) -> Callable[[_Active], None]:
        job_id = row.id
        if row.kind == "sweep":
            sweep = prepare_sweep(row.request, max_scenarios=max(self.max_scenarios, row.total))
            sweep = sweep.without({int(r["index"]) for r in row.rows or []})
            return lambda active: self._run_sweep(job_id, active, sweep)
        fr = prepare_frontier(row.request)
        return lambda active: self._run_frontier(job_id, active, fr)

    def delete(self, tenant: str, job_id: str, kind: str) -> bool:
        """Stop the job's scenarios (killing running ones) and remove it."""
        row = self.store.get_job(tenant, job_id, kind)
        if row is None:
            return False
        with self._lock:
            active = self._active.get(job_id)
        if active is not None:
            active.deleted.set()
            active.mapper.cancel()
        return self.store.delete_job(tenant, job_id)

    def stop(self) -> None:
        """The service is stopping: submit no more scenarios; those running may finish."""
        with self._lock:
            active = list(self._active.values())
        for a in active:
            a.mapper.stopping.set()

    def active_ids(self) -> set[str]:
        with self._lock:
            return set(self._active)

    def join(self, job_id: str, timeout: float) -> None:
        """Wait for a job's thread (tests)."""
        with self._lock:
            active = self._active.get(job_id)
        if active is not None and active.thread is not None:
            active.thread.join(timeout)


def failure_text(exc: BaseException, job_id: str, *, prefix: bool = True) -> str:
    """What a failed job tells its client about ``exc``.

    A :class:`~solver.errors.CapplanError` is about the request (a model too large, a request
    this version refuses): its message, as it is (after its class name, with ``prefix``).
    Anything else is internal (a database error, a bug): its text may hold SQL, parameters or
    paths, so the client gets a short message pointing to the log line that has it all, by
    the request id of the POST that started the job, or by the job id for a resumed job.
    """
    if isinstance(exc, CapplanError):
        return f"{type(exc).__name__}: {exc}" if prefix else str(exc)
    rid = request_id_var.get()
    return f"internal error (see the service log, {f'request id {rid}' if rid else f'job {job_id}'})"


def _plan_row(tenant: str, plan: Plan, request: dict[str, Any], error: str | None) -> PlanRow:
    request_dict = parse_request(request).model_dump(mode="json")  # as POST /v1/plans stores it
    canonical = canonical_json(request_dict)
    now = utcnow()
    return PlanRow(
        id=plan.id,
        tenant=tenant,
        status=plan.status,
        name=plan.name,
        objective_kind=plan.objective.kind,
        objective_value=plan.objective.value,
        request=canonical,
        request_hash=hashlib.sha256(canonical.encode()).hexdigest(),
        idempotency_key=None,
        plan=plan.model_dump_json(),
        error=error if plan.status not in ("optimal", "feasible", "infeasible", "unbounded") else None,
        attempts=1,
        created_at=now,
        updated_at=now,
        started_at=now,
        finished_at=now,
    )
