"""The default hardware catalog: complete, sourced, estimates marked, figures traceable.

Spot figures are checked against the MLPerf results and vendor numbers they come from; the
Cerebras throughput estimate is recomputed from its stated derivation; docs/catalog.md must
show every entry, point, estimate and source.
"""

from __future__ import annotations

import io
import json
import math
import re
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from service.cli.main import main as cli_main
from solver import RequestInvalid, parse_request, plan
from solver.catalog import HARDWARE_FIELDS, catalog_hardware, load_catalog
from solver.curves import throughput
from solver.model import prepare
from solver.schema import Hardware, Workload
from tests.helpers.recompute import check_plan

DOCS = (Path(__file__).resolve().parents[2] / "docs" / "catalog.md").read_text(encoding="utf-8")
ENTRIES = {e["id"]: e for e in load_catalog()}
IDS = sorted(ENTRIES)
REQUIRED = {
    "cerebras-cs3",
    "cerebras-cs3-hosted",
    "nvidia-h100-8x",
    "nvidia-h200-8x",
    "nvidia-b200-8x",
    "nvidia-b300-8x",
    "nvidia-gb200-nvl72",
    "nvidia-gb300-nvl72",
    "amd-mi300x-8x",
    "amd-mi325x-8x",
    "amd-mi355x-8x",
}
MODELS = {"llama-3.1-8b", "llama-70b", "llama-3.1-405b", "deepseek-r1"}
# per-user floors: 1000 / TPOT limit (ms) of MLPerf LoadGen's mlperf.conf, rounded down to 0.1
TPOT_MS = {
    "llama-70b": (200, 40),
    "llama-3.1-8b": (100, 30),
    "llama-3.1-405b": (175, 80),
    "deepseek-r1": (80, 15),
}


# kinds of power figure an entry's power_figures_kw may give; it_power_kw is the unit's maximum:
# the rack's "power_shelf_capacity", else the "quoted" (datasheet maximum or rating) one
POWER_KINDS = {"quoted", "typical", "power_shelf_capacity", "measured_mlperf", "gpu_power_sum"}
KW = re.compile(r"(\d+(?:\.\d+)?)(?:\s*-\s*(\d+(?:\.\d+)?))?\s*kW")


def power_note(e: dict[str, Any]) -> str:
    """The entry's prose about its IT power: the power note and/or the estimate note."""
    return " ".join(t for t in (e.get("notes", {}).get("power"), e["estimates"].get("it_power_kw")) if t)


def floors(model: str) -> set[float]:
    return {math.floor(10_000 / ms) / 10 for ms in TPOT_MS[model]}


def pointer(entry: dict[str, Any], path: str) -> Any:
    node: Any = entry
    for seg in path.split("/"):
        node = node[int(seg)] if isinstance(node, list) else node[seg]
    return node


def wl(model: str, speed: float) -> Workload:
    return Workload(id="w", model=model, min_tokens_per_s_per_user=speed, demand_tokens_per_s=1.0)


class TestEntries:
    def test_every_required_system_is_there(self) -> None:
        assert REQUIRED <= set(ENTRIES)
        assert len(IDS) == len(load_catalog()), "ids are unique"

    @pytest.mark.parametrize("eid", IDS)
    def test_request_fields_validate_as_hardware(self, eid: str) -> None:
        fields = catalog_hardware(eid)
        assert fields is not None and set(fields) <= HARDWARE_FIELDS
        hw = Hardware.model_validate(fields)  # includes strictly increasing speeds
        assert hw.vendor in {"cerebras", "nvidia", "amd"} and hw.vendor == hw.vendor.lower()
        assert hw.kind == ("wafer-scale" if hw.vendor == "cerebras" else "gpu")
        assert hw.it_power_kw > 0 and hw.lifetime_years > 0 and hw.performance
        assert hw.unit_price_usd > 0 or hw.recurring_usd_per_unit_hour > 0

    @pytest.mark.parametrize("eid", IDS)
    def test_sources_and_point_notes(self, eid: str) -> None:
        e = ENTRIES[eid]
        assert e["sources"] and all(isinstance(s, str) and s.strip() for s in e["sources"])
        assert e["unit_description"] and e["description"]
        for model, perf in e["performance"].items():
            assert model in MODELS
            assert len(e["point_notes"][model]) == len(perf["points"]), f"{eid} {model}: one note per point"

    @pytest.mark.parametrize("eid", IDS)
    def test_every_estimate_names_an_existing_figure_and_says_how(self, eid: str) -> None:
        e = ENTRIES[eid]
        assert e["estimates"], f"{eid}: no figure marked as an estimate"
        for path, how in e["estimates"].items():
            pointer(e, path)  # raises if the path names nothing
            assert isinstance(how, str) and len(how) > 30, f"{eid} {path}: say how it was derived"

    def test_figures_behind_the_estimates_are_in_sources(self) -> None:
        # each figure an estimate is built from is cited where it is used (reference section 1)
        epoch = "https://epoch.ai/data/ai-chip-sales-documentation"  # the 1.38 server premium (E4, E7)
        dgx_h100 = (
            "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/nvidia-dgx-h100-datasheet.pdf"
        )
        for e in ENTRIES.values():
            if "1.38" in e["estimates"].get("unit_price_usd", ""):
                assert epoch in e["sources"], e["id"]
            if "4.5 kW" in e["estimates"].get("it_power_kw", ""):
                assert dgx_h100 in e["sources"], e["id"]  # the host overhead of DGX H100
        assert {
            "https://yobitel.com/knowledge-base/amd-mi325x",
            "https://awesomeagents.ai/hardware/amd-mi325x",
        } <= set(ENTRIES["amd-mi325x-8x"]["sources"])  # MI325X ~1,000 W
        assert any("DGX H200" in s and "1827004414" in s for s in ENTRIES["nvidia-h200-8x"]["sources"])
        assert (
            "https://vengineer.hatenablog.com/entry/2025/03/16/080000" in ENTRIES["amd-mi355x-8x"]["sources"]
        )

    def test_every_model_is_published_somewhere_with_units_per_replica(self) -> None:
        seen = {m for e in ENTRIES.values() for m in e["performance"]}
        assert seen == MODELS
        for e in ENTRIES.values():
            for perf in e["performance"].values():
                assert perf["units_per_replica"] > 0

    def test_catalog_hardware_is_a_fresh_copy_without_documentation_fields(self) -> None:
        a = catalog_hardware("nvidia-b200-8x")
        assert a is not None
        assert "estimates" not in a and "point_notes" not in a and "memory_gb" not in a
        a["performance"]["llama-70b"]["points"][0]["tokens_per_s_per_unit"] = -1
        b = catalog_hardware("nvidia-b200-8x")
        assert b is not None and b["performance"]["llama-70b"]["points"][0]["tokens_per_s_per_unit"] > 0
        assert catalog_hardware("no-such-system") is None


