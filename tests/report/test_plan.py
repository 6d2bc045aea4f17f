"""The plan report (service.report.plan): content, numbers, charts, escaping, offline-ness.

Numbers are checked two ways: the exact value a report element carries (``data-value``)
equals the plan's, and the text a reader sees, parsed back, is within its rounding of the
plan's.  Charts are checked by their geometry: stacked bar heights are proportional to the
per-period totals recomputed from the plan (and, for the fleet in MW, from the request).
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.report import binding_in_words, fmt, render_plan_report
from service.report.bidi import balanced, isolated, with_ids
from service.report.plan import end_discount
from solver import Plan, parse_request, plan
from solver.schema import BindingLimit, DiagnosisEntry, DiscountTier, ObjectiveOut, SolverOut
from tests.helpers.report_cases import (
    bar_heights,
    demo_request,
    expected_charts,
    hostile_request,
    infeasible_request,
    limits_request,
    read_page,
    shown_close,
    svg_tree,
    titles,
    unisolated,
)

WHEN = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def demo() -> tuple[Plan, object]:
    req = parse_request(demo_request())
    return plan(req), req


@pytest.fixture(scope="module")
def html(demo: tuple[Plan, object]) -> str:
    p, req = demo
    return render_plan_report(p, req, generated_at=WHEN)  # type: ignore[arg-type]


class TestHeadline:
    def test_the_demo_plan_is_optimal_and_binds(self, demo: tuple[Plan, object]) -> None:
        p, _ = demo
        assert p.status == "optimal"
        assert any(b.family == "power" for b in p.binding_limits)
        assert any(s.expansion_started_mw > 0 for pr in p.periods for s in pr.sites)

    @pytest.mark.parametrize(
        "field",
        ["npv_cost_usd", "cost_per_million_tokens_usd", "capex_usd", "opex_usd", "residual_value_usd"],
    )
    def test_money_figures_equal_the_plan(self, html: str, demo: tuple[Plan, object], field: str) -> None:
        p, _ = demo
        el = read_page(html).fields[f"summary.{field}"]
        value = getattr(p.summary, field)
        assert float(el.attrs["data-value"]) == value
        assert el.text.startswith("$")
        assert shown_close(el.text, value)

    def test_served_fraction_and_peak_power(self, html: str, demo: tuple[Plan, object]) -> None:
        p, _ = demo
        page = read_page(html)
        served = page.fields["summary.served_fraction"]
        assert float(served.attrs["data-value"]) == p.summary.served_fraction
        assert served.text == f"{100 * p.summary.served_fraction:.2f}%"
        peak = page.fields["summary.peak_power_mw"]
        recomputed = sum(
            max(s.power_used_mw for pr in p.periods for s in pr.sites if s.id == sid)
            for sid in ("tx-1", "ok-2")
        )
        assert float(peak.attrs["data-value"]) == pytest.approx(recomputed, rel=1e-12)
        assert peak.text == f"{recomputed:,.1f} MW"

    def test_mix_lists_every_acquisition_and_vendor_share(self, html: str, demo: tuple[Plan, object]) -> None:
        p, _ = demo
        page = read_page(html)
        for h, units in p.summary.units_acquired.items():
            el = page.fields[f"summary.units_acquired.{h}"]
            assert float(el.attrs["data-value"]) == units
            assert math.isclose(float(el.text.replace(",", "")), units, abs_tol=0.05)
        shares = p.summary.it_power_share_by_vendor
        assert set(shares) == {"amd", "cerebras", "nvidia"}
        for v, x in shares.items():
            el = page.fields[f"summary.it_power_share_by_vendor.{v}"]
            assert el.text == f"{100 * x:.1f}%"

    def test_status_and_name(self, html: str) -> None:
        page = read_page(html)
        assert page.fields["status"].text == "optimal"
        assert page.fields["name"].text == "Demo 2-site plan"
        assert page.sections[0] == "headline"

    def test_binding_limits_in_words(self, html: str, demo: tuple[Plan, object]) -> None:
        p, _ = demo
        words = binding_in_words(p)
        # one sentence per limit and subject, however many periods bind
        subjects = {(b.family, b.site, b.hardware, b.vendor, b.workload) for b in p.binding_limits}
        assert len(words) == len(subjects)
        text = read_page(html).text
        n_tx = sum(1 for b in p.binding_limits if (b.family, b.site) == ("power", "tx-1"))
        assert f"Power at tx-1 is fully used in {n_tx} periods" in text
        top = max(x.value for x in p.shadow_prices.power_usd_per_mw if x.site == "tx-1")  # type: ignore[union-attr]
        assert f"one more MW there is worth up to {fmt.usd(top)} NPV (in " in text


class TestBindingWords:
    def _plan(self, binding: list[BindingLimit], strings: list[str] | None = None) -> Plan:
        from solver.schema import PeriodOut

        return Plan(
            status="optimal",
            objective=ObjectiveOut(kind="min_cost", value=1.0),
            periods=[PeriodOut(label=lab) for lab in ("2026-01", "2026-04", "2026-07", "2026-10", "2027-01")],
            binding=strings or [],
            binding_limits=binding,
            solver=SolverOut(backend="highs", integer=False),
        )

    def test_consecutive_periods_become_a_range(self) -> None:
        supply = [
            BindingLimit(family="supply", hardware="h", period=t)
            for t in ("2026-01", "2026-04", "2026-07", "2027-01")
        ]
        words = binding_in_words(self._plan(supply))
        assert words == ["<b>Supply of h</b> is exhausted in 4 periods (2026-01 \u2013 2026-07, 2027-01)."]

    def test_every_kind_has_words(self) -> None:
        words = binding_in_words(
            self._plan(
                [
                    BindingLimit(family="power", site="s", period="2026-04", price=2.5e6),
                    BindingLimit(family="expansion_cap", site="s"),
                    BindingLimit(family="budget"),
                    BindingLimit(family="budget_period", period="2026-01"),
                    BindingLimit(family="total_budget"),
                    BindingLimit(family="total_budget_period", period="2026-04"),
                    BindingLimit(family="vendor_max", vendor="nvidia", period="2026-10"),
                    BindingLimit(family="vendor_min", vendor="amd", period="2026-10"),
                    BindingLimit(family="min_service", workload="chat", period="2026-04"),
                    BindingLimit(family="served_total"),
                ]
            )
        )
        assert words == [
            "<b>Power at s</b> is fully used in 1 period (2026-04); one more MW there is worth up to "
            "$2.500 M NPV (in 2026-04 alone).",
            "<b>The s expansion option</b> is built out to its maximum.",
            "<b>The capex budget</b> is fully spent.",
            "<b>The per-period capex budget</b> is fully spent in 1 period (2026-01).",
            "<b>The total budget</b> (capex + opex) is fully spent.",
            "<b>The per-period total budget</b> (capex + opex) is fully spent in 1 period (2026-04).",
            "<b>nvidia</b> is held at its maximum share of IT power in 1 period (2026-10).",
            "<b>amd</b> is held at its minimum share of IT power in 1 period (2026-10).",
            "<b>chat</b> is served only at its minimum service level in 1 period (2026-04).",
            "<b>The total served fraction</b> is held at its minimum.",
        ]

    def test_an_id_with_a_space_keeps_its_periods_together(self) -> None:
        """Structured limits need no parsing: a site id with spaces (which broke the words'
        regexes) is one subject."""
        power = [BindingLimit(family="power", site="north hall", period=t) for t in ("2026-01", "2026-04")]
        assert binding_in_words(self._plan(power)) == [
            "<b>Power at north hall</b> is fully used in 2 periods (2026-01, 2026-04)."
        ]

    def test_a_stored_plan_without_structured_limits_shows_its_words_as_they_are(self) -> None:
        words = binding_in_words(self._plan([], strings=["power s 2026-04"]))
        assert words == ["power s 2026-04"]


class TestCharts:
    def test_every_chart_is_present(self, html: str, demo: tuple[Plan, object]) -> None:
        p, _ = demo
        page = read_page(html)
        assert set(page.svgs) == expected_charts(p, with_request=True)
        assert len(page.figures) == len(page.svgs)

    def test_without_the_request_the_two_request_charts_say_why(self, demo: tuple[Plan, object]) -> None:
        p, _ = demo
        html = render_plan_report(p, generated_at=WHEN)
        page = read_page(html)
        assert set(page.svgs) == expected_charts(p, with_request=False)
        assert "Fleet in MW: needs the request" in page.text
        assert "Share per period: needs the request" in page.text

    def test_cost_bars_are_proportional_to_capex_plus_opex(
        self, html: str, demo: tuple[Plan, object]
    ) -> None:
        p, _ = demo
        heights = bar_heights(svg_tree(html, "chart-cost"))
        totals = [pr.capex_usd + pr.opex_usd for pr in p.periods]
        assert len(heights) == len(totals)
        ratios = [h / t for h, t in zip([heights[x] for x in sorted(heights)], totals, strict=True)]
        assert max(ratios) == pytest.approx(min(ratios), rel=2e-3)

    def test_fleet_mw_stacks_equal_the_power_used(self, html: str, demo: tuple[Plan, object]) -> None:
        """Units × IT kW × PUE from the request, drawn, equals the plan's power used per period."""
        p, _ = demo
        heights = bar_heights(svg_tree(html, "chart-fleet-mw"))
        used = [sum(s.power_used_mw for s in pr.sites) for pr in p.periods]
        ratios = [h / u for h, u in zip([heights[x] for x in sorted(heights)], used, strict=True)]
        assert max(ratios) == pytest.approx(min(ratios), rel=3e-3)

    def test_fleet_unit_tooltips_carry_the_installed_units(
        self, html: str, demo: tuple[Plan, object]
    ) -> None:
        p, _ = demo
        tips = titles(svg_tree(html, "chart-fleet-units"))
        expected = {}
        for pr in p.periods:
            for row in pr.fleet:
                key = f"{row.hardware}, {pr.label}"
                expected[key] = expected.get(key, 0.0) + row.installed
        shown = {}
        for t in tips:
            key, _, value = t.rpartition(": ")
            shown[key] = float(value.replace(",", ""))
        assert shown.keys() == {k for k, v in expected.items() if v}
        for k, v in shown.items():
            assert v == pytest.approx(expected[k], abs=0.05)

    def test_power_chart_marks_each_expansion(self, html: str, demo: tuple[Plan, object]) -> None:
        p, _ = demo
        svg = svg_tree(html, "chart-power-tx-1")
        starts = [s.expansion_started_mw for pr in p.periods for s in pr.sites if s.id == "tx-1"]
        marks = [el for el in svg.iter("{http://www.w3.org/2000/svg}g") if el.get("class") == "marker"]
        assert len(marks) == sum(1 for x in starts if x > 0)

    def test_prices_say_their_money_basis(self, html: str) -> None:
        # the footer says money is nominal unless marked NPV: the power, budget and supply
        # prices are present values and marked so; the demand price is nominal and says so
        page = read_page(html)
        assert "Money is nominal US dollars unless marked NPV" in page.text
        assert "NPV $ of objective per MW available in that one period alone" in page.text
        svg = svg_tree(html, "chart-power-prices")
        assert "Shadow price of power (NPV $ per MW, one period)" in ET.tostring(svg, encoding="unicode")
        assert (
            "Marginal cost of one more million tokens of demand, per workload and period, in nominal $ "
            "per M tokens (the one price not discounted: the others are NPV)." in page.text
        )

    def test_heat_map_has_a_cell_per_site_and_period(self, html: str, demo: tuple[Plan, object]) -> None:
        p, _ = demo
        svg = svg_tree(html, "chart-power-prices")
        cells = [el for el in svg.iter("{http://www.w3.org/2000/svg}rect") if el.get("class") == "cell"]
        assert len(cells) == 2 * len(p.periods)
        prices = {(x.site, x.period): x.value for x in p.shadow_prices.power_usd_per_mw}  # type: ignore[union-attr]
        for el in cells:
            title = el.find("{http://www.w3.org/2000/svg}title").text  # type: ignore[union-attr]
            where, _, shown = title.rpartition(": ")  # type: ignore[union-attr]
            site, period = where.split(", ")
            assert shown_close(shown, prices[(site, period)])


