"""The sweep report (service.report.scenarios): the tornado charts.

power_request (tests/helpers/scenario_requests.py): cost = 3e6 − 2e5·(P − 10) for 10 <= P <= 20
MW, infeasible below 10 MW; the base (P = 15) costs 2e6.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import pytest

from service.report import render_frontier_report, render_sweep_report
from solver.scenarios.frontier import prepare_frontier, run_frontier
from solver.scenarios.sweep import prepare_sweep, run_sweep
from tests.helpers.report_cases import SVG, read_page, svg_tree, titles, unisolated
from tests.helpers.scenario_requests import frontier_request, power_request

WHEN = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CHART = "chart-tornado-npv_cost_usd"


def sweep_html(parameters: list[dict[str, Any]]) -> str:
    body = {"base": power_request(), "mode": "one_at_a_time", "parameters": parameters}
    return render_sweep_report(run_sweep(prepare_sweep(body)).model_dump(), generated_at=WHEN)


def labels(svg: ET.Element) -> list[str]:
    """The parameter labels, top to bottom (the label column's ink text)."""
    return [
        t.text or "" for t in svg.iter(f"{SVG}text") if t.get("fill") == "#1d2733" and t.get("x") == "240.0"
    ]


def no_value_notes(svg: ET.Element) -> list[str]:
    return [
        t.text or ""
        for g in svg.iter(f"{SVG}g")
        if g.get("class") == "tornado-novalue"
        for t in g.iter(f"{SVG}text")
    ]


class TestTornadoSettingsWithoutAPlan:
    def test_infeasible_settings_are_named_and_their_bars_come_first(self) -> None:
        html = sweep_html(
            [
                {"path": "hardware/b/unit_price_usd", "scale": [0.5, 2]},  # 1.25e6 .. 3.5e6
                {"path": "sites/s/power_mw", "values": [8, 18]},  # infeasible, 1.4e6
                {"path": "workloads/w/demand_tokens_per_s", "values": [5000, 6000]},  # both infeasible
            ]
        )
        svg = svg_tree(html, CHART)
        assert labels(svg) == [
            "sites/s/power_mw",
            "workloads/w/demand_tokens_per_s",
            "hardware/b/unit_price_usd",
        ]
        assert no_value_notes(svg) == ["infeasible at 8.000", "infeasible at 5,000; infeasible at 6,000"]
        # 18 MW is the power's highest setting (8 has no plan below it): one bar, on the high side
        bars = {(r.get("data-side"), t) for r, t in zip(svg.iter(f"{SVG}rect"), titles(svg), strict=True)}
        assert bars == {
            ("high", "sites/s/power_mw 18.00: $1.400 M"),
            ("low", "hardware/b/unit_price_usd ×0.5 (= 150.0 k): $1.250 M"),
            ("high", "hardware/b/unit_price_usd ×2 (= 600.0 k): $3.500 M"),
        }
        assert "named in red under their parameter" in read_page(html).text

    def test_a_parameter_that_only_breaks_the_plan_still_gets_a_chart(self) -> None:
        # 15 MW is the base: the one setting with a plan equals it, the other has none
        html = sweep_html([{"path": "sites/s/power_mw", "values": [8, 15]}])
        svg = svg_tree(html, CHART)
        assert labels(svg) == ["sites/s/power_mw"]
        assert no_value_notes(svg) == ["infeasible at 8.000"]
        assert "No parameter moves the results" not in read_page(html).text


def header_meta(html: str) -> str:
    """The header's meta line, as read."""
    start = html.index('<div class="meta">')
    return read_page(html[start : html.index("</header>", start)]).text.strip()


def first_cells(html: str) -> list[str]:
    """The first cell of every body row of the page's (one) table, as read."""
    body = html[html.index("<tbody>") : html.index("</tbody>")]
    return [read_page(row.split("</td>")[0]).text.strip() for row in body.split("<tr>")[1:]]


class TestCountsAndNumbering:
    def test_the_header_counts_finished_and_solved_scenarios_apart(self) -> None:
        html = sweep_html(
            [
                {"path": "sites/s/power_mw", "values": [8, 18]},  # infeasible, optimal
                {"path": "workloads/w/demand_tokens_per_s", "values": [5000, 6000]},  # both infeasible
            ]
        )
        assert header_meta(html).startswith("5 of 5 scenarios finished, 2 solved ")
        assert "2 of 5 scenarios solved." in read_page(html).text
        assert first_cells(html) == ["0", "1", "2", "3", "4"]

    def test_an_all_infeasible_frontier_says_none_solved(self) -> None:
        rows = [{"index": 0, "status": "infeasible"}, {"index": 2, "status": "infeasible"}]
        html = render_frontier_report(
            {"total": 3, "done": 2, "rows": rows, "error": "the least served (min_cost) end is infeasible"},
            generated_at=WHEN,
        )
        assert header_meta(html).startswith("2 of 3 scenarios finished, 0 solved ")
        assert first_cells(html) == ["0", "2"]  # the rows' own indices

    def test_frontier_points_are_numbered_as_the_api_and_its_knee_index(self) -> None:
        result = run_frontier(prepare_frontier({"base": frontier_request(), "points": 9}))
        assert result.knee_index == 5
        html = render_frontier_report(result.model_dump(), generated_at=WHEN)
        assert first_cells(html) == ["0", "1", "2", "3", "4", "5 knee", "6", "7", "8"]
        assert "The knee is point 5, at 50.00% served ($500.0 k)" in read_page(html).text
        assert header_meta(html).startswith("9 of 9 scenarios finished, 9 solved ")


class TestBidiIsolation:
    @pytest.mark.parametrize("mode", ["one_at_a_time", "grid"])
    def test_paths_with_hostile_ids_are_isolated(self, mode: str) -> None:
        base = power_request()
        base["sites"][0]["id"] = "s\u202e"
        base["workloads"][0]["id"] = "w\u05d0"
        parameters = [{"path": "sites/s\u202e/power_mw", "values": [8, 12, 18]}]
        if mode == "one_at_a_time":
            parameters.append({"path": "workloads/w\u05d0/demand_tokens_per_s", "values": [500, 5000]})
        result = run_sweep(prepare_sweep({"base": base, "mode": mode, "parameters": parameters}))
        html = render_sweep_report(result.model_dump(), plan_href=lambda i: f"p/{i}", generated_at=WHEN)
        assert unisolated(html) == []
        assert "<th class=num><bdi>sites/<wbr>s\u202e/<wbr>power_mw\u202c</bdi></th>" in html
        if mode == "grid":
            assert "<h3>NPV cost against <bdi>sites/s\u202e/power_mw\u202c</bdi></h3>" in html
            assert "<title>\u2068sites/s\u202e/power_mw\u202c\u2069 = 12.00: $2.600 M</title>" in html
        else:
            svg = svg_tree(html, CHART)
            assert "\u2068sites/s\u202e/power_mw\u202c\u2069" in labels(svg)


class TestPartialRowsAndLinks:
    def test_a_row_without_a_status_reads_as_none_given(self) -> None:
        path = "sites/s/power_mw"
        rows = [
            {"index": 0, "parameter": None, "values": {}},
            {"index": 1, "parameter": path, "values": {path: 8}, "status": "optimal", "npv_cost_usd": 1e6},
            {"index": 2, "parameter": path, "values": {path: 12}},
        ]
        html = render_sweep_report({"mode": "one_at_a_time", "rows": rows}, generated_at=WHEN)
        text = read_page(html).text
        assert "The base scenario has no plan (no status): there is no base" in text
        assert "None" not in text
        # status, NPV cost, $ / M tokens, served and plan: a dash each
        assert "2 sites/ s/ power_mw 12.00 \u2014 \u2014 \u2014 \u2014 \u2014 Money is" in text

    def test_points_invite_a_click_only_when_they_link(self) -> None:
        frontier = run_frontier(prepare_frontier({"base": frontier_request(), "points": 3})).model_dump()
        bare = read_page(render_frontier_report(frontier, generated_at=WHEN)).text
        assert "Each point is the least-cost plan at that served fraction; the knee (ringed)" in bare
        linked = render_frontier_report(frontier, plan_href=lambda i: f"p/{i}", generated_at=WHEN)
        assert "at that served fraction (click a point for its report); the knee" in read_page(linked).text
        assert linked.count('<a href="p/') == 2 * 3  # each point and each table row

        body = {
            "base": power_request(),
            "mode": "grid",
            "parameters": [{"path": "sites/s/power_mw", "values": [12, 18]}],
        }
        sweep = run_sweep(prepare_sweep(body)).model_dump()
        bare = read_page(render_sweep_report(sweep, generated_at=WHEN)).text
        assert "Each point is a scenario's plan. " in bare and "click" not in bare
        linked = render_sweep_report(sweep, plan_href=lambda i: f"p/{i}", generated_at=WHEN)
        assert "Each point is a scenario's plan (click a point for its report)." in read_page(linked).text
