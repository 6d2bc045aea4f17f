"""What a sweep or frontier returns, and the pure functions of its rows.

:func:`row_from_plan` (a scenario's headline numbers), :func:`tornado` (one bar per parameter of
a one_at_a_time sweep) and :func:`knee_of` (the frontier's knee) need no solver: the report
draws from rows with them, and rows from elsewhere (a stored job) are judged by the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from solver.model import HOURS_PER_YEAR
from solver.scenarios.specs import Mode, SweepValue
from solver.schema import Plan, PlanStatus, SitePrice


class _Out(BaseModel):
    # as solver.schema.Out: written whole, so a response's schema requires every field
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class ScenarioRow(_Out):
    index: int
    values: dict[str, SweepValue] = Field(default_factory=dict, description="The value used for each path.")
    factors: dict[str, float] = Field(default_factory=dict, description="Scale factor used, per path.")
    parameter: str | None = Field(
        None, description="one_at_a_time: the parameter moved in this scenario (None: the base)."
    )
    plan_id: str
    status: PlanStatus
    objective: float | None = None
    npv_cost_usd: float | None = None
    served_fraction: float | None = None
    cost_per_million_tokens_usd: float | None = None
    units_acquired: dict[str, float] = Field(default_factory=dict)
    it_power_share_by_vendor: dict[str, float] = Field(default_factory=dict)
    power_shadow_price_max: SitePrice | None = Field(
        None,
        description=(
            "The largest power shadow price (NPV $ per MW in that one period; weighted million "
            "tokens for max_served): the most binding site and period."
        ),
    )
    binding: list[str] = Field(default_factory=list)
    error: str | None = None
    warm_start: bool = Field(
        False,
        description="The scenario's LP started from the basis of an earlier scenario of the same "
        "structure (same answer, fewer iterations); false: solved from scratch.",
    )


class NoValueSetting(_Out):
    """A setting of a tornado parameter whose scenario gave no value of the bar's metric."""

    value: SweepValue = Field(None, description="The parameter's value in that scenario.")
    factor: float | None = Field(None, description="Its scale factor (scale parameters only).")
    status: PlanStatus = Field(
        ...,
        description=(
            "The scenario's status: infeasible, unbounded, failed or time_limit (no solution); "
            "optimal or feasible when the plan has no value of this metric (a cost per million "
            "tokens with nothing served)."
        ),
    )
    plan_id: str | None = None
    error: str | None = Field(None, description="Why the scenario has no plan at all, if it has none.")


class TornadoBar(_Out):
    """One parameter of a one_at_a_time sweep.

    ``low``/``high`` describe only the settings whose scenario has a value of the metric;
    the settings without one (an infeasible plan, a failed solve) are listed in ``no_value``
    and are left out of ``low``, ``high`` and ``swing``.  A bar with any of them ranks
    before every bar without: its effect is unbounded, not small.
    """

    path: str
    metric: str
    base: float | None = Field(..., description="The metric in the base scenario (null: it has none).")
    low_value: SweepValue = Field(
        None,
        description=(
            "The lowest setting (by factor for scale, else by value) whose scenario has a value of "
            "the metric; null when no setting has one."
        ),
    )
    low_factor: float | None = Field(None, description="That setting's scale factor (scale parameters).")
    low: float | None = Field(None, description="The metric at low_value.")
    high_value: SweepValue = Field(
        None,
        description=(
            "The highest setting with a value of the metric (the same as low_value when only one "
            "setting has one)."
        ),
    )
    high_factor: float | None = Field(None, description="That setting's scale factor (scale parameters).")
    high: float | None = Field(None, description="The metric at high_value.")
    swing: float = Field(
        0.0,
        description=(
            "max − min of the metric over the base and every setting that has a value (0 when "
            "none has); the no_value settings are not in it."
        ),
    )
    no_value: list[NoValueSetting] = Field(
        default_factory=list,
        description=(
            "The settings whose scenario has no value of the metric (infeasible, unbounded, "
            "failed, time limit without a solution), lowest setting first. A bar with any ranks "
            "before every bar without one."
        ),
    )


class SweepResult(_Out):
    mode: Mode
    total: int
    done: int
    cancelled: bool = False
    rows: list[ScenarioRow] = Field(default_factory=list)
    tornado: list[TornadoBar] | None = None


class FrontierRow(ScenarioRow):
    target_served_fraction: float | None = Field(
        ...,
        description=(
            "The served fraction this point aims at: an end's is the fraction its plan serves; "
            "null for an end without a plan (infeasible, failed, ...), whose target is not known."
        ),
    )
    discounted_million_tokens_served: float | None = Field(
        None,
        description=(
            "Σ_t d_t·(million tokens served in period t): the denominator of the levelised "
            "cost_per_million_tokens_usd (NPV cost / this)."
        ),
    )
    marginal_cost_usd_per_million_tokens: float | None = Field(
        None,
        description=(
            "Levelised, on the basis of cost_per_million_tokens_usd: (NPV cost − previous "
            "point's) / (discounted million tokens served − previous point's). Null at the first "
            "point and where the discounted tokens served did not grow."
        ),
    )
    knee: bool = False


class FrontierResult(_Out):
    points: int
    total: int
    done: int
    cancelled: bool = False
    low_served_fraction: float | None = None
    high_served_fraction: float | None = None
    knee_index: int | None = None
    rows: list[FrontierRow] = Field(default_factory=list)
    error: str | None = Field(None, description="Why there is no curve (an end is infeasible, failed …).")
    note: str | None = Field(None, description="E.g. the served fraction cannot vary: the two ends only.")


