"""The capacity-planning linear program, one function per variable and constraint family.

``prepare`` turns a checked request into plain numbers (no PuLP objects); ``build_block``
then reads like a table of contents.  A :class:`Problem` holds one or more scenario blocks
(:class:`Built`), each built by ``build_block`` from its own data; a block may share another's
here-and-now decisions (:data:`HERE_AND_NOW`).  ``build_model`` is the deterministic, one-block
case.  Every family returns a dict keyed by index tuples
(site ``s``, hardware ``h``, workload ``w``, period ``t``, vendor ``v`` as list positions),
which extraction walks; LP names are only for readable dumps and never parsed back.

The model is always posed as a *minimisation*: a maximising objective is negated here, so
every row dual the backend returns is d(minimised objective)/d(right-hand side), whatever
the request's sense.  :mod:`solver.extract` turns that into the published convention.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from solver.curves import curve_throughput, throughput
from solver.lp import GE, LE, Expr, LinearProgram, Row
from solver.schema import PURCHASE_ONLY_FIELDS, Hardware, PlanRequest, existing_catalog_item

HOURS_PER_YEAR = 8760.0
MAX_SERVED_TOLERANCE = 1e-6
"""Relative tolerance on the stage-one value when max_served minimises cost in stage two."""

Key = tuple[int, ...]

ROW_SIZE = 1e4
"""Largest size a row family should have in the units it is handed to the solver in."""
MAX_ROW_UNIT = 1e6
"""Largest row unit: millions (of tokens/s, of dollars), so that no coefficient shrinks by more."""


def solver_unit(size: float) -> float:
    """The unit, a power of ten from 1 to MAX_ROW_UNIT, in which rows whose natural size (their
    largest right-hand side or activity) is ``size`` are handed to the solver: the smallest that
    brings ``size`` to at most ROW_SIZE.

    HiGHS's feasibility tolerances are absolute (1e-7 for LPs, 1e-6 for a MIP's solutions), and
    round-off in a row's activity is relative to its terms: a capacity row of 1e10 tokens/s
    violated by 1.02e-6 (1e-16 of it) made the MIP discard its LP optimum and call a plan 18
    times costlier optimal.  In units of 1e6 tokens/s the same row has round-off ~1e-12 while the
    tolerance, 0.1 tokens/s, stays 1e-11 of it.  Rows are scaled at the solver boundary only
    (:meth:`Built.row_units`, :mod:`solver.solve`): the PuLP rows, their right-hand sides, slacks
    and duals stay in natural units, the duals rescaled back (π = π_solver/unit).
    """
    if not size > ROW_SIZE:
        return 1.0
    return float(10 ** min(math.ceil(math.log10(size / ROW_SIZE)), round(math.log10(MAX_ROW_UNIT))))


def _per_period(value: float | list[float] | None, n: int) -> list[float] | None:
    if value is None:
        return None
    if isinstance(value, list):
        return [float(x) for x in value]
    return [float(value)] * n


def demand_curve(base: float, g: float, p: float, n: int) -> tuple[list[float], list[float]]:
    """A demand growing continuously at g per year from ``base`` tokens/s: per period of p
    years, the average rate (its tokens over the period's seconds) and the peak factor
    φ_t = peak rate / average rate (φ = 1 without growth).

    The rate at time y (years) is base·(1+g)^y.  Period t covers y in [t·p, (t+1)·p]:
        average  D_t = base·(1+g)^(t·p) · ((1+g)^p − 1) / (p·ln(1+g))
        peak         = base·(1+g)^(t·p) · max(1, (1+g)^p)     (its end if g > 0, else its start)
    Tokens are counted on the average; capacity is sized to the peak (capacity rows carry
    φ_t), so the fleet serves the curve at every moment of the period, whatever its length.
    """
    x = p * math.log1p(g) if p > 0 else 0.0  # ln of the growth over one period
    if x == 0:  # no growth, or too little to change a float (1 + 1e-17 == 1)
        return [base] * n, [1.0] * n
    avg = math.expm1(x) / x  # (step − 1)/ln(step), exact for tiny growth too
    phi = max(1.0, math.exp(x)) / avg
    return [base * (1 + g) ** (t * p) * avg for t in range(n)], [phi] * n


def _periods(years: float, period_months: int) -> int:
    return max(1, math.ceil(years * 12 / period_months - 1e-9))


@dataclass
class ModelData:
    """Everything the model needs, as plain numbers indexed by list position."""

    req: PlanRequest
    n: int
    p: float  # period length in years
    labels: list[str]
    hours: float
    seconds: float
    d: list[float]  # discount factor at the start of each period
    d_end: float  # discount factor at the horizon end
    power: list[list[float]]  # [s][t] MW
    demand: list[list[float]]  # [w][t] tokens/s, the period's average rate
    peak: list[list[float]]  # [w][t] peak rate / average rate within the period (>= 1)
    supply: list[list[float] | None]  # [h][t] units
    capex_cap: list[float] | None  # [t]
    tput: list[list[float]]  # [h][w] tokens/s per unit
    allowed: list[list[int]]  # [s] -> hardware that may be allocated (and bought, unless existing-only) at s
    present: list[list[int]]  # [s] -> allowed hardware plus any existing there (power, cost)
    eligible: list[tuple[int, int, int]]  # (s, h, w) with tput > 0 and h allowed at s
    life: list[int]  # [h] periods
    lead: list[int]  # [h] periods
    deposit: list[float]  # [h] share of the unit price paid at order (the rest on arrival)
    existing: dict[tuple[int, int], list[float]]  # (s, h) -> units alive per period
    opex_unit: dict[tuple[int, int], float]  # (s, h) -> nominal opex per installed unit-period
    opex_parts: dict[tuple[int, int], dict[str, float]]
    vendors: list[str]
    vendor_of: list[int]  # [h] -> vendor index
    exp_life: list[int]  # [s] periods (expansion)
    exp_lead: list[int]  # [s]
    tokens_unit: float = 1.0  # tokens/s per solver unit of the tokens/s rows (solver_unit)
    usd_unit: float = 1.0  # dollars per solver unit of the dollar rows (solver_unit)
    warnings: list[str] = field(default_factory=list)

    def buy_periods(self, h: int) -> range:
        """Periods in which hardware h may be bought (it must arrive before the end; none for
        existing-only hardware)."""
        if self.req.hardware[h].existing_only:
            return range(0)
        return range(max(0, self.n - self.lead[h]))

    def window(self, h: int, tau: int) -> range:
        """Periods in which a unit of h bought in tau is in service."""
        start = tau + self.lead[h]
        return range(start, min(self.n, start + self.life[h]))

    def buy_origins(self, h: int, t: int) -> range:
        """Purchase periods tau whose units of h are in service in period t."""
        hi = t - self.lead[h]
        return range(max(0, hi - self.life[h] + 1), hi + 1)

    def payments(self, h: int, tau: int) -> list[tuple[int, float]]:
        """When the price of a unit of h ordered in tau is paid: (period, share of the price).

        deposit_fraction f at the order, tau, and 1 − f on arrival, tau + L_h (in the horizon:
        a unit is bought only where it arrives before the end).  With no lead time, or f = 1,
        all at tau; a share of 0 is left out.
        """
        f, lead = self.deposit[h], self.lead[h]
        if lead == 0 or f >= 1.0:
            return [(tau, 1.0)]
        return [(t, x) for t, x in ((tau, f), (tau + lead, 1.0 - f)) if x > 0]

    def existing_opex(self) -> list[float]:
        """Nominal opex of the existing fleet per period (no decision moves it)."""
        out = [0.0] * self.n
        for (s, h), units in self.existing.items():
            for t in range(self.n):
                out[t] += units[t] * self.opex_unit[(s, h)]
        return out

    def residual_fraction(self, tau: int, lead: int, life: int) -> float:
        """Straight-line value left at the horizon end of an asset started in tau."""
        if not self.req.economics.residual_value:
            return 0.0
        return max(0.0, 1.0 - (self.n - tau - lead) / life)


def prepare(req: PlanRequest) -> ModelData:
    """Derive per-period numbers, throughputs, windows and cost coefficients."""
    hz, econ = req.horizon, req.economics
    n, pm = hz.periods, hz.period_months
    p = pm / 12
    hours = HOURS_PER_YEAR * p
    r = econ.discount_rate
    d = [(1 + r) ** (-t * p) for t in range(n)]
    hw_index = {h.id: i for i, h in enumerate(req.hardware)}
    vendors = sorted({h.vendor for h in req.hardware})
    v_index = {v: i for i, v in enumerate(vendors)}
    demand, peak = _demand_tables(req, n, p)
    tput = [[throughput(hw, wl) for wl in req.workloads] for hw in req.hardware]
    allowed, present, eligible, existing, opex_unit, opex_parts = _site_tables(req, tput, hw_index, hours)
    exp_life, exp_lead = [], []
    for site in req.sites:
        ex = site.expansion
        exp_life.append(_periods(ex.lifetime_years, pm) if ex else 1)
        exp_lead.append(ex.lead_time_periods if ex else 0)
    data = ModelData(
        req=req,
        n=n,
        p=p,
        labels=hz.labels(),
        hours=hours,
        seconds=hours * 3600,
        d=d,
        d_end=(1 + r) ** (-n * p),
        power=[_per_period(s.power_mw, n) or [] for s in req.sites],
        demand=demand,
        peak=peak,
        supply=[_per_period(h.max_units_per_period, n) for h in req.hardware],
        capex_cap=_per_period(req.budget.capex_per_period_usd, n),
        tput=tput,
        allowed=allowed,
        present=present,
        eligible=eligible,
        life=[_periods(h.lifetime_years, pm) for h in req.hardware],
        lead=[h.lead_periods(pm) for h in req.hardware],
        deposit=[h.deposit_fraction for h in req.hardware],
        existing=existing,
        opex_unit=opex_unit,
        opex_parts=opex_parts,
        vendors=vendors,
        vendor_of=[v_index[h.vendor] for h in req.hardware],
        exp_life=exp_life,
        exp_lead=exp_lead,
    )
    rm = 1 + req.policy.reserve_margin
    data.tokens_unit = solver_unit(
        max(
            (rm * f * x for dw, pw in zip(demand, peak, strict=True) for x, f in zip(dw, pw, strict=True)),
            default=0.0,
        )
    )
    data.usd_unit = solver_unit(max(_dollar_limits(req), default=0.0))
    data.warnings += preparation_warnings(data, hw_index)
    return data


def _demand_tables(req: PlanRequest, n: int, p: float) -> tuple[list[list[float]], list[list[float]]]:
    """[w][t] the period's average demand rate and its peak factor (:func:`demand_curve`)."""
    demand: list[list[float]] = []
    peak: list[list[float]] = []
    for wl in req.workloads:
        if isinstance(wl.demand_tokens_per_s, list):  # a rate per period, flat within it
            demand.append([float(x) for x in wl.demand_tokens_per_s])
            peak.append([1.0] * n)
        else:
            avg, phi = demand_curve(wl.demand_tokens_per_s, wl.demand_growth_per_year, p, n)
            demand.append(avg)
            peak.append(phi)
    return demand, peak


def _site_tables(
    req: PlanRequest, tput: list[list[float]], hw_index: dict[str, int], hours: float
) -> tuple[
    list[list[int]],
    list[list[int]],
    list[tuple[int, int, int]],
    dict[tuple[int, int], list[float]],
    dict[tuple[int, int], float],
    dict[tuple[int, int], dict[str, float]],
]:
    """Per site: the hardware allowed and present, the eligible (s, h, w), the existing units
    alive per period and the nominal opex of one installed unit per period (with its parts)."""
    n, pm = req.horizon.periods, req.horizon.period_months
    p = pm / 12
    allowed: list[list[int]] = []
    present: list[list[int]] = []
    eligible: list[tuple[int, int, int]] = []
    existing: dict[tuple[int, int], list[float]] = {}
    opex_unit: dict[tuple[int, int], float] = {}
    opex_parts: dict[tuple[int, int], dict[str, float]] = {}
    lf = req.economics.load_factor
    for s, site in enumerate(req.sites):
        hs = (
            list(range(len(req.hardware)))
            if site.allowed_hardware is None
            else sorted({hw_index[x] for x in site.allowed_hardware})
        )
        # existing-only hardware is never bought: it serves only where it has existing units
        here_now = {hw_index[e.hardware] for e in site.existing}
        hs = [h for h in hs if not req.hardware[h].existing_only or h in here_now]
        allowed.append(hs)
        for h in hs:
            for w in range(len(req.workloads)):
                if tput[h][w] > 0:
                    eligible.append((s, h, w))
        here = sorted(set(hs) | here_now)
        present.append(here)
        for h in here:
            hw = req.hardware[h]
            parts = {
                "maintenance": hw.unit_price_usd * hw.maintenance_fraction_per_year * p,
                "recurring": hw.recurring_usd_per_unit_hour * hours,
                "energy": hw.it_power_kw / 1000 * site.pue * lf * hours * site.energy_usd_per_mwh,
                "site_lease": hw.it_power_kw * site.lease_usd_per_kw_month * 12 * p,
            }
            opex_parts[(s, h)] = parts
            opex_unit[(s, h)] = sum(parts.values())
        for e in site.existing:
            h = hw_index[e.hardware]
            hw = req.hardware[h]
            rem = hw.lifetime_years if e.remaining_life_years is None else e.remaining_life_years
            alive = math.ceil(rem * 12 / pm - 1e-9) if rem > 0 else 0
            units = existing.setdefault((s, h), [0.0] * n)
            for t in range(min(n, alive)):
                units[t] += e.units
    return allowed, present, eligible, existing, opex_unit, opex_parts


def preparation_warnings(data: ModelData, hw_index: dict[str, int]) -> list[str]:
    """What the plan warns about before solving: throughput read off a rising curve, workloads
    nothing can serve (at all, or before the first purchase can arrive), existing units that
    may not serve, existing-only hardware, lead times rounded to periods or past the horizon,
    ignored fields and deposits without a lead time."""
    req, n, pm, tput = data.req, data.n, data.req.horizon.period_months, data.tput
    out: list[str] = []
    for h, hw in enumerate(req.hardware):
        for w, wl in enumerate(req.workloads):
            own = curve_throughput(hw, wl)
            if tput[h][w] > own * (1 + 1e-12):
                out.append(
                    f"workload {wl.id!r} ({wl.min_tokens_per_s_per_user:g} tokens/s per user) on "
                    f"{hw.id!r}: its {wl.model!r} curve rises with speed, so a unit is counted at the "
                    f"best operating point at least that fast, {tput[h][w]:,.6g} tokens/s per unit, "
                    f"not the curve's {own:,.6g} at {wl.min_tokens_per_s_per_user:g}"
                )
    for w, wl in enumerate(req.workloads):
        if not any(tput[h][w] > 0 for h in range(len(req.hardware))):
            out.append(
                f"workload {wl.id!r}: no hardware reaches {wl.min_tokens_per_s_per_user:g} "
                f"tokens/s per user on {wl.model!r}; it cannot be served"
            )
    for w, (wl, first) in enumerate(zip(req.workloads, _first_servable_periods(data), strict=True)):
        if 0 < first < n and wl.min_service_fraction > 0 and any(data.demand[w][t] > 0 for t in range(first)):
            out.append(
                f"workload {wl.id!r}: nothing that can serve it is installed before "
                f"{data.labels[first]} (no existing fleet; the earliest eligible hardware arrives "
                f"after its lead time), so its minimum service cannot be met before then"
            )
    for s, site in enumerate(req.sites):
        allowed_here = set(data.allowed[s])
        for e in site.existing:
            if hw_index[e.hardware] not in allowed_here:
                out.append(
                    f"site {site.id!r}: existing {e.hardware!r} units are not in allowed_hardware; "
                    "they draw power and cost money until they retire but serve no workload"
                )
    out += existing_only_warnings(req)
    for h, hw in enumerate(req.hardware):
        months = hw.lead_time_months
        if hw.existing_only:
            continue  # never bought: its purchase terms are named by existing_only_warnings
        if months is not None and abs(data.lead[h] * pm - months) > 1e-9 * max(1.0, months):
            off = data.lead[h] * pm - months
            out.append(
                f"hardware {hw.id!r}: lead time {months:g} months counted as {data.lead[h]} "
                f"period{'s' if data.lead[h] != 1 else ''} of {pm} months (the nearest whole "
                f"period), {abs(off):g} months {'longer' if off > 0 else 'shorter'} than stated"
            )
    out += ignored_field_warnings(req)
    for h, hw in enumerate(req.hardware):
        if hw.existing_only:
            continue
        if data.lead[h] >= n:
            out.append(
                f"hardware {hw.id!r}: lead time {data.lead[h]} periods reaches past the "
                "horizon; none can be bought"
            )
        if data.lead[h] == 0 and hw.deposit_fraction < 1:
            out.append(
                f"hardware {hw.id!r}: deposit_fraction {hw.deposit_fraction:g} has no effect without "
                "a lead time (a unit arrives in the period it is ordered: all of it is paid then)"
            )
    return out


def existing_only_warnings(req: PlanRequest) -> list[str]:
    """What the plan should say about existing-only hardware (``hardware[].existing_only``).

    * An item with the default catalog's figures (the entry an existing fleet's unknown id
      brings in, :func:`solver.schema.existing_catalog_item`, or the same item given): where its
      figures come from and that none are bought, so that a fleet named for the catalog's
      figures is never mistaken for one offered for purchase.
    * An item no site has existing units of: it plays no part.
    * Purchase terms given on an item (lead time, deposit, supply): they have no effect.
    """
    out = []
    holding: dict[str, list[str]] = {}  # hardware id -> the sites with existing units of it, in order
    for s in req.sites:
        for hw_id in dict.fromkeys(e.hardware for e in s.existing if e.units > 0):
            holding.setdefault(hw_id, []).append(s.id)
    for hw in req.hardware:
        if not hw.existing_only:
            continue
        sites = holding.get(hw.id, [])
        if not sites:
            out.append(
                f"hardware {hw.id!r} is existing_only, but no site has existing units of it: "
                "it plays no part in the plan"
            )
        elif hw == existing_catalog_item(hw.id):
            where = ", ".join(repr(x) for x in sites)
            out.append(
                f"hardware {hw.id!r} is existing-only, with the default catalog's figures: the "
                f"existing units at site{'s' if len(sites) > 1 else ''} {where} serve, draw power "
                "and cost opex until they retire, and none are bought (to offer it for purchase, "
                "give it in hardware[] without existing_only)"
            )
        given = [
            name for name in PURCHASE_ONLY_FIELDS if getattr(hw, name) != Hardware.model_fields[name].default
        ]
        if given:
            out.append(
                f"hardware {hw.id!r} is existing_only, so {', '.join(given)} "
                f"{'has' if len(given) == 1 else 'have'} no effect: it is never bought"
            )
    return out


OBJECTIVE_FIELDS: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("unmet_penalty_usd_per_million_tokens", 0.0, ("min_cost", "max_profit")),
    ("value_usd_per_million_tokens", 0.0, ("max_profit",)),
    ("weight", 1.0, ("max_served",)),
)
"""Workload fields that only some objectives read: (field, default, the objectives that use it)."""