class TestRequestsFromTheCatalog:
    BASE: dict[str, Any] = {
        "horizon": {"periods": 1},
        "sites": [{"id": "s", "power_mw": 10}],
        "workloads": [
            {"id": "w", "model": "llama-70b", "min_tokens_per_s_per_user": 25, "demand_tokens_per_s": 1}
        ],
    }

    def test_overrides_replace_fields_and_keep_the_rest(self) -> None:
        req = parse_request({**self.BASE, "hardware": [{"catalog": "cerebras-cs3", "unit_price_usd": 2.2e6}]})
        hw = req.hardware[0]
        assert hw.unit_price_usd == 2.2e6
        assert hw.it_power_kw == ENTRIES["cerebras-cs3"]["it_power_kw"]
        assert hw.performance["llama-70b"].units_per_replica == 4

    def test_deposit_fraction_is_an_override_the_entries_do_not_set(self) -> None:
        assert not any("deposit_fraction" in e for e in load_catalog())
        req = parse_request({**self.BASE, "hardware": [{"catalog": "cerebras-cs3"}]})
        assert req.hardware[0].deposit_fraction == 1.0
        req = parse_request({**self.BASE, "hardware": [{"catalog": "cerebras-cs3", "deposit_fraction": 0.2}]})
        assert req.hardware[0].deposit_fraction == 0.2
        assert req.hardware[0].lead_time_months == ENTRIES["cerebras-cs3"]["lead_time_months"]
        with pytest.raises(RequestInvalid) as err:
            parse_request({**self.BASE, "hardware": [{"catalog": "cerebras-cs3", "deposit_fraction": 1.5}]})
        assert [e.path for e in err.value.errors] == ["/hardware/0/deposit_fraction"]

    def test_unknown_entry_is_an_error_naming_the_item(self) -> None:
        with pytest.raises(RequestInvalid) as err:
            parse_request({**self.BASE, "hardware": [{"catalog": "cerebras-cs9"}]})
        assert err.value.errors[0].path == "/hardware/0/catalog"
        assert "cerebras-cs9" in err.value.errors[0].message


