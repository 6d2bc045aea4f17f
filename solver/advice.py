"""Warnings about questionable advice in a solved plan: idle purchases, opex no budget caps.

Both read the solved model and the extracted tables; neither changes the plan.

**Idle purchases.** The model does not price allocation: a unit may be installed and serve
nothing, and when capacity exceeds what is served the allocation is degenerate (the plan may
allocate purchased units and leave existing ones idle, or the other way round).  So idleness
is not read off ``allocated``: per period t, a small LP finds the fewest purchased units, in
carrying cost, that serve what the plan serves with the fleet it has installed —

    min Σ_{s,h} c[s,h]·p[s,h]
    Σ_w a[s,h,w] − p[s,h] <= E[s,h,t]                   (existing units first)
    Σ_{s,h} tput[h,w]·a[s,h,w] >= (1 + reserve)·φ[w,t]·served[w,t]   (φ: the demand's peak factor)
    0 <= p[s,h] <= P[s,h,t],  a >= 0 on eligible (s,h,w)

with E and P the existing and purchased units installed and c = unit_price/life_h + oc[s,h]
(a unit's nominal carrying cost per period).  idle[s,h,t] = P − p*: purchased units the plan
keeps in service although what it serves needs none of them.

A (site, hardware) is listed when some of its units stand idle in the period they arrive
(the newest units counted idle first): bought although not needed then.  Units that served
on arrival and idle later (demand fell, the lifetime outlasts the need) were needed when
bought and are not listed.  The entry gives the most idle at once, its capex (× unit price),
the opex of all its idle unit-periods, the units idle on arrival and the idle periods; it
is listed when that capex + opex is at least IDLE_REL of the plan's nominal spend (and $1)
— the "by effect" rule of the price noise filter, at a materiality level — and in integer
mode only for idle of at least a replica (less is the granularity of whole replicas).
Likely causes come from rows the plan holds at their bound: a take-or-pay commitment not
exceeded (every dollar spent is a dollar less of shortfall), another vendor's maximum share
or this vendor's minimum share in those periods, warrants still vesting; or, for units
bought ahead of use, a per-period budget or the hardware's supply binding in a later period.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import highspy
import numpy as np

from solver.extract import Values, installed
from solver.model import Built
from solver.periods import period_runs
from solver.schema import BindingLimit, ContractOut, IdlePurchase, PeriodOut, PlanRequest, Summary
from solver.solve import new_highs

IDLE_REL = 1e-6
"""An idle purchase is listed when its capex + opex is at least this fraction of the plan's
nominal spend (capex + opex) and at least $1."""
OPEX_REL = 1e-6
"""Opex of purchased units below this fraction of the plan's nominal spend is not warned about."""


def carrying_cost(m: Built, s: int, h: int) -> float:
    """c[s,h]: nominal carrying cost of a unit of h at s per period (price over its life + opex)."""
    hw = m.data.req.hardware[h]
    return hw.unit_price_usd / m.data.life[h] + m.data.opex_unit[(s, h)]


def idle_by_period(m: Built, x: Values) -> dict[tuple[int, int], list[float]]:
    """idle[s,h][t]: purchased units in service that what the plan serves does not need."""
    data = m.data
    req = data.req
    rm = 1 + req.policy.reserve_margin
    out: dict[tuple[int, int], list[float]] = {}
    blocks: list[_Block] = []
    for t in range(data.n):
        inst: dict[tuple[int, int], float] = {}
        bought: dict[tuple[int, int], float] = {}
        for s, hs in enumerate(data.present):
            for h in hs:
                units = installed(m, x, s, h, t)
                if units > 0:
                    inst[(s, h)] = units
                    extra = units - m.existing(s, h, t)
                    if extra > 1e-9 * max(1.0, units):
                        bought[(s, h)] = extra
        if not bought:
            continue
        need = {w: rm * data.peak[w][t] * x.served.get((w, t), 0.0) for w in range(len(req.workloads))}
        blocks.append(_Block(t, inst, bought, need))
    # The periods are independent: one LP holds them all (one HiGHS run instead of one per
    # period, most of a small plan's time); should it fail, each period is solved alone.
    solved = _least_purchased_use(m, blocks) if blocks else {}
    if solved is None:
        solved = {}
        for b in blocks:
            solved.update(_least_purchased_use(m, [b]) or {})
    for b in blocks:
        p = solved.get(b.t)
        if p is None:
            continue
        for key, units in b.bought.items():
            idle = units - p[key]
            if idle > 1e-6 * max(1.0, b.inst[key]):
                out.setdefault(key, [0.0] * data.n)[b.t] = idle
    return out