def ignored_field_warnings(req: PlanRequest) -> list[str]:
    """One warning per workload field set away from its default (on any workload) that the
    request's objective does not use, naming the field, the workloads and the objective.

    min_cost reads the penalty; max_served the weight (stage one; stage two minimises cost);
    max_profit the value and the penalty.  A field an objective ignores changes nothing in the
    plan, and a request must not lose a figure it was given without saying so.
    """
    kind = req.objective.kind
    out = []
    for name, default, users in OBJECTIVE_FIELDS:
        if kind in users:
            continue
        ids = [wl.id for wl in req.workloads if getattr(wl, name) != default]
        if not ids:
            continue
        which = ", ".join(repr(x) for x in ids)
        noun = "workload" if len(ids) == 1 else "workloads"
        used = " and ".join(users)
        out.append(
            f"{name} is set on {noun} {which}, but objective {kind} does not use it "
            f"(only {used} {'does' if len(users) == 1 else 'do'}): it has no effect on this plan"
        )
    if kind != "max_served":  # the penalty is read, but prices nothing when no demand may go unmet
        ids = [
            wl.id
            for wl in req.workloads
            if wl.unmet_penalty_usd_per_million_tokens and wl.min_service_fraction >= 1
        ]
        if ids:
            noun = "workload" if len(ids) == 1 else "workloads"
            out.append(
                f"unmet_penalty_usd_per_million_tokens is set on {noun} {', '.join(repr(x) for x in ids)}, "
                "but min_service_fraction is 1 (all demand must be served, the default): it has no "
                "effect on this plan; lower min_service_fraction to let demand go unmet at that penalty"
            )
    return out