class TestCostTable:
    def _npv_column(self, html: str) -> list[float]:
        table = html[
            html.index('class="cost-table"') : html.index("</table>", html.index('class="cost-table"'))
        ]
        values = []
        for row in re.findall(r"<tr>(.*?)</tr>", table):
            cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
            if len(cells) == 4 and "Capex + opex" not in cells[0]:
                m = re.search(r'data-value="([^"]+)"', cells[3])
                if m:
                    values.append(float(m.group(1)))
        return values

    def test_present_value_column_adds_up_to_the_npv(self, html: str, demo: tuple[Plan, object]) -> None:
        p, _ = demo
        values = self._npv_column(html)
        assert len(values) >= 5
        assert sum(values) == pytest.approx(p.summary.npv_cost_usd, rel=1e-9)

    def test_end_discount_extrapolated_without_the_request(self, demo: tuple[Plan, object]) -> None:
        p, _ = demo
        n, years = len(p.periods), 0.25
        assert end_discount(p, None) == pytest.approx(1.08 ** (-n * years), rel=1e-12)
        html = render_plan_report(p, generated_at=WHEN)
        assert sum(self._npv_column(html)) == pytest.approx(p.summary.npv_cost_usd, rel=1e-9)

    def test_a_volume_discount_is_a_credit_row_and_a_contract_column(self, demo: tuple[Plan, object]) -> None:
        _, req = demo
        tiered = req.model_copy(deep=True)  # type: ignore[attr-defined]
        tiered.contracts[0].discount_tiers = [DiscountTier(above_spend_usd=1e8, discount=0.05)]
        p = plan(tiered)
        assert p.summary.contract_discount_usd > 0
        html = render_plan_report(p, tiered, generated_at=WHEN)
        assert sum(self._npv_column(html)) == pytest.approx(p.summary.npv_cost_usd, rel=1e-9)
        assert "Volume discounts (rebate)" in html
        contracts = html[html.index('class="contracts"') :]
        assert f'data-value="{-p.summary.contract_discount_usd!r}"' in html
        assert f'data-value="{p.contracts[0].discount_usd!r}"' in contracts