def row_from_plan(p: Plan | None, index: int, plan_id: str, error: str | None = None) -> ScenarioRow:
    """The headline numbers of one scenario's plan."""
    if p is None:
        return ScenarioRow(index=index, plan_id=plan_id, status="failed", error=error or "no plan")
    solved = p.status in ("optimal", "feasible")
    s = p.summary
    top: SitePrice | None = None
    if p.shadow_prices is not None:
        for sp in p.shadow_prices.power_usd_per_mw:
            if sp.value > 0 and (top is None or sp.value > top.value):
                top = sp
    return ScenarioRow(
        index=index,
        plan_id=p.id,
        status=p.status,
        objective=p.objective.value,
        npv_cost_usd=s.npv_cost_usd if solved else None,
        served_fraction=s.served_fraction if solved else None,
        cost_per_million_tokens_usd=s.cost_per_million_tokens_usd if solved else None,
        units_acquired=dict(s.units_acquired),
        it_power_share_by_vendor=dict(s.it_power_share_by_vendor),
        power_shadow_price_max=top,
        binding=list(p.binding),
        error=error,
        warm_start=p.solver.warm_started,
    )


_UNFINISHED = ("queued", "running")


def _field(row: ScenarioRow | Mapping[str, Any], key: str) -> Any:
    return row.get(key) if isinstance(row, Mapping) else getattr(row, key, None)


def tornado(
    rows: Sequence[ScenarioRow] | Sequence[Mapping[str, Any]],
    paths: Sequence[str] | None = None,
    metric: str = "objective",
) -> list[TornadoBar]:
    """One bar per parameter of a one_at_a_time sweep, sorted by consequence.

    ``rows`` are ScenarioRows or their JSON dicts (missing keys tolerated; rows still queued
    or running, and rows with neither a status nor a value, are left out); ``paths`` default
    to the rows' moved parameters, in order.
    A bar's ``low``/``high`` are the metric at the lowest and highest setting (by factor for
    ``scale``, by value for ``values``) among the settings whose scenario has a value of the
    metric; the others (infeasible, failed, …) are listed in ``no_value`` with their status.
    Bars with a ``no_value`` setting come first (their effect is unbounded), then the rest by
    swing, largest first; ties keep the parameters' order.
    """
    base_row = next((r for r in rows if _field(r, "parameter") is None), None)
    base = _field(base_row, metric) if base_row is not None else None
    if paths is None:
        paths = list(dict.fromkeys(str(_field(r, "parameter")) for r in rows if _field(r, "parameter")))
    bars = []
    for path in paths:

        def order(r: ScenarioRow | Mapping[str, Any], path: str = path) -> int | float:
            # compared as they are: an integer setting beyond the float range (a lead time
            # of 10**400 periods) has no float, and int/float comparisons are exact
            f = (_field(r, "factors") or {}).get(path)
            if isinstance(f, int | float) and not isinstance(f, bool):
                return f
            v = (_field(r, "values") or {}).get(path)
            return v if isinstance(v, int | float) and not isinstance(v, bool) else 0

        finished = sorted(
            (r for r in rows if _field(r, "parameter") == path and _field(r, "status") not in _UNFINISHED),
            key=order,
        )
        moved = [r for r in finished if _field(r, metric) is not None]
        bar = TornadoBar(path=path, metric=metric, base=base)
        bar.no_value = [
            NoValueSetting(
                value=(_field(r, "values") or {}).get(path),
                factor=(_field(r, "factors") or {}).get(path),
                status=_field(r, "status"),
                plan_id=_field(r, "plan_id"),
                error=_field(r, "error"),
            )
            for r in finished
            if _field(r, metric) is None and _field(r, "status") is not None
        ]
        if moved:
            lo, hi = moved[0], moved[-1]
            bar.low_value, bar.low = (_field(lo, "values") or {}).get(path), float(_field(lo, metric))
            bar.high_value, bar.high = (_field(hi, "values") or {}).get(path), float(_field(hi, metric))
            bar.low_factor = (_field(lo, "factors") or {}).get(path)
            bar.high_factor = (_field(hi, "factors") or {}).get(path)
            outcomes = [float(_field(r, metric)) for r in moved] + ([float(base)] if base is not None else [])
            bar.swing = max(outcomes) - min(outcomes)
        bars.append(bar)
    bars.sort(key=lambda b: (not b.no_value, -b.swing))
    return bars


def knee_of(xs: Sequence[float], ys: Sequence[float]) -> int | None:
    """Index of the point farthest below the chord between the ends (both axes scaled to
    [0, 1]); None when the curve is straight within 1e-6."""
    if len(xs) < 3:
        return None
    dx, dy = xs[-1] - xs[0], ys[-1] - ys[0]
    if dx <= 0 or abs(dy) <= 1e-12 * max(1.0, abs(ys[0])):
        return None
    best, arg = 1e-6, None
    for k in range(1, len(xs) - 1):
        u = (xs[k] - xs[0]) / dx
        v = (ys[k] - ys[0]) / dy
        gap = u - v  # chord minus curve, for a rising cost curve
        if gap > best:
            best, arg = gap, k
    return arg


def discounted_million_tokens(p: Plan | None) -> float | None:
    """Σ_t d_t·(million tokens served in t) of a plan: the denominator of its levelised
    ``summary.cost_per_million_tokens_usd``."""
    if p is None or p.period_months is None:
        return None
    mt = HOURS_PER_YEAR * 3600 * p.period_months / 12 / 1e6
    return sum(per.discount_factor * w.served_tokens_per_s * mt for per in p.periods for w in per.workloads)