def _dollar_limits(req: PlanRequest) -> list[float]:
    """Every dollar figure that a row of the model holds to: budgets, commitments, full-vest
    spends and discount thresholds (the size of the dollar rows, :func:`solver_unit`)."""
    b = req.budget
    out = [x for x in (b.capex_usd, b.total_usd) if x is not None]
    for per in (b.capex_per_period_usd, b.total_per_period_usd):
        if per is not None:
            out += per if isinstance(per, list) else [per]
    for c in req.contracts:
        out.append(c.min_spend_usd)
        if c.warrants is not None:
            out.append(c.warrants.full_vest_spend_usd)
        out += [t.above_spend_usd for t in c.discount_tiers]
    return [float(x) for x in out]


def _first_servable_periods(data: ModelData) -> list[int]:
    """[w] -> first period in which some unit able to serve workload w can be installed (n if
    none can): 0 where an eligible pair has existing units at the start, else the shortest lead
    time of eligible hardware that can be bought.  One pass over the eligible triples."""
    first = [data.n] * len(data.req.workloads)
    for s, h, w in data.eligible:
        ex = data.existing.get((s, h))
        if ex and ex[0] > 0:
            first[w] = 0
        elif data.lead[h] < first[w] and data.buy_periods(h):
            first[w] = data.lead[h]
    return first


HERE_AND_NOW: dict[str, int] = {"buy": 2, "expand": 1}
"""Decision families a stochastic plan makes here and now, with the position of the period in
their key: one column per key whose period is before ``decide_periods``, shared by every
scenario's block (non-anticipativity by sharing the variable, not by equality rows).  Everything
else — allocation, service, contract shortfalls and vesting — is per scenario."""


@dataclass
class Problem:
    """The program under construction (:class:`~solver.lp.LinearProgram`: columns and rows as
    arrays, no Python object per column) and its scenario blocks (:class:`Built`); a
    deterministic plan is the one-block case."""

    lp: LinearProgram = field(default_factory=LinearProgram)
    blocks: list[Built] = field(default_factory=list)


