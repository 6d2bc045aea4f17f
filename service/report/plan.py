"""The plan report: Plan (and, optionally, its request) → one self-contained HTML page.

The plan alone carries every figure shown, except two that need the hardware's vendor and
IT power (the request): the fleet in MW and the vendor share per period.  Without the
request those two charts are replaced by a note and the horizon-wide vendor share of the
plan's summary is shown instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from service.report import fmt
from service.report.bidi import bdi, isolated, with_ids
from service.report.page import document, figure, legend, section, table
from service.report.svg import INK, PALETTE, Chart, Formatter, Marker, Series, heatmap, shade, vendor_colour
from solver.errors import quoted
from solver.limits import BY_FAMILY, Subject, diagnosis_title, who
from solver.periods import period_runs
from solver.schema import BindingLimit, DiagnosisEntry, Plan, PlanRequest, ShadowPrices

SOLVED = ("optimal", "feasible")

CAPEX_PARTS = {"hardware": "Hardware purchases", "expansion": "Power expansion"}
OPEX_PARTS = {
    "maintenance": "Maintenance",
    "recurring": "Lease & hosting fees",
    "energy": "Energy",
    "site_lease": "Site lease (colocation)",
}
COST_COLOURS = {
    "capex:hardware": "#2f5d8a",
    "capex:expansion": "#76b7b2",
    "opex:maintenance": "#edc948",
    "opex:recurring": "#b07aa1",
    "opex:energy": "#f28e2b",
    "opex:site_lease": "#9c755f",
}


@dataclass(frozen=True)
class HardwareInfo:
    """What the report needs to know about a hardware item beyond the plan."""

    vendor: str
    kind: str
    it_power_kw: float


@dataclass(frozen=True)
class Context:
    """Request facts the plan does not repeat: hardware vendor/power, site PUE, contracts."""

    hardware: dict[str, HardwareInfo]
    pue: dict[str, float]
    full_vest_spend_usd: dict[str, float]
    horizon_label: str = ""
    end_discount: float | None = None
    labels: tuple[str, ...] = ()

    @classmethod
    def from_request(cls, req: PlanRequest | None) -> Context | None:
        if req is None:
            return None
        return cls(
            hardware={h.id: HardwareInfo(h.vendor, h.kind, h.it_power_kw) for h in req.hardware},
            pue={s.id: s.pue for s in req.sites},
            full_vest_spend_usd={
                c.vendor: c.warrants.full_vest_spend_usd for c in req.contracts if c.warrants is not None
            },
            horizon_label=f"{req.horizon.periods} × {req.horizon.period_months}-month periods",
            labels=tuple(req.horizon.labels()),
            end_discount=(1 + req.economics.discount_rate)
            ** (-req.horizon.periods * req.horizon.period_months / 12),
        )


def request_mismatch(plan: Plan, req: PlanRequest) -> str | None:
    """Why ``req`` cannot be the request ``plan`` was solved from (None: it can be).

    The report reads the horizon end's discount, hardware vendors and power and site PUEs from
    the request: another request's would make the tables disagree with the plan's own figures.
    """
    labels = req.horizon.labels()
    mine = [p.label for p in plan.periods]
    rate, months = req.economics.discount_rate, req.horizon.period_months
    if plan.period_months is not None and plan.period_months != months:
        return f"its periods are {months} months long, the plan's {plan.period_months}"
    if mine and mine != labels:
        return (
            f"its periods ({labels[0]} … {labels[-1]}, {len(labels)}) are not the plan's "
            f"({mine[0]} … {mine[-1]}, {len(mine)})"
        )
    for t, p in enumerate(plan.periods):
        want = (1 + rate) ** (-t * months / 12)
        if abs(p.discount_factor - want) > 1e-9 * max(1.0, want):
            return f"its discount rate gives {want:.6g} for {p.label}; the plan has {p.discount_factor:.6g}"
    own = plan_end_discount(plan)
    want = (1 + rate) ** (-len(labels) * months / 12)
    if plan.periods and own is not None and abs(own - want) > 1e-6 * max(1.0, want):
        return f"its discount rate gives {want:.6g} at the horizon end; the plan's NPV holds {own:.6g}"
    for what, have, known in (
        ("site", {s.id for p in plan.periods for s in p.sites}, {s.id for s in req.sites}),
        ("hardware", {f.hardware for p in plan.periods for f in p.fleet}, {h.id for h in req.hardware}),
        ("workload", {w.id for p in plan.periods for w in p.workloads}, {w.id for w in req.workloads}),
    ):
        missing = sorted(have - known)
        if missing:
            return f"the plan's {what} {quoted(missing[0])} is not in it"
    return None


class Palette:
    """Stable colours: vendors their hue, each vendor's hardware shades of it."""

    def __init__(self, plan: Plan, ctx: Context | None) -> None:
        hardware = _hardware_order(plan)
        self.vendor: dict[str, str] = {}
        self.hardware: dict[str, str] = {}
        vendors = list(plan.summary.it_power_share_by_vendor)
        if ctx is not None:
            for h in hardware:
                info = ctx.hardware.get(h)
                if info is not None and info.vendor not in vendors:
                    vendors.append(info.vendor)
        for i, v in enumerate(vendors):
            self.vendor[v] = vendor_colour(v, i)
        if ctx is not None and all(h in ctx.hardware for h in hardware):
            by_vendor: dict[str, list[str]] = defaultdict(list)
            for h in hardware:
                by_vendor[ctx.hardware[h].vendor].append(h)
            for v, hs in by_vendor.items():
                for k, h in enumerate(hs):
                    self.hardware[h] = shade(self.vendor[v], k, len(hs))
        else:
            for i, h in enumerate(hardware):
                self.hardware[h] = PALETTE[i % len(PALETTE)]


def _hardware_order(plan: Plan) -> list[str]:
    """Hardware ids in order of first appearance in the fleet table."""
    seen: dict[str, None] = {}
    for p in plan.periods:
        for row in p.fleet:
            seen.setdefault(row.hardware, None)
    for h in plan.summary.units_acquired:
        seen.setdefault(h, None)
    return list(seen)


def _sites(plan: Plan) -> list[str]:
    seen: dict[str, None] = {}
    for p in plan.periods:
        for s in p.sites:
            seen.setdefault(s.id, None)
    return list(seen)


def _workloads(plan: Plan) -> list[str]:
    seen: dict[str, None] = {}
    for p in plan.periods:
        for w in p.workloads:
            seen.setdefault(w.id, None)
    return list(seen)


