"""``POST /v1/validate``: check a request and describe it, without solving."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from service.bodies import json_body, read_json_body
from service.deps import StateDep, TenantDep, run_sync
from service.errors import problems
from service.schemas import EXAMPLE_REQUEST, ValidationReport
from solver import PlanRequest
from solver.inspect import describe_request

router = APIRouter(prefix="/v1", tags=["plans"])


@router.post(
    "/validate",
    summary="Check a plan request without solving it",
    response_model=ValidationReport,
    openapi_extra=json_body(PlanRequest, "A PlanRequest.", EXAMPLE_REQUEST),
    responses=problems(401, 413, 415, 422),
)
async def validate(request: Request, state: StateDep, tenant: TenantDep) -> ValidationReport:
    """Derived throughput and eligibility per hardware/workload pair, and the model's size.

    Answers exactly as ``POST /v1/plans`` would before solving: 422 naming every bad field,
    or 422 ``model-too-large`` when the model exceeds the service's limit.
    """
    body = await read_json_body(request)

    def check() -> dict[str, Any]:
        prep = state.plans.prepare(body)  # validation and the size limit, as for a solve
        info = describe_request(prep.request)
        info["max_variables"] = state.settings.max_variables
        info["time_limit_s"] = prep.time_limit_s
        return info

    return ValidationReport.model_validate(await run_sync(check))
