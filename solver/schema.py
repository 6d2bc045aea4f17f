"""Request and result models of capplan (the contract of DESIGN.md).

Every numeric field is finite (NaN and Infinity are rejected), physical quantities are
non-negative, fractions lie in [0, 1], and unknown fields are rejected so that a typo can
never silently change a plan.  Cross-field rules (unique ids, references that resolve,
per-period list lengths) live in :mod:`solver.validate`, which reports every problem with
its JSON path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

Fraction = Annotated[float, Field(ge=0, le=1)]


def _zero_or_at_least(floor: float) -> Callable[[float], float]:
    def check(v: float) -> float:
        if 0 < v < floor:
            raise ValueError(
                f"must be 0 or at least {floor:g}: smaller values are below the solver's "
                "tolerances and would be served as if they were 0"
            )
        return v

    return check


MAX_USD = 1e15
"""Totals in dollars (budgets, commitments, thresholds, valuations): a thousand trillion."""
MAX_YEARS = 100.0

# The ranges below (docs/api.md, "Ranges") are far beyond any real plan.  They keep every
# coefficient of the model within what a double-precision LP solver can tell apart, so that an
# absurd number gets a 422 naming its field instead of a failed or silently wrong plan.
Usd = Annotated[float, Field(ge=0, le=MAX_USD)]
UnitUsd = Annotated[float, Field(ge=0, le=1e12)]
"""The price of one unit, or of one MW of build-out."""
Rate = Annotated[float, Field(ge=0, le=1e6)]
"""$/MWh, $/kW-month, $ per million tokens."""
Mw = Annotated[float, Field(ge=0, le=1e6)]
Units = Annotated[float, Field(ge=0, le=1e9)]
Years = Annotated[float, Field(ge=0, le=MAX_YEARS)]
Tps = Annotated[
    float,
    Field(ge=0, le=1e12, description="0, or 1 to 1e12 tokens/s."),
    AfterValidator(_zero_or_at_least(1.0)),
]
"""Tokens per second of demand."""
UnitTps = Annotated[
    float,
    Field(ge=0, le=1e9, description="0, or 0.001 to 1e9 tokens/s."),
    AfterValidator(_zero_or_at_least(1e-3)),
]
"""Tokens per second one unit serves."""
UnitKw = Annotated[
    float, Field(ge=0, le=1e6, description="0, or 0.001 to 1e6 kW."), AfterValidator(_zero_or_at_least(1e-3))
]
"""IT power of one unit."""
Weight = Annotated[float, Field(ge=0, le=1e6)]


def _whole(v: Any) -> Any:
    """A JSON number with no fraction (80.0, as Python clients write computed counts) is an int."""
    return int(v) if isinstance(v, float) and v.is_integer() else v


Count = Annotated[int, BeforeValidator(_whole)]
"""A whole number: an int, or a float without a fraction (never a boolean or a string)."""
UsdPerPeriod = Usd | list[Usd]
MwPerPeriod = Mw | list[Mw]
UnitsPerPeriod = Units | list[Units]
TpsPerPeriod = Tps | list[Tps]
"""A number, or a list with one value per period."""

ObjectiveKind = Literal["min_cost", "max_served", "max_profit"]
PlanStatus = Literal[
    "queued", "running", "optimal", "feasible", "infeasible", "unbounded", "time_limit", "failed"
]
FINISHED_STATUSES: frozenset[str] = frozenset(
    {"optimal", "feasible", "infeasible", "unbounded", "time_limit", "failed"}
)
SOLVED_STATUSES: frozenset[str] = frozenset({"optimal", "feasible"})

_YM = re.compile(r"\A(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])\Z")  # ASCII digits, years 1900-2999


class Strict(BaseModel):
    """Base of every request model: no unknown fields, no NaN or Infinity."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_default=True, strict=True)