def _plan_ids(plan: Plan) -> set[str]:
    """Every site, hardware, workload and vendor id the plan names (the solver's messages
    quote them)."""
    ids = set(_sites(plan)) | set(_workloads(plan)) | set(_hardware_order(plan))
    ids |= set(plan.summary.it_power_share_by_vendor) | {c.vendor for c in plan.contracts}
    for d in plan.diagnosis:
        ids.update(_where_ids(d))
    for x in plan.idle_purchases:
        ids |= {x.site, x.hardware}
    return ids


def _e(text: object) -> str:
    return escape(str(text))


def _num(value: float, shown: str, field: str = "") -> str:
    """A number as shown, with the exact value for machines (and tests) in data attributes."""
    f = f' data-field="{_e(field)}"' if field else ""
    return f'<span class="n"{f} data-value="{value!r}">{_e(shown)}</span>'


# ----------------------------------------------------------------------------- words


def _count(n: int) -> str:
    return "1 period" if n == 1 else f"{n} periods"


def binding_in_words(plan: Plan) -> list[str]:
    """The plan's binding limits grouped per family and subject, as sentences (HTML-escaped), in
    the registry's words (:data:`solver.limits.LIMITS`)."""
    if not plan.binding_limits:  # stored before binding_limits existed: the words as they are
        return [with_ids(b, _plan_ids(plan)) for b in plan.binding]
    order = [p.label for p in plan.periods]
    groups: dict[tuple[str, str], list[BindingLimit]] = defaultdict(list)
    for b in plan.binding_limits:
        groups[(b.family, who(BY_FAMILY[b.family], Subject.of(b)))].append(b)
    unit_usd = plan.shadow_prices is None or plan.shadow_prices.objective_unit == "usd"
    out = []
    for (family, name), limits in groups.items():
        spec = BY_FAMILY[family].binding
        assert spec is not None
        whens = [b.period for b in limits if b.period is not None]
        words = {"who": bdi(name), "count": _count(len(whens)), "when": _e(period_runs(whens, order))}
        text = f"<b>{spec.lead.format(**words)}</b> {spec.rest.format(**words)}"
        top = max(limits, key=lambda b: b.price or 0.0)
        if spec.price_clause and unit_usd and (top.price or 0.0) > 0:
            text += "; " + spec.price_clause.format(
                price=_e(fmt.usd(top.price or 0.0)), period=_e(top.period or "")
            )
        out.append(text + ".")
    return out


# ----------------------------------------------------------------------------- header


def _header(plan: Plan, ctx: Context | None, generated_at: datetime) -> str:
    labels = [p.label for p in plan.periods]
    span = f"{labels[0]} \u2013 {labels[-1]}" if labels else ""
    meta = [
        f'<span>status <span class="pill {_e(plan.status)}" data-field="status">{_e(plan.status)}</span></span>',
        f"<span>objective: {_e(plan.objective.kind.replace('_', ' '))}</span>",
    ]
    if span:
        horizon = f" ({_e(ctx.horizon_label)})" if ctx is not None and ctx.horizon_label else ""
        meta.append(f"<span>horizon {_e(span)}{horizon}</span>")
    if plan.id:
        meta.append(f"<span>plan {bdi(plan.id)}</span>")
    meta.append(f"<span>generated {_e(generated_at.strftime('%Y-%m-%d %H:%M UTC'))}</span>")
    return (
        '<header class="doc"><div class="kicker">capplan \u00b7 capacity plan report</div>'
        f'<h1 data-field="name">{bdi(plan.name or "plan")}</h1><div class="meta">{"".join(meta)}</div></header>'
    )


# ----------------------------------------------------------------------------- diagnosis


def _where_ids(d: object) -> list[str]:
    return [
        str(getattr(d, k))
        for k in ("site", "hardware", "workload", "vendor")
        if getattr(d, k, None) is not None
    ]


def _where(d: object) -> str:
    """HTML: the entry's site, hardware, workload and vendor, each isolated."""
    return ", ".join(bdi(p) for p in _where_ids(d)) or "\u2014"


OPTIONS = {
    "add_capacity": (
        "Way out: add capacity",
        "Keep the minimum service and move these limits (what it takes to serve the demand):",
    ),
    "reduce_service": (
        "Way out: serve less",
        "Keep every limit and serve this much less (what the limits allow):",
    ),
    "relax_all": (
        "Way out: relax both",
        "Neither adding capacity nor serving less works alone; together, these relaxations do:",
    ),
}


def _diagnosis_groups(entries: Sequence[DiagnosisEntry], labels: Sequence[str]) -> list[str]:
    """One sentence per limit and subject: the largest relaxation and the periods it spans
    (consecutive periods as a range only when the horizon's labels are known)."""
    groups: dict[tuple[str, str, str], list[DiagnosisEntry]] = defaultdict(list)
    for d in entries:
        groups[(d.limit, _where(d), d.unit)].append(d)
    out = []
    for (limit, where, unit), ds in groups.items():
        periods = [d.period for d in ds if d.period]
        if len(ds) == 1:
            out.append(with_ids(ds[0].message, _where_ids(ds[0])))
            continue
        top = max(ds, key=lambda d: d.amount)
        when = _e(period_runs(periods, list(labels)))
        out.append(
            f"<b>{_e(diagnosis_title(limit))}</b> ({where}): up to "
            f"{_e(fmt.quantity(top.amount, unit))} in {_count(len(ds))} ({when})"
        )
    return out