@pytest.fixture(scope="module")
def bad() -> Plan:
    p = plan(infeasible_request())
    assert p.status == "infeasible" and p.diagnosis
    return p


class TestInfeasible:
    def test_leads_with_the_diagnosis(self, bad: Plan) -> None:
        html = render_plan_report(bad, generated_at=WHEN)
        page = read_page(html)
        assert page.sections[0] == "diagnosis"
        assert "headline" not in page.sections
        assert "No plan exists" in page.text
        assert html.index('id="diagnosis"') < html.index("<footer")
        for d in bad.diagnosis:
            assert d.message in page.text

    def test_relaxations_are_shown_in_their_units(self, bad: Plan) -> None:
        html = render_plan_report(bad, generated_at=WHEN)
        budget = next(d for d in bad.diagnosis if d.limit == "budget")
        assert fmt.usd(budget.amount) in html
        assert f'data-value="{budget.amount!r}"' in html

    def test_design_example_relaxations_read_in_their_units_without_exponents(self) -> None:
        # DESIGN.md's numbers: NVIDIA 1,224 kW over its share, chat 4,553,831 tokens/s short
        req = json.loads((EXAMPLES / "design-example.json").read_text())
        p = plan(req)
        assert p.status == "infeasible"
        html = render_plan_report(p, parse_request(req), generated_at=WHEN)
        body = html[html.index("<tbody>") : html.index("</tbody>")]
        rows = [
            [read_page(c).text.strip() for c in row.split("</td>")[:-1]] for row in body.split("<tr>")[1:]
        ]
        assert rows == [
            [
                "Vendor share",
                "nvidia",
                "2026-01",
                "1,224 kW",
                "the maximum share of nvidia is off by 1,224 kW of IT power in 2026-01",
            ],
            [
                "Minimum service",
                "chat",
                "2026-01",
                "4.554 M tokens/s",
                "workload chat can serve 4,553,831 tokens/s less than its minimum in 2026-01",
            ],
        ]
        diagnosis = html[html.index('id="diagnosis"') : html.index("</section>")]
        assert not re.search(r"\de[+-]?\d", read_page(diagnosis).text)

    def test_each_way_out_in_its_own_block_periods_as_ranges(self) -> None:
        def entry(option: str, limit: str, period: str | None, amount: float, **where: str) -> DiagnosisEntry:
            unit = {"power": "MW", "min_service": "tokens/s", "budget": "USD"}[limit]
            return DiagnosisEntry(
                option=option,  # type: ignore[arg-type]
                limit=limit,  # type: ignore[arg-type]
                period=period,
                amount=amount,
                unit=unit,
                message=f"{limit} {period} {amount}",
                **where,
            )

        p = Plan(
            status="infeasible",
            objective=ObjectiveOut(kind="min_cost"),
            solver=SolverOut(backend="highs", integer=False),
            diagnosis=[
                entry("add_capacity", "power", "2026-01", 10.0, site="s"),
                entry("add_capacity", "power", "2026-04", 30.0, site="s"),
                entry("add_capacity", "power", "2026-07", 20.0, site="s"),
                entry("add_capacity", "power", "2027-01", 5.0, site="s"),
                entry("add_capacity", "budget", None, 2.5e8),
                entry("reduce_service", "min_service", "2026-04", 4.0e7, workload="chat"),
            ],
        )
        req = parse_request(demo_request())  # its horizon: 2026-01 … 2027-10, quarterly
        html = render_plan_report(p, req, generated_at=WHEN)
        text = read_page(html).text
        assert html.index('data-option="add_capacity"') < html.index('data-option="reduce_service"')
        assert "2 ways out" in text
        assert "Site power (s): up to 30.0 MW in 4 periods (2026-01 – 2026-07, 2027-01)" in text
        assert "budget None 250000000.0" in text  # a single entry keeps its own message
        assert "$250.0 M" in text
        # without the horizon, periods are listed, never guessed into ranges
        bare = read_page(render_plan_report(p, generated_at=WHEN)).text
        assert "in 4 periods (2026-01, 2026-04, 2026-07, 2027-01)" in bare

    def test_no_relaxation_found(self) -> None:
        p = Plan(
            status="infeasible",
            objective=ObjectiveOut(kind="min_cost"),
            solver=SolverOut(backend="highs", integer=False),
            warnings=["the elastic re-solve ended infeasible"],
        )
        page = read_page(render_plan_report(p, generated_at=WHEN))
        assert page.sections == ["diagnosis"]
        assert "no relaxation of the movable limits" in page.text