@dataclass(frozen=True)
class _Block:
    """One period of the least-purchased-use LP: installed and purchased units, tokens/s needed."""

    t: int
    inst: dict[tuple[int, int], float]
    bought: dict[tuple[int, int], float]
    need: dict[int, float]


def _least_purchased_use(m: Built, blocks: list[_Block]) -> dict[int, dict[tuple[int, int], float]] | None:
    """p*[s,h] of the LP in the module docstring, per period of ``blocks`` (solved as one
    block-diagonal LP: the periods share no column); None if it does not solve."""
    data = m.data
    cost: list[float] = []
    upper: list[float] = []
    rows: list[tuple[list[int], list[float], float, float]] = []
    pcols: list[dict[tuple[int, int], int]] = []
    for b in blocks:
        pairs = [(s, h, w) for s, h, w in data.eligible if (s, h) in b.inst]
        base = len(cost)
        cost += [0.0] * len(pairs)
        upper += [highspy.kHighsInf] * len(pairs)
        pkeys = sorted(b.bought)
        carry = {k: carrying_cost(m, *k) for k in pkeys}
        floor = 1e-9 * max([1.0, *carry.values()])
        pcol = {}
        for k in pkeys:
            pcol[k] = len(cost)
            cost.append(max(carry[k], floor))  # a free unit is still used last
            upper.append(b.bought[k])
        pcols.append(pcol)
        by_sh: dict[tuple[int, int], list[int]] = defaultdict(list)
        by_w: dict[int, list[int]] = defaultdict(list)
        for i, (s, h, w) in enumerate(pairs):
            by_sh[(s, h)].append(base + i)
            by_w[w].append(base + i)
        for key, units in b.inst.items():
            cols = by_sh.get(key, [])
            if not cols:
                continue
            idx, val = list(cols), [1.0] * len(cols)
            if key in pcol:
                idx.append(pcol[key])
                val.append(-1.0)
            rows.append((idx, val, -highspy.kHighsInf, units - b.bought.get(key, 0.0)))
        for w, amount in b.need.items():
            if amount <= 0:
                continue
            cols = by_w.get(w, [])
            tput = [data.tput[pairs[i - base][1]][w] for i in cols]
            # the plan serves it with this fleet; the LP needs it within round-off of the plan's
            rows.append((cols, tput, amount * (1 - 1e-9), highspy.kHighsInf))
    lp = highspy.HighsLp()
    lp.num_col_ = len(cost)
    lp.num_row_ = len(rows)
    lp.col_cost_ = np.array(cost, dtype=float)
    lp.col_lower_ = np.zeros(len(cost))
    lp.col_upper_ = np.array(upper, dtype=float)
    lp.row_lower_ = np.array([r[2] for r in rows], dtype=float)
    lp.row_upper_ = np.array([r[3] for r in rows], dtype=float)
    starts = [0]
    index: list[int] = []
    value: list[float] = []
    for idx, val, _, _ in rows:
        index += idx
        value += val
        starts.append(len(index))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(value, dtype=float)
    highs = new_highs()
    highs.setOptionValue("time_limit", 10.0)
    highs.passModel(lp)
    highs.run()
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    sol = highs.getSolution().col_value
    return {
        b.t: {k: min(b.bought[k], max(0.0, sol[c])) for k, c in pcol.items()}
        for b, pcol in zip(blocks, pcols, strict=True)
    }