class TestExistingFleetFromTheCatalog:
    """A site's existing fleet may name a catalog id that hardware[] does not list: the entry
    joins hardware[] as existing-only (its purchase terms left out), so that a fleet already
    installed need not be offered for purchase to be described."""

    GPU = {
        "id": "g",
        "vendor": "v",
        "unit_price_usd": 100,
        "it_power_kw": 1,
        "performance": {
            "llama-70b": {"points": [{"tokens_per_s_per_user": 5, "tokens_per_s_per_unit": 1000}]}
        },
    }

    def raw(self, *existing: list[dict[str, Any]], **top: Any) -> dict[str, Any]:
        sites = [{"id": f"s{i}", "power_mw": 10, "existing": e} for i, e in enumerate(existing)]
        return {**TestRequestsFromTheCatalog.BASE, "sites": sites, "hardware": [self.GPU], **top}

    def test_the_entry_joins_existing_only_without_its_purchase_terms(self) -> None:
        req = parse_request(self.raw([{"hardware": "nvidia-h100-8x", "units": 400}]))
        assert [h.id for h in req.hardware] == ["g", "nvidia-h100-8x"]
        h100 = req.hardware[1]
        entry = ENTRIES["nvidia-h100-8x"]
        assert h100.existing_only and not req.hardware[0].existing_only
        for name in ("vendor", "kind", "unit_price_usd", "maintenance_fraction_per_year", "it_power_kw"):
            assert getattr(h100, name) == entry[name], name
        assert h100.lifetime_years == entry["lifetime_years"] and h100.sources == entry["sources"]
        assert h100.performance == Hardware.model_validate(catalog_hardware("nvidia-h100-8x")).performance
        # the entry's 3-month lead time is a purchase term: left out, so no warning names it
        assert entry["lead_time_months"] == 3
        assert (h100.lead_time_periods, h100.lead_time_months, h100.max_units_per_period) == (
            None,
            None,
            None,
        )

    def test_joined_once_in_the_order_first_named(self) -> None:
        req = parse_request(
            self.raw(
                [{"hardware": "amd-mi300x-8x", "units": 1}, {"hardware": "nvidia-h100-8x", "units": 2}],
                [{"hardware": "nvidia-h100-8x", "units": 3}, {"hardware": "g", "units": 4}],
            )
        )
        assert [(h.id, h.existing_only) for h in req.hardware] == [
            ("g", False),
            ("amd-mi300x-8x", True),
            ("nvidia-h100-8x", True),
        ]

    def test_an_id_listed_in_hardware_is_that_item_and_can_be_bought(self) -> None:
        listed = {"catalog": "nvidia-h100-8x", "unit_price_usd": 1.0}
        req = parse_request(
            {**self.raw([{"hardware": "nvidia-h100-8x", "units": 4}]), "hardware": [self.GPU, listed]}
        )
        assert [(h.id, h.existing_only, h.unit_price_usd) for h in req.hardware] == [
            ("g", False, 100.0),
            ("nvidia-h100-8x", False, 1.0),
        ]
        assert req.hardware[1].lead_time_months == 3  # a purchasable item keeps its lead time

    def test_a_parsed_request_round_trips(self) -> None:
        # the service and sweeps store the parsed request and parse it again
        once = parse_request(self.raw([{"hardware": "nvidia-h100-8x", "units": 400}]))
        dumped = once.model_dump(mode="json")
        assert dumped["hardware"][1]["existing_only"] is True
        twice = parse_request(dumped)
        assert twice == once
        assert prepare(twice).warnings == prepare(once).warnings

    def test_allowed_hardware_may_name_it(self) -> None:
        raw = self.raw([{"hardware": "nvidia-h100-8x", "units": 4}])
        raw["sites"].append({"id": "t", "power_mw": 1, "allowed_hardware": ["nvidia-h100-8x"]})
        assert parse_request(raw).sites[1].allowed_hardware == ["nvidia-h100-8x"]

    def test_an_id_in_neither_is_a_422_naming_the_entry(self) -> None:
        with pytest.raises(RequestInvalid) as err:
            parse_request(
                self.raw(
                    [{"hardware": "nvidia-h100-8x", "units": 4}, {"hardware": "nvidia-h1OO", "units": 4}]
                )
            )
        [e] = err.value.errors
        assert e.path == "/sites/0/existing/1/hardware"
        assert e.message == "unknown hardware 'nvidia-h1OO': not in hardware[] nor in the default catalog"
        # allowed_hardware alone does not bring a catalog entry in
        raw = self.raw([])
        raw["sites"][0]["allowed_hardware"] = ["nvidia-h100-8x"]
        with pytest.raises(RequestInvalid) as err:
            parse_request(raw)
        assert [e.path for e in err.value.errors] == ["/sites/0/allowed_hardware/0"]

    def test_a_catalog_reference_may_say_existing_only_itself(self) -> None:
        # the same item as the one joined: the plan says where its figures come from
        given = parse_request(
            {
                **self.raw([{"hardware": "nvidia-h100-8x", "units": 4}]),
                "hardware": [self.GPU, {"catalog": "nvidia-h100-8x", "existing_only": True}],
            }
        )
        joined = parse_request(self.raw([{"hardware": "nvidia-h100-8x", "units": 4}]))
        assert given == joined


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class TestPerformanceOverridesPerModel:
    """A catalog item's ``performance`` merges model by model: a model given replaces that
    model's curve, the entry's other models stay, null removes one."""

    GB300 = "nvidia-gb300-nvl72"

    @staticmethod
    def gb300(req: Any) -> Hardware:
        return next(h for h in req.hardware if h.id == TestPerformanceOverridesPerModel.GB300)

    def test_restating_one_curve_unchanged_gives_the_plan_of_the_bare_reference(self) -> None:
        body = json.loads((EXAMPLES / "cerebras-750mw.json").read_text(encoding="utf-8"))
        stated = json.loads(json.dumps(body))
        item = next(h for h in stated["hardware"] if h.get("catalog") == self.GB300)
        item["performance"] = {"llama-70b": ENTRIES[self.GB300]["performance"]["llama-70b"]}
        assert self.gb300(parse_request(stated)).performance == self.gb300(parse_request(body)).performance
        a, b = plan(body), plan(stated)
        assert a.status == b.status == "optimal"
        assert b.summary.npv_cost_usd == pytest.approx(a.summary.npv_cost_usd, rel=1e-9)
        assert b.summary.units_acquired == pytest.approx(a.summary.units_acquired, rel=1e-9)
        assert self.GB300 in b.summary.units_acquired  # it still serves deepseek-r1 and llama-3.1-405b

    def test_a_changed_curve_changes_only_that_model(self) -> None:
        # one yearly period, no residual value; at 1 token/s per user: the given llama-70b curve
        # serves 1e5 tokens/s per rack, the catalog's deepseek-r1 curve 647,076 (its Offline point)
        curve = {"points": [{"tokens_per_s_per_user": 1, "tokens_per_s_per_unit": 1e5}]}
        body = {
            "horizon": {"periods": 1, "period_months": 12},
            "economics": {"residual_value": False},
            "sites": [{"id": "s", "power_mw": 100}],
            "hardware": [{"catalog": self.GB300, "performance": {"llama-70b": curve}}],
            "workloads": [
                {"id": "a", "model": "llama-70b", "min_tokens_per_s_per_user": 1, "demand_tokens_per_s": 1e6},
                {
                    "id": "b",
                    "model": "deepseek-r1",
                    "min_tokens_per_s_per_user": 1,
                    "demand_tokens_per_s": 5 * 647076,
                },
            ],
        }
        req = parse_request(body)
        hw = self.gb300(req)
        entry = ENTRIES[self.GB300]["performance"]
        assert hw.performance["llama-70b"].model_dump() == {"units_per_replica": 1.0, **curve}
        assert sorted(hw.performance) == sorted(entry)
        for model in ("deepseek-r1", "llama-3.1-405b"):
            assert hw.performance[model].model_dump() == entry[model]
        p = plan(req)
        assert p.status == "optimal"
        # 1e6 / 1e5 = 10 racks for llama-70b, 5 for deepseek-r1
        assert p.summary.units_acquired == pytest.approx({self.GB300: 15.0}, rel=1e-9)

    def test_null_removes_a_model_and_a_model_the_entry_lacks_is_named(self) -> None:
        item: dict[str, Any] = {"catalog": self.GB300, "performance": {"deepseek-r1": None}}
        base = TestRequestsFromTheCatalog.BASE
        hw = parse_request({**base, "hardware": [item]}).hardware[0]
        assert sorted(hw.performance) == ["llama-3.1-405b", "llama-70b"]
        item["performance"] = {"deepseek-r2": None}
        with pytest.raises(RequestInvalid) as err:
            parse_request({**base, "hardware": [item]})
        (e,) = err.value.errors
        assert e.path == "/hardware/0/performance/deepseek-r2"
        assert "'nvidia-gb300-nvl72' has no 'deepseek-r2'" in e.message


