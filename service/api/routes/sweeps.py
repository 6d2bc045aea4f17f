"""``/v1/sweeps``, ``/v1/frontiers`` and ``/v1/plans/{a}/diff/{b}``: scenario analysis.

A sweep or frontier is a *job* (the store's generic ``jobs`` table, kind ``sweep`` or
``frontier``): ``POST`` checks everything (every path, value and generated scenario, the
scenario cap, the model size) and answers ``202`` with ``Location``; a thread of the API
process then runs :func:`solver.scenarios.sweep.run_sweep` / ``run_frontier`` with a mapper over
the service's :class:`~service.jobs.runner.JobRunner`, so each scenario is one job on the same
worker processes as plans (at most ``workers`` scenarios of one sweep at a time, so plans
keep their turn).  As each scenario finishes its plan is stored as an ordinary plan
(``GET /v1/plans/{plan_id}``, reports, CSV tables) and its row appended to the job:
``GET`` shows ``total``, ``done`` and the rows so far.  ``DELETE`` stops the job: its
queued scenarios are dropped, running ones are killed with their worker process, and the job
is removed (plans of finished scenarios stay).  Jobs left unfinished by a stopped service
resume at the next start (sweeps skip the scenarios already done; frontiers start over).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import logging
import queue
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from service.api.bodies import json_body, read_checked_body
from service.api.deps import AppState, StateDep, TenantDep, run_sync
from service.api.errors import Conflict, NotFound, problems
from service.api.observability import request_id_var
from service.api.schemas import EXAMPLE_FRONTIER, EXAMPLE_SWEEP
from service.jobs.runner import JobResult, QueueFullError
from service.jobs.store import UNFINISHED, JobRow, PlanRow, canonical_json, utcnow
from service.jobs.tasks import run_batch, stub_plan
from solver import Plan, parse_request
from solver.diff import PlanDiff, diff_plans
from solver.errors import CapplanError, quoted
from solver.scenarios.frontier import PreparedFrontier, prepare_frontier, run_frontier
from solver.scenarios.results import FrontierRow, ScenarioRow, TornadoBar, tornado
from solver.scenarios.run import RunOptions, ScenarioOutcome, ScenarioTask, Worker, solve_scenario
from solver.scenarios.specs import FrontierSpec, Mode, SweepSpec
from solver.scenarios.sweep import PreparedSweep, prepare_sweep, run_sweep
from solver.size import check_model_size, model_size
from solver.solve import LIBRARY_MAX_TIME_LIMIT_S

log = logging.getLogger("capplan.scenarios")

router = APIRouter(prefix="/v1", tags=["scenarios"])

JobState = Literal["queued", "running", "done", "failed"]
JSON = "application/json"


# ----------------------------------------------------------------------------- responses


class _Out(BaseModel):
    # as solver.schema.Out: written whole, so a response's schema requires every field
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class SweepJob(_Out):
    id: str
    status: JobState
    mode: Mode
    total: int = Field(..., description="Scenarios in the sweep.")
    done: int = Field(..., description="Scenarios finished so far.")
    rows: list[ScenarioRow] = Field(default_factory=list, description="Finished scenarios, by index.")
    tornado: list[TornadoBar] | None = Field(
        None,
        description=(
            "one_at_a_time, once done: one bar per parameter. Bars with a setting that has no "
            "objective (no_value: infeasible, failed, ...) come first, then by objective swing, "
            "largest first."
        ),
    )
    error: str | None = None
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None


class FrontierJob(_Out):
    id: str
    status: JobState
    points: int
    total: int
    done: int
    rows: list[FrontierRow] = Field(default_factory=list, description="Finished points, by index.")
    low_served_fraction: float | None = None
    high_served_fraction: float | None = None
    knee_index: int | None = Field(None, description="Index of the knee row, once done.")
    note: str | None = Field(None, description="E.g. the served fraction cannot vary: the two ends only.")
    error: str | None = Field(None, description="Why the frontier failed (status failed).")
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None


# ----------------------------------------------------------------------------- runner mapper


class RunnerMapper:
    """A :data:`solver.scenarios.run.Mapper` over the service's job runner.

    Keeps at most ``window`` jobs of this sweep queued or running; waits (without
    failing) while the runner's queue is full.  A scenario the watchdog stops, or whose
    worker dies, comes back with a stub plan (``time_limit`` / ``failed``).  ``cancel()``
    cancels every scenario in flight (the runner kills their processes).  A runner with a
    ``batch_size(tasks, variables)`` method (Ray) gets small scenarios in batches: one job
    runs several in a row (:func:`service.jobs.tasks.run_batch`), its time limit their sum.
    """

    def __init__(self, runner: Any, time_limit_s: Callable[[ScenarioTask], float], window: int) -> None:
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


# ----------------------------------------------------------------------------- the manager


@dataclass
class _Active:
    tenant: str
    mapper: RunnerMapper
    thread: threading.Thread | None = None
    deleted: threading.Event = field(default_factory=threading.Event)


class ScenarioJobs:
    """Creates, runs, resumes and cancels the sweep and frontier jobs of one app."""

    def __init__(self, state: AppState) -> None:
        self.store = state.store
        self.runner = state.runner
        self.settings = state.settings
        self.max_scenarios = state.settings.max_scenarios
        self.window = max(1, state.settings.workers)
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

    def _time_limit(self, task: ScenarioTask) -> float:
        asked = float((task.request.get("solver") or {}).get("time_limit_s", 60.0))
        return min(asked, self.settings.max_time_limit_s, LIBRARY_MAX_TIME_LIMIT_S)

    def _start(self, row: JobRow, body: Callable[[_Active], None]) -> None:
        active = _Active(row.tenant, RunnerMapper(self.runner, self._time_limit, self._window()))
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


def jobs_of(state: AppState) -> ScenarioJobs:
    """The app's scenario-job manager (made at start-up)."""
    mgr = getattr(state, "scenario_jobs", None)
    if mgr is None:
        mgr = ScenarioJobs(state)
        setattr(state, "scenario_jobs", mgr)  # noqa: B010 - AppState belongs to service.api.deps
    return mgr


