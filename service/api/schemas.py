"""Response models that exist only in the API (plans themselves are ``solver.Plan``; sweep and
frontier rows are :mod:`solver.scenarios.results`')."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from solver.scenarios.results import FrontierRow, ScenarioRow, TornadoBar
from solver.scenarios.specs import Mode
from solver.schema import ObjectiveKind, PlanStatus


class Out(BaseModel):
    # as solver.schema.Out: written whole, so a response's schema requires every field
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


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
    next_cursor: str | None = Field(
        None,
        description="The `cursor` of the next page (the one in `next`): give it with the same "
        "`limit` and `status`; null on the last page.",
    )


class ThroughputPair(Out):
    hardware: str
    workload: str
    tokens_per_s_per_unit: float = Field(
        ...,
        description=(
            "Derived throughput at the workload's speed target: the best the curve offers at any "
            "speed per user at least the target (its upper envelope)."
        ),
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


class ThroughputDerivation(Out):
    """How a per-unit throughput was estimated from on-chip memory (docs/catalog.md)."""

    model: str
    parameters: int
    weights_gb: float
    systems_per_replica: int
    free_sram_gb: float
    kv_bytes_per_token: int
    context_tokens: int
    concurrent_streams_per_replica: int
    tokens_per_s_per_user: float
    tokens_per_s_per_unit: float


class CatalogPoint(Out):
    tokens_per_s_per_user: float
    tokens_per_s_per_unit: float


class CatalogCurve(Out):
    """A throughput curve as a request's hardware ``performance`` takes it."""

    units_per_replica: float
    points: list[CatalogPoint]


class CatalogEntry(Out):
    """A default-catalog entry: the fields a request's hardware item takes (used as they are by
    ``{"catalog": id, ...overrides}``) and fields that document them (docs/catalog.md)."""

    id: str
    vendor: str
    kind: Literal["wafer-scale", "gpu", "other"]
    description: str
    unit_price_usd: float
    recurring_usd_per_unit_hour: float
    maintenance_fraction_per_year: float
    it_power_kw: float = Field(..., description="The most the unit draws (see power_figures_kw).")
    lifetime_years: float
    lead_time_months: float | None
    max_units_per_period: float | list[float] | None
    performance: dict[str, CatalogCurve] = Field(..., description="Throughput curves by model.")
    sources: list[str] = Field(..., description="Where the figures come from.")
    unit_description: str = Field(..., description="What one unit is.")
    memory_gb: int = Field(..., description="Accelerator memory of one unit.")
    gpus_per_unit: int | None = None
    power_figures_kw: dict[str, float | list[float]] = Field(
        ...,
        description="The unit's power figures by kind: quoted, typical, power_shelf_capacity, "
        "gpu_power_sum, measured_mlperf ([low, high]).",
    )
    point_notes: dict[str, list[str]] = Field(..., description="Source of each performance point, by model.")
    estimates: dict[str, str] = Field(
        ..., description="Every estimated figure, by its path in the entry, and how it was derived."
    )
    notes: dict[str, str]
    cerebras_throughput_derivation: dict[str, ThroughputDerivation] | None = Field(
        None, description="Cerebras entries: the per-unit throughput estimate of each model."
    )


class CatalogOut(Out):
    hardware: list[CatalogEntry]


class Health(Out):
    status: Literal["ok"] = "ok"


class Readiness(Out):
    status: Literal["ready"] = "ready"
    database: str
    workers: str
    queue_depth: int
    running: int


JobState = Literal["queued", "running", "done", "failed"]


class SweepJob(Out):
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


class FrontierJob(Out):
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


EXAMPLE_REQUEST: dict[str, Any] = {
    "name": "one site, one accelerator, one workload",
    "horizon": {"start": "2026-01", "periods": 4, "period_months": 3},
    "economics": {"discount_rate": 0.08},
    "sites": [{"id": "tx-1", "power_mw": 20, "pue": 1.25, "energy_usd_per_mwh": 60}],
    "hardware": [
        {
            "id": "gpu-8x",
            "vendor": "nvidia",
            "unit_price_usd": 300000,
            "it_power_kw": 10.2,
            "performance": {
                "llama-70b": {
                    "points": [
                        {"tokens_per_s_per_user": 20, "tokens_per_s_per_unit": 20000},
                        {"tokens_per_s_per_user": 50, "tokens_per_s_per_unit": 9000},
                    ]
                }
            },
        }
    ],
    "workloads": [
        {"id": "chat", "model": "llama-70b", "min_tokens_per_s_per_user": 30, "demand_tokens_per_s": 500000}
    ],
}
"""A small valid request (OpenAPI example; Schemathesis starts from it)."""

EXAMPLE_SWEEP: dict[str, Any] = {
    "base": EXAMPLE_REQUEST,
    "parameters": [{"path": "hardware/gpu-8x/unit_price_usd", "scale": [0.8, 1.2]}],
    "mode": "one_at_a_time",
}
"""A small valid sweep (OpenAPI example)."""

EXAMPLE_FRONTIER: dict[str, Any] = {"base": EXAMPLE_REQUEST, "points": 3}
"""A small valid frontier (OpenAPI example)."""
