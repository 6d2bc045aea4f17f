"""``/v1/sweeps`` and ``/v1/frontiers``: scenario analysis as jobs, and their report pages.

``POST`` checks everything (every path, value and generated scenario, the scenario cap, the
model size) and answers ``202`` with ``Location``; :class:`service.jobs.scenario_jobs.ScenarioJobs`
then runs the job, each scenario on the service's workers, its plan stored as an ordinary plan
(``GET /v1/plans/{plan_id}``, reports, CSV tables) and its row appended to the job.  ``GET``
shows ``total``, ``done`` and the rows so far; ``GET …/report`` draws them (a page whose points
link to each scenario's plan report).  ``DELETE`` stops the job (queued scenarios dropped,
running ones killed) and removes it; plans of finished scenarios stay.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from service.api.bodies import json_body, read_checked_body
from service.api.deps import AppState, StateDep, TenantDep, run_sync
from service.api.errors import NotFound, problems
from service.api.pages import html_page, html_responses
from service.api.schemas import EXAMPLE_FRONTIER, EXAMPLE_SWEEP, FrontierJob, SweepJob
from service.jobs.store import JobRow
from service.report import render_frontier_report, render_sweep_report
from solver.errors import quoted
from solver.scenarios.results import FrontierRow, ScenarioRow, tornado
from solver.scenarios.specs import FrontierSpec, SweepSpec

router = APIRouter(prefix="/v1", tags=["scenarios"])

JSON = "application/json"


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


def _stored_job(state: AppState, tenant: str, job_id: str, kind: str) -> JobRow:
    """The tenant's sweep or frontier, or a 404."""
    row = state.store.get_job(tenant, job_id, kind)
    if row is None:
        raise NotFound(f"no {kind} {quoted(job_id)}")
    return row


async def _job(state: AppState, tenant: str, job_id: str, kind: str) -> JobRow:
    return await run_sync(_stored_job, state, tenant, job_id, kind)


async def _delete_job(state: AppState, tenant: str, job_id: str, kind: str) -> Response:
    """Stop and remove the tenant's sweep or frontier (204), or a 404."""
    if not await run_sync(state.scenarios.delete, tenant, job_id, kind):
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
    jobs = state.scenarios
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
    jobs = state.scenarios
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


def _plan_href(plan_id: str) -> str:
    # relative to /v1/{sweeps|frontiers}/{id}/report, so it survives a path prefix
    return f"../../plans/{plan_id}/report"


@router.get(
    "/sweeps/{sweep_id}/report",
    summary="A sweep's report: tornado charts and every scenario, linked to its plan report",
    response_class=Response,
    responses={**html_responses("The sweep report (self-contained HTML)."), **problems(401, 404)},
)
async def sweep_report(sweep_id: str, state: StateDep, tenant: TenantDep) -> Response:
    """Works while the sweep runs too (the scenarios finished so far)."""

    def render() -> str:
        view = _sweep_view(_stored_job(state, tenant, sweep_id, "sweep")).model_dump(mode="json")
        return render_sweep_report(view, plan_href=_plan_href)

    return html_page(await run_sync(render), f"sweep-{sweep_id}.html")


@router.get(
    "/frontiers/{frontier_id}/report",
    summary="A frontier's report: the cost-vs-served curve with its knee, each point linked to its plan",
    response_class=Response,
    responses={**html_responses("The frontier report (self-contained HTML)."), **problems(401, 404)},
)
async def frontier_report(frontier_id: str, state: StateDep, tenant: TenantDep) -> Response:
    """Works while the frontier runs too (the points finished so far)."""

    def render() -> str:
        view = _frontier_view(_stored_job(state, tenant, frontier_id, "frontier")).model_dump(mode="json")
        return render_frontier_report(view, plan_href=_plan_href)

    return html_page(await run_sync(render), f"frontier-{frontier_id}.html")
