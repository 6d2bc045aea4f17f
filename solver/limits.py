"""The limit registry: every published limit family, declared once.

A limit family is a family of model rows (``Built.con[family]``, keyed by index tuples) that a
planner reads about: its shadow price, its place among the binding limits, how the diagnosis
relaxes it when no plan exists, and the words the CLI and the report use.  Everything that
publishes a limit derives from :data:`LIMITS`: the extraction of prices and binding limits
(:mod:`solver.extract`), the diagnosis (:mod:`solver.diagnose`), the idle-purchase causes
(:mod:`solver.advice`), :mod:`solver.diff`, the CSV tables and the HTML report.  Row families
that publish nothing are listed in :data:`UNPUBLISHED`; a test fails on a built family in
neither.

This module is pure data and small functions of it (no solver import), so that the report can
render a plan without importing pulp or highspy.  Adding a limit family: write its constraint
function (:mod:`solver.model`), declare it here, give the schema its published field where it
has a price, document it — nothing else (docs/architecture.md walks through it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # no runtime import: the report uses this module without the solver
    from solver.model import ModelData
    from solver.schema import DiagnosedLimit, ShadowPrices

Axis = Literal["site", "hardware", "vendor", "workload", "period"]
AXES: tuple[Axis, ...] = ("site", "hardware", "vendor", "workload", "period")
Key = tuple[int, ...]

PriceRule = Literal["relief", "vendor_share", "demand"]
"""How a family's published price comes from the duals (:func:`solver.extract.limit_price`):
``relief`` −π of its row (a ``<=`` limit raised); ``vendor_share`` π·K_t/100 per percentage
point of share, signed by the limit; ``demand`` the gradient of the objective in D[w,t] over the
demand rows, nominal per million tokens."""


@dataclass(frozen=True)
class Price:
    """Where a family's shadow price is published and in what unit.

    ``kind`` names it in the CSV ``limit`` column and in :class:`solver.diff.PriceChange`;
    ``field`` is the :class:`~solver.schema.ShadowPrices` attribute that holds it (a number for
    a family without axes, else a list of items with the family's axes and ``value``);
    ``limit_word`` tells a family's items apart in a field two families share (vendor shares);
    ``per`` is what one unit of relief is (diff's unit: "usd per MW"); ``unit_usd`` and
    ``unit_other`` are the CSV units for a dollar objective and for another (``{u}`` = its unit).
    """

    kind: str
    field: str
    per: str
    unit_usd: str
    unit_other: str
    rule: PriceRule = "relief"
    limit_word: str | None = None

    def unit(self, objective_unit: str) -> str:
        return self.unit_usd if objective_unit == "usd" else self.unit_other.format(u=objective_unit)


@dataclass(frozen=True)
class Binding:
    """How a family appears among the binding limits.

    ``words`` start its compatibility string (``binding``: the words, then the subject's ids in
    axis order: "power tx-1 2027-04").  ``lead`` and ``rest`` are the report's sentence for one
    subject ({who} its id, {count} "3 periods", {when} the periods), ``lead`` set in bold;
    ``price_clause`` is added where the family's price of that subject is positive ({price} its
    largest value, {period} where).  ``by_price``: a limit with a price at max_served's stage one
    binds even if stage two leaves it a hair of slack.  ``counts``: which rows may be listed at
    all (None: every one)."""

    words: str
    lead: str
    rest: str
    by_price: bool = True
    price_clause: str | None = None
    counts: Callable[[ModelData, Key], bool] | None = None


@dataclass(frozen=True)
class Relax:
    """How the diagnosis relaxes a family: an elastic slack column on each of its rows.

    ``limit`` is its name in :class:`~solver.schema.DiagnosisEntry` (``title`` in the report);
    ``group`` the diagnosis option that moves it (``capacity``: what it takes to serve the
    demand; ``service``: what the limits allow); a slack is weighed relative to
    max(|rhs|, ``floor``); ``unit`` is the amount's unit and ``message`` its sentence ({site},
    {hardware}, {vendor}, {workload}, {period}: the subject's ids; {amount}: the amount as
    text; {usd}: as whole dollars)."""

    limit: DiagnosedLimit
    title: str
    group: Literal["capacity", "service"]
    floor: float
    unit: str
    message: str


@dataclass(frozen=True)
class LimitFamily:
    """One published limit family: its rows' family name, the axes of their keys (in key
    order), and what it publishes."""

    family: str
    axes: tuple[Axis, ...]
    price: Price | None = None
    binding: Binding | None = None
    relax: Relax | None = None


def _offered(data: ModelData, key: Key) -> bool:
    """A supply cap of 0 says "not offered in that period": not a binding limit."""
    h, t = key
    cap = data.supply[h]
    return cap is not None and cap[t] > 0


def _partial_service(data: ModelData, key: Key) -> bool:
    """A minimum service below the whole demand, of a demand there is."""
    w, t = key
    return 0 < data.req.workloads[w].min_service_fraction < 1 and data.demand[w][t] > 0


def _budget(family: DiagnosedLimit, words: str, field: str, lead: str, title: str) -> LimitFamily:
    """The four budget families (capex and total, horizon and per period) differ in words only."""
    period = family.endswith("_period")
    total = family.startswith("total")
    scope = "total budget (capex + opex)" if total else "capex budget"
    axes: tuple[Axis, ...] = ("period",) if period else ()
    where = " of {period}" if period else ""
    return LimitFamily(
        family,
        axes,
        price=Price(family, field, "usd", "usd_npv_per_usd_nominal", "{u}_per_usd_nominal"),
        binding=Binding(
            words,
            lead,
            ("(capex + opex) " if total else "")
            + "is fully spent"
            + (" in {count} ({when})" if period else ""),
        ),
        relax=Relax(family, title, "capacity", 1e6, "USD", f"the {scope}{where} needs {{usd}} more"),
    )


LIMITS: tuple[LimitFamily, ...] = (
    LimitFamily(
        "power",
        ("site", "period"),
        price=Price("power", "power_usd_per_mw", "MW", "usd_npv_per_mw_in_period", "{u}_per_mw_in_period"),
        binding=Binding(
            "power",
            "Power at {who}",
            "is fully used in {count} ({when})",
            price_clause="one more MW there is worth up to {price} NPV (in {period} alone)",
        ),
        relax=Relax(
            "power", "Site power", "capacity", 1.0, "MW", "site {site} needs {amount} MW more in {period}"
        ),
    ),
    LimitFamily(
        "expansion_cap",
        ("site",),
        binding=Binding("expansion", "The {who} expansion option", "is built out to its maximum"),
    ),
    _budget("budget", "budget", "budget_per_usd", "The capex budget", "Capex budget"),
    _budget(
        "budget_period",
        "budget",
        "budget_per_period_per_usd",
        "The per-period capex budget",
        "Per-period capex budget",
    ),
    _budget(
        "total_budget",
        "total_budget",
        "total_budget_per_usd",
        "The total budget",
        "Total budget (capex + opex)",
    ),
    _budget(
        "total_budget_period",
        "total_budget",
        "total_budget_per_period_per_usd",
        "The per-period total budget",
        "Per-period total budget (capex + opex)",
    ),
    LimitFamily(
        "supply",
        ("hardware", "period"),
        price=Price(
            "supply",
            "supply_per_unit",
            "unit",
            "usd_npv_per_unit_bought_in_period",
            "{u}_per_unit_bought_in_period",
        ),
        binding=Binding("supply", "Supply of {who}", "is exhausted in {count} ({when})", counts=_offered),
        relax=Relax(
            "supply",
            "Hardware supply",
            "capacity",
            1.0,
            "units",
            "{hardware} needs {amount} more units of supply in {period}",
        ),
    ),
    LimitFamily(
        "demand_cap",
        ("workload", "period"),
        price=Price(
            "demand",
            "demand_usd_per_million_tokens",
            "million tokens",
            "usd_nominal_per_million_tokens",
            "{u}_per_million_tokens",
            rule="demand",
        ),
    ),
    *(
        LimitFamily(
            f"vendor_{word}",
            ("vendor", "period"),
            price=Price(
                f"vendor_share_{word}",
                "vendor_share_per_percentage_point",
                "percentage point",
                "usd_npv_per_percentage_point_in_period",
                "{u}_per_percentage_point_in_period",
                rule="vendor_share",
                limit_word=word,
            ),
            binding=Binding(
                f"vendor_share {word}",
                "{who}",
                f"is held at its {long} share of IT power in {{count}} ({{when}})",
            ),
            relax=Relax(
                "vendor_share",
                "Vendor share",
                "capacity",
                1.0,
                "kW",
                f"the {long} share of {{vendor}} is off by {{amount}} kW of IT power in {{period}}",
            ),
        )
        for word, long in (("max", "maximum"), ("min", "minimum"))
    ),
    LimitFamily(
        "min_service",
        ("workload", "period"),
        binding=Binding(
            "min_service",
            "{who}",
            "is served only at its minimum service level in {count} ({when})",
            by_price=False,
            counts=_partial_service,
        ),
        relax=Relax(
            "min_service",
            "Minimum service",
            "service",
            1.0,
            "tokens/s",
            "workload {workload} can serve {amount} tokens/s less than its minimum in {period}",
        ),
    ),
    LimitFamily(
        "served_total",
        (),
        binding=Binding(
            "min_total_served", "The total served fraction", "is held at its minimum", by_price=False
        ),
        relax=Relax(
            "served_total",
            "Total served fraction",
            "service",
            1.0,
            "tokens/s summed over periods",
            "the plan can serve {amount} tokens/s·periods less than min_total_served_fraction",
        ),
    ),
)

UNPUBLISHED: dict[str, str] = {
    "alloc_cap": "units allocated <= units installed (its dual values an installed unit; not published)",
    "capacity": "capacity >= served (its dual enters the demand price through demand_cap and min_service)",
    "take_or_pay": "take-or-pay commitment (the shortfall is reported per contract)",
    "warrant_vesting": "warrant vesting <= net spend (the equity earned is reported per contract)",
    "tier_open": "discount tier opened only when reached (binaries)",
    "tier_fill": "a discount tier full before the next (binaries)",
    "discount_spend": "discount tiers hold no more than the net spend (binaries)",
}
"""Row families of the model that publish nothing, with why."""

BY_FAMILY: dict[str, LimitFamily] = {f.family: f for f in LIMITS}


@dataclass(frozen=True)
class Subject:
    """What a limit's row is about: the ids on its axes (None off them)."""

    site: str | None = None
    hardware: str | None = None
    vendor: str | None = None
    workload: str | None = None
    period: str | None = None

    @classmethod
    def of(cls, item: Any) -> Subject:
        """The subject of a published item with axis attributes (a BindingLimit, a DiagnosisEntry)."""
        return cls(**{a: getattr(item, a, None) for a in AXES})

    def on(self, axes: Sequence[Axis]) -> tuple[str | None, ...]:
        return tuple(getattr(self, a) for a in axes)

    def fields(self) -> dict[str, str | None]:
        return {a: getattr(self, a) for a in AXES}