async def on_startup(state: AppState) -> None:
    """Make the manager and resume the jobs an earlier process left unfinished."""
    await run_sync(jobs_of(state).resume)


def local_jobs(state: AppState) -> set[str]:
    """The jobs this replica is running (for the lease keeper's orphan check)."""
    return jobs_of(state).active_ids()


def on_lease_tick(state: AppState) -> None:
    """From the lease thread: take over the jobs of replicas that went silent."""
    jobs_of(state).resume(startup=False)


async def on_shutdown(state: AppState) -> None:
    """Before the runner drains: no new scenarios (unfinished jobs resume at the next start)."""
    jobs_of(state).stop()


# ----------------------------------------------------------------------------- views


def _sweep_view(row: JobRow) -> SweepJob:
    rows = [ScenarioRow.model_validate(r) for r in sorted(row.rows or [], key=lambda r: r["index"])]
    mode = (row.request or {}).get("mode", "grid")
    bars = None
    if mode == "one_at_a_time" and row.status == "done":
        paths = [p["path"] for p in (row.request or {}).get("parameters", [])]
        bars = tornado(rows, paths)
    return SweepJob(
        id=row.id,
        status=row.status,
        mode=mode,
        total=row.total,
        done=len(rows),
        rows=rows,
        tornado=bars,
        error=row.error,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def _frontier_row(stored: dict[str, Any]) -> FrontierRow:
    r = FrontierRow.model_validate(stored)
    if "discounted_million_tokens_served" not in stored:
        # stored before the marginal cost was levelised: it is per undiscounted million tokens,
        # not the basis the field now documents, so it is not passed on
        r.marginal_cost_usd_per_million_tokens = None
    return r


def _frontier_view(row: JobRow) -> FrontierJob:
    rows = [_frontier_row(r) for r in sorted(row.rows or [], key=lambda r: r["index"])]
    knee = next((r.index for r in rows if r.knee), None)
    done = row.status == "done"
    return FrontierJob(
        id=row.id,
        status=row.status,
        points=int((row.request or {}).get("points", row.total)),
        total=row.total,
        done=len(rows),
        rows=rows,
        low_served_fraction=rows[0].served_fraction if done and rows else None,
        high_served_fraction=rows[-1].served_fraction if done and rows else None,
        knee_index=knee,
        # the job row has one text column for both: a finished frontier's is its note
        note=row.error if done else None,
        error=None if done else row.error,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def _json(model: BaseModel, status_code: int, location: str | None = None) -> Response:
    headers = {"Location": location} if location else None
    return Response(model.model_dump_json(), status_code=status_code, media_type=JSON, headers=headers)


async def _job(state: AppState, tenant: str, job_id: str, kind: str) -> JobRow:
    """The tenant's sweep or frontier, or a 404."""
    row = await run_sync(state.store.get_job, tenant, job_id, kind)
    if row is None:
        raise NotFound(f"no {kind} {quoted(job_id)}")
    return row


async def _delete_job(state: AppState, tenant: str, job_id: str, kind: str) -> Response:
    """Stop and remove the tenant's sweep or frontier (204), or a 404."""
    if not await run_sync(jobs_of(state).delete, tenant, job_id, kind):
        raise NotFound(f"no {kind} {quoted(job_id)}")
    return Response(status_code=204)


# ----------------------------------------------------------------------------- routes


@router.post(
    "/sweeps",
    summary="Start a parameter sweep",
    status_code=202,
    response_model=SweepJob,
    openapi_extra=json_body(
        SweepSpec,
        "A base PlanRequest and parameters addressed by path (docs/scenarios.md); "
        "mode grid (cartesian) or one_at_a_time (tornado).",
        EXAMPLE_SWEEP,
    ),
    responses={
        202: {"description": "Accepted: the job, queued; poll `Location`."},
        **problems(401, 413, 415, 422),
    },
)
async def create_sweep(request: Request, state: StateDep, tenant: TenantDep) -> Response:
    """Check every path, value and scenario (422 naming each problem), then run the sweep."""
    jobs = jobs_of(state)
    sweep = await read_checked_body(
        request, jobs.check_sweep, budget_s=state.settings.check_budget_s, heavy=True
    )
    row = await run_sync(jobs.create_sweep, tenant, sweep)
    return _json(_sweep_view(row), 202, f"/v1/sweeps/{row.id}")


@router.get(
    "/sweeps/{sweep_id}", summary="Read a sweep", response_model=SweepJob, responses=problems(401, 404)
)
async def get_sweep(sweep_id: str, state: StateDep, tenant: TenantDep) -> Response:
    """Status, progress (``total``, ``done``) and the rows of the finished scenarios."""
    return _json(_sweep_view(await _job(state, tenant, sweep_id, "sweep")), 200)


@router.delete(
    "/sweeps/{sweep_id}",
    summary="Cancel and delete a sweep",
    status_code=204,
    response_class=Response,
    responses=problems(401, 404),
)
async def delete_sweep(sweep_id: str, state: StateDep, tenant: TenantDep) -> Response:
    """Stop its scenarios (running ones are killed) and remove it; finished plans stay."""
    return await _delete_job(state, tenant, sweep_id, "sweep")


@router.post(
    "/frontiers",
    summary="Start a cost-vs-served frontier",
    status_code=202,
    response_model=FrontierJob,
    openapi_extra=json_body(
        FrontierSpec, "A base PlanRequest and the number of points (2-101).", EXAMPLE_FRONTIER
    ),
    responses={
        202: {"description": "Accepted: the job, queued; poll `Location`."},
        **problems(401, 413, 415, 422),
    },
)
async def create_frontier(request: Request, state: StateDep, tenant: TenantDep) -> Response:
    """The least NPV cost at evenly spaced served fractions, from the least to the most."""
    jobs = jobs_of(state)
    fr = await read_checked_body(request, jobs.check_frontier, budget_s=state.settings.check_budget_s)
    row = await run_sync(jobs.create_frontier, tenant, fr)
    return _json(_frontier_view(row), 202, f"/v1/frontiers/{row.id}")


@router.get(
    "/frontiers/{frontier_id}",
    summary="Read a frontier",
    response_model=FrontierJob,
    responses=problems(401, 404),
)
async def get_frontier(frontier_id: str, state: StateDep, tenant: TenantDep) -> Response:
    """Status, progress and the points so far (the knee is marked once done)."""
    return _json(_frontier_view(await _job(state, tenant, frontier_id, "frontier")), 200)


@router.delete(
    "/frontiers/{frontier_id}",
    summary="Cancel and delete a frontier",
    status_code=204,
    response_class=Response,
    responses=problems(401, 404),
)
async def delete_frontier(frontier_id: str, state: StateDep, tenant: TenantDep) -> Response:
    """Stop its solves (running ones are killed) and remove it; finished plans stay."""
    return await _delete_job(state, tenant, frontier_id, "frontier")


@router.get(
    "/plans/{a}/diff/{b}",
    summary="What changed from plan a to plan b",
    response_model=PlanDiff,
    responses=problems(401, 404, 409),
    tags=["plans"],
)
async def diff(a: str, b: str, state: StateDep, tenant: TenantDep) -> PlanDiff:
    """Units by hardware, site and period; cost components; binding limits; shadow prices
    (every delta is b − a)."""

    def load(plan_id: str) -> Plan:
        row = state.store.get_plan(tenant, plan_id)
        if row is None:
            raise NotFound(f"no plan {quoted(plan_id)}")
        if row.status in UNFINISHED:
            raise Conflict(
                f"plan {quoted(plan_id)} is still {row.status}: diff it once it has finished", plan_id=plan_id
            )
        return Plan.model_validate_json(row.plan)

    def run() -> PlanDiff:
        return diff_plans(load(a), load(b))

    return await run_sync(run)


__all__ = [
    "RunnerMapper",
    "ScenarioJobs",
    "jobs_of",
    "local_jobs",
    "on_lease_tick",
    "on_shutdown",
    "on_startup",
    "router",
]