class Horizon(Strict):
    start: str = Field("2026-01", description="ISO year-month of the first period's start.")
    periods: Count = Field(..., ge=1, le=240, description="Number of periods, 1-240.")
    period_months: Literal[1, 3, 6, 12] = Field(3, description="Length of a period in months.")

    @field_validator("start")
    @classmethod
    def _year_month(cls, v: str) -> str:
        if not _YM.match(v):
            raise ValueError("must be an ISO year-month such as '2026-01' (years 1900-2999)")
        return v

    @field_validator("period_months", mode="before")
    @classmethod
    def _not_bool(cls, v: Any) -> Any:
        if isinstance(v, bool):  # true == 1 would pass the Literal
            raise ValueError("must be one of 1, 3, 6, 12 (a number, not a boolean)")
        return v

    def labels(self) -> list[str]:
        """ISO year-month of the start of every period."""
        year, month = (int(x) for x in self.start.split("-"))
        out = []
        for t in range(self.periods):
            m = month - 1 + t * self.period_months
            out.append(f"{year + m // 12:04d}-{m % 12 + 1:02d}")
        return out


class Economics(Strict):
    discount_rate: float = Field(0.0, ge=0, le=1, description="Annual discount rate.")
    load_factor: Fraction = Field(1.0, description="Average fraction of IT power drawn.")
    residual_value: bool = Field(True, description="Credit straight-line residual value.")


class Objective(Strict):
    kind: ObjectiveKind = "min_cost"


class Budget(Strict):
    capex_usd: Usd | None = Field(
        None, description="Total nominal capex over the horizon (plus any take-or-pay shortfall)."
    )
    capex_per_period_usd: UsdPerPeriod | None = Field(None, description="Nominal capex per period.")
    total_usd: Usd | None = Field(
        None,
        description="Total nominal spend over the horizon: capex plus all opex (maintenance, lease "
        "and hosting fees, energy, site lease; the existing fleet's included) plus any take-or-pay "
        "shortfall. Residual value, warrants and rebates are not credited.",
    )
    total_per_period_usd: UsdPerPeriod | None = Field(
        None, description="Nominal capex plus opex per period (the shortfall is not in any period)."
    )


class Expansion(Strict):
    max_mw: Mw = Field(..., description="Most MW that can be added over the horizon.")
    usd_per_mw: UnitUsd = Field(0.0, description="Build cost per MW, paid when started.")
    lead_time_periods: Count = Field(0, ge=0, le=1200, description="Periods from start to power online.")
    lifetime_years: float = Field(20.0, gt=0, le=MAX_YEARS, description="Depreciation life of the build.")


class ExistingFleet(Strict):
    hardware: str = Field(
        ...,
        description="An id in hardware[], or a default-catalog id that hardware[] does not list "
        "(the entry then joins hardware[] existing-only: these units serve, none are bought).",
    )
    units: Units
    remaining_life_years: Years | None = Field(
        None, description="Years of service left at the start (default: the hardware lifetime)."
    )


class Site(Strict):
    id: str = Field(..., min_length=1, max_length=64)
    power_mw: MwPerPeriod = Field(..., description="Facility power envelope (MW), incl. cooling.")
    pue: float = Field(1.0, ge=1, le=5)
    energy_usd_per_mwh: Rate = 0.0
    lease_usd_per_kw_month: Rate = Field(0.0, description="Colocation fee per IT kW-month.")
    allowed_hardware: list[str] | None = None
    expansion: Expansion | None = None
    existing: list[ExistingFleet] = Field(default_factory=list)


class SpeedPoint(Strict):
    tokens_per_s_per_user: float = Field(..., gt=0, le=1e6)
    tokens_per_s_per_unit: UnitTps


class Performance(Strict):
    units_per_replica: float = Field(1.0, ge=1e-3, le=1e6, description="Units that serve one model copy.")
    points: list[SpeedPoint] = Field(..., min_length=1)

    @field_validator("points")
    @classmethod
    def _increasing(cls, v: list[SpeedPoint]) -> list[SpeedPoint]:
        for a, b in zip(v, v[1:], strict=False):
            if b.tokens_per_s_per_user <= a.tokens_per_s_per_user:
                raise ValueError("tokens_per_s_per_user must be strictly increasing")
        return v