def _diagnosis(plan: Plan, ctx: Context | None) -> str:
    if plan.diagnosis:
        blocks = []
        options = list(dict.fromkeys(d.option for d in plan.diagnosis))
        for option in options:
            entries = [d for d in plan.diagnosis if d.option == option]
            title, lead = OPTIONS.get(option, (option.replace("_", " "), ""))
            labels = ctx.labels if ctx is not None else ()
            words = "".join(f"<li>{w}</li>" for w in _diagnosis_groups(entries, labels))
            rows = [
                [
                    _e(diagnosis_title(d.limit)),
                    _where(d),
                    _e(d.period or "horizon"),
                    _num(d.amount, fmt.quantity(d.amount, d.unit)),
                    with_ids(d.message, _where_ids(d)),
                ]
                for d in entries
            ]
            blocks.append(
                f'<div class="option" data-option="{_e(option)}"><h3 class="sub">{_e(title)}</h3>'
                f'<p>{_e(lead)}</p><ul class="binding">{words}</ul>'
                + table(
                    ["limit", "where", "when", "relaxation", "in words"],
                    rows,
                    [False, False, False, True, False],
                    cls="diagnosis",
                )
                + "</div>"
            )
        n = len(options)
        ways = "one way out" if n == 1 else f"{n} ways out"
        body = (
            '<div class="callout"><h2>No plan exists \u2014 what would have to give</h2>'
            f"<p>The request is <b>{_e(plan.status)}</b>: no plan meets every limit. An elastic re-solve "
            f"found {ways}, each the smallest relaxation of the limits it may move (weighed relative "
            "to each limit's size):</p></div>" + "".join(blocks)
        )
    else:
        body = (
            '<div class="callout"><h2>No plan exists</h2>'
            f"<p>The request is <b>{_e(plan.status)}</b> and no relaxation of the movable limits "
            "(minimum service, power, budget, supply, vendor shares) was found to fix it.</p></div>"
        )
    notes = "".join(f"<li>{with_ids(w, _plan_ids(plan))}</li>" for w in plan.warnings)
    if notes:
        body += f'<ul class="note">{notes}</ul>'
    return f'<section id="diagnosis" class="diagnosis">{body}</section>'


def _unsolved(plan: Plan) -> str:
    ids = _plan_ids(plan)
    detail = with_ids(plan.solver.detail, ids) if plan.solver.detail else ""
    text = {
        "unbounded": "The problem is unbounded: the objective can improve without limit "
        "(typically a value per token above every cost with no demand cap).",
        "time_limit": "The solver stopped at its time limit before finding any plan.",
        "failed": "The solver failed.",
        "queued": "The plan is queued and has not been solved yet.",
        "running": "The plan is being solved.",
    }.get(plan.status, f"No plan: status {plan.status}.")
    notes = "".join(f"<li>{with_ids(w, ids)}</li>" for w in plan.warnings)
    return (
        '<section id="status" class="status"><div class="callout warn">'
        f"<h2>No plan to report</h2><p>{_e(text)}</p>"
        f"{f'<p class=note>solver: {detail}</p>' if detail else ''}"
        f"{f'<ul class=note>{notes}</ul>' if notes else ''}</div></section>"
    )


# ----------------------------------------------------------------------------- headline


def _kpi(label: str, value: float | None, shown: str, field: str, note: str = "") -> str:
    v = _num(value, shown, field) if value is not None else f'<span data-field="{field}">{shown}</span>'
    n = f'<div class="note">{note}</div>' if note else ""
    return f'<div class="kpi"><div class="label">{_e(label)}</div><div class="value">{v}</div>{n}</div>'


def _headline(plan: Plan, ctx: Context | None, pal: Palette) -> str:
    s = plan.summary
    kpis = "".join(_headline_kpis(plan))
    lead = (
        f"Serving {_e(fmt.pct(s.served_fraction, 2))} of demand costs {_e(fmt.usd(s.npv_cost_usd))} "
        f"in present value ({_e(fmt.usd(s.cost_per_million_tokens_usd))} per million tokens)."
    )
    body = f'<div class="kpis">{kpis}</div>{_mix(plan, pal)}{_limits_box(plan)}{_warnings_box(plan)}'
    return section("headline", "Headline", body, lead)


def _headline_kpis(plan: Plan) -> list[str]:
    """The headline figures: cost, service, power, capex, opex, residual value, and the
    objective (or the warrants, or the units)."""
    s = plan.summary
    cpm = s.cost_per_million_tokens_usd
    peak = sum(s.peak_power_mw.values())
    kpis = [
        _kpi(
            "NPV cost", s.npv_cost_usd, fmt.usd(s.npv_cost_usd), "summary.npv_cost_usd", "discounted, all-in"
        ),
        _kpi(
            "Cost per million tokens",
            cpm,
            fmt.usd(cpm),
            "summary.cost_per_million_tokens_usd",
            "levelised: NPV cost / discounted tokens",
        ),
        _kpi(
            "Demand served",
            s.served_fraction,
            fmt.pct(s.served_fraction, 2),
            "summary.served_fraction",
            f"{_e(fmt.tokens(s.served_million_tokens))} of {_e(fmt.tokens(s.demand_million_tokens))} "
            "million tokens",
        ),
        _kpi(
            "Peak power",
            peak,
            fmt.mw(peak),
            "summary.peak_power_mw",
            "sum of each site's peak (facility MW)",
        ),
        _kpi("Capex", s.capex_usd, fmt.usd(s.capex_usd), "summary.capex_usd", "nominal, over the horizon"),
        _kpi("Opex", s.opex_usd, fmt.usd(s.opex_usd), "summary.opex_usd", "nominal, over the horizon"),
        _kpi(
            "Residual value",
            s.residual_value_usd,
            fmt.usd(s.residual_value_usd),
            "summary.residual_value_usd",
            "nominal, credited at the end",
        ),
    ]
    if plan.objective.kind != "min_cost" and plan.objective.value is not None:
        unit = "weighted M tokens" if plan.objective.kind == "max_served" else "profit net of penalties, NPV"
        shown = (
            fmt.tokens(plan.objective.value)
            if plan.objective.kind == "max_served"
            else fmt.usd(plan.objective.value)
        )
        kpis.append(_kpi("Objective", plan.objective.value, shown, "objective.value", unit))
    elif s.warrant_value_usd or s.contract_shortfall_usd:
        kpis.append(
            _kpi(
                "Warrant value earned",
                s.warrant_value_usd,
                fmt.usd(s.warrant_value_usd),
                "summary.warrant_value_usd",
                f"contract shortfall {_e(fmt.usd(s.contract_shortfall_usd))}",
            )
        )
    else:
        kpis.append(
            _kpi(
                "Units acquired",
                sum(s.units_acquired.values()),
                fmt.units(sum(s.units_acquired.values())),
                "summary.units_acquired",
                "all hardware",
            )
        )
    return kpis


