"""Response models that exist only in the API (plans themselves are ``solver.Plan``)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from solver.schema import ObjectiveKind, PlanStatus


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlanListItem(Out):
    id: str
    name: str
    status: PlanStatus
    objective_kind: ObjectiveKind
    objective_value: float | None = None
    error: str | None = Field(None, description="Why a solve ended without a plan (time_limit, failed).")
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    href: str = Field(..., description="Path of the full plan.")


class PlanPage(Out):
    items: list[PlanListItem]
    next: str | None = Field(None, description="Path of the next (older) page; null on the last page.")


class ThroughputPair(Out):
    hardware: str
    workload: str
    tokens_per_s_per_unit: float = Field(
        ..., description="Derived throughput at the workload's speed target."
    )
    eligible_sites: list[str] = Field(..., description="Sites where this hardware may serve this workload.")


class ModelSize(Out):
    variables: int
    constraints: int | None = None


class ValidationReport(Out):
    valid: Literal[True] = True
    name: str
    periods: list[str] = Field(..., description="Period labels (ISO year-month of each start).")
    throughput: list[ThroughputPair]
    model_size: ModelSize
    max_variables: int = Field(..., description="The service's limit on model size (variables).")
    time_limit_s: float = Field(
        ..., description="The time limit a solve would get (after the service's cap)."
    )
    warnings: list[str] = Field(default_factory=list)


class CatalogOut(Out):
    hardware: list[dict[str, Any]] = Field(
        ..., description="Catalog entries: request hardware fields plus sources and estimate notes."
    )


class Health(Out):
    status: Literal["ok"] = "ok"


class Readiness(Out):
    status: Literal["ready"] = "ready"
    database: str
    workers: str
    queue_depth: int
    running: int
