"""Turn solved handles into the Plan: fleet table, cost components, summary, duals.

Every figure is computed from the fleet table (acquired, installed, allocated units and
expansions) and the request's numbers, so anyone can recompute it; the tests do.

Shadow prices follow one convention: *how much the reported objective improves per unit
of relief* of the limit.  Row duals from :mod:`solver.solve` are π = d(minimised
objective)/d(rhs), and the reported objective improves when the minimised one falls, so
the price of a ``<=`` limit (power, budgets on capex and on capex + opex, supply) is −π;
vendor-share prices are per percentage point of share (:func:`vendor_share_prices`).  Demand is reported as the
nominal change of the minimised objective per extra million tokens demanded:
(msf·π_min_service + π_demand_cap [+ frac·π_served_total] [+ d_t·penalty·seconds_t/1e6])
/ (seconds_t/1e6) / d_t — the penalty term (min_cost and max_profit) because their objectives
hold the constant d_t·penalty·D·seconds_t/1e6, which moves with D although no row dual sees it.
For max_served the objective is not discounted, so the price is not divided by d_t.
"""

from __future__ import annotations

from collections import defaultdict
from typing import get_args

from solver.limits import LIMITS, Key, LimitFamily, Subject, binding_words, price_rows, subject
from solver.model import Built
from solver.schema import (
    BindingLimit,
    ContractOut,
    DiscountTier,
    FleetRow,
    PeriodOut,
    ShadowPrices,
    SitePeriod,
    Summary,
    WorkloadPeriod,
)

ZERO = 1e-9
BINDING_TOL = 1e-7
SHORTFALL_NOISE = 1e-9
"""A take-or-pay shortfall recomputed from the fleet at most this fraction of the commitment is
round-off of a commitment met exactly, and is reported as 0 (docs/formulation.md, Plan figures)."""
MAX_SERVED_BINDING_TOL = 1e-5


def _v(x: float | None, weight: float = 1.0) -> float:
    """``x``, or 0 when its effect ``|x|·weight`` (dollars, tokens/s, kW of one unit of x) is
    below ZERO: solver noise is cleaned, a trillionth of a $1e12 unit is not."""
    if x is None or abs(x) * max(1.0, weight) < ZERO:
        return 0.0
    return float(x)


