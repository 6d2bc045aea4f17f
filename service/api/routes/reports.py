"""Reports: a plan's HTML report and CSV tables; sweep and frontier report pages.

* ``GET /v1/plans/{id}/report`` — one self-contained HTML page (text/html);
* ``GET /v1/plans/{id}/tables/{name}.csv`` — ``name`` one of
  :data:`service.report.TABLES` (text/csv);
* ``GET /v1/sweeps/{id}/report``, ``GET /v1/frontiers/{id}/report`` — scenario pages whose
  points link to each scenario's plan report.

The pages are rendered by :mod:`service.report` (pure functions) off the event loop.  A plan
still queued or running has no report yet: 409.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Response

from service.api.deps import StateDep, TenantDep, run_sync
from service.api.errors import Conflict, NotFound, problems
from service.jobs.store import UNFINISHED, PlanRow
from service.report import TABLES, render_frontier_report, render_plan_report, render_sweep_report, table_csv
from solver import Plan, PlanRequest, RequestInvalid, parse_request
from solver.errors import quoted

router = APIRouter(prefix="/v1", tags=["reports"])

HTML = "text/html; charset=utf-8"
CSV = "text/csv; charset=utf-8"
_HEADERS = {
    # the page fetches nothing and runs nothing; say so to the browser as well
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
}


def _html(description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}}


def _finished_plan(state: Any, tenant: str, plan_id: str) -> PlanRow:
    row: PlanRow | None = state.store.get_plan(tenant, plan_id)
    if row is None:
        raise NotFound(f"no plan {quoted(plan_id)}")
    if row.status in UNFINISHED:
        raise Conflict(
            f"plan {quoted(plan_id)} is still {row.status}: its report exists once it has finished",
            plan_id=plan_id,
        )
    return row


def _request_of(row: PlanRow) -> PlanRequest | None:
    """The stored request (for fleet MW and vendor shares); None if it no longer parses."""
    try:
        return parse_request(json.loads(row.request))
    except (ValueError, RequestInvalid):
        return None


@router.get(
    "/plans/{plan_id}/report",
    summary="A plan's report (self-contained HTML)",
    response_class=Response,
    responses={
        **_html("The report: one HTML file, no script, no fetches; prints well."),
        **problems(401, 404, 409),
    },
    tags=["plans"],
)
async def plan_report(plan_id: str, state: StateDep, tenant: TenantDep) -> Response:
    """Headline, fleet, power, demand, cost, vendor shares, shadow prices, contracts — or,
    for an infeasible plan, its diagnosis first."""

    def render() -> str:
        row = _finished_plan(state, tenant, plan_id)
        return render_plan_report(Plan.model_validate_json(row.plan), _request_of(row))

    html = await run_sync(render)
    headers = {**_HEADERS, "Content-Disposition": f'inline; filename="plan-{plan_id}.html"'}
    return Response(html, media_type=HTML, headers=headers)


@router.get(
    "/plans/{plan_id}/tables/{name}.csv",
    summary="A table of a plan as CSV",
    response_class=Response,
    responses={
        200: {
            "description": "One header row, one row per record, plain numbers. Tables: "
            + ", ".join(TABLES)
            + ".",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **problems(401, 404, 409),
    },
    tags=["plans"],
)
async def plan_table(plan_id: str, name: str, state: StateDep, tenant: TenantDep) -> Response:
    """One of :data:`service.report.TABLES` (fleet, periods, sites, workloads, shadow_prices, idle_purchases)."""
    if name not in TABLES:
        raise NotFound(f"no table {quoted(name)}: the tables are {', '.join(TABLES)}")

    def render() -> str:
        row = _finished_plan(state, tenant, plan_id)
        return table_csv(Plan.model_validate_json(row.plan), name)

    text = await run_sync(render)
    headers = {"Content-Disposition": f'attachment; filename="plan-{plan_id}-{name}.csv"'}
    return Response(text, media_type=CSV, headers=headers)


def _plan_href(plan_id: str) -> str:
    # relative to /v1/{sweeps|frontiers}/{id}/report, so it survives a path prefix
    return f"../../plans/{plan_id}/report"


def _job_view(kind: str) -> Any:
    """The JSON view of a sweep or frontier job, as GET /v1/{kind}s/{id} answers it."""
    from service.api.routes import sweeps

    return sweeps._sweep_view if kind == "sweep" else sweeps._frontier_view


async def _job_report(kind: str, job_id: str, state: Any, tenant: str) -> Response:
    def render() -> str:
        row = state.store.get_job(tenant, job_id, kind)
        if row is None:
            raise NotFound(f"no {kind} {quoted(job_id)}")
        view = _job_view(kind)(row).model_dump(mode="json")
        if kind == "sweep":
            return render_sweep_report(view, plan_href=_plan_href)
        return render_frontier_report(view, plan_href=_plan_href)

    html = await run_sync(render)
    headers = {**_HEADERS, "Content-Disposition": f'inline; filename="{kind}-{job_id}.html"'}
    return Response(html, media_type=HTML, headers=headers)


@router.get(
    "/sweeps/{sweep_id}/report",
    summary="A sweep's report: tornado charts and every scenario, linked to its plan report",
    response_class=Response,
    responses={**_html("The sweep report (self-contained HTML)."), **problems(401, 404)},
    tags=["scenarios"],
)
async def sweep_report(sweep_id: str, state: StateDep, tenant: TenantDep) -> Response:
    """Works while the sweep runs too (the scenarios finished so far)."""
    return await _job_report("sweep", sweep_id, state, tenant)


@router.get(
    "/frontiers/{frontier_id}/report",
    summary="A frontier's report: the cost-vs-served curve with its knee, each point linked to its plan",
    response_class=Response,
    responses={**_html("The frontier report (self-contained HTML)."), **problems(401, 404)},
    tags=["scenarios"],
)
async def frontier_report(frontier_id: str, state: StateDep, tenant: TenantDep) -> Response:
    """Works while the frontier runs too (the points finished so far)."""
    return await _job_report("frontier", frontier_id, state, tenant)
