"""``capplan report`` and ``capplan export`` (service.cli.report), run in-process."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from service.cli.main import main
from service.report import TABLES
from solver import plan
from tests.helpers.report_cases import demo_request, infeasible_request, read_page
from tests.helpers.requests import request, solve


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("report-cli")
    req = demo_request()
    p = plan(req)
    out = {
        "request": d / "request.json",
        "plan": d / "plan.json",
        "bundle": d / "bundle.json",
        "infeasible": d / "infeasible.json",
    }
    out["request"].write_text(json.dumps(req))
    out["plan"].write_text(p.model_dump_json())
    out["bundle"].write_text(json.dumps({"plan": p.model_dump(mode="json"), "request": req}))
    out["infeasible"].write_text(json.dumps(infeasible_request()))
    return out


def run(*argv: str) -> int:
    return main(list(argv))


class TestReport:
    def test_from_a_request(
        self, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = tmp_path / "sub" / "r.html"
        assert run("report", str(files["request"]), "-o", str(out)) == 0
        assert "wrote" in capsys.readouterr().err
        page = read_page(out.read_text())
        assert page.fields["status"].text == "optimal"
        assert "chart-fleet-mw" in page.svgs  # the request is known

    def test_from_a_saved_plan_with_and_without_its_request(
        self, files: dict[str, Path], tmp_path: Path
    ) -> None:
        saved = json.loads(files["plan"].read_text())
        bare, withreq, bundle = tmp_path / "a.html", tmp_path / "b.html", tmp_path / "c.html"
        assert run("report", str(files["plan"]), "-o", str(bare)) == 0
        assert run("report", str(files["plan"]), "--request", str(files["request"]), "-o", str(withreq)) == 0
        assert run("report", str(files["bundle"]), "-o", str(bundle)) == 0
        for path, has_mw in ((bare, False), (withreq, True), (bundle, True)):
            page = read_page(path.read_text())
            assert (
                float(page.fields["summary.npv_cost_usd"].attrs["data-value"])
                == saved["summary"]["npv_cost_usd"]
            )
            assert ("chart-fleet-mw" in page.svgs) is has_mw

    def test_to_stdout(self, files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
        assert run("report", str(files["plan"]), "-o", "-") == 0
        assert capsys.readouterr().out.startswith("<!DOCTYPE html>")

    def test_infeasible_request(self, files: dict[str, Path], tmp_path: Path) -> None:
        out = tmp_path / "bad.html"
        assert run("report", str(files["infeasible"]), "-o", str(out)) == 0  # a plan was produced
        assert read_page(out.read_text()).sections[0] == "diagnosis"

    def test_sweep_and_frontier_results(self, tmp_path: Path) -> None:
        rows: list[dict[str, Any]] = [
            {"index": 0, "values": {"budget/capex_usd": 1e9}, "parameter": None, "plan_id": "p0",
             "status": "optimal", "npv_cost_usd": 100.0, "served_fraction": 1.0},
            {"index": 1, "values": {"budget/capex_usd": 2e9}, "parameter": "budget/capex_usd", "plan_id": "p1",
             "status": "optimal", "npv_cost_usd": 90.0, "served_fraction": 1.0},
        ]  # fmt: skip
        sweep = tmp_path / "sweep.json"
        sweep.write_text(json.dumps({"mode": "one_at_a_time", "total": 2, "done": 2, "rows": rows}))
        out = tmp_path / "sweep.html"
        assert run("report", str(sweep), "-o", str(out), "--plan-link", "https://h/v1/plans/{id}/report") == 0
        html = out.read_text()
        assert "chart-tornado-npv_cost_usd" in read_page(html).svgs
        assert 'href="https://h/v1/plans/p1/report"' in html
        frontier = tmp_path / "frontier.json"
        frows = [
            dict(r, target_served_fraction=0.5 + 0.25 * i, served_fraction=0.5 + 0.25 * i)
            for i, r in enumerate(rows)
        ]
        frontier.write_text(json.dumps({"points": 2, "total": 2, "done": 2, "rows": frows}))
        assert run("report", str(frontier), "-o", str(out)) == 0
        assert read_page(out.read_text()).svgs == ["chart-frontier"]

    def test_frontier_marginal_cost_is_levelised_and_labelled_so(self, tmp_path: Path) -> None:
        # Rows as run_frontier makes them (hand numbers of TestFrontier's levelised case):
        # the marginal is NPV $ per discounted million tokens, like the average beside it.
        # A stored row from before (no discounted_million_tokens_served) had its marginal per
        # undiscounted million tokens: it is not shown under the levelised heading.
        rows: list[dict[str, Any]] = [
            {"index": 0, "plan_id": "p0", "status": "optimal", "npv_cost_usd": 0.0, "served_fraction": 0.0,
             "target_served_fraction": 0.0, "discounted_million_tokens_served": 0.0},
            {"index": 1, "plan_id": "p1", "status": "optimal", "npv_cost_usd": 21_900.0, "served_fraction": 0.25,
             "target_served_fraction": 0.25, "discounted_million_tokens_served": 7_884.0,
             "cost_per_million_tokens_usd": 21_900 / 7_884, "marginal_cost_usd_per_million_tokens": 21_900 / 7_884},
            {"index": 2, "plan_id": "p2", "status": "optimal", "npv_cost_usd": 65_700.0, "served_fraction": 0.5,
             "target_served_fraction": 0.5, "cost_per_million_tokens_usd": 65_700 / 23_652,
             "marginal_cost_usd_per_million_tokens": 1.38889},
        ]  # fmt: skip
        frontier = tmp_path / "frontier.json"
        frontier.write_text(json.dumps({"points": 3, "total": 3, "done": 3, "rows": rows}))
        out = tmp_path / "frontier.html"
        assert run("report", str(frontier), "-o", str(out)) == 0
        text = read_page(out.read_text()).text
        assert "$ / M tokens (levelised) marginal $ / M tokens (levelised)" in text
        assert "per discounted million tokens served" in text
        point1 = text[text.index("25.00% 25.00%") :]
        assert point1.startswith("25.00% 25.00% optimal $21.90 k $2.778 $2.778 p1")
        assert "$1.389" not in text  # the legacy row's undiscounted marginal
        assert "50.00% 50.00% optimal $65.70 k $2.778 \u2014 p2" in text

    def test_plan_link_needs_the_id_placeholder(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        sweep = tmp_path / "sweep.json"
        sweep.write_text(json.dumps({"rows": []}))
        assert run("report", str(sweep), "--plan-link", "https://h/x", "-o", str(tmp_path / "o.html")) == 2
        assert "--plan-link" in capsys.readouterr().err

    def test_neither_plan_nor_request(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        odd = tmp_path / "odd.json"
        odd.write_text(json.dumps({"hello": 1}))
        assert run("report", str(odd), "-o", str(tmp_path / "o.html")) == 2
        assert "neither a request, a plan" in capsys.readouterr().err

    def test_invalid_request_names_the_field(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        req = demo_request()
        req["sites"][0]["pue"] = 0.5
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(req))
        assert run("report", str(bad), "-o", str(tmp_path / "o.html")) == 2
        assert "/sites/0/pue" in capsys.readouterr().err
        assert not (tmp_path / "o.html").exists()

    def test_missing_file(self, tmp_path: Path) -> None:
        assert run("report", str(tmp_path / "nope.json")) == 1

    @pytest.mark.parametrize(
        ("change", "why"),
        [
            (lambda r: r["horizon"].update(period_months=6), "6 months long, the plan's 3"),
            (lambda r: r["horizon"].update(start="2031-01"), "are not the plan's"),
            (lambda r: r.setdefault("economics", {}).update(discount_rate=0.31), "discount rate gives"),
            (lambda r: r["sites"][0].update(id="elsewhere"), "the plan's site"),
        ],
    )
    def test_another_plans_request_is_refused(
        self,
        files: dict[str, Path],
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        change: Any,
        why: str,
    ) -> None:
        """The report takes the end discount, vendors, power and PUE from the request: another
        request's would make its tables disagree with the plan (the NPV's terms not adding up)."""
        other = demo_request()
        change(other)
        path = tmp_path / "other.json"
        path.write_text(json.dumps(other))
        assert run("report", str(files["plan"]), "--request", str(path), "-o", str(tmp_path / "a.html")) == 2
        assert f"--request {path} is not this plan's request: " in (err := capsys.readouterr().err)
        assert why in err
        bundle = tmp_path / "bundle.json"
        saved = json.loads(files["plan"].read_text())
        bundle.write_text(json.dumps({"plan": saved, "request": other}))
        assert run("report", str(bundle), "-o", str(tmp_path / "b.html")) == 2
        assert f"{bundle}: /request is not this plan's request: " in capsys.readouterr().err
        assert not (tmp_path / "a.html").exists() and not (tmp_path / "b.html").exists()


class TestOnePeriodPlan:
    """One yearly period: one label and one discount factor (1) whatever the request's period
    length or rate; the horizon end's factor is read off the plan's NPV instead."""

    @pytest.fixture
    def saved(self, tmp_path: Path) -> Path:
        p = solve(request(economics={"discount_rate": 0.08, "residual_value": True}))
        assert p.summary.residual_value_usd == pytest.approx(8000)  # 100 units at $100, 80 % left
        path = tmp_path / "plan.json"
        path.write_text(p.model_dump_json())
        return path

    @pytest.mark.parametrize(
        ("economics", "horizon", "why"),
        [
            ({"discount_rate": 0.9, "residual_value": True}, {}, "at the horizon end; the plan's NPV holds"),
            ({"discount_rate": 0.08, "residual_value": True}, {"period_months": 3}, "3 months long"),
        ],
    )
    def test_another_rate_or_period_length_is_refused(
        self,
        saved: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        economics: dict[str, Any],
        horizon: dict[str, Any],
        why: str,
    ) -> None:
        other = request(economics=economics)
        other["horizon"].update(horizon)
        path = tmp_path / "other.json"
        path.write_text(json.dumps(other))
        assert run("report", str(saved), "--request", str(path), "-o", str(tmp_path / "a.html")) == 2
        assert why in capsys.readouterr().err

    def test_the_present_values_add_up_without_the_request(self, saved: Path, tmp_path: Path) -> None:
        out = tmp_path / "bare.html"
        assert run("report", str(saved), "-o", str(out)) == 0
        html = out.read_text()
        # residual 8,000 discounted one year at 8 %: 7,407.41 (not extrapolated from one period)
        assert 'data-value="-7407.40740740740' in html


class TestExport:
    def test_writes_every_table_that_adds_up(self, files: dict[str, Path], tmp_path: Path) -> None:
        out = tmp_path / "tables"
        assert run("export", str(files["plan"]), "--dir", str(out)) == 0
        assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.csv" for t in TABLES)
        saved = json.loads(files["plan"].read_text())
        with (out / "fleet.csv").open(newline="") as fh:
            units: dict[str, float] = {}
            for row in csv.DictReader(fh):
                units[row["hardware"]] = units.get(row["hardware"], 0.0) + float(row["acquired"])
        assert {h: u for h, u in units.items() if u} == pytest.approx(
            saved["summary"]["units_acquired"], rel=1e-12
        )
        with (out / "periods.csv").open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert sum(float(r["capex_usd"]) for r in rows) == pytest.approx(
            saved["summary"]["capex_usd"], rel=1e-12
        )
        assert (out / "periods.csv").read_bytes().count(b"\r\n") == len(rows) + 1

    def test_a_request_is_solved_first(self, files: dict[str, Path], tmp_path: Path) -> None:
        assert run("export", str(files["infeasible"]), "--dir", str(tmp_path)) == 0
        for t in TABLES:
            assert len((tmp_path / f"{t}.csv").read_text().splitlines()) == 1  # infeasible: headers only