class Values:
    """Primal values of a solved model, by family and key, negligible values cleaned to 0."""

    def __init__(self, m: Built) -> None:
        req, data = m.data.req, m.data
        unit = [
            max(hw.unit_price_usd, hw.recurring_usd_per_unit_hour * data.hours, hw.it_power_kw, *data.tput[h])
            for h, hw in enumerate(req.hardware)
        ]
        x = m.lp.x or [0.0] * m.lp.num_cols
        self.buy = {k: _v(x[v], unit[k[1]]) for k, v in m.var.get("buy", {}).items()}
        n = data.n
        self.alloc = {
            k: _v(x[v] * m.alloc_scale[i // n], unit[k[1]])
            for i, (k, v) in enumerate(m.var.get("alloc", {}).items())
        }
        self.served = {k: _v(x[v]) for k, v in m.var.get("served", {}).items()}
        per_mw = [s.expansion.usd_per_mw if s.expansion is not None else 0.0 for s in req.sites]
        self.expand = {k: _v(x[v], per_mw[k[0]]) for k, v in m.var.get("expand", {}).items()}
        self.shortfall = {k[0]: _v(x[v]) for k, v in m.var.get("shortfall", {}).items()}
        per_usd = {  # equity value per vested dollar
            data.vendors.index(c.vendor): c.warrants.company_valuation_usd
            * c.warrants.equity_fraction_max
            / c.warrants.full_vest_spend_usd
            for c in req.contracts
            if c.warrants is not None
        }
        self.vested = {k[0]: _v(x[v], per_usd[k[0]]) for k, v in m.var.get("vested", {}).items()}


def installed(m: Built, x: Values, s: int, h: int, t: int) -> float:
    """existing + Σ buy in service at t."""
    total = m.existing(s, h, t)
    for tau in m.data.buy_origins(h, t):
        total += x.buy.get((s, h, tau), 0.0)
    return total


def extract_periods(m: Built, x: Values) -> list[PeriodOut]:
    """Per-period fleet, power, demand and cost tables.

    Hardware capex is counted in the periods it is paid (:meth:`ModelData.payments`): the
    deposit_fraction of a unit's price in the period it is acquired, the rest in the period it
    arrives; expansion capex when the expansion starts."""
    data = m.data
    req = data.req
    alloc_by: dict[tuple[int, int, int], dict[str, float]] = defaultdict(dict)
    cap_by: dict[tuple[int, int], float] = defaultdict(float)
    for (s, h, w, t), a in x.alloc.items():
        if a:
            alloc_by[(s, h, t)][req.workloads[w].id] = a
            cap_by[(w, t)] += a * data.tput[h][w]
    capex_hw = [0.0] * data.n  # as paid: a deposit at the order, the balance on arrival
    for (_s, h, tau), units in x.buy.items():
        for t, share in data.payments(h, tau):
            capex_hw[t] += units * share * req.hardware[h].unit_price_usd
    capex_exp = [0.0] * data.n
    online_from: dict[tuple[int, int], float] = defaultdict(float)  # (s, t) -> MW coming online
    for (s, tau), mw in x.expand.items():
        ex = req.sites[s].expansion
        if ex is not None:
            capex_exp[tau] += mw * ex.usd_per_mw
        if tau + data.exp_lead[s] < data.n:
            online_from[(s, tau + data.exp_lead[s])] += mw
    online = [0.0] * len(req.sites)
    out = []
    for t in range(data.n):
        opex: dict[str, float] = defaultdict(float)
        sites, fleet = [], []
        for s, site in enumerate(req.sites):
            used = 0.0
            for h in data.present[s]:
                inst = installed(m, x, s, h, t)
                acquired = x.buy.get((s, h, t), 0.0)
                if inst or acquired:
                    fleet.append(
                        FleetRow(
                            site=site.id,
                            hardware=req.hardware[h].id,
                            acquired=acquired,
                            existing=m.existing(s, h, t),
                            installed=inst,
                            allocated=alloc_by.get((s, h, t), {}),
                        )
                    )
                used += inst * req.hardware[h].it_power_kw * site.pue / 1000
                for part, c in data.opex_parts[(s, h)].items():
                    opex[part] += inst * c
            online[s] += online_from.get((s, t), 0.0)
            sites.append(
                SitePeriod(
                    id=site.id,
                    power_used_mw=used,
                    power_available_mw=data.power[s][t] + online[s],
                    expansion_started_mw=x.expand.get((s, t), 0.0),
                )
            )
        workloads = []
        for w, wl in enumerate(req.workloads):
            served = x.served.get((w, t), 0.0)
            dem = data.demand[w][t]
            workloads.append(
                WorkloadPeriod(
                    id=wl.id,
                    demand_tokens_per_s=dem,
                    demand_peak_tokens_per_s=dem * data.peak[w][t],
                    served_tokens_per_s=served,
                    capacity_tokens_per_s=cap_by.get((w, t), 0.0),
                    unmet_tokens_per_s=max(0.0, dem - served),
                )
            )
        out.append(
            PeriodOut(
                label=data.labels[t],
                discount_factor=data.d[t],
                capex_usd=capex_hw[t] + capex_exp[t],
                opex_usd=sum(opex.values()),
                capex_breakdown={"hardware": capex_hw[t], "expansion": capex_exp[t]},
                opex_breakdown=dict(opex),
                sites=sites,
                fleet=fleet,
                workloads=workloads,
            )
        )
    return out


def purchase_residual(m: Built, x: Values, vendor: int | None = None) -> float:
    """Nominal straight-line value left at the horizon end of purchased units (of ``vendor``)."""
    data = m.data
    total = 0.0
    for (_s, h, tau), units in x.buy.items():
        if vendor is None or data.vendor_of[h] == vendor:
            frac = data.residual_fraction(tau, data.lead[h], data.life[h])
            total += units * data.req.hardware[h].unit_price_usd * frac
    return total


def residual_value(m: Built, x: Values) -> float:
    """Nominal straight-line value left at the horizon end of purchases and expansions."""
    data = m.data
    req = data.req
    total = purchase_residual(m, x)
    for (s, tau), mw in x.expand.items():
        ex = req.sites[s].expansion
        if ex is not None:
            total += mw * ex.usd_per_mw * data.residual_fraction(tau, data.exp_lead[s], data.exp_life[s])
    return total


def extract_contracts(m: Built, x: Values, periods: list[PeriodOut]) -> list[ContractOut]:
    """Spend per contracted vendor (upfront + recurring fees), net spend (minus the residual
    value of its purchases), shortfall, equity earned (on the net spend) and rebates."""
    data = m.data
    req = data.req
    hw = {h.id: h for h in req.hardware}
    out = []
    for c in req.contracts:
        spend = 0.0
        for p in periods:
            for row in p.fleet:
                h = hw[row.hardware]
                if h.vendor == c.vendor:
                    spend += row.acquired * h.unit_price_usd
                    spend += row.installed * h.recurring_usd_per_unit_hour * data.hours
        kept = purchase_residual(m, x, data.vendors.index(c.vendor))  # not part of the net spend
        shortfall = max(0.0, c.min_spend_usd - spend)
        if shortfall <= SHORTFALL_NOISE * c.min_spend_usd:
            shortfall = 0.0  # round-off of a commitment met exactly (spend summed over the fleet)
        net = max(0.0, spend - kept)
        eq = 0.0
        value = 0.0
        if c.warrants is not None:
            w = c.warrants
            eq = w.equity_fraction_max * min(1.0, net / w.full_vest_spend_usd)
            value = eq * w.company_valuation_usd
        rebate, reached = discount(c.discount_tiers, net)
        out.append(
            ContractOut(
                vendor=c.vendor,
                spend_usd=spend,
                min_spend_usd=c.min_spend_usd,
                shortfall_usd=shortfall,
                equity_fraction=eq,
                equity_value_usd=value,
                net_spend_usd=net,
                discount_usd=rebate,
                discount_tiers_reached=reached,
            )
        )
    return out


def discount(tiers: list[DiscountTier], spend: float) -> tuple[float, int]:
    """The rebate of incremental discount tiers on ``spend``, and how many tiers it passed.

    Spend between a tier's threshold and the next one's earns that tier's discount; spend
    exactly at a threshold (within round-off of the fleet sums) has reached it.
    """
    rebate, reached = 0.0, 0
    for k, tier in enumerate(tiers):
        low = tier.above_spend_usd
        if spend < low * (1 - 1e-9):
            break
        reached += 1
        high = tiers[k + 1].above_spend_usd if k + 1 < len(tiers) else float("inf")
        rebate += tier.discount * max(0.0, min(spend, high) - low)
    return rebate, reached


def extract_summary(m: Built, x: Values, periods: list[PeriodOut], contracts: list[ContractOut]) -> Summary:
    """Horizon totals recomputed from the per-period tables."""
    data = m.data
    req = data.req
    capex = sum(p.capex_usd for p in periods)
    opex = sum(p.opex_usd for p in periods)
    residual = residual_value(m, x)
    shortfall = sum(c.shortfall_usd for c in contracts)
    warrant = sum(c.equity_value_usd for c in contracts)
    rebate = sum(c.discount_usd for c in contracts)
    npv = sum(p.discount_factor * (p.capex_usd + p.opex_usd) for p in periods)
    npv += data.d_end * (shortfall - warrant - rebate - residual)
    mt = data.seconds / 1e6
    served = sum(w.served_tokens_per_s * mt for p in periods for w in p.workloads)
    demand = sum(w.demand_tokens_per_s * mt for p in periods for w in p.workloads)
    served_npv = sum(p.discount_factor * w.served_tokens_per_s * mt for p in periods for w in p.workloads)
    peak: dict[str, float] = {s.id: 0.0 for s in req.sites}
    units: dict[str, float] = defaultdict(float)
    kw_by_vendor: dict[str, float] = dict.fromkeys(data.vendors, 0.0)
    hw = {h.id: h for h in req.hardware}
    for p in periods:
        for sp in p.sites:
            peak[sp.id] = max(peak[sp.id], sp.power_used_mw)
        for row in p.fleet:
            units[row.hardware] += row.acquired
            kw_by_vendor[hw[row.hardware].vendor] += row.installed * hw[row.hardware].it_power_kw
    total_kw = sum(kw_by_vendor.values())
    return Summary(
        npv_cost_usd=npv,
        capex_usd=capex,
        opex_usd=opex,
        residual_value_usd=residual,
        contract_shortfall_usd=shortfall,
        warrant_value_usd=warrant,
        contract_discount_usd=rebate,
        served_fraction=served / demand if demand > 0 else 1.0,
        served_million_tokens=served,
        demand_million_tokens=demand,
        cost_per_million_tokens_usd=npv / served_npv if served_npv > 0 else None,
        peak_power_mw=peak,
        units_acquired={k: v for k, v in units.items() if v},
        it_power_share_by_vendor={v: kw / total_kw for v, kw in kw_by_vendor.items()} if total_kw > 0 else {},
    )


PRICE_TOL = 1e-9
"""A limit's price is noise when it is small (|dual| <= PRICE_NOISE) *and* moving the whole
limit would move the objective by less than this fraction of it.  Either rule alone failed: a
fixed 1e-9 zeroed a real 3e-11/$ price on a $1e13 budget and let -4e-9 through on a slack
limit; the relative rule alone zeroed a real 0.096 $/$ price on a per-period budget of 0."""
PRICE_NOISE = 1e-8


def _objective_scale(m: Built) -> float:
    x = m.lp.x
    return max(1.0, abs(m.lp.objective.value(x))) if x else 1.0


def _relief(m: Built, family: str, key: Key, scale: float) -> float:
    """The published price of a limit: −dual, or 0 when it is noise (see :func:`_noise`)."""
    c = m.con.get(family, {}).get(key)
    if c is None or c.pi is None:
        return 0.0
    if _noise(c.pi, -c.pi < 0, max(1.0, abs(c.rhs)), scale):
        return 0.0
    return float(-c.pi)


def _noise(dual: float, negative: bool, size: float, scale: float) -> bool:
    """Whether a limit's price is noise: moving the whole limit (``size``) would move the
    objective by less than PRICE_TOL of its size ``scale``, and the dual is either small
    (|dual| <= PRICE_NOISE) or its price ``negative``.  Relaxing a priced limit can only help,
    so a negative price that small is round-off whatever its absolute size (-6e-8 $/MW beside
    prices of 8e6 and an objective of 3.8e6 was published once)."""
    return abs(dual) * size <= PRICE_TOL * scale and (abs(dual) <= PRICE_NOISE or negative)


def priced_limits(m: Built) -> set[tuple[str, Key]]:
    """The limits with a price at the current solution (family, key): taken before max_served's
    stage two, whose slacks may leave such a limit a hair off its bound (see extract_binding)."""
    scale = _objective_scale(m)
    return {
        (fam.family, key)
        for fam in LIMITS
        if fam.binding is not None and fam.binding.by_price
        for key in m.con.get(fam.family, {})
        if _relief(m, fam.family, key, scale) != 0.0
    }


def limit_price(m: Built, fam: LimitFamily, key: Key, scale: float) -> float:
    """The published price of the limit ``fam`` at ``key``, by its family's rule (:data:`PriceRule`)."""
    assert fam.price is not None
    if fam.price.rule == "vendor_share":
        return _vendor_share_price(m, fam, key, scale)
    if fam.price.rule == "demand":
        return _demand_price(m, key)
    return _relief(m, fam.family, key, scale)


def _demand_price(m: Built, key: Key) -> float:
    """Nominal change of the minimised objective per million tokens more of D[w,t] (see the module
    docstring): msf·π_min_service + π_demand_cap [+ frac·π_served_total] [+ the penalty's d_t term]."""
    data = m.data
    req = data.req
    w, t = key
    wl = req.workloads[w]
    mt = data.seconds / 1e6
    kind = req.objective.kind
    grad = 0.0
    ms = m.con.get("min_service", {}).get(key)
    cap = m.con.get("demand_cap", {}).get(key)
    total = m.con.get("served_total", {}).get(())
    if ms is not None and ms.pi is not None:
        grad += wl.min_service_fraction * ms.pi
    if cap is not None and cap.pi is not None:
        grad += cap.pi
    if total is not None and total.pi is not None:
        grad += (req.policy.min_total_served_fraction or 0.0) * total.pi
    if kind != "max_served":  # the penalty constant d_t·penalty·D·sec/1e6 moves with D
        grad += data.d[t] * wl.unmet_penalty_usd_per_million_tokens * mt
    disc = 1.0 if kind == "max_served" else data.d[t]
    return _v(grad / mt / disc)


def _vendor_share_price(m: Built, fam: LimitFamily, key: Key, scale: float) -> float:
    """Vendor-share price: objective improvement per percentage point of relief (a maximum
    raised, a minimum lowered).

    The row is Σ_h (1[h∈v] − share)·kW_h·inst ≤ 0 (≥ 0 for a minimum) with the existing fleet on
    the right-hand side.  Moving ``share`` by δ moves the row's left side by −δ·K_t, K_t the
    installed IT kW of all vendors in t: the same as moving its right-hand side by +δ·K_t, so
    d(minimised objective)/d(share) = π·K_t.  Relief of a maximum is +δ and of a minimum −δ;
    a point is δ = 0.01.  Noise: as for the other limits (:func:`_noise`, with K_t as the
    limit's size).
    """
    data = m.data
    c = m.con[fam.family][key]
    if c.pi is None:
        return 0.0
    t = key[1]
    total = 0.0
    for s, hs in enumerate(data.present):
        for h in hs:
            units = m.existing(s, h, t) + sum(m.value(b) for b, _ in m.inst_terms(s, h, t))
            total += data.req.hardware[h].it_power_kw * units
    sign = -1.0 if fam.price is not None and fam.price.limit_word == "max" else 1.0
    value = sign * c.pi * total / 100
    if _noise(c.pi, value < 0, max(1.0, total), scale):
        return 0.0
    return float(value)


def extract_shadow_prices(m: Built, basis: str) -> ShadowPrices:
    """Shadow prices in the published convention (see the module docstring), one field per priced
    family of the registry (:data:`solver.limits.LIMITS`), items in key order."""
    req = m.data.req
    scale = _objective_scale(m)
    sp = ShadowPrices(
        basis="integer_fixed" if basis == "integer_fixed" else "lp",
        objective_unit="weighted_million_tokens" if req.objective.kind == "max_served" else "usd",
    )
    for fam in LIMITS:
        if fam.price is None:
            continue
        rows = m.con.get(fam.family, {})
        if not fam.axes:
            if () in rows:
                setattr(sp, fam.price.field, limit_price(m, fam, (), scale))
            continue
        items = getattr(sp, fam.price.field)
        kind = ShadowPrices.model_fields[fam.price.field].annotation
        item_type = get_args(kind)[0]
        extra = {"limit": fam.price.limit_word} if fam.price.limit_word is not None else {}
        for key in sorted(rows):
            if fam.price.rule == "vendor_share" and rows[key].pi is None:
                continue
            ids = subject(m.data, fam, key).fields()
            fields = {a: ids[a] for a in fam.axes}
            items.append(item_type(**fields, **extra, value=limit_price(m, fam, key, scale)))
    return sp


def extract_binding(
    m: Built, priced: set[tuple[str, Key]] | None = None, prices: ShadowPrices | None = None
) -> list[BindingLimit]:
    """The limits at their bound, family by family of the registry (those with a
    :class:`~solver.limits.Binding`), each with its slack and published price.

    ``priced`` (max_served): the limits with a price at stage one (:func:`priced_limits`).
    Stage two may serve up to 1e-6·z* less to save cost, which frees up to 1e-6·z*/price of
    such a limit — far more than any slack tolerance when an existing fleet serves most of
    the demand: those limits bind all the same.
    """
    data = m.data
    priced = priced or set()
    # max_served's stage two may serve up to 1e-6 (relative) less than stage one to save
    # cost, which leaves limits that bind at the most served a hair off their bound
    tol = MAX_SERVED_BINDING_TOL if data.req.objective.kind == "max_served" else BINDING_TOL
    published = _published_prices(prices)
    out = []
    for fam in LIMITS:
        if fam.binding is None:
            continue
        for key, c in m.con.get(fam.family, {}).items():
            if fam.binding.counts is not None and not fam.binding.counts(data, key):
                continue
            at_bound = c.slack is not None and abs(c.slack) <= tol * max(1.0, abs(c.rhs))
            if (fam.family, key) not in priced and not at_bound:
                continue
            subj = subject(data, fam, key)
            out.append(
                BindingLimit(
                    family=fam.family,
                    **subj.fields(),
                    slack=0.0 if at_bound else c.slack,  # within round-off of the bound: 0
                    price=published.get((fam.family, subj)),
                )
            )
    return out


def _published_prices(prices: ShadowPrices | None) -> dict[tuple[str, Subject], float]:
    if prices is None:
        return {}
    return {(row.family.family, row.subject): row.value for row in price_rows(prices)}


def binding_strings(limits: list[BindingLimit]) -> list[str]:
    """The compatibility ``binding`` list, made from the structured limits."""
    return [binding_words(b.family, Subject.of(b)) for b in limits]


def objective_mismatch(m: Built, value: float, periods: list[PeriodOut], summary: Summary) -> str | None:
    """Why the solver's objective ``value`` disagrees with the plan's own tables, or None.

    A numerically hopeless model can come back "optimal" with values that do not add up
    (seen with CBC on coefficients 1e27 apart); such a plan must not be handed out.  The
    objective is recomputed from the extracted tables as docs/formulation.md defines it
    (min_cost: NPV + discounted penalties of unmet demand; max_profit: discounted value of
    served tokens − NPV − discounted penalties of unmet demand) and compared within 1e-5 of
    the size of its terms, and a cent.  max_served
    reports stage one's value, which stage two may move within its tolerance: not checked.
    """
    data = m.data
    kind = data.req.objective.kind
    if kind == "max_served":
        return None
    mt = data.hours * 3600 / 1e6
    wl = {w.id: w for w in data.req.workloads}
    money = 0.0
    size = abs(summary.npv_cost_usd) + data.d_end * (
        abs(summary.residual_value_usd)
        + abs(summary.contract_discount_usd)
        + abs(summary.warrant_value_usd)
        + abs(summary.contract_shortfall_usd)
    )
    size += sum(p.discount_factor * (abs(p.capex_usd) + abs(p.opex_usd)) for p in periods)
    for p in periods:
        for w in p.workloads:
            # money: what the minimised objective adds to the NPV cost.  The penalty is a
            # constant on D less one on served, so its round-off is relative to both.
            rate = wl[w.id].unmet_penalty_usd_per_million_tokens
            penalty = rate * (w.demand_tokens_per_s - w.served_tokens_per_s)
            worth = (
                wl[w.id].value_usd_per_million_tokens * w.served_tokens_per_s if kind == "max_profit" else 0.0
            )
            money += p.discount_factor * (penalty - worth) * mt
            size += p.discount_factor * (rate * (w.demand_tokens_per_s + w.served_tokens_per_s) + worth) * mt
    recomputed = summary.npv_cost_usd + money if kind == "min_cost" else -(summary.npv_cost_usd + money)
    if abs(value - recomputed) <= 1e-5 * size + 0.01:
        return None
    return (
        f"numerical trouble: the solver's objective {value:,.6g} disagrees with {recomputed:,.6g} "
        "recomputed from the plan's own tables (check very large or very small inputs)"
    )