class TestOtherObjectives:
    @pytest.mark.parametrize(
        ("kind", "integer"), [("max_served", False), ("max_profit", False), ("min_cost", True)]
    )
    def test_renders_every_chart_and_names_the_price_unit(self, kind: str, integer: bool) -> None:
        req = demo_request()
        req["objective"] = {"kind": kind}
        if integer:  # a short horizon without the contract keeps the MIP instant
            req["solver"] = {"integer": True, "mip_gap": 0.01}
            req["horizon"]["periods"] = 3
            req["sites"][1]["power_mw"] = [10, 10, 15]
            req["workloads"][1]["demand_tokens_per_s"] = [0, 0, 1e7]
            req["contracts"] = []
        for w in req["workloads"]:
            w["value_usd_per_million_tokens"] = 0.5
        p = plan(req)
        assert p.status == "optimal"
        html = render_plan_report(p, parse_request(req), generated_at=WHEN)
        page = read_page(html)
        charts = expected_charts(p, with_request=True)
        if not p.contracts:
            charts.discard("chart-contracts")
        if integer:  # an integer plan has no shadow prices: no price chart, a note instead
            charts.discard("chart-power-prices")
        assert set(page.svgs) == charts
        if kind != "min_cost":
            el = page.fields["objective.value"]
            assert float(el.attrs["data-value"]) == p.objective.value
        if integer:
            assert p.shadow_prices is None
            assert "an integer plan has none" in page.text and "capplan sweep" in page.text
            return
        assert p.shadow_prices is not None and p.shadow_prices.basis == "lp"
        if kind == "max_served":
            assert "weighted million tokens of objective per MW" in page.text