def subject(data: ModelData, family: LimitFamily, key: Key) -> Subject:
    """The ids of a row's key on its family's axes."""
    req = data.req
    lookup: dict[Axis, Callable[[int], str]] = {
        "site": lambda i: req.sites[i].id,
        "hardware": lambda i: req.hardware[i].id,
        "vendor": lambda i: data.vendors[i],
        "workload": lambda i: req.workloads[i].id,
        "period": lambda i: data.labels[i],
    }
    return Subject(**{axis: lookup[axis](i) for axis, i in zip(family.axes, key, strict=True)})


def binding_words(family: str, subj: Subject) -> str:
    """The compatibility string of a binding limit ("power tx-1 2027-04")."""
    spec = BY_FAMILY[family]
    assert spec.binding is not None
    ids = [x for x in subj.on(spec.axes) if x is not None]
    return " ".join([spec.binding.words, *ids])


def who(family: LimitFamily, subj: Subject) -> str:
    """The subject's id off the period axis ('' for a family with none): what the report names."""
    return next(
        (x for a, x in zip(family.axes, subj.on(family.axes), strict=True) if a != "period" and x), ""
    )


@dataclass(frozen=True)
class PriceRow:
    """One published shadow price, flat: its family, subject, value and CSV unit."""

    family: LimitFamily
    subject: Subject
    value: float


def price_rows(sp: ShadowPrices) -> Iterator[PriceRow]:
    """Every price of ``sp``, family by family in registry order, items in their published order."""
    for fam in LIMITS:
        if fam.price is None:
            continue
        held: Any = getattr(sp, fam.price.field)
        if not fam.axes:
            if held is not None:
                yield PriceRow(fam, Subject(), float(held))
            continue
        for item in held:
            if fam.price.limit_word is not None and item.limit != fam.price.limit_word:
                continue
            ids = {axis: getattr(item, axis) for axis in fam.axes}
            yield PriceRow(fam, Subject(**ids), float(item.value))


def price_kinds() -> tuple[str, ...]:
    """The published price kinds, in registry order."""
    return tuple(f.price.kind for f in LIMITS if f.price is not None)


def relaxed(group: str) -> tuple[LimitFamily, ...]:
    """The families the diagnosis relaxes in ``group``."""
    return tuple(f for f in LIMITS if f.relax is not None and f.relax.group == group)


def diagnosis_title(limit: str) -> str:
    """The report's heading of a diagnosis limit (:attr:`Relax.limit`)."""
    return next(f.relax.title for f in LIMITS if f.relax is not None and f.relax.limit == limit)