@dataclass
class Built:
    """One scenario's block of a built model: its data, and handles to its columns (indices)
    and rows by family and key (the key tuples of the deterministic model: the block is the
    scenario axis).

    ``shared_with``: the block whose here-and-now columns (:data:`HERE_AND_NOW`, periods before
    ``decide_periods``) this block uses instead of its own."""

    data: ModelData
    integer: bool
    problem: Problem
    discounts: bool = True  # model the contracts' discount tiers (binaries); off for diagnosis
    scenario: int = 0
    shared_with: Built | None = None
    decide_periods: int = 0
    var: dict[str, dict[Key, int]] = field(default_factory=dict)
    con: dict[str, dict[Key, Row]] = field(default_factory=dict)
    alloc_scale: list[float] = field(default_factory=list)  # [e] units per alloc unit, e of eligible
    alloc_cols: range = range(0)  # alloc[s,h,w,t] of eligible triple e is column alloc_cols[e·N + t]
    cost: Expr | None = None
    served_value: Expr | None = None  # weighted million tokens
    _buy_cols: dict[tuple[int, int], list[int]] | None = field(default=None, repr=False)

    @property
    def lp(self) -> LinearProgram:
        return self.problem.lp

    def value(self, i: int) -> float:
        """Column i's value in the last solution (0 before any)."""
        return self.problem.lp.value(i)

    def drop_row(self, family: str, key: Key) -> None:
        """Remove this block's row of ``family`` at ``key``, if it has one."""
        c = self.con.get(family, {}).pop(key, None)
        if c is not None:
            self.lp.remove_row(c)

    def here_and_now(self, family: str, key: Key) -> bool:
        """Whether ``family`` at ``key`` is decided before ``decide_periods`` (shared)."""
        at = HERE_AND_NOW.get(family)
        return at is not None and key[at] < self.decide_periods

    def new_var(
        self, family: str, key: Key, lb: float | None = 0.0, ub: float | None = None, unit: float = 1.0
    ) -> int:
        """Create a column of ``family`` at ``key`` and remember its index (or, for a
        here-and-now decision of a block that shares them, take the first block's column).

        ``unit`` (one per family; continuous columns only): the solver gets the column in units
        of ``unit`` (x = unit·x_solver); bounds and values here stay in natural units.
        """
        if self.shared_with is not None and self.here_and_now(family, key):
            shared = self.shared_with.var.get(family, {}).get(key)
            if shared is None:
                raise ValueError(f"scenario {self.scenario} has {family} {key}, which the first has not")
            self.var.setdefault(family, {})[key] = shared
            return shared
        i = self.lp.add_column(lb, ub, unit)
        self.var.setdefault(family, {})[key] = i
        return i

    def new_vars(
        self, family: str, keys: Sequence[Key], lb: float = 0.0, ub: float | None = None
    ) -> range | None:
        """Columns of ``family`` at every key of ``keys``, made in one step (the large families);
        their indices, in the order of ``keys`` (None: a block that shares here-and-now
        decisions, made key by key by :meth:`new_var`)."""
        if self.shared_with is not None and family in HERE_AND_NOW:
            for key in keys:
                self.new_var(family, key, lb, ub)
            return None
        cols = self.lp.add_columns(len(keys), lb, ub)
        self.var.setdefault(family, {}).update(zip(keys, cols, strict=True))
        return cols

    def new_row(
        self,
        family: str,
        key: Key,
        terms: Iterable[tuple[int, float]],
        sense: int,
        rhs: float,
        unit: float = 1.0,
        unique: bool = False,
    ) -> Row | None:
        """Add the row ``Σ coef·x (sense) rhs`` of ``family`` at ``key``.

        ``unit`` (one per family, :func:`solver_unit`): the solver gets the row divided by it,
        in units of ``unit`` (millions of tokens/s, say); the row itself, its slack and its dual
        (rescaled by :mod:`solver.solve`) stay in natural units.

        A row without variables is left out when it holds (it can bind nothing) and kept
        when it fails, so that the model is reported infeasible and diagnosed.
        """
        terms = list(terms)
        if not terms and (sense == LE and rhs >= 0 or sense == GE and rhs <= 0):
            return None
        c = self.lp.add_row(terms, sense, rhs, unit, unique)
        self.con.setdefault(family, {})[key] = c
        return c

    @property
    def has_integers(self) -> bool:
        """Whether any column is integer (integer mode, or discount-tier binaries)."""
        return self.lp.has_integers

    def inst_terms(self, s: int, h: int, t: int) -> list[tuple[int, float]]:
        """Purchase variables whose units are installed at (s, h) in t, with coefficient 1."""
        cols = self._buy_columns().get((s, h))
        if not cols:
            return []
        origins = self.data.buy_origins(h, t)
        return [(c, 1.0) for c in cols[max(0, origins.start) : max(0, origins.stop)]]

    def _buy_columns(self) -> dict[tuple[int, int], list[int]]:
        """(s, h) -> the buy column of each purchase period 0, 1, … (periods in which h can be
        bought are a prefix of the horizon), made once the buy family is complete."""
        if self._buy_cols is None:
            out: dict[tuple[int, int], list[int]] = {}
            for (s, h, _t), col in self.var.get("buy", {}).items():  # made in period order
                out.setdefault((s, h), []).append(col)
            self._buy_cols = out
        return self._buy_cols

    def existing(self, s: int, h: int, t: int) -> float:
        ex = self.data.existing.get((s, h))
        return ex[t] if ex else 0.0


# ------------------------------------------------------------------------ variables


def add_buy_variables(m: Built) -> None:
    """buy[s,h,t] >= 0: units of h acquired for site s in period t (integer in integer mode).

    Exists only where h is allowed at s and t + L_h <= N - 1 (it arrives in the horizon).
    """
    keys = [(s, h, t) for s, hs in enumerate(m.data.allowed) for h in hs for t in m.data.buy_periods(h)]
    m.new_vars("buy", keys)


def add_alloc_variables(m: Built) -> None:
    """alloc[s,h,w,t] >= 0: installed units of h at s serving workload w in t.

    Only for eligible (s, h, w), made in one step: the column of eligible triple e in period t is
    ``alloc_cols[e·N + t]``.  In integer mode the variable counts whole replicas and
    alloc = units_per_replica · rep (``alloc_scale[e]`` holds the factor; 1 otherwise).
    """
    req = m.data.req
    periods = range(m.data.n)
    cols = m.new_vars("alloc", [(s, h, w, t) for s, h, w in m.data.eligible for t in periods])
    assert cols is not None  # allocation is never a here-and-now decision
    m.alloc_cols = cols
    m.alloc_scale = [
        req.hardware[h].performance[req.workloads[w].model].units_per_replica if m.integer else 1.0
        for _s, h, w in m.data.eligible
    ]


def add_served_variables(m: Built) -> None:
    """served[w,t] >= 0: tokens/s of workload w served in period t."""
    m.new_vars("served", [(w, t) for w in range(len(m.data.req.workloads)) for t in range(m.data.n)])


def add_expansion_variables(m: Built) -> None:
    """expand[s,t] >= 0: MW of site power whose build starts in t (online at t + L_s)."""
    for s, site in enumerate(m.data.req.sites):
        if site.expansion is None or site.expansion.max_mw <= 0:
            continue
        for t in range(max(0, m.data.n - m.data.exp_lead[s])):
            m.new_var("expand", (s, t))


