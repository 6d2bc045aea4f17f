"""What changed between two plans: ``diff_plans(a, b)``.

Every comparison is ``b − a``.  Headline numbers and cost components are always listed
(with their delta); the long tables (units by site, hardware and period; shadow prices)
list only the entries that changed by more than a relative tolerance, so a diff of two
similar plans stays short.  Periods are matched by label, sites, hardware and workloads by
id: an entry present in one plan only appears with ``None`` on the other side.

A delta is ``None`` whenever its two sides are not in the same unit or one side has no
value: the objective of plans with different objective kinds, shadow prices in different
objective units, the summary, cost components and vendor shares of a plan that was not
solved.  Plans on different period grids (an annual against a quarterly plan) get no
per-period entries at all (a note says so): a label names a year in one and a quarter in
the other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from solver.limits import price_kinds, price_rows, who
from solver.schema import Plan, PlanStatus, PricedRelaxedLimit

REL_TOL = 1e-6
"""Changes smaller than this, relative to max(1, |a|, |b|), count as no change."""


class _Out(BaseModel):
    # as solver.schema.Out: written whole, so a response's schema requires every field
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class Change(_Out):
    a: float | None
    b: float | None
    delta: float | None = Field(None, description="b − a (None when a side has no value).")


class UnitChange(_Out):
    site: str
    hardware: str
    period: str
    acquired: Change
    installed: Change


PriceKind = Literal[PricedRelaxedLimit, "demand", "vendor_share_max", "vendor_share_min"]
"""The registry's price kinds (:func:`solver.limits.price_kinds`), in its order."""


class PriceChange(_Out):
    kind: PriceKind
    key: str | None = Field(None, description="Site, hardware, workload or vendor id (None for the budgets).")
    period: str | None = None
    unit: str
    change: Change


