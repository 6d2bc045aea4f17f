"""CSV tables (service.report.tables): shape, plain numbers, and sums that equal the plan's
summary, recomputed from the rows alone (units acquired, capex/opex and their components,
tokens served, power)."""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict

import pytest

from service.report import TABLES, plan_tables, render_plan_report, table_csv
from solver import Plan, plan
from tests.helpers.report_cases import demo_request, infeasible_request, limits_request, read_page
from tests.helpers.requests import hardware, request, solve

SECONDS_PER_PERIOD = 0.25 * 8760 * 3600  # demo: 3-month periods
PLAIN = re.compile(r"^-?\d+(\.\d+)?$")


@pytest.fixture(scope="module")
def demo() -> Plan:
    p = plan(demo_request())
    assert p.status == "optimal"
    return p


@pytest.fixture(scope="module")
def tables(demo: Plan) -> dict[str, list[dict[str, str]]]:
    out = {}
    for name, text in plan_tables(demo).items():
        out[name] = list(csv.DictReader(io.StringIO(text)))
    return out


def num(x: str) -> float:
    assert PLAIN.match(x), f"not a plain number: {x!r}"
    return float(x)


class TestShape:
    def test_every_table_is_there(self, demo: Plan) -> None:
        assert set(plan_tables(demo)) == set(TABLES) >= {"fleet", "periods", "workloads", "shadow_prices"}

    @pytest.mark.parametrize("name", TABLES)
    def test_one_header_row_then_one_row_per_record(self, demo: Plan, name: str) -> None:
        text = table_csv(demo, name)
        lines = text.split("\r\n")
        assert lines[-1] == ""  # every line ends with CRLF
        rows = list(csv.reader(io.StringIO(text)))
        header, body = rows[0], rows[1:]
        assert len(set(header)) == len(header)
        assert all(len(r) == len(header) for r in body)
        records = {
            "fleet": sum(len(p.fleet) for p in demo.periods),
            "periods": len(demo.periods),
            "sites": sum(len(p.sites) for p in demo.periods),
            "workloads": sum(len(p.workloads) for p in demo.periods),
            "shadow_prices": self._prices(demo),
            "idle_purchases": sum(len(x.idle_units) for x in demo.idle_purchases),
        }[name]
        assert len(body) == records

    @staticmethod
    def _prices(p: Plan) -> int:
        sp = p.shadow_prices
        assert sp is not None
        return (
            len(sp.power_usd_per_mw)
            + (sp.budget_per_usd is not None)
            + len(sp.budget_per_period_per_usd)
            + (sp.total_budget_per_usd is not None)
            + len(sp.total_budget_per_period_per_usd)
            + len(sp.vendor_share_per_percentage_point)
            + len(sp.supply_per_unit)
            + len(sp.demand_usd_per_million_tokens)
        )

    @pytest.mark.parametrize("name", TABLES)
    def test_numbers_are_plain(self, tables: dict[str, list[dict[str, str]]], name: str) -> None:
        text_cols = {"period", "site", "hardware", "workload", "vendor", "limit", "unit", "basis"}
        for row in tables[name]:
            for col, value in row.items():
                if col not in text_cols:
                    num(value)

    def test_unknown_table(self, demo: Plan) -> None:
        with pytest.raises(KeyError):
            table_csv(demo, "nope")

    def test_an_infeasible_plan_has_headers_only(self) -> None:
        p = plan(infeasible_request())
        assert p.status == "infeasible"
        for name, text in plan_tables(p).items():
            assert len(list(csv.reader(io.StringIO(text)))) == 1, name