def add_contract_variables(m: Built) -> None:
    """shortfall[v] >= 0 (take-or-pay shortfall, $) and vested[v] in [0, F_v] (warrants: the
    dollars of net spend that vest, F_v the full-vest spend; equity = e_max·vested/F_v).

    Vesting is counted in dollars, not as an equity fraction: the row equity <= e_max·B_v/F_v
    had coefficients e_max/F_v (1e-13 for 1 % vesting at $100B) times a late purchase's small
    net base, below HiGHS's small_matrix_value (1e-9), which silently drops such entries.

    Unit: both are handed to the solver in units of ``data.usd_unit`` dollars, as the dollar rows
    they appear in (:func:`solver_unit`); the handles' values and bounds stay in dollars."""
    for c in m.data.req.contracts:
        v = m.data.vendors.index(c.vendor)
        if c.min_spend_usd > 0:
            m.new_var("shortfall", (v,), unit=m.data.usd_unit)
        if c.warrants is not None:
            m.new_var("vested", (v,), 0.0, c.warrants.full_vest_spend_usd, m.data.usd_unit)


def add_discount_variables(m: Built) -> None:
    """tier[v,k] in [0, W_k] ($ of spend with v inside discount tier k) and reached[v,k] in
    {0, 1} (the spend passed tier k's threshold), for contracts with discount tiers.

    W_k = T_{k+1} − T_k, and for the last tier M_v − T_k with M_v a bound on the spend
    (:func:`spend_bound`); a tier whose threshold lies beyond M_v is left out (unreachable).

    Unit: tier[v,k] is handed to the solver in units of ``data.usd_unit`` dollars (its value
    and bound on the handle stay in dollars).  In dollars, with bounds up to 1e12 and
    coefficients 1e-6 in the rows of $1M, the 20-year case's MIP (rows scaled) proved a dual
    bound above its optimum (3.1343e11 against 3.1181e11) and stopped there; in $1M it does not.
    """
    if not m.discounts:
        return
    for c in m.data.req.contracts:
        v = m.data.vendors.index(c.vendor)
        for k, width in enumerate(tier_widths(m, v)):
            m.new_var("tier", (v, k), 0.0, width, m.data.usd_unit)
            m.lp.integer.add(m.new_var("reached", (v, k), 0.0, 1.0))


# ---------------------------------------------------------------------- constraints


def add_allocation_constraints(m: Built) -> None:
    """Σ_w alloc[s,h,w,t] <= inst[s,h,t] = existing + Σ_{τ: in service at t} buy[s,h,τ].

    Dual: objective change per extra installed unit of h at s in t (not published).
    """
    n, base = m.data.n, m.alloc_cols.start
    by_sh: dict[tuple[int, int], list[tuple[int, float]]] = {}  # (s, h) -> (first column, scale)
    for e, (s, h, _w) in enumerate(m.data.eligible):
        by_sh.setdefault((s, h), []).append((base + e * n, m.alloc_scale[e]))
    for (s, h), firsts in by_sh.items():
        for t in range(n):
            terms = [(first + t, scale) for first, scale in firsts]
            terms += [(b, -1.0) for b, _ in m.inst_terms(s, h, t)]
            m.new_row("alloc_cap", (s, h, t), terms, LE, m.existing(s, h, t), unique=True)


def add_demand_constraints(m: Built) -> None:
    """Demand of workload w in period t (D[w,t] the period's average rate, φ[w,t] its peak
    factor: :func:`demand_curve`; served[w,t] is an average rate too).

    * capacity:   Σ_{s,h} tput[h,w]·alloc[s,h,w,t] >= (1 + reserve_margin)·φ[w,t]·served[w,t]
      (serving a fraction of the demand means serving that fraction of its peak)
    * min_service: served[w,t] >= min_service_fraction·D[w,t]
    * demand_cap:  served[w,t] <= D[w,t]

    Duals: d(objective)/dD[w,t] = msf·π(min_service) + π(demand_cap); divided by
    seconds_t/1e6 and by d_t it is the nominal marginal cost of a million tokens.

    Unit: the three rows are handed to the solver in units of ``data.tokens_unit`` tokens/s
    (1e6 for a peak demand of 1.35e10 tokens/s, :func:`solver_unit`); their duals are rescaled
    to the natural row (per token/s), as above.
    """
    data = m.data
    req = data.req
    rm = 1 + req.policy.reserve_margin
    served = m.var["served"]
    n, base = data.n, m.alloc_cols.start
    by_w: list[list[tuple[int, float]]] = [[] for _ in req.workloads]  # [w] -> (first column, tokens/s)
    for e, (_s, h, w) in enumerate(data.eligible):
        by_w[w].append((base + e * n, data.tput[h][w] * m.alloc_scale[e]))
    for w, wl in enumerate(req.workloads):
        for t in range(data.n):
            terms = [(first + t, tput) for first, tput in by_w[w]]
            terms.append((served[(w, t)], -rm * data.peak[w][t]))
            m.new_row("capacity", (w, t), terms, GE, 0.0, data.tokens_unit, unique=True)
            m.new_row(
                "min_service",
                (w, t),
                [(served[(w, t)], 1.0)],
                GE,
                wl.min_service_fraction * data.demand[w][t],
                data.tokens_unit,
            )
            m.new_row("demand_cap", (w, t), [(served[(w, t)], 1.0)], LE, data.demand[w][t], data.tokens_unit)


def add_served_total_constraint(m: Built) -> None:
    """Σ_{w,t} served[w,t] >= min_total_served_fraction · Σ_{w,t} D[w,t] (when set).

    Periods have equal length, so this is the unweighted served fraction of the plan's
    summary.  The cost-vs-served frontier (solver.scenarios) moves it.  Dual: objective
    change per extra token/s-period required (not published).

    Unit: handed to the solver in units of :func:`solver_unit` of Σ D tokens/s-periods (the
    sum over all periods is larger than any one row of :func:`add_demand_constraints`); the
    dual is rescaled to the natural row.
    """
    frac = m.data.req.policy.min_total_served_fraction
    if frac is None:
        return
    total = sum(sum(d) for d in m.data.demand)
    terms = [(v, 1.0) for v in m.var["served"].values()]
    m.new_row("served_total", (), terms, GE, frac * total, solver_unit(total))


def add_power_constraints(m: Built) -> None:
    """Σ_h inst[s,h,t]·kW_h·PUE_s/1000 <= P[s,t] + Σ_{τ + L_s <= t} expand[s,τ];
    Σ_t expand[s,t] <= max_mw.

    Dual of the first: objective change per MW of facility power at s in t ($/MW in a
    min_cost plan); of the second: per MW of expansion allowance.
    """
    data = m.data
    req = data.req
    expand = m.var.get("expand", {})
    for s, site in enumerate(req.sites):
        if not data.present[s]:
            continue
        for t in range(data.n):
            terms: list[tuple[int, float]] = []
            fixed = 0.0
            for h in data.present[s]:
                mw = req.hardware[h].it_power_kw * site.pue / 1000
                if mw == 0:
                    continue
                terms += [(b, mw) for b, _ in m.inst_terms(s, h, t)]
                fixed += m.existing(s, h, t) * mw
            terms += [
                (expand[(s, tau)], -1.0) for tau in range(t - data.exp_lead[s] + 1) if (s, tau) in expand
            ]
            m.new_row("power", (s, t), terms, LE, data.power[s][t] - fixed)
        if site.expansion is not None:
            ex_terms = [(v, 1.0) for (s2, _), v in expand.items() if s2 == s]
            if ex_terms:
                m.new_row("expansion_cap", (s,), ex_terms, LE, site.expansion.max_mw)


def add_supply_constraints(m: Built) -> None:
    """Σ_s buy[s,h,t] <= max_units_per_period[h][t].  Dual: objective change per unit."""
    buy = m.var.get("buy", {})
    by_ht: dict[Key, list[tuple[int, float]]] = {}
    for (_s, h, t), v in buy.items():
        if m.data.supply[h] is not None:
            by_ht.setdefault((h, t), []).append((v, 1.0))
    for (h, t), terms in sorted(by_ht.items()):
        cap = m.data.supply[h]
        assert cap is not None
        m.new_row("supply", (h, t), terms, LE, cap[t])