def extract_idle_purchases(
    m: Built,
    x: Values,
    summary: Summary,
    contracts: list[ContractOut],
    binding: list[BindingLimit],
) -> list[IdlePurchase]:
    """The plan's idle purchases per (site, hardware), above the noise rule (module docstring)."""
    data = m.data
    req = data.req
    spend = summary.capex_usd + summary.opex_usd
    floor = max(1.0, IDLE_REL * spend)
    out = []
    for (s, h), idle in sorted(idle_by_period(m, x).items()):
        hw = req.hardware[h]
        if m.integer:  # less than a replica idle is the granularity of whole replicas
            sizes = [
                hw.performance[req.workloads[w].model].units_per_replica
                for s2, h2, w in data.eligible
                if (s2, h2) == (s, h)
            ]
            upr = max(sizes, default=1.0)
            idle = [u if u >= upr - 1e-6 else 0.0 for u in idle]
        periods = [t for t in range(data.n) if idle[t] > 0]
        on_arrival = 0.0
        for t in periods:
            tau = t - data.lead[h]
            if tau >= 0:
                on_arrival += min(idle[t], x.buy.get((s, h, tau), 0.0))
        # units that served when they arrived and idle later (demand fell, the lifetime
        # outlasts the need) were needed when bought: not questionable, not listed
        if on_arrival <= 1e-6 * max(1.0, max(idle, default=0.0)):
            continue
        units = max(idle)
        capex = units * hw.unit_price_usd
        opex = sum(idle) * data.opex_unit[(s, h)]
        if capex + opex < floor:
            continue
        out.append(
            IdlePurchase(
                site=req.sites[s].id,
                hardware=hw.id,
                units=units,
                capex_usd=capex,
                opex_usd=opex,
                idle_on_arrival_units=on_arrival,
                periods=[data.labels[t] for t in periods],
                idle_units={data.labels[t]: idle[t] for t in periods},
                causes=_causes(m, h, [data.labels[t] for t in periods], contracts, binding),
            )
        )
    return out


def _causes(
    m: Built, h: int, labels: list[str], contracts: list[ContractOut], binding: list[BindingLimit]
) -> list[str]:
    """Rows held at their bound that likely make the plan buy idle units of h."""
    data = m.data
    req = data.req
    vendor = data.vendors[data.vendor_of[h]]
    out = []
    for c, co in zip(req.contracts, contracts, strict=True):
        if c.vendor != vendor:
            continue
        if c.min_spend_usd > 0 and co.spend_usd <= c.min_spend_usd * (1 + 1e-6):
            out.append(f"take_or_pay {vendor}")  # not exceeded: a dollar spent is a dollar less shortfall
    when = set(labels)
    for b in binding:
        if b.family not in ("vendor_max", "vendor_min") or b.period not in when:
            continue
        cause = f"{b.family} {b.vendor}"
        if cause in out:
            continue
        if (b.family == "vendor_max" and b.vendor != vendor) or (
            b.family == "vendor_min" and b.vendor == vendor
        ):
            out.append(cause)
    for c, co in zip(req.contracts, contracts, strict=True):
        w = c.warrants
        if c.vendor == vendor and w is not None and co.equity_fraction < w.equity_fraction_max * (1 - 1e-9):
            out.append(f"warrants {vendor}")
    # bought ahead: a per-period limit on buying binds in a later period than the first idle one
    first = data.labels.index(labels[0])
    later = set(data.labels[first + 1 :])
    for b in binding:
        if b.period not in later:
            continue
        if b.family in ("budget_period", "total_budget_period"):
            cause = b.family
        elif b.family == "supply" and b.hardware == req.hardware[h].id:
            cause = f"supply {b.hardware}"
        else:
            continue
        if cause not in out:
            out.append(cause)
    return out


def idle_purchase_warnings(m: Built, idle: list[IdlePurchase], contracts: list[ContractOut]) -> list[str]:
    """One warning per idle purchase, with its likely cause in words."""
    data = m.data
    req = data.req
    out = []
    for item in idle:
        text = (
            f"purchased units stand idle: {item.site}/{item.hardware}: up to {item.units:,.4g} units in "
            f"{period_runs(item.periods, data.labels)} (${item.capex_usd:,.0f} of capex; "
            f"${item.opex_usd:,.0f} of opex while idle)"
        )
        text += (
            f"; {item.idle_on_arrival_units:,.4g} units idle in the period they arrive, counted over "
            "all their arrival periods"
        )
        price = next(hw.unit_price_usd for hw in req.hardware if hw.id == item.hardware)
        words = [_cause_words(req, cause, price, contracts) for cause in item.causes]
        text += "; likely cause: " + "; ".join(words) if words else "; the model names no cause"
        out.append(text)
    return out