class PlanDiff(_Out):
    a: str
    b: str
    status: dict[str, PlanStatus]
    objective_kind: dict[str, str]
    objective: Change
    summary: dict[str, Change]
    cost_components: dict[str, Change] = Field(
        default_factory=dict,
        description="Nominal totals over the horizon: 'capex/hardware', 'opex/energy', …",
    )
    units_acquired: dict[str, Change] = Field(
        default_factory=dict, description="By hardware, over the horizon."
    )
    units: list[UnitChange] = Field(
        default_factory=list, description="Only the (site, hardware, period) that changed."
    )
    it_power_share_by_vendor: dict[str, Change] = Field(default_factory=dict)
    peak_power_mw: dict[str, Change] = Field(default_factory=dict)
    binding_added: list[str] = Field(default_factory=list, description="Binding in b, not in a.")
    binding_removed: list[str] = Field(default_factory=list, description="Binding in a, not in b.")
    shadow_prices: list[PriceChange] = Field(default_factory=list, description="Only those that changed.")
    notes: list[str] = Field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether anything but the ids differs."""
        return bool(
            self.units
            or self.binding_added
            or self.binding_removed
            or self.shadow_prices
            or self.status["a"] != self.status["b"]
            or any(_moved(c) for c in self.summary.values())
            or any(_moved(c) for c in self.cost_components.values())
        )


def _differs(a: float | None, b: float | None, tol: float = REL_TOL) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    return abs(b - a) > tol * max(1.0, abs(a), abs(b))


def _moved(c: Change) -> bool:
    return _differs(c.a, c.b)


def change(a: float | None, b: float | None) -> Change:
    return Change(a=a, b=b, delta=None if a is None or b is None else b - a)


def _pairs(
    a: Mapping[str, float] | None, b: Mapping[str, float] | None, default: float | None = None
) -> dict[str, Change]:
    """Entry by entry; a side that is None (an unsolved plan) has no value anywhere."""
    sa, sb = a or {}, b or {}
    keys = list(sa) + [k for k in sb if k not in sa]
    return {
        k: change(None if a is None else sa.get(k, default), None if b is None else sb.get(k, default))
        for k in keys
    }


_SUMMARY_FIELDS = (
    "npv_cost_usd",
    "capex_usd",
    "opex_usd",
    "residual_value_usd",
    "contract_shortfall_usd",
    "warrant_value_usd",
    "contract_discount_usd",
    "served_fraction",
    "served_million_tokens",
    "demand_million_tokens",
    "cost_per_million_tokens_usd",
)


def _solved(p: Plan) -> bool:
    return p.status in ("optimal", "feasible")


def _cost_components(p: Plan) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for pr in p.periods:
        for k, v in pr.capex_breakdown.items():
            out[f"capex/{k}"] += v
        for k, v in pr.opex_breakdown.items():
            out[f"opex/{k}"] += v
    return dict(out)


def _fleet(p: Plan) -> dict[tuple[str, str, str], tuple[float, float]]:
    out: dict[tuple[str, str, str], tuple[float, float]] = {}
    for pr in p.periods:
        for row in pr.fleet:
            out[(row.site, row.hardware, pr.label)] = (row.acquired, row.installed)
    return out


PriceKey = tuple[str, str | None, str | None]


def _prices(p: Plan) -> dict[PriceKey, tuple[float | None, str]]:
    """Every published price of ``p`` by (kind, subject id, period), with its unit in words."""
    sp = p.shadow_prices
    if sp is None:
        return {}
    unit = "per unit of objective" if sp.objective_unit != "usd" else "usd"
    out: dict[PriceKey, tuple[float | None, str]] = {}
    for row in price_rows(sp):
        price = row.family.price
        assert price is not None
        out[(price.kind, who(row.family, row.subject) or None, row.subject.period)] = (
            row.value,
            f"{unit} per {price.per}",
        )
    return out


def _month_index(label: str) -> int | None:
    year, _, month = label.partition("-")
    return int(year) * 12 + int(month) - 1 if year.isdigit() and month.isdigit() else None


def _grid(p: Plan) -> tuple[int | None, int | None]:
    """(the period length in months, the first period's month index); None where the plan
    does not tell (a plan stored before plans carried ``period_months``; odd labels)."""
    first = _month_index(p.periods[0].label) if p.periods else None
    return p.period_months, first


def _describe_periods(p: Plan) -> str:
    step, _ = _grid(p)
    n = len(p.periods)
    length = f" of {step} months" if step is not None else ""
    return f"{n} period{'s' if n != 1 else ''}{length} from {p.periods[0].label}"


def _same_grid(a: Plan, b: Plan) -> bool:
    """Whether period labels mean the same span in both plans: the same period length with
    starts a whole number of periods apart, or (lengths unknown) identical labels.  A plan
    without periods (not solved) fits any grid."""
    if not a.periods or not b.periods:
        return True
    (step_a, first_a), (step_b, first_b) = _grid(a), _grid(b)
    if step_a is not None and step_b is not None:
        return (
            step_a == step_b > 0
            and first_a is not None
            and first_b is not None
            and (first_a - first_b) % step_a == 0
        )
    return [p.label for p in a.periods] == [p.label for p in b.periods]


def _ordered(keys: Iterable[tuple[str, ...]], periods: list[str]) -> list[tuple[str, ...]]:
    rank = {label: i for i, label in enumerate(periods)}
    return sorted(keys, key=lambda k: (k[:-1], rank.get(k[-1], len(rank)), k[-1]))


def diff_plans(a: Plan, b: Plan, tol: float = REL_TOL) -> PlanDiff:
    """Compare plan ``b`` against plan ``a`` (every delta is b − a)."""
    notes: list[str] = []
    per_period = _same_grid(a, b)
    if not per_period:
        notes.append(
            f"the plans have different period grids (a: {_describe_periods(a)}; b: {_describe_periods(b)}): "
            "per-period entries (units by period, per-period shadow prices) are not compared"
        )
    elif [p.label for p in a.periods] != [p.label for p in b.periods] and a.periods and b.periods:
        notes.append("the plans cover different periods: entries are matched by period label")
    same_kind = a.objective.kind == b.objective.kind
    if not same_kind:
        notes.append(
            f"objectives differ ({a.objective.kind} vs {b.objective.kind}): objective values are not "
            "comparable (no delta)"
        )
    sa, sb = a.summary, b.summary
    summary = {
        f: change(getattr(sa, f) if _solved(a) else None, getattr(sb, f) if _solved(b) else None)
        for f in _SUMMARY_FIELDS
    }
    out = PlanDiff(
        a=a.id,
        b=b.id,
        status={"a": a.status, "b": b.status},
        objective_kind={"a": a.objective.kind, "b": b.objective.kind},
        objective=Change(a=a.objective.value, b=b.objective.value)
        if not same_kind
        else change(a.objective.value, b.objective.value),
        summary=summary,
        cost_components=_pairs(
            _cost_components(a) if _solved(a) else None, _cost_components(b) if _solved(b) else None, 0.0
        ),
        units_acquired=_pairs(sa.units_acquired, sb.units_acquired, 0.0),
        it_power_share_by_vendor=_pairs(
            sa.it_power_share_by_vendor if _solved(a) else None,
            sb.it_power_share_by_vendor if _solved(b) else None,
            0.0,
        ),
        peak_power_mw=_pairs(sa.peak_power_mw, sb.peak_power_mw),
        binding_added=[x for x in b.binding if x not in set(a.binding)],
        binding_removed=[x for x in a.binding if x not in set(b.binding)],
        notes=notes,
    )
    labels = [p.label for p in a.periods] + [
        p.label for p in b.periods if p.label not in {q.label for q in a.periods}
    ]
    fa, fb = (_fleet(a), _fleet(b)) if per_period else ({}, {})
    for key in _ordered(set(fa) | set(fb), labels):
        site, hw, period = key
        acq_a, inst_a = fa.get((site, hw, period), (0.0, 0.0))
        acq_b, inst_b = fb.get((site, hw, period), (0.0, 0.0))
        if _differs(acq_a, acq_b, tol) or _differs(inst_a, inst_b, tol):
            out.units.append(
                UnitChange(
                    site=site,
                    hardware=hw,
                    period=period,
                    acquired=change(acq_a, acq_b),
                    installed=change(inst_a, inst_b),
                )
            )
    pa, pb = _prices(a), _prices(b)
    if not per_period:  # only the budgets' prices are not tied to a period
        pa = {k: v for k, v in pa.items() if k[2] is None}
        pb = {k: v for k, v in pb.items() if k[2] is None}
    if (a.shadow_prices is None) != (b.shadow_prices is None) and (_solved(a) and _solved(b)):
        out.notes.append("only one plan has shadow prices (integer plan or a solver without duals)")
    same_unit = True
    if a.shadow_prices is not None and b.shadow_prices is not None:
        if a.shadow_prices.objective_unit != b.shadow_prices.objective_unit:
            same_unit = False
            out.notes.append(
                f"shadow prices are in different objective units ({a.shadow_prices.objective_unit} vs "
                f"{b.shadow_prices.objective_unit}): their deltas are left out"
            )
    kinds = price_kinds()

    def price_order(k: PriceKey) -> tuple[int, str, int]:
        return (kinds.index(k[0]), k[1] or "", labels.index(k[2]) if k[2] in labels else -1)

    for pkey in sorted(set(pa) | set(pb), key=price_order):
        va, ua = pa.get(pkey, (None, ""))
        vb, ub = pb.get(pkey, (None, ""))
        if _differs(va, vb, tol):
            out.shadow_prices.append(
                PriceChange(
                    kind=pkey[0],
                    key=pkey[1],
                    period=pkey[2],
                    unit=ub or ua if same_unit or not (ua and ub) else f"a: {ua}; b: {ub}",
                    change=change(va, vb) if same_unit else Change(a=va, b=vb),
                )
            )
    return out


__all__ = ["Change", "PlanDiff", "PriceChange", "UnitChange", "diff_plans"]
