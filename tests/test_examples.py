"""Every example in ``examples/`` solved from the CLI, checked, and quoted correctly.

* Each request file solves through ``capplan solve --json`` with its expected status, and
  every figure of its plan is recomputed from the request by ``check_plan``.
* ``examples/expected.json`` agrees with a fresh solve (relative 1e-6), every quoted text is
  its value formatted, and ``examples/README.md`` quotes each text in that example's section.
* Per example, the key numbers are re-derived independently: the Cerebras commitment and
  warrants from the fleet table, the power and budget shadow prices by finite differences,
  the infeasible request's diagnosis by applying it, the sensitivity files from the base.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.cli.main import main as cli_main
from solver import Plan, parse_request, plan
from solver.catalog import catalog_hardware
from tests.helpers.recompute import check_plan

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from update_expected import resolve

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
EXPECTED: dict[str, Any] = json.loads((EXAMPLES / "expected.json").read_text(encoding="utf-8"))
README = (EXAMPLES / "README.md").read_text(encoding="utf-8")
REQUEST_FILES = sorted(p.name for p in EXAMPLES.glob("*.json") if p.name != "expected.json")
REL = 1e-6
HOURS_PER_QUARTER = 8760 / 4


def request_of(name: str) -> dict[str, Any]:
    return dict(json.loads((EXAMPLES / name).read_text(encoding="utf-8")))


@cache
def solved(name: str) -> Plan:
    """The plan ``capplan solve FILE --json`` prints for an example (solved once per worker)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_main(["solve", str(EXAMPLES / name), "--json"])
    assert code == 0, f"capplan solve {name} exited {code}"
    return Plan.model_validate_json(out.getvalue())


def readme_section(name: str) -> str:
    """The README text from the heading naming ``name`` to the next heading of that level."""
    m = re.search(rf"^(#+) .*`{re.escape(name)}`.*$", README, flags=re.M)
    assert m, f"examples/README.md has no heading naming `{name}`"
    level = len(m.group(1))
    rest = README[m.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, flags=re.M)
    return rest[: end.start()] if end else rest


def close(a: float, b: float, rel: float = REL) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


def with_power(req: dict[str, Any], site: str, t: int, delta: float) -> dict[str, Any]:
    """A copy of ``req`` with ``delta`` MW more at ``site`` in period ``t`` only."""
    out = copy.deepcopy(req)
    n = out["horizon"]["periods"]
    for s in out["sites"]:
        if s["id"] == site:
            pw = s["power_mw"] if isinstance(s["power_mw"], list) else [s["power_mw"]] * n
            pw = list(pw)
            pw[t] += delta
            s["power_mw"] = pw
    return out


def objective(req: dict[str, Any]) -> float:
    p = plan(req)
    assert p.status == "optimal" and p.objective.value is not None
    return p.objective.value