def _mix(plan: Plan, pal: Palette) -> str:
    """The hardware acquired and the IT power by vendor over the horizon."""
    s = plan.summary
    share = s.it_power_share_by_vendor
    bar = "".join(
        f'<span style="width:{100 * x:.3f}%;background:{pal.vendor.get(v, INK)}" '
        f'title="{_e(isolated(v))} {fmt.pct(x)}"></span>'
        for v, x in share.items()
        if x > 0
    )
    share_list = "".join(
        f'<li><span class="sw" style="background:{pal.vendor.get(v, INK)}"></span>{bdi(v)} '
        f"{_num(x, fmt.pct(x), f'summary.it_power_share_by_vendor.{v}')}</li>"
        for v, x in share.items()
    )
    units_list = "".join(
        f'<li><span class="sw" style="background:{pal.hardware.get(h, INK)}"></span>{bdi(h)}: '
        f"{_num(u, fmt.units(u), f'summary.units_acquired.{h}')} units</li>"
        for h, u in sorted(s.units_acquired.items(), key=lambda kv: -kv[1])
    )
    return (
        '<div class="cols">'
        f'<div class="box"><h3>Hardware acquired</h3><ul class="plain">{units_list or "<li>none</li>"}</ul></div>'
        f'<div class="box"><h3>IT power by vendor (horizon)</h3><div class="sharebar">{bar}</div>'
        f'<ul class="plain">{share_list or "<li>no IT load</li>"}</ul></div></div>'
    )


def _limits_box(plan: Plan) -> str:
    """What limits the plan: its binding limits in words."""
    words = binding_in_words(plan)
    return (
        '<div class="box" style="margin-top:14px"><h3>What limits this plan</h3>'
        + (
            f'<ul class="binding">{"".join(f"<li>{w}</li>" for w in words)}</ul>'
            if words
            else "<p>No hard limit binds: the plan is driven by cost and demand alone.</p>"
        )
        + "</div>"
    )


def _warnings_box(plan: Plan) -> str:
    if not plan.warnings:
        return ""
    return (
        '<div class="callout warn" style="margin-top:14px"><ul class="plain">'
        + "".join(f"<li>{with_ids(w, _plan_ids(plan))}</li>" for w in plan.warnings)
        + "</ul></div>"
    )


# ----------------------------------------------------------------------------- fleet


def _fleet(plan: Plan, ctx: Context | None, pal: Palette) -> str:
    labels = [p.label for p in plan.periods]
    hardware = _hardware_order(plan)
    inst: dict[str, list[float]] = {h: [0.0] * len(labels) for h in hardware}
    mwv: dict[str, list[float]] = {h: [0.0] * len(labels) for h in hardware}
    for t, p in enumerate(plan.periods):
        for row in p.fleet:
            inst[row.hardware][t] += row.installed
            if ctx is not None and row.hardware in ctx.hardware:
                kw = ctx.hardware[row.hardware].it_power_kw
                mwv[row.hardware][t] += row.installed * kw * ctx.pue.get(row.site, 1.0) / 1000
    series = [Series(h, inst[h], pal.hardware[h], fmt=fmt.units) for h in hardware]
    leg = legend((h, pal.hardware[h], "bar") for h in hardware)
    acquired = sum(plan.summary.units_acquired.values())
    out = figure(
        "fleet-units",
        "Installed units by hardware",
        f"Units in service at each period (existing and acquired); {_e(fmt.units(acquired))} units acquired "
        "over the horizon.",
        Chart(
            "chart-fleet-units", "Installed units by hardware", labels, "num", "units", bars=series
        ).render(),
        leg,
    )
    if ctx is not None and all(h in ctx.hardware for h in hardware):
        mw_series = [Series(h, mwv[h], pal.hardware[h], fmt=fmt.mw) for h in hardware]
        out += figure(
            "fleet-mw",
            "Installed power by hardware",
            "Facility MW drawn at full load (units \u00d7 IT kW \u00d7 site PUE); the stacks add up to "
            "the power used in the next section.",
            Chart(
                "chart-fleet-mw", "Installed power by hardware", labels, "mw", "MW", bars=mw_series
            ).render(),
            leg,
        )
    else:
        out += '<p class="note">Fleet in MW: needs the request (hardware IT power), not given.</p>'
    return section("fleet", "Fleet over time", out + _idle(plan, labels))


def _idle(plan: Plan, labels: list[str]) -> str:
    """The purchased units that stand idle (``plan.idle_purchases``), one row per site and hardware."""
    if not plan.idle_purchases:
        return ""
    rows = [
        [
            bdi(x.site),
            bdi(x.hardware),
            _num(x.units, fmt.units(x.units), f"idle.{i}.units"),
            _num(
                x.idle_on_arrival_units, fmt.units(x.idle_on_arrival_units), f"idle.{i}.idle_on_arrival_units"
            ),
            _num(x.capex_usd, fmt.usd(x.capex_usd), f"idle.{i}.capex_usd"),
            _num(x.opex_usd, fmt.usd(x.opex_usd), f"idle.{i}.opex_usd"),
            _e(period_runs(x.periods, labels)),
            with_ids(", ".join(x.causes) or "none named", _plan_ids(plan)),
        ]
        for i, x in enumerate(plan.idle_purchases)
    ]
    capex = sum(x.capex_usd for x in plan.idle_purchases)
    opex = sum(x.opex_usd for x in plan.idle_purchases)
    return (
        '<h3 id="idle">Idle purchases</h3>'
        '<p class="note">Units bought that serve no workload in some periods: most idle at once, '
        "idle in the period they arrive (summed over arrivals), their capex and the opex they cost "
        "while idle (nominal), and the limits that likely make the plan buy them.</p>"
        + table(
            [
                "Site",
                "Hardware",
                "Most idle",
                "Idle on arrival",
                "Capex",
                "Opex while idle",
                "Idle in",
                "Likely cause",
            ],
            rows,
            [False, False, True, True, True, True, False, False],
            total=[
                "Total",
                "",
                "",
                "",
                _num(capex, fmt.usd(capex), "idle.capex_usd"),
                _num(opex, fmt.usd(opex), "idle.opex_usd"),
                "",
                "",
            ],
        )
    )


# ----------------------------------------------------------------------------- power