OWN: dict[str, Any] = {  # an item of the request's own, without catalog
    "id": "x",
    "vendor": "v",
    "it_power_kw": 1,
    "performance": {"llama-70b": {"points": [{"tokens_per_s_per_user": 25, "tokens_per_s_per_unit": 10}]}},
}


class TestLeadTimesInMonths:
    """A catalog entry's lead time is in months and means the same time whatever the period
    length: the plan converts it to the nearest whole number of its periods (a tie rounds up)."""

    @staticmethod
    def lead(item: dict[str, Any], period_months: int, periods: int = 4) -> int:
        req = parse_request(
            {
                **TestRequestsFromTheCatalog.BASE,
                "horizon": {"periods": periods, "period_months": period_months},
                "hardware": [item],
            }
        )
        return prepare(req).lead[0]

    def test_every_bought_entry_states_three_months_and_the_hosted_one_none(self) -> None:
        for eid, e in ENTRIES.items():
            assert "lead_time_periods" not in e
            assert e["lead_time_months"] == (0 if eid == "cerebras-cs3-hosted" else 3), eid

    @pytest.mark.parametrize(("period_months", "periods"), [(1, 3), (3, 1), (6, 1), (12, 0)])
    def test_three_months_in_each_period_length(self, period_months: int, periods: int) -> None:
        # 3 months: 3 months, 1 quarter, half a half-year (a tie: up, 1), a quarter of a year (0)
        assert self.lead({"catalog": "nvidia-b300-8x"}, period_months) == periods
        assert self.lead({"catalog": "cerebras-cs3-hosted"}, period_months) == 0

    @pytest.mark.parametrize(
        ("months", "period_months", "periods"),
        [(5, 3, 2), (4.4, 3, 1), (4.5, 3, 2), (5, 12, 0), (6, 12, 1), (18, 12, 2), (5, 1, 5), (0, 3, 0)],
    )
    def test_a_request_may_give_months_on_any_item(
        self, months: float, period_months: int, periods: int
    ) -> None:
        assert self.lead({"catalog": "nvidia-b300-8x", "lead_time_months": months}, period_months) == periods
        own = {**OWN, "lead_time_months": months}
        assert self.lead(own, period_months) == periods

    def test_lead_time_periods_overrides_the_entry_and_stays_in_periods(self) -> None:
        for pm in (1, 3, 12):
            assert self.lead({"catalog": "nvidia-b300-8x", "lead_time_periods": 2}, pm) == 2
            assert self.lead({"catalog": "nvidia-b300-8x", "lead_time_periods": 0}, pm) == 0
        req = parse_request(
            {
                **TestRequestsFromTheCatalog.BASE,
                "hardware": [{"catalog": "nvidia-b300-8x", "lead_time_periods": 2}],
            }
        )
        assert (req.hardware[0].lead_time_periods, req.hardware[0].lead_time_months) == (2, None)

    def test_items_without_catalog_keep_lead_time_periods(self) -> None:
        own = OWN
        assert self.lead(own, 12) == 0
        assert self.lead({**own, "lead_time_periods": 1}, 12) == 1
        assert self.lead({**own, "lead_time_periods": 1}, 1) == 1

    def test_both_units_on_one_item_is_a_422_naming_the_field(self) -> None:
        with pytest.raises(RequestInvalid) as err:
            parse_request(
                {
                    **TestRequestsFromTheCatalog.BASE,
                    "hardware": [{**OWN, "lead_time_periods": 1, "lead_time_months": 3}],
                }
            )
        [e] = err.value.errors
        assert e.path == "/hardware/0/lead_time_months" and "not both" in e.message

    def test_a_parsed_request_round_trips(self) -> None:
        # the service and sweeps parse, dump and parse again: the months stay months
        raw = {
            **TestRequestsFromTheCatalog.BASE,
            "horizon": {"periods": 2, "period_months": 12},
            "hardware": [{"catalog": "nvidia-b300-8x"}],
        }
        once = parse_request(raw)
        twice = parse_request(once.model_dump(mode="json"))
        assert (twice.hardware[0].lead_time_periods, twice.hardware[0].lead_time_months) == (None, 3)
        assert prepare(twice).lead == prepare(once).lead == [0]

    def test_an_annual_plan_buys_in_its_first_year(self) -> None:
        # The audit's case, hand-sized: a catalog server (price, power, curve and maintenance
        # overridden; its 3-month lead time kept) must serve 100,000 tokens/s from 2026.  As
        # one period of a year the lead time was a whole year: infeasible, and the diagnosis
        # only said "serve less".  Now 0 years: 100 units at $100, residual 1 - 2/5 = 0.6
        # of the price after two years: $4,000, with a warning that the lead time was rounded.
        item = {
            "catalog": "nvidia-h100-8x",
            "id": "h",
            "vendor": "v",
            "unit_price_usd": 100,
            "it_power_kw": 1,
            "maintenance_fraction_per_year": 0,
            "performance": {"m": {"points": [{"tokens_per_s_per_user": 10, "tokens_per_s_per_unit": 1000}]}},
        }
        req = {
            "horizon": {"start": "2026-01", "periods": 2, "period_months": 12},
            "sites": [{"id": "s", "power_mw": 100}],
            "hardware": [item],
            "workloads": [
                {"id": "w", "model": "m", "min_tokens_per_s_per_user": 10, "demand_tokens_per_s": 1e5}
            ],
        }
        p = plan(req)
        check_plan(req, p)
        assert p.status == "optimal"
        assert p.objective.value == pytest.approx(4000, rel=1e-7)
        assert p.periods[0].fleet[0].installed == pytest.approx(100, rel=1e-7)
        assert "hardware 'h': lead time 3 months counted as 0 periods of 12 months" in " ".join(p.warnings)
        # the same item in a monthly plan waits 3 months: bought in 2026-01, serving from 2026-04
        monthly = dict(req, horizon={"start": "2026-01", "periods": 6, "period_months": 1})
        monthly["workloads"] = [dict(req["workloads"][0], demand_tokens_per_s=[0, 0, 0, 1e5, 1e5, 1e5])]
        pm = plan(monthly)
        check_plan(monthly, pm)
        assert [round(sum(r.installed for r in per.fleet)) for per in pm.periods] == [0, 0, 0, 100, 100, 100]
        assert pm.periods[0].fleet[0].acquired == pytest.approx(100, rel=1e-7)
        assert not any("lead time" in w for w in pm.warnings)
        # and with demand in its first three months it cannot be served then
        monthly["workloads"] = [dict(req["workloads"][0], demand_tokens_per_s=1e5)]
        assert plan(monthly).status == "infeasible"