class TestPriceWords:
    """Each objective's prices in their own unit and sense: max_served's are weighted million
    tokens, none discounted; a demand price is a cost (negative: a gain)."""

    def test_max_served_prices_name_their_unit_and_sign(self) -> None:
        req = json.loads((EXAMPLES / "max-served-budget.json").read_text())
        p = plan(req)
        assert p.status == "optimal" and p.shadow_prices is not None
        assert p.shadow_prices.objective_unit == "weighted_million_tokens"
        html = render_plan_report(p, parse_request(req), generated_at=WHEN)
        text = read_page(html).text
        assert (
            "This plan maximises weighted million tokens served (weight \u00d7 million tokens, summed "
            "over workloads and periods): every price is in weighted million tokens of objective, not "
            "in dollars, and none is discounted." in text
        )
        assert (
            "Change of the objective per million tokens more demand, per workload and period, in "
            "weighted million tokens per million tokens demanded, counted as a cost like every "
            "objective's demand price: a negative value is a gain, one more million tokens of demand "
            "lets the plan serve that many more weighted million tokens (not discounted, as every "
            "price of this plan)." in text
        )
        assert "Nominal marginal cost" not in text and "unlike the other prices" not in text
        # the demand table: workloads as columns, bare numbers (the note names the unit)
        dem = {(x.workload, x.period): x.value for x in p.shadow_prices.demand_usd_per_million_tokens}
        assert dem[("chat", "2026-01")] == pytest.approx(-0.988, abs=5e-5)
        assert "period agentic-fast chat batch 2026-01 0 \u22120.9880 0 2026-04 0 \u22120.08814 0" in text
        assert "capex whole horizon 1.826" in text and "budget span weighted M tokens per nominal $" in text
        # the heat map's tooltips say what the number is per
        svg = svg_tree(html, "chart-power-prices")
        title = svg.find("{http://www.w3.org/2000/svg}title")
        assert (
            title is not None
            and title.text == "Shadow price of power (weighted million tokens per MW, one period)"
        )
        assert titles(svg) == [f"tx-2, {x.label}: 0 weighted M tokens per MW" for x in p.periods]

    def test_max_profit_demand_prices_are_a_cost_and_a_gain_when_negative(self) -> None:
        req = demo_request()
        req["objective"] = {"kind": "max_profit"}
        for w in req["workloads"]:
            w["value_usd_per_million_tokens"] = 0.5
        p = plan(req)
        assert p.status == "optimal"
        text = read_page(render_plan_report(p, parse_request(req), generated_at=WHEN)).text
        assert (
            "Change of the objective per million tokens more demand, per workload and period, in "
            "nominal $ per M tokens (the one price not discounted: the others are NPV), counted as a "
            "cost: a negative value is a gain, more demand would add that much profit; a positive one "
            "would lower the profit by that much." in text
        )
        assert "This plan maximises" not in text


