"""What changed between two plans: ``diff_plans(a, b)``.

Every comparison is ``b − a``.  Headline numbers and cost components are always listed
(with their delta); the long tables (units by site, hardware and period; shadow prices)
list only the entries that changed by more than a relative tolerance, so a diff of two
similar plans stays short.  Periods are matched by label, sites, hardware and workloads by
id: an entry present in one plan only appears with ``None`` on the other side.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from solver.schema import Plan, PlanStatus

REL_TOL = 1e-6
"""Changes smaller than this, relative to max(1, |a|, |b|), count as no change."""


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


class PriceChange(_Out):
    kind: Literal["power", "budget", "budget_period", "supply", "demand"]
    key: str | None = Field(None, description="Site, hardware or workload id (None for the budget).")
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


def _pairs(a: Mapping[str, float], b: Mapping[str, float], default: float | None = None) -> dict[str, Change]:
    keys = list(a) + [k for k in b if k not in a]
    return {k: change(a.get(k, default), b.get(k, default)) for k in keys}


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
    sp = p.shadow_prices
    out: dict[PriceKey, tuple[float | None, str]] = {}
    if sp is None:
        return out
    unit = "per unit of objective" if sp.objective_unit != "usd" else "usd"
    for x in sp.power_usd_per_mw:
        out[("power", x.site, x.period)] = (x.value, f"{unit} per MW")
    if sp.budget_per_usd is not None:
        out[("budget", None, None)] = (sp.budget_per_usd, f"{unit} per usd")
    for y in sp.budget_per_period_per_usd:
        out[("budget_period", None, y.period)] = (y.value, f"{unit} per usd")
    for z in sp.supply_per_unit:
        out[("supply", z.hardware, z.period)] = (z.value, f"{unit} per unit")
    for w in sp.demand_usd_per_million_tokens:
        out[("demand", w.workload, w.period)] = (w.value, f"{unit} per million tokens")
    return out


def _ordered(keys: Iterable[tuple[str, ...]], periods: list[str]) -> list[tuple[str, ...]]:
    rank = {label: i for i, label in enumerate(periods)}
    return sorted(keys, key=lambda k: (k[:-1], rank.get(k[-1], len(rank)), k[-1]))


def diff_plans(a: Plan, b: Plan, tol: float = REL_TOL) -> PlanDiff:
    """Compare plan ``b`` against plan ``a`` (every delta is b − a)."""
    notes: list[str] = []
    if [p.label for p in a.periods] != [p.label for p in b.periods] and a.periods and b.periods:
        notes.append("the plans cover different periods: entries are matched by period label")
    if a.objective.kind != b.objective.kind:
        notes.append(
            f"objectives differ ({a.objective.kind} vs {b.objective.kind}): objective values are not comparable"
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
        objective=change(a.objective.value, b.objective.value),
        summary=summary,
        cost_components=_pairs(_cost_components(a), _cost_components(b), 0.0),
        units_acquired=_pairs(sa.units_acquired, sb.units_acquired, 0.0),
        it_power_share_by_vendor=_pairs(sa.it_power_share_by_vendor, sb.it_power_share_by_vendor, 0.0),
        peak_power_mw=_pairs(sa.peak_power_mw, sb.peak_power_mw),
        binding_added=[x for x in b.binding if x not in set(a.binding)],
        binding_removed=[x for x in a.binding if x not in set(b.binding)],
        notes=notes,
    )
    labels = [p.label for p in a.periods] + [
        p.label for p in b.periods if p.label not in {q.label for q in a.periods}
    ]
    fa, fb = _fleet(a), _fleet(b)
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
    if (a.shadow_prices is None) != (b.shadow_prices is None) and (_solved(a) and _solved(b)):
        notes.append("only one plan has shadow prices (integer plan or a solver without duals)")
    if a.shadow_prices is not None and b.shadow_prices is not None:
        if a.shadow_prices.objective_unit != b.shadow_prices.objective_unit:
            notes.append("shadow prices are in different objective units: compare them with care")
    kinds = ("power", "budget", "budget_period", "supply", "demand")

    def price_order(k: PriceKey) -> tuple[int, str, int]:
        return (kinds.index(k[0]), k[1] or "", labels.index(k[2]) if k[2] in labels else -1)

    for pkey in sorted(set(pa) | set(pb), key=price_order):
        va, ua = pa.get(pkey, (None, ""))
        vb, ub = pb.get(pkey, (None, ""))
        if _differs(va, vb, tol):
            out.shadow_prices.append(
                PriceChange(
                    kind=pkey[0],  # type: ignore[arg-type]
                    key=pkey[1],
                    period=pkey[2],
                    unit=ub or ua,
                    change=change(va, vb),
                )
            )
    return out


__all__ = ["Change", "PlanDiff", "PriceChange", "UnitChange", "diff_plans"]