class TestPublishedFigures:
    """Spot checks against the results the points come from (MLPerf per-unit tokens/s)."""

    @pytest.mark.parametrize(
        ("eid", "model", "speed", "tokens"),
        [
            ("nvidia-gb300-nvl72", "llama-70b", 25.0, 814_128.0),  # v6.0 6.0-0078 Interactive
            ("nvidia-gb300-nvl72", "deepseek-r1", 12.5, 575_580.0),  # v6.0 6.0-0081 Server
            ("nvidia-b200-8x", "deepseek-r1", 1.0, 58_581.6),  # v6.0 6.0-0083 Offline
            ("nvidia-b200-8x", "llama-3.1-8b", 33.3, 128_750.0),  # v6.0 6.0-0062 Interactive
            ("nvidia-h100-8x", "llama-3.1-405b", 1.0, round(783.131 / 2, 1)),  # 16 GPUs -> 8
            ("amd-mi355x-8x", "llama-70b", 5.0, 100_282.0),  # v6.0 6.0-0002 Server
            ("amd-mi300x-8x", "llama-70b", 25.0, 8_840.4),  # v5.1 5.1-0001 Interactive
            ("nvidia-h200-8x", "deepseek-r1", 1.0, 8_905.0),  # v5.1 5.1-0375 Offline, open division
        ],
    )
    def test_mlperf_point(self, eid: str, model: str, speed: float, tokens: float) -> None:
        hw = Hardware.model_validate(catalog_hardware(eid))
        assert throughput(hw, wl(model, speed)) == pytest.approx(tokens, rel=1e-9)

    def test_the_loadgen_floors_cite_loadgen(self) -> None:
        # DeepSeek-R1 Interactive 66.6 (15 ms) and Llama 70B Server 5 (200 ms) are LoadGen's limits,
        # not the reference's (which derives ~62.5 for the first and gives no Server floor for the
        # second): each such point names its TPOT limit and mlperf.conf, and the docs say so
        seen = 0
        for e in ENTRIES.values():
            for model, speed, ms in (("deepseek-r1", 66.6, 15), ("llama-70b", 5.0, 200)):
                perf = e["performance"].get(model)
                for i, p in enumerate(perf["points"] if perf else []):
                    if p["tokens_per_s_per_user"] == speed:
                        note = e["point_notes"][model][i]
                        assert f"TPOT <= {ms} ms" in note and "loadgen/mlperf.conf" in note, (e["id"], model)
                        seen += 1
        assert seen >= 10
        text = " ".join(DOCS.split())
        assert "**DeepSeek-R1 Interactive 66.6** (LoadGen's 15 ms TPOT limit" in text
        assert "**Llama 70B Server 5** (LoadGen's 200 ms TPOT limit" in text

    def test_open_division_only_where_no_closed_result_exists_and_starred(self) -> None:
        # the reference's rule (hardware-data.md, "How the MLPerf numbers were obtained"): the best
        # closed-division result, open division only where no closed one exists; the reference has
        # two such results, and both are in (docs/catalog.md, "Throughput versus speed per user")
        open_points = {
            (eid, model, i)
            for eid, e in ENTRIES.items()
            for model, notes in e["point_notes"].items()
            for i, note in enumerate(notes)
            if "open result" in note
        }
        assert open_points == {("amd-mi355x-8x", "llama-3.1-405b", 0), ("nvidia-h200-8x", "deepseek-r1", 0)}
        for eid, model, i in open_points:
            how = ENTRIES[eid]["estimates"][f"performance/{model}/points/{i}/tokens_per_s_per_unit"]
            assert "open-division" in how, (eid, model)

    @pytest.mark.parametrize("eid", IDS)
    def test_gpu_points_sit_at_scenario_floors_or_the_fast_end(self, eid: str) -> None:
        e = ENTRIES[eid]
        if e["kind"] != "gpu":
            return
        fast = {
            "llama-70b": {52.9, 71.0},
            "llama-3.1-8b": {288.0},
            "llama-3.1-405b": {72.0},
            "deepseek-r1": set(),
        }
        for model, perf in e["performance"].items():
            xs = [p["tokens_per_s_per_user"] for p in perf["points"]]
            assert xs[0] == 1.0, "MLPerf Offline at the 1 token/s convention"
            assert set(xs[1:]) <= floors(model) | fast[model], f"{eid} {model}: {xs}"

    @pytest.mark.parametrize("eid", IDS)
    def test_fast_end_is_one_stream_per_8_gpus(self, eid: str) -> None:
        e = ENTRIES[eid]
        for perf in e["performance"].values():
            last = perf["points"][-1]
            if e["kind"] == "gpu" and last["tokens_per_s_per_user"] in (71.0, 288.0, 72.0):
                streams = e["gpus_per_unit"] / 8 / perf["units_per_replica"]
                assert last["tokens_per_s_per_unit"] == pytest.approx(last["tokens_per_s_per_user"] * streams)

    @pytest.mark.parametrize("model", ["llama-3.1-8b", "llama-70b", "llama-3.1-405b"])
    def test_only_wafer_scale_reaches_1000_tokens_per_s_per_user(self, model: str) -> None:
        can = {
            eid
            for eid in IDS
            if throughput(Hardware.model_validate(catalog_hardware(eid)), wl(model, 1000.0)) > 0
        }
        want = {"cerebras-cs3", "cerebras-cs3-hosted"} if model != "llama-3.1-405b" else set()
        assert can == want  # Cerebras 405B tops out at 969 tokens/s per user


