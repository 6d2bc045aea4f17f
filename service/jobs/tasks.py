"""Functions that run inside worker processes, and the plans the service writes itself.

Everything here takes and returns plain JSON-able data so that any :class:`~service.jobs.runner.JobRunner`
(local processes today, a cluster later) can carry it.
"""

from __future__ import annotations

import math
import os
from typing import Any

from pydantic_core import to_json

from solver.schema import ObjectiveOut, Plan, SolverOptions, SolverOut

DEFAULT_TIME_LIMIT_S = SolverOptions.model_fields["time_limit_s"].default


def _non_finite(obj: Any) -> bool:
    if isinstance(obj, float):
        return not math.isfinite(obj)
    if isinstance(obj, dict):
        return any(_non_finite(v) for v in obj.values())
    if isinstance(obj, list):
        return any(_non_finite(v) for v in obj)
    return False


def requested_time_limit(request: dict[str, Any]) -> float:
    """The time limit a request (as JSON) asks for: its ``solver.time_limit_s``, else the schema's
    default."""
    return float((request.get("solver") or {}).get("time_limit_s", DEFAULT_TIME_LIMIT_S))


def stub_plan(
    plan_id: str,
    request: dict[str, Any],
    status: str,
    detail: str = "",
    warnings: list[str] | None = None,
) -> Plan:
    """A plan without tables: queued/running, or a solve that ended without a result."""
    objective = request.get("objective") or {}
    solver = request.get("solver") or {}
    months = (request.get("horizon") or {}).get("period_months", 3)
    return Plan(
        id=plan_id,
        name=str(request.get("name", "plan")),
        status=status,
        period_months=months if isinstance(months, int) and not isinstance(months, bool) else None,
        objective=ObjectiveOut(kind=objective.get("kind", "min_cost")),
        solver=SolverOut(
            backend=str(solver.get("backend", "highs")),
            integer=bool(solver.get("integer", False)),
            detail=detail,
        ),
        warnings=list(warnings or []),
    )


def solve_plan(payload: dict[str, Any]) -> dict[str, Any]:
    """Solve ``payload["request"]`` (a PlanRequest as JSON) in this process.

    Payload: ``plan_id``, ``request``, ``max_variables``, ``max_time_limit_s``.
    Returns ``{"status", "objective_value", "plan_json"}`` (the Plan as JSON text).
    """
    from solver import plan

    request = payload["request"]
    cap = payload.get("max_time_limit_s")
    result = plan(
        request,
        plan_id=payload["plan_id"],
        max_variables=payload.get("max_variables"),
        max_time_limit_s=cap,
    )
    where = os.environ.get("CAPPLAN_WORKER_NAME")  # set by the Ray runner's tasks
    if where:
        result.solver.worker = where
    asked = requested_time_limit(request)
    if cap is not None and asked > cap:
        result.warnings.append(
            f"time limit capped at {cap:g} s by the service (the request asked {asked:g} s)"
        )
    # One serialisation that spells NaN and Infinity out (model_dump_json would write null):
    # without them the text is exactly model_dump_json's.
    raw = to_json(result, inf_nan_mode="constants")
    if (b"NaN" in raw or b"Infinity" in raw) and _non_finite(result.model_dump()):
        detail = "numerical trouble: the solution holds non-finite values (check very large inputs)"
        result = stub_plan(payload["plan_id"], request, "failed", detail, [detail])
        raw = to_json(result)
    return {
        "status": result.status,
        "objective_value": result.objective.value,
        "plan_json": raw.decode(),
        "detail": result.solver.detail,
    }


def run_batch(payload: dict[str, Any]) -> list[tuple[bool, Any]]:
    """``payload["fn"](item)`` for each of ``payload["items"]`` in turn (small sweep scenarios
    batched into one task): ``(True, value)``, or ``(False, "Error: message")`` if it raised."""
    fn = payload["fn"]
    out: list[tuple[bool, Any]] = []
    for item in payload["items"]:
        try:
            out.append((True, fn(item)))
        except Exception as exc:
            out.append((False, f"{type(exc).__name__}: {exc}"))
    return out


def describe(request: dict[str, Any]) -> dict[str, Any]:
    """``solver.inspect.describe_request`` of a (valid) request, in a worker process."""
    from solver import parse_request
    from solver.inspect import describe_request

    return describe_request(parse_request(request))