class TestBudgetAndSharePrices:
    def test_total_budget_and_vendor_share_prices_are_shown(self) -> None:
        req = limits_request()
        p = plan(req)
        assert p.status == "optimal" and p.shadow_prices is not None
        sp = p.shadow_prices
        page = read_page(render_plan_report(p, parse_request(req), generated_at=WHEN))
        assert "The total budget (capex + opex) is fully spent." in page.text
        assert sp.total_budget_per_usd is not None and sp.total_budget_per_usd > 0
        assert f"total (capex + opex) whole horizon {fmt.sig(sp.total_budget_per_usd)}" in page.text
        assert "Vendor shares" in page.text
        assert "vendor limit period weighted M tokens per point" in page.text
        for x in sp.vendor_share_per_percentage_point:
            if x.value:
                assert f"nvidia maximum {x.period} {fmt.scaled(x.value)} " in page.text
            else:
                assert f"nvidia maximum {x.period}" not in page.text  # only where it binds

    def test_no_budget_says_so(self) -> None:
        req = limits_request()
        del req["budget"]
        p = plan(req)
        assert p.status == "optimal"
        assert "No budget in the request." in read_page(render_plan_report(p, generated_at=WHEN)).text


class TestUnsolved:
    @pytest.mark.parametrize("status", ["time_limit", "failed", "unbounded", "queued"])
    def test_says_there_is_no_plan(self, status: str) -> None:
        p = Plan(
            status=status,  # type: ignore[arg-type]
            objective=ObjectiveOut(kind="min_cost"),
            solver=SolverOut(backend="highs", integer=False, detail="HiGHS: something"),
        )
        page = read_page(render_plan_report(p, generated_at=WHEN))
        assert page.sections == ["status"]
        assert "No plan to report" in page.text
        assert not page.svgs