class TestCerebrasEstimate:
    # model: (layers, model dim, FFN dim, KV heads, head size, systems per replica, tokens/s per user)
    # of the Llama 3.1 architecture (arXiv 2407.21783; vocabulary 128,256, untied embeddings)
    LLAMA = {
        "llama-3.1-8b": (32, 4096, 14336, 8, 128, 1, 1800.0),
        "llama-70b": (80, 8192, 28672, 8, 128, 4, 2100.0),
        "llama-3.1-405b": (126, 16384, 53248, 8, 128, 19, 969.0),
    }
    # the published parameter counts the architecture gives
    PARAMETERS = {
        "llama-3.1-8b": 8_030_261_248,
        "llama-70b": 70_553_706_496,
        "llama-3.1-405b": 405_853_388_800,
    }

    @staticmethod
    def parameters(layers: int, d: int, ffn: int, kv_heads: int, head: int) -> int:
        vocab = 128_256
        per_layer = 2 * d * d + 2 * d * kv_heads * head + 3 * d * ffn + 2 * d  # q, o; k, v; MLP; 2 norms
        return 2 * vocab * d + layers * per_layer + d  # embedding and output head, layers, final norm

    @pytest.mark.parametrize("model", sorted(LLAMA))
    def test_the_weights_are_the_real_parameter_count(self, model: str) -> None:
        layers, d, ffn, kvh, hd, _, _ = self.LLAMA[model]
        assert self.parameters(layers, d, ffn, kvh, hd) == self.PARAMETERS[model]

    @pytest.mark.parametrize("eid", ["cerebras-cs3", "cerebras-cs3-hosted"])
    @pytest.mark.parametrize("model", sorted(LLAMA))
    def test_recomputed_from_sram_kv_cache_and_per_user_speed(self, eid: str, model: str) -> None:
        layers, d, ffn, kvh, hd, k, speed = self.LLAMA[model]
        free_bytes = k * 44e9 - self.parameters(layers, d, ffn, kvh, hd) * 2  # SRAM left after 16-bit weights
        per_stream = 2 * layers * kvh * hd * 2 * 4096  # K and V, 2 bytes, 4,096 tokens of context
        streams = math.floor(free_bytes / per_stream)
        perf = ENTRIES[eid]["performance"][model]
        assert perf["units_per_replica"] == k
        assert perf["points"] == [
            {
                "tokens_per_s_per_user": speed,
                "tokens_per_s_per_unit": pytest.approx(streams * speed / k, abs=0.05),
            }
        ]
        note = ENTRIES[eid]["estimates"][f"performance/{model}/points/0/tokens_per_s_per_unit"]
        assert note.startswith("ESTIMATE") and f"{streams} concurrent streams" in note
        # the note says the reference leaves it null and what is assumed
        for said in ("null", "E11", "single-stream", "speculative decoding"):
            assert said in note, said
        derivation = ENTRIES[eid]["cerebras_throughput_derivation"][model]
        assert derivation["concurrent_streams_per_replica"] == streams
        assert derivation["parameters"] == self.PARAMETERS[model]

    def test_the_streams_at_a_96k_token_context_quoted_in_the_docs(self) -> None:
        # docs/catalog.md: at SemiAnalysis' 96.3k-token input, 2 streams (8B), 1 (70B), none (405B)
        section = DOCS.split("### The Cerebras throughput estimate", 1)[1].split("\n### ", 1)[0]
        got = {}
        for model, (layers, d, ffn, kvh, hd, k, _speed) in self.LLAMA.items():
            free_bytes = k * 44e9 - self.parameters(layers, d, ffn, kvh, hd) * 2
            got[model] = math.floor(free_bytes / (2 * layers * kvh * hd * 2 * 96_300))
        assert got == {"llama-3.1-8b": 2, "llama-70b": 1, "llama-3.1-405b": 0}
        for text in (
            "2 streams fit an 8B replica (26× fewer",
            "1 fits a 70B replica (25× fewer",
            "none fits",
        ):
            assert text in " ".join(section.split()), text

    def test_hosted_is_a_lease_with_the_same_performance(self) -> None:
        bought, hosted = ENTRIES["cerebras-cs3"], ENTRIES["cerebras-cs3-hosted"]
        assert hosted["unit_price_usd"] == 0 and hosted["recurring_usd_per_unit_hour"] == 41.96
        assert hosted["maintenance_fraction_per_year"] == 0 and hosted["lifetime_years"] == 3
        assert bought["performance"] == hosted["performance"]
        assert "recurring_usd_per_unit_hour" in hosted["estimates"]

    def test_what_no_source_gives_is_labelled(self) -> None:
        # the reference gives "$41.96/hr per system" (SemiAnalysis) and nothing about what it
        # covers; no lead time for hosted capacity; no CS-3 lifetime (4-6 years for servers)
        bought, hosted = ENTRIES["cerebras-cs3"], ENTRIES["cerebras-cs3-hosted"]
        fee = hosted["estimates"]["recurring_usd_per_unit_hour"]
        assert "all-in" in fee and "assumption" in fee
        assert hosted["notes"]["energy"].startswith("ASSUMPTION")
        assert hosted["lead_time_months"] == 0 and "assumption" in hosted["estimates"]["lead_time_months"]
        assert bought["lifetime_years"] == 5 and "4-6 years" in bought["estimates"]["lifetime_years"]
        for e in (bought, hosted):
            assert "null" in e["notes"]["throughput"] and "E11" in e["notes"]["throughput"]