def capex_by_period(m: Built) -> list[list[tuple[int, float]]]:
    """Nominal capex of every period t, as it is paid:

        capex_t = Σ_{s,h} price_h·(f_h·buy[s,h,t] + (1 − f_h)·buy[s,h,t − L_h]) + Σ_s expand[s,t]·usd_per_mw

    f_h the deposit_fraction (:meth:`ModelData.payments`; f_h = 1 or L_h = 0: all at the
    order).  Site expansions are paid when they start.  A variable appears in one period, or in
    two (its order and its arrival): sums over periods must merge them (:func:`_merged`).
    """
    req = m.data.req
    out: list[list[tuple[int, float]]] = [[] for _ in range(m.data.n)]
    for (_s, h, tau), v in m.var.get("buy", {}).items():
        price = req.hardware[h].unit_price_usd
        if price:
            for t, x in m.data.payments(h, tau):
                out[t].append((v, x * price))
    for (s, tau), v in m.var.get("expand", {}).items():
        ex = req.sites[s].expansion
        if ex is not None and ex.usd_per_mw:
            out[tau].append((v, ex.usd_per_mw))
    return out


def add_budget_constraints(m: Built) -> None:
    """Σ_t capex_t + Σ_v shortfall_v <= capex_usd;  capex_t <= capex_per_period_usd[t].

    capex_t as paid (:func:`capex_by_period`): a unit ordered in τ with a deposit f_h takes
    f_h·price from the row of τ and (1 − f_h)·price from the row of τ + L_h; the horizon row
    takes its whole price either way.

    Dual: objective change per dollar of budget (total, and per period: per dollar of that
    period's payments, deposits and balances alike).

    Unit: handed to the solver in units of ``data.usd_unit`` dollars ($1M for dollar limits
    of $1e10 and more, :func:`solver_unit`); the duals are rescaled to per dollar.
    """
    data = m.data
    budget = data.req.budget
    if budget.capex_usd is None and data.capex_cap is None:
        return
    per_t = capex_by_period(m)
    if budget.capex_usd is not None:
        terms = _merged(x for ts in per_t for x in ts)  # a deposit and its balance: one term
        terms += [(v, 1.0) for v in m.var.get("shortfall", {}).values()]
        m.new_row("budget", (), terms, LE, budget.capex_usd, data.usd_unit)
    if data.capex_cap is not None:
        for t, ts in enumerate(per_t):
            if ts:
                m.new_row("budget_period", (t,), ts, LE, data.capex_cap[t], data.usd_unit)


def add_total_budget_constraints(m: Built) -> None:
    """Total spend, nominal (``budget.total_usd`` and ``budget.total_per_period_usd``):

    * ``total_budget``:  Σ_t (capex_t + opex_t) + Σ_v shortfall_v <= total_usd
    * ``total_budget_period[t]``:  capex_t + opex_t <= total_per_period_usd[t]

    with opex_t = Σ_{s,h} inst[s,h,t]·oc[s,h] (maintenance, lease and hosting fees, energy, site
    lease), the existing fleet's a constant moved to the right-hand side.  A purchase in τ adds
    price + oc·(periods of its service window) to the total, f_h·price to capex_τ and
    (1 − f_h)·price to capex_{τ+L_h} (its deposit and balance, :func:`capex_by_period`), and oc
    to every period it is in service.  Nothing is credited: not the residual value, warrants or rebates
    (all at or after the horizon end), as the capex budget credits none of them.

    Dual: objective change per dollar of total budget (whole horizon, and per period).

    Unit: handed to the solver in units of ``data.usd_unit`` dollars (:func:`solver_unit`); the
    duals are rescaled to per dollar.
    """
    data = m.data
    budget = data.req.budget
    cap_t = _per_period(budget.total_per_period_usd, data.n)
    if budget.total_usd is None and cap_t is None:
        return
    per_t = capex_by_period(m)
    fixed = data.existing_opex()
    for (s, h, tau), b in m.var.get("buy", {}).items():
        oc = data.opex_unit[(s, h)]
        if oc:
            for t in data.window(h, tau):
                per_t[t].append((b, oc))
    if budget.total_usd is not None:
        terms = _merged(x for ts in per_t for x in ts)
        terms += [(v, 1.0) for v in m.var.get("shortfall", {}).values()]
        m.new_row("total_budget", (), terms, LE, budget.total_usd - sum(fixed), data.usd_unit)
    if cap_t is not None:
        for t, ts in enumerate(per_t):
            m.new_row("total_budget_period", (t,), _merged(ts), LE, cap_t[t] - fixed[t], data.usd_unit)


def _merged(terms: Iterable[tuple[int, float]]) -> list[tuple[int, float]]:
    """``terms`` with the coefficients of a column that appears more than once added up."""
    coef: dict[int, float] = {}
    for i, c in terms:
        coef[i] = coef.get(i, 0.0) + c
    return list(coef.items())


def _it_kw_terms(m: Built, t: int, weight: list[float]) -> tuple[list[tuple[int, float]], float]:
    """Σ_{s,h} weight[h]·kW_h·inst[s,h,t] as (terms, constant from the existing fleet)."""
    req = m.data.req
    terms: list[tuple[int, float]] = []
    fixed = 0.0
    for s, hs in enumerate(m.data.present):
        for h in hs:
            c = weight[h] * req.hardware[h].it_power_kw
            if c == 0:
                continue
            terms += [(b, c) for b, _ in m.inst_terms(s, h, t)]
            fixed += c * m.existing(s, h, t)
    return terms, fixed


def add_vendor_share_constraints(m: Built) -> None:
    """Σ_{h of v} kW·inst <= max_share_v·Σ_h kW·inst (and >= min_share_v·…) per period,
    over IT power summed over sites.  Written as Σ_h (1[h∈v] − share)·kW·inst (<=|>=) 0.

    Dual: objective change per kW of slack in the share limit (not published).
    """
    data = m.data
    pol = data.req.policy
    for family, shares, sense in (
        ("vendor_max", pol.max_vendor_share, LE),
        ("vendor_min", pol.min_vendor_share, GE),
    ):
        for vendor, share in shares.items():
            v = data.vendors.index(vendor)
            weight = [(1.0 if data.vendor_of[h] == v else 0.0) - share for h in range(len(data.req.hardware))]
            for t in range(data.n):
                terms, fixed = _it_kw_terms(m, t, weight)
                # no decision moves a period with only existing units installed: new_row keeps
                # that row only when the existing fleet alone breaks the share (infeasible)
                m.new_row(family, (v, t), terms, sense, -fixed)


def spend_terms(m: Built, v: int) -> tuple[list[tuple[int, float]], float]:
    """Nominal spend with vendor v: upfront Σ buy·price + recurring fees of installed units."""
    data = m.data
    req = data.req
    terms: list[tuple[int, float]] = []
    for (_s, h, tau), b in m.var.get("buy", {}).items():
        if data.vendor_of[h] != v:
            continue
        hw = req.hardware[h]
        c = hw.unit_price_usd + hw.recurring_usd_per_unit_hour * data.hours * len(data.window(h, tau))
        if c:
            terms.append((b, c))
    fixed = 0.0
    for (_s, h), units in data.existing.items():
        if data.vendor_of[h] == v:
            fixed += sum(units) * req.hardware[h].recurring_usd_per_unit_hour * data.hours
    return terms, fixed