def _power(plan: Plan, ctx: Context | None, pal: Palette) -> str:
    labels = [p.label for p in plan.periods]
    out = []
    bind = {(b.site, b.period) for b in plan.binding_limits if b.family == "power"}
    for site in _sites(plan):
        used, avail, started = [], [], []
        by_hw: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(labels))
        for t, p in enumerate(plan.periods):
            sp = next(x for x in p.sites if x.id == site)
            used.append(sp.power_used_mw)
            avail.append(sp.power_available_mw)
            started.append(sp.expansion_started_mw)
            if ctx is not None:
                for row in p.fleet:
                    if row.site == site and row.hardware in ctx.hardware:
                        kw = ctx.hardware[row.hardware].it_power_kw
                        by_hw[row.hardware][t] += row.installed * kw * ctx.pue.get(site, 1.0) / 1000
        stacked = ctx is not None and all(h in ctx.hardware for p in plan.periods for h in _hw_at(p, site))
        if stacked and by_hw:
            bars = [
                Series(h, by_hw[h], pal.hardware[h], fmt=fmt.mw) for h in _hardware_order(plan) if h in by_hw
            ]
        else:
            bars = [Series("power used", used, "#4e79a7", fmt=fmt.mw)]
        markers = [
            Marker(t, f"+{fmt.mw(mwx)}", "#2e7d32", f"expansion of {fmt.mw(mwx)} started in {labels[t]}")
            for t, mwx in enumerate(started)
            if mwx > 0
        ]
        n_bind = sum(1 for lab in labels if (site, lab) in bind)
        total_started = sum(started)
        sub = f"Peak {_e(fmt.mw(max(used, default=0.0)))} of {_e(fmt.mw(max(avail, default=0.0)))} available"
        sub += f"; at its limit in {_count(n_bind)}" if n_bind else "; never at its limit"
        if total_started > 0:
            sub += f"; expansion of {_e(fmt.mw(total_started))} started (triangles)"
        chart = Chart(
            f"chart-power-{site}",
            f"Power at {isolated(site)}",
            labels,
            "mw",
            "MW",
            bars=bars,
            lines=[Series("available", avail, INK, "step", fmt=fmt.mw)],
            markers=markers,
            height=260,
        )
        items = [(b.name, b.colour, "bar") for b in bars] + [("power available", INK, "line")]
        out.append(
            figure(
                f"power-{site}",
                f"Power at {bdi(site)}: used vs available",
                sub,
                chart.render(),
                legend(items),
            )
        )
    return section(
        "power",
        "Power by site",
        "".join(out),
        "Facility MW (IT load \u00d7 PUE) in use at each period against the envelope, which steps up "
        "when an expansion comes online.",
    )


def _hw_at(p: object, site: str) -> list[str]:
    return [row.hardware for row in getattr(p, "fleet", []) if row.site == site]


# ----------------------------------------------------------------------------- demand


def _demand(plan: Plan) -> str:
    labels = [p.label for p in plan.periods]
    out = []
    for wl in _workloads(plan):
        dem, peak, srv, cap = [], [], [], []
        for p in plan.periods:
            w = next(x for x in p.workloads if x.id == wl)
            dem.append(w.demand_tokens_per_s)
            peak.append(w.demand_peak_tokens_per_s)
            srv.append(w.served_tokens_per_s)
            cap.append(w.capacity_tokens_per_s)
        frac = sum(srv) / sum(dem) if sum(dem) > 0 else 1.0
        lines = [
            Series("served", srv, "#4e79a7", "area", fmt=lambda v: f"{fmt.tokens(v)} tokens/s"),
            Series("capacity allocated", cap, "#59a14f", "line", fmt=lambda v: f"{fmt.tokens(v)} tokens/s"),
            Series("demand", dem, "#e15759", "dash", fmt=lambda v: f"{fmt.tokens(v)} tokens/s"),
        ]
        if any(abs(a - b) > 1e-9 * max(abs(a), 1.0) for a, b in zip(peak, dem, strict=True)):
            lines.append(
                Series("peak demand", peak, "#f28e2b", "dash", fmt=lambda v: f"{fmt.tokens(v)} tokens/s")
            )
        chart = Chart(
            f"chart-demand-{wl}",
            f"Demand and service of {isolated(wl)}",
            labels,
            "num",
            "tokens/s",
            lines=lines,
        )
        chart.height = 240
        out.append(
            figure(
                f"demand-{wl}",
                f"{bdi(wl)}: demand, served and capacity",
                f"{_e(fmt.pct(frac, 2))} of the period-average demand served; capacity includes the "
                "reserve margin and is sized to each period's peak demand (its end, with growth).",
                chart.render(),
                legend(
                    [
                        ("served", "#4e79a7", "bar"),
                        ("capacity allocated", "#59a14f", "line"),
                        ("demand", "#e15759", "dash"),
                    ]
                    + ([("peak demand", "#f28e2b", "dash")] if len(lines) > 3 else [])
                ),
            )
        )
    return section("demand", "Demand and service", "".join(out), "Tokens per second in each period.")


# ----------------------------------------------------------------------------- cost


def cost_components(plan: Plan) -> list[tuple[str, str, list[float]]]:
    """(key, label, nominal value per period) of every capex and opex component present."""
    keys: dict[str, None] = {}
    for p in plan.periods:
        for k in p.capex_breakdown:
            keys.setdefault(f"capex:{k}", None)
        for k in p.opex_breakdown:
            keys.setdefault(f"opex:{k}", None)
    out = []
    for key in keys:
        side, k = key.split(":", 1)
        names = CAPEX_PARTS if side == "capex" else OPEX_PARTS
        label = names.get(k, k.replace("_", " ").capitalize())
        src = "capex_breakdown" if side == "capex" else "opex_breakdown"
        values = [getattr(p, src).get(k, 0.0) for p in plan.periods]
        out.append((key, label, values))
    return out


def _end_items(plan: Plan) -> float:
    """Nominal sum of the items the NPV discounts at the horizon end (residual and warrants are
    credits): NPV = Σ_t d_t·(capex_t + opex_t) + d_N·this."""
    s = plan.summary
    return -s.residual_value_usd + s.contract_shortfall_usd - s.warrant_value_usd - s.contract_discount_usd


def plan_end_discount(plan: Plan) -> float | None:
    """The horizon end's discount factor the plan's NPV holds, d_N = (NPV − Σ_t d_t·(capex_t +
    opex_t)) / end items; None when the end items are too small to tell it."""
    end = _end_items(plan)
    spent = sum(p.discount_factor * (p.capex_usd + p.opex_usd) for p in plan.periods)
    if abs(end) <= 1e-6 * max(1.0, abs(spent), abs(plan.summary.npv_cost_usd)):
        return None
    return (plan.summary.npv_cost_usd - spent) / end


def end_discount(plan: Plan, ctx: Context | None) -> float | None:
    """Discount factor at the horizon end: the one the plan's NPV holds (so that the present
    values add up to it), else from the request, else extrapolated from the periods."""
    own = plan_end_discount(plan)
    if own is not None:
        return own
    if ctx is not None and ctx.end_discount is not None:
        return ctx.end_discount
    d = [p.discount_factor for p in plan.periods]
    if len(d) >= 2 and d[0] > 0:
        return d[-1] * d[1] / d[0]
    return None