class TestSelfContained:
    def test_nothing_is_fetched(self, html: str) -> None:
        # the only URL is the SVG namespace (an identifier, never fetched)
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+[^\s\"'<>)]*", html))
        assert urls == {"http://www.w3.org/2000/svg"}
        for needle in ("<script", "<link", "<img", "<iframe", "@import", "url(", "src="):
            assert needle not in html
        assert "default-src 'none'" in html

    def test_print_styles(self, html: str) -> None:
        assert "@media print" in html and "break-inside: avoid" in html

    def test_names_and_ids_are_escaped(self) -> None:
        req = demo_request()
        req["name"] = "<script>alert(1)</script> & co"
        req["sites"][1]["id"] = 'ok"2<b>'
        p = plan(req)
        html = render_plan_report(p, parse_request(req), generated_at=WHEN)
        assert "<script>" not in html and "<b>ok" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
        page = read_page(html)
        assert page.fields["name"].text == "<script>alert(1)</script> & co"
        svg_tree(html, "chart-power-ok&quot;2&lt;b&gt;")  # the chart of the odd site parses as XML


class TestBidiIsolation:
    """A name or id with right-to-left text or a bidi control must not reorder the report's
    words and figures around it (U+202E after a site id reversed "… worth up to $963.9 k")."""

    def test_every_name_in_the_plan_report_is_isolated(self) -> None:
        req = hostile_request()
        p = plan(req)
        assert p.status == "optimal"
        html = render_plan_report(p, parse_request(req), generated_at=WHEN)
        assert unisolated(html) == []
        assert "<li><b>Power at <bdi>tx-1\u202e\u202c</bdi></b> is fully used in 6 periods" in html
        assert "<b>Power at <bdi>ok-2\u202e\u202c</bdi></b>" in html  # its stray PDI dropped
        assert "<h3>Power at <bdi>tx-1\u202e\u202c</bdi>: used vs available</h3>" in html
        assert "<title>Power at \u2068tx-1\u202e\u202c\u2069</title>" in html  # SVG: isolate characters
        assert '<h1 data-field="name"><bdi>Plan \u0661\u0662 \u2067draft\u2069</bdi></h1>' in html
        assert "<title>\u2068Plan \u0661\u0662 \u2067draft\u2069\u2069 \u2014 capplan report</title>" in html
        # the checker sees what is not isolated
        assert unisolated("<p>Power at tx-1\u202e worth $1</p>") == ["Power at tx-1\u202e worth $1"]
        assert unisolated("<p><bdi>ok-2\u2069\u202e</bdi></p>") == ["ok-2\u2069\u202e"]

    def test_the_diagnosis_isolates_the_ids_in_the_solvers_messages(self) -> None:
        req = hostile_request(infeasible_request())
        p = plan(req)
        assert p.status == "infeasible"
        html = render_plan_report(p, parse_request(req), generated_at=WHEN)
        assert unisolated(html) == []
        first = p.diagnosis[0]
        assert first.message == "site tx-1\u202e needs 191.585 MW more in 2026-01"
        assert "<td>site <bdi>tx-1\u202e\u202c</bdi> needs 191.585 MW more in 2026-01</td>" in html
        assert "<td><bdi>tx-1\u202e\u202c</bdi></td>" in html  # the where column

    @pytest.mark.parametrize(
        ("text", "shown"),
        [
            ("tx-1", "tx-1"),
            ("tx-1\u202e", "tx-1\u202e\u202c"),
            ("ok-2\u2069\u202e", "ok-2\u202e\u202c"),
            ("a\u2067b", "a\u2067b\u2069"),
            ("a\u202ab\u2068c\u202cd\u2069e\u202c\u202c", "a\u202ab\u2068cd\u2069e\u202c"),
            ("\u05e9\u05d9", "\u05e9\u05d9"),
        ],
    )
    def test_controls_are_balanced(self, text: str, shown: str) -> None:
        assert balanced(text) == shown

    def test_isolated_only_when_needed(self) -> None:
        assert isolated("tx-1") == "tx-1"
        assert isolated("\u05e9\u05d9") == "\u2068\u05e9\u05d9\u2069"
        assert with_ids("site s\u202e needs 5 MW more", ["s\u202e"]) == (
            "site <bdi>s\u202e\u202c</bdi> needs 5 MW more"
        )
        assert with_ids("site <s> needs", ["<s>"]) == "site &lt;s&gt; needs"