class TestSums:
    def test_units_acquired(self, demo: Plan, tables: dict[str, list[dict[str, str]]]) -> None:
        units: dict[str, float] = defaultdict(float)
        for row in tables["fleet"]:
            units[row["hardware"]] += num(row["acquired"])
        assert {h: u for h, u in units.items() if u} == pytest.approx(demo.summary.units_acquired, rel=1e-12)

    def test_allocation_never_exceeds_installed(self, tables: dict[str, list[dict[str, str]]]) -> None:
        for row in tables["fleet"]:
            alloc = sum(num(v) for k, v in row.items() if k.startswith("allocated_"))
            assert alloc <= num(row["installed"]) * (1 + 1e-9) + 1e-9

    def test_cost_components(self, demo: Plan, tables: dict[str, list[dict[str, str]]]) -> None:
        rows = tables["periods"]
        capex = sum(num(r["capex_usd"]) for r in rows)
        opex = sum(num(r["opex_usd"]) for r in rows)
        assert capex == pytest.approx(demo.summary.capex_usd, rel=1e-12)
        assert opex == pytest.approx(demo.summary.opex_usd, rel=1e-12)
        for r in rows:
            parts_capex = sum(num(v) for k, v in r.items() if k.startswith("capex_") and k != "capex_usd")
            parts_opex = sum(num(v) for k, v in r.items() if k.startswith("opex_") and k != "opex_usd")
            assert parts_capex == pytest.approx(num(r["capex_usd"]), rel=1e-12, abs=1e-6)
            assert parts_opex == pytest.approx(num(r["opex_usd"]), rel=1e-12, abs=1e-6)
        assert {"capex_hardware_usd", "capex_expansion_usd", "opex_energy_usd"} <= set(rows[0])

    def test_npv_from_the_periods_table(self, demo: Plan, tables: dict[str, list[dict[str, str]]]) -> None:
        """NPV = Σ d_t (capex_t + opex_t) − d_N (residual + warrants − shortfall)."""
        rows = tables["periods"]
        d = [num(r["discount_factor"]) for r in rows]
        d_end = d[-1] * d[1] / d[0]
        s = demo.summary
        npv = sum(dt * (num(r["capex_usd"]) + num(r["opex_usd"])) for dt, r in zip(d, rows, strict=True))
        npv += d_end * (s.contract_shortfall_usd - s.warrant_value_usd - s.residual_value_usd)
        assert npv == pytest.approx(s.npv_cost_usd, rel=1e-9)

    def test_tokens_served(self, demo: Plan, tables: dict[str, list[dict[str, str]]]) -> None:
        served = sum(num(r["served_tokens_per_s"]) for r in tables["workloads"]) * SECONDS_PER_PERIOD / 1e6
        demand = sum(num(r["demand_tokens_per_s"]) for r in tables["workloads"]) * SECONDS_PER_PERIOD / 1e6
        assert served == pytest.approx(demo.summary.served_million_tokens, rel=1e-12)
        assert demand == pytest.approx(demo.summary.demand_million_tokens, rel=1e-12)
        for r in tables["workloads"]:
            assert num(r["unmet_tokens_per_s"]) == pytest.approx(
                num(r["demand_tokens_per_s"]) - num(r["served_tokens_per_s"]), abs=1e-6
            )

    def test_capacity_holds_the_peak_of_what_is_served(
        self, demo: Plan, tables: dict[str, list[dict[str, str]]]
    ) -> None:
        """capacity >= (1 + reserve)·served·peak/average, row by row; the peak is its own column."""
        grows = 0
        for r in tables["workloads"]:
            dem, peak = num(r["demand_tokens_per_s"]), num(r["demand_peak_tokens_per_s"])
            assert peak >= dem * (1 - 1e-12)
            grows += peak > dem * (1 + 1e-9)
            if dem > 0:
                need = num(r["served_tokens_per_s"]) * peak / dem
                assert num(r["capacity_tokens_per_s"]) >= need * (1 - 1e-9)
        assert grows  # the demo's demand grows: the two columns differ

    def test_site_power_adds_up_to_the_period_totals_and_peaks(
        self, demo: Plan, tables: dict[str, list[dict[str, str]]]
    ) -> None:
        used: dict[str, float] = defaultdict(float)
        peak: dict[str, float] = defaultdict(float)
        for r in tables["sites"]:
            used[r["period"]] += num(r["power_used_mw"])
            peak[r["site"]] = max(peak[r["site"]], num(r["power_used_mw"]))
        for r in tables["periods"]:
            assert num(r["power_used_mw"]) == pytest.approx(used[r["period"]], rel=1e-12)
        assert dict(peak) == pytest.approx(demo.summary.peak_power_mw, rel=1e-12)

    def test_power_prices_match_the_plan(self, demo: Plan, tables: dict[str, list[dict[str, str]]]) -> None:
        assert demo.shadow_prices is not None
        want = {(x.site, x.period): x.value for x in demo.shadow_prices.power_usd_per_mw}
        got = {
            (r["site"], r["period"]): num(r["value"])
            for r in tables["shadow_prices"]
            if r["limit"] == "power"
        }
        assert got == want
        # the unit names the money basis: power, budget and supply prices are present values
        # (NPV) for one period; the demand price is nominal
        units = {r["limit"]: r["unit"] for r in tables["shadow_prices"]}
        assert units["power"] == "usd_npv_per_mw_in_period"
        assert units["demand"] == "usd_nominal_per_million_tokens"
        assert {units.get("budget"), units.get("budget_period")} <= {"usd_npv_per_usd_nominal", None}
        assert units.get("supply", "usd_npv_per_unit_bought_in_period") == "usd_npv_per_unit_bought_in_period"
        for limit in ("total_budget", "total_budget_period"):
            assert units.get(limit, "usd_npv_per_usd_nominal") == "usd_npv_per_usd_nominal"
        for limit in ("vendor_share_max", "vendor_share_min"):
            assert units.get(limit, "usd_npv_per_percentage_point_in_period") == (
                "usd_npv_per_percentage_point_in_period"
            )

    def test_max_served_price_units_are_tokens(self) -> None:
        from solver.limits import BY_FAMILY

        units = {f: BY_FAMILY[f].price.unit("weighted_million_tokens") for f in ("power", "budget", "supply")}
        units["demand"] = BY_FAMILY["demand_cap"].price.unit("weighted_million_tokens")
        units["vendor_share"] = BY_FAMILY["vendor_max"].price.unit("weighted_million_tokens")
        assert units == {
            "power": "weighted_million_tokens_per_mw_in_period",
            "budget": "weighted_million_tokens_per_usd_nominal",
            "supply": "weighted_million_tokens_per_unit_bought_in_period",
            "demand": "weighted_million_tokens_per_million_tokens",
            "vendor_share": "weighted_million_tokens_per_percentage_point_in_period",
        }