def _cost(plan: Plan, ctx: Context | None) -> str:
    labels = [p.label for p in plan.periods]
    comps = [c for c in cost_components(plan) if any(v != 0 for v in c[2])]
    series = [
        Series(label, vals, COST_COLOURS.get(key, PALETTE[i % len(PALETTE)]), fmt=fmt.usd)
        for i, (key, label, vals) in enumerate(comps)
    ]
    chart = Chart("chart-cost", "Cost per period by component", labels, "usd", "nominal USD", bars=series)
    fig = figure(
        "cost",
        "Cost per period by component",
        "Nominal spend in each period: capex when paid (at the order, or a deposit then and the "
        "balance on arrival), opex while in service.",
        chart.render(),
        legend((s.name, s.colour, "bar") for s in series),
    )
    s = plan.summary
    d = [p.discount_factor for p in plan.periods]
    d_end = end_discount(plan, ctx)
    with_npv = d_end is not None

    def row(label: str, kind: str, nominal: float, npv: float | None) -> list[str]:
        out = [label, kind, _num(nominal, fmt.usd(nominal))]
        if with_npv:
            out.append(_num(npv, fmt.usd(npv)) if npv is not None else "")
        return out

    rows = []
    sub_nominal = sub_npv = 0.0
    for key, label, vals in comps:
        side = "capex" if key.startswith("capex") else "opex"
        npv = sum(dt * v for dt, v in zip(d, vals, strict=True))
        sub_nominal += sum(vals)
        sub_npv += npv
        rows.append(row(_e(label), side, sum(vals), npv))
    rows.append(row("<b>Capex + opex</b>", "", sub_nominal, sub_npv))
    ends = [("Residual value (credit)", -s.residual_value_usd)]
    if s.contract_shortfall_usd:
        ends.append(("Contract shortfall (take-or-pay)", s.contract_shortfall_usd))
    if s.warrant_value_usd:
        ends.append(("Warrant equity (credit)", -s.warrant_value_usd))
    if s.contract_discount_usd:
        ends.append(("Volume discounts (rebate)", -s.contract_discount_usd))
    for label, nominal in ends:
        rows.append(row(label, "at the end", nominal, None if d_end is None else d_end * nominal))
    headers = ["component", "kind", "nominal total"] + (["present value"] if with_npv else [])
    total = ["NPV cost", "", ""]
    if with_npv:
        total.append(_num(s.npv_cost_usd, fmt.usd(s.npv_cost_usd), "summary.npv_cost_usd"))
    else:
        total[2] = _num(s.npv_cost_usd, fmt.usd(s.npv_cost_usd), "summary.npv_cost_usd")
    tab = table(headers, rows, [False, False, True, True], total=total, cls="cost-table")
    note = (
        '<p class="note">Present value discounts each period at its start and end-of-horizon items at the '
        "horizon end; the column adds up to the NPV cost.</p>"
        if with_npv
        else ""
    )
    tab += note
    return section("cost", "Cost", fig + tab)


# ----------------------------------------------------------------------------- vendors


def _vendors(plan: Plan, ctx: Context | None, pal: Palette) -> str:
    labels = [p.label for p in plan.periods]
    hardware = _hardware_order(plan)
    if ctx is None or not all(h in ctx.hardware for h in hardware):
        return section(
            "vendors",
            "IT power by vendor",
            '<p class="note">Share per period: needs the request (hardware vendor and IT power), not '
            "given; the horizon share is in the headline.</p>",
        )
    vendors = list(pal.vendor)
    kw: dict[str, list[float]] = {v: [0.0] * len(labels) for v in vendors}
    for t, p in enumerate(plan.periods):
        for row in p.fleet:
            info = ctx.hardware[row.hardware]
            kw.setdefault(info.vendor, [0.0] * len(labels))[t] += row.installed * info.it_power_kw
    totals = [sum(kw[v][t] for v in kw) for t in range(len(labels))]
    share = {v: [kw[v][t] / totals[t] if totals[t] > 0 else 0.0 for t in range(len(labels))] for v in kw}
    series = [
        Series(v, share[v], pal.vendor.get(v, INK), fmt=lambda x: fmt.pct(x)) for v in kw if any(share[v])
    ]
    chart = Chart(
        "chart-vendor-share", "IT power share by vendor", labels, "pct", "share", bars=series, y_max=1.0
    )
    return section(
        "vendors",
        "IT power by vendor",
        figure(
            "vendor-share",
            "Share of installed IT power by vendor",
            "Per period, on installed IT kW summed over sites (the basis of the vendor-share policy).",
            chart.render(),
            legend((s.name, s.colour, "bar") for s in series),
        ),
    )


# ----------------------------------------------------------------------------- prices


def _price_fmt(unit: str, per: str = "") -> Formatter:
    """A price as shown: money as money (the table or chart names what it is per); in another
    unit a bare number where the table names the unit (no ``per``), else the number with its
    unit and what it is per (``0.9880 weighted M tokens per MW``, a tooltip)."""
    if unit == "usd":
        return fmt.usd
    if not per:
        return fmt.scaled
    word = unit.replace("_", " ").replace("million tokens", "M tokens")
    return lambda v: f"{fmt.scaled(v)} {word} per {per}"


def _demand_note(kind: str, unit: str, unit_word: str) -> str:
    """What the demand prices mean: unlike the others, the change of the minimised objective
    (a cost), per million tokens more demanded."""
    if unit != "usd":
        return (
            "Change of the objective per million tokens more demand, per workload and period, in "
            f"{_e(unit_word)} per million tokens demanded, counted as a cost like every objective's "
            "demand price: a negative value is a gain, one more million tokens of demand lets the "
            "plan serve that many more weighted million tokens (not discounted, as every price of "
            "this plan)."
        )
    if kind == "min_cost":
        return (
            "Marginal cost of one more million tokens of demand, per workload and period, in nominal $ "
            "per M tokens (the one price not discounted: the others are NPV)."
        )
    return (
        "Change of the objective per million tokens more demand, per workload and period, in nominal $ "
        "per M tokens (the one price not discounted: the others are NPV), counted as a cost: a "
        "negative value is a gain, more demand would add that much profit; a positive one would "
        "lower the profit by that much."
    )


