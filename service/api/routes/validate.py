"""``POST /v1/validate``: check a request and describe it, without solving."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter, Request

from service.api.bodies import json_body, read_checked_body
from service.api.deps import AppState, StateDep, TenantDep, run_sync
from service.api.errors import Unavailable, problems
from service.api.schemas import EXAMPLE_REQUEST, ValidationReport
from service.jobs.tasks import describe
from solver import PlanRequest
from solver.inspect import describe_request

IN_PROCESS_BUILD_MAX_VARIABLES = 20_000
"""Up to this size (variables, and each derived table: :class:`solver.size.ModelSize`) the model
is built in the API process (milliseconds); beyond, in a worker."""

router = APIRouter(prefix="/v1", tags=["plans"])


@router.post(
    "/validate",
    summary="Check a plan request without solving it",
    response_model=ValidationReport,
    openapi_extra=json_body(PlanRequest, "A PlanRequest.", EXAMPLE_REQUEST),
    responses=problems(401, 413, 415, 422, 429, 503),
)
async def validate(request: Request, state: StateDep, tenant: TenantDep) -> ValidationReport:
    """Derived throughput and eligibility per hardware/workload pair, and the model's size.

    Answers exactly as ``POST /v1/plans`` would before solving: 422 naming every bad field,
    or 422 ``model-too-large`` when the model exceeds the service's limit.
    """
    # validation and the size limit, as for a solve
    prep = await read_checked_body(request, state.plans.prepare, budget_s=state.settings.check_budget_s)
    size = prep.size
    if max(size.variables, size.throughput_pairs, size.site_pairs) <= IN_PROCESS_BUILD_MAX_VARIABLES:
        info = await run_sync(describe_request, prep.request)
    else:  # building a large model is CPU work: a worker process does it, not the API process
        info = await _describe_in_worker(state, prep.request_dict)
    info["max_variables"] = state.settings.max_variables
    info["time_limit_s"] = prep.time_limit_s
    return ValidationReport.model_validate(info)


async def _describe_in_worker(state: AppState, request: dict[str, Any]) -> dict[str, Any]:
    job_id = f"describe-{uuid.uuid4().hex}"
    fut = state.runner.submit(job_id, describe, request, time_limit_s=state.settings.max_time_limit_s)
    try:
        result = await asyncio.wrap_future(fut)
    finally:
        if not fut.done():  # the client went away: do not leave the build running
            state.runner.cancel(job_id)
    if result.status != "done":
        raise Unavailable(f"the model could not be described: {result.error or result.status}")
    return dict(result.value)