def test_budget_and_vendor_share_prices_match_the_plan() -> None:
    p = plan(limits_request())
    assert p.status == "optimal" and p.shadow_prices is not None
    sp = p.shadow_prices
    rows = list(csv.DictReader(io.StringIO(table_csv(p, "shadow_prices"))))
    total = [r for r in rows if r["limit"] == "total_budget"]
    assert len(total) == 1 and num(total[0]["value"]) == sp.total_budget_per_usd
    assert total[0]["unit"] == "weighted_million_tokens_per_usd_nominal"
    assert sp.total_budget_per_usd is not None and sp.total_budget_per_usd > 0
    shares = {(r["vendor"], r["period"]): num(r["value"]) for r in rows if r["limit"] == "vendor_share_max"}
    assert shares == {(x.vendor, x.period): x.value for x in sp.vendor_share_per_percentage_point}
    assert len(shares) == 4 and any(v > 0 for v in shares.values())
    assert {r["unit"] for r in rows if r["limit"] == "vendor_share_max"} == {
        "weighted_million_tokens_per_percentage_point_in_period"
    }


class TestFormulaInjection:
    def test_ids_that_look_like_formulas_are_written_as_text(self) -> None:
        # A hardware and a workload id a spreadsheet would run: written with an apostrophe,
        # in the cells and in the allocated_<workload> header; numbers are left alone.
        from tests.helpers.requests import hardware, request, workload

        formula = '=HYPERLINK("http://x","y")'
        req = request(hardware_=[hardware(formula)], workloads=[workload("@w")])
        p = plan(req)
        rows = list(csv.reader(io.StringIO(table_csv(p, "fleet"))))
        header, first = rows[0], dict(zip(rows[0], rows[1], strict=True))
        assert first["hardware"] == "'" + formula
        assert "allocated_@w" in header  # starts with "a": nothing to guard
        assert float(first["installed"]) == pytest.approx(100)
        (wl,) = list(csv.DictReader(io.StringIO(table_csv(p, "workloads"))))
        assert wl["workload"] == "'@w"


@pytest.fixture(scope="module")
def idle_plan() -> Plan:
    """See TestIdlePurchasesTable."""
    req = request(
        horizon={"start": "2026-01", "periods": 2, "period_months": 12},
        hardware=[hardware(recurring_usd_per_unit_hour=1 / 8760)],
        contracts=[{"vendor": "v", "min_spend_usd": 15_000}],
    )
    return solve(req)


class TestIdlePurchasesTable:
    """tests/solver/test_advice.py's take-or-pay case over two yearly periods, with a lease of
    $1 per unit-year: 100 units serve ($10,000 + $200 of lease); $15,000 of spend is owed, so x
    more units, bought in the second year (discounted, and fully residual-free last), meet it:
    100·x + 1·x = 4,800, x = 4,800/101, idle from their arrival."""

    def test_one_row_per_idle_period_with_the_entry(self, idle_plan: Plan) -> None:
        x = 4800 / 101
        rows = list(csv.DictReader(io.StringIO(table_csv(idle_plan, "idle_purchases"))))
        assert [(r["period"], r["site"], r["hardware"], r["entry_causes"]) for r in rows] == [
            ("2027-01", "s", "h", "take_or_pay v")
        ]
        [r] = rows
        assert num(r["idle_units"]) == pytest.approx(x, rel=1e-7)
        assert num(r["entry_idle_on_arrival_units"]) == pytest.approx(x, rel=1e-7)
        assert num(r["entry_capex_usd"]) == pytest.approx(100 * x, rel=1e-7)
        assert num(r["entry_opex_usd"]) == pytest.approx(x, rel=1e-7)

    def test_the_report_shows_them_in_the_fleet_section(self, idle_plan: Plan) -> None:
        x = 4800 / 101
        page = read_page(render_plan_report(idle_plan))
        assert float(page.fields["idle.0.units"].attrs["data-value"]) == pytest.approx(x, rel=1e-7)
        assert float(page.fields["idle.capex_usd"].attrs["data-value"]) == pytest.approx(100 * x, rel=1e-7)
        assert float(page.fields["idle.opex_usd"].attrs["data-value"]) == pytest.approx(x, rel=1e-7)
        assert "Idle purchases" in page.text and "take_or_pay v" in page.text

    def test_no_table_without_idle_purchases(self, demo: Plan) -> None:
        assert not demo.idle_purchases
        assert "Idle purchases" not in read_page(render_plan_report(demo)).text