def _prices(plan: Plan) -> str:
    sp = plan.shadow_prices
    if sp is None:
        return section(
            "prices",
            "Shadow prices",
            '<p class="note">No shadow prices for this plan: an integer plan has none (to value one '
            "more MW, dollar or unit, re-solve with the limit moved: <code>capplan sweep</code>), "
            "and a plan without a solution has none.</p>",
        )
    words = _PriceWords.of(sp.objective_unit)
    labels = [p.label for p in plan.periods]
    parts = [
        _power_prices(sp, words, _sites(plan), labels),
        _budget_prices(sp, words),
        _vendor_share_prices(sp, words),
        _demand_prices(sp, words, plan.objective.kind, labels),
        _supply_prices(sp, words),
    ]
    return section(
        "prices",
        "Shadow prices: what relief is worth",
        _price_basis(sp, words) + "".join(parts),
        "How much better the objective gets per unit of relief of each limit (demand, the exception: "
        "what one more million tokens of demand costs the objective); each can be checked by "
        "re-solving with the limit moved a little.",
    )


@dataclass(frozen=True)
class _PriceWords:
    """How the prices' unit reads: ``unit`` the objective's, ``plain`` in a sentence, ``npv`` as
    the prices' money (present value; max_served's tokens are not discounted), ``short`` in a
    table heading."""

    unit: str
    plain: str
    npv: str
    short: str

    @classmethod
    def of(cls, unit: str) -> _PriceWords:
        plain = "$" if unit == "usd" else unit.replace("_", " ")
        npv = "NPV $" if unit == "usd" else plain
        return cls(unit, plain, npv, npv.replace("million tokens", "M tokens"))


def _price_basis(sp: ShadowPrices, words: _PriceWords) -> str:
    """What the prices are marginal values of, and in what unit when it is not dollars."""
    basis = ""
    if sp.basis == "integer_fixed":
        basis = (
            '<p class="note">Plan with discount tiers: these are marginal values of the LP with the '
            "tiers reached fixed, valid while no tier changes.</p>"
        )
    if words.unit != "usd":
        basis += (
            f'<p class="note">This plan maximises {_e(words.plain)} served (weight × million tokens, '
            f"summed over workloads and periods): every price is in {_e(words.plain)} of objective, "
            "not in dollars, and none is discounted.</p>"
        )
    return basis


def _power_prices(sp: ShadowPrices, words: _PriceWords, sites: list[str], labels: list[str]) -> str:
    if not sp.power_usd_per_mw:
        return ""
    grid: dict[tuple[str, str], float] = {(x.site, x.period): x.value for x in sp.power_usd_per_mw}
    values = [[grid.get((s, lab)) for lab in labels] for s in sites]
    return figure(
        "power-prices",
        "Value of one more MW, by site and period",
        f"Shadow price of site power: {_e(words.npv)} of objective per MW available in that one "
        "period alone (a MW from a period to the horizon end is worth the sum of the prices "
        "from that period on); 0 where power is not binding. Darker is more valuable.",
        heatmap(
            "chart-power-prices",
            f"Shadow price of power ({words.npv} per MW, one period)",
            sites,
            labels,
            values,
            _price_fmt(words.unit, "MW"),
            _price_fmt(words.unit),
        ),
    )


def _budget_prices(sp: ShadowPrices, words: _PriceWords) -> str:
    rows = []
    if sp.budget_per_usd is not None:
        rows.append(["capex", "whole horizon", _num(sp.budget_per_usd, fmt.sig(sp.budget_per_usd))])
    for bp in sp.budget_per_period_per_usd:
        rows.append(["capex", _e(bp.period), _num(bp.value, fmt.sig(bp.value))])
    if sp.total_budget_per_usd is not None:
        value = sp.total_budget_per_usd
        rows.append(["total (capex + opex)", "whole horizon", _num(value, fmt.sig(value))])
    for bp in sp.total_budget_per_period_per_usd:
        rows.append(["total (capex + opex)", _e(bp.period), _num(bp.value, fmt.sig(bp.value))])
    if not rows:
        return '<h3 class="sub">Budget</h3><p class="note">No budget in the request.</p>'
    return (
        '<h3 class="sub">Budget</h3><p class="note">Objective gained per extra (nominal) dollar of '
        f"budget, in {_e(words.npv)}: the capex budget counts capex (and any take-or-pay shortfall), "
        "the total budget capex and every opex as well.</p>"
        + table(
            ["budget", "span", f"{words.short} per nominal $"],
            rows,
            [False, False, True],
            cls="prices-budget",
        )
    )


def _vendor_share_prices(sp: ShadowPrices, words: _PriceWords) -> str:
    shares = [x for x in sp.vendor_share_per_percentage_point if x.value != 0]
    if not shares:
        return ""
    pf = _price_fmt(words.unit)
    rows = [
        [
            bdi(x.vendor),
            "maximum" if x.limit == "max" else "minimum",
            _e(x.period),
            _num(x.value, pf(x.value)),
        ]
        for x in shares
    ]
    return (
        '<h3 class="sub">Vendor shares</h3><p class="note">Objective gained per percentage point of '
        "relief of a vendor-share limit (a maximum raised, a minimum lowered), where the limit binds; "
        "the policy is one share for every period, so a point on it is worth the sum over periods.</p>"
        + table(
            ["vendor", "limit", "period", f"{words.short} per point"],
            rows,
            [False, False, False, True],
            cls="prices-vendor-share",
        )
    )


def _demand_prices(sp: ShadowPrices, words: _PriceWords, objective: str, labels: list[str]) -> str:
    dem: dict[tuple[str, str], float] = {
        (x.workload, x.period): x.value for x in sp.demand_usd_per_million_tokens
    }
    wls = list(dict.fromkeys(x.workload for x in sp.demand_usd_per_million_tokens))
    if not wls:
        return ""
    pf = _price_fmt(words.unit)
    rows = [
        [_e(lab)] + [_num(dem.get((w, lab), 0.0), pf(dem.get((w, lab), 0.0))) for w in wls] for lab in labels
    ]
    return (
        f'<h3 class="sub">Demand</h3><p class="note">{_demand_note(objective, words.unit, words.plain)}</p>'
        + table(["period", *wls], rows, [False] + [True] * len(wls), cls="prices-demand")
    )


def _supply_prices(sp: ShadowPrices, words: _PriceWords) -> str:
    supply = [x for x in sp.supply_per_unit if x.value != 0]
    if not supply:
        return ""
    pf = _price_fmt(words.unit)
    rows = [[bdi(x.hardware), _e(x.period), _num(x.value, pf(x.value))] for x in supply]
    return (
        '<h3 class="sub">Supply</h3><p class="note">Value of one more unit that may be bought in '
        f"that period, where supply binds ({_e(words.npv)}).</p>"
        + table(
            ["hardware", "period", f"{words.short} per unit"],
            rows,
            [False, False, True],
            cls="prices-supply",
        )
    )