class TestPowerBasis:
    """Every it_power_kw on one basis: the most the unit draws per the reference (docs/catalog.md,
    "IT power: one basis"): a datasheet maximum or rating, a rack's power-shelf capacity; never a
    typical figure, a TDP sum or a measured draw."""

    @pytest.mark.parametrize("eid", IDS)
    def test_it_power_is_the_units_maximum_or_an_estimate(self, eid: str) -> None:
        e = ENTRIES[eid]
        figs = e["power_figures_kw"]
        assert figs and set(figs) <= POWER_KINDS, f"{eid}: {sorted(figs)}"
        assert not {"quoted", "typical"} <= set(figs), (
            f"{eid}: a quoted figure is either its maximum or typical"
        )
        if "power_shelf_capacity" in figs:
            assert e["it_power_kw"] == figs["power_shelf_capacity"]
        elif "quoted" in figs:
            assert e["it_power_kw"] == figs["quoted"]
        else:
            assert "it_power_kw" in e["estimates"], f"{eid}: nothing quoted, so it_power_kw is an estimate"

    @pytest.mark.parametrize("eid", IDS)
    def test_the_power_note_gives_every_figure(self, eid: str) -> None:
        e = ENTRIES[eid]
        found = [(float(lo), float(hi) if hi else None) for lo, hi in KW.findall(power_note(e))]
        singles = {x for pair in found for x in pair if x is not None}
        for kind, kw in e["power_figures_kw"].items():
            if isinstance(kw, list):
                assert (kw[0], kw[1]) in found, f"{eid} {kind}: {kw} kW not in the power note"
            else:
                assert kw in singles, f"{eid} {kind}: {kw} kW not in the power note"

    def test_the_two_nvl72_racks_are_on_one_basis(self) -> None:
        # The reference gives each rack two figures: the ~120 kW typically quoted for it and the
        # 132 kW its power shelves deliver (its draft catalog takes 132 kW for the GB300). The
        # catalog once took one of each (GB200 120, GB300 132), which made the GB300 look ~10 %
        # worse per MW, then the typical 120 for both, off the maximum basis of the servers'
        # datasheet figures. Both racks use their shelf capacity, the maximum.
        for eid in ("nvidia-gb200-nvl72", "nvidia-gb300-nvl72"):
            figs = ENTRIES[eid]["power_figures_kw"]
            assert figs == {"typical": 120.0, "power_shelf_capacity": 132.0}, eid
            assert ENTRIES[eid]["it_power_kw"] == 132.0, eid

    def test_estimates_add_the_host_overhead_of_a_quoted_server(self) -> None:
        # Where nothing is quoted (AMD platforms, reference estimates E1-E3): GPU power plus
        # "~4.5 kW", the overhead of DGX H100 (quoted 10.2 kW less 8 x 700 W), which keeps
        # the estimate on the quoted basis.
        h100 = ENTRIES["nvidia-h100-8x"]["power_figures_kw"]
        overhead = h100["quoted"] - h100["gpu_power_sum"]
        unquoted = [
            e for e in ENTRIES.values() if not {"quoted", "power_shelf_capacity"} & set(e["power_figures_kw"])
        ]
        assert unquoted
        for e in unquoted:
            gpus = e["power_figures_kw"]["gpu_power_sum"]
            assert e["it_power_kw"] - gpus == pytest.approx(overhead, abs=0.15), e["id"]