class TestEveryExample:
    def test_every_request_file_has_expected_figures_and_a_readme_section(self) -> None:
        assert set(REQUEST_FILES) == set(EXPECTED)
        for name in REQUEST_FILES:
            assert readme_section(name).strip(), name

    @pytest.mark.parametrize("name", REQUEST_FILES)
    def test_solves_from_the_cli_with_its_expected_status(self, name: str) -> None:
        p = solved(name)
        assert p.status == EXPECTED[name]["status"]
        assert p.binding == EXPECTED[name]["binding"]
        check_plan(request_of(name), p)

    @pytest.mark.parametrize("name", REQUEST_FILES)
    def test_uses_the_catalog(self, name: str) -> None:
        hw = request_of(name)["hardware"]
        if name == TestDesignExample.NAME:  # DESIGN.md's request as given: its GB200 item is inline
            hw = hw[1:]
        assert all("catalog" in h for h in hw), "examples start every hardware item from the catalog"

    def test_the_readme_command_runs_the_installed_entry_point(self) -> None:
        proc = subprocess.run(
            [sys.executable, "-m", "service.cli", "solve", "examples/cerebras-750mw.json"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert "status: optimal" in proc.stdout
        npv = EXPECTED["cerebras-750mw.json"]["quotes"]["npv"]["value"]
        assert f"NPV cost ${npv:,.0f}" in proc.stdout


class TestQuotedNumbers:
    QUOTES = [(name, key) for name, e in EXPECTED.items() for key in e["quotes"]]

    @pytest.mark.parametrize(("name", "key"), QUOTES)
    def test_value_matches_a_fresh_solve(self, name: str, key: str) -> None:
        q = EXPECTED[name]["quotes"][key]
        fresh = float(resolve(solved(name).model_dump(mode="json"), q["path"]))
        assert close(fresh, q["value"]), f"{name} {q['path']}: fresh {fresh!r} vs stored {q['value']!r}"

    @pytest.mark.parametrize(("name", "key"), QUOTES)
    def test_readme_quotes_the_formatted_value(self, name: str, key: str) -> None:
        q = EXPECTED[name]["quotes"][key]
        assert q["format"].format(q["value"] * q["scale"]) == q["text"]
        assert q["text"] in readme_section(name), f"README section of {name} does not quote {q['text']!r}"

    def test_readme_shows_the_api(self) -> None:
        assert "curl" in README and "/v1/plans" in README and "examples/client.py" in README


class TestCerebras750MW:
    NAME = "cerebras-750mw.json"

    def test_hosted_fleet_fills_the_power_ramp(self) -> None:
        req, p = request_of(self.NAME), solved(self.NAME)
        ramp = next(s["power_mw"] for s in req["sites"] if s["id"] == "cerebras-hosted")
        kw = catalog_hardware("cerebras-cs3-hosted")["it_power_kw"]  # type: ignore[index]
        assert close(p.summary.units_acquired["cerebras-cs3-hosted"], max(ramp) * 1000 / kw)
        for t, per in enumerate(p.periods):
            if f"power cerebras-hosted {per.label}" in p.binding:
                inst = sum(f.installed for f in per.fleet if f.hardware == "cerebras-cs3-hosted")
                assert close(inst, ramp[t] * 1000 / kw)

    def test_commitment_and_warrants_from_the_fleet_table(self) -> None:
        req, p = request_of(self.NAME), solved(self.NAME)
        contract = req["contracts"][0]
        fee = catalog_hardware("cerebras-cs3-hosted")["recurring_usd_per_unit_hour"]  # type: ignore[index]
        spend = sum(
            f.installed * fee * HOURS_PER_QUARTER
            for per in p.periods
            for f in per.fleet
            if f.hardware == "cerebras-cs3-hosted"
        )
        c = p.contracts[0]
        assert close(c.spend_usd, spend)
        assert close(spend, contract["min_spend_usd"])  # exactly the commitment: no shortfall
        w = contract["warrants"]
        equity = w["equity_fraction_max"] * min(1.0, spend / w["full_vest_spend_usd"])
        assert close(c.equity_fraction, equity) and close(
            c.equity_value_usd, equity * w["company_valuation_usd"]
        )

    def test_only_cerebras_serves_the_fast_workloads(self) -> None:
        p = solved(self.NAME)
        for per in p.periods:
            for f in per.fleet:
                if set(f.allocated) & {"agentic-fast", "code-fast"}:
                    assert f.hardware == "cerebras-cs3-hosted"

    def test_demand_grows_as_requested(self) -> None:
        req, p = request_of(self.NAME), solved(self.NAME)
        for w in req["workloads"]:
            base, g = w["demand_tokens_per_s"], w["demand_growth_per_year"]
            for t, per in enumerate(p.periods):
                got = next(x for x in per.workloads if x.id == w["id"])
                # the quarter's average of base·(1+g)^y over y in [t/4, (t+1)/4], and its end rate
                avg = base * ((1 + g) ** ((t + 1) / 4) - (1 + g) ** (t / 4)) / (0.25 * math.log1p(g))
                assert close(got.demand_tokens_per_s, avg)
                assert close(got.demand_peak_tokens_per_s, base * (1 + g) ** ((t + 1) / 4))

    def test_one_more_mw_at_tx1_is_worth_its_shadow_price(self) -> None:
        req, p = request_of(self.NAME), solved(self.NAME)
        assert p.shadow_prices is not None
        price = next(
            x.value for x in p.shadow_prices.power_usd_per_mw if (x.site, x.period) == ("tx-1", "2028-10")
        )
        base = p.objective.value
        assert base is not None
        assert close(base - objective(with_power(req, "tx-1", 11, 1.0)), price)
        assert close(objective(with_power(req, "tx-1", 11, -1.0)) - base, price)


class TestLeadTimeQuestion:
    """The README's answer to "what is a quarter of GB300 lead time worth?" (a sweep)."""

    def test_each_quarter_costs_what_the_readme_says(self) -> None:
        base = request_of("cerebras-750mw.json")
        npv = []
        for lead in range(4):
            req = copy.deepcopy(base)
            hw = next(h for h in req["hardware"] if (h.get("id") or h.get("catalog")) == "nvidia-gb300-nvl72")
            hw["lead_time_periods"] = lead
            p = plan(req)
            check_plan(req, p)
            npv.append(p.summary.npv_cost_usd)
        assert close(npv[1], solved("cerebras-750mw.json").summary.npv_cost_usd)  # the catalog's 1
        section = readme_section("cerebras-750mw.json")
        deltas = [b - a for a, b in zip(npv, npv[1:], strict=False)]
        assert all(d > 0 for d in deltas)
        quoted = [f"${v / 1e9:,.2f}B" for v in npv] + [f"${d / 1e6:,.0f}M" for d in deltas]
        quoted.append(f"${min(deltas) / 3e6:,.0f}M–${max(deltas) / 3e6:,.0f}M")
        for text in quoted:
            assert text in section, text

    def test_a_quarter_costs_less_when_only_a_deposit_is_paid_at_order(self) -> None:
        # 20 % of the GB300 price at the order, 80 % on delivery a quarter later
        base = request_of("cerebras-750mw.json")
        npv = []
        for lead in range(2):
            req = copy.deepcopy(base)
            hw = next(h for h in req["hardware"] if h.get("catalog") == "nvidia-gb300-nvl72")
            hw.update(lead_time_periods=lead, deposit_fraction=0.2)
            p = plan(req)
            check_plan(req, p)
            npv.append(p.summary.npv_cost_usd)
        full = solved("cerebras-750mw.json").summary.npv_cost_usd  # the catalog's quarter, paid at order
        assert npv[0] < npv[1] < full
        section = readme_section("cerebras-750mw.json")
        assert '"deposit_fraction": 0.2' in section
        for text in (f"${(npv[1] - npv[0]) / 1e6:,.0f}M", f"NPV ${npv[1] / 1e9:,.2f}B"):
            assert text in section, text


class TestHostedAssumptions:
    """The README's figures for what the 750 MW example assumes about the hosted site and the deal."""

    BASE = "cerebras-750mw.json"

    @staticmethod
    def billed(req: dict[str, Any], scale_ramp: bool) -> dict[str, Any]:
        # energy billed like tx-1's: Texas $66/MWh (EIA 2023) at PUE 1.2 (the reference's typical
        # modern AI data centre); the ramp scaled by the PUE keeps 750 MW of IT
        out = copy.deepcopy(req)
        site = next(s for s in out["sites"] if s["id"] == "cerebras-hosted")
        tx1 = next(s for s in out["sites"] if s["id"] == "tx-1")
        assert (tx1["pue"], tx1["energy_usd_per_mwh"]) == (1.2, 66)
        site.update(pue=1.2, energy_usd_per_mwh=66)
        if scale_ramp:
            site["power_mw"] = [mw * 1.2 for mw in site["power_mw"]]
        return out

    def test_energy_on_top_of_the_fee_costs_what_the_readme_says(self) -> None:
        base, section = solved(self.BASE), readme_section(self.BASE)
        req = self.billed(request_of(self.BASE), scale_ramp=True)
        p = plan(req)
        check_plan(req, p)
        assert p.status == "optimal"
        for hw, units in base.summary.units_acquired.items():  # the same fleet
            assert close(p.summary.units_acquired[hw], units, 1e-6), hw
        extra = p.summary.npv_cost_usd - base.summary.npv_cost_usd
        assert extra > 0
        cpm = p.summary.cost_per_million_tokens_usd
        assert cpm is not None
        for text in (
            f"NPV\n${p.summary.npv_cost_usd / 1e9:,.2f}B instead of ${base.summary.npv_cost_usd / 1e9:,.2f}B",
            f"energy on top adds ${extra / 1e6:,.0f}M",
            f"${cpm:,.4f} per million tokens instead of",
        ):
            assert " ".join(text.split()) in " ".join(section.split()), text

    def test_read_as_facility_power_there_is_no_plan(self) -> None:
        req = self.billed(request_of(self.BASE), scale_ramp=False)
        p = plan(req)
        assert p.status == "infeasible"
        more = {
            d.period: d.amount
            for d in p.diagnosis
            if d.option == "add_capacity" and d.site == "cerebras-hosted"
        }
        section = " ".join(readme_section(self.BASE).split())
        for period in ("2026-01", "2028-10"):
            assert f"{more[period]:,.1f} MW more" in section and period in section

    def test_the_warrant_range_from_the_reference_figures(self) -> None:
        # S-1 (per SemiAnalysis): a warrant for 33.4M shares at a fair value of $82.02 each; IPO
        # at $185; the example's valuation $39.8B for 10 % at $30B of spend
        p, req = solved(self.BASE), request_of(self.BASE)
        w = req["contracts"][0]["warrants"]
        vested = p.contracts[0].equity_fraction / w["equity_fraction_max"]  # two-thirds: $20B of $30B
        shares, fair, ipo = 33.4e6, 82.02, 185.0
        section = " ".join(readme_section(self.BASE).split())
        for text in (
            f"${w['equity_fraction_max'] * w['company_valuation_usd'] / 1e9:,.2f}B",
            f"${shares * fair / 1e9:,.2f}B for the whole warrant",
            f"${shares * ipo / 1e9:,.2f}B",
            f"${vested * shares * fair / 1e9:,.2f}B–${vested * shares * ipo / 1e9:,.2f}B",
            f"${p.contracts[0].equity_value_usd / 1e9:,.2f}B lies inside",
            f"{w['company_valuation_usd'] / ipo / 1e6:,.0f}M shares, of which 33.4M is "
            f"{shares / (w['company_valuation_usd'] / ipo):.1%}",
        ):
            assert text in section, text
        assert vested * shares * fair < p.contracts[0].equity_value_usd < vested * shares * ipo

    def test_the_hosted_site_fills_its_ramp_only_from_2027_10(self) -> None:
        req, p = request_of(self.BASE), solved(self.BASE)
        ramp = next(s["power_mw"] for s in req["sites"] if s["id"] == "cerebras-hosted")
        used = [next(s.power_used_mw for s in per.sites if s.id == "cerebras-hosted") for per in p.periods]
        full = [close(u, r, 1e-6) for u, r in zip(used, ramp, strict=True)]
        first = full.index(True)
        assert p.periods[first].label == "2027-10" and all(full[first:])
        section = " ".join(readme_section(self.BASE).split())
        assert "the hosted site is full only from 2027-10" in section
        for t in range(first):
            if f"MW of {ramp[t]:g} in {p.periods[t].label}" in section:
                assert f"{used[t]:,.1f} MW of {ramp[t]:g} in {p.periods[t].label}" in section


class TestThroughputSensitivity:
    BASE = "cerebras-750mw.json"

    @pytest.mark.parametrize(("name", "factor"), [("half", 0.5), ("double", 2.0)])
    def test_file_is_the_base_with_scaled_cerebras_throughput(self, name: str, factor: float) -> None:
        got, want = request_of(f"cerebras-750mw-throughput-{name}.json"), request_of(self.BASE)
        perf = catalog_hardware("cerebras-cs3-hosted")["performance"]  # type: ignore[index]
        for curve in perf.values():
            for point in curve["points"]:
                point["tokens_per_s_per_unit"] *= factor
        for item in want["hardware"]:
            if item["catalog"] == "cerebras-cs3-hosted":
                item["performance"] = perf
        got.pop("name"), want.pop("name")
        assert _close_tree(got, want)

    def test_half_throughput_cannot_carry_fast_agentic_demand_on_750_mw(self) -> None:
        p = solved("cerebras-750mw-throughput-half.json")
        assert p.status == "infeasible"
        last = next(d for d in p.diagnosis if d.workload == "agentic-fast" and d.period == "2028-10")
        # independent bound: at half throughput 750 MW of CS-3 serves at most this much fast agentic
        req = request_of("cerebras-750mw-throughput-half.json")
        hosted = next(h for h in req["hardware"] if h["catalog"] == "cerebras-cs3-hosted")
        per_unit = hosted["performance"]["llama-70b"]["points"][0]["tokens_per_s_per_unit"]
        wl = next(w for w in req["workloads"] if w["id"] == "agentic-fast")
        g = wl["demand_growth_per_year"]
        peak = wl["demand_tokens_per_s"] * (1 + g) ** (12 / 4)  # 2028-10's end
        demand = peak * (1 - (1 + g) ** -0.25) / (0.25 * math.log1p(g))  # the quarter's average
        # capacity must hold the peak: the average that can be served is most x average/peak
        most = 750_000 / 23.0 * per_unit / (1 + req["policy"]["reserve_margin"]) * demand / peak
        assert demand > most
        assert last.amount >= demand - most - 1e-6 * demand

    def test_half_throughput_needs_the_fast_tiers_power_at_the_hosted_site(self) -> None:
        req, p = (
            request_of("cerebras-750mw-throughput-half.json"),
            solved("cerebras-750mw-throughput-half.json"),
        )
        hosted = next(h for h in req["hardware"] if h["catalog"] == "cerebras-cs3-hosted")
        kw = catalog_hardware("cerebras-cs3-hosted")["it_power_kw"]  # type: ignore[index]
        mw = 0.0
        for wid, model in (("agentic-fast", "llama-70b"), ("code-fast", "llama-3.1-8b")):
            wl = next(w for w in req["workloads"] if w["id"] == wid)
            # capacity for the peak of 2028-10: the rate at the quarter's end, 3 years in
            demand = wl["demand_tokens_per_s"] * (1 + wl["demand_growth_per_year"]) ** (12 / 4)
            per_unit = hosted["performance"][model]["points"][0]["tokens_per_s_per_unit"]
            mw += demand * (1 + req["policy"]["reserve_margin"]) / per_unit * kw / 1000
        more = next(
            d
            for d in p.diagnosis
            if d.option == "add_capacity" and (d.site, d.period) == ("cerebras-hosted", "2028-10")
        )
        assert close(more.amount, mw - 750.0)

    def test_double_throughput_costs_less_with_fewer_gpus(self) -> None:
        base, double = solved(self.BASE), solved("cerebras-750mw-throughput-double.json")
        assert double.summary.npv_cost_usd < base.summary.npv_cost_usd
        assert (
            double.summary.units_acquired["nvidia-gb300-nvl72"]
            < base.summary.units_acquired["nvidia-gb300-nvl72"]
        )


def _close_tree(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close_tree(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close_tree(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return close(float(a), float(b), 1e-9)
    return bool(a == b)


class TestInfeasiblePower:
    NAME = "infeasible-power.json"

    def test_diagnosis_names_power_at_the_site(self) -> None:
        p = solved(self.NAME)
        assert p.status == "infeasible" and p.diagnosis
        add = [d for d in p.diagnosis if d.option == "add_capacity"]
        assert {(d.limit, d.site, d.unit) for d in add} == {("power", "ga-1", "MW")}

    def test_applying_the_diagnosis_makes_it_feasible_and_less_does_not(self) -> None:
        req, p = request_of(self.NAME), solved(self.NAME)
        labels = [f"{2026 + t // 4}-{3 * (t % 4) + 1:02d}" for t in range(req["horizon"]["periods"])]
        assert req["horizon"] == {"start": "2026-01", "periods": len(labels), "period_months": 3}
        fixed, short = copy.deepcopy(req), copy.deepcopy(req)
        for d in p.diagnosis:
            if d.option != "add_capacity":
                continue  # the other way out (serve less) is not what this example applies
            assert d.period is not None
            t = labels.index(d.period)
            fixed = with_power(fixed, "ga-1", t, d.amount * (1 + 1e-6))
            short = with_power(short, "ga-1", t, d.amount * 0.99)
        assert plan(fixed).status == "optimal"
        assert plan(short).status == "infeasible"

    def test_serving_what_the_diagnosis_says_makes_it_feasible(self) -> None:
        req, p = request_of(self.NAME), solved(self.NAME)
        cut = [d for d in p.diagnosis if d.option == "reduce_service"]
        assert cut and all(d.limit == "min_service" for d in cut)
        n = req["horizon"]["periods"]
        labels = [f"{2026 + t // 4}-{3 * (t % 4) + 1:02d}" for t in range(n)]
        less = copy.deepcopy(req)
        for w in less["workloads"]:  # demand as explicit per-period lists, growth applied
            g = w.pop("demand_growth_per_year")
            w["demand_tokens_per_s"] = [w["demand_tokens_per_s"] * (1 + g) ** (t / 4) for t in range(n)]
        for d in cut:
            w = next(x for x in less["workloads"] if x["id"] == d.workload)
            assert d.period is not None
            w["demand_tokens_per_s"][labels.index(d.period)] -= d.amount * (1 + 1e-6)
        assert plan(less).status == "optimal"


class TestBrownfieldH100:
    NAME = "brownfield-h100.json"

    def test_existing_h100s_retire_on_schedule(self) -> None:
        p = solved(self.NAME)
        h100 = [sum(f.existing for f in per.fleet if f.hardware == "nvidia-h100-8x") for per in p.periods]
        # 2,000 units with 1 year left (4 quarters) and 2,000 with 2 years (8 quarters)
        assert h100 == [4000.0] * 4 + [2000.0] * 4 + [0.0] * 4

    def test_the_h100s_need_not_be_offered(self) -> None:
        # the plan buys no H100: without the item in hardware[] the fleet joins from the catalog
        # existing-only, and the plan is the same, with 11 purchase columns fewer (12 quarters,
        # one of lead time)
        req, p = request_of(self.NAME), solved(self.NAME)
        assert "nvidia-h100-8x" not in p.summary.units_acquired
        req["hardware"] = [h for h in req["hardware"] if h["catalog"] != "nvidia-h100-8x"]
        q = plan(req)
        check_plan(req, q)
        assert close(q.summary.npv_cost_usd, p.summary.npv_cost_usd)
        assert q.summary.units_acquired.keys() == p.summary.units_acquired.keys()
        for a, b in zip(p.periods, q.periods, strict=True):
            mine = {f.hardware: (f.existing, f.installed) for f in a.fleet}
            theirs = {f.hardware: (f.existing, f.installed) for f in b.fleet}  # (H100 last: joined last)
            assert mine.keys() == theirs.keys(), a.label
            assert all(mine[k][0] == theirs[k][0] and close(mine[k][1], theirs[k][1]) for k in mine), a.label
        assert q.solver.variables == p.solver.variables - 11

    def test_one_more_mw_is_worth_its_shadow_price(self) -> None:
        req, p = request_of(self.NAME), solved(self.NAME)
        assert p.shadow_prices is not None and p.objective.value is not None
        price = next(x.value for x in p.shadow_prices.power_usd_per_mw if x.period == "2028-10")
        assert price > 0
        assert close(p.objective.value - objective(with_power(req, "va-1", 11, 0.1)), 0.1 * price)


class TestSiteAssumptions:
    """The README's site figures against the reference's ranges, re-solved."""

    @staticmethod
    def npv_with(name: str, site: str, **changes: Any) -> Plan:
        req = request_of(name)
        s = next(x for x in req["sites"] if x["id"] == site)
        for key, value in changes.items():
            if key in ("usd_per_mw", "lead_time_periods"):
                s["expansion"][key] = value
            else:
                s[key] = value
        p = plan(req)
        check_plan(req, p)
        return p

    def test_tx1_at_the_ai_build_cost(self) -> None:
        base = solved("cerebras-750mw.json").summary.npv_cost_usd
        p = self.npv_with("cerebras-750mw.json", "tx-1", usd_per_mw=20e6)
        assert p.status == "optimal"
        more = p.summary.npv_cost_usd - base
        assert f"at $20M/MW this plan costs ${more / 1e6:,.0f}M more" in " ".join(
            readme_section("cerebras-750mw.json").split()
        )

    def test_brownfield_needs_its_optimistic_pue(self) -> None:
        req = request_of(TestBrownfieldH100.NAME)
        site = req["sites"][0]
        kw = catalog_hardware("nvidia-h100-8x")["it_power_kw"]  # type: ignore[index]
        units = sum(e["units"] for e in site["existing"])
        it_mw = units * kw / 1000
        section = " ".join(readme_section(TestBrownfieldH100.NAME).split())
        assert (
            f"draw {it_mw:,.1f} MW at their {kw:g} kW maximum, {it_mw * site['pue']:,.1f} MW at PUE"
            in section
        )
        assert self.npv_with(TestBrownfieldH100.NAME, "va-1", pue=1.31).status == "infeasible"
        p = self.npv_with(TestBrownfieldH100.NAME, "va-1", pue=1.4)
        assert p.status == "infeasible"
        first = next(d for d in p.diagnosis if d.option == "add_capacity" and d.period == "2026-01")
        assert close(first.amount, it_mw * 1.4 - site["power_mw"])  # the H100s alone
        assert f"would need {it_mw * 1.4:,.1f} MW: the diagnosis asks for {first.amount:,.2f} MW" in section

    def test_brownfield_at_longer_build_times_and_the_ai_build_cost(self) -> None:
        base = solved(TestBrownfieldH100.NAME).summary.npv_cost_usd
        section = " ".join(readme_section(TestBrownfieldH100.NAME).split())
        slow = self.npv_with(TestBrownfieldH100.NAME, "va-1", lead_time_periods=6).summary.npv_cost_usd
        dear = self.npv_with(TestBrownfieldH100.NAME, "va-1", usd_per_mw=20e6).summary.npv_cost_usd
        assert f"at 6 quarters the plan costs ${(slow - base) / 1e6:,.1f}M more" in section
        assert f"at $20M/MW the plan costs ${(dear - base) / 1e6:,.1f}M more" in section


class TestSmallInteger:
    NAME = "small-integer.json"

    def test_whole_units_and_whole_replicas(self) -> None:
        p = solved(self.NAME)
        for per in p.periods:
            for f in per.fleet:
                assert f.acquired == round(f.acquired)
                if f.hardware == "cerebras-cs3":
                    assert all(a % 4 == 0 for a in f.allocated.values()), "70B replicas are 4 CS-3"

    def test_costs_at_least_its_linear_relaxation(self) -> None:
        req, p = request_of(self.NAME), solved(self.NAME)
        relaxed = copy.deepcopy(req)
        relaxed["solver"]["integer"] = False
        assert p.objective.value is not None
        assert objective(relaxed) <= p.objective.value * (1 + 1e-9)


class TestDesignExample:
    """DESIGN.md's example request, whose 400 existing H100s are not in its hardware[]."""

    NAME = "design-example.json"

    def test_the_h100s_join_from_the_catalog_existing_only(self) -> None:
        req = parse_request(request_of(self.NAME))
        assert [(h.id, h.existing_only) for h in req.hardware] == [
            ("nvidia-gb200-nvl72", False),
            ("cerebras-cs3", False),
            ("nvidia-h100-8x", True),
        ]
        p = solved(self.NAME)
        assert [w for w in p.warnings if "nvidia-h100-8x" in w] == [
            "hardware 'nvidia-h100-8x' is existing-only, with the default catalog's figures: the "
            "existing units at site 'tx-1' serve, draw power and cost opex until they retire, and "
            "none are bought (to offer it for purchase, give it in hardware[] without existing_only)"
        ]

    def test_the_first_quarter_diagnosis_by_hand(self) -> None:
        # Only the 400 H100s stand in 2026-01 (CS-3: one quarter of lead time, GB200: two).
        req, p = request_of(self.NAME), solved(self.NAME)
        h100 = catalog_hardware("nvidia-h100-8x")
        assert h100 is not None
        units = req["sites"][0]["existing"][0]["units"]
        cap = req["policy"]["max_vendor_share"]["nvidia"]
        # chat at 50 tokens/s per user: between the curve's points at 5 and 52.9
        pts = h100["performance"]["llama-70b"]["points"]
        (x0, y0), (x1, y1) = ((q["tokens_per_s_per_user"], q["tokens_per_s_per_unit"]) for q in pts[1:3])
        assert x0 <= 50 <= x1
        per_unit = y0 + (50 - x0) / (x1 - x0) * (y1 - y0)
        wl = req["workloads"][0]
        g, base = wl["demand_growth_per_year"], wl["demand_tokens_per_s"]
        avg = base * ((1 + g) ** 0.25 - 1) / (0.25 * math.log1p(g))  # the quarter's average
        peak = base * (1 + g) ** 0.25  # its end
        most = units * per_unit / (1 + req["policy"]["reserve_margin"]) * avg / peak
        assert [(d.option, d.limit, d.vendor or d.workload, d.period) for d in p.diagnosis] == [
            ("relax_all", "vendor_share", "nvidia", "2026-01"),
            ("relax_all", "min_service", "chat", "2026-01"),
        ]
        share, short = p.diagnosis
        assert close(share.amount, units * h100["it_power_kw"] * (1 - cap))
        assert close(short.amount, avg - most)


class TestMaxServedBudget:
    NAME = "max-served-budget.json"

    def test_spends_the_whole_budget(self) -> None:
        req, p = request_of(self.NAME), solved(self.NAME)
        assert close(sum(per.capex_usd for per in p.periods), req["budget"]["capex_usd"])
        assert p.summary.served_fraction < 1

    def test_one_more_million_dollars_is_worth_its_shadow_price(self) -> None:
        req, p = request_of(self.NAME), solved(self.NAME)
        assert p.shadow_prices is not None and p.shadow_prices.budget_per_usd is not None
        more = copy.deepcopy(req)
        more["budget"]["capex_usd"] += 1e6
        assert p.objective.value is not None
        gain = objective(more) - p.objective.value
        assert close(gain, 1e6 * p.shadow_prices.budget_per_usd, 1e-5)


class TestClient:
    """examples/client.py against a stand-in of the service API (httpx.MockTransport)."""

    @staticmethod
    def load() -> Any:
        import importlib.util

        spec = importlib.util.spec_from_file_location("capplan_example_client", EXAMPLES / "client.py")
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    def test_sync_post_prints_the_headline(self, capsys: pytest.CaptureFixture[str]) -> None:
        body = solved("small-integer.json").model_dump(mode="json")
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(201, json=body)

        client = httpx.Client(base_url="http://capplan.test", transport=httpx.MockTransport(handler))
        code = self.load().main([str(EXAMPLES / "small-integer.json")], client=client)
        assert code == 0
        assert seen[0].method == "POST" and seen[0].url.path == "/v1/plans"
        assert json.loads(seen[0].content) == request_of("small-integer.json")
        out = capsys.readouterr().out
        assert "status: optimal" in out and f"${body['summary']['npv_cost_usd']:,.0f}" in out

    def test_async_post_polls_the_location(self, capsys: pytest.CaptureFixture[str]) -> None:
        body = solved("infeasible-power.json").model_dump(mode="json")
        polls = iter([{"id": "p1", "status": "queued"}, {"id": "p1", "status": "running"}, body])

        def handler(request: httpx.Request) -> httpx.Response:
            if request.method == "POST":
                assert request.headers["Prefer"] == "respond-async"
                return httpx.Response(202, headers={"Location": "/v1/plans/p1"}, json={"id": "p1"})
            assert request.url.path == "/v1/plans/p1"
            return httpx.Response(200, json=next(polls))

        client = httpx.Client(base_url="http://capplan.test", transport=httpx.MockTransport(handler))
        mod = self.load()
        p = mod.submit(client, request_of("infeasible-power.json"), wait_async=True, poll_s=0.0)
        assert p["status"] == "infeasible"
        assert "needs" in mod.headline(p) and "ga-1" in mod.headline(p)

    def test_a_rejected_request_exits_2_naming_the_field(self, capsys: pytest.CaptureFixture[str]) -> None:
        problem = {
            "title": "invalid request",
            "status": 422,
            "errors": [{"path": "/sites/0/power_mw", "message": "must be >= 0"}],
        }

        def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(422, json=problem, headers={"Content-Type": "application/problem+json"})

        client = httpx.Client(base_url="http://capplan.test", transport=httpx.MockTransport(handler))
        code = self.load().main([str(EXAMPLES / "small-integer.json")], client=client)
        assert code == 2
        assert "/sites/0/power_mw" in capsys.readouterr().err

    def test_against_the_real_service(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        from tests.helpers.service import app_client

        mod = self.load()
        with app_client(tmp_path, workers=1) as client:
            assert mod.main([str(EXAMPLES / "small-integer.json")], client=client) == 0
            npv = EXPECTED["small-integer.json"]["quotes"]["npv"]["value"]
            assert f"NPV cost ${npv:,.0f}" in capsys.readouterr().out
            # the same request again: the service answers 200 with the stored plan
            assert mod.main([str(EXAMPLES / "small-integer.json")], client=client) == 0
            assert f"NPV cost ${npv:,.0f}" in capsys.readouterr().out
            queued = mod.submit(client, request_of("infeasible-power.json"), wait_async=True, poll_s=0.1)
            assert queued["status"] == "infeasible"
            local = solved("infeasible-power.json").model_dump(mode="json")["diagnosis"]
            assert [d["message"] for d in queued["diagnosis"]] == [d["message"] for d in local]