# ----------------------------------------------------------------------------- contracts


def _contracts(plan: Plan, ctx: Context | None) -> str:
    if not plan.contracts:
        return ""
    rows = []
    bars = []
    for c in plan.contracts:
        vest = ctx.full_vest_spend_usd.get(c.vendor) if ctx is not None else None
        rows.append(
            [
                bdi(c.vendor),
                _num(c.min_spend_usd, fmt.usd(c.min_spend_usd)),
                _num(c.spend_usd, fmt.usd(c.spend_usd)),
                _num(c.shortfall_usd, fmt.usd(c.shortfall_usd)),
                _num(c.equity_fraction, fmt.pct(c.equity_fraction, 2)),
                _num(c.equity_value_usd, fmt.usd(c.equity_value_usd)),
                _num(c.net_spend_usd, fmt.usd(c.net_spend_usd)),
                _num(c.discount_usd, fmt.usd(c.discount_usd)),
                _num(c.discount_tiers_reached, str(c.discount_tiers_reached)),
            ]
        )
        bars.append((c.vendor, c.spend_usd, c.min_spend_usd, vest))
    svg = _contract_bars(bars)
    fig = figure(
        "contracts",
        "Spend against commitments",
        "Nominal spend with each contracted vendor (bars) against its take-or-pay commitment (black "
        "tick) and, where warrants vest, the spend for full vesting (dashed tick): warrants and rebates "
        "count the net spend of the table (spend minus the residual value of purchased units).",
        svg,
        legend(
            [("spend", "#4e79a7", "bar"), ("commitment", INK, "line"), ("full vesting", "#b07aa1", "dash")]
        ),
    )
    tab = table(
        [
            "vendor",
            "commitment",
            "spend",
            "shortfall",
            "equity earned",
            "equity value",
            "net spend",
            "rebate",
            "tiers",
        ],
        rows,
        [False, True, True, True, True, True, True, True, True],
        cls="contracts",
    )
    return section("contracts", "Contract status", fig + tab)


def _contract_bars(bars: Sequence[tuple[str, float, float, float | None]]) -> str:
    from service.report.svg import WIDTH, _svg_open, nice_ticks, tick_formatter

    left, right, top, row_h = 140.0, 24.0, 10.0, 40.0
    height = int(top + row_h * len(bars) + 30)
    hi = max([b[1] for b in bars] + [b[2] for b in bars] + [b[3] or 0.0 for b in bars] + [1.0])
    ticks = nice_ticks(0.0, hi, 6)
    plot_w = WIDTH - left - right

    def x(v: float) -> float:
        return left + plot_w * v / ticks[-1]

    label = tick_formatter("usd", ticks)
    parts = [_svg_open("chart-contracts", "Spend against commitments", WIDTH, height)]
    base = top + row_h * len(bars)
    for t in ticks:
        parts.append(
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top:.1f}" y2="{base:.1f}" stroke="#e3e7ec"/>'
            f'<text x="{x(t):.1f}" y="{base + 16:.1f}" text-anchor="middle" fill="#5f6b7a">{_e(label(t))}</text>'
        )
    for i, (vendor, spend, commit, vest) in enumerate(bars):
        yy = top + i * row_h
        parts.append(
            f'<text x="{left - 10:.1f}" y="{yy + row_h / 2 + 4:.1f}" text-anchor="end" fill="{INK}">'
            f"{_e(isolated(vendor))}</text>"
            f'<rect x="{left:.1f}" y="{yy + 10:.1f}" width="{max(x(spend) - left, 0.5):.2f}" height="{row_h - 20:.1f}" '
            f'fill="#4e79a7"><title>{_e(isolated(vendor))} spend: {_e(fmt.usd(spend))}</title></rect>'
        )
        if commit > 0:
            parts.append(
                f'<line x1="{x(commit):.1f}" x2="{x(commit):.1f}" y1="{yy + 4:.1f}" y2="{yy + row_h - 4:.1f}" '
                f'stroke="{INK}" stroke-width="3"><title>commitment {_e(fmt.usd(commit))}</title></line>'
            )
        if vest:
            parts.append(
                f'<line x1="{x(vest):.1f}" x2="{x(vest):.1f}" y1="{yy + 2:.1f}" y2="{yy + row_h - 2:.1f}" '
                f'stroke="#b07aa1" stroke-width="2.5" stroke-dasharray="4 3"><title>full vesting at '
                f"{_e(fmt.usd(vest))}</title></line>"
            )
    parts.append("</svg>")
    return "".join(parts)


# ----------------------------------------------------------------------------- page


def _footer(plan: Plan) -> str:
    sv = plan.solver
    return (
        '<footer class="doc">'
        f"Solved with {_e(sv.backend)} ({'integer' if sv.integer else 'continuous'}) in {sv.seconds:.2f} s; "
        f"{sv.variables:,d} variables, {sv.constraints:,d} constraints."
        " Money is nominal US dollars unless marked NPV; tokens are tokens per second unless marked."
        " Generated by capplan; this file is self-contained and fetches nothing.</footer>"
    )


def render_plan_report(
    plan: Plan, request: PlanRequest | None = None, *, generated_at: datetime | None = None
) -> str:
    """The plan's report as one self-contained HTML document (no script, no fetches).

    ``request`` (the plan's request) adds the fleet in MW, power by hardware, vendor share per
    period and full-vesting marks; without it those parts say what they would need.
    """
    ctx = Context.from_request(request)
    pal = Palette(plan, ctx)
    when = generated_at or datetime.now(UTC)
    parts = [_header(plan, ctx, when)]
    if plan.status in SOLVED and plan.periods:
        parts += [
            _headline(plan, ctx, pal),
            _fleet(plan, ctx, pal),
            _power(plan, ctx, pal),
            _demand(plan),
            _cost(plan, ctx),
            _vendors(plan, ctx, pal),
            _prices(plan),
            _contracts(plan, ctx),
        ]
    elif plan.status == "infeasible":
        parts.append(_diagnosis(plan, ctx))
    else:
        parts.append(_unsolved(plan))
    parts.append(_footer(plan))
    return document(f"{isolated(plan.name or 'plan')} \u2014 capplan report", "".join(parts))