class TestDocs:
    @pytest.mark.parametrize("eid", IDS)
    def test_docs_show_every_entry_point_estimate_and_source(self, eid: str) -> None:
        e = ENTRIES[eid]
        assert f"| `{eid}` |" in DOCS
        row = next(r for r in DOCS.splitlines() if r.startswith(f"| `{eid}` |"))
        star = "\\*" if "it_power_kw" in e["estimates"] else ""
        assert row.split(" | ")[4] == f"{e['it_power_kw']:g}{star}", f"{eid}: IT kW in the entries table"
        est_section = DOCS.split("## Estimates and how they were derived", 1)[1].split(f"### `{eid}`", 1)[1]
        est_section = est_section.split("\n### ", 1)[0]
        for path, how in e["estimates"].items():
            assert f"- `{path}`: {how}" in est_section
        for perf in e["performance"].values():
            for p in perf["points"]:
                assert f"{p['tokens_per_s_per_user']:g} → {p['tokens_per_s_per_unit']:,.1f}" in DOCS
        for src in e["sources"]:
            assert src in DOCS


class TestCli:
    def test_catalog_table_lists_every_entry(self) -> None:
        out = io.StringIO()
        with redirect_stdout(out):
            assert cli_main(["catalog"]) == 0
        text = out.getvalue()
        for eid in IDS:
            assert eid in text
        assert "$41.96/h*" in text and "13,125*" in text

    def test_catalog_json_is_the_stored_catalog(self) -> None:
        out = io.StringIO()
        with redirect_stdout(out):
            assert cli_main(["catalog", "--json"]) == 0
        assert json.loads(out.getvalue()) == list(load_catalog())