def net_spend_terms(m: Built, v: int) -> tuple[list[tuple[int, float]], float]:
    """B_v, the net spend that discount tiers and warrant vesting count: S_v minus the
    residual value of v's purchases.

    The residual credit already counts that part of a purchase as recovered, not spent in the
    horizon; crediting a rebate or vested equity on it too would pay a plan to buy units it
    does not need (a 15% rebate on a unit that keeps 90% of its value returns 105% of its
    price; $0.13 of equity per dollar bought idle in the last quarter vested a whole warrant).
    On B_v a purchase's credits stay below its price: r + c·(1 − r) < 1 for a credit rate c < 1.
    """
    data = m.data
    terms, fixed = spend_terms(m, v)
    price = {h: hw.unit_price_usd for h, hw in enumerate(data.req.hardware)}
    keys = {b: key for key, b in m.var.get("buy", {}).items()}
    out = []
    for b, c in terms:
        _s, h, tau = keys[b]
        base = c - price[h] * data.residual_fraction(tau, data.lead[h], data.life[h])
        if base:
            out.append((b, base))
    return out, fixed


def add_contract_constraints(m: Built) -> None:
    """Take-or-pay: shortfall_v + S_v >= min_spend_v.  Warrants: vested_v <= B_v (B_v the net
    spend, :func:`net_spend_terms`; vested_v <= F_v is its bound).

    Dual of take-or-pay: objective change per dollar of commitment.

    Unit: both rows are in dollars and handed to the solver in units of ``data.usd_unit``
    (:func:`solver_unit`); the duals are rescaled to per dollar.
    """
    data = m.data
    for c in data.req.contracts:
        v = data.vendors.index(c.vendor)
        terms, fixed = spend_terms(m, v)  # take-or-pay: the commitment is met by any spend
        if (v,) in m.var.get("shortfall", {}):
            m.new_row(
                "take_or_pay",
                (v,),
                [*terms, (m.var["shortfall"][(v,)], 1.0)],
                GE,
                c.min_spend_usd - fixed,
                data.usd_unit,
            )
        if c.warrants is not None:  # warrants vest on the net spend B_v (net_spend_terms)
            net, net_fixed = net_spend_terms(m, v)
            m.new_row(
                "warrant_vesting",
                (v,),
                [(m.var["vested"][(v,)], 1.0)] + [(b, -x) for b, x in net],
                LE,
                net_fixed,
                data.usd_unit,
            )


def spend_bound(m: Built, v: int) -> float:
    """An upper bound M_v on the nominal spend with vendor v that every feasible plan obeys.

    Units of h installed at s never exceed U = (max_t P[s,t] + expansion max_mw)·1000/(kW_h·PUE_s)
    (the power row), nor Σ_t supply[h][t] bought in all; purchases made within one lifetime of
    each other are all in service together, so at most ⌈(purchase periods)/life_h⌉·U units are
    bought at s.  Each costs at most max_τ (price + recurring fees over its service window).
    """
    data = m.data
    req = data.req
    _, fixed = spend_terms(m, v)
    total = fixed
    sites_of: dict[int, list[int]] = {}  # h -> the sites where it is allowed, in order
    for s, hs in enumerate(data.allowed):
        for h in hs:
            sites_of.setdefault(h, []).append(s)
    for h, hw in enumerate(req.hardware):
        if data.vendor_of[h] != v:
            continue
        periods = data.buy_periods(h)
        if not periods:
            continue
        unit = max(
            hw.unit_price_usd + hw.recurring_usd_per_unit_hour * data.hours * len(data.window(h, tau))
            for tau in periods
        )
        by_power = 0.0
        for s in sites_of.get(h, []):
            site = req.sites[s]
            mw = hw.it_power_kw * site.pue / 1000
            if mw <= 0:
                by_power = math.inf
                break
            extra = site.expansion.max_mw if site.expansion is not None else 0.0
            cap = (max(data.power[s]) + extra) / mw
            by_power += math.ceil(len(periods) / data.life[h]) * cap
        supply = data.supply[h]
        by_supply = math.inf if supply is None else sum(supply[t] for t in periods)
        total += unit * min(by_power, by_supply)
    return total


def tier_widths(m: Built, v: int, bound: float | None = None) -> list[float]:
    """W_k of the discount tiers of v's contract that a net spend up to ``bound`` can reach
    (by default the spend bound M_v, :func:`spend_bound`, which every feasible plan obeys)."""
    contract = next(c for c in m.data.req.contracts if c.vendor == m.data.vendors[v])
    tiers = contract.discount_tiers
    if not tiers:
        return []
    if bound is None:
        bound = spend_bound(m, v)
    widths = []
    for k, tier in enumerate(tiers):
        top = tiers[k + 1].above_spend_usd if k + 1 < len(tiers) else bound
        if tier.above_spend_usd >= bound:
            break
        widths.append(min(top, bound) - tier.above_spend_usd)
    return widths


def add_discount_constraints(m: Built) -> None:
    """Discount tiers (incremental), with T_k the thresholds and reached[v,·] binaries:

    * tier[v,k] <= W_k·reached[v,k]           (no spend counted in a tier not reached)
    * tier[v,k] >= W_k·reached[v,k+1]         (a tier is full before the next one is reached)
    * T_0·reached[v,0] + Σ_k tier[v,k] <= B_v (``discount_spend``: tiers hold no more than the
      rebate base, the spend net of the residual value of v's purchases: :func:`net_spend_terms`)

    The rebate Σ_k discount_k·tier[v,k] is credited in the cost; since the solver wants it large,
    these bounds make it exactly Σ_k discount_k·clamp(B_v − T_k, 0, W_k).  W_k comes from the
    spend bound M_v >= S_v >= B_v.  Duals: not published (with the binaries fixed,
    ``discount_spend``'s is the rebate per extra dollar of rebate base).

    Unit: the three rows are in dollars and handed to the solver in units of ``data.usd_unit``
    (:func:`solver_unit`; the duals rescaled to per dollar): in dollars, the optimum of the
    20-year case violated ``discount_spend`` (terms ~7.5e10) by 4.8e-5 in round-off, and the
    MIP discarded it.
    """
    data = m.data
    tier, reached = m.var.get("tier", {}), m.var.get("reached", {})
    for c in data.req.contracts:
        v = data.vendors.index(c.vendor)
        widths = [m.lp.ub[tier[(v, k)]] for k in range(len(c.discount_tiers)) if (v, k) in tier]
        if not widths:
            continue
        for k, width in enumerate(widths):
            row = [(tier[(v, k)], 1.0), (reached[(v, k)], -width)]
            m.new_row("tier_open", (v, k), row, LE, 0.0, data.usd_unit)
            if k + 1 < len(widths):
                row = [(tier[(v, k)], 1.0), (reached[(v, k + 1)], -width)]
                m.new_row("tier_fill", (v, k), row, GE, 0.0, data.usd_unit)
        terms, fixed = net_spend_terms(m, v)
        m.new_row(
            "discount_spend",
            (v,),
            [(reached[(v, 0)], c.discount_tiers[0].above_spend_usd)]
            + [(tier[(v, k)], 1.0) for k in range(len(widths))]
            + [(b, -x) for b, x in terms],
            LE,
            fixed,
            data.usd_unit,
        )


def bound_tiers(m: Built, v: int, bound: float) -> None:
    """Size vendor v's discount tiers for a net spend of at most ``bound`` (<= M_v): the last
    tier below ``bound`` gets the width ``bound`` − T_k in its column bound and its
    ``tier_open`` row, and the tiers at or above ``bound`` cannot be reached (``reached`` <= 0).
    ``bound_tiers(m, v, spend_bound(m, v))`` puts back the widths the model was built with.

    Only a bound that no optimal plan exceeds may be used (the planner's optimality bound,
    :func:`solver.planner.optimality_spend_bounds`): a smaller one would cut off plans and
    leave the rebate of a spend above it unpaid.  A tighter width tightens the LP relaxation
    of the tier MIP: with the physical M_v (~1e12 over 20 years) the relaxation credited
    nearly all spend at the top rate, reached[last] = tier/W being tiny.
    """
    widths = tier_widths(m, v, bound)
    tier, reached = m.var.get("tier", {}), m.var.get("reached", {})
    for (vendor, k), x in tier.items():
        if vendor != v:
            continue
        b = reached[(v, k)]
        if k < len(widths):
            m.lp.ub[x], m.lp.ub[b] = widths[k], 1.0
            m.con["tier_open"][(v, k)].expr[b] = -widths[k]
        else:  # the rows keep their widths; a tier not reached holds nothing
            m.lp.ub[x], m.lp.ub[b] = 0.0, 0.0