def _cause_words(req: PlanRequest, cause: str, hw_price: float, contracts: list[ContractOut]) -> str:
    kind, _, vendor = cause.partition(" ")
    if kind == "take_or_pay":
        c = next(c for c in req.contracts if c.vendor == vendor)
        co = next(c for c in contracts if c.vendor == vendor)
        kept = (
            " (they keep part of their price as residual value)"
            if hw_price > 0 and req.economics.residual_value
            else ""
        )
        state = (
            "is met exactly by the spend"
            if co.shortfall_usd == 0
            else f"is not met (${co.shortfall_usd:,.0f} of shortfall)"
        )
        return (
            f"the take-or-pay commitment with {vendor} (${c.min_spend_usd:,.0f}) {state}: every dollar "
            f"spent on these units is a dollar less of shortfall, and they cost less than that{kept}"
        )
    if kind in ("budget_period", "total_budget_period"):
        which = "capex budget" if kind == "budget_period" else "total budget (capex + opex)"
        return f"bought ahead of use: the per-period {which} binds in a later period"
    if kind == "supply":
        return f"bought ahead of use: the supply of {vendor} binds in a later period"
    if kind == "vendor_max":
        share = req.policy.max_vendor_share[vendor]
        return (
            f"the maximum share of {vendor} ({share:.4g} of IT power) binds: idle units of another vendor "
            f"add IT power that keeps {vendor} within it (shadow_prices.vendor_share_per_percentage_point "
            "prices the limit)"
        )
    if kind == "vendor_min":
        share = req.policy.min_vendor_share[vendor]
        return (
            f"the minimum share of {vendor} ({share:.4g} of IT power) binds: the idle units hold its share "
            "up (shadow_prices.vendor_share_per_percentage_point prices the limit)"
        )
    return f"spend with {vendor} vests warrant equity (not yet fully vested), a shortfall would not"


def opex_budget_warning(m: Built, periods: list[PeriodOut], binding: list[BindingLimit]) -> str | None:
    """A warning when only capex is budgeted although the objective lets opex grow unpriced.

    max_served: its first stage maximises tokens whatever they cost to run, so with a budget on
    capex only (budget.capex_usd / capex_per_period_usd) and none on the total (total_usd /
    total_per_period_usd), leases, hosting, energy and maintenance are unlimited.  max_profit
    weighs opex against the value served, so only a capex budget that binds (and so may push the
    plan to opex-heavy options the budget does not see) is worth a word.  Never for min_cost,
    never with a total budget, never when the units the plan acquires carry (next to) no opex.
    """
    data = m.data
    req = data.req
    budget = req.budget
    kind = req.objective.kind
    if kind == "min_cost" or budget.total_usd is not None or budget.total_per_period_usd is not None:
        return None
    if budget.capex_usd is None and budget.capex_per_period_usd is None:
        return None
    capex_binds = any(b.family in ("budget", "budget_period") for b in binding)
    if kind == "max_profit" and not capex_binds:
        return None
    fixed = data.existing_opex()
    opex = sum(p.opex_usd for p in periods)
    npv = sum(p.discount_factor * p.opex_usd for p in periods)
    decided = opex - sum(fixed)
    spend = sum(p.capex_usd for p in periods) + opex
    if decided < max(1.0, OPEX_REL * spend):
        return None
    fees = sum(p.opex_breakdown.get("recurring", 0.0) for p in periods)
    what = (
        "the first stage maximises tokens whatever they cost to run"
        if kind == "max_served"
        else "the binding capex budget can push the plan to leases and hosting it does not see"
    )
    parts = [f"${npv:,.0f} NPV"]
    if fees > 0:
        parts.append(f"${fees:,.0f} of it lease and hosting fees")
    if decided < opex * (1 - 1e-9):
        parts.append(f"${decided:,.0f} of it for units the plan acquires")
    return (
        f"objective {kind} with a budget on capex only: budget.capex_usd / capex_per_period_usd cap "
        f"capex (and any take-or-pay shortfall), not opex, and {what}. This plan's opex is "
        f"${opex:,.0f} nominal ({'; '.join(parts)}) on top of ${spend - opex:,.0f} of capex; no "
        "budget bounds it. Set budget.total_usd (capex + opex, nominal) to cap the total spend."
    )
