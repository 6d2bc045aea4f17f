"""capplan's planning library: ``from solver import plan; result = plan(request)``.

``plan`` is imported when first used (PEP 562): the schema, validation and errors import no
solver, so a report or a client that only reads plans never loads PuLP or HiGHS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from solver.errors import CapplanError, FieldError, ModelTooLarge, RequestInvalid
from solver.schema import Plan, PlanRequest
from solver.validate import parse_request

if TYPE_CHECKING:
    from solver.planner import plan

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


def __getattr__(name: str) -> Any:
    if name == "plan":
        from solver.planner import plan

        globals()["plan"] = plan  # once: later lookups find it without this hook
        return plan
    raise AttributeError(f"module 'solver' has no attribute {name!r}")