class Hardware(Strict):
    id: str = Field(..., min_length=1, max_length=64)
    vendor: str = Field(..., min_length=1, max_length=64)
    kind: Literal["wafer-scale", "gpu", "other"] = "gpu"
    description: str | None = None
    unit_price_usd: UnitUsd = Field(
        0.0, description="Paid when acquired (0 for a pure lease); deposit_fraction splits it."
    )
    recurring_usd_per_unit_hour: Rate = Field(0.0, description="Lease/hosting fee in service.")
    maintenance_fraction_per_year: Fraction = 0.0
    it_power_kw: UnitKw
    lifetime_years: float = Field(
        5.0, gt=0, le=MAX_YEARS, description="Service life (lease term for a lease)."
    )
    lead_time_periods: Count | None = Field(
        None,
        ge=0,
        le=1200,
        description="Periods from purchase to service (none given: 0, or lead_time_months converted).",
    )
    lead_time_months: float | None = Field(
        None,
        ge=0,
        le=MAX_YEARS * 12,
        description=(
            "Lead time in months, converted to whole periods of the request (the nearest; a tie "
            "rounds up); catalog entries state theirs so. Give it or lead_time_periods, not both."
        ),
    )
    deposit_fraction: Fraction = Field(
        1.0,
        description=(
            "Share of unit_price_usd paid when the unit is ordered; the rest is paid when it "
            "arrives, lead time later (1, the default: all at order; no effect without a lead time)."
        ),
    )
    max_units_per_period: UnitsPerPeriod | None = None
    performance: dict[str, Performance] = Field(default_factory=dict)
    sources: list[str] = Field(default_factory=list, description="Where the figures come from.")
    existing_only: bool = Field(
        False,
        description=(
            "Never bought: only the sites' existing units of it serve (no purchase in the model). "
            "A site's existing fleet may name a default-catalog id that hardware[] does not list: "
            "the catalog entry then joins hardware[] so, and a parsed request shows it with true."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _from_catalog(cls, data: Any) -> Any:
        if isinstance(data, dict) and "catalog" in data:
            from solver.catalog import catalog_hardware  # local: catalog imports this module
            from solver.errors import ValueErrorAt, pointer_token, quoted

            ref = data["catalog"]
            base = catalog_hardware(ref) if isinstance(ref, str) else None
            if base is None:
                raise ValueError(f"catalog: unknown catalog entry {quoted(ref)}")
            merged = dict(base)
            if data.get("existing_only") is True:
                # never bought: the entry's purchase terms mean nothing (an item may still give them)
                for name in PURCHASE_ONLY_FIELDS:
                    merged.pop(name, None)
            if "lead_time_periods" in data or "lead_time_months" in data:
                # the item states its own lead time, in either unit: it replaces the entry's
                merged.pop("lead_time_periods", None)
                merged.pop("lead_time_months", None)
            given = {k: v for k, v in data.items() if k != "catalog"}
            curves = given.get("performance")
            if isinstance(curves, dict):
                # per model: a model given replaces that model's whole curve, null removes it,
                # the entry's other models stay
                performance = dict(base.get("performance") or {})
                for model, curve in curves.items():
                    if curve is not None:
                        performance[model] = curve
                    elif model in performance:
                        del performance[model]
                    else:
                        raise ValueErrorAt(
                            f"/performance/{pointer_token(model)}",
                            f"null removes a model of the catalog entry, and {quoted(ref)} has no "
                            f"{quoted(model)} (it has: {', '.join(sorted(base.get('performance') or {}))})",
                        )
                given["performance"] = performance
            merged.update(given)
            return merged
        return data

    def lead_periods(self, period_months: int) -> int:
        """The lead time in whole periods of ``period_months`` months (0 when none is given)."""
        if self.lead_time_periods is not None:
            return self.lead_time_periods
        if self.lead_time_months is not None:
            return periods_of_months(self.lead_time_months, period_months)
        return 0


PURCHASE_ONLY_FIELDS: tuple[str, ...] = (
    "lead_time_periods",
    "lead_time_months",
    "deposit_fraction",
    "max_units_per_period",
)
"""Hardware fields that only a purchase reads (an existing_only item's have no effect)."""


def existing_catalog_item(entry_id: str) -> Hardware | None:
    """Default-catalog entry ``entry_id`` as existing-only hardware (None: no such entry).

    A site's existing fleet that names a catalog id missing from ``hardware[]`` gets this item
    (:meth:`PlanRequest._existing_from_catalog`); the entry's purchase terms are left out.
    """
    from solver.catalog import catalog_hardware  # local, as in Hardware._from_catalog

    if catalog_hardware(entry_id) is None:
        return None
    return Hardware.model_validate({"catalog": entry_id, "existing_only": True})


def periods_of_months(months: float, period_months: int) -> int:
    """``months`` in whole periods: the nearest whole number, a tie rounded up (3 months is 1
    quarter, 3 monthly periods, 1 half-year and 0 years; 6 months is 1 year).

    The model counts a unit as serving whole periods from its arrival period on, so any
    whole number is off by up to half a period; the nearest keeps the error within that, where
    rounding up would turn a 3-month lead into a whole year in an annual plan.
    """
    q = months / period_months
    n = math.floor(q)
    return n + 1 if q - n >= 0.5 - 1e-9 else n


class Workload(Strict):
    id: str = Field(..., min_length=1, max_length=64)
    model: str = Field(..., min_length=1)
    min_tokens_per_s_per_user: float = Field(..., gt=0, le=1e6)
    demand_tokens_per_s: TpsPerPeriod
    demand_growth_per_year: float = Field(0.0, gt=-1, le=100)
    min_service_fraction: Fraction = 1.0
    unmet_penalty_usd_per_million_tokens: Rate = 0.0
    value_usd_per_million_tokens: Rate = 0.0
    weight: Weight = 1.0


class Policy(Strict):
    max_vendor_share: dict[str, Fraction] = Field(default_factory=dict)
    min_vendor_share: dict[str, Fraction] = Field(default_factory=dict)
    reserve_margin: float = Field(0.0, ge=0, le=10)
    min_total_served_fraction: Fraction | None = Field(
        None,
        description="Serve at least this fraction of all demand (million tokens summed over "
        "workloads and periods, unweighted). Used by the cost-vs-served frontier.",
    )


class Warrants(Strict):
    equity_fraction_max: Fraction
    full_vest_spend_usd: float = Field(..., ge=1, le=MAX_USD)
    company_valuation_usd: Usd


class DiscountTier(Strict):
    """An incremental volume discount: a rebate on the spend above a threshold."""

    above_spend_usd: float = Field(
        ...,
        gt=0,
        le=MAX_USD,
        description="Nominal spend with the vendor over the horizon above which this tier starts.",
    )
    discount: float = Field(
        ...,
        gt=0,
        lt=1,
        description="Fraction of the spend between this tier's threshold and the next one's (or "
        "without end, for the last tier) that the vendor rebates at the horizon end.",
    )


class Contract(Strict):
    vendor: str = Field(..., min_length=1)
    min_spend_usd: Usd = Field(0.0, description="Take-or-pay commitment over the horizon.")
    warrants: Warrants | None = None
    discount_tiers: list[DiscountTier] = Field(
        default_factory=list,
        max_length=20,
        description="Incremental volume discounts, thresholds strictly increasing. They make the "
        "plan a mixed-integer program (one binary per tier).",
    )


PULP_BACKENDS: dict[str, str] = {
    "cbc": "PULP_CBC_CMD",
    "glpk": "GLPK_CMD",
    "gurobi": "GUROBI",
    "cplex": "CPLEX_PY",
    "scip": "SCIP_CMD",
    "xpress": "XPRESS_PY",
    "copt": "COPT",
    "mosek": "MOSEK",
}
"""Backends reached through PuLP, by PuLP's solver name (CBC ships with PuLP; the others solve
when installed on the machine)."""
Backend = Literal["highs", "cbc", "glpk", "gurobi", "cplex", "scip", "xpress", "copt", "mosek"]


class SolverOptions(Strict):
    backend: Backend = Field(
        "highs",
        description="'highs' (default: the model handed to HiGHS as arrays) or a solver reached "
        "through PuLP: 'cbc' (ships with PuLP), 'glpk', 'gurobi', 'cplex', 'scip', 'xpress', "
        "'copt', 'mosek' when installed here (otherwise the request is refused at this field).",
    )
    integer: bool = False
    method: Literal["auto", "simplex", "ipm", "pdlp"] = Field(
        "auto",
        description="HiGHS's LP method: 'auto' (dual simplex at every size: on capplan's models, "
        "few rows and many columns, it beat the interior point method 11x at 100k columns, "
        "docs/performance.md), 'simplex', 'ipm' (interior point, with crossover: exact duals) or "
        "'pdlp' (first-order, no crossover: approximate solutions and duals, for very large LPs). "
        "Mixed-integer models always use HiGHS's branch and bound.",
    )
    time_limit_s: float = Field(60.0, gt=0, le=86400)
    mip_gap: float = Field(1e-4, ge=0, le=1)


class PlanRequest(Strict):
    name: str = Field("plan", max_length=200)
    horizon: Horizon
    economics: Economics = Field(default_factory=Economics)
    objective: Objective = Field(default_factory=Objective)
    budget: Budget = Field(default_factory=Budget)
    sites: list[Site] = Field(..., min_length=1)
    hardware: list[Hardware] = Field(..., min_length=1)
    workloads: list[Workload] = Field(..., min_length=1)
    policy: Policy = Field(default_factory=Policy)
    contracts: list[Contract] = Field(default_factory=list)
    solver: SolverOptions = Field(default_factory=SolverOptions)

    @model_validator(mode="after")
    def _existing_from_catalog(self) -> PlanRequest:
        """An existing fleet naming a default-catalog id that ``hardware`` does not list adds
        that entry to ``hardware``, existing-only (:func:`existing_catalog_item`), once, after
        the items given and in the order first named.  An id listed in ``hardware`` is that
        item (purchasable unless it says otherwise); an id in neither stays unknown (a 422 at
        the existing entry, :mod:`solver.validate`)."""
        ids = {h.id for h in self.hardware}
        for site in self.sites:
            for e in site.existing:
                if e.hardware in ids:
                    continue
                item = existing_catalog_item(e.hardware)
                if item is not None:
                    self.hardware.append(item)
                    ids.add(item.id)
        return self


# ----------------------------------------------------------------------------- results


class Out(BaseModel):
    """Base of result models (extra fields rejected so the schema stays exact).

    A result is always written whole (``model_dump_json``: null and empty values included),
    so its serialization schema (the one a response states) lists every field as required;
    request models keep the fields that have defaults optional."""

    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class ObjectiveOut(Out):
    kind: ObjectiveKind
    value: float | None = Field(None, description="Objective value (stage one for max_served).")


class Summary(Out):
    npv_cost_usd: float = 0.0
    capex_usd: float = Field(0.0, description="Nominal capex over the horizon.")
    opex_usd: float = Field(0.0, description="Nominal opex over the horizon.")
    residual_value_usd: float = Field(0.0, description="Nominal residual value at the end.")
    contract_shortfall_usd: float = 0.0
    warrant_value_usd: float = 0.0
    contract_discount_usd: float = Field(0.0, description="Volume-discount rebates earned (nominal).")
    served_fraction: float = 0.0
    served_million_tokens: float = 0.0
    demand_million_tokens: float = 0.0
    cost_per_million_tokens_usd: float | None = Field(
        None, description="Levelised: NPV cost / discounted million tokens served."
    )
    peak_power_mw: dict[str, float] = Field(default_factory=dict)
    units_acquired: dict[str, float] = Field(default_factory=dict)
    it_power_share_by_vendor: dict[str, float] = Field(default_factory=dict)


class SitePeriod(Out):
    id: str
    power_used_mw: float
    power_available_mw: float
    expansion_started_mw: float = 0.0


class FleetRow(Out):
    site: str
    hardware: str
    acquired: float
    existing: float = 0.0
    installed: float
    allocated: dict[str, float] = Field(default_factory=dict)


class WorkloadPeriod(Out):
    id: str
    demand_tokens_per_s: float = Field(
        description="The period's average demand rate (its tokens over its seconds); with growth, "
        "the average of the continuous curve over the period."
    )
    demand_peak_tokens_per_s: float = Field(
        0.0,
        description="The highest demand rate within the period (its end with growth > 0, its start "
        "with decline; the average without growth). Capacity is sized to it: capacity >= "
        "(1 + reserve_margin) x served x peak / average.",
    )
    served_tokens_per_s: float = Field(description="Average rate served (<= demand).")
    capacity_tokens_per_s: float
    unmet_tokens_per_s: float = 0.0


class PeriodOut(Out):
    label: str
    discount_factor: float = 1.0
    capex_usd: float = 0.0
    opex_usd: float = 0.0
    capex_breakdown: dict[str, float] = Field(default_factory=dict)
    opex_breakdown: dict[str, float] = Field(default_factory=dict)
    sites: list[SitePeriod] = Field(default_factory=list)
    fleet: list[FleetRow] = Field(default_factory=list)
    workloads: list[WorkloadPeriod] = Field(default_factory=list)


class SitePrice(Out):
    site: str
    period: str
    value: float


class HardwarePrice(Out):
    hardware: str
    period: str
    value: float


class WorkloadPrice(Out):
    workload: str
    period: str
    value: float


class PeriodPrice(Out):
    period: str
    value: float


class VendorSharePrice(Out):
    vendor: str
    period: str
    limit: Literal["max", "min"] = Field(
        ...,
        description="Which limit: policy.max_vendor_share (relief: raise it) or min_vendor_share (lower it).",
    )
    value: float


class ShadowPrices(Out):
    basis: Literal["lp", "integer_fixed"] = Field(
        "lp",
        description="'lp': duals of the LP; 'integer_fixed': duals of the LP with the discount tiers "
        "reached fixed (a plan with vendor discount tiers: marginal values while no tier changes). "
        "Integer plans (solver.integer) have no shadow prices.",
    )
    objective_unit: str = Field("usd", description="Unit of the objective the prices move.")
    power_usd_per_mw: list[SitePrice] = Field(
        default_factory=list,
        description="Present-value (NPV) $ of objective per MW of facility power in that one period "
        "alone; the sum from a period on prices a MW from then to the horizon end (between the "
        "gain of +1 MW and the cost of -1 MW where the LP is degenerate: docs/formulation.md).",
    )
    budget_per_usd: float | None = Field(
        None, description="NPV $ of objective per nominal $ of capex budget."
    )
    budget_per_period_per_usd: list[PeriodPrice] = Field(
        default_factory=list, description="NPV $ of objective per nominal $ of that period's capex budget."
    )
    total_budget_per_usd: float | None = Field(
        None, description="NPV $ of objective per nominal $ of budget.total_usd (capex + opex)."
    )
    total_budget_per_period_per_usd: list[PeriodPrice] = Field(
        default_factory=list, description="NPV $ of objective per nominal $ of budget.total_per_period_usd."
    )
    vendor_share_per_percentage_point: list[VendorSharePrice] = Field(
        default_factory=list,
        description="NPV $ of objective per percentage point (0.01) of relief of a vendor-share limit "
        "in a period: a maximum raised, a minimum lowered. >= 0.",
    )
    supply_per_unit: list[HardwarePrice] = Field(
        default_factory=list,
        description="NPV $ of objective per unit more that may be bought in that period.",
    )
    demand_usd_per_million_tokens: list[WorkloadPrice] = Field(
        default_factory=list,
        description="Nominal (not discounted) $ per million tokens more demanded in that period.",
    )


PricedRelaxedLimit = Literal[
    "power", "budget", "budget_period", "total_budget", "total_budget_period", "supply"
]
"""The limit families that publish a shadow price and that the diagnosis relaxes (among the
registry's price kinds, :func:`solver.limits.price_kinds`, and the limits of
:data:`DiagnosedLimit`)."""
DiagnosedLimit = Literal["min_service", PricedRelaxedLimit, "vendor_share", "served_total"]


class BindingLimit(Out):
    """A limit at its bound, structured (docs/formulation.md, "Binding limits"): its family
    and the ids of its subject (null off the family's axes)."""

    family: str = Field(
        ...,
        description="The limit family: power, expansion_cap, budget, budget_period, total_budget, "
        "total_budget_period, supply, vendor_max, vendor_min, min_service or served_total.",
    )
    site: str | None = None
    hardware: str | None = None
    vendor: str | None = None
    workload: str | None = None
    period: str | None = None
    slack: float | None = Field(
        None,
        description="The row's slack in its natural unit (0 at the bound); null when the solver gave none.",
    )
    price: float | None = Field(
        None,
        description="Its published shadow price (shadow_prices, same unit), or null: the family has "
        "none, or the plan has no shadow prices.",
    )


class DiagnosisEntry(Out):
    option: Literal["add_capacity", "reduce_service", "relax_all"] = Field(
        "relax_all",
        description="Which way out this entry belongs to: 'add_capacity' (meet the minimum "
        "service by moving power, budget (capex or total), supply or vendor-share limits), 'reduce_service' "
        "(keep the limits, serve less), or 'relax_all' (only both together work).",
    )
    limit: DiagnosedLimit
    site: str | None = None
    hardware: str | None = None
    workload: str | None = None
    vendor: str | None = None
    period: str | None = None
    amount: float
    unit: str
    message: str


class ContractOut(Out):
    vendor: str
    spend_usd: float
    min_spend_usd: float
    shortfall_usd: float
    equity_fraction: float
    equity_value_usd: float
    net_spend_usd: float = Field(
        0.0,
        description="spend_usd minus the residual value of the vendor's units bought in the horizon: "
        "the spend discount tiers and warrant vesting count.",
    )
    discount_usd: float = Field(0.0, description="Volume-discount rebate earned on net_spend_usd (nominal).")
    discount_tiers_reached: int = Field(0, description="How many discount tiers the spend passed.")


class IdlePurchase(Out):
    """Purchased units of one hardware at one site that stand idle, some from the period they
    arrive (see docs/formulation.md, "Warnings")."""

    site: str
    hardware: str
    units: float = Field(..., description="Most purchased units idle in one period.")
    capex_usd: float = Field(..., description="units × unit price (nominal).")
    opex_usd: float = Field(
        ..., description="Nominal opex of the idle purchased units, summed over the periods they are idle."
    )
    idle_on_arrival_units: float = Field(
        ...,
        description="Units that stand idle in the period they arrive (the newest units counted "
        "idle first), summed over periods: bought to stand idle, at least at first.",
    )
    periods: list[str] = Field(..., description="Periods in which purchased units stand idle.")
    idle_units: dict[str, float] = Field(..., description="Idle purchased units by period label.")
    causes: list[str] = Field(
        default_factory=list,
        description="Limits that likely make the plan buy them: 'take_or_pay <vendor>' (the "
        "commitment not exceeded), 'vendor_max <vendor>', 'vendor_min <vendor>' (binding in an idle "
        "period), 'warrants <vendor>' (still vesting), or for units bought ahead of use "
        "'budget_period', 'total_budget_period', 'supply <hardware>' (binding in a later period); "
        "empty when the model names none.",
    )


class SolverOut(Out):
    backend: str
    integer: bool
    seconds: float = 0.0
    build_seconds: float = 0.0
    variables: int = 0
    constraints: int = 0
    mip_gap: float | None = None
    mixed_integer: bool = Field(
        False,
        description="The model had integer columns (integer mode, or contract discount tiers): "
        "shadow prices then come from the LP with those decisions fixed.",
    )
    detail: str = ""
    worker: str | None = Field(
        None, description="Where the solve ran, when the service knows (Ray: 'ray:<node id>')."
    )
    warm_started: bool = Field(
        False,
        description="HiGHS started the main solve from the basis of an earlier LP of the same "
        "structure (a sweep's or frontier's earlier scenario in the same worker).",
    )


class Plan(Out):
    id: str = ""
    name: str = ""
    status: PlanStatus
    period_months: int | None = Field(
        None, description="Length of a period in months (the request's horizon.period_months)."
    )
    objective: ObjectiveOut
    summary: Summary = Field(default_factory=Summary)
    periods: list[PeriodOut] = Field(default_factory=list)
    shadow_prices: ShadowPrices | None = Field(
        None,
        description="Null for a plan without a solution, and for integer plans (solver.integer): "
        "re-solve with the limit moved to value it.",
    )
    binding: list[str] = Field(
        default_factory=list,
        description="The binding limits as words ('power tx-1 2027-04'), kept for compatibility: read "
        "binding_limits instead (ids may contain spaces).",
    )
    binding_limits: list[BindingLimit] = Field(
        default_factory=list, description="The limits at their bound, structured (binding is made from them)."
    )
    diagnosis: list[DiagnosisEntry] = Field(default_factory=list)
    contracts: list[ContractOut] = Field(default_factory=list)
    idle_purchases: list[IdlePurchase] = Field(
        default_factory=list,
        description="Purchased units that stand idle, per site and hardware (a warning too).",
    )
    solver: SolverOut
    warnings: list[str] = Field(default_factory=list)