# ------------------------------------------------------------------------ objective


def build_cost(m: Built) -> Expr:
    """NPV cost: Σ_t d_t·(capex_t + opex_t) − d_N·residual + d_N·Σ_v (shortfall_v −
    valuation_v·e_max_v·vested_v/F_v − Σ_k discount_k·tier[v,k]), with opex from installed units
    (existing ones as a constant).

    A unit of h ordered in τ costs price_h·(f_h·d_τ + (1 − f_h)·d_{τ+L_h}) (f_h its
    deposit_fraction, :meth:`ModelData.payments`): the deposit at the order, the balance on
    arrival.  Its residual value is that of the purchase, whenever it was paid for."""
    data = m.data
    req = data.req
    coef: dict[int, float] = {}
    const = 0.0
    for (s, h, tau), b in m.var.get("buy", {}).items():
        hw = req.hardware[h]
        oc = data.opex_unit[(s, h)]
        c = sum(data.d[t] * x * hw.unit_price_usd for t, x in data.payments(h, tau))
        c += sum(data.d[t] * oc for t in data.window(h, tau))
        c -= data.d_end * hw.unit_price_usd * data.residual_fraction(tau, data.lead[h], data.life[h])
        coef[b] = c
    for (s, tau), x in m.var.get("expand", {}).items():
        ex = req.sites[s].expansion
        assert ex is not None
        c = data.d[tau] * ex.usd_per_mw
        c -= data.d_end * ex.usd_per_mw * data.residual_fraction(tau, data.exp_lead[s], data.exp_life[s])
        coef[x] = c
    for (s, h), units in data.existing.items():
        const += sum(data.d[t] * units[t] * data.opex_unit[(s, h)] for t in range(data.n))
    for (_v,), x in m.var.get("shortfall", {}).items():
        coef[x] = data.d_end
    for c_ in req.contracts:
        v = data.vendors.index(c_.vendor)
        if c_.warrants is not None:
            w = c_.warrants
            x = m.var["vested"][(v,)]
            coef[x] = -data.d_end * w.company_valuation_usd * w.equity_fraction_max / w.full_vest_spend_usd
        for k, tier in enumerate(c_.discount_tiers):
            xt = m.var.get("tier", {}).get((v, k))
            if xt is not None:
                coef[xt] = -data.d_end * tier.discount
    return Expr(coef.items(), constant=const)


def build_served_value(m: Built) -> Expr:
    """Weighted million tokens served: Σ weight_w·served[w,t]·seconds_t/1e6."""
    data = m.data
    mt = data.seconds / 1e6
    return Expr((v, data.req.workloads[w].weight * mt) for (w, t), v in m.var["served"].items())


def minimised_objective(m: Built, stage: int = 1) -> Expr:
    """The block's minimised objective (:func:`set_objective` sets it on the problem).

    * min_cost:   cost + Σ d_t·penalty_w·(D − served)·seconds_t/1e6
    * max_served: stage 1 min −served_value; stage 2 min cost (served_value fixed)
    * max_profit: min cost − Σ d_t·value_w·served·seconds_t/1e6
      + Σ d_t·penalty_w·(D − served)·seconds_t/1e6

    The penalty is on all unmet demand, D − served, whatever min_service_fraction (it is a
    floor, the penalty a price on everything below D), the same in min_cost and max_profit:
    an SLA penalty is a real cost to a profit-maximiser too.  Its constant part
    d_t·penalty_w·D·seconds_t/1e6 is in the objective, so max_profit's value is the profit net
    of the penalties.
    """
    data = m.data
    req = data.req
    assert m.cost is not None and m.served_value is not None
    kind = req.objective.kind
    mt = data.seconds / 1e6
    if kind == "max_served":
        return m.served_value.scaled(-1.0) if stage == 1 else m.cost.copy()
    expr = m.cost.copy()
    for (w, t), v in m.var["served"].items():
        wl = req.workloads[w]
        pen = wl.unmet_penalty_usd_per_million_tokens
        val = wl.value_usd_per_million_tokens if kind == "max_profit" else 0.0
        if pen or val:
            expr[v] = expr.get(v, 0.0) - data.d[t] * (pen + val) * mt
        if pen:
            expr.constant += data.d[t] * pen * mt * data.demand[w][t]
    return expr


def set_objective(m: Built, stage: int = 1) -> None:
    """Set the problem's objective to the block's :func:`minimised_objective`."""
    m.lp.objective = minimised_objective(m, stage)


def build_model(data: ModelData, integer: bool = False, discounts: bool = True) -> Built:
    """The deterministic model: a problem with one scenario block and that block's objective.
    ``discounts=False`` leaves the tiers out (they only credit money, so feasibility does not
    depend on them)."""
    m = build_block(Problem(), data, integer=integer, discounts=discounts)
    set_objective(m, stage=1)
    return m


def build_block(
    problem: Problem,
    data: ModelData,
    *,
    integer: bool = False,
    discounts: bool = True,
    shared_with: Built | None = None,
    decide_periods: int = 0,
) -> Built:
    """Build one scenario's block into ``problem``: variable families, constraint families, then
    its cost and served-value expressions (the caller sets the problem's objective from them).

    Callable more than once into the same problem: block k is scenario k, and with
    ``shared_with`` its here-and-now decisions (:data:`HERE_AND_NOW`, periods before
    ``decide_periods``) are that block's columns.  ValueError when this scenario has a
    here-and-now decision the shared block does not (a scenario that removes one)."""
    m = Built(
        data=data,
        integer=integer,
        problem=problem,
        discounts=discounts,
        scenario=len(problem.blocks),
        shared_with=shared_with,
        decide_periods=decide_periods,
    )
    problem.blocks.append(m)
    add_buy_variables(m)
    add_alloc_variables(m)
    add_served_variables(m)
    add_expansion_variables(m)
    add_contract_variables(m)
    add_discount_variables(m)

    add_allocation_constraints(m)
    add_demand_constraints(m)
    add_served_total_constraint(m)
    add_power_constraints(m)
    add_supply_constraints(m)
    add_budget_constraints(m)
    add_total_budget_constraints(m)
    add_vendor_share_constraints(m)
    add_contract_constraints(m)
    add_discount_constraints(m)

    m.cost = build_cost(m)
    m.served_value = build_served_value(m)
    if integer:
        for family in ("buy", "alloc"):
            m.lp.integer.update(m.var.get(family, {}).values())
    return m


def count_variables(data: ModelData) -> int:
    """Number of columns ``build_model`` would create, without building anything (discount
    tiers beyond any reachable spend are counted although they are left out)."""
    nbuy = sum(len(data.buy_periods(h)) for hs in data.allowed for h in hs)
    nalloc = len(data.eligible) * data.n
    nserved = len(data.req.workloads) * data.n
    nexp = sum(
        max(0, data.n - data.exp_lead[s])
        for s, site in enumerate(data.req.sites)
        if site.expansion is not None and site.expansion.max_mw > 0
    )
    ntiers = sum(len(c.discount_tiers) for c in data.req.contracts)
    return nbuy + nalloc + nserved + nexp + 2 * len(data.req.contracts) + 2 * ntiers