class TestFormats:
    @pytest.mark.parametrize(
        ("value", "text"),
        [
            (1033126858.41, "$1.033 bn"),
            (474.5e6, "$474.5 M"),
            (999_960.0, "$1.000 M"),
            (512.34, "$512.3"),
            (0.14831, "$0.1483"),
            (-240_119_026.0, "\u2212$240.1 M"),
            (0.0, "$0"),
            (None, "\u2014"),
        ],
    )
    def test_money(self, value: float | None, text: str) -> None:
        assert fmt.usd(value) == text

    @pytest.mark.parametrize("value", [1033126858.41, 0.14831, 12.5, 9.99e11, -3.2e7, 0.000123456])
    def test_shown_money_parses_back_within_rounding(self, value: float) -> None:
        assert shown_close(fmt.usd(value), value)

    @pytest.mark.parametrize(
        ("value", "text"),
        [(1e-20, "0.00000000000000000001"), (3.0, "3"), (1234567.125, "1234567.125"), (None, "")],
    )
    def test_plain_numbers_have_no_exponent_or_separator(self, value: float | None, text: str) -> None:
        assert fmt.plain(value) == text

    def test_units_and_power(self) -> None:
        assert fmt.units(1664.75) == "1,664.8"
        assert fmt.units(1665.0000000001) == "1,665"
        assert fmt.mw(79.66) == "79.7 MW"
        assert fmt.quantity(16298701.3, "tokens/s") == "16.30 M tokens/s"
        assert fmt.quantity(1224.0, "kW") == "1,224 kW"
        assert fmt.quantity(12.345, "kW") == "12.35 kW"
        assert fmt.quantity(46490.83, "kW") == "46,491 kW"
        # a relaxation too small for one decimal keeps its digits (it read "0.0 MW")
        assert fmt.quantity(0.04, "MW") == "0.04000 MW"
        assert fmt.quantity(0.0123456, "MW") == "0.01235 MW"
        assert fmt.quantity(3.68, "MW") == "3.7 MW" and fmt.quantity(0, "MW") == "0.0 MW"


def test_diagnosis_entry_model_still_has_the_fields_the_report_reads() -> None:
    d = DiagnosisEntry(limit="power", site="s", period="2026-01", amount=1.0, unit="MW", message="m")
    assert (d.site, d.hardware, d.workload, d.vendor, d.period) == ("s", None, None, None, "2026-01")
