"""capplan's planning library: ``from solver import plan; result = plan(request)``."""

from solver.errors import CapplanError, FieldError, ModelTooLarge, RequestInvalid
from solver.planner import plan
from solver.schema import Plan, PlanRequest
from solver.validate import parse_request

__all__ = [
    "CapplanError",
    "FieldError",
    "ModelTooLarge",
    "Plan",
    "PlanRequest",
    "RequestInvalid",
    "parse_request",
    "plan",
]
